//! Property: for any cortex.cpp data folder (models with and without
//! files, absolute and relative paths, paths outside the folder, legacy and
//! current engine names, broken `model.yml` files), migrating up and then
//! back down returns every file and every row to where they started, and
//! migrating up again gives the same result as the first time.
//!
//! `PROPTEST_CASES=N` runs more cases (default 24).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cortex_migrate::sample::ddl;
use migration::Migrator;
use migration::toolkit::StepList;
use migration::toolkit::runner::{Options, Runner, Target};
use proptest::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseConnection};

mod common;

use common as digest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    None,
    LegacyLlama,
    Llama,
    LegacyOnnx,
    Onnx,
}

impl Engine {
    fn name(self) -> Option<&'static str> {
        match self {
            Engine::None => None,
            Engine::LegacyLlama => Some("cortex.llamacpp"),
            Engine::Llama => Some("llama-cpp"),
            Engine::LegacyOnnx => Some("cortex.onnx"),
            Engine::Onnx => Some("onnxruntime"),
        }
    }
}

#[derive(Debug, Clone)]
struct ModelSpec {
    /// `None`: a catalogue row without files.
    yml: Option<YmlSpec>,
    engine: Engine,
    absolute_row_path: bool,
}

#[derive(Debug, Clone)]
struct YmlSpec {
    /// Weights inside the folder (and absolute or relative `files:`), or
    /// outside it (an imported model), or missing.
    weights: Weights,
    absolute_files_entry: bool,
    broken: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weights {
    Inside,
    Outside,
    Missing,
}

fn engine() -> impl Strategy<Value = Engine> {
    prop_oneof![
        Just(Engine::None),
        Just(Engine::LegacyLlama),
        Just(Engine::Llama),
        Just(Engine::LegacyOnnx),
        Just(Engine::Onnx)
    ]
}

fn model() -> impl Strategy<Value = ModelSpec> {
    let yml = (
        prop_oneof![
            Just(Weights::Inside),
            Just(Weights::Outside),
            Just(Weights::Missing)
        ],
        any::<bool>(),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(weights, absolute_files_entry, broken)| YmlSpec {
            weights,
            absolute_files_entry,
            broken,
        });
    (prop::option::weighted(0.85, yml), engine(), any::<bool>()).prop_map(
        |(yml, engine, absolute_row_path)| ModelSpec {
            yml,
            engine,
            absolute_row_path,
        },
    )
}

#[derive(Debug, Clone)]
struct FolderSpec {
    models: Vec<ModelSpec>,
    /// Engine folders on disk: legacy or current names (never both, which
    /// the rename step refuses).
    legacy_llama_folder: bool,
    legacy_onnx_folder: bool,
}

fn folder() -> impl Strategy<Value = FolderSpec> {
    (
        prop::collection::vec(model(), 0..10),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(models, l, o)| FolderSpec {
            models,
            legacy_llama_folder: l,
            legacy_onnx_folder: o,
        })
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Lays the folder out: a cortex.cpp v3 database and the files its rows
/// point at.
async fn build(spec: &FolderSpec, home: &Path) -> (PathBuf, DatabaseConnection) {
    let data = home.join("cortexcpp");
    let outside = home.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let llama = if spec.legacy_llama_folder {
        "cortex.llamacpp"
    } else {
        "llama-cpp"
    };
    let onnx = if spec.legacy_onnx_folder {
        "cortex.onnx"
    } else {
        "onnxruntime"
    };
    write(
        &data
            .join("engines")
            .join(llama)
            .join("linux-amd64-avx2/v0.1.49/libengine.so"),
        b"llama engine",
    );
    write(
        &data
            .join("engines")
            .join(onnx)
            .join("linux-amd64-avx2/v0.1.7/libengine.so"),
        b"onnx engine",
    );

    let db = cortex_migrate::connect::open_sqlite_file(&data.join("cortex.db"), true)
        .await
        .unwrap();
    for v in 0..=3u8 {
        for sql in ddl::upgrade(v).unwrap() {
            db.execute_unprepared(sql).await.unwrap();
        }
    }
    db.execute_unprepared("DELETE FROM schema_version; INSERT INTO schema_version VALUES (3)")
        .await
        .unwrap();
    for (i, m) in spec.models.iter().enumerate() {
        let id = format!("model-{i}:main");
        let dir_rel = format!("models/cortex.so/model-{i}/main");
        let yml_rel = format!("{dir_rel}/model.yml");
        let row_path = match (&m.yml, m.absolute_row_path) {
            (None, _) => String::new(),
            (Some(_), true) => data.join(&yml_rel).display().to_string(),
            (Some(_), false) => yml_rel.clone(),
        };
        if let Some(y) = &m.yml {
            let weights_rel = format!("{dir_rel}/model.gguf");
            let entry = match y.weights {
                Weights::Outside => {
                    let p = outside.join(format!("model-{i}.gguf"));
                    write(&p, format!("weights {i}").repeat(i + 1).as_bytes());
                    p.display().to_string()
                }
                Weights::Inside | Weights::Missing => {
                    if y.weights == Weights::Inside {
                        write(
                            &data.join(&weights_rel),
                            format!("weights {i}").repeat(i + 2).as_bytes(),
                        );
                    }
                    if y.absolute_files_entry {
                        data.join(&weights_rel).display().to_string()
                    } else {
                        weights_rel.clone()
                    }
                }
            };
            let engine_line = m
                .engine
                .name()
                .map(|e| format!("engine: {e} # engine to run model\n"))
                .unwrap_or_default();
            let files = if y.broken {
                "files: [unclosed\n".to_owned()
            } else {
                format!(
                    "files:             # Can be relative OR absolute local file path\n  - {entry}\n"
                )
            };
            let text = format!(
                "# BEGIN GENERAL GGUF METADATA\nid: model-{i}\nname: model-{i}\n{files}# END\n{engine_line}ctx_len: 2048\n"
            );
            write(&data.join(&yml_rel), text.as_bytes());
        }
        let engine = m.engine.name().map(quote).unwrap_or_else(|| "NULL".into());
        db.execute_unprepared(&format!(
            "INSERT INTO models (model_id, author_repo_id, branch_name, path_to_model_yaml, model_alias, status, engine) \
             VALUES ({}, 'cortexso', 'main', {}, {}, 'downloaded', {engine})",
            quote(&id),
            quote(&row_path),
            quote(&id)
        ))
        .await
        .unwrap();
    }
    let names: Vec<&str> = [llama, onnx].into_iter().collect();
    for (n, name) in names.iter().enumerate() {
        db.execute_unprepared(&format!(
            "INSERT INTO engines (engine_name, type, version, variant, status, date_created, date_updated) \
             VALUES ({}, 'local', 'v0.1', 'variant-{n}', 'Default', '2025-01-01 00:00:00', '2025-01-01 00:00:00')",
            quote(name)
        ))
        .await
        .unwrap();
    }
    (data, db)
}

async fn state(
    home: &Path,
    db: &DatabaseConnection,
) -> (
    BTreeMap<String, String>,
    BTreeMap<String, digest::TableRows>,
) {
    let mut files = digest::tree(home);
    files.retain(|k, _| !k.ends_with("cortex.db"));
    let rows = digest::db_rows_of(
        db,
        &["models", "engines", "hardware", "files", "schema_version"],
    )
    .await;
    (files, rows)
}

async fn run(db: &DatabaseConnection, data: &Path, up: bool, target: Target) {
    let mut r = Runner::new(
        db,
        Migrator::steps(),
        Options {
            data_dir: Some(data.to_path_buf()),
            ..Options::default()
        },
    )
    .await
    .unwrap();
    if up {
        r.up(target).await.unwrap();
    } else {
        r.down(target).await.unwrap();
    }
}

fn v3() -> String {
    Migrator::steps()[3].name().to_owned()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    })]

    #[test]
    fn up_then_down_returns_folder_and_rows_to_the_start(spec in folder()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let t = tempfile::tempdir().unwrap();
            let home = t.path().canonicalize().unwrap().join("home");
            let (data, db) = build(&spec, &home).await;
            run(&db, &data, true, Target::To(v3())).await;
            let start = state(&home, &db).await;
            run(&db, &data, true, Target::All).await;
            let migrated = state(&home, &db).await;
            run(&db, &data, false, Target::To(v3())).await;
            prop_assert_eq!(&state(&home, &db).await, &start, "down did not return to the start");
            run(&db, &data, true, Target::All).await;
            prop_assert_eq!(&state(&home, &db).await, &migrated, "up again differs from the first up");
            Ok(())
        })?;
    }
}
