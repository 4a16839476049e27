//! One migrator at a time: the OS file lock on `DATA/.cortex-migrate/lock`
//! serializes concurrent runs (each step runs once), a waiting process says
//! whom it waits for and gives up after `--lock-timeout` with exit code 5,
//! a killed holder never blocks the next run, and `status` reports the
//! holder without waiting.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use migration::Migrator;
use migration::toolkit::lock::FolderLock;
use migration::toolkit::{DataDir, StepList};

const CORTEX_TABLES: [&str; 5] = ["models", "hardware", "engines", "files", "schema_version"];

/// How long any run of the binary may take before the test calls it stuck.
const STUCK: Duration = Duration::from_secs(60);

const WAITING: &str = "waiting for another migration to finish";

/// `cortex-migrate --data-dir DATA ARGS`, with no fault injection and no
/// database URL from the environment.
fn command(data: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("CORTEX_MIGRATE_FAULT")
        .env_remove("CORTEX_MIGRATE_FAULT_LOG")
        .env_remove("CORTEX_MIGRATE_LOG")
        .env_remove("CORTEX_DATABASE_URL");
    cmd
}

/// Waits for `child`, killing it and failing the test after `limit`.
fn wait_within(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("polling the child") {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A started run whose stdout and stderr are read while it runs, so that
/// a full pipe cannot stall it.
struct Running {
    child: Child,
    what: String,
    stdout: std::thread::JoinHandle<Vec<u8>>,
    stderr: std::thread::JoinHandle<Vec<u8>>,
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = pipe.read_to_end(&mut v);
        v
    })
}

fn start(data: &Path, args: &[&str]) -> Running {
    let mut child = command(data, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting cortex-migrate");
    let stdout = drain(child.stdout.take().expect("piped stdout"));
    let stderr = drain(child.stderr.take().expect("piped stderr"));
    Running {
        child,
        what: format!("cortex-migrate {args:?}"),
        stdout,
        stderr,
    }
}

impl Running {
    /// Its output once it ends (failing the test after `limit`).
    fn finish(mut self, limit: Duration) -> Output {
        let status = wait_within(&mut self.child, limit, &self.what);
        Output {
            status,
            stdout: self.stdout.join().expect("stdout reader"),
            stderr: self.stderr.join().expect("stderr reader"),
        }
    }
}

/// Runs the binary to the end (at most `limit`), capturing its output.
fn run_within(data: &Path, args: &[&str], limit: Duration) -> Output {
    start(data, args).finish(limit)
}

fn run(data: &Path, args: &[&str]) -> Output {
    run_within(data, args, STUCK)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_ok(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): stdout: {} stderr: {}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

fn pending_steps(data: &Path) -> Vec<serde_json::Value> {
    let out = run(data, &["status", "--json"]);
    assert_ok(&out, "status --json");
    let st: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("status --json prints JSON");
    st["pending"]
        .as_array()
        .expect("status --json has a pending list")
        .clone()
}

/// Takes the data folder's lock in this (the test) process.
async fn hold_lock(data: &Path) -> FolderLock {
    let dir = DataDir::new(data).expect("the data folder exists");
    FolderLock::acquire(&dir, Some(Duration::from_secs(10)), &|_| {})
        .await
        .expect("the test takes the lock of a fresh fixture")
}

/// `pid N on` as the holder is written in messages, for this process.
fn this_holder() -> String {
    format!("pid {} on ", std::process::id())
}

/// Replaces every occurrence of `needle` in `hay`.
fn replace_bytes(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Every file of the data folder but the database (its bytes hold times),
/// with the fixture's home written as `<HOME>`, so that two fixtures
/// migrated the same way compare equal.
fn files_of(home: &Path, data: &Path) -> BTreeMap<String, Vec<u8>> {
    let home = home.to_str().expect("UTF-8 temp path").as_bytes();
    common::tree(data)
        .into_iter()
        .filter(|(rel, digest)| digest != "<dir>" && !rel.starts_with("cortex.db"))
        .map(|(rel, _)| {
            let bytes = common::bytes(&data.join(&rel));
            (rel, replace_bytes(&bytes, home, b"<HOME>"))
        })
        .collect()
}

/// The Cortex tables' rows, each step's bookkeeping (without its time) and
/// `seaql_migrations`' versions, with the fixture's home written as
/// `<HOME>`.
async fn rows_of(fx: &common::Fixture) -> BTreeMap<String, common::TableRows> {
    let home = fx.home.to_str().expect("UTF-8 temp path");
    let conn = fx.connect().await;
    let mut tables: Vec<&str> = CORTEX_TABLES.to_vec();
    tables.extend([
        "cortex_migrate_steps",
        "cortex_migrate_undo",
        "seaql_migrations",
    ]);
    let mut rows = common::db_rows_of(&conn, &tables).await;
    conn.close().await.expect("closing the database");
    for table_rows in rows.values_mut() {
        for row in table_rows.iter_mut() {
            row.retain(|(col, _)| col != "applied_at");
            for (_, cell) in row.iter_mut() {
                *cell = cell.replace(home, "<HOME>");
            }
        }
        table_rows.sort();
    }
    rows
}

/// The `version` cells of `seaql_migrations`, in row order.
async fn seaql_versions(fx: &common::Fixture) -> Vec<String> {
    let conn = fx.connect().await;
    let rows = common::db_rows_of(&conn, &["seaql_migrations"]).await;
    conn.close().await.expect("closing the database");
    rows.get("seaql_migrations")
        .expect("seaql_migrations exists after up")
        .iter()
        .map(|row| {
            row.iter()
                .find(|(col, _)| col == "version")
                .map(|(_, v)| v.trim_start_matches("text:").to_owned())
                .expect("seaql_migrations has a version column")
        })
        .collect()
}

#[tokio::test]
async fn six_concurrent_ups_run_each_step_once() {
    let fx = common::cortex_folder(1).await;
    let runs: Vec<Running> = (0..6).map(|_| start(&fx.data, &["up"])).collect();
    let outputs: Vec<Output> = runs.into_iter().map(|r| r.finish(STUCK)).collect();
    for (i, out) in outputs.iter().enumerate() {
        assert_ok(out, &format!("concurrent up #{i}"));
    }
    // A precondition, not the behaviour: the runs really overlapped.
    let waited = outputs
        .iter()
        .filter(|o| text(&o.stderr).contains(WAITING))
        .count();
    assert!(waited >= 1, "no run waited: they did not overlap");
    let stdout: String = outputs.iter().map(|o| text(&o.stdout)).collect();
    assert_eq!(stdout.matches("adopted ").count(), 2, "{stdout}");
    assert_eq!(stdout.matches("applied ").count(), 9, "{stdout}");
    let steps = Migrator::steps();
    for step in steps.iter().skip(2) {
        let line = format!("applied       {} ", step.name());
        assert_eq!(stdout.matches(&line).count(), 1, "{line:?} in {stdout}");
    }
    let idle = outputs
        .iter()
        .filter(|o| text(&o.stdout).contains("Nothing to do"))
        .count();
    assert_eq!(
        idle, 5,
        "the others should have had nothing to do: {stdout}"
    );

    let mut versions = seaql_versions(&fx).await;
    versions.sort();
    let mut expected: Vec<String> = steps.iter().map(|s| s.name().to_owned()).collect();
    expected.sort();
    assert_eq!(
        versions, expected,
        "seaql_migrations: each step exactly once"
    );

    // The same folder migrated by a single `up`.
    let alone = common::cortex_folder(1).await;
    assert_ok(&run(&alone.data, &["up"]), "up alone");
    assert_eq!(rows_of(&fx).await, rows_of(&alone).await);
    assert_eq!(
        files_of(&fx.home, &fx.data),
        files_of(&alone.home, &alone.data)
    );
    assert_ok(&run(&fx.data, &["verify"]), "verify");
}

#[tokio::test]
async fn lock_timeout_gives_up_with_exit_5_naming_the_holder() {
    let fx = common::cortex_folder(1).await;
    let before_tree = common::tree(&fx.home);
    let before_db = common::bytes(&fx.db_path());
    let lock = hold_lock(&fx.data).await;

    let started = Instant::now();
    let out = run(&fx.data, &["--lock-timeout", "1", "up"]);
    let waited = started.elapsed();
    drop(lock);

    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "stderr: {stderr}");
    assert!(
        waited >= Duration::from_secs(1),
        "gave up after {waited:?}, before the timeout"
    );
    // The waiting note (a progress message, also naming the holder) may
    // come first; the error itself is one line.
    let lines: Vec<&str> = stderr.lines().collect();
    let (notes, errors): (Vec<&str>, Vec<&str>) =
        lines.iter().partition(|l| l.starts_with(WAITING));
    assert!(notes.len() <= 1, "{stderr}");
    assert_eq!(errors.len(), 1, "not one error line: {stderr}");
    assert!(
        errors[0].starts_with("error: timed out after 1s waiting for the migration lock"),
        "{stderr}"
    );
    assert!(
        errors[0].contains(&this_holder()),
        "holder not named: {stderr}"
    );
    assert!(text(&out.stdout).is_empty(), "{}", text(&out.stdout));

    assert_eq!(common::tree(&fx.home), before_tree);
    assert_eq!(common::bytes(&fx.db_path()), before_db);
    let state: Vec<String> = std::fs::read_dir(fx.data.join(".cortex-migrate"))
        .expect("reading the state folder")
        .map(|e| {
            e.expect("state entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(state, ["lock"], "the timed-out up left state behind");
}

#[tokio::test]
async fn a_waiting_up_finishes_once_the_lock_is_released() {
    let fx = common::cortex_folder(1).await;
    let lock = hold_lock(&fx.data).await;

    let mut child = command(&fx.data, &["up"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting cortex-migrate up");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + STUCK;
    let waiting = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains(WAITING) => break line,
            Ok(_) => continue,
            Err(e) => {
                let _ = child.kill();
                panic!("no waiting message from the second up ({e})");
            }
        }
    };
    assert!(waiting.contains(&this_holder()), "{waiting}");
    assert!(
        child.try_wait().expect("polling up").is_none(),
        "up ended while the lock was held"
    );
    assert_eq!(
        pending_steps(&fx.data).len(),
        9,
        "up changed the data while the lock was held"
    );

    drop(lock);
    let status = wait_within(&mut child, STUCK, "the waiting up");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .expect("piped stdout")
        .read_to_string(&mut stdout)
        .expect("reading stdout");
    reader.join().expect("stderr reader");
    let rest: Vec<String> = rx.try_iter().collect();
    assert!(status.success(), "{status:?}: {stdout} {rest:?}");
    assert_eq!(stdout.matches("applied ").count(), 9, "{stdout}");
    assert!(pending_steps(&fx.data).is_empty());
}

/// Runs `up` killed at its `boundary`-th boundary, as a crash would.
fn up_killed_at(data: &Path, boundary: u32) {
    use std::os::unix::process::ExitStatusExt;
    let out = command(data, &["up"])
        .env("CORTEX_MIGRATE_FAULT", format!("{boundary}:kill"))
        .output()
        .expect("running up with a fault");
    assert_eq!(
        out.status.signal(),
        Some(9),
        "up was not killed: {:?} {}",
        out.status,
        text(&out.stderr)
    );
}

#[tokio::test]
async fn a_killed_holder_does_not_block_the_next_up() {
    let fx = common::cortex_folder(1).await;
    up_killed_at(&fx.data, 20);

    let status = run(&fx.data, &["status"]);
    assert_ok(&status, "status after the kill");
    assert!(
        text(&status.stdout).contains("lock          free\n"),
        "{}",
        text(&status.stdout)
    );

    let next = run(&fx.data, &["--lock-timeout", "5", "up"]);
    assert_ok(&next, "the next up");
    assert!(
        !text(&next.stderr).contains(WAITING),
        "the next up waited for a dead holder: {}",
        text(&next.stderr)
    );
    assert!(pending_steps(&fx.data).is_empty());
    assert_ok(&run(&fx.data, &["verify"]), "verify");
}

#[tokio::test]
async fn status_names_the_holder_without_waiting() {
    let fx = common::cortex_folder(1).await;
    let lock = hold_lock(&fx.data).await;

    let out = run_within(&fx.data, &["status"], Duration::from_secs(20));
    let json = run_within(&fx.data, &["status", "--json"], Duration::from_secs(20));
    drop(lock);

    assert_ok(&out, "status");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("lock          held by {}", this_holder())),
        "{stdout}"
    );
    assert!(
        !text(&out.stderr).contains(WAITING),
        "{}",
        text(&out.stderr)
    );
    assert_ok(&json, "status --json");
    let st: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(st["lock_holder"]["pid"], std::process::id());

    let after = run(&fx.data, &["status"]);
    assert!(
        text(&after.stdout).contains("lock          free\n"),
        "{}",
        text(&after.stdout)
    );
}

/// The number of the first boundary named `label` that `up` passes on a
/// cortex.cpp v1 folder (a twin of the test's, run to the end with the
/// boundary log).
async fn first_boundary(label: &str) -> u32 {
    let twin = common::cortex_folder(1).await;
    let log = twin.home.join("boundaries");
    let out = command(&twin.data, &["up"])
        .env("CORTEX_MIGRATE_FAULT_LOG", &log)
        .output()
        .expect("running up with the boundary log");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let log = std::fs::read_to_string(&log).expect("the boundary log");
    log.lines()
        .find_map(|l| {
            let (n, name) = l.split_once(' ')?;
            (name == label).then(|| n.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no boundary {label:?} in {log}"))
}

/// While a folder step runs, its journal (`.cortex-migrate/journal`) exists
/// and its process holds the lock. Stand-in: a run killed inside the first
/// folder step leaves its journal, and the test holds the lock.
#[tokio::test]
async fn status_names_the_holder_without_waiting_during_a_folder_step() {
    let fx = common::cortex_folder(1).await;
    // Inside the first folder step, after its journal began.
    up_killed_at(&fx.data, first_boundary("journal: operation done").await);
    assert!(
        fx.data.join(".cortex-migrate/journal").exists(),
        "precondition: the folder step's journal exists"
    );
    let lock = hold_lock(&fx.data).await;

    let out = run_within(&fx.data, &["status"], Duration::from_secs(10));
    drop(lock);

    assert_ok(&out, "status");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains(&format!("lock          held by {}", this_holder())),
        "{stdout}"
    );
    assert!(stdout.contains("interrupted   "), "{stdout}");
}
