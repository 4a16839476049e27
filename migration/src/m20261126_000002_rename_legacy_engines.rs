//! Engine renames. In October 2024 cortex.cpp renamed its engines
//! (`cortex.llamacpp` to `llama-cpp`, `cortex.onnx` to `onnxruntime`,
//! `cortex.tensorrt-llm` to `tensorrt-llm`) without migrating anything. This
//! step renames, in one atomic step, `models.engine` and the `engine:` field
//! of each `model.yml`; its `down` reverses exactly what it did. A model
//! that names its engine by the old name cannot start on cortex.cpp v1.0.1
//! and v1.0.2 (`POST /v1/models/start` checks the raw name against
//! `kSupportEngines`, `engine/controllers/models.cc` and
//! `engine/services/engine_service.h` at v1.0.1), nor from cortex.cpp
//! cc2e093a on, where `cortex.llamacpp` is no longer mapped and counts as a
//! remote engine; cortex.cpp writes the new name itself
//! (`config/gguf_parser.cc`, `model_config_.engine = kLlamaEngine`, and
//! `services/model_source_service.cc` `.engine = "llama-cpp"`, both at
//! v1.0.9).
//!
//! Two things keep the repository names, because cortex.cpp writes and
//! reads them so:
//! - `engines.engine_name` of a local engine: `EngineService::DownloadEngine`
//!   is called with the normalized name and writes
//!   `UpsertEngine(engine /*engine_name*/, kLocal, ...)`, i.e.
//!   `cortex.llamacpp` (`engine/services/engine_service.cc` at v1.0.9);
//! - the engine *folders*, where every cortex.cpp from the rename to the
//!   llama.cpp server loads them:
//!   - cortex.cpp b7cf124c (#1406, the rename), `engine/utils/engine_constants.h`:
//!     `kLlamaEngine = "llama-cpp"` beside `kLlamaRepo = "cortex.llamacpp"`
//!     (and `kOnnxRepo = "cortex.onnx"`, `kTrtLlmRepo = "cortex.tensorrt-llm"`).
//!   - cortex.cpp v1.0.8, `engine/services/engine_service.cc`: `NormalizeEngine`
//!     maps each engine name to its repository name, and `GetEngineDirPath`
//!     loads `GetEnginesContainerPath() / NormalizeEngine(name) / variant /
//!     version`, i.e. `engines/cortex.llamacpp/<variant>/<version>/`.
//!   - cortex.cpp cc2e093a (March 2025, llama.cpp server): `kLlamaRepo` becomes
//!     `llama.cpp`; no release ever reads `engines/llama-cpp/`.
//!
//! The first definition of this step (never released) also moved the
//! folders and renamed the engine rows;
//! `m20261203_000001_engine_folders_by_repository` puts both back and
//! supersedes that definition's checksum explicitly.

use sea_orm_migration::prelude::*;

use crate::cortex::{self, YmlRead, YmlText};
use crate::toolkit::{Change, MigrateError, Step, StepContext, StepKind};

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

#[async_trait::async_trait]
impl Step for Migration {
    fn summary(&self) -> &'static str {
        "rename legacy engine names (cortex.llamacpp, cortex.onnx, cortex.tensorrt-llm) in models and model.yml; engine rows and folders keep repository names"
    }

    fn kind(&self) -> StepKind {
        StepKind::Folder
    }

    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        let folder = cx.folder()?;
        let dir = folder.dir().clone();
        let conn = cx.manager().get_connection();

        for (old, new) in RENAMES {
            rename_in(cx, ("models", "model_id", "engine"), old, new).await?;
        }

        // model.yml: the `engine:` field, whatever the row says (cortex.cpp
        // accepted both names, so the two may disagree). A file without a
        // legacy name in it is not even parsed.
        let mut rewrites = cortex::Rewrites::default();
        let mut pages = cortex::ModelPages::default();
        while let Some(rows) = pages.next(conn).await? {
            // Each row is read when it is taken: files written before this
            // page read as changed (see `Rewrites::reading`).
            rewrites.reading();
            for row in rows {
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
                if !rewrites.first_look(&rel) {
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
                        let text = yml.apply(std::slice::from_ref(&edit)).map_err(|reason| {
                            MigrateError::Yaml {
                                path: dir.root().join(&rel),
                                reason,
                            }
                        })?;
                        rewrites
                            .push(&folder, rel, text, std::slice::from_ref(&edit))
                            .await?;
                    }
                    Ok(None) => {}
                    Err(why) => cx.note(format!("model {}: {rel}: {why}", row.id)),
                }
            }
        }
        rewrites.finish(&folder).await?;
        Ok(())
    }

    async fn down(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        cx.undo().await
    }
}

/// Keys [`rename_in`] reads and changes at a time.
const KEYS_PAGE: u64 = 2000;

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
/// `key` (the context records the statements that set `old` back), a page
/// of keys at a time. A changed row no longer reads `old`, so each page is
/// the first rows still to change, and a page that comes back with no row
/// changed since the last is refused rather than read forever.
async fn rename_in(
    cx: &StepContext<'_>,
    (table, key, column): (&str, &str, &str),
    old: &str,
    new: &str,
) -> Result<(), MigrateError> {
    let mut last_first: Option<String> = None;
    loop {
        let ids = keys(
            cx.manager().get_connection(),
            Query::select()
                .column(Alias::new(key))
                .from(Alias::new(table))
                .and_where(Expr::col(Alias::new(column)).eq(old))
                .order_by(Alias::new(key), Order::Asc)
                .limit(KEYS_PAGE)
                .to_owned(),
            key,
        )
        .await?;
        let Some(first) = ids.first().cloned() else {
            return Ok(());
        };
        if last_first.as_deref() == Some(first.as_str()) {
            return Err(MigrateError::Refused(format!(
                "{table}.{column} of the row {key} = {first} still reads {old} after it was set to {new}"
            )));
        }
        let changes: Vec<Change> = ids
            .into_iter()
            .map(|key| Change {
                key,
                old: Some(old.into()),
                new: Some(new.into()),
            })
            .collect();
        cx.set_values(table, key, column, &changes).await?;
        last_first = Some(first);
    }
}
