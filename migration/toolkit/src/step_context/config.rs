//! [`ConfigFile`]: a step's handle on the one file outside the data folder
//! it may change, the Cortex config (`.cortexrc`) that Cortex's location
//! rules name for the data folder. Its new content goes through the
//! step's journal (so it commits or rolls back with the step, survives a
//! crash and is kept by the run's backup) under its absolute path.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{MigrateError, Result};
use crate::step_context::Folder;
use crate::undo::UndoOp;

/// The config file of the data folder, for one step.
pub struct ConfigFile {
    folder: Folder,
    path: PathBuf,
}

impl ConfigFile {
    pub(super) fn new(folder: Folder, path: PathBuf) -> ConfigFile {
        ConfigFile { folder, path }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its bytes.
    pub fn read(&self) -> Result<Vec<u8>> {
        std::fs::read(&self.path).map_err(|e| MigrateError::io("read", &self.path, e))
    }

    /// Replaces its text, through the step's journal, and records what
    /// undoes it: the earlier text, put back if the file still holds this
    /// one when the step is undone.
    pub async fn replace(&self, text: String) -> Result<()> {
        let before = String::from_utf8(self.read()?).map_err(|e| MigrateError::Encode {
            what: "the config file's text",
            detail: format!("{}: {e}", self.path.display()),
        })?;
        let Some(path) = self.path.to_str().map(str::to_owned) else {
            return Err(MigrateError::Encode {
                what: "the config file's path",
                detail: format!("{} is not UTF-8", self.path.display()),
            });
        };
        let written = format!("{:x}", Sha256::digest(text.as_bytes()));
        // An absolute path joined to the data folder is itself, so the
        // journal writes, keeps and rolls back this one file where it is.
        self.folder.rewrite(&path, text.into_bytes()).await?;
        self.folder.push_undo(UndoOp::Replace {
            path,
            written,
            before,
        });
        Ok(())
    }
}
