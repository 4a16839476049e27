//! Relative model paths. Since October 2024 cortex.cpp stores
//! `models.path_to_model_yaml` and the `files:` entries of `model.yml`
//! relative to the data folder, but it never migrated older installs, whose
//! absolute paths break when the data folder moves. This step rewrites every
//! absolute path that lies inside the data folder to its relative form, in
//! the database and in each `model.yml`; paths outside the folder (imported
//! models) stay as they are. Its `down` puts back exactly what it changed.

use sea_orm_migration::prelude::*;

use crate::cortex::{self, YmlRead, bulk};
use crate::toolkit::paths::Located;
use crate::toolkit::recipe::{self, RecipeOp};
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
        let backend = manager.get_database_backend();
        let rows = cortex::model_rows(conn).await?;

        let mut new_paths = Vec::new();
        let mut old_paths = Vec::new();
        let mut rewrites: Vec<(String, Vec<u8>)> = Vec::new();
        let mut inverse_edits = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let total = rows.len() as u64;
        for (n, row) in rows.iter().enumerate() {
            if let Some(stored) = row
                .yml
                .as_deref()
                .filter(|p| std::path::Path::new(p).is_absolute())
                && let Located::Inside { rel, .. } = dir.locate(stored)
            {
                new_paths.push((row.id.clone(), Some(rel.into())));
                old_paths.push((row.id.clone(), Some(stored.into())));
            }
            match cortex::read_model_yml(&dir, row) {
                None => {}
                Some(YmlRead::Skip(why)) => folder.note(why),
                Some(YmlRead::Ok {
                    rel,
                    yml,
                    read_only,
                }) => {
                    if !seen.insert(rel.clone()) {
                        continue;
                    }
                    let edits = match yml.edit_files(|entry| {
                        if !std::path::Path::new(entry).is_absolute() {
                            return None;
                        }
                        match dir.locate(entry) {
                            Located::Inside { rel, .. } => Some(rel),
                            Located::Outside { .. } => None,
                        }
                    }) {
                        Ok(e) => e,
                        Err(why) => {
                            folder.note(format!("model {}: {rel}: {why}", row.id));
                            continue;
                        }
                    };
                    if edits.is_empty() {
                        continue;
                    }
                    if read_only {
                        folder.note(format!(
                            "model {}: {rel} is read-only; its absolute files: entries were left as they were",
                            row.id
                        ));
                        continue;
                    }
                    let text = yml
                        .apply(&edits)
                        .map_err(|e| folder.fail(crate::toolkit::MigrateError::Refused(e)))?;
                    rewrites.push((rel.clone(), text.into_bytes()));
                    inverse_edits.push(RecipeOp::EditLines {
                        path: rel,
                        edits: edits.iter().map(|e| e.inverse()).collect(),
                    });
                }
            }
            folder.rows_done(n as u64 + 1, total);
        }

        bulk::run(
            conn,
            &bulk::set_by_key(
                backend,
                "models",
                "model_id",
                "path_to_model_yaml",
                &new_paths,
            ),
        )
        .await?;
        for sql in bulk::set_by_key(
            backend,
            "models",
            "model_id",
            "path_to_model_yaml",
            &old_paths,
        ) {
            folder.record(RecipeOp::Sql { sql });
        }
        let files = rewrites.len();
        folder.rewrite_many(rewrites).await?;
        for op in inverse_edits {
            folder.record(op);
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
