//! Whole-process figures, measured in one run and printed as a table (the
//! README's). Each case runs as a child process of this binary (it calls
//! itself with `--child CASE DIR`), so process start, connection and exit
//! are counted the way a Cortex start pays them, and peak memory is the
//! child's own (`wait4`).
//!
//! `cargo bench --bench ratios` (add `-- --quick` for fewer rounds).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use cortex_migrate::sample::{self, SampleSpec};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

/// sea-orm-migration as it comes: the same steps, none of the overrides.
struct Bare;

impl MigratorTrait for Bare {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        <migration::Migrator as MigratorTrait>::migrations()
    }
}

async fn child(case: &str, dir: &Path) {
    match case {
        "connect" => {
            let db = cortex_migrate::connect::open_sqlite_file(&dir.join("cortex.db"), false)
                .await
                .unwrap();
            db.query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT COUNT(*) AS n FROM models",
            ))
            .await
            .unwrap();
        }
        "boot" => {
            let db = cortex_migrate::open(dir).await.unwrap();
            db.query_one_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT COUNT(*) AS n FROM models",
            ))
            .await
            .unwrap();
        }
        "bare" => {
            let db = cortex_migrate::connect::open_sqlite_file(&dir.join("cortex.db"), false)
                .await
                .unwrap();
            Bare::up(&db, None).await.unwrap();
        }
        "migrate" => {
            cortex_migrate::Boot::data_folder(dir).open().await.unwrap();
        }
        other => panic!("unknown case {other}"),
    }
}

/// Runs one child; returns (wall time, peak RSS in KiB).
fn run_child(case: &str, dir: &Path) -> (Duration, u64) {
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();
    let child = Command::new(exe)
        .args(["--child", case, dir.to_str().unwrap()])
        .spawn()
        .unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value for wait4 to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 on our own child, with valid pointers.
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let elapsed = started.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child {case} failed"
    );
    std::mem::forget(child);
    (elapsed, usage.ru_maxrss as u64)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn write_sample(home: &Path, version: u8, models: usize) -> PathBuf {
    let mut spec = SampleSpec::new(version);
    spec.models = models;
    sample::write(&spec, home).await.unwrap().data
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        let (case, dir) = (args[i + 1].clone(), PathBuf::from(&args[i + 2]));
        rt().block_on(child(&case, &dir));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let rounds = if quick { 9 } else { 41 };
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let mut rows: Vec<(String, String)> = Vec::new();

    // 1. Boot with nothing pending, against a plain connection and against
    //    bare sea-orm-migration, on the same migrated sample.
    let data = rt.block_on(write_sample(&tmp.path().join("boot"), 1, 0));
    run_child("migrate", &data);
    run_child("boot", &data); // records the verified schema
    let (mut c, mut b, mut s) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        c.push(run_child("connect", &data).0);
        b.push(run_child("boot", &data).0);
        s.push(run_child("bare", &data).0);
    }
    let (c, b, s) = (median(c), median(b), median(s));
    rows.push(("plain SeaORM connect + 1 query (process)".into(), ms(c)));
    rows.push((
        "boot, nothing pending (lock, recovery check, version check, verify)".into(),
        format!(
            "{} = {:.2}x plain",
            ms(b),
            b.as_secs_f64() / c.as_secs_f64()
        ),
    ));
    rows.push((
        "bare sea-orm-migration `Migrator::up`, nothing pending".into(),
        format!(
            "{} = {:.2}x plain",
            ms(s),
            s.as_secs_f64() / c.as_secs_f64()
        ),
    ));

    // 2. Up from empty, and adoption of a v0 folder with many models
    //    through every step: time and peak memory.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let (t, rss) = run_child("migrate", &empty);
    rows.push((
        "up from empty, every step".into(),
        format!("{} (peak {} MiB)", ms(t), rss / 1024),
    ));
    for n in [1_000usize, 10_000] {
        let data = rt.block_on(write_sample(&tmp.path().join(format!("adopt{n}")), 0, n));
        let (t, rss) = run_child("migrate", &data);
        rows.push((
            format!("adopt a cortex.cpp v0 folder with {n} models, every step"),
            format!("{} (peak {} MiB)", ms(t), rss / 1024),
        ));
    }

    // 3. Every step on a folder with sparse weights in an engine folder:
    //    bytes copied and time, 1 GiB against 20 GiB.
    for gib in [1u64, 20] {
        use std::os::unix::fs::MetadataExt;
        let data = rt.block_on(write_sample(&tmp.path().join(format!("sparse{gib}")), 3, 0));
        let big = data.join("engines/cortex.llamacpp/deps/libcublasLt.so.12");
        std::fs::File::create(&big)
            .unwrap()
            .set_len(gib << 30)
            .unwrap();
        let before = std::fs::metadata(&big).unwrap();
        let (t, _) = run_child("migrate", &data);
        // Engine folders stay where cortex.cpp loads them: nothing moves.
        let after = std::fs::metadata(&big).unwrap();
        let copied = (after.blocks() as i64 - before.blocks() as i64).max(0) * 512;
        assert_eq!(after.ino(), before.ino());
        rows.push((
            format!("every step on a folder with {gib} GiB of sparse weights"),
            format!("{} , {copied} bytes copied", ms(t)),
        ));
    }

    // 4. Backup and restore of a 100 MB database, against `sqlite3 .backup`.
    let data = rt.block_on(write_sample(&tmp.path().join("big"), 3, 0));
    rt.block_on(async {
        let db = cortex_migrate::connect::open_sqlite_file(&data.join("cortex.db"), false)
            .await
            .unwrap();
        let blob = "x".repeat(100_000);
        db.execute_unprepared("BEGIN").await.unwrap();
        for i in 0..1_000 {
            db.execute_unprepared(&format!(
                "INSERT INTO files VALUES ('file-pad-{i}', 'file', 'assistants', '{blob}', 0, 0)"
            ))
            .await
            .unwrap();
        }
        db.execute_unprepared("COMMIT").await.unwrap();
    });
    let size = std::fs::metadata(data.join("cortex.db")).unwrap().len();
    let dir = migration::toolkit::DataDir::new(&data).unwrap();
    let (backup_t, manifest) = rt.block_on(async {
        let db = cortex_migrate::connect::open_sqlite_file(&data.join("cortex.db"), false)
            .await
            .unwrap();
        let t = Instant::now();
        let rec = migration::toolkit::backup::Recorder::start(&db, &dir, "bench", None)
            .await
            .unwrap();
        rec.finish().unwrap();
        let t = t.elapsed();
        (
            t,
            migration::toolkit::backup::find(&dir, &rec.id()).unwrap(),
        )
    });
    let t = Instant::now();
    migration::toolkit::backup::restore(&dir, &manifest).unwrap();
    let restore_t = t.elapsed();
    let sqlite3 = {
        let dst = tmp.path().join("sqlite3-backup.db");
        let t = Instant::now();
        let ok = Command::new("sqlite3")
            .arg(data.join("cortex.db"))
            .arg(format!(".backup '{}'", dst.display()))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| t.elapsed())
    };
    let vs = |d: Duration| match sqlite3 {
        Some(s) => format!(
            "{} = {:.2}x `sqlite3 .backup` ({})",
            ms(d),
            d.as_secs_f64() / s.as_secs_f64(),
            ms(s)
        ),
        None => format!("{} (sqlite3 not installed: no comparison)", ms(d)),
    };
    rows.push((
        format!("backup of a {} MB database", size / 1_000_000),
        vs(backup_t),
    ));
    rows.push(("restore of that backup".to_owned(), vs(restore_t)));

    println!("\n| measurement | result |\n|---|---|");
    for (k, v) in rows {
        println!("| {k} | {v} |");
    }
}
