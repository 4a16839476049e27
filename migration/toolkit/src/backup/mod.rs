//! Backups taken before a run that changes anything, and restoring them.
//!
//! A backup is a folder `DATA/.cortex-migrate/backups/<id>/` with the
//! database as it was (`VACUUM INTO`, consistent even while Cortex reads it),
//! the old bytes of every small file the run rewrites (captured as the run
//! rewrites it, so exactly those files), the moves and creations it made,
//! and `manifest.json` with a SHA-256 of each. Weights are never copied: a
//! moved folder is moved back on restore. Old backups are pruned, keeping
//! the newest few. A restore is one journaled operation: it completes or is
//! undone, even if the process dies in the middle.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use super::atomic_fs;
use super::error::{Direction, MigrateError, Result};
use super::journal::{FileOp, Journal, PendingJournal, now_secs};
use super::paths::DataDir;
use super::platform;
use super::state_dir::StateDir;

mod restore;
pub use restore::*;

/// The folder in a backup that holds the old versions of rewritten files.
pub const FILES_DIR: &str = "files";

/// The database file of a data folder.
pub const DB_FILE: &str = "cortex.db";
/// Prefix of the journal name of a restore.
pub const RESTORE_PREFIX: &str = "restore:";

/// One file kept in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path in the data folder.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    /// Where the backup keeps it (under `files/`); empty for the database.
    #[serde(default)]
    pub stored: String,
}

/// A move the run made (relative paths): restore moves it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveEntry {
    pub from: String,
    pub to: String,
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    /// Seconds since the epoch.
    pub created_at: u64,
    pub tool_version: String,
    /// Why it was taken (`before up`, `before down to ...`).
    pub reason: String,
    /// The data version (last applied step) when it was taken.
    pub data_version: Option<String>,
    /// The database copy (`cortex.db` in the backup folder).
    pub database: FileEntry,
    /// Old contents of files the run rewrote or deleted.
    pub files: Vec<FileEntry>,
    /// Moves the run made, in order.
    pub moves: Vec<MoveEntry>,
    /// Files the run created.
    pub created: Vec<String>,
    /// Steps of the run that committed after the backup.
    pub steps: Vec<String>,
    /// The run ended (successfully or not); `false` if it is under way or
    /// its process died.
    pub complete: bool,
}

fn backups_dir(dir: &DataDir) -> PathBuf {
    StateDir::of(dir).backups()
}

fn sha256_hex(path: &Path) -> Result<String> {
    Ok(format!("{:x}", atomic_fs::hash_file(path)?))
}

/// How a backup is named: `YYYYMMDD-HHMMSS` (UTC), so that names sort
/// like the times they were taken.
const STAMP: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]-[hour][minute][second]");

/// `YYYYMMDD-HHMMSS` (UTC) of an epoch time; the bare number of seconds
/// for a time after the year 9999.
fn stamp(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(STAMP).ok())
        .unwrap_or_else(|| secs.to_string())
}

fn write_manifest(folder: &Path, m: &Manifest) -> Result<()> {
    let text = serde_json::to_vec_pretty(m).map_err(|e| MigrateError::Encode {
        what: "the backup manifest",
        detail: e.to_string(),
    })?;
    atomic_fs::replace_durably(&folder.join("manifest.json"), &text)
}

/// Takes the backup of a run and records, while it goes, what the run
/// changes in the data folder.
#[derive(Debug)]
pub struct Recorder {
    folder: PathBuf,
    manifest: Mutex<Manifest>,
    seen: Mutex<HashSet<String>>,
    /// Files put in the backup since the last sync.
    unsynced: Mutex<Vec<PathBuf>>,
}

impl Recorder {
    /// Copies the database into a new backup folder. SQLite only: on a
    /// server, backups are the operator's (pg_dump, mariadb-dump).
    pub async fn start<C: ConnectionTrait>(
        conn: &C,
        dir: &DataDir,
        reason: &str,
        data_version: Option<String>,
    ) -> Result<Recorder> {
        if conn.get_database_backend() != DbBackend::Sqlite {
            return Err(MigrateError::Refused(
                "backups are taken for SQLite data folders only".into(),
            ));
        }
        let root = backups_dir(dir);
        fs::create_dir_all(&root).map_err(|e| MigrateError::io("create folder", &root, e))?;
        let created_at = now_secs();
        let mut id = stamp(created_at);
        let mut n = 1;
        while root.join(&id).exists() || root.join(format!(".partial-{id}")).exists() {
            n += 1;
            id = format!("{}-{n}", stamp(created_at));
        }
        // Built under a hidden name, renamed when the database is in it.
        let partial = root.join(format!(".partial-{id}"));
        fs::create_dir(&partial).map_err(|e| MigrateError::io("create folder", &partial, e))?;
        let db_copy = partial.join(DB_FILE);
        let target = db_copy.to_string_lossy().replace('\'', "''");
        let vacuum = conn
            .execute_raw(Statement::from_string(
                DbBackend::Sqlite,
                format!("VACUUM INTO '{target}'"),
            ))
            .await;
        if let Err(e) = vacuum {
            let _ = atomic_fs::remove_any(&partial);
            let msg = e.to_string();
            return Err(if msg.contains("full") {
                MigrateError::NoSpace { path: db_copy }
            } else {
                MigrateError::db("backing up the database (VACUUM INTO)", e)
            });
        }
        atomic_fs::sync_dir(&partial)?;
        let database = FileEntry {
            stored: String::new(),
            path: DB_FILE.into(),
            bytes: fs::metadata(&db_copy)
                .map_err(|e| MigrateError::io("inspect", &db_copy, e))?
                .len(),
            sha256: sha256_hex(&db_copy)?,
        };
        let manifest = Manifest {
            id: id.clone(),
            created_at,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            reason: reason.into(),
            data_version,
            database,
            files: Vec::new(),
            moves: Vec::new(),
            created: Vec::new(),
            steps: Vec::new(),
            complete: false,
        };
        write_manifest(&partial, &manifest)?;
        let folder = root.join(&id);
        platform::rename(&partial, &folder)
            .map_err(|e| MigrateError::io("create backup", &folder, e))?;
        atomic_fs::sync_dir(&root)?;
        tracing::info!(backup = %id, "backup taken");
        Ok(Recorder {
            folder,
            manifest: Mutex::new(manifest),
            seen: Mutex::new(HashSet::new()),
            unsynced: Mutex::new(Vec::new()),
        })
    }

    /// The backup's id.
    pub fn id(&self) -> String {
        self.manifest
            .lock()
            .map(|m| m.id.clone())
            .unwrap_or_default()
    }

    /// Notes a file operation of the run (called right after it is done).
    pub fn observe(&self, op: &FileOp, dir: &DataDir) -> Result<()> {
        let (Ok(mut m), Ok(mut seen)) = (self.manifest.lock(), self.seen.lock()) else {
            return Err(MigrateError::Poisoned {
                what: "the backup recorder",
            });
        };
        let rel = |p: &Path| p.to_string_lossy().replace('\\', "/");
        match op {
            FileOp::Rewrite { path, old, .. } => {
                let key = rel(path);
                if seen.insert(key.clone()) {
                    // The old version the journal keeps until commit: the
                    // backup takes another hard link to it (no bytes copied;
                    // nothing writes to that file any more).
                    let kept = dir.root().join(old);
                    let files = self.folder.join(FILES_DIR);
                    if m.files.is_empty() {
                        fs::create_dir_all(&files)
                            .map_err(|e| MigrateError::io("create folder", &files, e))?;
                    }
                    let stored = m.files.len().to_string();
                    let target = files.join(&stored);
                    if fs::hard_link(&kept, &target).is_err() {
                        fs::copy(&kept, &target)
                            .map_err(|e| MigrateError::io("back up", &kept, e))?;
                        if let Ok(mut u) = self.unsynced.lock() {
                            u.push(target.clone());
                        }
                    }
                    let bytes = atomic_fs::read(&target)?;
                    m.files.push(FileEntry {
                        path: key,
                        bytes: bytes.len() as u64,
                        sha256: format!("{:x}", sha2::Sha256::digest(&bytes)),
                        stored,
                    });
                }
            }
            FileOp::Create { path, .. } => {
                let key = rel(path);
                if seen.insert(key.clone()) {
                    m.created.push(key);
                }
            }
            FileOp::CreateDir { .. } | FileOp::Copy { .. } | FileOp::Delete { .. } => {}
            FileOp::Rename { from, to } | FileOp::CopyMove { from, to } => {
                m.moves.push(MoveEntry {
                    from: rel(from),
                    to: rel(to),
                })
            }
        }
        Ok(())
    }

    /// Makes the files copied into the backup durable (hard links share
    /// the journal's, which is synced before the commit) and its folder.
    fn sync(&self) -> Result<()> {
        let copied = self
            .unsynced
            .lock()
            .map(|mut u| std::mem::take(&mut *u))
            .unwrap_or_default();
        if copied.len() > 32 && platform::WHOLE_FILESYSTEM_SYNC {
            atomic_fs::sync_filesystem(&self.folder)?;
        } else {
            for f in &copied {
                platform::sync_path(f).map_err(|e| MigrateError::io("sync", f, e))?;
            }
        }
        let files = self.folder.join(FILES_DIR);
        if files.exists() {
            atomic_fs::sync_dir(&files)?;
        }
        atomic_fs::sync_dir(&self.folder)
    }

    /// A step of the run committed: the manifest says so, durably.
    pub fn step_done(&self, step: &str) -> Result<()> {
        let m = {
            let mut m = self.manifest.lock().map_err(|_| MigrateError::Poisoned {
                what: "the backup recorder",
            })?;
            m.steps.push(step.to_owned());
            m.clone()
        };
        self.sync()?;
        write_manifest(&self.folder, &m)
    }

    /// The run ended.
    pub fn finish(&self) -> Result<()> {
        let m = {
            let mut m = self.manifest.lock().map_err(|_| MigrateError::Poisoned {
                what: "the backup recorder",
            })?;
            m.complete = true;
            m.clone()
        };
        self.sync()?;
        write_manifest(&self.folder, &m)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn stamps_sort_like_time() {
        assert_eq!(super::stamp(0), "19700101-000000");
        assert_eq!(super::stamp(1_795_654_443), "20261126-005403");
        assert_eq!(super::stamp(u64::MAX), u64::MAX.to_string());
    }
}
