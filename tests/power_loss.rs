//! Power loss, not only process death. A kill keeps everything the process
//! wrote (the kernel's page cache survives it), so `crash.rs` can never see
//! a missing fsync; a power cut loses what no fsync made durable yet.
//!
//! A run of the real binary logs every change it makes to the disk and
//! every fsync (`CORTEX_MIGRATE_FS_LOG`, the toolkit's recording door) and
//! every boundary. At each boundary where some change is not durable yet,
//! the run is killed there, and each tree a power cut may leave instead
//! (`common::power_cut`: changes not yet durable lost, bytes not yet
//! fsynced lost or torn) is built from the tree the kill left; `recover`
//! must bring it to exactly the state before or after the step that was
//! running (`common::states::digest`, database included as it is at that
//! instant: its durability is SQLite's), `verify` must say of it what it
//! says there, and the interrupted command, run again, must finish.
//!
//! All the trees of a boundary are tried where there are at most
//! [`ALL_UP_TO`]; otherwise that many: all the changes lost, then each
//! lost alone, then random ones, drawn from a seed that is printed
//! (`CORTEX_MIGRATE_POWER_SEED=<seed>` draws the same sample again).
//!
//! The folder steps that move and rewrite files, up and down: from a
//! cortex.cpp v1 folder (relative_model_paths, rename_legacy_engines,
//! engine_folders_by_repository) and from a nightly folder from before
//! cortex.db (models_before_cortex_db, cortexrc_server_address).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use common::power_cut::{Pending, SplitMix, boundaries, fingerprint};
use common::states::{digest, first_difference, verdict};
use migration::Migrator;
use migration::toolkit::{StateDir, StepList};

/// Up to this many trees a boundary's power cut may leave, all are tried;
/// beyond, a sample of this many.
const ALL_UP_TO: usize = 5;

/// Where a run starts.
#[derive(Debug, Clone, Copy)]
enum Start {
    /// A cortex.cpp v1 folder: adoption, then every later step (the folder
    /// steps that move engine folders and rewrite model paths).
    CortexV1,
    /// A nightly folder from before cortex.db with a `.cortexrc` naming
    /// `host`/`port`, taken up to the step before its adoption: the
    /// adoption (model folders and yaml set aside) and the config step.
    BeforeDb,
    /// A nightly folder from before cortex.db with more models than a
    /// batch of rewrites does one by one (`BATCH_SYNC_THRESHOLD`, 32): the
    /// adoption rewrites their yaml by a few threads with syncs of the
    /// whole filesystem.
    ManyBeforeDb,
}

fn step_names() -> Vec<String> {
    Migrator::steps()
        .iter()
        .map(|s| s.name().to_owned())
        .collect()
}

/// The last step before the adoption of folders from before cortex.db.
fn before_adoption() -> String {
    let steps = step_names();
    let at = steps
        .iter()
        .position(|s| s == "m20261203_000003_models_before_cortex_db")
        .expect("the adoption step is listed");
    steps[at - 1].clone()
}

struct Bench {
    fx: common::Fixture,
    pristine: PathBuf,
    crashed: PathBuf,
}

impl Bench {
    async fn new(start: Start, migrated: bool) -> Bench {
        let fx = match start {
            Start::CortexV1 => common::cortex_folder(1).await,
            Start::BeforeDb => {
                let fx = common::Fixture::empty();
                common::generations::nightly_with_model_list(&fx.data, &fx.outside());
                common::generations::cortexrc_before_24166e4f(&fx.cortexrc(), &fx.data);
                common::ok(&common::cli(&fx.data, &["up", "--to", &before_adoption()]));
                fx
            }
            Start::ManyBeforeDb => {
                let fx = common::Fixture::empty();
                for i in 0..36 {
                    common::generations::cortexso_pull_nightly(&fx.data, &format!("model-{i}"));
                }
                common::ok(&common::cli(&fx.data, &["up", "--to", &before_adoption()]));
                fx
            }
        };
        if migrated {
            common::ok(&common::cli(&fx.data, &["up"]));
        }
        let pristine = fx.tmp.path().join("pristine");
        let crashed = fx.tmp.path().join("crashed");
        common::copy_tree(&fx.home, &pristine);
        Bench {
            fx,
            pristine,
            crashed,
        }
    }

    fn home_from(&self, copy: &Path) {
        std::fs::remove_dir_all(&self.fx.home).expect("removing the home");
        common::copy_tree(copy, &self.fx.home);
    }

    /// A fresh folder for one run's log of the disk.
    fn fs_log(&self, name: &str) -> PathBuf {
        let log = self.fx.tmp.path().join(name);
        if log.exists() {
            std::fs::remove_dir_all(&log).expect("removing an old log");
        }
        log
    }
}

/// The states the run passes through without a crash (before anything,
/// then after each unit of work), with what `verify` finds in each.
async fn way(b: &Bench, start: Start, down_to: Option<&str>) -> Vec<(String, Option<Vec<String>>)> {
    let steps = step_names();
    let targets: Vec<Vec<String>> = match (down_to, start) {
        (None, Start::CortexV1) => steps
            .iter()
            .skip(1)
            .map(|s| vec!["up".into(), "--to".into(), s.clone()])
            .collect(),
        (None, Start::BeforeDb | Start::ManyBeforeDb) => {
            let done = steps
                .iter()
                .position(|s| *s == before_adoption())
                .unwrap_or(0)
                + 1;
            steps
                .iter()
                .skip(done)
                .map(|s| vec!["up".into(), "--to".into(), s.clone()])
                .collect()
        }
        (Some(to), _) => {
            let last = steps.iter().position(|s| s == to).expect("a listed step");
            (last..steps.len() - 1)
                .rev()
                .map(|i| {
                    vec![
                        "down".into(),
                        "--to".into(),
                        steps[i].clone(),
                        "--yes".into(),
                    ]
                })
                .collect()
        }
    };
    let mut out = Vec::new();
    for unit in 0..=targets.len() {
        b.home_from(&b.pristine);
        if unit > 0 {
            let args: Vec<&str> = targets[unit - 1].iter().map(String::as_str).collect();
            common::ok(&common::cli(&b.fx.data, &args));
        }
        let v = verdict(&b.fx.data).await;
        assert!(
            v.as_ref().is_none_or(Vec::is_empty),
            "state {unit}: verify: {v:?}"
        );
        out.push((digest(&b.fx.home, &b.fx.data).await, v));
    }
    out
}

/// What one test tried.
#[derive(Default)]
struct Tally {
    boundaries: usize,
    with_pending: usize,
    /// Boundaries killed and cut at.
    cut_boundaries: usize,
    states: usize,
    duplicates: usize,
    before: usize,
    after: usize,
    sampled: usize,
    corrupted: Vec<String>,
}

/// A test under way: the states of its run, and what it tried.
struct Trial<'a> {
    b: &'a Bench,
    name: String,
    seed: u64,
    /// The run's states without a crash, with what `verify` finds in each.
    states: Vec<(String, Option<Vec<String>>)>,
    /// The command of the run, which must finish after a recovery.
    args: Vec<String>,
    t: Tally,
    by_label: BTreeMap<String, usize>,
    /// Power cuts at this many of the boundaries with changes not yet
    /// durable (drawn from the seed), or at all of them.
    boundary_sample: Option<usize>,
}

impl<'a> Trial<'a> {
    async fn new(b: &'a Bench, name: String, start: Start, down_to: Option<&str>) -> Trial<'a> {
        let seed: u64 = std::env::var("CORTEX_MIGRATE_POWER_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        let states = way(b, start, down_to).await;
        let args = match down_to {
            None => vec!["up".into()],
            Some(to) => vec!["down".into(), "--to".into(), to.into(), "--yes".into()],
        };
        Trial {
            b,
            name,
            seed,
            states,
            args,
            t: Tally::default(),
            by_label: BTreeMap::new(),
            boundary_sample: None,
        }
    }

    /// Runs `cmd` from the home `from`, its changes to the disk logged:
    /// its boundaries, each with the unit of work it lies in (counted from
    /// `unit`), and the log.
    fn boundaries(
        &self,
        from: &Path,
        cmd: &[&str],
        mut unit: usize,
    ) -> (Vec<(u64, String, usize)>, PathBuf) {
        self.b.home_from(from);
        let full = self.b.fs_log("fs-log-full");
        common::ok(&common::cli_recorded(
            &self.b.fx.data,
            cmd,
            None,
            None,
            Some(&full),
        ));
        let mut points = Vec::new();
        for (n, label) in boundaries(&full) {
            if label == "step: transaction begun" {
                unit += 1;
            }
            points.push((n, label, unit));
        }
        (points, full)
    }

    /// At every boundary of `points` (from the log `full` of a whole run of
    /// `cmd` from the home `from`) where a change is not durable yet: kills
    /// `cmd` there, and from the tree it left tries each power cut.
    async fn cut_at_every_boundary(
        &mut self,
        from: &Path,
        cmd: &[&str],
        points: &[(u64, String, usize)],
        full: &Path,
    ) {
        let (b, data) = (self.b, self.b.fx.data.clone());
        let last = self.states.len() - 1;
        self.t.boundaries += points.len();
        let pending_at = Pending::boundaries_with_pending(full);
        let mut with_pending: Vec<&(u64, String, usize)> = points
            .iter()
            .filter(|(n, _, _)| pending_at.contains(n))
            .collect();
        self.t.with_pending += with_pending.len();
        if let Some(k) = self.boundary_sample
            && with_pending.len() > k
        {
            // The first operation done after a batch of rewrites (where
            // its renames are the newest changes), and a seeded sample.
            let first_done = with_pending
                .iter()
                .position(|(_, l, _)| l == "journal: operation done");
            let mut rng = SplitMix(self.seed);
            let mut keep: Vec<usize> = first_done.into_iter().collect();
            while keep.len() < k {
                let i = (rng.next() % with_pending.len() as u64) as usize;
                if !keep.contains(&i) {
                    keep.push(i);
                }
            }
            keep.sort();
            with_pending = keep.into_iter().map(|i| with_pending[i]).collect();
        }
        for (n, label, unit) in with_pending {
            // The tree a kill at this boundary leaves, and its log.
            b.home_from(from);
            let log = b.fs_log("fs-log-killed");
            let o = common::cli_recorded(&data, cmd, Some(format!("{n}:kill")), None, Some(&log));
            {
                use std::os::unix::process::ExitStatusExt;
                assert_eq!(
                    o.status.signal(),
                    Some(9),
                    "{}: {n} ({label}) not killed",
                    self.name
                );
            }
            if b.crashed.exists() {
                std::fs::remove_dir_all(&b.crashed).expect("removing the last crash");
            }
            common::copy_tree(&b.fx.home, &b.crashed);
            let pending = Pending::read(&log, None);
            if pending.len() == 0 {
                // Durable after all: a later change on the same names is.
                self.t.with_pending -= 1;
                continue;
            }
            self.t.cut_boundaries += 1;
            *self.by_label.entry(label.clone()).or_default() += 1;
            let (cuts, sampled) = pending.cuts(ALL_UP_TO, self.seed ^ n);
            self.t.sampled += usize::from(sampled);
            let mut seen = HashSet::from([fingerprint(&b.fx.home)]);
            let (lo, hi) = (unit.saturating_sub(1), (*unit).min(last));
            let mut finished = false;
            for cut in &cuts {
                b.home_from(&b.crashed);
                pending.apply(cut);
                if !seen.insert(fingerprint(&b.fx.home)) {
                    self.t.duplicates += 1;
                    continue;
                }
                self.t.states += 1;
                let at = format!(
                    "{}: {} boundary {n} ({label}), {}",
                    self.name,
                    cmd.join(" "),
                    pending.describe(cut)
                );
                let r = common::cli(&data, &["recover"]);
                if !r.status.success() {
                    self.t.corrupted.push(format!(
                        "{at}: recover failed: {}",
                        String::from_utf8_lossy(&r.stderr)
                    ));
                    continue;
                }
                let d = digest(&b.fx.home, &data).await;
                let k = if d == self.states[lo].0 {
                    self.t.before += 1;
                    lo
                } else if d == self.states[hi].0 {
                    self.t.after += 1;
                    hi
                } else {
                    self.t.corrupted.push(format!(
                        "{at}: neither before nor after: {}",
                        first_difference(&self.states[lo].0, &d)
                    ));
                    continue;
                };
                assert_eq!(verdict(&data).await, self.states[k].1, "{at}: verify");
                // The interrupted command finishes (once a boundary: every
                // state it starts from is one of the two checked above).
                if finished {
                    continue;
                }
                finished = true;
                let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
                let fin = common::cli(&data, &args);
                assert!(
                    fin.status.success(),
                    "{at}: finishing: {}",
                    String::from_utf8_lossy(&fin.stderr)
                );
                let d = digest(&b.fx.home, &data).await;
                assert!(
                    d == self.states[last].0,
                    "{at}: finishing: {}",
                    first_difference(&self.states[last].0, &d)
                );
            }
        }
    }

    /// Prints what was tried and fails on any corrupted state.
    fn report(self, began: std::time::Instant) {
        let (t, name, seed) = (&self.t, &self.name, self.seed);
        println!(
            "{name}: boundaries {}, with changes not yet durable {} (cut at {}), power-cut states tried {} \
             (before-state {}, after-state {}; {} more were the same tree), boundaries with a sample of power cuts {} \
             (seed {seed}), corrupted {}, in {:.1} s",
            t.boundaries,
            t.with_pending,
            t.cut_boundaries,
            t.states,
            t.before,
            t.after,
            t.duplicates,
            t.sampled,
            t.corrupted.len(),
            began.elapsed().as_secs_f64()
        );
        println!(
            "{name}: boundaries with changes not yet durable, by kind {:?}",
            self.by_label
        );
        assert!(
            t.corrupted.is_empty(),
            "{name} (seed {seed}): corrupted:\n{}",
            t.corrupted.join("\n")
        );
        // Changes wait for an fsync only while a step runs and until its
        // journal is finalized, so some runs see only states before.
        assert!(
            t.states > 0 && t.before > 0,
            "{name}: a test that tries no power cut proves little"
        );
    }
}

fn run_name(start: Start, down_to: Option<&str>) -> String {
    match down_to {
        None => format!("up from {start:?}"),
        Some(_) => format!("down from migrated {start:?}"),
    }
}

/// Power cuts at every boundary of the run where a change is not durable
/// yet (at `sample` of them, if given).
async fn exercise(start: Start, down_to: Option<&str>, sample: Option<usize>) {
    let began = std::time::Instant::now();
    let b = Bench::new(start, down_to.is_some()).await;
    let mut trial = Trial::new(&b, run_name(start, down_to), start, down_to).await;
    trial.boundary_sample = sample;
    let args = trial.args.clone();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Adoption (a cortex.cpp start going up) is the first unit of work.
    let adopts = down_to.is_none() && matches!(start, Start::CortexV1);
    let (points, full) = trial.boundaries(&b.pristine, &args, usize::from(adopts));
    trial
        .cut_at_every_boundary(&b.pristine, &args, &points, &full)
        .await;
    trial.report(began);
}

/// Power cuts during `recover` itself: the run is killed just before each
/// step with file changes commits (its journal is rolled back) and as its
/// journal's finalizing begins (rolled forward), and every boundary of the
/// `recover` that follows gets its power cuts.
async fn exercise_recovery(start: Start, down_to: Option<&str>) {
    let began = std::time::Instant::now();
    let b = Bench::new(start, down_to.is_some()).await;
    let name = format!("recover after a kill, {}", run_name(start, down_to));
    let mut trial = Trial::new(&b, name, start, down_to).await;
    let args = trial.args.clone();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let adopts = down_to.is_none() && matches!(start, Start::CortexV1);
    let (points, _) = trial.boundaries(&b.pristine, &args, usize::from(adopts));
    let killed = b.fx.tmp.path().join("killed");
    for (n, label, unit) in &points {
        if !matches!(
            label.as_str(),
            "step: before commit" | "journal: finalize begins"
        ) {
            continue;
        }
        b.home_from(&b.pristine);
        let o = common::cli_with(&b.fx.data, &args, Some(format!("{n}:kill")), None);
        assert!(!o.status.success(), "{n} ({label}) not killed");
        if !StateDir::in_folder(&b.fx.data).has_journal() {
            // A step without file changes: recover has nothing to do.
            continue;
        }
        if killed.exists() {
            std::fs::remove_dir_all(&killed).expect("removing the last kill");
        }
        common::copy_tree(&b.fx.home, &killed);
        let (rpoints, rfull) = trial.boundaries(&killed, &["recover"], 0);
        let rpoints: Vec<(u64, String, usize)> =
            rpoints.into_iter().map(|(m, l, _)| (m, l, *unit)).collect();
        trial
            .cut_at_every_boundary(&killed, &["recover"], &rpoints, &rfull)
            .await;
    }
    trial.report(began);
}

#[tokio::test]
async fn up_from_cortex_v1_power_cut_at_every_boundary_recovers_before_or_after() {
    exercise(Start::CortexV1, None, None).await;
}

#[tokio::test]
async fn down_from_cortex_v1_power_cut_at_every_boundary_recovers_before_or_after() {
    exercise(Start::CortexV1, Some(&step_names()[3]), None).await;
}

#[tokio::test]
async fn adopting_a_folder_from_before_cortex_db_power_cut_at_every_boundary_recovers() {
    exercise(Start::BeforeDb, None, None).await;
}

#[tokio::test]
async fn down_from_adopting_a_folder_from_before_cortex_db_power_cut_at_every_boundary_recovers() {
    exercise(Start::BeforeDb, Some(&before_adoption()), None).await;
}

#[tokio::test]
async fn recover_after_a_kill_in_the_folder_steps_power_cut_at_every_boundary_recovers() {
    exercise_recovery(Start::CortexV1, None).await;
}

/// The threaded batch of rewrites: its kept old versions and new bytes
/// must be durable before its first rename (they were not: a power cut
/// could keep a rename and lose the kept old version). A sample of the
/// boundaries: the run has hundreds.
#[tokio::test]
async fn adopting_many_models_from_before_cortex_db_power_cut_at_sampled_boundaries_recovers() {
    exercise(Start::ManyBeforeDb, None, Some(4)).await;
}
