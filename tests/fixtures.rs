//! Smoke tests of the fixtures in `tests/common`: each builder makes what it
//! claims (cortex.cpp's tables and columns at each version, its rows, its
//! files). That the digests notice a change, and that the migrator's
//! adoption check reads every fixture as the cortex.cpp version it was
//! built as, is `tests/fixtures_read.rs`.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use entity::{engines, files, models, schema_version};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};

const MODELS_V0: [&str; 5] = [
    "model_id",
    "author_repo_id",
    "branch_name",
    "path_to_model_yaml",
    "model_alias",
];
const MODELS_V1: [&str; 4] = ["model_format", "model_source", "status", "engine"];
const HARDWARE_V0: [&str; 5] = ["uuid", "type", "hardware_id", "software_id", "activated"];
const ENGINES: [&str; 11] = [
    "id",
    "engine_name",
    "type",
    "api_key",
    "url",
    "version",
    "variant",
    "status",
    "metadata",
    "date_created",
    "date_updated",
];
const FILES: [&str; 6] = ["id", "object", "purpose", "filename", "created_at", "bytes"];

/// The tables and columns cortex.cpp schema `version` has.
fn expected_columns(version: u8) -> BTreeMap<String, Vec<String>> {
    let own = |cols: &[&str]| cols.iter().map(|c| c.to_string()).collect::<Vec<_>>();
    let mut models = own(&MODELS_V0);
    let mut hardware = own(&HARDWARE_V0);
    let mut out = BTreeMap::new();
    out.insert("schema_version".to_owned(), own(&["version"]));
    if version >= 1 {
        models.extend(own(&MODELS_V1));
        out.insert("engines".to_owned(), own(&ENGINES));
    }
    if version >= 2 {
        models.push("metadata".into());
        hardware.push("priority".into());
    }
    if version >= 3 {
        out.insert("files".to_owned(), own(&FILES));
    }
    out.insert("models".to_owned(), models);
    out.insert("hardware".to_owned(), hardware);
    out
}

async fn rows(conn: &DatabaseConnection, sql: &str) -> Vec<sea_orm::QueryResult> {
    conn.query_all_raw(Statement::from_string(DbBackend::Sqlite, sql))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Tables and their columns as `PRAGMA table_info` reports them.
async fn live_columns(conn: &DatabaseConnection) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for t in table_names(conn).await {
        let cols = rows(conn, &format!("PRAGMA table_info(\"{t}\")"))
            .await
            .iter()
            .map(|r| r.try_get::<String>("", "name").expect("name"))
            .collect();
        out.insert(t, cols);
    }
    out
}

async fn schema_versions(conn: &DatabaseConnection) -> Vec<i64> {
    schema_version::Entity::find()
        .order_by_asc(schema_version::Column::Version)
        .all(conn)
        .await
        .expect("reading schema_version")
        .into_iter()
        .map(|r| r.version)
        .collect()
}

/// `(model id, path_to_model_yaml)` of the rows `filter` keeps. Only these
/// two columns: the fixtures go back to cortex.cpp v0, whose `models` lacks
/// the entity's later ones.
async fn model_paths(
    conn: &DatabaseConnection,
    filter: sea_orm::Condition,
) -> Vec<(String, String)> {
    models::Entity::find()
        .select_only()
        .column(models::Column::ModelId)
        .column(models::Column::PathToModelYaml)
        .filter(filter)
        .order_by_asc(models::Column::ModelId)
        .into_tuple()
        .all(conn)
        .await
        .expect("reading model paths")
}

async fn assert_columns_at(version: u8) {
    for fx in [
        cortex_folder(version).await,
        cortex_folder_fresh_install(version).await,
    ] {
        let conn = fx.connect().await;
        assert_eq!(live_columns(&conn).await, expected_columns(version));
    }
}

#[tokio::test]
async fn v0_folder_has_cortex_v0_tables_and_columns() {
    assert_columns_at(0).await;
}

#[tokio::test]
async fn v1_folder_has_cortex_v1_tables_and_columns() {
    assert_columns_at(1).await;
}

#[tokio::test]
async fn v2_folder_has_cortex_v2_tables_and_columns() {
    assert_columns_at(2).await;
}

#[tokio::test]
async fn v3_folder_has_cortex_v3_tables_and_columns() {
    assert_columns_at(3).await;
}

#[tokio::test]
async fn upgraded_folder_keeps_cortex_ddl_text_in_sqlite_master() {
    let fx = cortex_folder(3).await;
    let conn = fx.connect().await;
    let schema = db_schema(&conn).await;
    // ADD COLUMN appends to the original CREATE text, which is how an
    // upgraded install differs from a fresh one.
    assert_eq!(
        schema["models"],
        "CREATE TABLE models (model_id TEXT PRIMARY KEY,author_repo_id TEXT,branch_name TEXT,\
         path_to_model_yaml TEXT,model_alias TEXT, model_format TEXT, model_source TEXT, \
         status TEXT, engine TEXT, metadata TEXT)"
    );
    let fresh = cortex_folder_fresh_install(3).await;
    let fresh_schema = db_schema(&fresh.connect().await).await;
    assert!(
        fresh_schema["models"].starts_with("CREATE TABLE models (model_id TEXT PRIMARY KEY,"),
        "{}",
        fresh_schema["models"]
    );
    assert_ne!(schema["models"], fresh_schema["models"]);
}

#[tokio::test]
async fn schema_version_has_one_row_equal_to_version() {
    for version in 0..=3u8 {
        for fx in [
            cortex_folder(version).await,
            cortex_folder_fresh_install(version).await,
        ] {
            let conn = fx.connect().await;
            assert_eq!(schema_versions(&conn).await, vec![i64::from(version)]);
        }
    }
}

/// Resolves a path the way cortex.cpp's `ToAbsoluteCortexDataPath` does.
fn resolve(data: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        data.join(p)
    }
}

/// `files:` of a model.yml, parsed.
fn yml_files(yml: &Path) -> Vec<String> {
    let doc: serde_yaml::Value =
        serde_yaml::from_slice(&bytes(yml)).unwrap_or_else(|e| panic!("{}: {e}", yml.display()));
    doc["files"]
        .as_sequence()
        .unwrap_or_else(|| panic!("{} has no files: list", yml.display()))
        .iter()
        .map(|f| f.as_str().expect("files entry is a string").to_owned())
        .collect()
}

async fn assert_downloaded_models_resolve(fx: &Fixture, expected: usize) {
    let conn = fx.connect().await;
    let has_status = live_columns(&conn).await["models"].contains(&"status".to_owned());
    let mut filter = sea_orm::Condition::all();
    if has_status {
        filter = filter.add(models::Column::Status.eq("downloaded"));
    }
    let found = model_paths(&conn, filter).await;
    assert_eq!(found.len(), expected);
    for (id, path) in found {
        let yml = resolve(&fx.data, &path);
        assert!(
            yml.is_file(),
            "{id}: model.yml {} is missing",
            yml.display()
        );
        let files = yml_files(&yml);
        assert!(!files.is_empty(), "{id}: files: is empty");
        for f in files {
            let w = resolve(&fx.data, &f);
            assert!(w.is_file(), "{id}: weights {} are missing", w.display());
        }
    }
}

#[tokio::test]
async fn every_downloaded_model_resolves_to_model_yml_whose_files_exist() {
    for version in 0..=3u8 {
        assert_downloaded_models_resolve(&cortex_folder(version).await, DOWNLOADED.len()).await;
        assert_downloaded_models_resolve(
            &cortex_folder_fresh_install(version).await,
            DOWNLOADED.len(),
        )
        .await;
    }
}

#[tokio::test]
async fn model_paths_are_absolute_for_tinyllama_and_relative_for_others() {
    let fx = cortex_folder(3).await;
    let conn = fx.connect().await;
    for (id, path) in model_paths(&conn, sea_orm::Condition::all()).await {
        match id.as_str() {
            TINYLLAMA => {
                assert!(path.starts_with(&fx.data.display().to_string()), "{path}");
                let files = yml_files(Path::new(&path));
                assert!(Path::new(&files[0]).is_absolute(), "{files:?}");
            }
            CATALOGUE => assert_eq!(path, ""),
            _ => {
                assert!(path.starts_with("models/"), "{id}: {path}");
                if id == IMPORTED_COPY {
                    // A copy import names its copy absolutely (ImportModel).
                    let files = yml_files(&fx.data.join(&path));
                    assert!(
                        files[0].starts_with(&fx.data.display().to_string()),
                        "{files:?}"
                    );
                } else if id != IMPORTED {
                    let files = yml_files(&fx.data.join(&path));
                    assert!(files[0].starts_with("models/"), "{id}: {files:?}");
                }
            }
        }
    }
}

#[tokio::test]
async fn generated_models_have_rows_yml_and_weights() {
    let fx = build(FixtureSpec {
        models: 25,
        ..FixtureSpec::new(2)
    })
    .await;
    assert_downloaded_models_resolve(&fx, DOWNLOADED.len() + 25).await;
    assert!(
        fx.data
            .join("models/cortex.so/gen-model-25/main/model.gguf")
            .is_file()
    );
    let conn = fx.connect().await;
    let generated = model_paths(
        &conn,
        sea_orm::Condition::all().add(models::Column::ModelId.like("gen-model-%:main")),
    )
    .await;
    assert_eq!(generated.len(), 25);
    assert_eq!(generated_id(25), "gen-model-25:main");
}

#[tokio::test]
async fn imported_model_weights_lie_outside_the_data_folder() {
    let fx = cortex_folder(2).await;
    let yml = fx.data.join(format!("models/imported/{IMPORTED}.yml"));
    let files = yml_files(&yml);
    let weights = PathBuf::from(&files[0]);
    assert!(weights.is_absolute());
    assert!(!weights.starts_with(&fx.data), "{}", weights.display());
    assert!(weights.starts_with(fx.outside()));
    assert!(weights.is_file());
}

#[tokio::test]
async fn weights_differ_per_model() {
    let fx = cortex_folder(1).await;
    let a = bytes(
        &fx.data
            .join("models/cortex.so/llama3.2/3b-gguf-q4-km/model.gguf"),
    );
    let b = bytes(&fx.data.join("models/cortex.so/phi-3/onnx/model.gguf"));
    assert!(a.len() >= 256 && b.len() >= 256);
    assert!(a.starts_with(b"GGUF"));
    assert_ne!(a, b);
}

#[tokio::test]
async fn legacy_engine_names_appear_in_rows_and_model_yml() {
    for (legacy, llama, onnx) in [
        (true, "cortex.llamacpp", "cortex.onnx"),
        (false, "llama-cpp", "onnxruntime"),
    ] {
        let fx = build(FixtureSpec {
            legacy_engine_names: legacy,
            ..FixtureSpec::new(3)
        })
        .await;
        let conn = fx.connect().await;
        let engine_of = |id: &'static str| {
            let conn = &conn;
            // Only `engine`: a v3 `models` lacks the entity's weights_bytes.
            async move {
                models::Entity::find_by_id(id)
                    .select_only()
                    .column(models::Column::Engine)
                    .into_tuple::<String>()
                    .one(conn)
                    .await
                    .expect("reading the engine")
                    .expect("the model has a row")
            }
        };
        assert_eq!(engine_of(LLAMA32).await, llama);
        assert_eq!(engine_of(PHI3).await, onnx);
        let yml: serde_yaml::Value = serde_yaml::from_slice(&bytes(
            &fx.data.join("models/cortex.so/phi-3/onnx/model.yml"),
        ))
        .expect("model.yml parses");
        assert_eq!(yml["engine"].as_str(), Some(onnx));
        let names: Vec<String> = engines::Entity::find()
            .order_by_asc(engines::Column::Id)
            .all(&conn)
            .await
            .expect("reading engines")
            .into_iter()
            .map(|e| e.engine_name.expect("engine_name"))
            .collect();
        // Local engine rows and folders are named by repository whatever
        // the models say (DownloadEngine -> UpsertEngine with the
        // normalized name, engine_service.cc at v1.0.9).
        assert_eq!(names, ["cortex.llamacpp", "cortex.onnx", "openai"]);
        assert!(
            fx.data
                .join(format!(
                    "engines/cortex.llamacpp/{LLAMACPP_VARIANT}/{LLAMACPP_VERSION}/version.txt"
                ))
                .is_file()
        );
    }
}

#[tokio::test]
async fn uploaded_files_exist_with_the_bytes_their_rows_say() {
    let fx = cortex_folder(3).await;
    let conn = fx.connect().await;
    let found = files::Entity::find()
        .order_by_asc(files::Column::Id)
        .all(&conn)
        .await
        .expect("reading files");
    assert_eq!(found.len(), 2);
    for (f, id) in found.iter().zip(FILE_IDS) {
        assert_eq!(f.id, id);
        assert!(f.created_at.is_some(), "{f:?}");
        let name = f.filename.as_deref().expect("filename");
        let size = f.bytes.expect("bytes");
        assert_eq!(bytes(&fx.data.join("files").join(name)).len() as i64, size);
    }
    // cortex.cpp binds created_at as text: INTEGER affinity must have made
    // it a number. A storage class is SQLite's own, which no entity reads.
    let classes = rows(&conn, "SELECT typeof(created_at) AS t FROM files").await;
    for r in classes {
        assert_eq!(r.try_get::<String>("", "t").expect("t"), "integer");
    }
}

#[tokio::test]
async fn cortexrc_points_at_the_data_folder() {
    for version in [0u8, 3] {
        let fx = cortex_folder(version).await;
        let raw = bytes(&fx.cortexrc());
        // The v2+ era writer prepends a UTF-8 BOM.
        assert_eq!(raw.starts_with(&[0xEF, 0xBB, 0xBF]), version >= 2);
        let text = String::from_utf8(raw).expect("utf-8");
        let doc: serde_yaml::Value =
            serde_yaml::from_str(text.trim_start_matches('\u{feff}')).expect(".cortexrc parses");
        assert_eq!(
            doc["dataFolderPath"].as_str(),
            Some(fx.data.display().to_string().as_str())
        );
        assert_eq!(doc["apiServerPort"].as_u64(), Some(39281));
        assert_eq!(doc["llamacppVariant"].as_str(), Some(LLAMACPP_VARIANT));
    }
}

#[tokio::test]
async fn half_added_1_2_has_only_model_format_and_model_source() {
    let fx = half_added(1, 2).await;
    let conn = fx.connect().await;
    let cols = live_columns(&conn).await;
    let mut want: Vec<String> = MODELS_V0.iter().map(|c| c.to_string()).collect();
    want.extend(["model_format".to_owned(), "model_source".to_owned()]);
    assert_eq!(cols["models"], want);
    assert!(!cols.contains_key("engines"));
    assert_eq!(schema_versions(&conn).await, vec![0]);
}

#[tokio::test]
async fn early_variants_use_the_earliest_v0_ddl() {
    let fx = early_variants().await;
    let conn = fx.connect().await;
    let schema = db_schema(&conn).await;
    assert_eq!(
        schema["schema_version"],
        "CREATE TABLE schema_version ( version INTEGER NOT NULL)"
    );
    assert!(
        schema["hardware"].starts_with("CREATE TABLE hardware (uuid TEXT NOT NULL, "),
        "{}",
        schema["hardware"]
    );
    assert_eq!(schema_versions(&conn).await, vec![0]);
}

#[tokio::test]
async fn with_schema_version_rows_replaces_the_rows() {
    let fx = with_schema_version_rows(2, &[0, 1, 2]).await;
    assert_eq!(schema_versions(&fx.connect().await).await, vec![0, 1, 2]);
    let empty = with_schema_version_rows(1, &[]).await;
    assert!(schema_versions(&empty.connect().await).await.is_empty());
}

#[tokio::test]
async fn not_a_database_has_no_sqlite_header() {
    let fx = not_a_database().await;
    let raw = bytes(&fx.db_path());
    assert!(!raw.is_empty());
    assert!(!raw.starts_with(b"SQLite format 3\0"));
}
