//! `models.weights_bytes`: the total size of a model's weight files, so that
//! Cortex's model list can show sizes without opening every `model.yml` and
//! statting every file. Filled from the files on disk; a model whose
//! `model.yml` is missing or malformed, or whose weights are missing, is
//! reported and left NULL, never a reason to fail.

use sea_orm_migration::prelude::*;

use crate::cortex::model_yml::ModelYml;
use crate::cortex::{self, YmlRead, YmlText};
use crate::toolkit::{DataDir, Located, OpenFor};
use crate::toolkit::{MigrateError, SchemaOp, Step, StepContext, StepKind};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Models {
    WeightsBytes,
}

#[async_trait::async_trait]
impl Step for Migration {
    fn summary(&self) -> &'static str {
        "add models.weights_bytes and fill it from the weight files on disk"
    }

    fn kind(&self) -> StepKind {
        StepKind::Folder
    }

    fn up_ops(&self, _backend: sea_orm_migration::sea_orm::DbBackend) -> Vec<SchemaOp> {
        vec![SchemaOp::AddColumn {
            table: "models",
            column: ColumnDef::new(Models::WeightsBytes)
                .big_integer()
                .to_owned(),
        }]
    }

    fn down_ops(&self, _backend: sea_orm_migration::sea_orm::DbBackend) -> Vec<SchemaOp> {
        vec![SchemaOp::DropDerivedColumn {
            table: "models",
            column: "weights_bytes",
        }]
    }

    /// Adds the column, then fills it from the files on disk.
    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        cx.run(&self.up_ops(cx.backend())).await?;
        let dir = cx.folder()?.dir().clone();
        let conn = cx.manager().get_connection();
        let total = cortex::model_count(conn).await?;
        let (mut n, mut filled, mut skipped) = (0u64, 0usize, 0usize);
        let mut pages = cortex::ModelPages::default();
        // A page at a time: its sizes are written once it is done, so
        // memory holds one page whatever the number of models.
        while let Some(rows) = pages.next(conn).await? {
            // The page's files are read and their weights summed on the
            // machine's cores; notes and sizes are taken in row order.
            let mut sizes = Vec::new();
            for looks in cortex::look_at(&rows, |row| weights_of(&dir, row)) {
                for (row, found) in looks? {
                    n += 1;
                    cx.rows_done(n, total);
                    match found {
                        None => {}
                        Some(Ok(bytes)) => {
                            sizes.push((row.id.clone(), Some(Value::BigInt(Some(bytes as i64)))))
                        }
                        Some(Err(why)) => {
                            skipped += 1;
                            cx.note(why);
                        }
                    }
                }
            }
            filled += sizes.len();
            cx.fill_derived("models", "model_id", "weights_bytes", &sizes)
                .await?;
        }
        cx.note(format!(
            "weights_bytes filled for {filled} of {total} model(s); {skipped} skipped"
        ));
        Ok(())
    }

    /// Drops the column (its values are computed again by the next `up`).
    async fn down(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        cx.run(&self.down_ops(cx.backend())).await
    }
}

/// What a row's `model.yml` lists, summed: the bytes of its weight files,
/// or the note that says why not; `None` for a row with no `model.yml`
/// (catalogue entries never downloaded).
fn weights_of(dir: &DataDir, row: &cortex::ModelRow) -> Option<Result<u64, String>> {
    let read = cortex::read_model_text(dir, row)?;
    // The plain `files:` list cortex.cpp writes is read from its lines;
    // anything else goes through the YAML parser.
    let quick = match &read {
        YmlText::Ok { text, .. } => ModelYml::quick_files(text),
        YmlText::Skip(_) => None,
    };
    let listed = match (quick, read) {
        (Some(files), YmlText::Ok { rel, .. }) => Ok((rel, Ok(files))),
        (_, read) => match cortex::parse_model_text(row, read) {
            YmlRead::Skip(why) => Err(why),
            YmlRead::Ok { rel, yml, .. } => Ok((rel, yml.files())),
        },
    };
    Some(listed.and_then(|(rel, files)| {
        files
            .and_then(|f| weights_bytes(dir, &f))
            .map_err(|why| format!("model {}: {rel}: {why}; weights_bytes left empty", row.id))
    }))
}

/// Sums the sizes of a model's weight files; `Err` says what is missing.
fn weights_bytes(dir: &DataDir, files: &[String]) -> Result<u64, String> {
    let mut total = 0;
    for f in files {
        // Imported models keep weights outside the data folder: reading
        // their size changes nothing, so an absolute path is followed.
        let meta = if std::path::Path::new(f).is_absolute() {
            std::fs::metadata(f).map_err(|e| format!("weights {f} ({e})"))?
        } else {
            // Opened below the folder in one call where the platform can,
            // its metadata read through the handle; else located part by
            // part and read by path.
            match dir.open_healing(f, OpenFor::Metadata) {
                (Located::Inside { abs, .. }, _, opened) => opened
                    .map_or_else(|| std::fs::metadata(&abs), |file| file.metadata())
                    .map_err(|e| format!("weights {} ({e})", abs.display()))?,
                (Located::Outside { reason, .. }, _, _) => {
                    return Err(format!("weights `{f}`: {reason}"));
                }
            }
        };
        total += meta.len();
    }
    Ok(total)
}
