//! Cloning a file where the filesystem shares blocks between files (a
//! reflink): the new file costs no bytes and no time until one of the two
//! is written. Linux: the `FICLONE` ioctl (Btrfs, XFS, bcachefs, OCFS2);
//! macOS: `clonefile(2)` (APFS). Elsewhere, and where the filesystem
//! cannot (ext4, tmpfs), [`clone_file`] answers `false` and leaves nothing,
//! so that the caller copies instead.

use std::io;
use std::path::Path;

/// Makes `to` (which must not exist) a clone of `from`. `Ok(false)`, with
/// nothing created, when the filesystem or the platform cannot clone.
#[cfg(target_os = "linux")]
pub fn clone_file(from: &Path, to: &Path) -> io::Result<bool> {
    use std::os::unix::io::AsRawFd;
    let src = std::fs::File::open(from)?;
    let dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    // SAFETY: both descriptors are open for the duration of the call (the
    // `File`s own them); FICLONE takes the source descriptor as its
    // argument and touches no memory of ours.
    let rc = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    drop(dst);
    std::fs::remove_file(to)?;
    match err.raw_os_error() {
        // Not this filesystem, not across two, not this kind of file.
        Some(libc::EOPNOTSUPP | libc::EXDEV | libc::EINVAL | libc::ENOTTY | libc::ENOSYS) => {
            Ok(false)
        }
        _ => Err(err),
    }
}

/// See the Linux version; `clonefile(2)` creates `to` itself.
#[cfg(target_os = "macos")]
pub fn clone_file(from: &Path, to: &Path) -> io::Result<bool> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    let (Ok(f), Ok(t)) = (
        CString::new(from.as_os_str().as_bytes()),
        CString::new(to.as_os_str().as_bytes()),
    ) else {
        return Ok(false);
    };
    // SAFETY: two NUL-terminated paths alive through the call.
    let rc = unsafe { libc::clonefile(f.as_ptr(), t.as_ptr(), 0) };
    if rc == 0 {
        return Ok(true);
    }
    let err = io::Error::last_os_error();
    match err.raw_os_error() {
        Some(libc::ENOTSUP | libc::EXDEV) => Ok(false),
        _ => Err(err),
    }
}

/// No clone on this platform (Windows' block cloning needs ReFS and is
/// not used): always `false`.
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn clone_file(_from: &Path, _to: &Path) -> io::Result<bool> {
    Ok(false)
}

#[cfg(test)]
mod tests {
    /// A clone, where there is one, holds the same bytes; where there is
    /// none, nothing is left behind.
    #[test]
    fn a_clone_has_the_same_bytes_or_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let (from, to) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&from, b"some bytes").unwrap();
        if super::clone_file(&from, &to).unwrap() {
            assert_eq!(std::fs::read(&to).unwrap(), b"some bytes");
        } else {
            assert!(!to.exists());
        }
    }
}
