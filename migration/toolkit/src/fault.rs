//! Fault injection for the reliability tests: every boundary of a run
//! (journal write, file operation, SQL statement, commit) calls [`point`], and
//! a test process started with `CORTEX_MIGRATE_FAULT=N:kill` (or `N:error`)
//! dies at once (SIGKILL; `TerminateProcess` on Windows) or fails at the
//! N-th boundary it reaches.
//! `CORTEX_MIGRATE_FAULT_LOG=FILE` appends the name of every boundary reached,
//! so a harness can learn how many there are; `CORTEX_MIGRATE_FORCE_COPY`
//! makes every move a verified copy ([`force_copy`]), as across filesystems.
//! `CORTEX_MIGRATE_PAUSE=DIR` holds the run after each step's commit
//! (boundary `step: committed`, before the next step begins): it writes
//! `DIR/paused-K` (K = 1, 2, ...) and waits for `DIR/resume-K`, so a test
//! can write to the database *between* steps as a running Cortex would,
//! deterministically rather than by racing. It does not count as a
//! boundary: the numbering `N` refers to is the same with or without it.
//! `CORTEX_MIGRATE_FS_LOG=FOLDER` logs every boundary and every change to
//! the disk with what undoes it (`disk::record`).
//!
//! A kill keeps what the process wrote but did not fsync (the kernel's page
//! cache survives it), so it shows a missing journal record or a wrong
//! order of operations, never a missing fsync of a file or a folder. The
//! power-loss tests (`tests/power_loss.rs`) take the tree a kill left and
//! the log of what was not yet durable, and try the trees a power cut may
//! leave instead.
//!
//! All of it exists only with the `fault-injection` feature, which the
//! project's tests turn on. Without it (a release build, an application
//! that embeds the boot API) [`point`] is an empty inline function,
//! [`force_copy`] is false and no variable is read: an environment cannot
//! make Cortex kill itself, fail, or write a file of its choosing.

#[cfg(feature = "fault-injection")]
pub use armed::{force_copy, point};

/// Marks a boundary named `label`; without the `fault-injection` feature it
/// does nothing.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_label: &str) -> Result<(), super::error::MigrateError> {
    Ok(())
}

/// Whether moves must copy even within one filesystem; without the
/// `fault-injection` feature, never.
#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn force_copy() -> bool {
    false
}

#[cfg(feature = "fault-injection")]
mod armed {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};

    use crate::disk::record;
    use crate::error::MigrateError;
    use crate::platform;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Mode {
        Kill,
        Error,
    }

    struct Plan {
        at: Option<(u64, Mode)>,
        log: Option<std::path::PathBuf>,
        pause: Option<PathBuf>,
    }

    static PLAN: OnceLock<Plan> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static PAUSES: AtomicU64 = AtomicU64::new(0);

    /// The boundary a paused run stops at: the step committed, its locks
    /// released, the next step not begun.
    const PAUSE_AT: &str = "step: committed";

    /// How long a paused run waits for its resume file before it fails
    /// (a test that died must not leave a migrator waiting forever).
    const PAUSE_LIMIT: Duration = Duration::from_secs(120);

    fn plan() -> &'static Plan {
        PLAN.get_or_init(|| {
            let at = std::env::var("CORTEX_MIGRATE_FAULT").ok().and_then(|v| {
                let (n, mode) = v.split_once(':').unwrap_or((v.as_str(), "kill"));
                let n = n.trim().parse::<u64>().ok()?;
                let mode = match mode.trim() {
                    "error" => Mode::Error,
                    _ => Mode::Kill,
                };
                Some((n, mode))
            });
            let log = std::env::var_os("CORTEX_MIGRATE_FAULT_LOG").map(Into::into);
            let pause = std::env::var_os("CORTEX_MIGRATE_PAUSE").map(Into::into);
            Plan { at, log, pause }
        })
    }

    /// Announces pause K in `dir` and waits until the test resumes it.
    fn pause(dir: &Path, label: &str) -> Result<(), MigrateError> {
        let k = PAUSES.fetch_add(1, Ordering::SeqCst) + 1;
        let failed = |why: String| MigrateError::InjectedFault {
            boundary: k,
            label: format!("{label} (pause {k}: {why})"),
        };
        // Written aside and renamed, so the test never reads a half file.
        let tmp = dir.join(format!(".paused-{k}"));
        std::fs::write(&tmp, label).map_err(|e| failed(e.to_string()))?;
        std::fs::rename(&tmp, dir.join(format!("paused-{k}")))
            .map_err(|e| failed(e.to_string()))?;
        let resume = dir.join(format!("resume-{k}"));
        let started = Instant::now();
        while !resume.exists() {
            if started.elapsed() > PAUSE_LIMIT {
                return Err(failed(format!(
                    "no {} within {PAUSE_LIMIT:?}",
                    resume.display()
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// Marks a boundary named `label`. Returns an error, or kills the
    /// process, when the fault plan says this is the boundary to break.
    /// Without a plan it costs one relaxed atomic load. With a pause
    /// directory, [`PAUSE_AT`] first waits for the test (see the module
    /// doc).
    pub fn point(label: &str) -> Result<(), MigrateError> {
        let plan = plan();
        if let Some(dir) = &plan.pause
            && label == PAUSE_AT
        {
            pause(dir, label)?;
        }
        let recording = record::armed().is_some();
        if plan.at.is_none() && plan.log.is_none() && !recording {
            return Ok(());
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
        record::point(n, label);
        if let Some(log) = &plan.log
            && let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
        {
            // One write per line: the threads of a rewrite batch pass
            // boundaries at once, and `writeln!` may write a line in parts.
            let _ = f.write_all(format!("{n} {label}\n").as_bytes());
            let _ = platform::sync_file_data(&f);
        }
        match plan.at {
            // No destructor, no flush, no rollback by us: what an OOM kill
            // leaves behind. Not what a power cut leaves: the kernel keeps
            // every write the process made, fsynced or not, so a missing
            // fsync never shows here (the power-loss tests model that, from
            // the log of `disk::record`).
            Some((at, Mode::Kill)) if at == n => {
                record::hold_for_kill();
                platform::kill_self()
            }
            Some((at, Mode::Error)) if at == n => Err(MigrateError::InjectedFault {
                boundary: n,
                label: label.to_owned(),
            }),
            _ => Ok(()),
        }
    }

    /// Whether moves must copy even within one filesystem
    /// (`CORTEX_MIGRATE_FORCE_COPY` set), to test the copy path on one disk.
    pub fn force_copy() -> bool {
        std::env::var_os("CORTEX_MIGRATE_FORCE_COPY").is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    /// The variables, as a crash or power-loss test sets them: break
    /// boundary `fault`, log every boundary, copy instead of moving, log
    /// every change to the disk to the folder `log` + `.disk`; and pause
    /// after a step's commit (in the log's folder), as the concurrency
    /// tests do.
    fn child(fault: &str, log: &std::path::Path) -> std::process::Output {
        let exe = std::env::current_exe().expect("the test binary knows its path");
        let pause = log.parent().expect("the log is in a folder");
        Command::new(exe)
            .args(["--exact", "fault::tests::pass_boundaries", "--ignored"])
            .args(["--test-threads=1", "--nocapture"])
            .env("CORTEX_MIGRATE_FAULT", fault)
            .env("CORTEX_MIGRATE_FAULT_LOG", log)
            .env("CORTEX_MIGRATE_FORCE_COPY", "1")
            .env("CORTEX_MIGRATE_PAUSE", pause)
            .env("CORTEX_MIGRATE_FS_LOG", log.with_extension("disk"))
            .output()
            .expect("running the test binary again")
    }

    /// What the child process does: make a folder through the door to the
    /// disk, pass many boundaries and a step's commit (where a paused run
    /// waits) and report whether moves would copy. Run by the tests below.
    #[test]
    #[ignore = "run by the tests below in a process of their own, with the variables set"]
    fn pass_boundaries() {
        let t = tempfile::tempdir().unwrap();
        crate::disk::create_dir(&t.path().join("made")).unwrap();
        for _ in 0..100 {
            assert!(super::point("test: boundary").is_ok());
        }
        assert!(super::point("step: committed").is_ok());
        println!("force_copy={}", super::force_copy());
    }

    /// The default build (a release, the boot API) reads none of the
    /// variables: the child passes every boundary alive, writes no log,
    /// never pauses and keeps moves as renames. Fails if a default build
    /// arms anything.
    #[cfg(not(feature = "fault-injection"))]
    #[test]
    fn default_build_ignores_fault_variables() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("boundaries");
        let out = child("1:kill", &log);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "the child did not pass its boundaries ({:?}): {stdout}",
            out.status
        );
        assert!(
            stdout.contains("1 passed"),
            "the child ran no test: {stdout}"
        );
        assert!(stdout.contains("force_copy=false"), "{stdout}");
        assert!(!log.exists(), "a default build wrote the boundary log");
        assert!(
            !dir.path().join("paused-1").exists(),
            "a default build paused"
        );
        assert!(
            !log.with_extension("disk").exists(),
            "a default build logged changes to the disk"
        );
    }

    /// With the feature (the tests' build) the same variables kill the
    /// child at its first boundary, after logging it, make moves copies,
    /// and pause after a step's commit until resumed: the check above
    /// would see the difference.
    #[cfg(feature = "fault-injection")]
    #[test]
    fn fault_injection_build_obeys_fault_variables() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("boundaries");
        let out = child("1:kill", &log);
        assert!(!out.status.success(), "the child was not stopped");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "1 test: boundary\n");
        let disk = std::fs::read_to_string(log.with_extension("disk").join("log")).unwrap();
        assert!(disk.contains(r#""op":"mkdir""#), "{disk}");
        assert!(disk.contains(r#""op":"point""#), "{disk}");
        assert!(!dir.path().join("paused-1").exists(), "paused before dying");
        // Resumed before it is asked, so the child goes on at once.
        std::fs::write(dir.path().join("resume-1"), "").unwrap();
        let out = child("1000:kill", &log);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{:?}: {stdout}", out.status);
        assert!(stdout.contains("force_copy=true"), "{stdout}");
        assert_eq!(
            std::fs::read_to_string(dir.path().join("paused-1")).unwrap(),
            "step: committed",
            "the child did not announce its pause"
        );
    }
}
