//! The one place that calls SQLite's C API directly: reading the bytes of a
//! database file while holding SQLite's shared lock on it, through SQLite's
//! own file handle. That gives a consistent copy at the speed of a plain
//! file copy (no page-by-page rebuild as `VACUUM INTO` does), while other
//! processes (Cortex) keep reading; a writer waits until the copy is done.
//!
//! The file is read through the handle SQLite already holds
//! (`SQLITE_FCNTL_FILE_POINTER`), never through a second descriptor of our
//! own: closing another descriptor of the same file would drop every POSIX
//! lock this process holds on it, SQLite's included.

use std::ffi::{CStr, CString, c_int, c_void};
use std::path::{Path, PathBuf};
use std::ptr;

use libsqlite3_sys as ffi;

use crate::error::{MigrateError, Result};

/// How long the copy waits for a writer (Cortex) to finish its transaction.
const BUSY_MS: c_int = 5_000;

/// Bytes read per call.
const CHUNK: usize = 1 << 20;

/// An open connection of our own to a database file, closed on drop.
struct Handle {
    db: *mut ffi::sqlite3,
    path: PathBuf,
}

impl Handle {
    fn open(path: &Path) -> Result<Handle> {
        let c_path = CString::new(path.to_string_lossy().as_bytes()).map_err(|_| {
            MigrateError::Refused(format!(
                "the database path {} holds a NUL byte",
                path.display()
            ))
        })?;
        let mut db = ptr::null_mut();
        // SAFETY: `c_path` is a valid NUL-terminated string that outlives
        // the call; `db` is a valid out-pointer. SQLite sets it even on
        // failure, and `Handle`'s drop closes it in both cases.
        let rc = unsafe {
            ffi::sqlite3_open_v2(
                c_path.as_ptr(),
                &mut db,
                ffi::SQLITE_OPEN_READWRITE,
                ptr::null(),
            )
        };
        let handle = Handle {
            db,
            path: path.to_path_buf(),
        };
        if rc != ffi::SQLITE_OK {
            return Err(handle.error("opening", rc));
        }
        // SAFETY: `db` is an open connection owned by `handle`.
        unsafe { ffi::sqlite3_busy_timeout(handle.db, BUSY_MS) };
        Ok(handle)
    }

    /// Runs SQL without results.
    fn exec(&self, sql: &CStr, what: &'static str) -> Result<()> {
        // SAFETY: `db` is open; `sql` is NUL-terminated; no callback, so
        // the callback argument and the error out-pointer may be null.
        let rc = unsafe {
            ffi::sqlite3_exec(
                self.db,
                sql.as_ptr(),
                None,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(self.error(what, rc))
        }
    }

    fn error(&self, what: &'static str, rc: c_int) -> MigrateError {
        if rc & 0xff == ffi::SQLITE_BUSY {
            return MigrateError::DatabaseBusy {
                path: self.path.clone(),
            };
        }
        let message = if self.db.is_null() {
            String::new()
        } else {
            // SAFETY: `db` is a connection (open or failed to open, both
            // valid for `sqlite3_errmsg`); the returned string is owned by
            // SQLite and copied before any other call on `db`.
            unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.db)) }
                .to_string_lossy()
                .into_owned()
        };
        MigrateError::Sqlite {
            what,
            path: self.path.clone(),
            code: rc,
            message,
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: `db` came from `sqlite3_open_v2` (null is allowed) and is
        // closed once; no statement of it is left unfinalized
        // (`sqlite3_exec` finalizes its own). Closing rolls back a
        // transaction left open by an error.
        unsafe { ffi::sqlite3_close(self.db) };
    }
}

type XRead =
    unsafe extern "C" fn(*mut ffi::sqlite3_file, *mut c_void, c_int, ffi::sqlite3_int64) -> c_int;

/// A database file held under SQLite's shared lock, read through SQLite's
/// own handle.
struct Locked {
    handle: Handle,
    file: *mut ffi::sqlite3_file,
    read: XRead,
    size: ffi::sqlite3_int64,
}

impl Locked {
    fn open(path: &Path) -> Result<Locked> {
        let handle = Handle::open(path)?;
        // A read transaction: the shared lock is taken by the first read
        // (which also rolls back a journal a dead writer left) and held
        // until COMMIT.
        handle.exec(c"BEGIN", "starting a read transaction on")?;
        handle.exec(
            c"SELECT count(*) FROM sqlite_master",
            "taking the shared lock on",
        )?;
        let mut file: *mut ffi::sqlite3_file = ptr::null_mut();
        // SAFETY: `db` is open; for SQLITE_FCNTL_FILE_POINTER the argument
        // is a `*mut *mut sqlite3_file` that SQLite fills in.
        let rc = unsafe {
            ffi::sqlite3_file_control(
                handle.db,
                c"main".as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&mut file as *mut *mut ffi::sqlite3_file).cast::<c_void>(),
            )
        };
        if rc != ffi::SQLITE_OK || file.is_null() {
            return Err(handle.error("reaching the file of", rc));
        }
        // SAFETY: `file` is the open main-database file of `db`, valid
        // while `db` is open; `pMethods` is set on every open file and
        // points to a static table of the VFS.
        let methods = unsafe { (*file).pMethods.as_ref() };
        let (Some(read), Some(size_of)) = (
            methods.and_then(|m| m.xRead),
            methods.and_then(|m| m.xFileSize),
        ) else {
            return Err(handle.error("reaching the file of", ffi::SQLITE_MISUSE));
        };
        let mut size: ffi::sqlite3_int64 = 0;
        // SAFETY: as above; `size` is a valid out-pointer.
        let rc = unsafe { size_of(file, &mut size) };
        if rc != ffi::SQLITE_OK {
            return Err(handle.error("measuring", rc));
        }
        Ok(Locked {
            handle,
            file,
            read,
            size,
        })
    }

    /// Fills `buf` from `offset`; the caller keeps within the file.
    fn read_at(&self, buf: &mut [u8], offset: ffi::sqlite3_int64) -> Result<()> {
        let n = c_int::try_from(buf.len()).unwrap_or(c_int::MAX);
        // SAFETY: `buf` holds at least `n` writable bytes; `file` is the
        // open file of `handle`, which `self` owns, so it is still open.
        let rc = unsafe { (self.read)(self.file, buf.as_mut_ptr().cast::<c_void>(), n, offset) };
        if rc == ffi::SQLITE_OK {
            Ok(())
        } else {
            // A short read means the file shrank under a shared lock: not
            // a state SQLite allows, so it is an error, not an end.
            Err(self.handle.error("reading", rc))
        }
    }

    /// Ends the read transaction, releasing the lock.
    fn end(self) -> Result<()> {
        self.handle
            .exec(c"COMMIT", "ending the read transaction on")
    }
}

/// Whether a database header says WAL mode (read and write versions 2):
/// then committed pages may live in the `-wal` file, not in this one.
fn is_wal(header: &[u8]) -> bool {
    header.len() >= 20 && (header[18] == 2 || header[19] == 2)
}

/// Reads the whole database file at `path` in chunks, handing each to
/// `sink` in order, while holding SQLite's shared lock, so that the bytes
/// are one committed state of the database. Returns `Ok(false)`, having
/// handed nothing over, when the database is in WAL mode (its file alone
/// is not the whole database); the caller then uses another way.
pub(super) fn read_locked(path: &Path, sink: &mut dyn FnMut(&[u8]) -> Result<()>) -> Result<bool> {
    let locked = Locked::open(path)?;
    let mut buf = vec![0u8; CHUNK];
    let mut offset: ffi::sqlite3_int64 = 0;
    while offset < locked.size {
        let n = CHUNK.min(usize::try_from(locked.size - offset).unwrap_or(CHUNK));
        locked.read_at(&mut buf[..n], offset)?;
        if offset == 0 && is_wal(&buf[..n]) {
            return Ok(false);
        }
        sink(&buf[..n])?;
        offset += n as ffi::sqlite3_int64;
    }
    locked.end()?;
    Ok(true)
}

/// SQLite's file change counter (header offset 24, big-endian), which
/// every commit in a rollback-journal mode increments; `None` in WAL mode,
/// where it is not kept, and for an empty file.
pub(super) fn change_counter(path: &Path) -> Result<Option<u32>> {
    let locked = Locked::open(path)?;
    if locked.size < 100 {
        locked.end()?;
        return Ok(None);
    }
    let mut header = [0u8; 100];
    locked.read_at(&mut header, 0)?;
    locked.end()?;
    if is_wal(&header) {
        return Ok(None);
    }
    Ok(Some(u32::from_be_bytes([
        header[24], header[25], header[26], header[27],
    ])))
}
