//! Every step up and down from an empty data folder: the schema after each
//! step is exactly its golden snapshot, downs keep what they drop, and a
//! full round trip keeps every row and every value.
//!
//! `CORTEX_MIGRATE_BLESS=1 cargo test --test steps` rewrites the snapshots.

mod common;
#[path = "support/first_scheme.rs"]
mod first_scheme;

use cortex_migrate::connect::{self, Place};
use migration::Migrator;
use migration::golden;
use migration::toolkit::runner::{Options, Runner, Target};
use migration::toolkit::{Origin, StepList, StoredOrigin, snapshot};
use sea_orm::{ConnectionTrait, DatabaseConnection};

async fn empty_folder() -> (tempfile::TempDir, DatabaseConnection) {
    let t = tempfile::tempdir().unwrap();
    let db = connect::open(&Place::Folder(t.path().to_path_buf()), true)
        .await
        .unwrap();
    (t, db)
}

fn names() -> Vec<String> {
    Migrator::steps()
        .iter()
        .map(|s| s.name().to_owned())
        .collect()
}

fn expected_snapshot(step: &str, live: &str) -> String {
    let path = golden::dir("sqlite").join(format!("{step}.schema"));
    if std::env::var_os("CORTEX_MIGRATE_BLESS").is_some() {
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

async fn up_to(db: &DatabaseConnection, target: Target) {
    Runner::new(db, Migrator::steps(), Options::default())
        .await
        .unwrap()
        .up(target)
        .await
        .unwrap();
}

async fn down_to(db: &DatabaseConnection, target: Target) {
    Runner::new(db, Migrator::steps(), Options::default())
        .await
        .unwrap()
        .down(target)
        .await
        .unwrap();
}

#[tokio::test]
async fn every_step_from_empty_matches_its_golden_snapshot() {
    for step in names() {
        let (_t, db) = empty_folder().await;
        up_to(&db, Target::To(step.clone())).await;
        let live = snapshot::sqlite_snapshot(&db).await.unwrap();
        let expected = expected_snapshot(&step, &live);
        assert_eq!(
            live, expected,
            "schema after {step} differs from its golden snapshot"
        );
        if std::env::var_os("CORTEX_MIGRATE_BLESS").is_none() {
            assert_eq!(
                golden::golden("sqlite", &step),
                Some(expected.as_str()),
                "the embedded snapshot of {step} is stale; rebuild"
            );
        }
    }
}

#[tokio::test]
async fn every_step_down_returns_the_schema_before_it() {
    let (_t, db) = empty_folder().await;
    up_to(&db, Target::All).await;
    let all = names();
    for i in (0..all.len()).rev() {
        down_to(&db, Target::Count(1)).await;
        let live = snapshot::sqlite_snapshot(&db).await.unwrap();
        let expected = if i == 0 {
            String::new()
        } else {
            golden::golden("sqlite", &all[i - 1]).unwrap().to_owned()
        };
        assert_eq!(
            live, expected,
            "schema after rolling back {} is not that of the step before",
            all[i]
        );
    }
    let applied = migration::toolkit::history::applied(&db).await.unwrap();
    assert!(
        applied.is_empty(),
        "history not empty after the last down: {applied:?}"
    );
}

async fn fill_every_table(db: &DatabaseConnection) {
    for sql in [
        "INSERT INTO models (model_id, author_repo_id, branch_name, path_to_model_yaml, model_alias, model_format, \
         model_source, status, engine, metadata) VALUES ('tinyllama:1b', 'cortexso', '1b', 'models/cortex.so/tinyllama/1b/model.yml', \
         'tiny', 'cortexso', 'https://huggingface.co/cortexso/tinyllama', 'downloaded', 'llama-cpp', '{\"size\": 669000000}')",
        "INSERT INTO models (model_id, author_repo_id, branch_name, path_to_model_yaml, model_alias, model_format, \
         model_source, status, engine, metadata) VALUES ('ünïcødé:模型', NULL, '', NULL, NULL, NULL, NULL, 'downloadable', NULL, NULL)",
        "INSERT INTO hardware VALUES ('GPU-8f2e', 'gpu', 0, 0, 1, 0), ('GPU-0001', 'gpu', 1, 1, 0, NULL)",
        "INSERT INTO engines (engine_name, type, api_key, url, version, variant, status, metadata, date_created, date_updated) \
         VALUES ('llama-cpp', 'local', NULL, NULL, 'v0.1.49', 'linux-amd64-avx2', 'Default', NULL, '2025-01-01 00:00:00', '2025-01-02 00:00:00'), \
                ('openai', 'remote', 'sk-test', 'https://api.openai.com', NULL, 'all-platforms', 'Default', '{\"a\": 1}', '2025-01-03 00:00:00', '2025-01-04 00:00:00')",
        "INSERT INTO files VALUES ('file-01JABCDEF', 'file', 'assistants', 'notes.txt', 1735689600, 9007199254740993)",
    ] {
        db.execute_unprepared(sql).await.unwrap();
    }
}

#[tokio::test]
async fn round_trip_down_to_nothing_and_up_keeps_every_row_and_value() {
    let (_t, db) = empty_folder().await;
    up_to(&db, Target::All).await;
    fill_every_table(&db).await;
    let before = common::db_rows_of(
        &db,
        &["models", "hardware", "engines", "files", "schema_version"],
    )
    .await;

    down_to(&db, Target::Nothing).await;
    let tables: Vec<String> = snapshot::sqlite_tables(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    for t in ["models", "hardware", "engines", "files"] {
        assert!(
            !tables.contains(&t.to_owned()),
            "{t} still exists after down to nothing: {tables:?}"
        );
    }
    assert!(
        tables.iter().any(|t| t.starts_with("cortex_archive_")),
        "nothing archived: {tables:?}"
    );

    up_to(&db, Target::All).await;
    let after = common::db_rows_of(
        &db,
        &["models", "hardware", "engines", "files", "schema_version"],
    )
    .await;
    assert_eq!(before, after);
    let left: Vec<String> = snapshot::sqlite_tables(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| n.starts_with("cortex_archive_"))
        .collect();
    assert!(
        left.is_empty(),
        "archives left after they were restored: {left:?}"
    );
}

#[tokio::test]
async fn down_keeps_dropped_columns_in_archive_until_up_restores_them() {
    let (_t, db) = empty_folder().await;
    up_to(&db, Target::All).await;
    fill_every_table(&db).await;
    let v1 = names()[1].clone();
    down_to(&db, Target::To(v1)).await;

    let archived = common::db_rows_of(
        &db,
        &["cortex_archive_v2_models", "cortex_archive_v2_hardware"],
    )
    .await;
    let metadata: Vec<String> = archived["cortex_archive_v2_models"]
        .iter()
        .flat_map(|row| {
            row.iter()
                .filter(|(c, _)| c == "metadata")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert!(
        metadata.contains(&"text:{\"size\": 669000000}".to_owned()),
        "{metadata:?}"
    );
    assert_eq!(archived["cortex_archive_v2_hardware"].len(), 2);
    let files = common::db_rows_of(&db, &["cortex_archive_v3_files"]).await;
    assert_eq!(files["cortex_archive_v3_files"].len(), 1);
}

#[tokio::test]
async fn down_of_a_newer_row_set_keeps_rows_added_between_down_and_up() {
    let (_t, db) = empty_folder().await;
    up_to(&db, Target::All).await;
    fill_every_table(&db).await;
    down_to(&db, Target::To(names()[1].clone())).await; // back to cortex.cpp v1
    // An older Cortex (v1) adds a model while the data is down.
    db.execute_unprepared(
        "INSERT INTO models VALUES ('added-at-v1', NULL, NULL, NULL, NULL, 'local', 'imported', 'downloaded', 'llama-cpp')",
    )
    .await
    .unwrap();
    up_to(&db, Target::All).await;
    let rows = common::db_rows_of(&db, &["models"]).await;
    let ids: Vec<&str> = rows["models"]
        .iter()
        .map(|r| {
            r.iter()
                .find(|(c, _)| c == "model_id")
                .map(|(_, v)| v.as_str())
                .unwrap()
        })
        .collect();
    assert!(ids.contains(&"text:added-at-v1"), "{ids:?}");
    assert!(ids.contains(&"text:tinyllama:1b"), "{ids:?}");
}

#[tokio::test]
async fn migrator_up_called_directly_runs_through_the_cortex_runner() {
    use sea_orm_migration::MigratorTrait;
    let (t, db) = empty_folder().await;
    Migrator::up(&db, None).await.unwrap();
    let applied = migration::toolkit::history::applied(&db).await.unwrap();
    assert_eq!(applied.len(), names().len());
    assert!(
        applied
            .iter()
            .all(|a| a.checksum.is_some() && a.origin == Some(StoredOrigin::Known(Origin::Ran))),
        "steps were not recorded by the cortex runner: {applied:?}"
    );
    // The lock file shows the runner took the folder lock.
    assert!(t.path().join(".cortex-migrate/lock").exists());
    Migrator::down(&db, Some(1)).await.unwrap();
    let applied = migration::toolkit::history::applied(&db).await.unwrap();
    assert_eq!(applied.len(), names().len() - 1);
}

/// Every step accepts the checksum the first scheme recorded for it on each
/// backend. `cortex_v3`'s ops changed since (its down keeps catalogue rows):
/// the first scheme's value of today's ops was never recorded, and its old
/// values are superseded by a step of its own, as the engine rename's first
/// definition is (tests/catalogue_rows.rs, tests/engine_folders.rs).
#[test]
fn first_scheme_checksums_are_accepted_as_superseded() {
    use migration::sea_orm_migration::sea_orm::DbBackend;
    use migration::toolkit::step::{ChecksumMatch, compare_checksum};
    let own_supersession = ["m20250110_000001_cortex_v3"];
    for step in Migrator::steps() {
        if step.name() >= "m20261203_000002" {
            // Added after the scheme changed: nothing was recorded with it.
            continue;
        }
        for backend in [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql] {
            let first = first_scheme::checksum(step.as_ref(), backend);
            let expected = if own_supersession.contains(&step.name()) {
                ChecksumMatch::Changed
            } else {
                ChecksumMatch::Superseded
            };
            assert_eq!(
                compare_checksum(step.as_ref(), &first),
                expected,
                "{} on {backend:?}",
                step.name()
            );
        }
    }
}
