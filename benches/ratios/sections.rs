//! The rows, by what they measure: the boot with nothing pending, adopting
//! a v0 folder, moving real weights, backup and restore.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use cortex_migrate::sample::{self, SampleSpec};
use sea_orm::ConnectionTrait;

use crate::Plan;
use crate::child::{Run, spawn, timed};
use crate::table::{Row, Target, Unit, median};

use crate::fixtures::generations;

fn write_sample(home: &Path, version: u8, models: usize) -> PathBuf {
    let mut spec = SampleSpec::new(version);
    spec.models = models;
    crate::rt()
        .block_on(sample::write(&spec, home))
        .unwrap()
        .data
}

/// Copies a folder tree (files, folders, symlinks), for a fresh copy of a
/// template before each run that changes it.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let t = e.file_type().unwrap();
        if t.is_dir() {
            copy_tree(&src, &dst);
        } else if t.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// 1. Boot with nothing pending, as whole processes, each round a plain
///    connect, a boot and bare sea-orm-migration on the same migrated
///    sample: the ratios are per round, so a slow moment of the machine
///    weighs on both sides of the same ratio.
pub fn boot(plan: &Plan, tmp: &Path, rows: &mut Vec<Row>) {
    let data = write_sample(&tmp.join("boot"), 1, 0);
    spawn("migrate", &[&data]);
    spawn("boot", &[&data]); // records the verified fingerprint
    let (mut plain, mut boot, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..plan.boot_rounds {
        let c = spawn("connect", &[&data]).time.as_secs_f64();
        plain.push(c);
        boot.push(spawn("boot", &[&data]).time.as_secs_f64() / c);
        bare.push(spawn("bare", &[&data]).time.as_secs_f64() / c);
    }
    rows.push(Row::new(
        "plain SeaORM connect + 1 query, whole process",
        Unit::Time,
        plain,
    ));
    rows.push(
        Row::new(
            "boot, nothing pending ÷ plain (fast path: shared folder lock, no journal, \
             schema cookie + applied steps + this binary's step checksums equal to the \
             last full verification's)",
            Unit::Ratio,
            boot,
        )
        .target(Target::AtMost(1.10)),
    );
    rows.push(Row::new(
        "bare sea-orm-migration `Migrator::up`, nothing pending ÷ plain",
        Unit::Ratio,
        bare,
    ));

    let mut up = Vec::new();
    for i in 0..plan.runs {
        let empty = tmp.join(format!("empty{i}"));
        std::fs::create_dir_all(&empty).unwrap();
        up.push(spawn("migrate", &[&empty]).time);
        std::fs::remove_dir_all(&empty).unwrap();
    }
    rows.push(Row::times("up from an empty folder, every step", &up));
}

/// 2. Adopting a cortex.cpp v0 folder through every step (the backup
///    before it included): time and peak memory, a fresh copy of one
///    generated folder per run; and beside it the floor, what the same
///    folder costs the filesystem when every `model.yml` the run rewrites
///    is rewritten bare, with nothing kept and nothing recorded. The
///    10,000-model folder is adopted once more on a memory filesystem,
///    where no disk weighs in: what is left is the program's own cost.
///
///    Nothing is deleted between runs: a used copy is moved aside and
///    removed once every adoption is timed. On ext4 without a journal, creating a
///    file skips every inode freed in the last minute or more, reading each
///    one's deletion time first; deleting the last run's 10,000 files just
///    before a run made that run pay for the bench's own cleanup (3.4 s
///    instead of 2.3 s for the engine-rename step alone, measured). And
///    each fresh copy is flushed to the disk before it is timed: a folder
///    a user adopts was not written a second ago, and the first sync of
///    the run would otherwise write the copy's 10,000 files too.
pub fn adopt(plan: &Plan, tmp: &Path, rows: &mut Vec<Row>) {
    let used = tmp.join("used");
    std::fs::create_dir_all(&used).unwrap();
    let mut peaks = Vec::new();
    for &n in &plan.adopt {
        // Fewer runs of the largest folder: copying it takes longer than
        // adopting it.
        let runs = if n >= 100_000 {
            3.min(plan.runs)
        } else {
            plan.runs
        };
        let m = adoptions(tmp, &used, n, runs);
        let row = Row::times(
            format!("adopt a cortex.cpp v0 folder with {n} models, every step"),
            &m.times,
        );
        rows.push(if n == 10_000 {
            row.target(Target::Below(0.4))
        } else {
            row
        });
        m.push_beside(n, "", rows);
        rows.push(Row::new(
            format!("  peak memory of that run ({n} models)"),
            Unit::Memory,
            m.peak.clone(),
        ));
        peaks.push((n, m.peak));
    }
    // The copies go once no adoption on this disk is left to time: the
    // weights rows after it need the room for 20 GiB of real bytes.
    std::fs::remove_dir_all(&used).unwrap();
    if let (Some((lo, a)), Some((hi, b))) = (peaks.first(), peaks.last())
        && lo != hi
    {
        let ratios: Vec<f64> = b.iter().map(|p| p / median(a)).collect();
        rows.push(
            Row::new(
                format!("peak memory, {hi} models ÷ {lo} models"),
                Unit::Ratio,
                ratios,
            )
            .target(Target::AtMost(1.25)),
        );
    }
    let n = 10_000;
    match memory_filesystem() {
        Some(shm) => {
            let place = tempfile::tempdir_in(shm).unwrap();
            let m = adoptions(place.path(), &place.path().join("used"), n, plan.runs);
            rows.push(
                Row::times(
                    format!(
                        "the same {n} models on a memory filesystem (tmpfs): no disk, the program's own cost"
                    ),
                    &m.times,
                )
                .target(Target::Below(0.4)),
            );
            m.push_beside(n, ", tmpfs", rows);
        }
        None => println!("(no memory filesystem at /dev/shm: its adoption row is left out)"),
    }
}

/// What [`adoptions`] measured, run by run.
struct Adoptions {
    times: Vec<Duration>,
    peak: Vec<f64>,
    floor: Vec<f64>,
    over: Vec<f64>,
}

impl Adoptions {
    /// The floor and the ratio to it, as rows below the adoption's.
    fn push_beside(&self, n: usize, place: &str, rows: &mut Vec<Row>) {
        rows.push(Row::new(
            format!(
                "  floor: its model.yml files rewritten bare (read, write beside, rename, one sync) ({n} models{place})"
            ),
            Unit::Time,
            self.floor.clone(),
        ));
        rows.push(Row::new(
            format!("  adoption ÷ floor, per run ({n} models{place})"),
            Unit::Ratio,
            self.over.clone(),
        ));
    }
}

/// Adopts a fresh copy of a generated v0 folder of `n` models under `tmp`,
/// `runs` times, each run beside a bare rewrite of another fresh copy.
/// Every copy, and the template, ends in `used`, for the caller to remove
/// once nothing is timed any more.
fn adoptions(tmp: &Path, used: &Path, n: usize, runs: usize) -> Adoptions {
    std::fs::create_dir_all(used).unwrap();
    // The sample's database holds absolute paths: every run works on a
    // fresh copy at the very place the sample was written (the original
    // set aside meanwhile), or those paths would lead out of the copy and
    // the steps would have less to do.
    let home = tmp.join(format!("adopt{n}"));
    let data = write_sample(&home, 0, n);
    let kept = tmp.join(format!("adopt{n}.orig"));
    std::fs::rename(&home, &kept).unwrap();
    let mut m = Adoptions {
        times: Vec::new(),
        peak: Vec::new(),
        floor: Vec::new(),
        over: Vec::new(),
    };
    let mut set_aside = 0;
    let mut fresh_copy = |home: &Path| {
        if home.exists() {
            set_aside += 1;
            std::fs::rename(home, used.join(format!("adopt{n}-{set_aside}"))).unwrap();
        }
        copy_tree(&kept, home);
        flush_to_disk();
    };
    for _ in 0..runs {
        fresh_copy(&home);
        let bare = bare_rewrites(&data.join("models"));
        fresh_copy(&home);
        let run = spawn("migrate", &[&data]);
        m.times.push(run.time);
        m.peak.push(run.peak_kib as f64);
        m.floor.push(bare.as_secs_f64());
        m.over.push(run.time.as_secs_f64() / bare.as_secs_f64());
    }
    std::fs::rename(&home, used.join(format!("adopt{n}-last"))).unwrap();
    std::fs::rename(&kept, used.join(format!("adopt{n}.orig"))).unwrap();
    m
}

/// Writes every dirty page of the machine to its disk.
fn flush_to_disk() {
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
}

/// `/dev/shm` where it is a memory filesystem (tmpfs), as on Linux.
fn memory_filesystem() -> Option<&'static Path> {
    let shm = Path::new("/dev/shm");
    let c = std::ffi::CString::new("/dev/shm").ok()?;
    // SAFETY: an all-zero statfs is a valid value for statfs to fill in.
    let mut s: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a valid pointer.
    let ok = unsafe { libc::statfs(c.as_ptr(), &mut s) } == 0;
    const TMPFS_MAGIC: i64 = 0x0102_1994;
    (ok && s.f_type as i64 == TMPFS_MAGIC).then_some(shm)
}

/// The least any atomic rewrite of the folder's model.yml files costs the
/// filesystem: each read, its new text written beside it, renamed over it,
/// and the filesystem synced once. The text gets the engine's current name,
/// as the adoption's biggest step writes it.
fn bare_rewrites(models: &Path) -> Duration {
    let mut files = Vec::new();
    let mut todo = vec![models.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(e.path());
            } else if t.is_file() && e.file_name() == "model.yml" {
                files.push(e.path());
            }
        }
    }
    let start = std::time::Instant::now();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let new = text.replace("cortex.llamacpp", "llama-cpp");
        let beside = f.with_file_name(".model.yml.new");
        std::fs::write(&beside, new).unwrap();
        std::fs::rename(&beside, f).unwrap();
    }
    let dir = std::fs::File::open(models).unwrap();
    // SAFETY: a valid, open file descriptor.
    assert_eq!(
        unsafe { libc::syncfs(std::os::fd::AsRawFd::as_raw_fd(&dir)) },
        0
    );
    start.elapsed()
}

/// Free bytes on the filesystem of `path`.
fn free_bytes(path: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: an all-zero statvfs is a valid value for statvfs to fill in.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a valid pointer.
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
    s.f_bavail as u64 * s.f_frsize as u64
}

/// A weights file of `size` bytes: the fixture's GGUF header, then real
/// bytes (`dense`) or a hole.
fn weights_file(path: &Path, header: &[u8], size: u64, dense: bool) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(header).unwrap();
    if dense {
        let block: Vec<u8> = (0..1u32 << 20).map(|i| (i * 2_654_435_761) as u8).collect();
        let mut left = size - header.len() as u64;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            f.write_all(&block[..n]).unwrap();
            left -= n as u64;
        }
        f.sync_all().unwrap();
    } else {
        f.set_len(size).unwrap();
    }
}

/// The file under `root` with inode `ino`.
fn find_inode(root: &Path, ino: u64) -> Option<PathBuf> {
    for e in std::fs::read_dir(root).ok()?.flatten() {
        let p = e.path();
        let m = std::fs::symlink_metadata(&p).ok()?;
        if m.is_dir() {
            if let Some(f) = find_inode(&p, ino) {
                return Some(f);
            }
        } else if m.ino() == ino {
            return Some(p);
        }
    }
    None
}

/// 3. A model pulled by a September 2024 nightly (`models/<name>.yaml`
///    beside `models/<name>/`) moved into cortex.db's layout by the
///    older-generation adoption step, with 1 GiB and 20 GiB of weights:
///    every step, the backup included. The weights are one file, kept
///    outside between runs and renamed in, so each run starts alike.
pub fn weights(plan: &Plan, tmp: &Path, rows: &mut Vec<Row>) {
    let mut by_size = Vec::new();
    for gib in [1u64, 20] {
        let size = gib << 30;
        // Real bytes where the disk has room (a full run); a hole otherwise.
        let dense = !plan.quick && free_bytes(tmp) > size + (8 << 30);
        let store = tmp.join(format!("weights-{gib}"));
        let mut times = Vec::new();
        let mut same_inode = true;
        let mut ino = None;
        for i in 0..plan.runs {
            let data = tmp.join(format!("gen{gib}-{i}/cortexcpp"));
            let model = generations::cortexso_pull_nightly(&data, "tinyllama");
            let gguf = &model.weights[0];
            if ino.is_none() {
                let header = std::fs::read(gguf).unwrap();
                weights_file(&store, &header, size, dense);
                ino = Some(std::fs::metadata(&store).unwrap().ino());
            }
            std::fs::rename(&store, gguf).unwrap();
            let run: Run = spawn("migrate", &[&data]);
            times.push(run.time);
            let inode = ino.unwrap();
            let moved = find_inode(&data.join("models"), inode).expect("the weights are gone");
            same_inode &= moved != *gguf && std::fs::metadata(&moved).unwrap().len() == size;
            std::fs::rename(&moved, &store).unwrap();
            std::fs::remove_dir_all(data.parent().unwrap()).unwrap();
        }
        std::fs::remove_file(&store).unwrap();
        by_size.push(times.iter().map(Duration::as_secs_f64).collect::<Vec<_>>());
        rows.push(
            Row::times(
                format!(
                    "move a model with {gib} GiB of weights ({}) into cortex.db's layout, every step",
                    if dense { "real bytes" } else { "sparse file" }
                ),
                &times,
            )
            .note(if same_inode {
                "moved, same inode after"
            } else {
                "NOT the same inode after"
            }),
        );
    }
    let one = median(&by_size[0]);
    let ratios = by_size[1].iter().map(|t| t / one).collect();
    rows.push(
        Row::new(
            "  that move, 20 GiB ÷ 1 GiB (time independent of size)",
            Unit::Ratio,
            ratios,
        )
        .target(Target::AtMost(1.25)),
    );
}

/// A v3 sample whose database holds about `rows` × 100 kB.
fn big_database(tmp: &Path, rows: usize) -> PathBuf {
    let data = write_sample(&tmp.join("big"), 3, 0);
    crate::rt().block_on(async {
        let db = cortex_migrate::connect::open_sqlite_file(&data.join("cortex.db"), false)
            .await
            .unwrap();
        let blob = "x".repeat(100_000);
        db.execute_unprepared("BEGIN").await.unwrap();
        for i in 0..rows {
            db.execute_unprepared(&format!(
                "INSERT INTO files VALUES ('file-pad-{i}', 'file', 'assistants', '{blob}', 0, 0)"
            ))
            .await
            .unwrap();
        }
        db.execute_unprepared("COMMIT").await.unwrap();
    });
    data
}

fn sqlite3(db: &Path, dot: &str, file: &Path) -> Duration {
    let mut cmd = Command::new("sqlite3");
    cmd.arg(db).arg(format!("{dot} '{}'", file.display()));
    timed(cmd, dot).time
}

/// 4. Backup and restore of a 100 MB database (10 MB in the quick mode)
///    against the sqlite3 shell's `.backup` and `.restore` of the same
///    database, as whole processes, paired per round; at least 5 rounds in
///    a full run.
pub fn backup(plan: &Plan, tmp: &Path, rows: &mut Vec<Row>) {
    let data = big_database(tmp, if plan.quick { 100 } else { 1_000 });
    let db = data.join("cortex.db");
    let size = std::fs::metadata(&db).unwrap().len();
    let other = tmp.join("sqlite3-backup.db");
    let (mut ours_b, mut ours_r, mut theirs_b, mut theirs_r) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut ratio_b, mut ratio_r) = (Vec::new(), Vec::new());
    let mut cloned = false;
    let have_sqlite3 = Command::new("sqlite3").arg("-version").output().is_ok();
    for _ in 0..if plan.quick {
        plan.runs
    } else {
        plan.runs.max(5)
    } {
        let b = spawn("backup", &[&data]);
        let id = b.stdout.trim().to_owned();
        let r = spawn("restore", &[&data, Path::new(&id)]);
        cloned |= r.stdout.trim() == "true";
        ours_b.push(b.time);
        ours_r.push(r.time);
        if !have_sqlite3 {
            continue;
        }
        let sb = sqlite3(&db, ".backup", &other);
        let sr = sqlite3(&db, ".restore", &other);
        std::fs::remove_file(&other).unwrap();
        ratio_b.push(b.time.as_secs_f64() / sb.as_secs_f64());
        ratio_r.push(r.time.as_secs_f64() / sr.as_secs_f64());
        theirs_b.push(sb);
        theirs_r.push(sr);
    }
    let mb = size / 1_000_000;
    rows.push(Row::times(format!("backup of a {mb} MB database"), &ours_b));
    rows.push(
        Row::times(format!("restore of that backup ({mb} MB)"), &ours_r).note(if cloned {
            "database put back as a reflink clone"
        } else {
            "this filesystem cannot clone a file (reflink): database copied"
        }),
    );
    if ratio_b.is_empty() {
        rows.push(
            Row::new("backup ÷ `sqlite3 .backup`", Unit::Ratio, vec![f64::NAN])
                .note("sqlite3 not installed: no comparison"),
        );
        return;
    }
    rows.push(Row::times(
        "  `sqlite3 .backup` of the same database",
        &theirs_b,
    ));
    rows.push(Row::times(
        "  `sqlite3 .restore` of the same database",
        &theirs_r,
    ));
    rows.push(
        Row::new("backup ÷ `sqlite3 .backup`", Unit::Ratio, ratio_b).target(Target::AtMost(1.0)),
    );
    rows.push(
        Row::new("restore ÷ `sqlite3 .restore`", Unit::Ratio, ratio_r).target(Target::AtMost(1.0)),
    );
}
