//! One migrator at a time. For a data folder, an OS file lock on
//! `.cortex-migrate/lock` (released by the kernel when the holder dies, so a
//! killed process never leaves a stale lock); the file also says who holds
//! it, for the waiting message and `status`. PostgreSQL and MariaDB use a
//! server-side advisory lock instead (see `lock::server`).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::error::{MigrateError, Result};
use crate::journal::now_secs;
use crate::paths::DataDir;
use crate::platform;
use crate::state_dir::StateDir;

/// Who holds (or last held) the lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub command: String,
    pub since: u64,
    pub host: String,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {} ({})", self.pid, self.host, self.command)
    }
}

/// The held lock; released when dropped.
#[derive(Debug)]
pub struct FolderLock {
    file: File,
    path: PathBuf,
    shared: bool,
}

impl FolderLock {
    /// Takes the lock of `dir`, waiting up to `timeout` (forever if `None`).
    /// `on_wait` is called once, with the holder, if the lock is busy.
    pub async fn acquire(
        dir: &DataDir,
        timeout: Option<Duration>,
        on_wait: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<FolderLock> {
        StateDir::of(dir).ensure()?;
        let path = StateDir::of(dir).lock();
        let file = open_or_create(&path)?;
        let started = Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    let holder = read_holder(&path)
                        .map(|h| h.to_string())
                        .unwrap_or_else(|| "another process".into());
                    if !told {
                        on_wait(&format!(
                            "waiting for another migration to finish (lock {} held by {holder})",
                            path.display()
                        ));
                        told = true;
                    }
                    if let Some(t) = timeout
                        && started.elapsed() >= t
                    {
                        return Err(MigrateError::LockTimeout {
                            path,
                            holder,
                            waited_secs: t.as_secs(),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(std::fs::TryLockError::Error(e)) => {
                    return Err(MigrateError::io("lock", &path, e));
                }
            }
        }
        let mut lock = FolderLock {
            file,
            path,
            shared: false,
        };
        lock.write_holder()?;
        Ok(lock)
    }

    /// A shared hold of the folder of `state`, taken at once or not at all
    /// (`None`: a migrator holds it, or no lock file exists yet, so no
    /// migrator ever ran here). Boots that find nothing pending hold it
    /// together; a migrator's exclusive hold waits for them. Creates
    /// nothing.
    pub fn try_shared_in(state: &StateDir) -> Result<Option<FolderLock>> {
        let path = state.lock();
        let file = match OpenOptions::new().read(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(MigrateError::io("open lock file", &path, e)),
        };
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(FolderLock {
                file,
                path,
                shared: true,
            })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(MigrateError::io("lock", &path, e)),
        }
    }

    fn write_holder(&mut self) -> Result<()> {
        let holder = Holder {
            pid: std::process::id(),
            command: std::env::args()
                .map(|a| redact_url(&a))
                .collect::<Vec<_>>()
                .join(" "),
            since: now_secs(),
            host: platform::host_name(),
        };
        let text = serde_json::to_string(&holder).map_err(|e| MigrateError::Encode {
            what: "the lock holder",
            detail: e.to_string(),
        })?;
        let path = self.path.clone();
        self.file
            .set_len(0)
            .and_then(|_| self.file.seek(SeekFrom::Start(0)))
            .and_then(|_| self.file.write_all(text.as_bytes()))
            .map_err(|e| MigrateError::io("write lock file", &path, e))
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        if !self.shared {
            let _ = self.file.set_len(0);
        }
        let _ = self.file.unlock();
    }
}

/// Whether the lock of `dir` is held right now, and by whom.
pub fn current_holder(dir: &DataDir) -> Option<Holder> {
    let path = StateDir::of(dir).lock();
    let file = OpenOptions::new().read(true).write(true).open(&path).ok()?;
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(_) => Some(read_holder(&path).unwrap_or(Holder {
            pid: 0,
            command: "unknown".into(),
            since: 0,
            host: "unknown".into(),
        })),
    }
}

/// Opens the lock file for reading and writing, creating it if needed
/// (never truncating: it may say who holds the lock).
fn open_or_create(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| MigrateError::io("open lock file", path, e))
}

fn read_holder(path: &Path) -> Option<Holder> {
    let mut s = String::new();
    File::open(path).ok()?.read_to_string(&mut s).ok()?;
    serde_json::from_str(&s).ok()
}

/// A database URL with its password replaced, for messages and the lock
/// file (anything without `user:password@` comes back unchanged).
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact_url("mysql://root@h/db"), "mysql://root@h/db");
        assert_eq!(super::redact_url("--data-dir"), "--data-dir");
    }
}
