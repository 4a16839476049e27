//! `verify`'s engine check: every local engine cortex.db lists must be
//! where cortex.cpp loads it from, `GetEnginesContainerPath() /
//! NormalizeEngine(name) / variant / version` (`EngineService::GetEngineDirPath`
//! and `NormalizeEngine`, `engine/services/engine_service.cc` at v1.0.12),
//! with its library and the `version.txt` that marks it installed
//! (`GetInstalledEngineVariants`). The container is `<data folder>/engines`,
//! or `$ENGINE_PATH/engines` when Cortex runs with `ENGINE_PATH` (Jan sets
//! it to the engines it ships; `GetEnginesContainerPath`,
//! `engine/utils/file_manager_utils.cc` at v1.0.12).

use std::path::Path;

use entity::engines;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, QuerySelect};

use super::{Check, db_err};
use crate::error::Result;

/// The engine library's file name: cortex.cpp loads `dylib(dir, "engine")`,
/// whose decorations (`engine/utils/dylib.h`, v1.0.4 to v1.0.12) give these.
const LIBRARY: &str = if cfg!(windows) {
    "engine.dll"
} else if cfg!(target_os = "macos") {
    "libengine.dylib"
} else {
    "libengine.so"
};

/// An engine name to the repository name its folder has (`NormalizeEngine`).
fn normalize(name: &str) -> &str {
    match name {
        "llama-cpp" => "cortex.llamacpp",
        "onnxruntime" => "cortex.onnx",
        "tensorrt-llm" => "cortex.tensorrt-llm",
        other => other,
    }
}

/// (engine_name, type, variant, version) of an `engines` row.
type EngineRow = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Checks the local `engines` rows against the engine container under
/// `root` (the data folder, or `ENGINE_PATH`).
pub(super) async fn check<C: ConnectionTrait>(conn: &C, root: &Path) -> Result<Check> {
    let rows: Vec<EngineRow> = engines::Entity::find()
        .select_only()
        .column(engines::Column::EngineName)
        .column(engines::Column::Type)
        .column(engines::Column::Variant)
        .column(engines::Column::Version)
        .order_by_asc(engines::Column::Id)
        .into_tuple()
        .all(conn)
        .await
        .map_err(db_err("reading the engines"))?;
    let container = root.join("engines");
    let mut check = Check {
        name: "engines",
        problems: Vec::new(),
        detail: String::new(),
    };
    let mut n = 0;
    for (name, kind, variant, version) in rows {
        if kind.as_deref() != Some("local") {
            continue;
        }
        let (Some(name), Some(variant), Some(version)) = (name, variant, version) else {
            continue;
        };
        n += 1;
        let dir = container
            .join(normalize(&name))
            .join(&variant)
            .join(&version);
        let what = format!("engine {name} {variant} {version}");
        if !dir.is_dir() {
            check.problems.push(format!(
                "{what}: {} does not exist; Cortex answers \"Engine is not ready\" (install it again, or give --engine-path if Cortex runs with ENGINE_PATH)",
                dir.display()
            ));
        } else if !dir.join(LIBRARY).is_file() {
            check
                .problems
                .push(format!("{what}: {} has no {LIBRARY}", dir.display()));
        } else if !dir.join("version.txt").is_file() {
            check.problems.push(format!(
                "{what}: {} has no version.txt, so Cortex does not count it as installed",
                dir.display()
            ));
        }
    }
    check.detail = format!(
        "{n} local engine(s) found where cortex.cpp loads them ({})",
        container.display()
    );
    Ok(check)
}
