//! The cortex.cpp reader (`common::cortex_reader`) itself: its rules for
//! paths, engine folders, model files and the default engine, and that it
//! does fail when something cortex.cpp looks for is gone (an engine folder
//! under the engine name, a weight file, the library and `version.txt`, a
//! yml, the schema version) while skipping the rows cortex.cpp skips.

mod common;
#[path = "support/reader_problems.rs"]
mod reader_problems;

use std::path::PathBuf;

use common::cortex_reader::{self, Kind, Release, Subject};
use reader_problems::{llama_dir, llama_row, problem, read_v3};

// The rules.

#[test]
fn relative_paths_resolve_under_the_data_folder_and_absolute_ones_stay() {
    let data = PathBuf::from("/home/u/cortexcpp");
    assert_eq!(
        cortex_reader::to_absolute_cortex_data_path(&data, "models/a/model.yml"),
        data.join("models/a/model.yml")
    );
    assert_eq!(
        cortex_reader::to_absolute_cortex_data_path(&data, "/elsewhere/a.gguf"),
        PathBuf::from("/elsewhere/a.gguf")
    );
}

#[test]
fn engine_names_load_from_their_repository_folder() {
    let data = PathBuf::from("/d");
    for name in ["llama-cpp", "cortex.llamacpp"] {
        assert_eq!(
            cortex_reader::engine_dir(&data, name, "linux-amd64-avx2", "v0.1.49"),
            PathBuf::from("/d/engines/cortex.llamacpp/linux-amd64-avx2/v0.1.49")
        );
    }
    assert_eq!(
        cortex_reader::normalize_engine("onnxruntime"),
        "cortex.onnx"
    );
    assert_eq!(
        cortex_reader::normalize_engine("tensorrt-llm"),
        "cortex.tensorrt-llm"
    );
    assert_eq!(cortex_reader::normalize_engine("openai"), "openai");
}

#[test]
fn a_yml_without_files_gets_model_gguf_beside_it_for_llama_engines() {
    let yml = PathBuf::from("/d/models/cortex.so/a/main/model.yml");
    let llama: serde_yaml::Value = serde_yaml::from_str("engine: llama-cpp\n").unwrap();
    assert_eq!(
        cortex_reader::model_files(&yml, &llama).unwrap(),
        ["/d/models/cortex.so/a/main/model.gguf"]
    );
    let other: serde_yaml::Value = serde_yaml::from_str("engine: python-engine\n").unwrap();
    assert_eq!(
        cortex_reader::model_files(&yml, &other).unwrap(),
        ["/d/models/cortex.so/a/main"]
    );
    let scalar: serde_yaml::Value = serde_yaml::from_str("files: a.gguf\n").unwrap();
    assert!(cortex_reader::model_files(&yml, &scalar).is_err());
}

#[test]
fn the_default_engine_is_read_from_cortexrc_through_its_bom() {
    let rc = "\u{feff}llamacppVariant: linux-amd64-avx2\nllamacppVersion: v0.1.49\n";
    assert_eq!(
        cortex_reader::default_engine(rc).unwrap(),
        Some(("linux-amd64-avx2".into(), "v0.1.49".into()))
    );
    assert_eq!(
        cortex_reader::default_engine("llamacppVariant: \"\"\nllamacppVersion: v1\n").unwrap(),
        None
    );
}

// The reader fails when something is gone.

#[tokio::test]
async fn reader_reports_an_engine_folder_under_the_engine_name() {
    let fx = common::cortex_folder(3).await;
    std::fs::rename(
        fx.data.join("engines/cortex.llamacpp"),
        fx.data.join("engines/llama-cpp"),
    )
    .unwrap();
    assert_eq!(
        read_v3(&fx).await,
        [
            problem(llama_row(), llama_dir(&fx), Kind::EngineFolderMissing),
            problem(
                Subject::DefaultEngine,
                llama_dir(&fx),
                Kind::EngineFolderMissing
            ),
        ]
    );
}

#[tokio::test]
async fn reader_reports_a_deleted_weight_file() {
    let fx = common::cortex_folder(3).await;
    let rel = "models/cortex.so/llama3.2/3b-gguf-q4-km/model.gguf";
    std::fs::remove_file(fx.data.join(rel)).unwrap();
    assert_eq!(
        read_v3(&fx).await,
        [problem(
            Subject::Model(common::LLAMA32.into()),
            fx.data.join(rel),
            Kind::WeightsMissing(rel.into()),
        )]
    );
}

#[tokio::test]
async fn reader_reports_a_missing_library_and_version_txt() {
    let fx = common::cortex_folder(3).await;
    let dir = llama_dir(&fx);
    std::fs::remove_file(dir.join(cortex_reader::ENGINE_LIBRARY)).unwrap();
    std::fs::remove_file(dir.join(cortex_reader::VERSION_TXT)).unwrap();
    let found = read_v3(&fx).await;
    let kinds: Vec<(&Subject, &PathBuf, bool)> = found
        .iter()
        .map(|p| {
            (
                &p.subject,
                &p.path,
                matches!(p.kind, Kind::VersionTxtMissing(_)),
            )
        })
        .collect();
    let lib = dir.join(cortex_reader::ENGINE_LIBRARY);
    let txt = dir.join(cortex_reader::VERSION_TXT);
    let row = llama_row();
    assert_eq!(
        kinds,
        [
            (&row, &lib, false),
            (&row, &txt, true),
            (&Subject::DefaultEngine, &lib, false),
            (&Subject::DefaultEngine, &txt, true),
        ]
    );
}

#[tokio::test]
async fn reader_reports_a_yml_path_that_leads_nowhere() {
    let fx = common::cortex_folder(3).await;
    let db = fx.connect().await;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&format!(
        "UPDATE models SET path_to_model_yaml = 'models/gone.yml' WHERE model_id = '{}'",
        common::PHI3
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
    assert_eq!(
        read_v3(&fx).await,
        [problem(
            Subject::Model(common::PHI3.into()),
            fx.data.join("models/gone.yml"),
            Kind::YmlMissing,
        )]
    );
}

#[tokio::test]
async fn reader_reports_a_schema_version_the_release_does_not_expect() {
    let fx = common::cortex_folder(2).await;
    assert_eq!(
        read_v3(&fx).await,
        [problem(
            Subject::Database,
            fx.db_path(),
            Kind::SchemaVersion {
                found: 2,
                expected: 3
            },
        )]
    );
}

#[tokio::test]
async fn reader_skips_the_rows_cortex_skips() {
    let fx = common::cortex_folder(3).await;
    let reading =
        cortex_reader::read(&fx.data, Some(&fx.cortexrc()), Release::V1_0_5ToV1_0_12).await;
    assert_eq!(reading.problems, []);
    let catalogue = reading
        .models
        .iter()
        .find(|m| m.id == common::CATALOGUE)
        .unwrap();
    assert!(!catalogue.read, "a downloadable row has no yml to read");
    let read: Vec<&str> = reading
        .models
        .iter()
        .filter(|m| m.read)
        .map(|m| m.id.as_str())
        .collect();
    let mut downloaded = common::DOWNLOADED.to_vec();
    downloaded.sort();
    assert_eq!(read, downloaded);
    assert!(
        reading
            .models
            .iter()
            .filter(|m| m.read)
            .all(|m| m.found && !m.weights.is_empty())
    );
}
