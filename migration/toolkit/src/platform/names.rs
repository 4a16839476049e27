//! Names as the OS spells them: a file name that is not valid Unicode,
//! kept as bytes or UTF-16 units and given back, and this machine's name.

use std::ffi::{OsStr, OsString};
use std::fs;

/// A file name that is not valid Unicode, as the OS spells it: bytes on
/// unix, UTF-16 units (possibly unpaired surrogates) on Windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawName {
    Bytes(Vec<u8>),
    Wide(Vec<u16>),
}

/// `name` as the OS spells it.
pub fn raw_name(name: &OsStr) -> RawName {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        RawName::Bytes(name.as_bytes().to_vec())
    }
    #[cfg(windows)]
    {
        use std::os::windows::ffi::OsStrExt;
        RawName::Wide(name.encode_wide().collect())
    }
    #[cfg(not(any(unix, windows)))]
    RawName::Bytes(name.to_string_lossy().into_owned().into_bytes())
}

/// The name back from [`raw_name`]; one written by the other kind of OS
/// comes back with its invalid parts replaced (U+FFFD).
pub fn from_raw_name(raw: RawName) -> OsString {
    match raw {
        #[cfg(unix)]
        RawName::Bytes(bytes) => {
            use std::os::unix::ffi::OsStringExt;
            OsString::from_vec(bytes)
        }
        #[cfg(windows)]
        RawName::Wide(wide) => {
            use std::os::windows::ffi::OsStringExt;
            OsString::from_wide(&wide)
        }
        #[cfg(not(unix))]
        RawName::Bytes(bytes) => String::from_utf8_lossy(&bytes).into_owned().into(),
        #[cfg(not(windows))]
        RawName::Wide(wide) => String::from_utf16_lossy(&wide).into(),
    }
}

/// The name of this machine, for the lock file: `/etc/hostname` (Linux),
/// `$HOSTNAME`, `%COMPUTERNAME%` (Windows), `gethostname(3)` on other unix
/// (macOS has no `/etc/hostname` and does not export `$HOSTNAME`), else
/// `localhost`.
pub fn host_name() -> String {
    fs::read_to_string("/etc/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(gethostname)
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(all(unix, not(target_os = "linux")))]
fn gethostname() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes, the length passed.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Some(String::from_utf8_lossy(&buf[..end]).into_owned()).filter(|s| !s.is_empty())
}

/// Linux reads `/etc/hostname`; Windows sets `%COMPUTERNAME%`.
#[cfg(any(target_os = "linux", not(unix)))]
fn gethostname() -> Option<String> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_non_utf8_name_round_trips() {
        use std::os::unix::ffi::OsStrExt;
        let name = OsStr::from_bytes(b"w\xff.gguf");
        let raw = raw_name(name);
        assert_eq!(raw, RawName::Bytes(b"w\xff.gguf".to_vec()));
        assert_eq!(from_raw_name(raw), name);
        let wide = RawName::Wide("w.gguf".encode_utf16().collect());
        assert_eq!(from_raw_name(wide), OsStr::new("w.gguf"));
    }

    #[test]
    fn the_host_has_a_name() {
        assert!(!host_name().is_empty());
    }
}
