//! The same migrations on PostgreSQL and MariaDB: each step from empty
//! gives its per-backend golden snapshot, each down gives back the step
//! before, a round trip keeps every row, the entities read what the steps
//! made, the folder steps work with a server database and a data folder,
//! and the binary and the boot API serve as a deploy step and a check.
//!
//! Every test runs once per server, on a database of its own, and prints
//! why it skips when `CORTEX_TEST_POSTGRES_URL` / `CORTEX_TEST_MYSQL_URL`
//! is unset. `CORTEX_MIGRATE_BLESS=1 cargo test --test servers` rewrites
//! `migration/snapshots/{postgres,mysql}/`.

mod common;
#[path = "support/first_engine_rename.rs"]
mod first_engine_rename;
#[path = "support/server_rows.rs"]
mod server_rows;
#[path = "support/servers.rs"]
mod servers;

use std::path::{Path, PathBuf};
use std::process::Output;

use migration::Migrator;
use migration::golden;
use migration::toolkit::runner::{Options, Report, Runner, Target};
use migration::toolkit::{StepList, snapshot};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, IdenStatic, Iterable,
    QueryOrder, QuerySelect,
};
use servers::{Server, TestDb, cli};

/// Runs each named behaviour once per server, as `postgres::<name>` and
/// `mysql::<name>`.
macro_rules! on_both_servers {
    ($($test:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Server::Postgres, concat!("postgres::", stringify!($test))).await
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Server::MySql, concat!("mysql::", stringify!($test))).await
                }
            )*
        }
    };
}

on_both_servers!(
    every_step_from_empty_matches_its_golden_snapshot,
    every_step_down_returns_the_schema_before_it,
    round_trip_down_to_nothing_and_up_keeps_every_row_and_value,
    an_engine_added_after_a_round_trip_gets_a_fresh_id,
    entities_read_the_rows_the_migrations_stored,
    folder_steps_move_files_and_rows_and_down_gives_back_every_byte,
    engine_rows_and_folders_renamed_before_the_fix_come_back_and_down_restores_them,
    cortex_v3s_first_definition_is_superseded_and_its_catalogue_row_goes_aside_below_it,
    binary_up_serves_as_a_deploy_step,
    verify_reports_a_column_added_outside_the_migrations,
    boot_check_refuses_an_empty_database_and_accepts_a_migrated_one,
);

fn names() -> Vec<String> {
    Migrator::steps()
        .iter()
        .map(|s| s.name().to_owned())
        .collect()
}

fn blessing() -> bool {
    std::env::var_os("CORTEX_MIGRATE_BLESS").is_some()
}

/// The golden snapshot file of `step` on `server`, written first from
/// `live` when blessing.
fn expected_snapshot(server: Server, step: &str, live: &str) -> String {
    let path = golden::dir(server.name()).join(format!("{step}.schema"));
    if blessing() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, live).unwrap();
    }
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "no golden snapshot {} ({e}); run with CORTEX_MIGRATE_BLESS=1",
            path.display()
        )
    })
}

fn options(data: &Path) -> Options {
    Options {
        data_dir: Some(data.to_path_buf()),
        ..Default::default()
    }
}

async fn up(db: &DatabaseConnection, data: &Path, target: Target) -> Report {
    Runner::new(db, Migrator::steps(), options(data))
        .await
        .unwrap()
        .up(target)
        .await
        .unwrap()
}

async fn down(db: &DatabaseConnection, data: &Path, target: Target) -> Report {
    Runner::new(db, Migrator::steps(), options(data))
        .await
        .unwrap()
        .down(target)
        .await
        .unwrap()
}

/// A data folder with its real path, so that the absolute paths written
/// into rows and model.yml compare equal to what the migrator resolves.
fn data_folder() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().canonicalize().unwrap();
    (t, p)
}

async fn every_step_from_empty_matches_its_golden_snapshot(server: Server, test: &str) {
    for step in names() {
        let Some(tdb) = TestDb::create(server, test).await else {
            return;
        };
        let db = tdb.connect().await;
        let (_t, data) = data_folder();
        up(&db, &data, Target::To(step.clone())).await;
        let live = snapshot::snapshot(&db).await.unwrap();
        assert_eq!(
            snapshot::snapshot(&db).await.unwrap(),
            live,
            "{server:?}: two snapshots of the same schema differ"
        );
        let expected = expected_snapshot(server, &step, &live);
        assert_eq!(
            live, expected,
            "{server:?}: schema after {step} differs from its golden snapshot"
        );
        if !blessing() {
            assert_eq!(
                golden::golden(server.name(), &step),
                Some(expected.as_str()),
                "the embedded {} snapshot of {step} is stale; rebuild",
                server.name()
            );
        }
    }
}

async fn every_step_down_returns_the_schema_before_it(server: Server, test: &str) {
    let Some(tdb) = TestDb::create(server, test).await else {
        return;
    };
    let db = tdb.connect().await;
    let (_t, data) = data_folder();
    up(&db, &data, Target::All).await;
    let all = names();
    for i in (0..all.len()).rev() {
        down(&db, &data, Target::Count(1)).await;
        let live = snapshot::snapshot(&db).await.unwrap();
        let expected = if i == 0 {
            String::new()
        } else {
            golden::golden(server.name(), &all[i - 1])
                .unwrap_or_else(|| panic!("no {} golden for {}", server.name(), all[i - 1]))
                .to_owned()
        };
        assert_eq!(
            live, expected,
            "{server:?}: schema after rolling back {} is not that of the step before",
            all[i]
        );
    }
    let applied = migration::toolkit::history::applied(&db).await.unwrap();
    assert!(
        applied.is_empty(),
        "{server:?}: history not empty after the last down: {applied:?}"
    );
}

/// Inserts one row into `table` with sea-query, so that each server gets
/// its own quoting and placeholders.
async fn insert(db: &DatabaseConnection, table: &str, cells: Vec<(&str, Expr)>) {
    let (cols, vals): (Vec<_>, Vec<_>) = cells.into_iter().unzip();
    let stmt = Query::insert()
        .into_table(Alias::new(table))
        .columns(cols.into_iter().map(Alias::new))
        .values_panic(vals)
        .to_owned();
    db.execute(&stmt)
        .await
        .unwrap_or_else(|e| panic!("inserting into {table}: {e}"));
}

fn text(s: &str) -> Expr {
    Expr::val(s)
}

fn null() -> Expr {
    Expr::val(Option::<String>::None)
}

fn null_int() -> Expr {
    Expr::val(Option::<i32>::None)
}

const UNICODE_ID: &str = "ünïcødé:模型 🦙";
const AWKWARD: &str = "it's \"quoted\"\nand on two lines \\ with a backslash";
/// Above 2^53: a value that a float anywhere on the way would change.
const BIG: i64 = 9_007_199_254_740_993;

/// Rows in every Cortex table, with NULLs, unicode, quotes, newlines and
/// integers at their limits; `engines` ids are left to the server.
async fn fill_every_table(db: &DatabaseConnection) {
    insert(
        db,
        "models",
        vec![
            ("model_id", text("tinyllama:1b")),
            ("author_repo_id", text("cortexso")),
            ("branch_name", text("1b")),
            (
                "path_to_model_yaml",
                text("models/cortex.so/tinyllama/1b/model.yml"),
            ),
            ("model_alias", text("tiny")),
            ("model_format", text("cortexso")),
            (
                "model_source",
                text("https://huggingface.co/cortexso/tinyllama"),
            ),
            ("status", text("downloaded")),
            ("engine", text("llama-cpp")),
            ("metadata", text("{\"size\": 669000000}")),
        ],
    )
    .await;
    insert(
        db,
        "models",
        vec![
            ("model_id", text(UNICODE_ID)),
            ("author_repo_id", null()),
            ("branch_name", text("")),
            ("path_to_model_yaml", null()),
            ("model_alias", text(AWKWARD)),
            ("model_format", null()),
            ("model_source", null()),
            ("status", text("downloadable")),
            ("engine", null()),
            ("metadata", null()),
        ],
    )
    .await;
    for (uuid, hw, sw, activated, priority) in [
        ("GPU-8f2e", 0, 0, 1, Expr::val(0)),
        ("GPU-0001", i32::MAX, i32::MIN, 0, null_int()),
    ] {
        insert(
            db,
            "hardware",
            vec![
                ("uuid", text(uuid)),
                ("type", text("gpu")),
                ("hardware_id", Expr::val(hw)),
                ("software_id", Expr::val(sw)),
                ("activated", Expr::val(activated)),
                ("priority", priority),
            ],
        )
        .await;
    }
    insert(
        db,
        "engines",
        vec![
            ("engine_name", text("llama-cpp")),
            ("type", text("local")),
            ("api_key", null()),
            ("url", null()),
            ("version", text("v0.1.49")),
            ("variant", text("linux-amd64-avx2")),
            ("status", text("Default")),
            ("metadata", null()),
            ("date_created", text("2025-01-01 00:00:00")),
            ("date_updated", text("2025-01-02 00:00:00")),
        ],
    )
    .await;
    insert(
        db,
        "engines",
        vec![
            ("engine_name", text("openai")),
            ("type", text("remote")),
            ("api_key", text("sk-tëst")),
            ("url", text("https://api.openai.com")),
            ("version", null()),
            ("variant", text("all-platforms")),
            ("status", text("Default")),
            ("metadata", text("{\"a\": 1}")),
            ("date_created", text("2025-01-03 00:00:00")),
            ("date_updated", text("2025-01-04 00:00:00")),
        ],
    )
    .await;
    for (id, created, bytes) in [
        ("file-01JABCDEF", Expr::val(1_735_689_600i64), BIG),
        ("file-01JABCDEG", Expr::val(Option::<i64>::None), i64::MAX),
    ] {
        insert(
            db,
            "files",
            vec![
                ("id", text(id)),
                ("object", text("file")),
                ("purpose", text("assistants")),
                ("filename", text(UNICODE_ID)),
                ("created_at", created),
                ("bytes", Expr::val(bytes)),
            ],
        )
        .await;
    }
}

const TABLES: [&str; 5] = ["models", "hardware", "engines", "files", "schema_version"];

async fn round_trip_down_to_nothing_and_up_keeps_every_row_and_value(server: Server, test: &str) {
    let Some(tdb) = TestDb::create(server, test).await else {
        return;
    };
    let db = tdb.connect().await;
    let (_t, data) = data_folder();
    up(&db, &data, Target::All).await;
    fill_every_table(&db).await;
    let before = server_rows::rows_of(&db, &TABLES).await;
    assert_eq!(before["models"].len(), 2);
    assert!(
        before["files"]
            .iter()
            .flatten()
            .any(|(_, v)| v.ends_with(&format!(":{BIG}"))),
        "{server:?}: {:?}",
        before["files"]
    );

    down(&db, &data, Target::Nothing).await;
    let tables = server_rows::table_names(&db).await;
    for t in ["models", "hardware", "engines", "files"] {
        assert!(
            !tables.contains(&t.to_owned()),
            "{server:?}: {t} still exists after down to nothing: {tables:?}"
        );
    }
    assert!(
        tables.iter().any(|t| t.starts_with("cortex_archive_")),
        "{server:?}: nothing archived: {tables:?}"
    );

    up(&db, &data, Target::All).await;
    let after = server_rows::rows_of(&db, &TABLES).await;
    assert_eq!(before, after, "{server:?}: rows changed in the round trip");
    let left: Vec<String> = server_rows::table_names(&db)
        .await
        .into_iter()
        .filter(|n| n.starts_with("cortex_archive_"))
        .collect();
    assert!(
        left.is_empty(),
        "{server:?}: archives left after they were restored: {left:?}"
    );
}

/// The columns of each table that PostgreSQL keeps as `integer` (int4).
fn int4_columns(table: &str) -> &'static [&'static str] {
    match table {
        "hardware" => &["hardware_id", "software_id", "activated", "priority"],
        "engines" => &["id"],
        "schema_version" => &["version"],
        _ => &[],
    }
}

/// Every row of `E` through the entity, ordered by `order`. The entities
/// are what sea-orm-cli generates from SQLite, where INTEGER is 64-bit, so
/// their integers are `i64`; PostgreSQL's `integer` columns decode only as
/// `i32`. There, the plain read is checked to fail (so this goes when the
/// schema changes) and the entity's select casts those columns to bigint.
async fn entity_rows<E>(db: &DatabaseConnection, server: Server, order: E::Column) -> Vec<E::Model>
where
    E: EntityTrait,
    E::Model: FromQueryResult,
{
    let int4 = int4_columns(E::default().table_name());
    let plain = E::find().order_by_asc(order);
    if server != Server::Postgres || int4.is_empty() {
        return plain
            .all(db)
            .await
            .unwrap_or_else(|e| panic!("{server:?}: {} entity: {e}", E::default().table_name()));
    }
    assert!(
        plain.all(db).await.is_err(),
        "{} int4 columns decode as i64 now: read them plainly",
        E::default().table_name()
    );
    let mut cast = E::find().select_only();
    for c in E::Column::iter() {
        cast = if int4.contains(&c.as_str()) {
            cast.column_as(Expr::col(c).cast_as("bigint"), c.as_str())
        } else {
            cast.column(c)
        };
    }
    cast.order_by_asc(order)
        .into_model::<E::Model>()
        .all(db)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{server:?}: {} entity, cast: {e}",
                E::default().table_name()
            )
        })
}

async fn an_engine_added_after_a_round_trip_gets_a_fresh_id(server: Server, test: &str) {
    let Some(tdb) = TestDb::create(server, test).await else {
        return;
    };
    let db = tdb.connect().await;
    let (_t, data) = data_folder();
    up(&db, &data, Target::All).await;
    fill_every_table(&db).await;
    down(&db, &data, Target::Nothing).await;
    up(&db, &data, Target::All).await;
    // The table came back from its archive: its counter must have come
    // with it, or this insert collides with a kept row's id.
    insert(
        &db,
        "engines",
        vec![
            ("engine_name", text("onnxruntime")),
            ("variant", text("linux-amd64-avx2")),
        ],
    )
    .await;
    let ids: Vec<i64> =
        entity_rows::<entity::engines::Entity>(&db, server, entity::engines::Column::Id)
            .await
            .iter()
            .map(|e| e.id)
            .collect();
    assert_eq!(ids, vec![1, 2, 3], "{server:?}");
}

async fn entities_read_the_rows_the_migrations_stored(server: Server, test: &str) {
    let Some(tdb) = TestDb::create(server, test).await else {
        return;
    };
    let db = tdb.connect().await;
    let (_t, data) = data_folder();
    up(&db, &data, Target::All).await;
    fill_every_table(&db).await;
    // An engine row as cortex.cpp writes it: dates left to their default.
    insert(
        &db,
        "engines",
        vec![
            ("engine_name", text("onnxruntime")),
            ("type", text("local")),
            ("variant", text("linux-amd64-avx2")),
        ],
    )
    .await;

    let models = entity::models::Entity::find()
        .order_by_asc(entity::models::Column::ModelId)
        .all(&db)
        .await
        .unwrap_or_else(|e| panic!("{server:?}: models entity: {e}"));
    assert_eq!(
        models,
        vec![
            entity::models::Model {
                model_id: "tinyllama:1b".into(),
                author_repo_id: Some("cortexso".into()),
                branch_name: Some("1b".into()),
                path_to_model_yaml: Some("models/cortex.so/tinyllama/1b/model.yml".into()),
                model_alias: Some("tiny".into()),
                model_format: Some("cortexso".into()),
                model_source: Some("https://huggingface.co/cortexso/tinyllama".into()),
                status: Some("downloaded".into()),
                engine: Some("llama-cpp".into()),
                metadata: Some("{\"size\": 669000000}".into()),
                weights_bytes: None,
            },
            entity::models::Model {
                model_id: UNICODE_ID.into(),
                author_repo_id: None,
                branch_name: Some(String::new()),
                path_to_model_yaml: None,
                model_alias: Some(AWKWARD.into()),
                model_format: None,
                model_source: None,
                status: Some("downloadable".into()),
                engine: None,
                metadata: None,
                weights_bytes: None,
            },
        ],
        "{server:?}"
    );

    let hardware =
        entity_rows::<entity::hardware::Entity>(&db, server, entity::hardware::Column::Uuid).await;
    assert_eq!(
        hardware,
        vec![
            entity::hardware::Model {
                uuid: "GPU-0001".into(),
                r#type: "gpu".into(),
                hardware_id: i32::MAX.into(),
                software_id: i32::MIN.into(),
                activated: 0,
                priority: None,
            },
            entity::hardware::Model {
                uuid: "GPU-8f2e".into(),
                r#type: "gpu".into(),
                hardware_id: 0,
                software_id: 0,
                activated: 1,
                priority: Some(0),
            },
        ],
        "{server:?}"
    );

    let files = entity::files::Entity::find()
        .order_by_asc(entity::files::Column::Id)
        .all(&db)
        .await
        .unwrap_or_else(|e| panic!("{server:?}: files entity: {e}"));
    let file = |id: &str, created_at, bytes| entity::files::Model {
        id: id.into(),
        object: Some("file".into()),
        purpose: Some("assistants".into()),
        filename: Some(UNICODE_ID.into()),
        created_at,
        bytes,
    };
    assert_eq!(
        files,
        vec![
            file("file-01JABCDEF", Some(1_735_689_600), Some(BIG)),
            file("file-01JABCDEG", None, Some(i64::MAX)),
        ],
        "{server:?}"
    );

    let engines =
        entity_rows::<entity::engines::Entity>(&db, server, entity::engines::Column::Id).await;
    assert_eq!(
        engines
            .iter()
            .map(|e| (e.id, e.engine_name.as_deref(), e.api_key.as_deref()))
            .collect::<Vec<_>>(),
        vec![
            (1, Some("llama-cpp"), None),
            (2, Some("openai"), Some("sk-tëst")),
            (3, Some("onnxruntime"), None)
        ],
        "{server:?}"
    );
    assert_eq!(
        engines[0].date_created.as_deref(),
        Some("2025-01-01 00:00:00")
    );
    // The default: a timestamp, however the server prints it.
    let defaulted = engines[2].date_created.clone().unwrap_or_default();
    assert!(
        defaulted.len() >= 19 && defaulted[..4].bytes().all(|b| b.is_ascii_digit()),
        "{server:?}: date_created default is {defaulted:?}"
    );

    let versions = entity_rows::<entity::schema_version::Entity>(
        &db,
        server,
        entity::schema_version::Column::Version,
    )
    .await;
    assert_eq!(
        versions,
        [entity::schema_version::Model { version: 3 }],
        "{server:?}"
    );

    // And what the entities write, the schema takes.
    use sea_orm::{ActiveModelTrait, Set};
    entity::models::ActiveModel {
        model_id: Set("written-by-entity".into()),
        weights_bytes: Set(Some(BIG)),
        ..Default::default()
    }
    .insert(&db)
    .await
    .unwrap_or_else(|e| panic!("{server:?}: inserting through the entity: {e}"));
    let back = entity::models::Entity::find_by_id("written-by-entity")
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.weights_bytes, Some(BIG), "{server:?}");
}

const YML: &str = "models/cortex.so/x/main/model.yml";
const WEIGHTS: &str = "models/cortex.so/x/main/model.gguf";
const ENGINE_FILE: &str = "linux-amd64-avx2/v0.1.49/libengine.so";

/// A data folder as cortex.cpp v1 left it: a legacy engine folder and a
/// model whose model.yml names its weights by absolute path.
fn lay_out_legacy_folder(data: &Path) -> u64 {
    let engine = data.join("engines/cortex.llamacpp").join(ENGINE_FILE);
    std::fs::create_dir_all(engine.parent().unwrap()).unwrap();
    std::fs::write(&engine, b"\x7fELF not really a library").unwrap();
    std::fs::write(
        data.join("engines/cortex.llamacpp/linux-amd64-avx2/v0.1.49/version.txt"),
        "name: linux-amd64-avx2\nversion: v0.1.49\n",
    )
    .unwrap();
    let weights = data.join(WEIGHTS);
    std::fs::create_dir_all(weights.parent().unwrap()).unwrap();
    let bytes: Vec<u8> = (0..12_345u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&weights, &bytes).unwrap();
    std::fs::write(
        data.join(YML),
        format!(
            "# BEGIN GENERAL GGUF METADATA\n\
             id: x # Model ID\n\
             model: x:main\n\
             name: x\n\
             files:             # Can be relative OR absolute local file path\n  \
             - {}\n\
             # END GENERAL GGUF METADATA\n\
             engine: cortex.llamacpp # engine to run model\n\
             ctx_len: 4096\n",
            weights.display()
        ),
    )
    .unwrap();
    bytes.len() as u64
}

async fn folder_steps_move_files_and_rows_and_down_gives_back_every_byte(
    server: Server,
    test: &str,
) {
    let Some(tdb) = TestDb::create(server, test).await else {
        return;
    };
    let db = tdb.connect().await;
    let (_t, data) = data_folder();
    let v3 = names()[3].clone();
    assert!(v3.ends_with("_cortex_v3"), "{v3}");
    up(&db, &data, Target::To(v3.clone())).await;

    let size = lay_out_legacy_folder(&data);
    let abs_yml = data.join(YML).display().to_string();
    insert(
        &db,
        "models",
        vec![
            ("model_id", text("x:main")),
            ("author_repo_id", text("cortexso")),
            ("branch_name", text("main")),
            ("path_to_model_yaml", text(&abs_yml)),
            ("model_alias", text("x:main")),
            ("model_format", text("cortexso")),
            ("model_source", text("https://huggingface.co/cortexso/x")),
            ("status", text("downloaded")),
            ("engine", text("cortex.llamacpp")),
            ("metadata", null()),
        ],
    )
    .await;
    let rows_before = server_rows::rows_of(&db, &TABLES).await;
    let tree_before = common::tree(&data);
    let yml_before = std::fs::read_to_string(data.join(YML)).unwrap();

    let report = up(&db, &data, Target::All).await;
    assert_eq!(report.steps.len(), 5, "{server:?}: {report:?}");
    let model = entity::models::Entity::find_by_id("x:main")
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(model.path_to_model_yaml.as_deref(), Some(YML), "{server:?}");
    assert_eq!(model.engine.as_deref(), Some("llama-cpp"), "{server:?}");
    assert_eq!(model.weights_bytes, Some(size as i64), "{server:?}");

    let tree_after = common::tree(&data);
    // Engine folders stay where cortex.cpp loads them.
    assert!(!data.join("engines/llama-cpp").exists(), "{server:?}");
    assert_eq!(
        tree_after.get(&format!("engines/cortex.llamacpp/{ENGINE_FILE}")),
        tree_before.get(&format!("engines/cortex.llamacpp/{ENGINE_FILE}")),
        "{server:?}: the engine folder changed"
    );
    assert_eq!(tree_after.get(WEIGHTS), tree_before.get(WEIGHTS));
    let yml_after = std::fs::read_to_string(data.join(YML)).unwrap();
    let changed: Vec<(&str, &str)> = yml_before
        .lines()
        .zip(yml_after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(yml_before.lines().count(), yml_after.lines().count());
    assert_eq!(
        changed,
        vec![
            (
                format!("  - {}", data.join(WEIGHTS).display()).as_str(),
                format!("  - {WEIGHTS}").as_str()
            ),
            (
                "engine: cortex.llamacpp # engine to run model",
                "engine: llama-cpp # engine to run model"
            ),
        ],
        "{server:?}"
    );

    down(&db, &data, Target::To(v3)).await;
    assert_eq!(
        server_rows::rows_of(&db, &TABLES).await,
        rows_before,
        "{server:?}: rows not given back by the down"
    );
    assert!(
        common::tree(&data) == tree_before,
        "{server:?}: the data folder is not byte for byte as before: {:?}",
        common::tree(&data).keys().collect::<Vec<_>>()
    );
}

/// A folder migrated by the engine rename's first definition (which renamed
/// local engine rows and moved engine folders): the repair step names the
/// row by repository again, keyed by the INTEGER id the server numbers, and
/// moves the folder back; `down` restores both.
async fn engine_rows_and_folders_renamed_before_the_fix_come_back_and_down_restores_them(
    server: Server,
    test: &str,
) {
    let Some(tdb) = TestDb::create(server, test).await else {
        return;
    };
    let db = tdb.connect().await;
    let (_t, data) = data_folder();
    let v3 = names()[3].clone();
    up(&db, &data, Target::To(v3.clone())).await;
    lay_out_legacy_folder(&data);
    insert(
        &db,
        "engines",
        vec![
            ("engine_name", text("cortex.llamacpp")),
            ("type", text("local")),
            ("version", text("v0.1.49")),
            ("variant", text("linux-amd64-avx2")),
            ("status", text("Default")),
        ],
    )
    .await;
    let rows_before = server_rows::rows_of(&db, &["engines"]).await;
    let tree_before = common::tree(&data);
    let engine_names = || async {
        entity_rows::<entity::engines::Entity>(&db, server, entity::engines::Column::Id)
            .await
            .into_iter()
            .map(|e| e.engine_name)
            .collect::<Vec<Option<String>>>()
    };

    Runner::new(&db, first_engine_rename::steps_before_fix(), options(&data))
        .await
        .unwrap()
        .up(Target::All)
        .await
        .unwrap();
    first_engine_rename::write_first_scheme_checksums(&db).await;
    assert_eq!(
        engine_names().await,
        vec![Some("llama-cpp".to_owned())],
        "{server:?}"
    );
    assert!(data.join("engines/llama-cpp").exists(), "{server:?}");

    up(&db, &data, Target::All).await;
    assert_eq!(
        engine_names().await,
        vec![Some("cortex.llamacpp".to_owned())],
        "{server:?}"
    );
    assert!(!data.join("engines/llama-cpp").exists(), "{server:?}");
    assert!(
        data.join("engines/cortex.llamacpp")
            .join(ENGINE_FILE)
            .is_file()
    );

    down(&db, &data, Target::To(v3)).await;
    assert_eq!(
        server_rows::rows_of(&db, &["engines"]).await,
        rows_before,
        "{server:?}: the engines row is not as before"
    );
    assert!(
        common::tree(&data) == tree_before,
        "{server:?}: files differ"
    );
}

/// The checksum `cortex_migrate_steps` holds for `step`.
async fn stored_checksum(db: &DatabaseConnection, step: &str) -> String {
    use sea_orm::sea_query::ExprTrait;
    let q = Query::select()
        .column(Alias::new("checksum"))
        .from(Alias::new("cortex_migrate_steps"))
        .and_where(Expr::col(Alias::new("version")).eq(step))
        .to_owned();
    db.query_one(&q)
        .await
        .unwrap()
        .expect("the step has a row")
        .try_get("", "checksum")
        .unwrap()
}

/// A server database taken to v3 by `cortex_v3`'s first definition (whose
/// `down` left catalogue rows in place): this binary records the current
/// checksum, verifies clean, and its `down` below v3 keeps the catalogue
/// row aside and its `up` puts it back.
async fn cortex_v3s_first_definition_is_superseded_and_its_catalogue_row_goes_aside_below_it(
    server: Server,
    test: &str,
) {
    use migration::m20261203_000002_catalogue_rows_kept_aside::first_definition_checksum;
    let Some(tdb) = TestDb::create(server, test).await else {
        return;
    };
    let db = tdb.connect().await;
    let (_t, data) = data_folder();
    let names = names();
    let old: Vec<_> = Migrator::steps().into_iter().take(4).collect();
    Runner::new(
        &db,
        first_engine_rename::first_cortex_v3::with_first_cortex_v3(old),
        options(&data),
    )
    .await
    .unwrap()
    .up(Target::All)
    .await
    .unwrap();
    // As the old main stored it: the first checksum scheme.
    first_engine_rename::write_first_scheme_checksums(&db).await;
    let first = first_definition_checksum(server.backend()).unwrap();
    assert_eq!(stored_checksum(&db, &names[3]).await, first, "{server:?}");
    fill_every_table(&db).await;

    let report = up(&db, &data, Target::All).await;
    assert!(
        format!("{report:?}").contains("first definition"),
        "{server:?}: {report:?}"
    );
    let current = migration::toolkit::step::checksum(Migrator::steps()[3].as_ref());
    assert_eq!(stored_checksum(&db, &names[3]).await, current, "{server:?}");
    // The rows name files this data folder does not have (the paths check
    // says so); the history is what this test is about.
    let verify = cli(&tdb.url, &data, &["verify"], None);
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("checksums match this binary"),
        "{server:?}: {}",
        show(&verify)
    );

    let before = server_rows::rows_of(&db, &TABLES).await;
    down(&db, &data, Target::To(names[2].clone())).await;
    let models = server_rows::rows_of(&db, &["models"]).await;
    assert_eq!(models["models"].len(), 1, "{server:?}: {models:?}");
    assert!(
        !format!("{models:?}").contains("downloadable"),
        "{server:?}: {models:?}"
    );
    up(&db, &data, Target::All).await;
    assert_eq!(
        server_rows::rows_of(&db, &TABLES).await,
        before,
        "{server:?}"
    );
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn binary_up_serves_as_a_deploy_step(server: Server, test: &str) {
    let Some(tdb) = TestDb::create(server, test).await else {
        return;
    };
    let (_t, data) = data_folder();

    let first = cli(&tdb.url, &data, &["up"], None);
    assert!(first.status.success(), "{server:?}: {}", show(&first));
    for step in names() {
        assert!(
            String::from_utf8_lossy(&first.stdout).contains(&format!("applied       {step}")),
            "{server:?}: {step} not applied: {}",
            show(&first)
        );
    }

    let second = cli(&tdb.url, &data, &["up"], None);
    assert!(second.status.success(), "{server:?}: {}", show(&second));
    assert!(
        String::from_utf8_lossy(&second.stdout).contains("Nothing to do"),
        "{server:?}: {}",
        show(&second)
    );

    let status = cli(&tdb.url, &data, &["status", "--json"], None);
    assert!(status.status.success(), "{server:?}: {}", show(&status));
    let json: serde_json::Value = serde_json::from_slice(&status.stdout)
        .unwrap_or_else(|e| panic!("{server:?}: status --json: {e}: {}", show(&status)));
    assert_eq!(json["backend"], server.name());
    assert_eq!(json["pending"], serde_json::json!([]), "{json}");
    assert_eq!(
        json["data_version"].as_str(),
        names().last().map(String::as_str)
    );
    let states: Vec<&str> = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["applied"; names().len()], "{json}");

    let verify = cli(&tdb.url, &data, &["verify"], None);
    assert!(verify.status.success(), "{server:?}: {}", show(&verify));
    // It compared, rather than finding nothing to compare with.
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("matches the golden snapshot"),
        "{server:?}: {}",
        show(&verify)
    );
}

async fn verify_reports_a_column_added_outside_the_migrations(server: Server, test: &str) {
    let Some(tdb) = TestDb::create(server, test).await else {
        return;
    };
    let (_t, data) = data_folder();
    let db = tdb.connect().await;
    up(&db, &data, Target::All).await;
    db.execute_unprepared("ALTER TABLE models ADD COLUMN added_by_hand TEXT")
        .await
        .unwrap();

    let verify = cli(&tdb.url, &data, &["verify"], None);
    assert_eq!(
        verify.status.code(),
        Some(4),
        "{server:?}: {}",
        show(&verify)
    );
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("+   column added_by_hand TEXT"),
        "{server:?}: {}",
        show(&verify)
    );
}

async fn boot_check_refuses_an_empty_database_and_accepts_a_migrated_one(
    server: Server,
    test: &str,
) {
    let Some(tdb) = TestDb::create(server, test).await else {
        return;
    };
    let (_t, data) = data_folder();
    let check = || {
        cortex_migrate::Boot::url(tdb.url.clone(), Some(data.clone()))
            .policy(cortex_migrate::Policy::Check)
            .open()
    };

    match check().await {
        Err(cortex_migrate::Error::Behind { pending, .. }) => {
            assert_eq!(pending, names(), "{server:?}")
        }
        other => panic!("{server:?}: check on an empty database gave {other:?}"),
    }

    let db = tdb.connect().await;
    up(&db, &data, Target::All).await;
    let booted = check()
        .await
        .unwrap_or_else(|e| panic!("{server:?}: check after up: {e}"));
    assert!(booted.report.is_none(), "{server:?}: check migrated");
    // The connection it hands back is ready for the entities.
    assert!(
        entity::models::Entity::find()
            .all(&booted.db)
            .await
            .unwrap()
            .is_empty()
    );
}
