//! Crash safety of backups and restores, proven by killing the real binary
//! (`CORTEX_MIGRATE_FAULT=N:kill`) at every boundary of a backup (the
//! database copy, each kept file, the manifest, pruning), of an `up` across
//! its backup phase, and of a restore. After a killed backup the data
//! folder is exactly as before and no half backup is listed: every listed
//! one passes its check and restores the state before its run. After a
//! killed restore the next start (`recover`, or `restore` again) leaves the
//! state before or the restored state, and `verify` is clean.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use common::Fixture;
use migration::toolkit::{DataDir, backup};

type State = (
    BTreeMap<String, String>,
    BTreeMap<String, common::TableRows>,
);

/// The user's files (migrator state and the database file left out) and
/// every row of every table.
async fn state(fx: &Fixture) -> State {
    let mut files = common::tree(&fx.home);
    files.retain(|k, _| !k.ends_with("cortex.db") && !k.ends_with("cortex.db-journal"));
    let db = cortex_migrate::connect::open_sqlite_file(&fx.db_path(), false)
        .await
        .unwrap();
    let rows = common::db_rows(&db).await;
    db.close().await.unwrap();
    (files, rows)
}

/// [`state`] without the migrator's history tables: what Cortex sees. (The
/// next start adopts a cortex.cpp folder, recording its history, before it
/// looks at anything else.)
async fn cortex_state(fx: &Fixture) -> State {
    let (files, mut rows) = state(fx).await;
    rows.retain(|t, _| t != "seaql_migrations" && !t.starts_with("cortex_migrate_"));
    (files, rows)
}

/// No half-built or half-removed backup (a hidden folder) is left in the
/// backups folder after the run that followed the kill at boundary `n`.
fn assert_no_hidden_leftovers(data: &Path, n: usize) {
    let hidden: Vec<_> = std::fs::read_dir(data.join(".cortex-migrate/backups"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| e.file_name())
        .collect();
    assert!(hidden.is_empty(), "boundary {n}: left over {hidden:?}");
}

/// The boundaries a run passes, as `(number, label)`.
fn boundaries(fx: &Fixture, args: &[&str]) -> Vec<(usize, String)> {
    let log = fx.tmp.path().join("points.log");
    let _ = std::fs::remove_file(&log);
    common::ok(&common::cli_with(&fx.data, args, None, Some(&log)));
    std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| {
            let (n, label) = l.split_once(' ').unwrap();
            (n.parse().unwrap(), label.to_owned())
        })
        .collect()
}

/// Keeps a copy of the fixture's home and puts it back on demand.
struct Pristine<'a> {
    fx: &'a Fixture,
    copy: std::path::PathBuf,
}

impl<'a> Pristine<'a> {
    fn take(fx: &'a Fixture) -> Self {
        let copy = fx.tmp.path().join("pristine");
        let _ = std::fs::remove_dir_all(&copy);
        common::copy_tree(&fx.home, &copy);
        Pristine { fx, copy }
    }
    fn reset(&self) {
        std::fs::remove_dir_all(&self.fx.home).unwrap();
        common::copy_tree(&self.copy, &self.fx.home);
    }
}

fn killed_at(data: &Path, args: &[&str], n: usize) {
    let o = common::cli_with(data, args, Some(format!("{n}:kill")), None);
    assert_eq!(o.status.signal(), Some(9), "boundary {n} did not kill");
}

/// Every backup listed passes its check (database and kept files against
/// the manifest).
fn every_listed_backup_is_whole(data: &Path, n: usize) -> Vec<String> {
    let dir = DataDir::new(data).unwrap();
    let list = common::backup_ids(data);
    for id in &list {
        let m = backup::find(&dir, id).unwrap();
        if let Err(e) = backup::check(&dir, &m) {
            panic!("killed at boundary {n}: backup {id} is listed but damaged: {e}");
        }
    }
    list
}

#[tokio::test]
async fn an_up_killed_across_its_backup_leaves_the_folder_as_before_and_no_half_backup() {
    let fx = common::cortex_folder(1).await;
    let pristine = Pristine::take(&fx);
    let before = cortex_state(&fx).await;
    let points = boundaries(&fx, &["up"]);
    let in_place = points
        .iter()
        .find(|(_, l)| l == "backup: in place")
        .map(|(n, _)| *n)
        .expect("the up took a backup");
    let kept = points
        .iter()
        .filter(|(_, l)| l.starts_with("backup: "))
        .count();
    assert!(
        points.iter().any(|(_, l)| l == "backup: file kept"),
        "{points:?}"
    );
    let mut tried = 0;
    for (n, label) in points
        .iter()
        // A step's commit too: the backup must already list what the step
        // changed when a kill follows the commit.
        .filter(|(n, l)| *n <= in_place || l.starts_with("backup: ") || l == "step: committed")
    {
        let n = *n;
        pristine.reset();
        killed_at(&fx.data, &["up"], n);
        let list = every_listed_backup_is_whole(&fx.data, n);
        if n < in_place {
            // Killed before the backup was in place: the folder as before,
            // nothing listed, nothing to restore.
            assert_eq!(cortex_state(&fx).await, before, "boundary {n} ({label})");
            assert!(list.is_empty(), "boundary {n} ({label}): {list:?}");
            let o = common::cli(&fx.data, &["restore", "latest"]);
            assert_eq!(o.status.code(), Some(2), "boundary {n}");
            common::ok(&common::cli(&fx.data, &["recover"]));
            assert_eq!(cortex_state(&fx).await, before, "boundary {n} ({label})");
            every_listed_backup_is_whole(&fx.data, n);
            // The next run takes its backup and clears the leftover.
            common::ok(&common::cli(&fx.data, &["up"]));
            assert_no_hidden_leftovers(&fx.data, n);
        } else {
            // The backup is whole: it puts back exactly the state before
            // the run, whatever steps committed before the kill.
            assert_eq!(list.len(), 1, "boundary {n} ({label})");
            common::ok(&common::cli(&fx.data, &["recover"]));
            common::ok(&common::cli(
                &fx.data,
                &["restore", "latest", "--discard-newer"],
            ));
            assert_eq!(cortex_state(&fx).await, before, "boundary {n} ({label})");
        }
        tried += 1;
    }
    println!(
        "up across its backup: boundaries of the run {}, backup boundaries {kept}, killed {tried}",
        points.len()
    );
    assert!(tried >= kept);
}

#[tokio::test]
async fn pruning_killed_at_every_boundary_lists_only_whole_backups() {
    let fx = common::cortex_folder(3).await;
    common::ok(&common::cli(&fx.data, &["up"]));
    common::ok(&common::cli(&fx.data, &["down", "--steps", "1", "--yes"]));
    assert_eq!(common::backup_ids(&fx.data).len(), 2);
    let pristine = Pristine::take(&fx);
    let args = ["--keep-backups", "1", "up"];
    let points = boundaries(&fx, &args);
    let pruning: Vec<usize> = points
        .iter()
        .filter(|(_, l)| l == "backup: pruned one")
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(pruning.len(), 2, "{points:?}");
    for &n in &pruning {
        pristine.reset();
        killed_at(&fx.data, &args, n);
        let list = every_listed_backup_is_whole(&fx.data, n);
        assert!(!list.is_empty() && list.len() <= 2, "{list:?}");
        // The next run prunes again and clears what the killed one left.
        common::ok(&common::cli(
            &fx.data,
            &["--keep-backups", "1", "down", "--steps", "1", "--yes"],
        ));
        assert_eq!(common::backup_ids(&fx.data).len(), 1);
        assert_no_hidden_leftovers(&fx.data, n);
    }
}

#[tokio::test]
async fn a_restore_killed_at_every_boundary_is_finished_or_undone_and_verify_is_clean() {
    // The backup taken before a down holds a fully migrated state, so that
    // `verify` is clean both before and after the restore.
    let fx = common::cortex_folder(1).await;
    common::ok(&common::cli(&fx.data, &["up"]));
    common::ok(&common::cli(&fx.data, &["down", "--steps", "1", "--yes"]));
    let id = common::backup_ids(&fx.data)[0].clone();
    let pristine = Pristine::take(&fx);
    let before = state(&fx).await;
    let restore = ["restore", id.as_str(), "--discard-newer"];
    let points = boundaries(&fx, &restore);
    let after = state(&fx).await;
    assert_ne!(before, after);
    assert!(
        points.iter().any(|(_, l)| l.starts_with("restore: ")),
        "{points:?}"
    );
    let (mut b, mut a) = (0, 0);
    for (n, label) in &points {
        let n = *n;
        pristine.reset();
        killed_at(&fx.data, &restore, n);
        // Every other kill is followed by `recover`, the rest by the same
        // restore again.
        if n % 2 == 1 {
            common::ok(&common::cli(&fx.data, &["recover"]));
        } else {
            common::ok(&common::cli(&fx.data, &restore));
        }
        let s = state(&fx).await;
        if s == before {
            assert_eq!(n % 2, 1, "restore again at boundary {n} did not restore");
            b += 1;
        } else if s == after {
            a += 1;
        } else {
            panic!(
                "restore killed at boundary {n} ({label}) left a state that is neither before nor after"
            );
        }
        common::ok(&common::cli(&fx.data, &["verify"]));
        let staged = fx.data.join(".cortex-migrate/restore-staged.db");
        assert!(!staged.exists(), "boundary {n}: staged copy left");
    }
    println!(
        "restore: boundaries {}, before-state {b}, after-state {a}, corrupted 0",
        points.len()
    );
    assert!(b > 0 && a > 0);
}
