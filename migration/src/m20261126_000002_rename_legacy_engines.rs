//! Engine renames. In October 2024 cortex.cpp renamed its engines
//! (`cortex.llamacpp` to `llama-cpp`, `cortex.onnx` to `onnxruntime`,
//! `cortex.tensorrt-llm` to `tensorrt-llm`) without migrating anything. This
//! step renames, in one atomic step, the engine folders under `engines/`,
//! `engines.engine_name`, `models.engine` and the `engine:` field of each
//! `model.yml`; its `down` reverses exactly what it did.

use sea_orm_migration::prelude::*;

use crate::cortex::{self, YmlRead, YmlText, bulk};
use crate::toolkit::recipe::{self, RecipeOp};
use crate::toolkit::{Folder, MigrateError, Step, StepKind};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// (legacy name, current name)
pub const RENAMES: [(&str, &str); 3] = [
    ("cortex.llamacpp", "llama-cpp"),
    ("cortex.onnx", "onnxruntime"),
    ("cortex.tensorrt-llm", "tensorrt-llm"),
];

fn renamed(name: &str) -> Option<&'static str> {
    RENAMES
        .iter()
        .find(|(old, _)| *old == name)
        .map(|(_, new)| *new)
}

impl Step for Migration {
    fn summary(&self) -> &'static str {
        "rename legacy engines (cortex.llamacpp, cortex.onnx, cortex.tensorrt-llm): folders, rows, model.yml"
    }

    fn kind(&self) -> StepKind {
        StepKind::Folder
    }

    fn definition(&self) -> String {
        format!(
            "rename-legacy-engines/1: {RENAMES:?} in engines/, engines.engine_name, models.engine, model.yml engine:"
        )
    }
}

#[derive(DeriveIden)]
enum Engines {
    Table,
    Id,
    EngineName,
    Variant,
}

#[derive(DeriveIden)]
enum Models {
    Table,
    ModelId,
    Engine,
}

/// Runs a one-column query and returns the values as text.
async fn keys<C: sea_orm_migration::sea_orm::ConnectionTrait>(
    conn: &C,
    query: SelectStatement,
    column: &str,
) -> Result<Vec<String>, DbErr> {
    let rows = conn.query_all(&query).await?;
    rows.iter()
        .map(|r| {
            r.try_get::<i64>("", column)
                .map(|v| v.to_string())
                // PostgreSQL's INTEGER is 32-bit and decodes only as such.
                .or_else(|_| r.try_get::<i32>("", column).map(|v| v.to_string()))
                .or_else(|_| r.try_get::<String>("", column))
        })
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let folder = Folder::current()?;
        let dir = folder.dir().clone();
        let conn = manager.get_connection();
        let backend = manager.get_database_backend();

        for (old, new) in RENAMES {
            // engines: one row per (name, variant); a legacy and a current
            // row for the same variant cannot both be kept.
            let (a, b) = (Alias::new("a"), Alias::new("b"));
            let clash = keys(
                conn,
                Query::select()
                    .expr_as(
                        Expr::col((a.clone(), Engines::Variant)),
                        Alias::new("variant"),
                    )
                    .from_as(Engines::Table, a.clone())
                    .join_as(
                        JoinType::InnerJoin,
                        Engines::Table,
                        b.clone(),
                        Expr::col((a.clone(), Engines::Variant))
                            .equals((b.clone(), Engines::Variant)),
                    )
                    .and_where(Expr::col((a, Engines::EngineName)).eq(old))
                    .and_where(Expr::col((b, Engines::EngineName)).eq(new))
                    .to_owned(),
                "variant",
            )
            .await?;
            if !clash.is_empty() {
                return Err(folder.fail(MigrateError::Refused(format!(
                    "the engines table has both {old} and {new} for variant(s) {}; \
                     remove the one Cortex no longer uses and run again",
                    clash.join(", ")
                ))));
            }
            let ids = keys(
                conn,
                Query::select()
                    .column(Engines::Id)
                    .from(Engines::Table)
                    .and_where(Expr::col(Engines::EngineName).eq(old))
                    .to_owned(),
                "id",
            )
            .await?;
            let to_new: Vec<(String, Option<Value>)> =
                ids.iter().map(|i| (i.clone(), Some(new.into()))).collect();
            let to_old: Vec<(String, Option<Value>)> =
                ids.iter().map(|i| (i.clone(), Some(old.into()))).collect();
            bulk::run(
                conn,
                &bulk::set_by_key(backend, "engines", "id", "engine_name", &to_new),
            )
            .await?;
            for sql in bulk::set_by_key(backend, "engines", "id", "engine_name", &to_old) {
                folder.record(RecipeOp::Sql { sql });
            }

            let models = keys(
                conn,
                Query::select()
                    .column(Models::ModelId)
                    .from(Models::Table)
                    .and_where(Expr::col(Models::Engine).eq(old))
                    .to_owned(),
                "model_id",
            )
            .await?;
            let to_new: Vec<(String, Option<Value>)> = models
                .iter()
                .map(|m| (m.clone(), Some(new.into())))
                .collect();
            let to_old: Vec<(String, Option<Value>)> = models
                .iter()
                .map(|m| (m.clone(), Some(old.into())))
                .collect();
            bulk::run(
                conn,
                &bulk::set_by_key(backend, "models", "model_id", "engine", &to_new),
            )
            .await?;
            for sql in bulk::set_by_key(backend, "models", "model_id", "engine", &to_old) {
                folder.record(RecipeOp::Sql { sql });
            }

            let (from, to) = (format!("engines/{old}"), format!("engines/{new}"));
            let (afrom, ato) = (dir.root().join(&from), dir.root().join(&to));
            if afrom.exists() {
                if ato.exists() {
                    return Err(folder.fail(MigrateError::Refused(format!(
                        "both {} and {} exist; remove the one Cortex no longer uses and run again",
                        afrom.display(),
                        ato.display()
                    ))));
                }
                if let Err(e) = dir.require_inside(&afrom) {
                    return Err(folder.fail(e));
                }
                folder.move_path(&from, &to).await?;
                folder.record(RecipeOp::Move { from: to, to: from });
            }
        }

        // model.yml: the `engine:` field, whatever the row says (cortex.cpp
        // accepted both names, so the two may disagree). A file without a
        // legacy name in it is not even parsed.
        let mut rewrites = Vec::new();
        let mut inverse = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for row in cortex::model_rows(conn).await? {
            let read = match cortex::read_model_text(&dir, &row) {
                None => continue,
                Some(YmlText::Ok { text, .. })
                    if !RENAMES.iter().any(|(old, _)| text.contains(old)) =>
                {
                    continue;
                }
                Some(read) => read,
            };
            let (rel, yml, read_only) = match cortex::parse_model_text(&row, read) {
                YmlRead::Skip(why) => {
                    folder.note(why);
                    continue;
                }
                YmlRead::Ok {
                    rel,
                    yml,
                    read_only,
                } => (rel, yml, read_only),
            };
            let Some(new) = yml.engine().and_then(renamed) else {
                continue;
            };
            if !seen.insert(rel.clone()) {
                continue;
            }
            if read_only {
                folder.note(format!(
                    "model {}: {rel} is read-only; its engine: was left as {}",
                    row.id,
                    yml.engine().unwrap_or_default()
                ));
                continue;
            }
            match yml.edit_engine(new) {
                Ok(Some(edit)) => {
                    let text = yml
                        .apply(std::slice::from_ref(&edit))
                        .map_err(|e| folder.fail(MigrateError::Refused(e)))?;
                    rewrites.push((rel.clone(), text.into_bytes()));
                    inverse.push(RecipeOp::EditLines {
                        path: rel,
                        edits: vec![edit.inverse()],
                    });
                }
                Ok(None) => {}
                Err(why) => folder.note(format!("model {}: {rel}: {why}", row.id)),
            }
            if rewrites.len() >= cortex::REWRITE_BATCH {
                folder.rewrite_many(std::mem::take(&mut rewrites)).await?;
                std::mem::take(&mut inverse)
                    .into_iter()
                    .for_each(|op| folder.record(op));
            }
        }
        folder.rewrite_many(rewrites).await?;
        inverse.into_iter().for_each(|op| folder.record(op));
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recipe::replay_recorded(manager, self.name()).await
    }
}
