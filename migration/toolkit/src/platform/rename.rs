//! Putting a file in place atomically: renaming over a file or moving a
//! folder, persisting a finished temporary file, the permissions such a
//! file gets, and the long-path form Win32 calls need.

use std::fs;
use std::io;
use std::path::Path;

/// Renames `from` to `to`, replacing a file at `to`, atomically: after a
/// crash `to` is the old file or the new one. Callers make the folder entry
/// durable with [`sync_dir`](super::sync_dir) of both parents.
#[cfg(not(windows))]
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)
}

/// Renames with `MoveFileExW`: `MOVEFILE_WRITE_THROUGH` so that the rename
/// is on disk when it returns (Windows has no folder fsync to do it after),
/// and `MOVEFILE_REPLACE_EXISTING` for a file (that flag is not for
/// folders). A target that another program holds open (a virus scanner)
/// is retried for about a second.
#[cfg(windows)]
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    use std::os::windows::fs::FileTypeExt;
    use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION};
    use windows_sys::Win32::Storage::FileSystem::{
        MOVEFILE_REPLACE_EXISTING, MOVEFILE_WRITE_THROUGH, MoveFileExW,
    };
    let folder = fs::symlink_metadata(from)
        .map(|m| m.is_dir() || m.file_type().is_symlink_dir())
        .unwrap_or(false);
    let flags = if folder {
        MOVEFILE_WRITE_THROUGH
    } else {
        MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH
    };
    let (from_w, to_w) = (wide_path(from)?, wide_path(to)?);
    let mut wait = std::time::Duration::from_millis(10);
    loop {
        // SAFETY: both are NUL-terminated UTF-16 strings that live through
        // the call.
        if unsafe { MoveFileExW(from_w.as_ptr(), to_w.as_ptr(), flags) } != 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        let busy = e.raw_os_error().is_some_and(|c| {
            c == ERROR_SHARING_VIOLATION as i32 || c == ERROR_ACCESS_DENIED as i32
        });
        if !busy || wait > std::time::Duration::from_millis(640) {
            return Err(e);
        }
        std::thread::sleep(wait);
        wait *= 2;
    }
}

/// Puts the finished temporary file `tmp` in place of `to`, atomically as
/// [`rename`] does: tempfile's `persist`, which is `rename(2)` here. If it
/// fails, `tmp` is removed. Callers make the entry durable with
/// [`sync_dir`](super::sync_dir) of the folder.
#[cfg(not(windows))]
pub fn persist(tmp: tempfile::NamedTempFile, to: &Path) -> io::Result<()> {
    tmp.persist(to).map(drop).map_err(|e| e.error)
}

/// tempfile's `persist` moves without `MOVEFILE_WRITE_THROUGH`, and no
/// folder fsync can follow it here: the file is kept (which clears the
/// temporary attribute tempfile gives it on Windows) and moved by
/// [`rename`]. If that fails, the file is removed.
#[cfg(windows)]
pub fn persist(tmp: tempfile::NamedTempFile, to: &Path) -> io::Result<()> {
    let (file, from) = tmp.keep().map_err(|e| e.error)?;
    drop(file);
    rename(&from, to).inspect_err(|_| {
        let _ = fs::remove_file(&from);
    })
}

/// The permissions a plain `File::create` asks for (the umask still
/// applies), for a temporary file that becomes a new file: tempfile's own
/// are the owner's only.
#[cfg(unix)]
pub fn created_file_permissions() -> Option<fs::Permissions> {
    use std::os::unix::fs::PermissionsExt;
    Some(fs::Permissions::from_mode(0o666))
}

/// Elsewhere tempfile creates files as `File::create` does.
#[cfg(not(unix))]
pub fn created_file_permissions() -> Option<fs::Permissions> {
    None
}

/// `path` as a NUL-terminated wide string for a Win32 call, absolute and
/// with the `\\?\` prefix when it is long (as std does for its own calls).
#[cfg(windows)]
fn wide_path(path: &Path) -> io::Result<Vec<u16>> {
    use std::os::windows::ffi::OsStrExt;
    let abs = std::path::absolute(path)?;
    let wide: Vec<u16> = abs.as_os_str().encode_wide().collect();
    if wide.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a path contains a NUL character",
        ));
    }
    let mut wide = verbatim(wide);
    wide.push(0);
    Ok(wide)
}

/// An absolute Windows path of MAX_PATH - 12 units or more with the `\\?\`
/// prefix (`\\?\UNC\` for a share), which lifts the MAX_PATH limit of Win32
/// calls; shorter, device (`\\.\`) and already prefixed paths unchanged.
#[cfg(any(windows, test))]
fn verbatim(wide: Vec<u16>) -> Vec<u16> {
    const MAX_PATH: usize = 260;
    let units = |s: &str| s.encode_utf16().collect::<Vec<u16>>();
    if wide.len() < MAX_PATH - 12
        || wide.starts_with(&units(r"\\?\"))
        || wide.starts_with(&units(r"\\.\"))
    {
        return wide;
    }
    match wide.strip_prefix(units(r"\\").as_slice()) {
        Some(share) => [units(r"\\?\UNC\").as_slice(), share].concat(),
        None => [units(r"\\?\").as_slice(), wide.as_slice()].concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_replaces_an_existing_file() {
        let t = tempfile::tempdir().unwrap();
        let (new, old) = (t.path().join("new"), t.path().join("old"));
        fs::write(&new, b"new").unwrap();
        fs::write(&old, b"old").unwrap();
        rename(&new, &old).unwrap();
        assert_eq!(fs::read(&old).unwrap(), b"new");
        assert!(!new.exists());
    }

    #[test]
    fn rename_moves_a_folder() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        fs::create_dir(&a).unwrap();
        fs::write(a.join("f"), b"x").unwrap();
        rename(&a, &b).unwrap();
        assert_eq!(fs::read(b.join("f")).unwrap(), b"x");
        assert!(!a.exists());
    }

    #[test]
    fn long_windows_paths_get_the_verbatim_prefix() {
        let w = |s: &str| s.encode_utf16().collect::<Vec<u16>>();
        let long = format!(r"C:\Users\me\{}", "m".repeat(250));
        assert_eq!(verbatim(w(&long)), w(&format!(r"\\?\{long}")));
        let share = format!(r"\\server\share\{}", "m".repeat(250));
        assert_eq!(
            verbatim(w(&share)),
            w(&format!(r"\\?\UNC\server\share\{}", "m".repeat(250)))
        );
        for unchanged in [
            r"C:\Users\me\model.yml".to_owned(),
            format!(r"\\?\C:\{}", "m".repeat(250)),
            format!(r"\\.\pipe\{}", "m".repeat(250)),
        ] {
            assert_eq!(verbatim(w(&unchanged)), w(&unchanged));
        }
    }
}
