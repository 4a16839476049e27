//! The first definition of `m20261126_000002_rename_legacy_engines`, as the
//! project's main branch had it before the engine-folder fix: it moved
//! `engines/cortex.llamacpp` to `engines/llama-cpp` (and the other two),
//! which no cortex.cpp release reads. Kept here, verbatim but for its name,
//! to build data folders "migrated by the old main" for the repair step's
//! tests, and to prove the checksum that step recognises.

#![allow(dead_code)]

#[path = "first_cortex_v3.rs"]
pub mod first_cortex_v3;

use migration::Migrator;
use migration::cortex::{self, YmlRead, YmlText, bulk};
use migration::toolkit::recipe::{self, RecipeOp};
use migration::toolkit::{Folder, MigrateError, Step, StepKind, StepList};
use sea_orm_migration::prelude::*;

/// Migrates the SQLite database at `url` (and its folder) through every
/// step of main before the fix.
pub async fn migrate_before_fix(url: &str) {
    let db = sea_orm::Database::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
    migration::toolkit::Runner::new(&db, steps_before_fix(), Default::default())
        .await
        .expect("opening the runner")
        .up(migration::toolkit::Target::All)
        .await
        .expect("migrating as main did before the fix");
}

/// The steps of main before the fix: v0..v3 (v3 in its first definition,
/// which main had then too), relative paths, this first engine rename, the
/// weights backfill.
pub fn steps_before_fix() -> Vec<Box<dyn Step>> {
    let steps: Vec<Box<dyn Step>> = Migrator::steps().into_iter().take(7).collect();
    let mut steps = first_cortex_v3::with_first_cortex_v3(steps);
    assert_eq!(steps[5].name(), "m20261126_000002_rename_legacy_engines");
    steps[5] = Box::new(FirstRename);
    steps
}

pub struct FirstRename;

impl MigrationName for FirstRename {
    fn name(&self) -> &str {
        "m20261126_000002_rename_legacy_engines"
    }
}

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

impl Step for FirstRename {
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
    EngineName,
    Variant,
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

/// Sets `column` of the rows of `table` that read `old` to `new`, keyed by
/// `key`, and records the statements that set `old` back.
async fn rename_in<C: sea_orm_migration::sea_orm::ConnectionTrait>(
    conn: &C,
    folder: &Folder,
    (table, key, column): (&str, &str, &str),
    old: &str,
    new: &str,
) -> Result<(), DbErr> {
    let ids = keys(
        conn,
        Query::select()
            .column(Alias::new(key))
            .from(Alias::new(table))
            .and_where(Expr::col(Alias::new(column)).eq(old))
            .to_owned(),
        key,
    )
    .await?;
    let to = |v: &str| -> Vec<(String, Option<Value>)> {
        ids.iter().map(|i| (i.clone(), Some(v.into()))).collect()
    };
    bulk::set_recorded(conn, folder, table, key, column, &to(new), &to(old)).await
}

#[async_trait::async_trait]
impl MigrationTrait for FirstRename {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let folder = Folder::current()?;
        let dir = folder.dir().clone();
        let conn = manager.get_connection();

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
            rename_in(conn, &folder, ("engines", "id", "engine_name"), old, new).await?;
            rename_in(conn, &folder, ("models", "model_id", "engine"), old, new).await?;

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
        let mut rewrites = cortex::Rewrites::default();
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
                    rewrites
                        .push(&folder, rel, text, std::slice::from_ref(&edit))
                        .await?;
                }
                Ok(None) => {}
                Err(why) => folder.note(format!("model {}: {rel}: {why}", row.id)),
            }
        }
        rewrites.finish(&folder).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        recipe::replay_recorded(manager, self.name()).await
    }
}
