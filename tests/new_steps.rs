//! Adding a step touches no machinery: `tests/support/new_steps.rs` defines
//! a throwaway schema step (a `notes` table, written as ops; its down
//! archives it) and a throwaway folder step (moves `logs/` aside, edits a
//! line of a model.yml, sets a column; its down replays what it recorded)
//! and appends them to the real Cortex steps in a test migrator; this file
//! runs them on a cortex.cpp v3 folder through up, down, a failure
//! half-way, a kill at every boundary of the folder step, and the schema
//! snapshot and checksum checks.
//!
//! The kill test runs this test binary again as a child process (the test
//! `child_runs_the_test_migrator_up`, which does nothing unless
//! `NEW_STEPS_CHILD_DATA` names a data folder), since a fault plan
//! (`CORTEX_MIGRATE_FAULT`) is read once per process.

mod common;
#[path = "support/new_steps.rs"]
mod new_steps;

use std::path::{Path, PathBuf};

use migration::golden;
use migration::toolkit::runner::Target;
use migration::toolkit::step::{ChecksumMatch, checksum, compare_checksum};
use migration::toolkit::{Step, StepList, StepSource, history, snapshot};
use new_steps::{
    NEW_ALIAS, NOTES, Notes, TIDY, TINYLLAMA_YML, TestMigrator, TidyLogs, WithFailingStep,
    WithNewSteps, alias, digest, last_real_step, migrated_v3, notes_bodies, read, runner,
};
use sea_orm::ConnectionTrait;
use sea_orm_migration::prelude::*;

// ---------------------------------------------------------------------------
// Up and down.

#[tokio::test]
async fn the_new_steps_go_up_after_the_real_ones_and_down_to_every_byte_and_row() {
    let fx = migrated_v3().await;
    let before = digest(&fx).await;
    let yml_before = read(&fx, TINYLLAMA_YML);
    let logs_before = common::tree(&fx.data.join("logs"));

    // Up to the end through sea-orm-migration's own entry point.
    let db = fx.connect().await;
    TestMigrator::up(&db, None).await.unwrap();
    let applied = common::applied_versions(&db).await;
    assert_eq!(
        applied[applied.len() - 2..],
        [NOTES.to_owned(), TIDY.to_owned()],
        "{applied:?}"
    );
    assert!(!fx.data.join("logs").exists(), "logs/ was not moved");
    assert_eq!(common::tree(&fx.data.join("logs-archive")), logs_before);
    let yml = read(&fx, TINYLLAMA_YML);
    assert!(yml.contains(&format!("\nname: {NEW_ALIAS}\n")), "{yml}");
    let changed: Vec<(&str, &str)> = yml_before
        .lines()
        .zip(yml.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(
        changed.len(),
        1,
        "more than the name line changed: {changed:?}"
    );
    assert_eq!(alias(&db).await.as_deref(), Some(NEW_ALIAS));
    assert!(notes_bodies(&db).await.is_empty());
    db.execute_unprepared(
        "INSERT INTO notes (model_id, body) VALUES ('tinyllama:1b', 'fast'), ('phi-3:onnx', 'small')",
    )
    .await
    .unwrap();
    db.close().await.unwrap();

    // Down past both: every file and row as before; the notes are kept in
    // their archive.
    let db = fx.connect().await;
    TestMigrator::down(&db, Some(2)).await.unwrap();
    let archive = snapshot::sqlite_tables(&db)
        .await
        .unwrap()
        .into_iter()
        .any(|(t, _)| t == "cortex_archive_n1_notes");
    assert!(archive, "down did not keep the notes in their archive");
    db.close().await.unwrap();
    assert_eq!(digest(&fx).await, before, "down left a difference");
    assert_eq!(read(&fx, TINYLLAMA_YML), yml_before);

    // Up again: the archived notes come back.
    let db = fx.connect().await;
    TestMigrator::up(&db, None).await.unwrap();
    assert_eq!(notes_bodies(&db).await, ["fast", "small"]);
    assert_eq!(alias(&db).await.as_deref(), Some(NEW_ALIAS));
    db.close().await.unwrap();
}

// ---------------------------------------------------------------------------
// Failure and crash recovery.

#[tokio::test]
async fn a_folder_step_failing_after_its_work_leaves_files_and_rows_as_before() {
    let fx = migrated_v3().await;
    let db = fx.connect().await;
    runner(&db, WithFailingStep::steps())
        .await
        .up(Target::To(NOTES.into()))
        .await
        .unwrap();
    db.close().await.unwrap();
    let before = digest(&fx).await;

    let db = fx.connect().await;
    let err = runner(&db, WithFailingStep::steps())
        .await
        .up(Target::All)
        .await
        .expect_err("the failing step succeeded");
    assert!(err.to_string().contains("on purpose"), "{err}");
    db.close().await.unwrap();
    assert_eq!(digest(&fx).await, before, "the failed step left a trace");
    assert!(
        !fx.data.join(".cortex-migrate/journal").exists(),
        "a journal was left behind"
    );

    // The working definition then runs as if nothing had happened.
    let db = fx.connect().await;
    TestMigrator::up(&db, None).await.unwrap();
    assert_eq!(alias(&db).await.as_deref(), Some(NEW_ALIAS));
    db.close().await.unwrap();
}

const CHILD_DATA: &str = "NEW_STEPS_CHILD_DATA";
const CHILD_TEST: &str = "child_runs_the_test_migrator_up";

/// Run as a child process by the crash tests: `up` with the test migrator
/// on the data folder `NEW_STEPS_CHILD_DATA` names, under whatever fault
/// plan the environment sets.
#[tokio::test]
#[ignore = "a child process of the crash tests; does nothing on its own"]
async fn child_runs_the_test_migrator_up() {
    let Some(data) = std::env::var_os(CHILD_DATA) else {
        return;
    };
    let file = PathBuf::from(data).join("cortex.db");
    let db = sea_orm::Database::connect(format!("sqlite://{}?mode=rw", file.display()))
        .await
        .unwrap();
    runner(&db, WithNewSteps::steps())
        .await
        .up(Target::All)
        .await
        .unwrap();
}

/// Runs [`child_runs_the_test_migrator_up`] in a new process.
fn child(data: &Path, fault: Option<String>, log: Option<&Path>) -> std::process::Output {
    let exe = std::env::current_exe().expect("the test binary");
    let mut cmd = std::process::Command::new(exe);
    cmd.args([CHILD_TEST, "--exact", "--ignored", "--nocapture"])
        .env(CHILD_DATA, data)
        .env_remove("CORTEX_MIGRATE_FAULT")
        .env_remove("CORTEX_MIGRATE_FAULT_LOG")
        .env_remove("CORTEX_DATA_DIR")
        .stdin(std::process::Stdio::null());
    if let Some(f) = fault {
        cmd.env("CORTEX_MIGRATE_FAULT", f);
    }
    if let Some(l) = log {
        cmd.env("CORTEX_MIGRATE_FAULT_LOG", l);
    }
    cmd.output().expect("running the child test")
}

/// Breaks (`kill` or `error`) the folder step at every boundary it passes;
/// the next start must leave exactly the state before or after it, and the
/// run can then be completed.
async fn break_the_folder_step_everywhere(mode: &str) {
    let fx = migrated_v3().await;
    common::run_steps(&fx, WithNewSteps::steps(), true, Target::To(NOTES.into())).await;
    let pristine = fx.tmp.path().join("pristine");
    common::copy_tree(&fx.home, &pristine);
    let reset = || {
        std::fs::remove_dir_all(&fx.home).unwrap();
        common::copy_tree(&pristine, &fx.home);
    };
    let before = digest(&fx).await;

    let log = fx.tmp.path().join("points");
    let o = child(&fx.data, None, Some(&log));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stdout));
    let after = digest(&fx).await;
    assert_ne!(before, after);
    let points: Vec<(String, String)> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            let (n, label) = l.split_once(' ').unwrap();
            (n.to_owned(), label.to_owned())
        })
        .collect();
    assert!(
        points.iter().any(|(_, l)| l == "journal: operation done"),
        "the folder step passed no file operation: {points:?}"
    );

    let (mut seen_before, mut seen_after, mut corrupted) = (0, 0, Vec::new());
    for (n, label) in &points {
        reset();
        let o = child(&fx.data, Some(format!("{n}:{mode}")), None);
        if mode == "kill" {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(o.status.signal(), Some(9), "{n} ({label}) did not kill");
        } else {
            assert!(!o.status.success(), "{n} ({label}): the error did not fail");
        }
        // The next start.
        let db = fx.connect().await;
        runner(&db, WithNewSteps::steps())
            .await
            .recover()
            .await
            .unwrap_or_else(|e| panic!("recover after {n} ({label}): {e}"));
        db.close().await.unwrap();
        let d = digest(&fx).await;
        if d == before {
            seen_before += 1;
        } else if d == after {
            seen_after += 1;
        } else {
            corrupted.push(format!("{n} ({label})"));
        }
        // The interrupted run can be completed.
        let db = fx.connect().await;
        runner(&db, WithNewSteps::steps())
            .await
            .up(Target::All)
            .await
            .unwrap_or_else(|e| panic!("finishing after {n} ({label}): {e}"));
        db.close().await.unwrap();
        assert_eq!(digest(&fx).await, after, "completing after {n} ({label})");
    }
    println!(
        "{mode}: {} boundaries, before-state {seen_before}, after-state {seen_after}, corrupted {}",
        points.len(),
        corrupted.len()
    );
    assert!(corrupted.is_empty(), "{mode}: corrupted at {corrupted:?}");
    assert!(
        seen_before > 0 && seen_after > 0,
        "{mode}: a harness that sees only one state proves little"
    );
}

#[tokio::test]
async fn the_folder_step_killed_at_every_boundary_recovers_before_or_after() {
    break_the_folder_step_everywhere("kill").await;
}

#[tokio::test]
async fn the_folder_step_failed_at_every_boundary_is_before_or_after() {
    break_the_folder_step_everywhere("error").await;
}

// ---------------------------------------------------------------------------
// Snapshots and checksums.

#[tokio::test]
async fn the_schema_snapshot_has_notes_after_up_and_is_the_last_real_golden_after_down() {
    let fx = migrated_v3().await;
    let last = last_real_step();
    let expected = golden::golden("sqlite", &last).expect("a golden snapshot of the last step");
    let db = fx.connect().await;
    assert_eq!(snapshot::sqlite_snapshot(&db).await.unwrap(), expected);

    runner(&db, WithNewSteps::steps())
        .await
        .up(Target::All)
        .await
        .unwrap();
    let live = snapshot::sqlite_snapshot(&db).await.unwrap();
    let diff = golden::diff(expected, &live);
    assert!(diff.contains(&"+ table notes".to_owned()), "{diff:?}");
    assert!(
        diff.iter()
            .all(|l| l == "+ table notes" || (l.starts_with("+ ") && l.ends_with("[table notes]"))),
        "the new steps changed more than the notes table: {diff:?}"
    );
    let recorded = history::applied(&db)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.version == NOTES)
        .and_then(|a| a.schema_after);
    assert_eq!(recorded.as_deref(), Some(live.as_str()));

    runner(&db, WithNewSteps::steps())
        .await
        .down(Target::To(last))
        .await
        .unwrap();
    assert_eq!(snapshot::sqlite_snapshot(&db).await.unwrap(), expected);
    db.close().await.unwrap();
}

/// A step that is only a name and a source text, to compare checksums with.
struct Source {
    name: String,
    text: &'static str,
}

impl MigrationName for Source {
    fn name(&self) -> &str {
        &self.name
    }
}

impl StepSource for Source {
    fn source(&self) -> &'static str {
        self.text
    }
}

#[async_trait::async_trait]
impl Step for Source {
    fn summary(&self) -> &'static str {
        "test: a name and a source"
    }
}

#[tokio::test]
async fn the_checksum_of_a_new_step_is_made_of_its_name_and_source() {
    const THIS: &str = include_str!("support/new_steps.rs");
    const COMMENTED: &str = concat!(
        include_str!("support/new_steps.rs"),
        "\n// a new comment\n\n"
    );
    const EDITED: &str = concat!(
        include_str!("support/new_steps.rs"),
        "\nconst EDITED: bool = true;\n"
    );
    let steps: [&dyn Step; 2] = [&Notes, &TidyLogs];
    for step in steps {
        let name = step.name().to_owned();
        let same = Source {
            name: name.clone(),
            text: THIS,
        };
        assert_eq!(checksum(step), checksum(&same), "{name}");
        let commented = Source {
            name: name.clone(),
            text: COMMENTED,
        };
        assert_eq!(
            checksum(step),
            checksum(&commented),
            "{name}: a comment changed the checksum"
        );
        let edited = Source {
            name: name.clone(),
            text: EDITED,
        };
        assert_ne!(checksum(step), checksum(&edited), "{name}");
        assert_eq!(
            compare_checksum(&edited, &checksum(step)),
            ChecksumMatch::Changed
        );
        assert_eq!(
            compare_checksum(step, &checksum(step)),
            ChecksumMatch::Current
        );
    }
    assert_ne!(checksum(&Notes), checksum(&TidyLogs), "the name is in it");

    // What the history records is that checksum.
    let fx = migrated_v3().await;
    let db = fx.connect().await;
    TestMigrator::up(&db, None).await.unwrap();
    let applied = history::applied(&db).await.unwrap();
    for step in steps {
        let stored = applied
            .iter()
            .find(|a| a.version == step.name())
            .and_then(|a| a.checksum.clone());
        assert_eq!(stored, Some(checksum(step)), "{}", step.name());
    }
    db.close().await.unwrap();
}
