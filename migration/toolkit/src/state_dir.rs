//! The migrator's own folder inside the data folder, `.cortex-migrate/`,
//! and the one place its layout is known:
//!
//! ```text
//! .cortex-migrate/
//!   journal          the journal of the step (or restore) under way
//!   work/            what that journal keeps: old copies, trash
//!   lock             the lock file (who holds the folder)
//!   backups/<id>/    the backups taken before runs
//!   verified-schema  the boot's fingerprint of the last fully verified schema
//!   archive/<step>/  files a step set aside (old layouts), kept for its down
//! ```

use std::path::{Path, PathBuf};

use crate::atomic_fs::sync_dir;
use crate::error::{MigrateError, Result};
use crate::paths::DataDir;

/// The name of the state folder in the data folder.
pub const NAME: &str = ".cortex-migrate";

/// The state folder of one data folder.
#[derive(Debug, Clone)]
pub struct StateDir {
    data: PathBuf,
    path: PathBuf,
}

impl StateDir {
    /// The state folder of `dir` (it may not exist yet).
    pub fn of(dir: &DataDir) -> StateDir {
        StateDir::in_folder(dir.root())
    }

    /// The state folder of the data folder at `root`.
    pub fn in_folder(root: &Path) -> StateDir {
        StateDir {
            data: root.to_path_buf(),
            path: root.join(NAME),
        }
    }

    /// The folder itself.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal of the step under way.
    pub fn journal(&self) -> PathBuf {
        self.path.join("journal")
    }

    /// Whether a journal is there (a step or restore did not finish).
    pub fn has_journal(&self) -> bool {
        self.journal().exists()
    }

    /// What the journal keeps while its step runs.
    pub fn work(&self) -> PathBuf {
        self.path.join("work")
    }

    /// The path, relative to the data folder, where the journal keeps
    /// `what` (`old`, `trash`) of operation `id`.
    pub fn work_file(id: u64, what: &str) -> PathBuf {
        Path::new(NAME).join("work").join(format!("{id}.{what}"))
    }

    /// The lock file.
    pub fn lock(&self) -> PathBuf {
        self.path.join("lock")
    }

    /// The backups, one folder each.
    pub fn backups(&self) -> PathBuf {
        self.path.join(BACKUPS)
    }

    /// The folder of backup `id`, relative to the data folder.
    pub fn backup_rel(id: &str) -> PathBuf {
        Path::new(NAME).join(BACKUPS).join(id)
    }

    /// Where step `step` sets files aside, relative to the data folder.
    pub fn archive_rel(step: &str) -> PathBuf {
        Path::new(NAME).join("archive").join(step)
    }

    /// The boot's fingerprint of the last fully verified schema.
    pub fn verified_schema(&self) -> PathBuf {
        self.path.join("verified-schema")
    }

    /// Creates the folder if needed (durably: its parent is synced).
    pub fn ensure(&self) -> Result<&Path> {
        if !self.path.exists() {
            crate::disk::create_dir_all(&self.path)
                .map_err(|e| MigrateError::io("create folder", &self.path, e))?;
            sync_dir(&self.data)?;
        }
        Ok(&self.path)
    }
}

const BACKUPS: &str = "backups";
