//! Relative model paths. Since October 2024 cortex.cpp stores
//! `models.path_to_model_yaml` and the `files:` entries of `model.yml`
//! relative to the data folder, but it never migrated older installs, whose
//! absolute paths break when the data folder moves. This step rewrites every
//! absolute path that lies inside the data folder to its relative form, in
//! the database and in each `model.yml`; paths outside the folder (imported
//! models) stay as they are. Its `down` puts back exactly what it changed.
//!
//! cortex.cpp resolves both with `ToAbsoluteCortexDataPath` (relative to the
//! data folder, absolute as is; `engine/utils/file_manager_utils.cc`, and
//! `ModelService::StartModel` reading `files[0]`, v1.0.9); relative paths
//! came with cortex.cpp 8657549e (#1399, October 2024).
//!
//! A data folder that was moved (`dataFolderPath` in `.cortexrc`) keeps
//! absolute paths into its old place; one whose file is gone but whose part
//! from `models/`, `engines/` or `files/` on exists here is that file
//! (`DataDir::locate_healing`), made relative the same way and counted as
//! healed.

use sea_orm_migration::prelude::*;

use crate::cortex::{self, YmlRead, YmlText};
use crate::toolkit::{Change, MigrateError, Step, StepContext, StepKind};
use crate::toolkit::{Located, OpenFor, looks_absolute};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl Step for Migration {
    fn summary(&self) -> &'static str {
        "make absolute model paths inside the data folder relative (database and model.yml)"
    }

    fn kind(&self) -> StepKind {
        StepKind::Folder
    }

    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        let folder = cx.folder()?;
        let dir = folder.dir().clone();
        let conn = cx.manager().get_connection();
        let total = cortex::model_count(conn).await?;
        let mut pages = cortex::ModelPages::default();
        let mut pass = Pass {
            folder,
            rewrites: cortex::Rewrites::default(),
            healed: 0,
        };
        let (mut n, mut made_relative) = (0u64, 0usize);
        // A page at a time: its rows' paths are set once it is done, so
        // memory holds one page whatever the number of models. Each run of
        // rows is looked at on the machine's cores; what is found is taken
        // here, in the rows' order.
        while let Some(rows) = pages.next(conn).await? {
            let mut paths = Vec::new();
            let mut runs = cortex::look_at(&rows, |row| look(&dir, row));
            loop {
                // Files written since the last run was read read as
                // changed from now on (see `Rewrites::reading`).
                pass.rewrites.reading();
                let Some(looks) = runs.next() else {
                    break;
                };
                for (row, look) in looks? {
                    n += 1;
                    cx.rows_done(n, total);
                    pass.row(cx, &dir, row, look, &mut paths).await?;
                }
            }
            made_relative += paths.len();
            cx.set_values("models", "model_id", "path_to_model_yaml", &paths)
                .await?;
        }
        let Pass {
            folder,
            rewrites,
            healed,
        } = pass;
        let files = rewrites.finish(&folder).await?;
        cx.note(format!(
            "{made_relative} database path(s) and {files} model.yml file(s) made relative"
        ));
        if healed > 0 {
            cx.note(format!(
                "{healed} path(s) into an earlier place of the data folder healed \
                 (the folder was moved; the files are here)"
            ));
        }
        Ok(())
    }

    async fn down(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        cx.undo().await
    }
}

/// What the step keeps as it goes through the model rows.
struct Pass {
    folder: crate::toolkit::Folder,
    rewrites: cortex::Rewrites,
    /// Paths healed into the folder's present place.
    healed: usize,
}

/// What looking at one model row found, on whichever core looked.
struct Look {
    /// Its absolute path into the data folder, made relative, and whether
    /// it led into an earlier place of the folder.
    path: Option<(Change, bool)>,
    /// Its `model.yml`: why it is skipped, or its text when it has an
    /// absolute list item; `None` when it has nothing to change.
    yml: Option<YmlText>,
}

/// Locates and reads one row's `model.yml`. Only the text of a file with
/// an absolute list item comes back (few do, once a folder was adopted):
/// the rest is dropped where it was read.
fn look(dir: &crate::toolkit::DataDir, row: &cortex::ModelRow) -> Look {
    let Some(stored) = cortex::stored_yml(row) else {
        return Look {
            path: None,
            yml: None,
        };
    };
    let (located, was_moved, opened) = dir.open_healing(stored, OpenFor::Read);
    let path = match &located {
        Located::Inside { rel, .. } if looks_absolute(stored) => Some((
            Change {
                key: row.id.clone(),
                old: Some(stored.into()),
                new: Some(rel.as_str().into()),
            },
            was_moved,
        )),
        _ => None,
    };
    // A model.yml with no absolute list item has nothing to change: it is
    // not even parsed.
    let yml = match cortex::read_located(row, stored, located, opened) {
        YmlText::Ok { text, .. } if !has_absolute_item(&text) => None,
        read => Some(read),
    };
    Look { path, yml }
}

impl Pass {
    /// One model row, as [`look`] found it: its absolute path into the
    /// data folder becomes a change in `paths`, its `model.yml`'s absolute
    /// `files:` entries a rewrite.
    async fn row(
        &mut self,
        cx: &StepContext<'_>,
        dir: &crate::toolkit::DataDir,
        row: &cortex::ModelRow,
        look: Look,
        paths: &mut Vec<Change>,
    ) -> Result<(), MigrateError> {
        if let Some((change, was_moved)) = look.path {
            paths.push(change);
            self.healed += usize::from(was_moved);
        }
        let (rel, text, read_only) = match look.yml {
            None => return Ok(()),
            Some(YmlText::Skip(why)) => {
                cx.note(why);
                return Ok(());
            }
            Some(YmlText::Ok {
                rel,
                text,
                read_only,
            }) => (rel, text, read_only),
        };
        if !self.rewrites.first_look(&rel) {
            return Ok(());
        }
        let read = YmlText::Ok {
            rel: rel.clone(),
            text,
            read_only,
        };
        let yml = match cortex::parse_model_text(row, read) {
            YmlRead::Ok { yml, .. } => yml,
            YmlRead::Skip(why) => {
                cx.note(why);
                return Ok(());
            }
        };
        let moved_entries = std::cell::Cell::new(0usize);
        let (edits, text) = match yml.edit_files(|entry| {
            if !looks_absolute(entry) {
                return None;
            }
            match dir.locate_healing(entry) {
                (Located::Inside { rel, .. }, was_moved) => {
                    moved_entries.set(moved_entries.get() + usize::from(was_moved));
                    Some(rel)
                }
                (Located::Outside { .. }, _) => None,
            }
        }) {
            Ok(None) => return Ok(()),
            Ok(Some(edited)) => edited,
            Err(why) => {
                cx.note(format!("model {}: {rel}: {why}", row.id));
                return Ok(());
            }
        };
        if read_only {
            cx.note(format!(
                "model {}: {rel} is read-only; its absolute files: entries were left as they were",
                row.id
            ));
            return Ok(());
        }
        self.healed += moved_entries.get();
        self.rewrites.push(&self.folder, rel, text, &edits).await
    }
}

/// Whether a `model.yml` text has a list item that is an absolute path (a
/// `files:` entry to look at); a cheap scan before any parse.
fn has_absolute_item(text: &str) -> bool {
    text.lines().any(|l| {
        l.trim_start()
            .strip_prefix("- ")
            .map(|v| v.trim().trim_matches(['"', '\'']))
            .is_some_and(looks_absolute)
    })
}
