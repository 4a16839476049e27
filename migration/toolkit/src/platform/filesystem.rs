//! What the filesystem says about a path: which filesystem holds it (a
//! rename works only within one), whether resolving it ran into a symlink
//! loop, and making a symlink again as the kind it was.

use std::fs;
use std::io;
use std::path::Path;

/// Which filesystem holds `path` itself (a symlink is not followed), or
/// `None` when that cannot be known: the caller then copies and verifies
/// instead of renaming.
#[cfg(unix)]
pub fn filesystem_id(path: &Path) -> io::Result<Option<u64>> {
    use std::os::unix::fs::MetadataExt;
    fs::symlink_metadata(path).map(|m| Some(m.dev()))
}

/// The volume serial number (`GetFileInformationByHandle`). Two volumes
/// with the same serial (a cloned disk) count as one: a rename between
/// them then fails with an error, it does not lose data.
#[cfg(windows)]
pub fn filesystem_id(path: &Path) -> io::Result<Option<u64>> {
    use std::os::windows::fs::OpenOptionsExt;
    use std::os::windows::io::AsRawHandle;
    use windows_sys::Win32::Storage::FileSystem::{
        BY_HANDLE_FILE_INFORMATION, FILE_FLAG_BACKUP_SEMANTICS, FILE_FLAG_OPEN_REPARSE_POINT,
        GetFileInformationByHandle,
    };
    // No access rights, folders allowed, links not followed: how std opens
    // a path for `symlink_metadata`.
    let file = fs::OpenOptions::new()
        .access_mode(0)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)?;
    let mut info = BY_HANDLE_FILE_INFORMATION::default();
    // SAFETY: a handle that `file` keeps open, and a pointer to a struct of
    // the type the call fills in, alive through the call.
    let ok = unsafe { GetFileInformationByHandle(file.as_raw_handle(), &mut info) };
    Ok((ok != 0).then_some(u64::from(info.dwVolumeSerialNumber)))
}

/// Elsewhere the filesystem is not known.
#[cfg(not(any(unix, windows)))]
pub fn filesystem_id(path: &Path) -> io::Result<Option<u64>> {
    fs::symlink_metadata(path).map(|_| None)
}

/// Which filesystem holds the file whose own metadata (symlinks not
/// followed) is `meta`: what [`filesystem_id`] says of its path, without
/// asking again; `None` where metadata does not tell (Windows, where
/// [`filesystem_id`] opens the file).
pub fn filesystem_of(meta: &fs::Metadata) -> Option<u64> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        Some(meta.dev())
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        None
    }
}

/// Whether `e` (from resolving a path) says it runs into a symlink loop:
/// ELOOP on unix (40 on Linux, 62 on macOS), `ERROR_CANT_RESOLVE_FILENAME`
/// on Windows.
pub fn is_symlink_loop(e: &io::Error) -> bool {
    #[cfg(unix)]
    let code = Some(libc::ELOOP);
    #[cfg(windows)]
    let code = Some(windows_sys::Win32::Foundation::ERROR_CANT_RESOLVE_FILENAME as i32);
    #[cfg(not(any(unix, windows)))]
    let code = None;
    code.is_some() && e.raw_os_error() == code
}

/// Creates `link` pointing at `target`, of the kind of the link it copies
/// (`kind`: Windows has file and folder links; a junction comes back as a
/// folder link). Windows allows it only to an administrator or in
/// developer mode: otherwise the error stops the copy, it never drops the
/// link silently.
pub fn copy_symlink(kind: &fs::FileType, target: &Path, link: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let _ = kind;
        std::os::unix::fs::symlink(target, link)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::{FileTypeExt, symlink_dir, symlink_file};
        if kind.is_symlink_dir() {
            symlink_dir(target, link)
        } else {
            symlink_file(target, link)
        }
    }
    #[cfg(not(any(unix, windows)))]
    {
        let _ = (kind, target);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("cannot create the link {}", link.display()),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_folder_is_one_filesystem() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        fs::write(&a, b"a").unwrap();
        fs::create_dir(&b).unwrap();
        let id = filesystem_id(&a).unwrap();
        assert!(id.is_some());
        assert_eq!(id, filesystem_id(&b).unwrap());
        assert_eq!(id, filesystem_id(t.path()).unwrap());
    }

    #[test]
    fn filesystem_of_a_missing_path_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let e = filesystem_id(&t.path().join("missing")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_loop_is_recognised() {
        let t = tempfile::tempdir().unwrap();
        let (a, b) = (t.path().join("a"), t.path().join("b"));
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        let e = fs::canonicalize(a.join("x")).unwrap_err();
        assert!(is_symlink_loop(&e), "{e:?}");
        let missing = fs::canonicalize(t.path().join("missing")).unwrap_err();
        assert!(!is_symlink_loop(&missing));
    }

    #[cfg(unix)]
    #[test]
    fn a_copied_symlink_keeps_its_target() {
        let t = tempfile::tempdir().unwrap();
        let (link, copy) = (t.path().join("link"), t.path().join("copy"));
        std::os::unix::fs::symlink("../elsewhere", &link).unwrap();
        let kind = fs::symlink_metadata(&link).unwrap().file_type();
        copy_symlink(&kind, &fs::read_link(&link).unwrap(), &copy).unwrap();
        assert_eq!(fs::read_link(&copy).unwrap(), Path::new("../elsewhere"));
    }
}
