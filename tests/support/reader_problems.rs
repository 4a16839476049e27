//! Helpers for stating what the cortex.cpp reader (`common::cortex_reader`)
//! reports on a fixture broken on purpose (`tests/cortex_reads.rs`,
//! `tests/cortex_reader_rules.rs`): a problem by subject, path and kind,
//! the fixtures' llama.cpp engine folder and row, and a read by cortex.cpp
//! v1.0.5 to v1.0.12.
// Each test file uses a part of this module.
#![allow(dead_code)]

use std::path::PathBuf;

use crate::common::cortex_reader::{self, Kind, Problem, Release, Subject};
use crate::common::{Fixture, LLAMACPP_VARIANT, LLAMACPP_VERSION};

/// The fixtures' llama.cpp engine variant folder.
pub fn llama_dir(fx: &Fixture) -> PathBuf {
    cortex_reader::engine_dir(
        &fx.data,
        "cortex.llamacpp",
        LLAMACPP_VARIANT,
        LLAMACPP_VERSION,
    )
}

/// A problem, field by field.
pub fn problem(subject: Subject, path: PathBuf, kind: Kind) -> Problem {
    Problem {
        subject,
        path,
        kind,
    }
}

/// The fixtures' local llama.cpp `engines` row.
pub fn llama_row() -> Subject {
    Subject::EngineRow(
        "cortex.llamacpp".into(),
        LLAMACPP_VARIANT.into(),
        LLAMACPP_VERSION.into(),
    )
}

/// What cortex.cpp v1.0.5 to v1.0.12 would not find in `fx`.
pub async fn read_v3(fx: &Fixture) -> Vec<Problem> {
    cortex_reader::read(&fx.data, Some(&fx.cortexrc()), Release::V1_0_5ToV1_0_12)
        .await
        .problems
}
