//! A step that fails half-way leaves the database and the data folder
//! exactly as they were after the step before it, on every path: a plain
//! `Migrator::up`, the runner, and the `cortex-migrate` binary.

mod common;
#[path = "support/failing.rs"]
mod failing;

use cortex_migrate::connect::{self, Place};
use failing::FailingMigrator;
use migration::toolkit::runner::{Options, Runner, Target};
use migration::toolkit::{MigrateError, StepList};
use sea_orm_migration::MigratorTrait;

#[tokio::test]
async fn failing_second_step_via_migrator_up_leaves_the_first_steps_state() {
    let t = failing::folder();
    let db = connect::open(&Place::Folder(t.path().to_path_buf()), true)
        .await
        .unwrap();
    FailingMigrator::up(&db, Some(1)).await.unwrap();
    let rows_after_first = common::db_rows(&db).await;
    let files_after_first = common::tree(t.path());

    let err = FailingMigrator::up(&db, None).await.unwrap_err();
    assert!(
        err.to_string().contains("fails half-way on purpose"),
        "{err}"
    );

    assert_eq!(
        common::db_rows(&db).await,
        rows_after_first,
        "database changed"
    );
    assert_eq!(
        common::tree(t.path()),
        files_after_first,
        "data folder changed"
    );
    assert_eq!(common::applied_versions(&db).await, [failing::FIRST]);
    assert!(
        !t.path().join(".cortex-migrate/journal").exists(),
        "journal left behind"
    );
}

#[tokio::test]
async fn failing_step_error_names_the_step_and_can_be_retried() {
    let t = failing::folder();
    let db = connect::open(&Place::Folder(t.path().to_path_buf()), true)
        .await
        .unwrap();
    let mut r = Runner::new(&db, FailingMigrator::steps(), Options::default())
        .await
        .unwrap();
    let err = r.up(Target::All).await.unwrap_err();
    match &err {
        MigrateError::Step { step, .. } => assert_eq!(step, failing::SECOND),
        other => panic!("unexpected error {other}"),
    }
    // Unlike plain sea-orm-migration on SQLite, running again meets the same
    // clean state (no "duplicate column name").
    let again = r.up(Target::All).await.unwrap_err();
    assert!(
        again.to_string().contains("fails half-way on purpose"),
        "{again}"
    );
}

#[tokio::test]
async fn binary_step_failing_half_way_leaves_the_step_before() {
    // Learn the boundaries of a clean run: the error goes at the second SQL
    // statement of the second step.
    let probe = tempfile::tempdir().unwrap();
    let log = probe.path().join("points.log");
    let data = probe.path().join("data");
    assert!(
        common::cli_with(&data, &["up"], None, Some(&log))
            .status
            .success()
    );
    let points = std::fs::read_to_string(&log).unwrap();
    let mut begun = 0;
    let mut sql_in_second = 0;
    let mut at = None;
    for line in points.lines() {
        let (n, label) = line.split_once(' ').unwrap();
        if label == "step: transaction begun" {
            begun += 1;
        } else if begun == 2 && label == "sql: before statement" {
            sql_in_second += 1;
            if sql_in_second == 2 {
                at = Some(n.to_owned());
                break;
            }
        }
    }
    let at = at.expect("no second statement in the second step");

    let t = tempfile::tempdir().unwrap();
    let d = t.path().join("data");
    let out = common::cli_with(&d, &["up"], Some(format!("{at}:error")), None);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim().lines().count(),
        1,
        "more than one line on stderr: {stderr}"
    );
    assert!(stderr.contains("m20241010_000001_cortex_v1"), "{stderr}");

    let db = connect::open(&Place::Folder(d.clone()), false)
        .await
        .unwrap();
    let first = migration::Migrator::steps()[0].name().to_owned();
    assert_eq!(common::applied_versions(&db).await, [first.as_str()]);
    assert_eq!(
        migration::toolkit::snapshot::sqlite_snapshot(&db)
            .await
            .unwrap(),
        migration::golden::golden("sqlite", &first).unwrap()
    );
}
