//! Flushing to stable storage: a file's content and metadata, a folder's
//! entries, and (where the OS can) a whole filesystem at once.

use std::fs::File;
use std::io;
use std::path::Path;

use crate::error::{MigrateError, Result};

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
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
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
/// durable by the renames themselves ([`rename`](super::rename) writes
/// through). For a file or folder created in place, Windows does not
/// document whether its entry survives a power cut before the volume is
/// next flushed. Only checks that the folder is there.
#[cfg(not(unix))]
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::metadata(dir)
        .map(|_| ())
        .map_err(|e| MigrateError::io("open folder", dir, e))
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

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

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
}
