//! Smoke tests of what reads the fixtures in `tests/common`: the digests
//! notice a one-byte or one-value change (and only that), and the
//! migrator's adoption check reads every fixture as the cortex.cpp version
//! it was built as. The fixtures themselves are checked in
//! `tests/fixtures.rs`.

mod common;

use common::*;
use migration::toolkit::MigrateError;
use migration::toolkit::adopt::{CortexCpp, Found, TableForm, inspect};
use sea_orm::ConnectionTrait;

async fn cortex_cpp(fx: &Fixture) -> CortexCpp {
    let conn = fx.connect().await;
    match inspect(&conn).await {
        Ok(Found::CortexCpp(c)) => c,
        other => panic!("inspect did not find a cortex.cpp database: {other:?}"),
    }
}

#[tokio::test]
async fn tree_changes_when_one_byte_of_one_file_changes() {
    let fx = cortex_folder(1).await;
    let before = tree(&fx.data);
    assert_eq!(
        before["models/cortex.so/tinyllama/1b"], "<dir>",
        "folders are listed"
    );
    let weights = fx.data.join("models/cortex.so/tinyllama/1b/model.gguf");
    let mut content = bytes(&weights);
    content[100] ^= 1;
    std::fs::write(&weights, content).expect("write");
    let after = tree(&fx.data);
    let changed: Vec<&String> = before
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert_eq!(changed, ["models/cortex.so/tinyllama/1b/model.gguf"]);
}

#[tokio::test]
async fn tree_skips_the_migrator_folder() {
    let fx = cortex_folder(0).await;
    let before = tree(&fx.data);
    std::fs::create_dir_all(fx.data.join(".cortex-migrate/trash")).expect("mkdir");
    std::fs::write(fx.data.join(".cortex-migrate/journal"), b"x").expect("write");
    assert_eq!(tree(&fx.data), before);
}

#[tokio::test]
async fn db_rows_changes_when_a_value_changes() {
    let fx = cortex_folder(3).await;
    let conn = fx.connect().await;
    let before = db_rows(&conn).await;
    assert_eq!(before["models"].len(), 6);
    assert!(before["hardware"][0].contains(&("priority".to_owned(), "integer:1".to_owned())));
    conn.execute_unprepared("UPDATE hardware SET priority = '1' WHERE priority = 1")
        .await
        .expect("update");
    // Same value, same storage class after INTEGER affinity: no change.
    assert_eq!(db_rows(&conn).await, before);
    conn.execute_unprepared(
        "UPDATE models SET status = 'downloadable' WHERE model_id = 'phi-3:onnx'",
    )
    .await
    .expect("update");
    let after = db_rows(&conn).await;
    assert_ne!(after, before);
    assert_eq!(after["hardware"], before["hardware"]);
    assert_eq!(
        db_rows_of(&conn, &["hardware"]).await["hardware"],
        before["hardware"]
    );
}

#[tokio::test]
async fn db_rows_tells_storage_classes_apart() {
    let fx = cortex_folder(0).await;
    let conn = fx.connect().await;
    let before = db_rows_of(&conn, &["models"]).await;
    // '' and NULL, or '1' and 1, look alike to most readers but not here.
    conn.execute_unprepared("UPDATE models SET branch_name = NULL WHERE branch_name = ''")
        .await
        .expect("update");
    assert_ne!(db_rows_of(&conn, &["models"]).await, before);
}

#[tokio::test]
async fn inspect_finds_cortex_cpp_at_each_fixture_version() {
    for version in 0..=3u8 {
        for fx in [
            cortex_folder(version).await,
            cortex_folder_fresh_install(version).await,
        ] {
            let c = cortex_cpp(&fx).await;
            assert_eq!(c.version, i64::from(version), "{c:?}");
            assert_eq!(c.claimed, vec![i64::from(version)]);
            assert!(c.partial_next.is_empty(), "{c:?}");
            assert_eq!(c.schema_version_table, TableForm::Canonical);
            assert!(!c.hardware_uuid_without_key);
        }
    }
}

#[tokio::test]
async fn inspect_finds_half_added_as_previous_version_with_partial_next() {
    for (version, added) in [(1u8, 1usize), (1, 2), (1, 3), (1, 4), (2, 1)] {
        let c = cortex_cpp(&half_added(version, added).await).await;
        assert_eq!(
            c.version,
            i64::from(version) - 1,
            "{version}/{added}: {c:?}"
        );
        assert_eq!(c.partial_next.len(), added, "{version}/{added}: {c:?}");
        assert_eq!(c.claimed, vec![i64::from(version) - 1]);
    }
}

#[tokio::test]
async fn inspect_finds_complete_but_unrecorded_upgrade_at_new_version() {
    // The DDL finished but cortex.cpp died before writing the version.
    for (version, added) in [(1u8, 5usize), (2, 2), (3, 1)] {
        let c = cortex_cpp(&half_added(version, added).await).await;
        assert_eq!(c.version, i64::from(version), "{c:?}");
        assert_eq!(c.claimed, vec![i64::from(version) - 1]);
    }
}

#[tokio::test]
async fn inspect_reads_early_variants() {
    let c = cortex_cpp(&early_variants().await).await;
    assert_eq!(c.version, 0);
    assert_eq!(c.schema_version_table, TableForm::EarlyVariant);
    assert!(c.hardware_uuid_without_key);
}

#[tokio::test]
async fn inspect_reports_every_schema_version_row() {
    let c = cortex_cpp(&with_schema_version_rows(2, &[0, 1, 2]).await).await;
    assert_eq!((c.version, c.claimed), (2, vec![0, 1, 2]));
    let c = cortex_cpp(&with_schema_version_rows(3, &[]).await).await;
    assert_eq!((c.version, c.claimed), (3, vec![]));
}

#[tokio::test]
async fn inspect_refuses_a_table_cortex_never_made() {
    let fx = with_extra_table(2, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)").await;
    let conn = fx.connect().await;
    match inspect(&conn).await {
        Err(MigrateError::ForeignTables { tables }) => assert_eq!(tables, ["notes"]),
        other => panic!("expected ForeignTables, got {other:?}"),
    }
}
