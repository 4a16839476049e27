//! Engine folders and rows back to what cortex.cpp writes. The first
//! definition of `m20261126_000002_rename_legacy_engines` (never released)
//! moved `engines/cortex.llamacpp` to `engines/llama-cpp` (and `cortex.onnx`,
//! `cortex.tensorrt-llm` likewise) and renamed the local `engines` rows the
//! same way, but cortex.cpp loads an engine from the folder of its
//! *repository* name and writes that name into the row:
//! - cortex.cpp v1.0.8, `engine/services/engine_service.cc`,
//!   `EngineService::GetEngineDirPath`: `GetEnginesContainerPath() / ne /
//!   variant / version` with `ne = NormalizeEngine(engine_name)`, and
//!   `NormalizeEngine` maps `llama-cpp` to `kLlamaRepo`, `onnxruntime` to
//!   `kOnnxRepo`, `tensorrt-llm` to `kTrtLlmRepo`;
//! - `engine/utils/engine_constants.h` (b7cf124c to cc2e093a~1):
//!   `kLlamaRepo = "cortex.llamacpp"`, `kOnnxRepo = "cortex.onnx"`,
//!   `kTrtLlmRepo = "cortex.tensorrt-llm"`;
//! - `EngineService::DownloadEngine(ne, ...)` (engine_service.cc, v1.0.9)
//!   writes `UpsertEngine(engine /*engine_name*/, kLocal, ...)` with the
//!   normalized name, so a local row reads `cortex.llamacpp`.
//!
//! On a data folder where that first definition ran (its checksum is in
//! `cortex_migrate_steps`), this step moves back exactly the folders its
//! stored recipe says it moved, merging into a folder Cortex has since
//! re-created (a re-downloaded engine wins; a clashing leftover stays where
//! it is and is noted), sets local engine rows back to the repository name
//! (a row cortex.cpp has since written for the same variant wins; the other
//! is left and noted), and writes the corrected definition's checksum into
//! that step's row, so `verify` is clean and the supersession is on record
//! (this step's own row and recipe). Its `down` puts both back. On any other
//! folder it does nothing.

use std::path::Path;

use sea_orm_migration::prelude::*;

use crate::m20261126_000002_rename_legacy_engines::RENAMES;
use crate::toolkit::STEPS_TABLE;
use crate::toolkit::checksum;
use crate::toolkit::{Change, MigrateError, Step, StepContext, StepKind};
use crate::toolkit::{UndoOp, stored_undo};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The step whose first definition moved the engine folders.
const RENAME_STEP: &str = "m20261126_000002_rename_legacy_engines";

/// The checksum `m20261126_000002_rename_legacy_engines` had in its first
/// definition ("rename-legacy-engines/1", which moved folders), in the
/// first checksum scheme (see `superseded.rs`). A test computes it from a
/// verbatim copy of that definition.
pub const FIRST_DEFINITION_CHECKSUM: &str =
    "89851a486a00fdfb8432b8624237a7491b6504a79ac9ba16461151daa31b2a64";

#[async_trait::async_trait]
impl Step for Migration {
    fn summary(&self) -> &'static str {
        "engine folders back under their repository names (cortex.llamacpp, ...) where an earlier definition moved them"
    }

    fn kind(&self) -> StepKind {
        StepKind::Folder
    }

    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        let conn = cx.manager().get_connection();
        let stored = stored_checksum(conn, RENAME_STEP).await?;
        if stored.as_deref() != Some(FIRST_DEFINITION_CHECKSUM) {
            return Ok(());
        }
        let folder = cx.folder()?;
        let root = folder.dir().root().to_path_buf();
        let moved_by_first: Vec<(String, String)> = stored_undo(conn, RENAME_STEP)
            .await?
            .map(|r| r.ops)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|op| match op {
                // The recipe moves back: `from` is where the folder went.
                UndoOp::Move { from, to } => Some((from, to)),
                _ => None,
            })
            .collect();

        let mut merge = Merge::default();
        for (from, to) in &moved_by_first {
            let afrom = root.join(from);
            if std::fs::symlink_metadata(&afrom).is_err() {
                cx.note(format!("{from} is gone; nothing to move back to {to}"));
                continue;
            }
            folder.dir().require_inside(&afrom)?;
            plan(&root, from, to, &mut merge);
        }
        for (from, to) in &merge.moves {
            folder.move_path(from, to).await?;
        }
        // Only the outermost emptied folder: its emptied children go with it.
        let mut removed: Vec<&String> = Vec::new();
        for dir in merge.emptied.iter().rev() {
            if removed.iter().any(|r| dir.starts_with(&format!("{r}/"))) {
                continue;
            }
            folder.delete(dir).await?;
            removed.push(dir);
        }
        for c in &merge.clashes {
            cx.note(format!(
                "{c} was left where it is: Cortex has a folder or file of that name under the \
                 repository name already; remove whichever copy you do not need"
            ));
        }
        if !merge.moves.is_empty() {
            cx.note(format!(
                "moved {} engine folder(s) back under their repository names",
                merge.moves.len()
            ));
        }

        engine_rows_back(cx).await?;

        let current = checksum(&crate::m20261126_000002_rename_legacy_engines::Migration);
        let change = Change {
            key: RENAME_STEP.to_owned(),
            old: Some(FIRST_DEFINITION_CHECKSUM.into()),
            new: Some(current.clone().into()),
        };
        cx.set_values(STEPS_TABLE, "version", "checksum", &[change])
            .await?;
        cx.note(format!(
            "{RENAME_STEP} was applied by its first definition (checksum {}), which moved \
             engine folders; its record now carries the corrected definition's checksum {}",
            &FIRST_DEFINITION_CHECKSUM[..12],
            current.get(..12).unwrap_or(&current)
        ));
        Ok(())
    }

    async fn down(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        cx.undo().await
    }
}

/// What walking a moved folder against the folder it goes back to found.
#[derive(Default)]
struct Merge {
    /// (from, to), relative to the data folder.
    moves: Vec<(String, String)>,
    /// Entries that exist on both sides and are not both folders.
    clashes: Vec<String>,
    /// Folders emptied by the moves, to be removed afterwards.
    emptied: Vec<String>,
}

/// Plans moving `from` to `to` (relative paths): a rename where `to` is
/// free, a merge of the children where both are folders. Returns whether
/// everything under `from` moves.
fn plan(root: &Path, from: &str, to: &str, out: &mut Merge) -> bool {
    let (afrom, ato) = (root.join(from), root.join(to));
    let Ok(to_meta) = std::fs::symlink_metadata(&ato) else {
        out.moves.push((from.to_owned(), to.to_owned()));
        return true;
    };
    let from_is_dir = std::fs::symlink_metadata(&afrom).is_ok_and(|m| m.is_dir());
    if !(from_is_dir && to_meta.is_dir()) {
        out.clashes.push(from.to_owned());
        return false;
    }
    let Ok(entries) = std::fs::read_dir(&afrom) else {
        out.clashes.push(from.to_owned());
        return false;
    };
    let mut names: Vec<String> = Vec::new();
    // An entry that cannot be read or named in UTF-8 stays where it is, so
    // its folder is not emptied (and never removed with it inside).
    let mut all = true;
    for e in entries {
        match e.map(|e| e.file_name().into_string()) {
            Ok(Ok(n)) => names.push(n),
            Ok(Err(n)) => {
                out.clashes.push(format!("{from}/{}", n.to_string_lossy()));
                all = false;
            }
            Err(_) => {
                out.clashes.push(from.to_owned());
                all = false;
            }
        }
    }
    names.sort();
    all &= !names.is_empty();
    for n in names {
        all &= plan(root, &format!("{from}/{n}"), &format!("{to}/{n}"), out);
    }
    if all {
        out.emptied.push(from.to_owned());
    }
    all
}

/// Sets local `engines` rows named by engine name back to the repository
/// name cortex.cpp writes, and records the inverse.
async fn engine_rows_back(cx: &StepContext<'_>) -> Result<(), MigrateError> {
    let conn = cx.manager().get_connection();
    let q = Query::select()
        .columns([Engines::Id, Engines::EngineName, Engines::Variant])
        .from(Engines::Table)
        .and_where(
            Expr::col(Engines::Type)
                .ne("remote")
                .or(Expr::col(Engines::Type).is_null()),
        )
        .to_owned();
    let rows = conn.query_all(&q).await?;
    let mut all: Vec<(i64, String, Option<String>)> = Vec::with_capacity(rows.len());
    for r in rows {
        let id = r
            .try_get::<i64>("", "id")
            .or_else(|_| r.try_get::<i32>("", "id").map(i64::from))?;
        let name: Option<String> = r.try_get("", "engine_name")?;
        let variant: Option<String> = r.try_get("", "variant")?;
        if let Some(name) = name {
            all.push((id, name, variant));
        }
    }
    let mut changes = Vec::new();
    for (id, name, variant) in &all {
        let Some((repo, _)) = RENAMES.iter().find(|(_, engine)| engine == name) else {
            continue;
        };
        if all.iter().any(|(_, n, v)| n == repo && v == variant) {
            cx.note(format!(
                "engines row {id} ({name}, variant {}) was left as it is: cortex.cpp has \
                 written a {repo} row for that variant since; remove whichever you do not need",
                variant.as_deref().unwrap_or("none")
            ));
            continue;
        }
        changes.push(Change {
            key: id.to_string(),
            old: Some(name.clone().into()),
            new: Some((*repo).into()),
        });
    }
    if !changes.is_empty() {
        cx.set_values("engines", "id", "engine_name", &changes)
            .await?;
        cx.note(format!(
            "{} local engine row(s) named by repository again",
            changes.len()
        ));
    }
    Ok(())
}

#[derive(DeriveIden)]
enum Engines {
    Table,
    Id,
    EngineName,
    Type,
    Variant,
}

#[derive(DeriveIden)]
enum CortexMigrateSteps {
    Table,
    Version,
    Checksum,
}

/// The checksum stored for `step`, if it was applied by cortex-migrate.
pub(crate) async fn stored_checksum<C: sea_orm_migration::sea_orm::ConnectionTrait>(
    conn: &C,
    step: &str,
) -> Result<Option<String>, DbErr> {
    let q = Query::select()
        .column(CortexMigrateSteps::Checksum)
        .from(CortexMigrateSteps::Table)
        .and_where(Expr::col(CortexMigrateSteps::Version).eq(step))
        .to_owned();
    match conn.query_one(&q).await? {
        Some(row) => row.try_get("", "checksum").map(Some),
        None => Ok(None),
    }
}
