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
//! Where the data is: down to nothing from populated cortex.cpp v1, v2
//! and v3 folders; a folder of 300 models, whose model.yml rewrite takes
//! the threaded batch path (whole-filesystem syncs); the adoption of a folder
//! from before cortex.db with every move a verified copy
//! (`CORTEX_MIGRATE_FORCE_COPY`), up and down.
//!
//! `CORTEX_MIGRATE_CRASH_EVERY=k` tries every k-th boundary only. The runs
//! too long to try every boundary draw a sample ([`Sample::Seeded`]): the
//! seed is printed, `CORTEX_MIGRATE_CRASH_SEED` draws the same again.

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
    /// `Cortex(1)` with this many more models (`gen-model-N`, each with
    /// its model.yml naming the legacy engine), taken up to the step
    /// before the legacy engine rename: that step rewrites every model.yml
    /// in one batch of more than 32 files, the threaded path that syncs
    /// the filesystem once, and the steps after it run.
    Crowded(usize),
}

struct Bench {
    _fx: common::Fixture,
    /// Every command this bench runs makes its moves verified copies
    /// (`CORTEX_MIGRATE_FORCE_COPY`), as across filesystems.
    force_copy: bool,
    home: PathBuf,
    data: PathBuf,
    pristine: PathBuf,
    /// The home as the last kill left it.
    crashed: PathBuf,
}

impl Bench {
    /// The starting folder; `migrated` runs every step first (to test the
    /// way down).
    async fn new(start: Start, migrated: bool, force_copy: bool) -> Bench {
        let fx = match start {
            Start::Empty => common::Fixture::empty(),
            Start::Cortex(v) => common::cortex_folder(v).await,
            Start::Crowded(models) => {
                let fx = common::build(common::FixtureSpec {
                    models,
                    ..common::FixtureSpec::new(1)
                })
                .await;
                let to = before_engine_rename();
                common::ok(&common::cli(&fx.data, &["up", "--to", &to]));
                fx
            }
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
            force_copy,
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

    /// Runs the binary on the data folder (see `common::cli_with`), moves
    /// made copies if the bench says so.
    fn cli(
        &self,
        args: &[&str],
        fault: Option<String>,
        log: Option<&Path>,
    ) -> std::process::Output {
        let env: &[(&str, &str)] = if self.force_copy {
            &[("CORTEX_MIGRATE_FORCE_COPY", "1")]
        } else {
            &[]
        };
        common::cli_env(&self.data, args, fault, log, env)
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
        (None, Start::BeforeDb | Start::Crowded(_)) => {
            let from = match start {
                Start::Crowded(_) => before_engine_rename(),
                _ => before_adoption(),
            };
            let done = steps.iter().position(|s| *s == from).unwrap() + 1;
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
            let o = b.cli(&args, None, None);
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
    let o = b.cli(&args, None, Some(&log));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Adoption (a cortex.cpp start going up) is the first unit of work:
    // everything before the first step belongs to it.
    let adopts = down_to.is_none() && matches!(start, Start::Cortex(_));
    let mut unit = usize::from(adopts);
    let mut lines: Vec<(usize, String)> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|line| {
            let (n, label) = line
                .split_once(' ')
                .unwrap_or_else(|| panic!("a boundary log line: {line:?}"));
            let n = n
                .parse()
                .unwrap_or_else(|e| panic!("a boundary log line: {line:?}: {e}"));
            (n, label.to_owned())
        })
        .collect();
    // The threads of a rewrite batch may log their boundaries out of turn.
    lines.sort();
    assert!(
        lines.iter().enumerate().all(|(i, (n, _))| *n == i + 1),
        "the boundary log misses or repeats a number"
    );
    let mut out = Vec::new();
    for (n, label) in lines {
        if label == "step: transaction begun" {
            unit += 1;
        }
        out.push((n, label, unit));
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
    /// `cortex-migrate up`: recovers, then applies every step. After an
    /// up run it must leave the run's last state. After a down run, what
    /// it leaves, run without a crash, from the state before or after the
    /// step the kill interrupted: not always the run's first state, since
    /// a table a down step set aside comes back under a name SQLite
    /// quotes in its schema text (`CREATE TABLE "files"` where cortex.cpp
    /// wrote `CREATE TABLE files`), crash or not.
    Up,
    /// `cortex-migrate down`. After a down run, its own command again,
    /// which must leave the run's last state. After an up run, the way
    /// back to where it started (`down --to <that step> --yes`), which
    /// must leave what that command leaves, run without a crash, from the
    /// state before or the state after the step the kill interrupted.
    Down,
    /// The boot API as Cortex calls it at start (`Boot::locate`; here
    /// `Boot::locate_with` the fixture's home for the process's): what
    /// `up` must leave, and the connection it hands back reads the models.
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
            Restart::Up => failed(b.cli(&["up"], None, None)),
            Restart::Down => {
                let args: Vec<&str> = back.iter().map(String::as_str).collect();
                failed(b.cli(&args, None, None))
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
        (None, Start::Crowded(_)) => before_engine_rename(),
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
    /// After an up run, the state `Up` and `Boot` must leave: its last.
    /// (After a down run they are held to what they leave from the state
    /// before or after, see [`Restart::Up`].)
    full_up: Option<usize>,
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
            let r = b.cli(&["recover"], None, None);
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
            Restart::Up | Restart::Boot => self.full_up,
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

/// Which boundaries a run breaks.
#[derive(Debug, Clone, Copy)]
enum Sample {
    /// Every one (every k-th with `CORTEX_MIGRATE_CRASH_EVERY=k`).
    All,
    /// Where every one would take too long: always the first and the last
    /// boundary and every boundary labelled one of `always` with the one
    /// before and the one after it, and `count` more drawn at random from
    /// the rest. The seed is printed; `CORTEX_MIGRATE_CRASH_SEED` replays a
    /// draw.
    Seeded {
        count: usize,
        always: &'static [&'static str],
    },
}

/// One crash test: where it starts, what it runs, how, and which of its
/// boundaries it breaks.
#[derive(Debug, Clone, Copy)]
struct Run<'a> {
    mode: &'a str,
    start: Start,
    /// `None` runs `up`; else `down --to` this.
    down_to: Option<&'a str>,
    /// Every move of every command a verified copy
    /// (`CORTEX_MIGRATE_FORCE_COPY`), as across filesystems.
    force_copy: bool,
    sample: Sample,
    /// Boundary labels the run must pass: the path the test is about is
    /// reached.
    reaches: &'static [&'static str],
}

impl<'a> Run<'a> {
    /// Every boundary of `mode` from `start`, moves by rename.
    fn new(mode: &'a str, start: Start, down_to: Option<&'a str>) -> Self {
        Run {
            mode,
            start,
            down_to,
            force_copy: false,
            sample: Sample::All,
            reaches: &[],
        }
    }
}

/// splitmix64: a small, seedable stream of numbers, enough to draw
/// boundaries.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The indices into `points` of the boundaries `sample` breaks, in order.
fn chosen(points: &[(usize, String, usize)], sample: Sample, name: &str) -> Vec<usize> {
    match sample {
        Sample::All => {
            let every: usize = std::env::var("CORTEX_MIGRATE_CRASH_EVERY")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1)
                .max(1);
            (0..points.len())
                .filter(|&i| points[i].0.is_multiple_of(every))
                .collect()
        }
        Sample::Seeded { count, always } => {
            let seed = std::env::var("CORTEX_MIGRATE_CRASH_SEED")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| {
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos() as u64)
                        .unwrap_or(0)
                });
            println!(
                "{name}: seed {seed} (CORTEX_MIGRATE_CRASH_SEED={seed} draws the same boundaries)"
            );
            let last = points.len().saturating_sub(1);
            let mut set = std::collections::BTreeSet::from([0, last]);
            for (i, (_, label, _)) in points.iter().enumerate() {
                if always.contains(&label.as_str()) {
                    set.extend([i.saturating_sub(1), i, (i + 1).min(last)]);
                }
            }
            let mut rest: Vec<usize> = (0..points.len()).filter(|i| !set.contains(i)).collect();
            let mut draw = Draw(seed);
            for k in 0..count.min(rest.len()) {
                let j = k + (draw.next() % (rest.len() - k) as u64) as usize;
                rest.swap(k, j);
                set.insert(rest[k]);
            }
            set.into_iter().collect()
        }
    }
}

async fn exercise(mode: &str, start: Start, down_to: Option<&str>) {
    exercise_run(Run::new(mode, start, down_to)).await;
}

async fn exercise_run(run: Run<'_>) {
    let Run {
        mode,
        start,
        down_to,
        force_copy,
        sample,
        reaches,
    } = run;
    let began = std::time::Instant::now();
    let b = Bench::new(start, down_to.is_some(), force_copy).await;
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
        full_up: down_to.is_none().then_some(last),
        down_finishes: down_to.map(|_| last),
        references: HashMap::new(),
        tried: BTreeMap::new(),
        status_shown: [0, 0],
    };
    assert_eq!(
        way.verdicts[if down_to.is_some() { 0 } else { last }],
        Some(vec![]),
        "verify after a complete up"
    );
    let name = format!(
        "{}{start:?}{}{}",
        if down_to.is_some() {
            "down from migrated "
        } else {
            "up from "
        },
        match down_to {
            Some(to) if to.len() < 3 => format!(" to {to}"),
            _ => String::new(),
        },
        if force_copy { ", moves as copies" } else { "" }
    );
    for label in reaches {
        assert!(
            points.iter().any(|(_, l, _)| l == label),
            "{name}: the run never passes `{label}`"
        );
    }
    let picked = chosen(&points, sample, &name);
    let kill = mode == "kill";
    let (mut tried, mut before, mut after) = (0, 0, 0);
    let mut corrupted = Vec::new();
    let mut labels: BTreeMap<String, usize> = BTreeMap::new();
    for (i, (n, label, unit)) in picked.iter().map(|&k| &points[k]).enumerate() {
        b.reset();
        tried += 1;
        *labels.entry(label.clone()).or_default() += 1;
        let o = b.cli(&args, Some(format!("{n}:{mode}")), None);
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
        let r = b.cli(&["recover"], None, None);
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
        let fin = b.cli(&args, None, None);
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
        "{name}/{mode}: points tried {tried} (of {}), before-state {before}, after-state {after}, corrupted {} ({:.0?})",
        points.len(),
        corrupted.len(),
        began.elapsed()
    );
    println!("{name}/{mode}: boundaries by kind {labels:?}");
    if !matches!(sample, Sample::All) {
        let mut all: BTreeMap<&str, usize> = BTreeMap::new();
        for (_, label, _) in &points {
            *all.entry(label).or_default() += 1;
        }
        println!("{name}/{mode}: the run's boundaries by kind {all:?}");
    }
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

/// The last step before the legacy engine rename (which rewrites every
/// model.yml).
fn before_engine_rename() -> String {
    let steps = step_names();
    let at = steps
        .iter()
        .position(|s| s == "m20261126_000002_rename_legacy_engines")
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

/// From a populated cortex.cpp v3 folder (models with their model.yml,
/// hardware, engines, `files` rows, a catalogue row), taken `up` first,
/// all the way down, killed at every boundary: every down step keeps what
/// it drops (archive tables, set-aside files) under a kill as without one.
#[tokio::test]
async fn down_to_nothing_from_migrated_cortex_v3_killed_at_every_boundary_recovers() {
    exercise("kill", Start::Cortex(3), Some("0")).await;
}

/// The same from populated v1 and v2 folders: they pass the same
/// boundaries as v3 (all were taken up to the newest step), over other
/// rows; every boundary of each too.
#[tokio::test]
async fn down_to_nothing_from_migrated_cortex_v1_killed_at_every_boundary_recovers() {
    exercise("kill", Start::Cortex(1), Some("0")).await;
}

#[tokio::test]
async fn down_to_nothing_from_migrated_cortex_v2_killed_at_every_boundary_recovers() {
    exercise("kill", Start::Cortex(2), Some("0")).await;
}

/// In error mode, a sample: the first and last boundary, every step's
/// commit with the boundary before and after it, and 24 drawn at random;
/// the seed is printed.
const DOWN_SAMPLE: Sample = Sample::Seeded {
    count: 24,
    always: &["step: committed"],
};

#[tokio::test]
async fn down_to_nothing_from_migrated_cortex_v3_failed_is_before_or_after() {
    exercise_run(Run {
        sample: DOWN_SAMPLE,
        ..Run::new("error", Start::Cortex(3), Some("0"))
    })
    .await;
}

/// The boundaries of the threaded rewrite path that every draw includes
/// (with the one before and after each): the filesystem sync after the
/// threads kept every old version and wrote every new one, the renames
/// journaled as done, and the sync that makes them durable together.
const BATCH_SYNC_REGION: &[&str] = &[
    "rewrite batch: before the filesystem sync",
    "rewrite batch: filesystem synced",
    "rewrite batch: every file replaced",
    "rewrite batch: renames synced",
];

/// A v1 folder with 300 more models, from the step before the legacy
/// engine rename: that step rewrites every model.yml in one batch, which
/// takes the threaded path (more than 32 files, whole-filesystem syncs). Its
/// 1,500-odd boundaries are sampled: the first and last, the sync region
/// ([`BATCH_SYNC_REGION`], with the boundary before and after each) and
/// 16 drawn at random (most inside the threads: old version kept, new
/// version written beside, file replaced); the seed is printed.
#[tokio::test]
async fn up_with_300_models_killed_in_the_threaded_rewrite_recovers_before_or_after() {
    exercise_run(Run {
        sample: Sample::Seeded {
            count: 16,
            always: BATCH_SYNC_REGION,
        },
        reaches: &[
            "rewrite batch: old version kept",
            "rewrite batch: new version written beside",
            "rewrite batch: file replaced",
            "rewrite batch: every file replaced",
            "rewrite batch: before the filesystem sync",
            "rewrite batch: filesystem synced",
            "rewrite batch: renames synced",
        ],
        ..Run::new("kill", Start::Crowded(300), None)
    })
    .await;
}

/// The boundaries inside a verified copy.
const COPY_POINTS: &[&str] = &[
    "copy: file copied",
    "copy: copied, not yet verified",
    "copy: verified",
];

/// The adoption of a folder from before cortex.db moves model folders;
/// with every move a verified copy (as across filesystems), every boundary
/// killed: inside the copy, after it before its verification, after the
/// verification before the source goes (at finalize).
#[tokio::test]
async fn adopting_before_cortex_db_with_moves_as_copies_killed_at_every_boundary_recovers() {
    exercise_run(Run {
        force_copy: true,
        reaches: COPY_POINTS,
        ..Run::new("kill", Start::BeforeDb, None)
    })
    .await;
}

/// Its way back, every move a verified copy: the folders the adoption
/// created must go although the sources of the copies back stay until
/// the step commits. Sampled: the first and last boundary, every
/// verification of a copy with the boundary before and after it, and 24
/// drawn at random; the seed is printed.
#[tokio::test]
async fn down_from_adopting_before_cortex_db_with_moves_as_copies_killed_recovers() {
    exercise_run(Run {
        force_copy: true,
        sample: Sample::Seeded {
            count: 24,
            always: &["copy: verified"],
        },
        reaches: COPY_POINTS,
        ..Run::new("kill", Start::BeforeDb, Some(&before_adoption()))
    })
    .await;
}
