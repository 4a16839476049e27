//! The measured work, each case run as a child process of the bench (it
//! calls itself with `--child CASE ARGS`), so process start, connection and
//! exit are counted the way a Cortex start pays them, and peak memory is
//! the child's own (`wait4`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

/// sea-orm-migration as it comes: the same steps, none of the overrides.
struct Bare;

impl MigratorTrait for Bare {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        <migration::Migrator as MigratorTrait>::migrations()
    }
}

async fn count_models(db: &sea_orm::DatabaseConnection) {
    db.query_one_raw(Statement::from_string(
        DbBackend::Sqlite,
        "SELECT COUNT(*) AS n FROM models",
    ))
    .await
    .unwrap();
}

/// Runs case `case` in this process (the child's side).
pub async fn run(case: &str, args: &[String]) {
    let dir = PathBuf::from(&args[0]);
    match case {
        "connect" => {
            let db = cortex_migrate::connect::open_sqlite_file(&dir.join("cortex.db"), false)
                .await
                .unwrap();
            count_models(&db).await;
        }
        "boot" => {
            let db = cortex_migrate::open(&dir).await.unwrap();
            count_models(&db).await;
        }
        "bare" => {
            let db = cortex_migrate::connect::open_sqlite_file(&dir.join("cortex.db"), false)
                .await
                .unwrap();
            Bare::up(&db, None).await.unwrap();
        }
        "migrate" => {
            cortex_migrate::Boot::data_folder(&dir)
                .open()
                .await
                .unwrap();
        }
        "backup" => {
            let data = migration::toolkit::DataDir::new(&dir).unwrap();
            let db = cortex_migrate::connect::open_sqlite_file(&dir.join("cortex.db"), false)
                .await
                .unwrap();
            let rec = migration::toolkit::backup::Recorder::start(&db, &data, "bench", None)
                .await
                .unwrap();
            rec.finish().unwrap();
            println!("{}", rec.id());
        }
        "restore" => {
            let data = migration::toolkit::DataDir::new(&dir).unwrap();
            let manifest = migration::toolkit::backup::find(&data, &args[1]).unwrap();
            let restored = migration::toolkit::backup::restore(&data, &manifest).unwrap();
            println!("{}", restored.database_cloned);
        }
        other => panic!("unknown case {other}"),
    }
    if let Some(kib) = own_peak_kib() {
        println!("{PEAK_LINE}{kib}");
    }
}

/// How a child reports its own peak memory on its standard output.
const PEAK_LINE: &str = "#peak-kib ";

/// This process's peak resident memory since its `exec`, in KiB (Linux:
/// `VmHWM`). `ru_maxrss` is no use for it: a child started from the bench
/// shares the bench's memory until its `exec`, and the kernel carries that
/// high-water mark over, so every child seemed to peak at the bench's own
/// size after it wrote the 100,000-model sample (292.8 MiB, three runs
/// alike).
fn own_peak_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What one child run took.
pub struct Run {
    pub time: Duration,
    /// Peak resident memory, KiB.
    pub peak_kib: u64,
    pub stdout: String,
}

/// Runs case `case` as a child; panics if it fails.
pub fn spawn(case: &str, args: &[&Path]) -> Run {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(exe);
    cmd.arg("--child").arg(case).args(args);
    timed(cmd, case)
}

/// Runs `cmd` and measures it as a child: wall time and peak memory.
pub fn timed(mut cmd: Command, what: &str) -> Run {
    use std::io::Read;
    let out = tempfile::tempfile().unwrap();
    cmd.stdout(out.try_clone().unwrap());
    let started = Instant::now();
    let child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("starting {what}: {e}"));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, with valid pointers.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let time = started.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "{what} failed"
    );
    // Reaped by wait4 already: the handle must not wait again.
    std::mem::forget(child);
    let mut stdout = String::new();
    let mut out = out;
    std::io::Seek::rewind(&mut out).unwrap();
    out.read_to_string(&mut stdout).unwrap();
    // The child's own figure where it gives one (see `own_peak_kib`).
    let own = stdout
        .lines()
        .find_map(|l| l.strip_prefix(PEAK_LINE).and_then(|n| n.parse().ok()));
    let stdout = stdout
        .lines()
        .filter(|l| !l.starts_with(PEAK_LINE))
        .map(|l| format!("{l}\n"))
        .collect();
    Run {
        time,
        peak_kib: own.unwrap_or(usage.ru_maxrss as u64),
        stdout,
    }
}
