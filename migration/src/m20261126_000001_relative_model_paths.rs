//! Relative model paths. Since October 2024 cortex.cpp stores
//! `models.path_to_model_yaml` and the `files:` entries of `model.yml`
//! relative to the data folder, but it never migrated older installs, whose
//! absolute paths break when the data folder moves. This step rewrites every
//! absolute path that lies inside the data folder to its relative form, in
//! the database and in each `model.yml`; paths outside the folder (imported
//! models) stay as they are. Its `down` puts back exactly what it changed.

use sea_orm_migration::prelude::*;

use crate::cortex::{self, YmlRead, YmlText, bulk};
use crate::toolkit::paths::Located;
use crate::toolkit::recipe;
use crate::toolkit::{Folder, Step, StepKind};

#[derive(DeriveMigrationName)]
pub struct Migration;

impl Step for Migration {
    fn summary(&self) -> &'static str {
        "make absolute model paths inside the data folder relative (database and model.yml)"
    }

    fn kind(&self) -> StepKind {
        StepKind::Folder
    }

    fn definition(&self) -> String {
        "relative-model-paths/1: models.path_to_model_yaml and model.yml files: entries; \
         absolute paths inside the data folder become relative with / separators; others unchanged"
            .into()
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let folder = Folder::current()?;
        let dir = folder.dir().clone();
        let conn = manager.get_connection();
        let rows = cortex::model_rows(conn).await?;

        let mut new_paths = Vec::new();
        let mut old_paths = Vec::new();
        let mut rewrites = cortex::Rewrites::default();
        let mut seen = std::collections::HashSet::new();
        // A model.yml without the data folder's path in it has no absolute
        // path inside the folder: it is not even parsed.
        let roots = [
            dir.root().to_string_lossy().into_owned(),
            dir.canonical().to_string_lossy().into_owned(),
        ];
        let total = rows.len() as u64;
        for (n, row) in rows.iter().enumerate() {
            folder.rows_done(n as u64 + 1, total);
            let Some(stored) = cortex::stored_yml(row) else {
                continue;
            };
            let located = dir.locate(stored);
            if std::path::Path::new(stored).is_absolute()
                && let Located::Inside { rel, .. } = &located
            {
                new_paths.push((row.id.clone(), Some(rel.as_str().into())));
                old_paths.push((row.id.clone(), Some(stored.into())));
            }
            let (rel, text, read_only) = match cortex::read_located(row, stored, located) {
                YmlText::Skip(why) => {
                    folder.note(why);
                    continue;
                }
                YmlText::Ok {
                    rel,
                    text,
                    read_only,
                } => (rel, text, read_only),
            };
            if !roots.iter().any(|r| text.contains(r.as_str())) || !seen.insert(rel.clone()) {
                continue;
            }
            let read = YmlText::Ok {
                rel: rel.clone(),
                text,
                read_only,
            };
            let yml = match cortex::parse_model_text(row, read) {
                YmlRead::Ok { yml, .. } => yml,
                YmlRead::Skip(why) => {
                    folder.note(why);
                    continue;
                }
            };
            let (edits, text) = match yml.edit_files(|entry| {
                if !std::path::Path::new(entry).is_absolute() {
                    return None;
                }
                match dir.locate(entry) {
                    Located::Inside { rel, .. } => Some(rel),
                    Located::Outside { .. } => None,
                }
            }) {
                Ok(None) => continue,
                Ok(Some(edited)) => edited,
                Err(why) => {
                    folder.note(format!("model {}: {rel}: {why}", row.id));
                    continue;
                }
            };
            if read_only {
                folder.note(format!(
                    "model {}: {rel} is read-only; its absolute files: entries were left as they were",
                    row.id
                ));
                continue;
            }
            rewrites.push(&folder, rel, text, &edits).await?;
        }
        let files = rewrites.finish(&folder).await?;

        bulk::set_recorded(
            conn,
            &folder,
            "models",
            "model_id",
            "path_to_model_yaml",
            &new_paths,
            &old_paths,
        )
        .await?;
        folder.note(format!(
            "{} database path(s) and {files} model.yml file(s) made relative",
            new_paths.len()
        ));
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recipe::replay_recorded(manager, self.name()).await
    }
}
