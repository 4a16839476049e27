//! The first definition of `m20261126_000002_rename_legacy_engines`, as the
//! project's main branch had it before the engine-folder fix: it moved
//! `engines/cortex.llamacpp` to `engines/llama-cpp` (and the other two),
//! which no cortex.cpp release reads. Kept here, verbatim but for its name,
//! to build data folders "migrated by the old main" for the repair step's
//! tests, and to prove the checksum that step recognises. It is written in
//! today's step shape; what it does is the first definition's, line for
//! line.

#![allow(dead_code)]

#[path = "first_scheme.rs"]
pub mod first_scheme;

#[path = "first_cortex_v3.rs"]
pub mod first_cortex_v3;

use migration::Migrator;
use migration::cortex::{self, YmlRead, YmlText};
use migration::toolkit::{Change, MigrateError, Step, StepContext, StepKind, StepList, StepSource};
use sea_orm_migration::prelude::*;

/// The definition text the first scheme hashed for this step.
pub fn first_definition() -> String {
    format!(
        "rename-legacy-engines/1: {RENAMES:?} in engines/, engines.engine_name, models.engine, model.yml engine:"
    )
}

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
    write_first_scheme_checksums(&db).await;
}

/// Writes into the history the checksums main stored before the fix (the
/// first checksum scheme), so the data folder reads as it left it.
pub async fn write_first_scheme_checksums(db: &sea_orm::DatabaseConnection) {
    use sea_orm::ConnectionTrait;
    let backend = db.get_database_backend();
    for (i, step) in steps_before_fix().iter().enumerate() {
        // Index 5 is this first definition (see `steps_before_fix`).
        let sum = if i == 5 {
            first_scheme::checksum_with(step.as_ref(), backend, &first_definition())
        } else {
            first_scheme::checksum(step.as_ref(), backend)
        };
        let q = Query::update()
            .table(Alias::new("cortex_migrate_steps"))
            .value(Alias::new("checksum"), sum)
            .and_where(Expr::col(Alias::new("version")).eq(step.name()))
            .to_owned();
        db.execute(&q)
            .await
            .expect("writing a first-scheme checksum");
    }
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

impl StepSource for FirstRename {
    fn source(&self) -> &'static str {
        include_str!("first_engine_rename.rs")
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
async fn rename_in(
    cx: &StepContext<'_>,
    (table, key, column): (&str, &str, &str),
    old: &str,
    new: &str,
) -> Result<(), MigrateError> {
    let ids = keys(
        cx.manager().get_connection(),
        Query::select()
            .column(Alias::new(key))
            .from(Alias::new(table))
            .and_where(Expr::col(Alias::new(column)).eq(old))
            .to_owned(),
        key,
    )
    .await?;
    let changes: Vec<Change> = ids
        .into_iter()
        .map(|key| Change {
            key,
            old: Some(old.into()),
            new: Some(new.into()),
        })
        .collect();
    cx.set_values(table, key, column, &changes).await
}

#[async_trait::async_trait]
impl Step for FirstRename {
    fn summary(&self) -> &'static str {
        "rename legacy engines (cortex.llamacpp, cortex.onnx, cortex.tensorrt-llm): folders, rows, model.yml"
    }

    fn kind(&self) -> StepKind {
        StepKind::Folder
    }

    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        let folder = cx.folder()?;
        let dir = folder.dir().clone();
        let conn = cx.manager().get_connection();

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
                return Err(MigrateError::Refused(format!(
                    "the engines table has both {old} and {new} for variant(s) {}; \
                     remove the one Cortex no longer uses and run again",
                    clash.join(", ")
                )));
            }
            rename_in(cx, ("engines", "id", "engine_name"), old, new).await?;
            rename_in(cx, ("models", "model_id", "engine"), old, new).await?;

            let (from, to) = (format!("engines/{old}"), format!("engines/{new}"));
            let (afrom, ato) = (dir.root().join(&from), dir.root().join(&to));
            if afrom.exists() {
                if ato.exists() {
                    return Err(MigrateError::Refused(format!(
                        "both {} and {} exist; remove the one Cortex no longer uses and run again",
                        afrom.display(),
                        ato.display()
                    )));
                }
                dir.require_inside(&afrom)?;
                folder.move_path(&from, &to).await?;
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
                    cx.note(why);
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
                cx.note(format!(
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
                        .map_err(MigrateError::Refused)?;
                    rewrites
                        .push(&folder, rel, text, std::slice::from_ref(&edit))
                        .await?;
                }
                Ok(None) => {}
                Err(why) => cx.note(format!("model {}: {rel}: {why}", row.id)),
            }
        }
        rewrites.finish(&folder).await?;
        Ok(())
    }

    async fn down(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        cx.undo().await
    }
}
