//! The same migrations on PostgreSQL and MariaDB: each step from empty
//! gives its per-backend golden snapshot, each down gives back the step
//! before, a round trip keeps every row, the entities read what the steps
//! made, and the binary and the boot API serve as a deploy step and a
//! check. The folder steps on a server are `tests/server_folders.rs`.
//!
//! Every test runs once per server, on a database of its own, and prints
//! why it skips when `CORTEX_TEST_POSTGRES_URL` / `CORTEX_TEST_MYSQL_URL`
//! is unset. `CORTEX_MIGRATE_BLESS=1 cargo test --test servers` rewrites
//! `migration/snapshots/{postgres,mysql}/`.

mod common;
#[path = "support/server_rows.rs"]
mod server_rows;
#[path = "support/server_steps.rs"]
mod server_steps;
#[path = "support/servers.rs"]
mod servers;

use migration::golden;
use migration::toolkit::runner::Target;
use migration::toolkit::snapshot;
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder};
use server_steps::{
    AWKWARD, BIG, TABLES, UNICODE_ID, data_folder, down, entity_rows, fill_every_table, insert,
    names, on_both_servers, show, text, up,
};
use servers::{Server, TestDb, cli};

on_both_servers!(
    every_step_from_empty_matches_its_golden_snapshot,
    every_step_down_returns_the_schema_before_it,
    round_trip_down_to_nothing_and_up_keeps_every_row_and_value,
    an_engine_added_after_a_round_trip_gets_a_fresh_id,
    entities_read_the_rows_the_migrations_stored,
    binary_up_serves_as_a_deploy_step,
    verify_reports_a_column_added_outside_the_migrations,
    boot_check_refuses_an_empty_database_and_accepts_a_migrated_one,
);

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
