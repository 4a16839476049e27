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
use crate::toolkit::recipe::{self, RecipeOp};
use crate::toolkit::{Folder, MigrateError, Step, StepKind};

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
        let backend = manager.get_database_backend();
        let rows = cortex::model_rows(conn).await?;

        let mut new_paths = Vec::new();
        let mut old_paths = Vec::new();
        let mut rewrites: Vec<(String, Vec<u8>)> = Vec::new();
        let mut inverse_edits = Vec::new();
        let mut files = 0;
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
            if let Some(stored) = row
                .yml
                .as_deref()
                .filter(|p| std::path::Path::new(p).is_absolute())
                && let Located::Inside { rel, .. } = dir.locate(stored)
            {
                new_paths.push((row.id.clone(), Some(rel.into())));
                old_paths.push((row.id.clone(), Some(stored.into())));
            }
            let (rel, text, read_only) = match cortex::read_model_text(&dir, row) {
                None => continue,
                Some(YmlText::Skip(why)) => {
                    folder.note(why);
                    continue;
                }
                Some(YmlText::Ok {
                    rel,
                    text,
                    read_only,
                }) => (rel, text, read_only),
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
            let edits = match yml.edit_files(|entry| {
                if !std::path::Path::new(entry).is_absolute() {
                    return None;
                }
                match dir.locate(entry) {
                    Located::Inside { rel, .. } => Some(rel),
                    Located::Outside { .. } => None,
                }
            }) {
                Ok(e) if e.is_empty() => continue,
                Ok(e) => e,
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
            let text = yml
                .apply(&edits)
                .map_err(|e| folder.fail(MigrateError::Refused(e)))?;
            rewrites.push((rel.clone(), text.into_bytes()));
            inverse_edits.push(RecipeOp::EditLines {
                path: rel,
                edits: edits.iter().map(|e| e.inverse()).collect(),
            });
            if rewrites.len() >= cortex::REWRITE_BATCH {
                files += rewrites.len();
                folder.rewrite_many(std::mem::take(&mut rewrites)).await?;
                std::mem::take(&mut inverse_edits)
                    .into_iter()
                    .for_each(|op| folder.record(op));
            }
        }
        files += rewrites.len();
        folder.rewrite_many(rewrites).await?;
        inverse_edits.into_iter().for_each(|op| folder.record(op));

        let column = "path_to_model_yaml";
        bulk::run(
            conn,
            &bulk::set_by_key(backend, "models", "model_id", column, &new_paths),
        )
        .await?;
        for sql in bulk::set_by_key(backend, "models", "model_id", column, &old_paths) {
            folder.record(RecipeOp::Sql { sql });
        }
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
