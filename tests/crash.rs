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
//! After a kill, a user may start again by another way than `recover`:
//! every other boundary killed also gets one of [`Restart`] in turn,
//! started from the same crashed folder, and what each must leave is
//! asserted.
//!
//! `CORTEX_MIGRATE_CRASH_EVERY=k` tries every k-th boundary only.

mod common;
#[path = "support/first_engine_rename.rs"]
mod first_engine_rename;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use common::states::{digest, first_difference, verdict};
use cortex_migrate::Boot;
use cortex_migrate::location::Search;
use migration::Migrator;
use migration::toolkit::{StateDir, StepList};
use sea_orm::EntityTrait;
use sea_orm_migration::MigratorTrait;

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
    /// The home as the last kill left it.
    crashed: PathBuf,
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
        let crashed = fx.tmp.path().join("crashed");
        common::copy_tree(&home, &pristine);
        Bench {
            _fx: fx,
            home,
            data,
            pristine,
            crashed,
        }
    }

    /// Puts the folder back exactly as built (same absolute paths, which the
    /// database stores).
    fn reset(&self) {
        self.home_from(&self.pristine);
    }

    /// Keeps the home as a kill left it, to start again from it by
    /// another way.
    fn keep_crashed(&self) {
        if self.crashed.exists() {
            std::fs::remove_dir_all(&self.crashed).unwrap();
        }
        common::copy_tree(&self.home, &self.crashed);
    }

    /// Puts the home back as the last kill left it.
    fn back_to_crashed(&self) {
        self.home_from(&self.crashed);
    }

    /// Puts the home in the state a run without a crash leaves after
    /// `unit` units of work (0: as built), as that run left it.
    fn at_state(&self, way: &Way, unit: usize) {
        self.home_from(&way.homes[unit]);
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
    /// A copy of the home in each state, as a run without a crash left it.
    homes: Vec<PathBuf>,
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
        homes: Vec::new(),
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
        let copy = b.pristine.with_file_name(format!("state-{unit}"));
        common::copy_tree(&b.home, &copy);
        way.homes.push(copy);
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

/// How a user starts again after a kill, besides `recover` (which every
/// boundary gets first). Every [`RESTART_EVERY`]th boundary killed also
/// gets one of these, in turn, started from the folder exactly as the kill
/// left it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Restart {
    /// `cortex-migrate status`. It reads only: nothing under the home may
    /// change (the database file and the migrator's state folder with its
    /// journal included, times included); it names the interrupted step
    /// exactly when a journal is left; the `recover` after it must still
    /// find the state before or after the step.
    Status,
    /// `cortex-migrate up`: recovers, then applies every step. It must
    /// leave the state a complete `up` leaves: an up run's last state, a
    /// down run's first (which `up` made).
    Up,
    /// `cortex-migrate down`. After a down run, its own command again,
    /// which must leave the run's last state. After an up run, the way
    /// back to where it started (`down --to <that step> --yes`), which
    /// must leave what that command leaves, run without a crash, from the
    /// state before or the state after the step the kill interrupted.
    Down,
    /// The boot API as Cortex calls it at start (`Boot::locate`; here
    /// `Boot::locate_with` the fixture's home for the process's): like
    /// `up`, and the connection it hands back reads the models.
    Boot,
    /// `sea-orm-cli migrate up`: the call its `run_cli` makes,
    /// `MigratorTrait::up(db, None)` on a connection to the database URL
    /// (made in this process: `run_cli` installs a global logger, once a
    /// process). That path knows the database, not the `.cortexrc`, so it
    /// must leave what it leaves, run without a crash, from the state
    /// before or the state after the step the kill interrupted.
    SeaOrmCli,
}

const RESTARTS: [Restart; 5] = [
    Restart::Status,
    Restart::Up,
    Restart::Down,
    Restart::Boot,
    Restart::SeaOrmCli,
];

/// Every how many boundaries killed one of [`RESTARTS`] is tried (in turn),
/// so that each gets a sample of every run's boundaries and the crash tests
/// stay within minutes.
const RESTART_EVERY: usize = 2;

/// What a start left: whether it succeeded (its error if not), the state,
/// and what `verify` finds wrong with it.
struct Left {
    error: Option<String>,
    state: String,
    verdict: Option<Vec<String>>,
}

impl Left {
    /// Whether this is the outcome `expected` stands for: the same state
    /// and verdict, and no failure where `expected` succeeded. (It may
    /// succeed where `expected` failed: a kill before the first step in a
    /// new folder leaves an empty cortex.db, which `down` accepts, where
    /// without a crash there is none and `down` says so; both leave the
    /// same state.)
    fn matches(&self, expected: &Left) -> bool {
        self.state == expected.state
            && self.verdict == expected.verdict
            && (self.error.is_none() || expected.error.is_some())
    }
}

impl Restart {
    /// Starts this way on the folder as it is (`down` with `back`). Not
    /// for `Status`, which is checked on its own.
    async fn run(self, b: &Bench, back: &[String]) -> Left {
        let failed = |o: std::process::Output| {
            (!o.status.success()).then(|| String::from_utf8_lossy(&o.stderr).into_owned())
        };
        let error = match self {
            Restart::Status => unreachable!("status is checked by `status_reads_only`"),
            Restart::Up => failed(common::cli(&b.data, &["up"])),
            Restart::Down => {
                let args: Vec<&str> = back.iter().map(String::as_str).collect();
                failed(common::cli(&b.data, &args))
            }
            Restart::Boot => boot(b).await.err(),
            Restart::SeaOrmCli => sea_orm_cli_up(b).await.err(),
        };
        Left {
            error,
            state: digest(&b.home, &b.data).await,
            verdict: verdict(&b.data).await,
        }
    }
}

/// Starts the way Cortex does, `Boot::locate` (the data folder and its
/// `.cortexrc` found by Cortex's rules), with the fixture's home for the
/// process's (`Boot::locate_with`); the connection it hands back must read
/// the models.
async fn boot(b: &Bench) -> Result<(), String> {
    let search = Search {
        home: Some(b.home.clone()),
        ..Search::default()
    };
    let boot = Boot::locate_with(search).map_err(|e| e.to_string())?;
    assert_eq!(
        boot.place.data_dir(),
        Some(b.data.as_path()),
        "the fixture's home names another folder"
    );
    let booted = boot.open().await.map_err(|e| e.to_string())?;
    entity::models::Entity::find()
        .all(&booted.db)
        .await
        .expect("the booted connection reads the models");
    booted
        .db
        .close()
        .await
        .expect("closing the booted connection");
    Ok(())
}

/// What `sea-orm-cli migrate up -u sqlite://<cortex.db>?mode=rwc` does once
/// its arguments are parsed: connect to the URL, `MigratorTrait::up(db,
/// None)`.
async fn sea_orm_cli_up(b: &Bench) -> Result<(), String> {
    // That path takes the folder steps' folder from this variable, when
    // set: this process must not have it.
    assert!(
        std::env::var_os(cortex_migrate::location::DATA_DIR_ENV).is_none(),
        "{} is set: the sea-orm-cli path would work on that folder",
        cortex_migrate::location::DATA_DIR_ENV
    );
    let url = format!("sqlite://{}?mode=rwc", b.data.join("cortex.db").display());
    let db = sea_orm::Database::connect(&url)
        .await
        .map_err(|e| e.to_string())?;
    let result = <Migrator as MigratorTrait>::up(&db, None)
        .await
        .map_err(|e| e.to_string());
    db.close().await.expect("closing the connection");
    result
}

/// `status` on the folder as a kill left it: reads only, and names the
/// interrupted step exactly when a journal is left. What it was shown:
/// whether the migrator's journal was left, and SQLite's (a transaction
/// the kill cut short).
fn status_reads_only(b: &Bench, at: &str) -> [bool; 2] {
    let journal = StateDir::in_folder(&b.data).has_journal();
    let sqlite_journal = b.data.join("cortex.db-journal").exists();
    let before = common::every_entry(&b.home);
    let o = common::cli(&b.data, &["status", "--json"]);
    let after = common::every_entry(&b.home);
    assert!(
        before == after,
        "{at}: status wrote: {}",
        first_difference(&format!("{before:#?}"), &format!("{after:#?}"))
    );
    let out: serde_json::Value = serde_json::from_str(&common::ok(&o))
        .unwrap_or_else(|e| panic!("{at}: status --json: {e}"));
    assert_eq!(
        !out["interrupted"].is_null(),
        journal,
        "{at}: a journal is left: {journal}; status says interrupted: {}",
        out["interrupted"]
    );
    [journal, sqlite_journal]
}

/// The `Down` restart's command: a down run's own; after an up run, the
/// way back to where it started.
fn way_back(start: Start, down_to: Option<&str>) -> Vec<String> {
    let to = match (down_to, start) {
        (Some(to), _) => to.to_owned(),
        (None, Start::Empty) => "0".to_owned(),
        (None, Start::Cortex(v)) => step_names()[v as usize].clone(),
        (None, Start::BeforeFix) => first_engine_rename::steps_before_fix()
            .last()
            .map(|s| s.name().to_owned())
            .expect("steps before the fix"),
        (None, Start::BeforeDb) => before_adoption(),
    };
    run_args(Some(&to))
}

/// The restarts of one run, and what each must leave.
struct Restarts<'a> {
    b: &'a Bench,
    way: &'a Way,
    /// The `Down` restart's command (see [`way_back`]).
    back: Vec<String>,
    /// The state a complete `up` leaves: an up run's last, a down run's
    /// first (the folder `up` migrated).
    full_up: usize,
    /// The state `Down` must leave after a down run (its own command
    /// again: the run's last); `None` after an up run.
    down_finishes: Option<usize>,
    /// What a restart leaves, without a crash, from the state after `unit`
    /// units of work.
    references: HashMap<(Restart, usize), Left>,
    /// How many of each were tried.
    tried: BTreeMap<Restart, usize>,
    /// How often `status` was shown a journal left: the migrator's, SQLite's.
    status_shown: [usize; 2],
}

impl Restarts<'_> {
    /// Starts again by `restart` from the folder as the kill left it (kept
    /// by `keep_crashed`), in unit of work `lo + 1` (`hi` the state after
    /// it), and asserts what it left.
    async fn check(&mut self, restart: Restart, lo: usize, hi: usize, at: &str) {
        *self.tried.entry(restart).or_default() += 1;
        let (b, way) = (self.b, self.way);
        if restart == Restart::Status {
            b.back_to_crashed();
            let [journal, sqlite_journal] = status_reads_only(b, at);
            self.status_shown[0] += usize::from(journal);
            self.status_shown[1] += usize::from(sqlite_journal);
            let r = common::cli(&b.data, &["recover"]);
            assert!(
                r.status.success(),
                "{at}: recover: {}",
                String::from_utf8_lossy(&r.stderr)
            );
            let d = digest(&b.home, &b.data).await;
            let k = [lo, hi].into_iter().find(|&k| d == way.states[k]);
            let k = k.unwrap_or_else(|| {
                panic!(
                    "{at}: recover after it left neither the state before nor after: {}",
                    first_difference(&way.states[lo], &d)
                )
            });
            assert_eq!(verdict(&b.data).await, way.verdicts[k], "{at}: verify");
            return;
        }
        let fixed = match restart {
            Restart::Up | Restart::Boot => Some(self.full_up),
            Restart::Down => self.down_finishes,
            _ => None,
        };
        if let Some(k) = fixed {
            b.back_to_crashed();
            let left = restart.run(b, &self.back).await;
            assert!(
                left.error.is_none(),
                "{at}: {}",
                left.error.unwrap_or_default()
            );
            assert!(
                left.state == way.states[k],
                "{at}: {}",
                first_difference(&way.states[k], &left.state)
            );
            assert_eq!(left.verdict, way.verdicts[k], "{at}: verify");
            return;
        }
        // What it leaves without a crash from the state before or after.
        for k in [lo, hi] {
            if !self.references.contains_key(&(restart, k)) {
                b.at_state(way, k);
                let reference = restart.run(b, &self.back).await;
                self.references.insert((restart, k), reference);
            }
        }
        b.back_to_crashed();
        let left = restart.run(b, &self.back).await;
        let (from_lo, from_hi) = (
            &self.references[&(restart, lo)],
            &self.references[&(restart, hi)],
        );
        assert!(
            left.matches(from_lo) || left.matches(from_hi),
            "{at}: left neither what it leaves from the state before nor from the state after \
             (errors: {:?}, from before {:?}, from after {:?}; verify: {:?}, from before {:?}): {}",
            left.error,
            from_lo.error,
            from_hi.error,
            left.verdict,
            from_lo.verdict,
            first_difference(&from_lo.state, &left.state)
        );
    }
}

async fn exercise(mode: &str, start: Start, down_to: Option<&str>) {
    let b = Bench::new(start, down_to.is_some()).await;
    let way = states(&b, start, down_to).await;
    let states = &way.states;
    let last = states.len() - 1;
    let points = boundaries(&b, start, down_to);
    let args = run_args(down_to);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut restarts = Restarts {
        b: &b,
        way: &way,
        back: way_back(start, down_to),
        full_up: if down_to.is_some() { 0 } else { last },
        down_finishes: down_to.map(|_| last),
        references: HashMap::new(),
        tried: BTreeMap::new(),
        status_shown: [0, 0],
    };
    assert_eq!(
        way.verdicts[restarts.full_up],
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
    for (i, (n, label, unit)) in points.iter().filter(|(n, _, _)| n % every == 0).enumerate() {
        b.reset();
        tried += 1;
        *labels.entry(label.clone()).or_default() += 1;
        let o = common::cli_with(&b.data, &args, Some(format!("{n}:{mode}")), None);
        let restart = (kill && i % RESTART_EVERY == 0)
            .then(|| RESTARTS[(i / RESTART_EVERY) % RESTARTS.len()]);
        if kill {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                o.status.signal(),
                Some(9),
                "{name}: boundary {n} ({label}) did not kill the run"
            );
            if restart.is_some() {
                b.keep_crashed();
            }
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

        // The same kill, and another way to start again.
        if let Some(restart) = restart {
            let at = format!("{name}: {restart:?} after boundary {n} ({label})");
            restarts.check(restart, lo, hi, &at).await;
        }
    }
    println!(
        "{name}/{mode}: points tried {tried} (of {}), before-state {before}, after-state {after}, corrupted {}",
        points.len(),
        corrupted.len()
    );
    println!("{name}/{mode}: boundaries by kind {labels:?}");
    if kill {
        println!(
            "{name}/{mode}: restarts besides recover {:?}",
            restarts.tried
        );
        println!(
            "{name}/{mode}: status shown the migrator's journal {} time(s), SQLite's {}",
            restarts.status_shown[0], restarts.status_shown[1]
        );
    }
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
