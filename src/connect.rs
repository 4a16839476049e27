//! Opening the database: `DIR/cortex.db` for a data folder (created only
//! when asked to), or a URL for PostgreSQL / MySQL / a SQLite file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use migration::toolkit::MigrateError;

use crate::error::{Error, Result};

/// The name of Cortex's database inside its data folder.
pub const DB_FILE: &str = "cortex.db";

/// How long SQLite waits for another writer (Cortex itself) before it
/// reports the database as busy.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// A Cortex data folder with `cortex.db` in it.
    Folder(PathBuf),
    /// A database URL (`postgres://`, `mysql://`, `sqlite://`), with the
    /// data folder for folder steps if one is known.
    Url {
        url: String,
        data_dir: Option<PathBuf>,
    },
}

impl Place {
    /// The data folder, if any.
    pub fn data_dir(&self) -> Option<&Path> {
        match self {
            Place::Folder(p) => Some(p),
            Place::Url { data_dir, .. } => data_dir.as_deref(),
        }
    }

    /// The SQLite file of a data folder.
    pub fn db_file(&self) -> Option<PathBuf> {
        match self {
            Place::Folder(p) => Some(p.join(DB_FILE)),
            Place::Url { .. } => None,
        }
    }

    /// Whether the database exists (always assumed for a URL).
    pub fn db_exists(&self) -> bool {
        self.db_file().is_none_or(|f| f.exists())
    }
}

/// Opens the database. For a data folder, `create` allows creating
/// `cortex.db`; the folder itself must exist.
pub async fn open(place: &Place, create: bool) -> Result<DatabaseConnection> {
    open_waiting(place, create, None).await
}

/// [`open`], waiting at most `lock_timeout` (forever if `None`) for the
/// folder's lock where a restore left half done must be settled first.
pub async fn open_waiting(
    place: &Place,
    create: bool,
    lock_timeout: Option<Duration>,
) -> Result<DatabaseConnection> {
    match place {
        Place::Folder(dir) => {
            if dir.is_dir() {
                recover_interrupted_restore(dir, lock_timeout).await?;
            } else {
                if !create {
                    return Err(Error::NoDataFolder { path: dir.clone() });
                }
                // Cortex creates its data folder on first start; so does
                // the installer's `up`.
                std::fs::create_dir_all(dir)
                    .map_err(|e| MigrateError::io("create data folder", dir, e))?;
            }
            let file = dir.join(DB_FILE);
            if !create && !file.exists() {
                return Err(Error::NoDatabase {
                    folder: dir.clone(),
                });
            }
            open_sqlite_file(&file, create).await
        }
        Place::Url { url, .. } => {
            let mut opts = ConnectOptions::new(url.clone());
            opts.sqlx_logging(false)
                .connect_timeout(Duration::from_secs(10));
            Database::connect(opts).await.map_err(|e| Error::Connect {
                target: redact(url),
                reason: e.to_string(),
            })
        }
    }
}

/// Opens a SQLite file by path (no URL escaping involved).
pub async fn open_sqlite_file(file: &Path, create: bool) -> Result<DatabaseConnection> {
    let path = file.to_path_buf();
    // The URL only selects the SQLite driver; the file is set by path below
    // so that no character of it needs URL escaping.
    let mut opts = ConnectOptions::new("sqlite://cortex.db");
    // No ping before each use of the pooled connection: it is a file this
    // process has open, not a socket that can go stale, and each ping is a
    // round trip to the driver's thread.
    opts.sqlx_logging(false)
        .max_connections(1)
        .test_before_acquire(false)
        .map_sqlx_sqlite_opts(move |o| {
            o.filename(&path)
                .create_if_missing(create)
                .busy_timeout(BUSY_TIMEOUT)
        });
    Database::connect(opts).await.map_err(|e| {
        match migration::toolkit::classify_db_error(Some(file), "opening the database", e) {
            MigrateError::Db { source, .. } => Error::Connect {
                target: file.display().to_string(),
                reason: source.to_string(),
            },
            typed => Error::Migrate(typed),
        }
    })
}

/// A URL with its password replaced, for messages.
pub fn redact(url: &str) -> String {
    migration::toolkit::redact_url(url)
}

/// Finishes or undoes a restore that a dead process left half done. It
/// replaced the database file, so it must be settled before the database
/// is opened (which could otherwise create an empty one in its place).
/// Only a restore's journal takes the lock here: a step's journal is left
/// to the runner, and a running migrator is not waited for.
pub async fn recover_interrupted_restore(
    dir: &Path,
    lock_timeout: Option<Duration>,
) -> Result<Option<(String, bool)>> {
    use migration::toolkit::{DataDir, FolderLock, PendingJournal, backups};
    if !migration::toolkit::StateDir::in_folder(dir).has_journal() {
        return Ok(None);
    }
    let data = DataDir::new(dir)?;
    match PendingJournal::peek(&data) {
        Ok(Some(p)) if backups::is_restore(&p) => {}
        _ => return Ok(None),
    }
    let on_wait = |msg: &str| eprintln!("{msg}");
    let _lock = FolderLock::acquire(&data, lock_timeout, &on_wait).await?;
    Ok(backups::recover_restore(&data)?)
}
