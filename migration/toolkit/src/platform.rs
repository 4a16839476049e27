//! Everything that differs between Linux, macOS and Windows, in one place:
//! flushing a file or a folder entry to stable storage, renaming over a
//! file (a temporary file from tempfile too), telling filesystems apart,
//! flushing a whole filesystem, killing this process for fault injection,
//! and the OS facts the rest needs (symlink loops, raw file names, the host
//! name, the permissions of a new file). No other module of the library
//! calls `libc`, `windows-sys` or `std::os::{unix,windows}`.
//!
//! What each platform gives (only Linux is built and tested here):
//! - Linux: `fsync` of the file, then of its folder; `rename(2)`; a batch is
//!   made durable by one `syncfs(2)` of each filesystem it wrote to.
//! - macOS: `fsync` leaves the data in the drive's cache, so files and
//!   folders are flushed with `fcntl(F_FULLFSYNC)`, falling back to `fsync`
//!   where the filesystem refuses it (as SQLite does). `sync(2)` may return
//!   before the writes are done (sync(2), BUGS), so a batch is fsynced file
//!   by file ([`WHOLE_FILESYSTEM_SYNC`] is false).
//! - Windows: a folder cannot be fsynced; a rename is made durable by
//!   `MoveFileExW(MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)`, whose
//!   documentation says it does not return "until the file is actually moved
//!   on the disk". Files are flushed with `FlushFileBuffers` (std's
//!   `sync_all`), which needs a handle open for writing. A whole volume can
//!   only be flushed by an administrator, so a batch is flushed file by file.
//!   A rename fails while another program holds the target open without
//!   `FILE_SHARE_DELETE` (Cortex itself, a virus scanner): it is retried for
//!   about a second, then the step fails and rolls back.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File};
use std::io;
use std::path::Path;

use super::error::{MigrateError, Result};

/// Flushes `file`'s content and metadata to stable storage.
#[cfg(not(target_vendor = "apple"))]
pub fn sync_file(file: &File) -> io::Result<()> {
    file.sync_all()
}

/// Flushes `file`'s content and metadata past the drive's cache:
/// `F_FULLFSYNC`, or `fsync` on a filesystem that does not support it
/// (SMB and some USB drives answer ENOTSUP or EINVAL).
#[cfg(target_vendor = "apple")]
pub fn sync_file(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: fcntl(2) and fsync(2) get a descriptor that `file` keeps open
    // for the whole call, and no pointer.
    match retry_interrupted(|| unsafe { libc::fcntl(fd, libc::F_FULLFSYNC) }) {
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::ENOTSUP | libc::EOPNOTSUPP | libc::EINVAL | libc::ENOTTY)
            ) =>
        {
            // SAFETY: as above.
            retry_interrupted(|| unsafe { libc::fsync(fd) })
        }
        done => done,
    }
}

/// Runs a libc call until it is not interrupted; -1 is its failure.
#[cfg(target_vendor = "apple")]
fn retry_interrupted(mut call: impl FnMut() -> libc::c_int) -> io::Result<()> {
    loop {
        if call() != -1 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Flushes `file`'s content (and the metadata needed to read it back): the
/// journal's appends.
#[cfg(not(target_vendor = "apple"))]
pub fn sync_file_data(file: &File) -> io::Result<()> {
    file.sync_data()
}

/// macOS has no lighter flush that reaches stable storage: [`sync_file`].
#[cfg(target_vendor = "apple")]
pub fn sync_file_data(file: &File) -> io::Result<()> {
    sync_file(file)
}

/// Flushes the file at `path`, opened for the purpose (Windows flushes only
/// through a handle that may write, so it is opened for writing there; the
/// file is not changed).
pub fn sync_path(path: &Path) -> io::Result<()> {
    #[cfg(windows)]
    let file = fs::OpenOptions::new().write(true).open(path)?;
    #[cfg(not(windows))]
    let file = File::open(path)?;
    sync_file(&file)
}

/// Makes the entries of folder `dir` (files created, renamed or removed in
/// it) durable: the folder is opened and fsynced.
#[cfg(unix)]
pub fn sync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).map_err(|e| MigrateError::io("open folder", dir, e))?;
    sync_file(&f).map_err(|e| MigrateError::io("sync folder", dir, e))
}

/// Windows has no documented fsync of a folder: the entries are made
/// durable by the renames themselves ([`rename`] writes through). For a
/// file or folder created in place, Windows does not document whether its
/// entry survives a power cut before the volume is next flushed. Only
/// checks that the folder is there.
#[cfg(not(unix))]
pub fn sync_dir(dir: &Path) -> Result<()> {
    fs::metadata(dir)
        .map(|_| ())
        .map_err(|e| MigrateError::io("open folder", dir, e))
}

/// Renames `from` to `to`, replacing a file at `to`, atomically: after a
/// crash `to` is the old file or the new one. Callers make the folder entry
/// durable with [`sync_dir`] of both parents.
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
/// [`sync_dir`] of the folder.
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

/// Whether [`sync_filesystem`] makes every earlier write on a filesystem
/// durable. Only Linux's `syncfs(2)` waits for them; elsewhere a batch of
/// writes is flushed file by file instead.
pub const WHOLE_FILESYSTEM_SYNC: bool = cfg!(target_os = "linux");

/// Flushes the filesystem that holds `path`: Linux `syncfs(2)`; other unix
/// `sync(2)`, which may return before the writes are done; on Windows
/// nothing (flushing a volume needs an administrator). Callers rely on it
/// only where [`WHOLE_FILESYSTEM_SYNC`] is true.
pub fn sync_filesystem(path: &Path) -> Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let f = File::open(path).map_err(|e| MigrateError::io("open", path, e))?;
        // SAFETY: syncfs(2) takes a valid open descriptor and nothing else.
        let rc = unsafe { libc::syncfs(f.as_raw_fd()) };
        if rc != 0 {
            return Err(MigrateError::io(
                "sync filesystem of",
                path,
                io::Error::last_os_error(),
            ));
        }
        Ok(())
    }
    #[cfg(all(unix, not(target_os = "linux")))]
    {
        // SAFETY: sync(2) has no arguments and cannot fail.
        unsafe { libc::sync() };
        let _ = path;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Ends this process at once, as a power cut or an OOM kill would: no
/// destructor, no flush, no rollback by us. Unix: SIGKILL; Windows:
/// `TerminateProcess`; `abort` if that returns.
pub fn kill_self() -> ! {
    #[cfg(unix)]
    {
        // SAFETY: kill(2) on our own pid has no memory-safety concerns.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::System::Threading::{GetCurrentProcess, TerminateProcess};
        // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no
        // closing; TerminateProcess on it ends this process.
        unsafe {
            TerminateProcess(GetCurrentProcess(), 1);
        }
    }
    std::process::abort()
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

    #[test]
    fn a_real_folder_and_a_real_file_sync() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("f");
        fs::write(&f, b"x").unwrap();
        sync_dir(t.path()).unwrap();
        sync_path(&f).unwrap();
        let file = fs::OpenOptions::new().append(true).open(&f).unwrap();
        sync_file(&file).unwrap();
        sync_file_data(&file).unwrap();
        sync_filesystem(t.path()).unwrap();
    }

    #[test]
    fn sync_of_a_missing_folder_names_it() {
        let t = tempfile::tempdir().unwrap();
        let missing = t.path().join("missing");
        match sync_dir(&missing).unwrap_err() {
            MigrateError::Io { op, path, source } => {
                assert_eq!(op, "open folder");
                assert_eq!(path, missing);
                assert_eq!(source.kind(), io::ErrorKind::NotFound);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            sync_filesystem(&missing).unwrap_err(),
            MigrateError::Io { path, .. } if path == missing
        ));
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
