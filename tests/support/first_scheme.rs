//! The first checksum scheme, kept to recompute what earlier binaries
//! stored: SHA-256 of a step's name, the SQL of its `up_ops` and
//! `down_ops` on a backend, and a hand-kept definition text (the folder
//! steps' texts are below, as they read then). Tests use it to prove the
//! superseded checksums the steps accept, and to build data folders whose
//! history reads exactly as an earlier binary left it.

#![allow(dead_code)]

use migration::sea_orm_migration::sea_orm::DbBackend;
use migration::toolkit::Step;
use migration::toolkit::schema_ops::ops_sql;
use sha2::{Digest, Sha256};

const RENAMES: [(&str, &str); 3] = [
    ("cortex.llamacpp", "llama-cpp"),
    ("cortex.onnx", "onnxruntime"),
    ("cortex.tensorrt-llm", "tensorrt-llm"),
];

/// The definition text step `name` had under the first scheme (empty for
/// the steps written as ops).
pub fn definition(name: &str) -> String {
    match name {
        "m20261126_000001_relative_model_paths" => {
            "relative-model-paths/1: models.path_to_model_yaml and model.yml files: entries; \
             absolute paths inside the data folder become relative with / separators; others unchanged"
                .into()
        }
        "m20261126_000002_rename_legacy_engines" => format!(
            "rename-legacy-engines/2: {RENAMES:?} in models.engine, model.yml engine:; engines rows and folders keep repository names"
        ),
        "m20261126_000003_backfill_weights_bytes" => {
            "backfill-weights-bytes/1: sum of the sizes of the files: entries of each model.yml"
                .into()
        }
        "m20261203_000001_engine_folders_by_repository" => format!(
            "engine-folders-by-repository/1: undo the Move ops of m20261126_000002_rename_legacy_engines \
             when its checksum is {}, merging into existing folders; \
             local engines rows named {RENAMES:?} back to the repository name unless that variant has one; \
             set its checksum to the current definition's",
            migration::m20261203_000001_engine_folders_by_repository::FIRST_DEFINITION_CHECKSUM
        ),
        _ => String::new(),
    }
}

/// The first scheme's checksum of `step` on `backend`, with `definition`.
pub fn checksum_with(step: &dyn Step, backend: DbBackend, definition: &str) -> String {
    let mut h = Sha256::new();
    h.update(step.name().as_bytes());
    h.update(b"\0up\0");
    for s in ops_sql(backend, &step.up_ops(backend)) {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    h.update(b"\0down\0");
    for s in ops_sql(backend, &step.down_ops(backend)) {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    h.update(b"\0def\0");
    h.update(definition.as_bytes());
    format!("{:x}", h.finalize())
}

/// The first scheme's checksum of one of the project's steps.
pub fn checksum(step: &dyn Step, backend: DbBackend) -> String {
    checksum_with(step, backend, &definition(step.name()))
}
