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

use common::power_cut::{Pending, boundaries, fingerprint};
use common::states::{digest, first_difference, verdict};
use migration::Migrator;
use migration::toolkit::StepList;

/// Up to this many trees a boundary's power cut may leave, all are tried;
/// beyond, a sample of this many.
const ALL_UP_TO: usize = 6;

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
        (None, Start::BeforeDb) => {
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
    states: usize,
    duplicates: usize,
    before: usize,
    after: usize,
    sampled: usize,
    corrupted: Vec<String>,
}

async fn exercise(start: Start, down_to: Option<&str>) {
    let seed: u64 = std::env::var("CORTEX_MIGRATE_POWER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let name = match down_to {
        None => format!("up from {start:?}"),
        Some(_) => format!("down from migrated {start:?}"),
    };
    let began = std::time::Instant::now();
    let b = Bench::new(start, down_to.is_some()).await;
    let data = b.fx.data.clone();
    let states = way(&b, start, down_to).await;
    let last = states.len() - 1;
    let args: Vec<String> = match down_to {
        None => vec!["up".into()],
        Some(to) => vec!["down".into(), "--to".into(), to.into(), "--yes".into()],
    };
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // One whole run, logged: its boundaries, the unit of work each lies
    // in, and which of them have changes not yet durable.
    b.home_from(&b.pristine);
    let full = b.fs_log("fs-log-full");
    common::ok(&common::cli_recorded(&data, &args, None, None, Some(&full)));
    let adopts = down_to.is_none();
    let mut unit = usize::from(adopts && matches!(start, Start::CortexV1));
    let mut points = Vec::new();
    for (n, label) in boundaries(&full) {
        if label == "step: transaction begun" {
            unit += 1;
        }
        points.push((n, label, unit));
    }
    let mut t = Tally {
        boundaries: points.len(),
        ..Tally::default()
    };
    let mut by_label: BTreeMap<String, usize> = BTreeMap::new();
    let mut finished = None;
    for (n, label, unit) in &points {
        if Pending::read(&full, Some(*n)).len() == 0 {
            continue;
        }
        t.with_pending += 1;
        *by_label.entry(label.clone()).or_default() += 1;
        // The tree a kill at this boundary leaves, and its log.
        b.home_from(&b.pristine);
        let log = b.fs_log("fs-log-killed");
        let o = common::cli_recorded(&data, &args, Some(format!("{n}:kill")), None, Some(&log));
        {
            use std::os::unix::process::ExitStatusExt;
            assert_eq!(
                o.status.signal(),
                Some(9),
                "{name}: {n} ({label}) not killed"
            );
        }
        if b.crashed.exists() {
            std::fs::remove_dir_all(&b.crashed).expect("removing the last crash");
        }
        common::copy_tree(&b.fx.home, &b.crashed);
        let pending = Pending::read(&log, None);
        let cuts = pending.cuts(ALL_UP_TO, seed ^ n);
        if cuts.len() >= ALL_UP_TO {
            t.sampled += 1;
        }
        let mut seen = HashSet::from([fingerprint(&b.fx.home)]);
        let (lo, hi) = (unit.saturating_sub(1), (*unit).min(last));
        for cut in &cuts {
            b.home_from(&b.crashed);
            pending.apply(cut);
            if !seen.insert(fingerprint(&b.fx.home)) {
                t.duplicates += 1;
                continue;
            }
            t.states += 1;
            let at = format!("{name}: boundary {n} ({label}), {}", pending.describe(cut));
            let r = common::cli(&data, &["recover"]);
            if !r.status.success() {
                t.corrupted.push(format!(
                    "{at}: recover failed: {}",
                    String::from_utf8_lossy(&r.stderr)
                ));
                continue;
            }
            let d = digest(&b.fx.home, &data).await;
            let k = if d == states[lo].0 {
                t.before += 1;
                lo
            } else if d == states[hi].0 {
                t.after += 1;
                hi
            } else {
                t.corrupted.push(format!(
                    "{at}: neither before nor after: {}",
                    first_difference(&states[lo].0, &d)
                ));
                continue;
            };
            assert_eq!(verdict(&data).await, states[k].1, "{at}: verify");
            // The interrupted command finishes (once a boundary: every
            // state it starts from is one of the two checked above).
            if finished == Some(*n) {
                continue;
            }
            finished = Some(*n);
            let fin = common::cli(&data, &args);
            assert!(
                fin.status.success(),
                "{at}: finishing: {}",
                String::from_utf8_lossy(&fin.stderr)
            );
            let d = digest(&b.fx.home, &data).await;
            assert!(
                d == states[last].0,
                "{at}: finishing: {}",
                first_difference(&states[last].0, &d)
            );
        }
    }
    println!(
        "{name}: boundaries {}, with changes not yet durable {}, power-cut states tried {} \
         (before-state {}, after-state {}; {} more were the same tree), boundaries sampled {} \
         (seed {seed}), corrupted {}, in {:.1} s",
        t.boundaries,
        t.with_pending,
        t.states,
        t.before,
        t.after,
        t.duplicates,
        t.sampled,
        t.corrupted.len(),
        began.elapsed().as_secs_f64()
    );
    println!("{name}: boundaries with changes not yet durable, by kind {by_label:?}");
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

#[tokio::test]
async fn up_from_cortex_v1_power_cut_at_every_boundary_recovers_before_or_after() {
    exercise(Start::CortexV1, None).await;
}

#[tokio::test]
async fn down_from_cortex_v1_power_cut_at_every_boundary_recovers_before_or_after() {
    exercise(Start::CortexV1, Some(&step_names()[3])).await;
}

#[tokio::test]
async fn adopting_a_folder_from_before_cortex_db_power_cut_at_every_boundary_recovers() {
    exercise(Start::BeforeDb, None).await;
}

#[tokio::test]
async fn down_from_adopting_a_folder_from_before_cortex_db_power_cut_at_every_boundary_recovers() {
    exercise(Start::BeforeDb, Some(&before_adoption())).await;
}
