//! Crash safety, proven by killing the real binary: a data folder is
//! migrated with `CORTEX_MIGRATE_FAULT=N:kill` for every boundary N the run
//! passes (journal writes, file operations, SQL statements, commits), then
//! the next start (`recover`) must leave the folder and the database
//! exactly in the state before or after the step that was running, and
//! `verify` must find it clean. The same again with an error returned at
//! each boundary instead of a kill. Every shipped step is covered, up and
//! down: from an empty folder (the cortex.cpp schema steps), from
//! cortex.cpp v0 and v1 folders (adoption, the rest of the schema steps and
//! the folder steps), and back down.
//!
//! A state is the whole of it (`digest`): the files, and every table of the
//! database with its schema and rows (the archives and the history with its
//! checksums, origins and stored recipes included), but for the time each
//! step was recorded.
//!
//! `CORTEX_MIGRATE_CRASH_EVERY=k` tries every k-th boundary only.

mod common;
#[path = "support/first_engine_rename.rs"]
mod first_engine_rename;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use migration::Migrator;
use migration::toolkit::{StateDir, StepList};

/// Everything that matters: the files (the database file itself and the
/// migrator's own state left out, but for what steps set aside in its
/// `archive/`) and the whole database (`common::whole_db_state`: every
/// table's schema and rows, the archives and the history included).
async fn digest(home: &Path, data: &Path) -> String {
    let mut files = common::tree(home);
    files.retain(|k, _| !k.ends_with("cortex.db") && !k.ends_with("cortex.db-journal"));
    let db = match database(data).await {
        Some(db) => db,
        None => sea_orm::Database::connect("sqlite::memory:").await.unwrap(),
    };
    let state = common::whole_db_state(&db).await;
    db.close().await.expect("closing the digest's connection");
    format!("{files:#?}\n{state}")
}

/// The folder's database, or `None` where it reads the same as no
/// database: there is no cortex.db yet, or it holds nothing but an empty
/// history (`up` in a new folder installs its history tables before the
/// first step, and they stay if that step fails: they record nothing).
async fn database(data: &Path) -> Option<sea_orm::DatabaseConnection> {
    let file = data.join("cortex.db");
    if !file.exists() {
        return None;
    }
    let db = cortex_migrate::connect::open_sqlite_file(&file, false)
        .await
        .unwrap();
    let history = ["cortex_migrate_steps", "seaql_migrations"];
    if common::table_names(&db).await == history
        && common::db_rows_of(&db, &history)
            .await
            .values()
            .all(Vec::is_empty)
    {
        db.close().await.expect("closing the connection");
        return None;
    }
    Some(db)
}

/// What `cortex-migrate verify --json` finds wrong with the folder, or
/// `None` where it does not judge: no database with a history (a folder
/// without one, or a cortex.cpp database not adopted yet, is only "not
/// migrated yet" to it).
async fn verdict(data: &Path) -> Option<Vec<String>> {
    let db = database(data).await?;
    let history = common::table_names(&db)
        .await
        .iter()
        .any(|t| t == "seaql_migrations");
    db.close().await.expect("closing the connection");
    if !history {
        return None;
    }
    let o = common::cli(data, &["verify", "--json"]);
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "verify --json: {e}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let problems: Vec<String> = out["checks"]
        .as_array()
        .expect("verify --json lists its checks")
        .iter()
        .flat_map(|c| {
            c["problems"]
                .as_array()
                .expect("each check's problems")
                .clone()
        })
        .map(|p| p.as_str().expect("a problem is a line").to_owned())
        .collect();
    // Exit 0 exactly when clean.
    assert_eq!(
        o.status.success(),
        problems.is_empty(),
        "verify's exit: {problems:?}"
    );
    Some(problems)
}

/// Where a run starts.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// An empty data folder: every step runs.
    Empty,
    /// A cortex.cpp folder at this schema version: adoption first.
    Cortex(u8),
    /// A cortex.cpp v3 folder taken up by the engine rename's first
    /// definition (engine folders and rows renamed): only the repair runs.
    BeforeFix,
    /// A nightly data folder from before cortex.db (model folders with
    /// their yaml, imports in `model.list`) and a `.cortexrc` with
    /// `host`/`port`, taken up to the step before the adoption: only the
    /// adoption and the config step run.
    BeforeDb,
}

struct Bench {
    _fx: common::Fixture,
    home: PathBuf,
    data: PathBuf,
    pristine: PathBuf,
}

impl Bench {
    /// The starting folder; `migrated` runs every step first (to test the
    /// way down).
    async fn new(start: Start, migrated: bool) -> Bench {
        let fx = match start {
            Start::Empty => common::Fixture::empty(),
            Start::Cortex(v) => common::cortex_folder(v).await,
            Start::BeforeFix => {
                let fx = common::cortex_folder(3).await;
                first_engine_rename::migrate_before_fix(&fx.db_url()).await;
                fx
            }
            Start::BeforeDb => {
                let fx = common::Fixture::empty();
                common::generations::nightly_with_model_list(&fx.data, &fx.outside());
                common::generations::cortexrc_before_24166e4f(&fx.cortexrc(), &fx.data);
                common::ok(&common::cli(&fx.data, &["up", "--to", &before_adoption()]));
                fx
            }
        };
        if migrated {
            let o = common::cli_with(&fx.data, &["up"], None, None);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let home = fx.home.clone();
        let data = fx.data.clone();
        let pristine = fx.tmp.path().join("pristine");
        common::copy_tree(&home, &pristine);
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
        self.home_from(&self.pristine);
    }

    /// Replaces the home with a copy of `copy`.
    fn home_from(&self, copy: &Path) {
        std::fs::remove_dir_all(&self.home).unwrap();
        common::copy_tree(copy, &self.home);
    }
}

fn step_names() -> Vec<String> {
    Migrator::steps()
        .iter()
        .map(|s| s.name().to_owned())
        .collect()
}

/// The command of the run: up everything, or down to `down_to`.
fn run_args(down_to: Option<&str>) -> Vec<String> {
    match down_to {
        None => vec!["up".into()],
        Some(to) => vec!["down".into(), "--to".into(), to.into(), "--yes".into()],
    }
}

/// The states a run passes through, as a run without a crash leaves each.
struct Way {
    /// In order: before anything, then after each unit of work (adoption,
    /// each step).
    states: Vec<String>,
    /// What `verify` finds wrong with each state (see [`verdict`]).
    verdicts: Vec<Option<Vec<String>>>,
}

/// The way of a run. `verify` finds every state on it clean, but for what
/// an older main did (`Start::BeforeFix`), which it rightly names until the
/// steps that repair it have run: the first definitions of two steps
/// (changed since they were applied), and the engine folders the first one
/// moved where Cortex does not load them.
async fn states(b: &Bench, start: Start, down_to: Option<&str>) -> Way {
    let steps = step_names();
    let mut targets: Vec<Vec<String>> = Vec::new();
    match (down_to, start) {
        (None, Start::Empty) => {
            targets.extend(
                steps
                    .iter()
                    .map(|s| vec!["up".into(), "--to".into(), s.clone()]),
            );
        }
        (None, Start::BeforeFix) => {
            let done = first_engine_rename::steps_before_fix().len();
            targets.extend(
                steps
                    .iter()
                    .skip(done)
                    .map(|s| vec!["up".into(), "--to".into(), s.clone()]),
            );
        }
        (None, Start::BeforeDb) => {
            let done = steps.iter().position(|s| *s == before_adoption()).unwrap() + 1;
            targets.extend(
                steps
                    .iter()
                    .skip(done)
                    .map(|s| vec!["up".into(), "--to".into(), s.clone()]),
            );
        }
        (None, Start::Cortex(v)) => {
            // `--to` the adopted version does only the adoption.
            targets.extend(
                steps
                    .iter()
                    .skip(v as usize)
                    .map(|s| vec!["up".into(), "--to".into(), s.clone()]),
            );
        }
        (Some(to), _) => {
            let last = steps
                .iter()
                .position(|s| s == to)
                .map(|i| i as i64)
                .unwrap_or(-1);
            for i in (last..steps.len() as i64 - 1).rev() {
                let target = if i < 0 {
                    "0".to_owned()
                } else {
                    steps[i as usize].clone()
                };
                targets.push(vec!["down".into(), "--to".into(), target, "--yes".into()]);
            }
        }
    }
    let mut way = Way {
        states: Vec::new(),
        verdicts: Vec::new(),
    };
    for unit in 0..=targets.len() {
        b.reset();
        if unit > 0 {
            let args: Vec<&str> = targets[unit - 1].iter().map(String::as_str).collect();
            let o = common::cli_with(&b.data, &args, None, None);
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let verdict = verdict(&b.data).await;
        for problem in verdict.iter().flatten() {
            assert!(
                matches!(start, Start::BeforeFix)
                    && (problem.contains("changed since it was applied")
                        || problem.contains("Engine is not ready")),
                "state {unit} of {start:?}: verify: {problem}"
            );
        }
        way.verdicts.push(verdict);
        way.states.push(digest(&b.home, &b.data).await);
    }
    way
}

/// (boundary number, label, units of work begun at that boundary)
fn boundaries(b: &Bench, start: Start, down_to: Option<&str>) -> Vec<(usize, String, usize)> {
    b.reset();
    let log = b.pristine.with_extension("points");
    let _ = std::fs::remove_file(&log);
    let args = run_args(down_to);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = common::cli_with(&b.data, &args, None, Some(&log));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Adoption (a cortex.cpp start going up) is the first unit of work:
    // everything before the first step belongs to it.
    let adopts = down_to.is_none() && matches!(start, Start::Cortex(_));
    let mut unit = usize::from(adopts);
    let mut out = Vec::new();
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let (n, label) = line.split_once(' ').unwrap();
        if label == "step: transaction begun" {
            unit += 1;
        }
        out.push((n.parse().unwrap(), label.to_owned(), unit));
    }
    out
}

/// The first lines where two digests differ, with two lines before them.
fn first_difference(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let at = (0..a.len().max(b.len()))
        .find(|&i| a.get(i) != b.get(i))
        .unwrap_or(0);
    let from = at.saturating_sub(2);
    let show = |l: &[&str]| l[from.min(l.len())..(at + 3).min(l.len())].join("\n");
    format!(
        "at line {at}:\n--- one\n{}\n--- other\n{}",
        show(&a),
        show(&b)
    )
}

async fn exercise(mode: &str, start: Start, down_to: Option<&str>) {
    let b = Bench::new(start, down_to.is_some()).await;
    let way = states(&b, start, down_to).await;
    let states = &way.states;
    let last = states.len() - 1;
    let points = boundaries(&b, start, down_to);
    let args = run_args(down_to);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // A complete `up` leaves an up run's last state, a down run's first.
    let full_up = if down_to.is_some() { 0 } else { last };
    assert_eq!(
        way.verdicts[full_up],
        Some(vec![]),
        "verify after a complete up"
    );
    let name = format!(
        "{}{start:?}",
        if down_to.is_some() {
            "down from migrated "
        } else {
            "up from "
        }
    );
    let every: usize = std::env::var("CORTEX_MIGRATE_CRASH_EVERY")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let kill = mode == "kill";
    let (mut tried, mut before, mut after) = (0, 0, 0);
    let mut corrupted = Vec::new();
    let mut labels: BTreeMap<String, usize> = BTreeMap::new();
    for (n, label, unit) in points.iter().filter(|(n, _, _)| n % every == 0) {
        b.reset();
        tried += 1;
        *labels.entry(label.clone()).or_default() += 1;
        let o = common::cli_with(&b.data, &args, Some(format!("{n}:{mode}")), None);
        if kill {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                o.status.signal(),
                Some(9),
                "{name}: boundary {n} ({label}) did not kill the run"
            );
        } else {
            assert!(
                !o.status.success(),
                "{name}: boundary {n} ({label}): the error did not fail the run"
            );
        }
        // The next start.
        let r = common::cli_with(&b.data, &["recover"], None, None);
        assert!(
            r.status.success(),
            "{name}: recover after {n}: {}",
            String::from_utf8_lossy(&r.stderr)
        );
        // Boundary `n` lies in unit `unit` (1-based; 0 before any): the
        // state must be the one before it or the one after it, and verify
        // must find in it what it finds there without a crash.
        let (lo, hi) = (unit.saturating_sub(1), (*unit).min(last));
        let d = digest(&b.home, &b.data).await;
        let found = if d == states[lo] {
            before += 1;
            Some(lo)
        } else if d == states[hi] {
            after += 1;
            Some(hi)
        } else {
            corrupted.push(format!(
                "{n} ({label}, unit {unit}): {}",
                first_difference(&states[lo], &d)
            ));
            None
        };
        if let Some(k) = found {
            assert_eq!(
                verdict(&b.data).await,
                way.verdicts[k],
                "{name}: verify after recover after {n}"
            );
        }
        // The interrupted run can always be completed.
        let fin = common::cli_with(&b.data, &args, None, None);
        assert!(
            fin.status.success(),
            "{name}: finishing after {n}: {}",
            String::from_utf8_lossy(&fin.stderr)
        );
        let d = digest(&b.home, &b.data).await;
        assert!(
            d == states[last],
            "{name}: completing after boundary {n}: {}",
            first_difference(&states[last], &d)
        );
        // (So `verify` would say what it says there, but for a journal.)
        assert!(
            !StateDir::in_folder(&b.data).has_journal(),
            "{name}: completing after boundary {n} left a journal"
        );
    }
    println!(
        "{name}/{mode}: points tried {tried} (of {}), before-state {before}, after-state {after}, corrupted {}",
        points.len(),
        corrupted.len()
    );
    println!("{name}/{mode}: boundaries by kind {labels:?}");
    assert!(
        corrupted.is_empty(),
        "{name}/{mode}: corrupted at {corrupted:#?}"
    );
    assert!(
        before > 0 && after > 0,
        "{name}/{mode}: a harness that sees only one state proves little"
    );
}

/// The last step before the adoption of folders from before cortex.db.
fn before_adoption() -> String {
    let steps = step_names();
    let at = steps
        .iter()
        .position(|s| s == "m20261203_000003_models_before_cortex_db")
        .unwrap();
    steps[at - 1].clone()
}

fn cortex_v3() -> String {
    step_names()[3].clone()
}

#[tokio::test]
async fn up_from_empty_killed_at_every_boundary_recovers_before_or_after() {
    exercise("kill", Start::Empty, None).await;
}

#[tokio::test]
async fn up_from_empty_failed_at_every_boundary_is_before_or_after() {
    exercise("error", Start::Empty, None).await;
}

#[tokio::test]
async fn up_from_cortex_v0_killed_at_every_boundary_recovers_before_or_after() {
    exercise("kill", Start::Cortex(0), None).await;
}

#[tokio::test]
async fn up_from_cortex_v1_killed_at_every_boundary_recovers_before_or_after() {
    exercise("kill", Start::Cortex(1), None).await;
}

#[tokio::test]
async fn up_from_cortex_v1_failed_at_every_boundary_is_before_or_after() {
    exercise("error", Start::Cortex(1), None).await;
}

#[tokio::test]
async fn down_through_the_folder_steps_killed_at_every_boundary_recovers() {
    exercise("kill", Start::Cortex(1), Some(&cortex_v3())).await;
}

#[tokio::test]
async fn down_through_the_folder_steps_failed_at_every_boundary_is_before_or_after() {
    exercise("error", Start::Cortex(1), Some(&cortex_v3())).await;
}

#[tokio::test]
async fn the_engine_folder_repair_killed_at_every_boundary_recovers_before_or_after() {
    exercise("kill", Start::BeforeFix, None).await;
}

#[tokio::test]
async fn down_from_the_engine_folder_repair_killed_at_every_boundary_recovers() {
    let before_repair = first_engine_rename::steps_before_fix()
        .last()
        .map(|s| s.name().to_owned())
        .unwrap();
    exercise("kill", Start::BeforeFix, Some(&before_repair)).await;
}

/// From a v3 folder, whose catalogue row `cortex_v3`'s down archives.
#[tokio::test]
async fn down_below_cortex_v3_with_a_catalogue_row_killed_at_every_boundary_recovers() {
    exercise("kill", Start::Cortex(3), Some(&step_names()[2])).await;
}

#[tokio::test]
async fn adopting_a_folder_from_before_cortex_db_killed_at_every_boundary_recovers() {
    exercise("kill", Start::BeforeDb, None).await;
}

#[tokio::test]
async fn adopting_a_folder_from_before_cortex_db_failed_at_every_boundary_is_before_or_after() {
    exercise("error", Start::BeforeDb, None).await;
}

#[tokio::test]
async fn down_from_adopting_a_folder_from_before_cortex_db_killed_at_every_boundary_recovers() {
    exercise("kill", Start::BeforeDb, Some(&before_adoption())).await;
}

#[tokio::test]
async fn down_to_nothing_killed_at_every_boundary_recovers() {
    exercise("kill", Start::Empty, Some("0")).await;
}

#[tokio::test]
async fn down_to_nothing_failed_at_every_boundary_is_before_or_after() {
    exercise("error", Start::Empty, Some("0")).await;
}
