//! Crash safety, proven by killing the real binary: a cortex.cpp v1 data
//! folder is migrated with `CORTEX_MIGRATE_FAULT=N:kill` for every boundary
//! N the run passes (journal writes, file operations, SQL statements,
//! commits), then the next start (`recover`) must leave the folder and the
//! database exactly in the state before or after the step that was running.
//! The same again with an error returned at each boundary instead of a kill.
//!
//! `CORTEX_MIGRATE_CRASH_EVERY=k` tries every k-th boundary only.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use migration::Migrator;
use migration::toolkit::StepList;

const CORTEX_TABLES: [&str; 5] = ["schema_version", "models", "hardware", "engines", "files"];

fn cli(data: &Path, args: &[&str], fault: Option<String>, log: Option<&Path>) -> Output {
    let mut cmd = Command::new(common::bin());
    cmd.arg("--data-dir").arg(data).args(args);
    cmd.env_remove("CORTEX_MIGRATE_FAULT")
        .env_remove("CORTEX_MIGRATE_FAULT_LOG");
    if let Some(f) = fault {
        cmd.env("CORTEX_MIGRATE_FAULT", f);
    }
    if let Some(l) = log {
        cmd.env("CORTEX_MIGRATE_FAULT_LOG", l);
    }
    cmd.output().unwrap()
}

fn copy_tree(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(st.success());
}

/// Everything that matters: the files (the database file itself and the
/// migrator's own state left out), the Cortex tables' rows, the schema and
/// the applied steps.
async fn digest(home: &Path, data: &Path) -> String {
    let mut files = common::tree(home);
    files.retain(|k, _| !k.ends_with("cortex.db") && !k.ends_with("cortex.db-journal"));
    let db = cortex_migrate::connect::open_sqlite_file(&data.join("cortex.db"), false)
        .await
        .unwrap();
    let rows = common::db_rows_of(&db, &CORTEX_TABLES).await;
    let schema = migration::toolkit::snapshot::sqlite_snapshot(&db)
        .await
        .unwrap();
    let applied: Vec<String> = migration::toolkit::book::applied(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.version)
        .collect();
    format!("{files:?}\n{rows:?}\n{schema}\n{applied:?}")
}

struct Bench {
    _fx: common::Fixture,
    home: PathBuf,
    data: PathBuf,
    pristine: PathBuf,
}

impl Bench {
    /// A cortex.cpp v1 folder; `migrated` runs every step first (to test
    /// the way down).
    async fn new(migrated: bool) -> Bench {
        let fx = common::cortex_folder(1).await;
        if migrated {
            let o = cli(&fx.data, &["up"], None, None);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let home = fx.home.clone();
        let data = fx.data.clone();
        let pristine = fx.tmp.path().join("pristine");
        copy_tree(&home, &pristine);
        Bench {
            _fx: fx,
            home,
            data,
            pristine,
        }
    }

    /// Puts the folder back exactly as built (same absolute paths, which the
    /// database stores).
    fn reset(&self) {
        std::fs::remove_dir_all(&self.home).unwrap();
        copy_tree(&self.pristine, &self.home);
    }
}

/// The last cortex.cpp schema step: the way down stops there, undoing
/// every folder step.
fn cortex_v3() -> String {
    Migrator::steps()[3].name().to_owned()
}

/// The command of a run in `direction`.
fn run_args(up: bool) -> Vec<String> {
    if up {
        vec!["up".into()]
    } else {
        vec!["down".into(), "--to".into(), cortex_v3(), "--yes".into()]
    }
}

/// The states a run passes through. Up: before anything, after adoption,
/// after each step. Down: before, after undoing each step.
async fn states(b: &Bench, up: bool) -> Vec<String> {
    let steps = Migrator::steps();
    let mut out = Vec::new();
    b.reset();
    out.push(digest(&b.home, &b.data).await);
    let targets: Vec<Vec<String>> = if up {
        // cortex_folder(1) adopts v0 and v1; `--to v1` does only that.
        steps
            .iter()
            .skip(1)
            .map(|s| vec!["up".into(), "--to".into(), s.name().to_owned()])
            .collect()
    } else {
        (3..steps.len() - 1)
            .rev()
            .map(|i| {
                vec![
                    "down".into(),
                    "--to".into(),
                    steps[i].name().to_owned(),
                    "--yes".into(),
                ]
            })
            .collect()
    };
    for args in targets {
        b.reset();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = cli(&b.data, &args, None, None);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out.push(digest(&b.home, &b.data).await);
    }
    out
}

/// (boundary number, label, index of the step running there: 0 before the
/// first step)
fn boundaries(b: &Bench, up: bool) -> Vec<(usize, String, usize)> {
    b.reset();
    let log = b.pristine.with_extension("points");
    let _ = std::fs::remove_file(&log);
    let args = run_args(up);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = cli(&b.data, &args, None, Some(&log));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let mut step = 0;
    let mut out = Vec::new();
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let (n, label) = line.split_once(' ').unwrap();
        if label == "step: transaction begun" {
            step += 1;
        }
        out.push((n.parse().unwrap(), label.to_owned(), step));
    }
    out
}

async fn exercise(mode: &str, up: bool) {
    let b = Bench::new(!up).await;
    let states = states(&b, up).await;
    let points = boundaries(&b, up);
    let args = run_args(up);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let way = if up { "up" } else { "down" };
    let every: usize = std::env::var("CORTEX_MIGRATE_CRASH_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let (mut tried, mut before, mut after) = (0, 0, 0);
    let mut corrupted = Vec::new();
    let mut labels: BTreeMap<String, usize> = BTreeMap::new();
    for (n, label, step) in points.iter().filter(|(n, _, _)| n % every == 0) {
        b.reset();
        tried += 1;
        *labels.entry(label.clone()).or_default() += 1;
        let o = cli(&b.data, &args, Some(format!("{n}:{mode}")), None);
        if mode == "kill" {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                o.status.signal(),
                Some(9),
                "boundary {n} ({label}) did not kill the run"
            );
        } else {
            assert!(
                !o.status.success(),
                "boundary {n} ({label}): the error did not fail the run"
            );
        }
        // The next start.
        let r = cli(&b.data, &["recover"], None, None);
        assert!(
            r.status.success(),
            "recover after {n}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        let d = digest(&b.home, &b.data).await;
        // The step running at boundary `n` is `step` (1-based over the run).
        // Up: adoption is the state between index 0 and 1, step k between k
        // and k+1. Down: step k between k-1 and k.
        let (lo, hi) = match (up, *step) {
            (true, 0) => (0, 1),
            (true, k) => (k, k + 1),
            (false, 0) => (0, 0),
            (false, k) => (k - 1, k),
        };
        if d == states[lo] {
            before += 1;
        } else if d == states[hi.min(states.len() - 1)] {
            after += 1;
        } else {
            corrupted.push(format!("{n} ({label}, step {step})"));
        }
        // The interrupted run can always be completed.
        let fin = cli(&b.data, &args, None, None);
        assert!(
            fin.status.success(),
            "{way} after {n}: {}",
            String::from_utf8_lossy(&fin.stderr)
        );
        assert_eq!(
            digest(&b.home, &b.data).await,
            *states.last().unwrap(),
            "completing after boundary {n}"
        );
    }
    println!(
        "{way}/{mode}: points tried {tried} (of {}), before-state {before}, after-state {after}, corrupted {}",
        points.len(),
        corrupted.len()
    );
    println!("{way}/{mode}: boundaries by kind {labels:?}");
    assert!(
        corrupted.is_empty(),
        "{way}/{mode}: corrupted at {corrupted:?}"
    );
    assert!(
        before > 0 && after > 0,
        "{way}/{mode}: a harness that sees only one state proves little"
    );
}

#[tokio::test]
async fn up_killed_at_every_boundary_the_next_start_recovers_before_or_after() {
    exercise("kill", true).await;
}

#[tokio::test]
async fn up_failed_at_every_boundary_the_data_is_before_or_after() {
    exercise("error", true).await;
}

#[tokio::test]
async fn down_killed_at_every_boundary_the_next_start_recovers_before_or_after() {
    exercise("kill", false).await;
}

#[tokio::test]
async fn down_failed_at_every_boundary_the_data_is_before_or_after() {
    exercise("error", false).await;
}
