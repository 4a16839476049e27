//! Data newer than the binary: two binaries' worth of migrators (steps
//! 1..5 and 1..3) on one data folder. The older one refuses the newer data
//! with a clear message, steps it down with the recipes the newer one
//! stored (to exactly the schema of its step 3, keeping every row that
//! fits), the newer one migrates up again with the archived values back, a
//! changed step is reported, and a crash during the step-down recovers.

mod common;
#[path = "support/versions.rs"]
mod versions;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use migration::toolkit::runner::{Options, Runner, Target};
use migration::toolkit::{MigrateError, Origin, StepList, StoredOrigin, applied_steps, snapshot};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use versions::{DriftedMigrator, NewMigrator, NewestMigrator, OldMigrator, S3_NAME};

async fn open(dir: &Path) -> DatabaseConnection {
    cortex_migrate::connect::open_sqlite_file(&dir.join("cortex.db"), true)
        .await
        .unwrap()
}

fn opts(dir: &Path) -> Options {
    Options {
        data_dir: Some(dir.to_path_buf()),
        ..Options::default()
    }
}

/// Runs every step of `steps` on the folder `dir`.
async fn up_all(
    db: &DatabaseConnection,
    steps: Vec<Box<dyn migration::toolkit::Step>>,
    dir: &Path,
) {
    Runner::new(db, steps, opts(dir))
        .await
        .unwrap()
        .up(Target::All)
        .await
        .unwrap();
}

/// The newer binary's data: migrated to step 5, with rows in every table.
async fn newer_data() -> (tempfile::TempDir, DatabaseConnection) {
    let t = versions::folder();
    let db = open(t.path()).await;
    up_all(&db, NewMigrator::steps(), t.path()).await;
    db.execute_unprepared(
        "INSERT INTO notes (id, body, tag, color) VALUES (1, 'first', 'a', 'red'), (2, 'second', 'b', 'blue');
         INSERT INTO labels VALUES ('l1', 'Work');
         INSERT INTO pins VALUES (1, 1795654443);",
    )
    .await
    .unwrap();
    (t, db)
}

/// What the older binary makes from an empty folder: its step 3 schema.
async fn old_schema() -> String {
    let t = tempfile::tempdir().unwrap();
    let db = open(t.path()).await;
    up_all(&db, OldMigrator::steps(), t.path()).await;
    snapshot::sqlite_snapshot(&db).await.unwrap()
}

#[tokio::test]
async fn the_older_binary_refuses_newer_data_naming_both_versions() {
    let (t, db) = newer_data().await;
    let before = (common::db_rows(&db).await, common::tree(t.path()));
    let mut old = Runner::new(&db, OldMigrator::steps(), opts(t.path()))
        .await
        .unwrap();
    let err = old.up(Target::All).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, MigrateError::UnknownAppliedSteps { .. }),
        "{msg}"
    );
    for needle in [
        "m20990104_000001_notes_color_and_pins",
        "m20990105_000001_move_notes_folder",
        "data version m20990105_000001_move_notes_folder",
        "knows up to m20990103_000001_labels",
        "run the newer binary",
        "down --to m20990103_000001_labels",
    ] {
        assert!(msg.contains(needle), "`{needle}` missing from: {msg}");
    }
    let st = old.status().await.unwrap();
    assert_eq!(
        st.data_version.as_deref(),
        Some("m20990105_000001_move_notes_folder")
    );
    assert_eq!(st.app_version.as_deref(), Some(S3_NAME));
    assert!(st.data_fingerprint.is_some());
    assert_eq!(st.unknown_applied.len(), 2);
    assert_eq!((common::db_rows(&db).await, common::tree(t.path())), before);
}

#[tokio::test]
async fn the_older_binary_steps_down_with_stored_recipes_to_its_own_schema() {
    let (t, db) = newer_data().await;
    let mut old = Runner::new(&db, OldMigrator::steps(), opts(t.path()))
        .await
        .unwrap();
    let report = old.down(Target::To(S3_NAME.into())).await.unwrap();
    assert_eq!(report.steps.len(), 2);
    assert!(report.backup.is_some(), "no backup before stepping down");

    assert_eq!(
        snapshot::sqlite_snapshot(&db).await.unwrap(),
        old_schema().await
    );
    let rows = common::db_rows_of(&db, &["notes", "labels"]).await;
    assert_eq!(
        rows["notes"],
        vec![
            vec![
                ("id".into(), "integer:1".into()),
                ("body".into(), "text:first".into()),
                ("tag".into(), "text:a".into())
            ],
            vec![
                ("id".into(), "integer:2".into()),
                ("body".into(), "text:second".into()),
                ("tag".into(), "text:b".into())
            ],
        ]
    );
    assert_eq!(rows["labels"].len(), 1);
    // The folder step was undone from its recipe.
    assert!(t.path().join("notes-dir/attachments/a.bin").exists());
    assert!(!t.path().join("notes").exists());
    assert_eq!(
        std::fs::read_to_string(t.path().join("notes-dir/config.yml")).unwrap(),
        "name: old\nkeep: this line\n"
    );
    // The older binary now works normally.
    let st = old.status().await.unwrap();
    assert!(
        st.unknown_applied.is_empty() && st.pending.is_empty(),
        "{st:?}"
    );
    old.up(Target::All).await.unwrap();
}

/// A newer binary may record an origin this one does not know: reading the
/// history keeps it, `status` shows it as stored, and stepping down with the
/// newer binary's recipes still works.
#[tokio::test]
async fn an_origin_only_a_newer_binary_writes_is_shown_and_does_not_block_down() {
    let (t, db) = newer_data().await;
    db.execute_unprepared(&format!(
        "UPDATE cortex_migrate_steps SET origin = 'squashed' WHERE version = '{S3_NAME}'"
    ))
    .await
    .unwrap();
    let squashed = Some(StoredOrigin::Unknown("squashed".into()));
    for a in applied_steps(&db).await.unwrap() {
        if a.version == S3_NAME {
            assert_eq!(a.origin, squashed, "{a:?}");
        } else {
            assert_eq!(a.origin, Some(StoredOrigin::Known(Origin::Ran)), "{a:?}");
        }
    }

    let mut old = Runner::new(&db, OldMigrator::steps(), opts(t.path()))
        .await
        .unwrap();
    let st = old.status().await.unwrap();
    let s3 = st.steps.iter().position(|s| s.name == S3_NAME).unwrap();
    assert_eq!(st.steps[s3].origin, squashed);
    let text = cortex_migrate::render::status(&st, None, None);
    assert!(
        text.contains("(origin `squashed`, unknown to this cortex-migrate)"),
        "{text}"
    );
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["steps"][s3]["origin"], "squashed");

    old.down(Target::To(S3_NAME.into())).await.unwrap();
    let st = old.status().await.unwrap();
    assert!(st.unknown_applied.is_empty(), "{st:?}");
    assert_eq!(st.steps[s3].origin, squashed);
}

#[tokio::test]
async fn the_newer_binary_migrates_up_again_with_archived_values_back() {
    let (t, db) = newer_data().await;
    let before = common::db_rows_of(&db, &["notes", "labels", "pins"]).await;
    let files = files_of(t.path());
    Runner::new(&db, OldMigrator::steps(), opts(t.path()))
        .await
        .unwrap()
        .down(Target::To(S3_NAME.into()))
        .await
        .unwrap();
    up_all(&db, NewMigrator::steps(), t.path()).await;
    assert_eq!(
        common::db_rows_of(&db, &["notes", "labels", "pins"]).await,
        before
    );
    assert_eq!(files_of(t.path()), files);
}

#[tokio::test]
async fn a_step_changed_after_it_ran_is_reported_by_status_and_verify() {
    let t = versions::folder();
    let db = open(t.path()).await;
    up_all(&db, OldMigrator::steps(), t.path()).await;
    let drifted = Runner::new(&db, DriftedMigrator::steps(), opts(t.path()))
        .await
        .unwrap();
    let st = drifted.status().await.unwrap();
    let s3 = st.steps.iter().find(|s| s.name == S3_NAME).unwrap();
    assert!(s3.drifted, "{st:?}");
    assert!(st.steps.iter().filter(|s| s.drifted).count() == 1);
    let dir = migration::toolkit::DataDir::new(t.path()).unwrap();
    let v = cortex_migrate::verify::verify(&db, &DriftedMigrator::steps(), Some(&dir))
        .await
        .unwrap();
    assert!(!v.ok);
    let problems = v.problems().join("\n");
    assert!(
        problems.contains(S3_NAME) && problems.contains("changed since it was applied"),
        "{problems}"
    );
    assert!(
        problems.contains("stored checksum") && problems.contains("this binary's"),
        "{problems}"
    );
}

#[tokio::test]
async fn a_step_whose_down_cannot_be_stored_offers_the_backup_from_before_it() {
    let t = versions::folder();
    let db = open(t.path()).await;
    up_all(&db, NewMigrator::steps(), t.path()).await;
    db.execute_unprepared("INSERT INTO labels VALUES ('l1', 'Work')")
        .await
        .unwrap();
    up_all(&db, NewestMigrator::steps(), t.path()).await;
    // Written after the step was applied: restoring the backup loses these.
    db.execute_unprepared("INSERT INTO notes (id, body) VALUES (7, 'late'), (8, 'later')")
        .await
        .unwrap();
    let before = (common::db_rows(&db).await, common::tree(t.path()));

    let err = Runner::new(&db, OldMigrator::steps(), opts(t.path()))
        .await
        .unwrap()
        .down(Target::To(S3_NAME.into()))
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, MigrateError::CannotStepDown { .. }), "{msg}");
    assert!(msg.contains("m20990106_000001_merge_labels"), "{msg}");
    assert!(msg.contains("cortex-migrate restore "), "{msg}");
    assert!(msg.contains("2 row(s) of notes"), "{msg}");
    assert!(msg.contains("1 row(s) of labels"), "{msg}");
    assert_eq!(
        (common::db_rows(&db).await, common::tree(t.path())),
        before,
        "the refusal changed data"
    );
}

/// Runs one of the two "binaries" in a child process: this test binary,
/// re-run to execute only `versioned_binary_child` (below), so that a fault
/// can kill it.
fn run(binary: &str, dir: &Path, cmd: &str, fault: Option<String>, log: Option<&Path>) -> Output {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args([
        "--exact",
        "versioned_binary_child",
        "--ignored",
        "--nocapture",
        "--test-threads",
        "1",
    ]);
    c.env(
        "VERSIONED_CHILD",
        format!("{binary}\n{}\n{cmd}", dir.display()),
    );
    c.env_remove("CORTEX_MIGRATE_FAULT")
        .env_remove("CORTEX_MIGRATE_FAULT_LOG");
    if let Some(f) = fault {
        c.env("CORTEX_MIGRATE_FAULT", f);
    }
    if let Some(l) = log {
        c.env("CORTEX_MIGRATE_FAULT_LOG", l);
    }
    c.output().unwrap()
}

/// The child process of the crash test: `VERSIONED_CHILD` says which binary
/// (old/new), which data folder and which command (up, down to the last
/// step it knows, recover). Run only by `run` above.
#[tokio::test]
#[ignore = "child process of a_step_down_with_stored_recipes_killed_at_every_boundary_recovers"]
async fn versioned_binary_child() {
    let spec = std::env::var("VERSIONED_CHILD").expect("run by the crash test only");
    let mut parts = spec.splitn(3, '\n');
    let (binary, dir, cmd) = (
        parts.next().unwrap(),
        PathBuf::from(parts.next().unwrap()),
        parts.next().unwrap(),
    );
    let db = open(&dir).await;
    let steps = versions::steps_of(binary);
    let known = steps.last().map(|s| s.name().to_owned()).unwrap();
    let mut r = Runner::new(&db, steps, opts(&dir)).await.unwrap();
    match cmd {
        "up" => drop(r.up(Target::All).await.unwrap()),
        "down" => drop(r.down(Target::To(known)).await.unwrap()),
        _ => drop(r.recover().await.unwrap()),
    }
}

/// The files of a folder, the database file left out.
fn files_of(dir: &Path) -> std::collections::BTreeMap<String, String> {
    let mut files = common::tree(dir);
    files.retain(|k, _| !k.starts_with("cortex.db"));
    files
}

async fn digest(dir: &Path) -> String {
    let db = open(dir).await;
    let state = common::db_state(&db, &["notes", "labels", "pins"]).await;
    format!("{state}\n{:?}", files_of(dir))
}

#[tokio::test]
async fn a_step_down_with_stored_recipes_killed_at_every_boundary_recovers() {
    let (t, db) = newer_data().await;
    drop(db);
    let pristine = t.path().with_extension("pristine");
    common::copy_tree(t.path(), &pristine);
    let reset = || {
        std::fs::remove_dir_all(t.path()).unwrap();
        common::copy_tree(&pristine, t.path());
    };
    // The states: before, after undoing step 5, after undoing step 4.
    let mut states = vec![digest(t.path()).await];
    let log = pristine.with_extension("points");
    let o = run("old", t.path(), "down", None, Some(&log));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let after_all = digest(t.path()).await;
    reset();
    {
        let db = open(t.path()).await;
        let mut r = Runner::new(&db, OldMigrator::steps(), opts(t.path()))
            .await
            .unwrap();
        r.down(Target::Count(1)).await.unwrap();
    }
    states.push(digest(t.path()).await);
    states.push(after_all);

    let mut step = 0;
    let points: Vec<(usize, usize)> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            let (n, label) = l.split_once(' ').unwrap();
            if label == "step: transaction begun" {
                step += 1;
            }
            (n.parse().unwrap(), step)
        })
        .collect();
    let (mut before, mut after) = (0, 0);
    for &(n, step) in &points {
        reset();
        let o = run("old", t.path(), "down", Some(format!("{n}:kill")), None);
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(o.status.signal(), Some(9), "boundary {n} did not kill");
        let r = run("old", t.path(), "recover", None, None);
        assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
        let d = digest(t.path()).await;
        let (lo, hi) = if step == 0 { (0, 0) } else { (step - 1, step) };
        if d == states[lo] {
            before += 1;
        } else if d == states[hi] {
            after += 1;
        } else {
            panic!("killed at boundary {n} (step {step}): neither before nor after");
        }
    }
    println!(
        "step-down: points tried {}, before-state {before}, after-state {after}, corrupted 0",
        points.len()
    );
    assert!(before > 0 && after > 0);
}
