//! Databases written by cortex.cpp itself are adopted, not recreated: the
//! steps cortex.cpp already ran are recorded as applied, half-finished
//! upgrades are completed, every row is kept, and the result has exactly
//! the schema of a database migrated from empty. States no cortex.cpp
//! could leave are refused, and the database stays as it was.

mod common;

use std::collections::BTreeMap;

use common::{Fixture, TableRows};
use migration::Migrator;
use migration::golden;
use migration::toolkit::runner::{Options, Report, Runner, Target};
use migration::toolkit::{MigrateError, StepList, snapshot};

const CORTEX_TABLES: [&str; 5] = ["schema_version", "models", "hardware", "engines", "files"];

/// The schema steps end at cortex.cpp v3; the folder steps after it are
/// tested in `folder_steps.rs`.
const CORTEX_STEPS: usize = 4;

async fn up(fx: &Fixture) -> Result<Report, MigrateError> {
    let db = fx.connect().await;
    Runner::new(&db, Migrator::steps(), Options::default())
        .await?
        .up(Target::To(last_step()))
        .await
}

fn last_step() -> String {
    Migrator::steps()[CORTEX_STEPS - 1].name().to_owned()
}

fn step_names(n: usize) -> Vec<String> {
    Migrator::steps()
        .iter()
        .take(n)
        .map(|s| s.name().to_owned())
        .collect()
}

/// Every (column, value) of every row before is still in the same row
/// after (rows matched by their first column, the key).
fn assert_rows_kept(before: &BTreeMap<String, TableRows>, after: &BTreeMap<String, TableRows>) {
    for (table, rows) in before {
        if table == "schema_version" {
            continue;
        }
        let after_rows = after
            .get(table)
            .unwrap_or_else(|| panic!("table {table} is gone"));
        assert_eq!(rows.len(), after_rows.len(), "row count of {table} changed");
        for row in rows {
            let key = &row[0];
            let found = after_rows
                .iter()
                .find(|r| r.contains(key))
                .unwrap_or_else(|| panic!("row {key:?} of {table} is gone"));
            for cell in row {
                assert!(
                    found.contains(cell),
                    "{table} row {key:?}: {cell:?} changed; now {found:?}"
                );
            }
        }
    }
}

/// The files of a folder, the database itself left out.
fn files(dir: &std::path::Path) -> BTreeMap<String, String> {
    let mut t = common::tree(dir);
    t.retain(|k, _| !k.ends_with("cortex.db"));
    t
}

async fn assert_adopts(fx: Fixture, adopted: usize, what: &str) {
    let db = fx.connect().await;
    let rows_before = common::db_rows_of(&db, &CORTEX_TABLES).await;
    let files_before = files(&fx.data);
    let home_before = files(&fx.home);

    let report = up(&fx).await.unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(report.adopted, step_names(adopted), "{what}: adopted steps");
    let ran: Vec<&str> = report.steps.iter().map(|s| s.step.as_str()).collect();
    assert_eq!(
        ran.len(),
        CORTEX_STEPS - adopted,
        "{what}: steps run {ran:?}"
    );

    assert_eq!(
        snapshot::sqlite_snapshot(&db).await.unwrap(),
        golden::golden("sqlite", &last_step()).unwrap(),
        "{what}: adopted schema differs from the one made from empty"
    );
    let rows_after = common::db_rows_of(&db, &CORTEX_TABLES).await;
    assert_rows_kept(&rows_before, &rows_after);
    assert_eq!(
        rows_after["schema_version"],
        vec![vec![("version".to_owned(), "integer:3".to_owned())]],
        "{what}: schema_version must say 3, as cortex.cpp would"
    );
    assert!(
        files(&fx.data) == files_before,
        "{what}: schema steps touched files"
    );
    assert!(
        files(&fx.home) == home_before,
        "{what}: files outside changed"
    );

    // A second run finds nothing to do.
    let again = up(&fx).await.unwrap();
    assert!(
        again.steps.is_empty() && again.adopted.is_empty(),
        "{what}: second run did {again:?}"
    );
}

#[tokio::test]
async fn upgraded_cortex_folders_v0_to_v3_are_adopted_and_completed() {
    for v in 0..=3u8 {
        assert_adopts(
            common::cortex_folder(v).await,
            v as usize + 1,
            &format!("upgraded v{v}"),
        )
        .await;
    }
}

#[tokio::test]
async fn fresh_install_cortex_folders_v0_to_v3_are_adopted_and_completed() {
    for v in 0..=3u8 {
        assert_adopts(
            common::cortex_folder_fresh_install(v).await,
            v as usize + 1,
            &format!("fresh install v{v}"),
        )
        .await;
    }
}

#[tokio::test]
async fn half_added_v1_columns_are_completed_by_the_v1_step() {
    for added in 0..=5 {
        // 0..4 of the model columns, then also the engines table.
        let complete = added == 5;
        let adopted = if complete { 2 } else { 1 };
        assert_adopts(
            common::half_added(1, added).await,
            adopted,
            &format!("v1 half-added {added}"),
        )
        .await;
    }
}

#[tokio::test]
async fn half_added_v2_columns_are_completed_by_the_v2_step() {
    for added in 0..=2 {
        let adopted = if added == 2 { 3 } else { 2 };
        assert_adopts(
            common::half_added(2, added).await,
            adopted,
            &format!("v2 half-added {added}"),
        )
        .await;
    }
}

#[tokio::test]
async fn empty_schema_version_is_adopted_by_the_tables_found() {
    for v in 0..=3u8 {
        assert_adopts(
            common::with_schema_version_rows(v, &[]).await,
            v as usize + 1,
            &format!("v{v} with empty schema_version"),
        )
        .await;
    }
}

#[tokio::test]
async fn several_schema_version_rows_are_adopted() {
    assert_adopts(
        common::with_schema_version_rows(2, &[0, 1, 2]).await,
        3,
        "rows 0,1,2",
    )
    .await;
    assert_adopts(
        common::with_schema_version_rows(3, &[3, 0]).await,
        4,
        "rows 3,0",
    )
    .await;
}

#[tokio::test]
async fn early_cortex_tables_are_rebuilt_to_their_final_form() {
    assert_adopts(common::early_variants().await, 1, "early variants").await;
}

/// Runs `up` on a fixture that must be refused; checks the message and that
/// neither the database nor any file changed.
async fn assert_refused(fx: Fixture, needle: &str) {
    let db = fx.connect().await;
    let schema = common::db_schema(&db).await;
    let rows = common::db_rows(&db).await;
    let files = common::tree(&fx.home);
    let db_bytes = common::bytes(&fx.db_path());
    let err = up(&fx).await.unwrap_err();
    assert!(
        err.to_string().contains(needle),
        "expected `{needle}` in: {err}"
    );
    assert!(
        !err.to_string().contains('\n'),
        "message spans lines: {err}"
    );
    assert_eq!(common::db_schema(&db).await, schema);
    assert_eq!(common::db_rows(&db).await, rows);
    assert_eq!(common::tree(&fx.home), files);
    assert_eq!(
        common::bytes(&fx.db_path()),
        db_bytes,
        "cortex.db bytes changed"
    );
}

#[tokio::test]
async fn schema_version_ahead_of_the_tables_is_refused() {
    assert_refused(
        common::with_schema_version_rows(1, &[3]).await,
        "schema_version says v3",
    )
    .await;
}

#[tokio::test]
async fn newer_cortex_cpp_schema_is_refused() {
    assert_refused(
        common::with_schema_version_rows(3, &[4]).await,
        "newer than",
    )
    .await;
    assert_refused(
        common::with_extra_table(3, "CREATE TABLE runs (id TEXT PRIMARY KEY, object TEXT)").await,
        "schema v4",
    )
    .await;
}

#[tokio::test]
async fn tables_cortex_never_made_are_refused() {
    assert_refused(
        common::with_extra_table(
            2,
            "CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)",
        )
        .await,
        "invoices",
    )
    .await;
}

#[tokio::test]
async fn a_later_version_without_the_earlier_one_is_refused() {
    // `files` (v3) on a database that never got v2's columns.
    assert_refused(
        common::with_extra_table(
            1,
            "CREATE TABLE files (id TEXT PRIMARY KEY,object TEXT,purpose TEXT,filename TEXT,created_at INTEGER,bytes INTEGER)",
        )
        .await,
        "is not complete at v2",
    )
    .await;
}

#[tokio::test]
async fn a_column_of_the_wrong_type_is_refused() {
    let fx = common::cortex_folder(1).await;
    {
        let db = fx.connect().await;
        use sea_orm::ConnectionTrait;
        db.execute_unprepared("ALTER TABLE hardware ADD COLUMN priority TEXT")
            .await
            .unwrap();
        db.execute_unprepared("ALTER TABLE models ADD COLUMN metadata TEXT")
            .await
            .unwrap();
    }
    assert_refused(fx, "column priority of table hardware").await;
}

#[tokio::test]
async fn status_reports_a_cortex_cpp_database_without_changing_it() {
    let fx = common::half_added(2, 1).await;
    let db = fx.connect().await;
    let bytes = common::bytes(&fx.db_path());
    let st = Runner::new(&db, Migrator::steps(), Options::default())
        .await
        .unwrap()
        .status()
        .await
        .unwrap();
    let found = st.cortex_cpp.unwrap();
    assert!(found.contains("cortex.cpp schema v1"), "{found}");
    assert!(found.contains("models.metadata"), "{found}");
    assert_eq!(
        st.steps
            .iter()
            .filter(|s| s.state == migration::toolkit::StepState::Adoptable)
            .count(),
        2
    );
    assert_eq!(
        st.pending,
        step_names(Migrator::steps().len())[2..].to_vec()
    );
    assert_eq!(common::bytes(&fx.db_path()), bytes);
    assert!(
        !fx.data.join(".cortex-migrate").exists(),
        "status created state files"
    );
}
