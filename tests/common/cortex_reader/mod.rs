//! A reader of Cortex's data by cortex.cpp's own rules: given a data folder,
//! its `.cortexrc` and a cortex.cpp release, it finds each model's yml and
//! weight files, the engine library of each local `engines` row and of the
//! `.cortexrc` default, and checks `schema_version`, the way that release's
//! source does (each rule cites the cortex.cpp file and tag or commit it is
//! read from). It reports what that release would not find.
//!
//! `ENGINE_PATH` (an environment variable that replaces the data folder as
//! the parent of `engines/`, `GetEnginesContainerPath` in
//! `engine/utils/file_manager_utils.cc` at v1.0.5) is taken to be unset.
//!
//! This file holds the releases and the rules for paths, engine folders,
//! `.cortexrc` and model files; `reading` applies them to a data folder.

mod before_db;
mod reading;

use std::fmt;
use std::path::{Path, PathBuf};

pub use before_db::models_before_db;
pub use reading::{Kind, ModelSeen, Problem, Reading, Subject, read, read_with_engine_path};

/// The engine library's file name on Linux, where the fixtures are built.
/// cortex.cpp loads it with `cortex_cpp::dylib(dir, "engine")`, whose
/// decorations (`engine/utils/dylib.h`, v1.0.4 to v1.0.12) make it
/// `engine.dll` on Windows, `libengine.dylib` on macOS and `libengine.so`
/// elsewhere.
pub const ENGINE_LIBRARY: &str = "libengine.so";

/// The file that marks an engine variant as installed: `GetInstalledEngineVariants`
/// walks `engines/<repo>/<variant>/<version>/version.txt` and reads its
/// `name` and `version` (`engine/services/engine_service.cc` at v1.0.4 and
/// v1.0.9); without one, `IsEngineReady` is false and `/v1/models/start`
/// answers "Engine is not ready! Please install first!".
pub const VERSION_TXT: &str = "version.txt";

/// A range of cortex.cpp builds that find their data by the same rules.
/// Tags and commits are janhq/cortex.cpp's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// v1.0.3 (97254037, 2024-11-20): no migrations and no `schema_version`
    /// (`engine/migrations/` does not exist); `models` is created as needed
    /// by `engine/database/models.cc`. The first tag with the
    /// `engines/<repo>/<variant>/<version>/` layout (59d4a6f3) and the
    /// `.cortexrc` default engine keys (35c7b6cd).
    V1_0_3,
    /// v1.0.4 (4fe16038, 2024-12-02): `SCHEMA_VERSION 0`
    /// (`engine/migrations/schema_version.h`, adfbda12).
    V1_0_4,
    /// Nightly builds from 79f7679d ("feat: remote engine", 2024-12-05) to
    /// before 0fa83b2e: `SCHEMA_VERSION 1`, the `engines` table. No tag
    /// has this schema.
    Schema1Nightly,
    /// Nightly builds from 0fa83b2e ("feat: prioritize gpus", 2024-12-10)
    /// to before 8dde05cc: `SCHEMA_VERSION 2`. No tag has this schema.
    Schema2Nightly,
    /// v1.0.5 (3414f185, 2024-12-20) to v1.0.12 (e79abcb6, 2025-03-20):
    /// `SCHEMA_VERSION 3` (8dde05cc), llama.cpp engines from
    /// `engines/cortex.llamacpp/` (`kLlamaRepo` in
    /// `engine/utils/engine_constants.h`; cc2e093a, which moves them to
    /// `engines/llama.cpp/`, first ships in v1.0.13-rc3).
    V1_0_5ToV1_0_12,
}

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Release::V1_0_3 => "cortex.cpp v1.0.3",
            Release::V1_0_4 => "cortex.cpp v1.0.4",
            Release::Schema1Nightly => "cortex.cpp nightly 79f7679d (schema 1)",
            Release::Schema2Nightly => "cortex.cpp nightly 0fa83b2e (schema 2)",
            Release::V1_0_5ToV1_0_12 => "cortex.cpp v1.0.5 to v1.0.12",
        })
    }
}

impl Release {
    /// The release whose migrations leave a database at cortex.cpp schema
    /// `version` (`SCHEMA_VERSION` in `engine/migrations/schema_version.h`
    /// at adfbda12, 79f7679d, 0fa83b2e, 8dde05cc).
    pub fn with_schema(version: u8) -> Release {
        match version {
            0 => Release::V1_0_4,
            1 => Release::Schema1Nightly,
            2 => Release::Schema2Nightly,
            3 => Release::V1_0_5ToV1_0_12,
            v => panic!("cortex.cpp has no schema version {v}"),
        }
    }

    /// `SCHEMA_VERSION`, which `MigrationManager::Migrate` compares with
    /// `SELECT version FROM schema_version LIMIT 1` (-1 without the table)
    /// and migrates to when they differ
    /// (`engine/migrations/migration_manager.cc` at v1.0.5); `None` for a
    /// release without migrations, which never reads the table.
    pub fn schema_version(self) -> Option<i64> {
        match self {
            Release::V1_0_3 => None,
            Release::V1_0_4 => Some(0),
            Release::Schema1Nightly => Some(1),
            Release::Schema2Nightly => Some(2),
            Release::V1_0_5ToV1_0_12 => Some(3),
        }
    }

    /// The columns `Models::LoadModelList` selects
    /// (`engine/database/models.cc` at v1.0.3, v1.0.4, 79f7679d, 0fa83b2e,
    /// v1.0.5 and v1.0.12); a missing one makes the whole list fail.
    pub fn model_columns(self) -> &'static [&'static str] {
        // Each schema adds columns at the end: v0 has the first five, v1
        // and v2 nine, v3 all ten.
        const ALL: [&str; 10] = [
            "model_id",
            "author_repo_id",
            "branch_name",
            "path_to_model_yaml",
            "model_alias",
            "model_format",
            "model_source",
            "status",
            "engine",
            "metadata",
        ];
        match self {
            Release::V1_0_3 | Release::V1_0_4 => &ALL[..5],
            Release::Schema1Nightly | Release::Schema2Nightly => &ALL[..9],
            Release::V1_0_5ToV1_0_12 => &ALL,
        }
    }

    /// The `models.status` values `Models::StringToStatus` knows (NULL
    /// reads as ""); any other throws "Invalid status string" and
    /// `LoadModelList` fails, so no model is found at all
    /// (`engine/database/models.cc`: at 79f7679d and 0fa83b2e `remote`,
    /// `downloaded`, `undownloaded`; `downloadable` replaces `undownloaded`
    /// with f473b0b2, "feat: model sources", first tag v1.0.5). `None`: no
    /// status column is read.
    pub fn known_statuses(self) -> Option<&'static [&'static str]> {
        match self {
            Release::V1_0_3 | Release::V1_0_4 => None,
            Release::Schema1Nightly | Release::Schema2Nightly => {
                Some(&["", "remote", "downloaded", "undownloaded"])
            }
            Release::V1_0_5ToV1_0_12 => Some(&["", "remote", "downloaded", "downloadable"]),
        }
    }

    /// Whether this release reads the yml of a row with `status`:
    /// `ModelService::ForceIndexingModelList`, run on every model list,
    /// reads every row's yml and deletes the row when that fails
    /// (`engine/services/model_service.cc` at v1.0.4 and 79f7679d); from
    /// f473b0b2 (v1.0.5 to v1.0.12) it skips rows whose status is not
    /// `Downloaded` ("downloaded" or empty).
    pub fn reads_yml_of(self, status: &str) -> bool {
        match self {
            Release::V1_0_5ToV1_0_12 => status.is_empty() || status == "downloaded",
            _ => true,
        }
    }

    /// Whether this release has the `engines` table (migration v1,
    /// `engine/migrations/v1/migration.h` at 79f7679d).
    pub fn has_engines_table(self) -> bool {
        self.schema_version().is_some_and(|v| v >= 1)
    }
}

/// `ToAbsoluteCortexDataPath`: `GetAbsolutePath(GetCortexDataPath(), p)`,
/// which keeps an absolute path as it is and puts a relative one under the
/// data folder (`engine/utils/file_manager_utils.h` at v1.0.3 and v1.0.4,
/// `file_manager_utils.cc` from 5eda2126, so at v1.0.5 and v1.0.12;
/// introduced with relative model paths in 8657549e, #1399). Every reader of
/// `path_to_model_yaml` and `files:` goes through it
/// (`ForceIndexingModelList`, `ModelService::StartModel` at v1.0.9).
pub fn to_absolute_cortex_data_path(data: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        data.join(p)
    }
}

/// `NormalizeEngine`: an engine name to its repository name, which names
/// its folder under `engines/` (a file-local copy in
/// `engine/services/engine_service.cc` at v1.0.4 and v1.0.9; constants in
/// `engine/utils/engine_constants.h` from b7cf124c, #1406). Repository
/// names pass through unchanged.
pub fn normalize_engine(name: &str) -> &str {
    match name {
        "llama-cpp" => "cortex.llamacpp",
        "onnxruntime" => "cortex.onnx",
        "tensorrt-llm" => "cortex.tensorrt-llm",
        other => other,
    }
}

/// Where an engine variant's library is loaded from:
/// `GetEnginesContainerPath() / NormalizeEngine(name) / variant / version`
/// (`EngineService::LoadEngine` at v1.0.3 and v1.0.4,
/// `EngineService::GetEngineDirPath` from 43e740da, v1.0.5 to v1.0.12,
/// `engine/services/engine_service.cc`). `version` is used as stored, and
/// cortex.cpp stores it with a leading `v` (`DownloadEngine`:
/// `normalize_version = "v" + selected_variant->version`;
/// `SetDefaultEngineVariant`: `config.llamacppVersion = "v" + ...`, v1.0.3
/// to v1.0.12).
pub fn engine_dir(data: &Path, engine: &str, variant: &str, version: &str) -> PathBuf {
    data.join("engines")
        .join(normalize_engine(engine))
        .join(variant)
        .join(version)
}

/// The default llama.cpp engine variant: `.cortexrc` keys `llamacppVariant`
/// and `llamacppVersion`, read by `EngineService::GetDefaultEngineVariant`
/// (`engine/services/engine_service.cc` at v1.0.3, 8dde05cc and v1.0.9),
/// which fails "Default engine variant ... is not set yet!" when either is
/// empty. The only engine it serves is `kLlamaRepo` ("Engine ... is not
/// supported yet!" for others). `Ok(None)`: a key is missing or empty.
pub fn default_engine(cortexrc: &str) -> Result<Option<(String, String)>, String> {
    let config = parse_cortexrc(cortexrc)?;
    let key = |k: &str| scalar(&config[k]).filter(|v| !v.is_empty());
    Ok(key("llamacppVariant").zip(key("llamacppVersion")))
}

/// `.cortexrc` as `config_yaml_utils` reads it: YAML, written with a UTF-8
/// BOM since 719de33b (first tag v1.0.4), which yaml-cpp skips.
fn parse_cortexrc(text: &str) -> Result<serde_yaml::Value, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_yaml::from_str(text).map_err(|e| e.to_string())
}

/// The `files:` of a parsed model yml, as `YamlHandler` reads them
/// (`engine/config/yaml_config.cc` at v1.0.9): the list as written
/// (`as<std::vector<std::string>>`, so anything but a list of scalars is a
/// parse error), or, when there is no `files:`, `ReadYamlFile`'s stand-in:
/// `model.gguf` beside the yml for a llama.cpp engine (`engine:` is
/// `cortex.llamacpp` or `llama-cpp`), the yml's folder otherwise.
pub fn model_files(yml_path: &Path, yml: &serde_yaml::Value) -> Result<Vec<String>, String> {
    let Some(files) = yml.get("files") else {
        let dir = yml_path.parent().unwrap_or(Path::new(""));
        let engine = yml.get("engine").and_then(scalar);
        let llama = matches!(engine.as_deref(), Some("cortex.llamacpp" | "llama-cpp"));
        let stand_in = if llama {
            dir.join("model.gguf")
        } else {
            dir.to_path_buf()
        };
        return Ok(vec![stand_in.display().to_string()]);
    };
    let Some(list) = files.as_sequence() else {
        return Err("files: is not a list".into());
    };
    list.iter()
        .map(|f| scalar(f).ok_or_else(|| format!("files: entry {f:?} is not a string")))
        .collect()
}

/// A YAML scalar as yaml-cpp's `as<std::string>()` gives it.
fn scalar(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
