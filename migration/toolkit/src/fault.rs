//! Fault injection for the reliability tests: every boundary of a run
//! (journal write, file operation, SQL statement, commit) calls [`point`], and
//! a test process started with `CORTEX_MIGRATE_FAULT=N:kill` (or `N:error`)
//! dies at once (SIGKILL; `TerminateProcess` on Windows) or fails at the
//! N-th boundary it reaches.
//! `CORTEX_MIGRATE_FAULT_LOG=FILE` appends the name of every boundary reached,
//! so a harness can learn how many there are; `CORTEX_MIGRATE_FORCE_COPY`
//! makes every move a verified copy ([`force_copy`]), as across filesystems.
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
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

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
    }

    static PLAN: OnceLock<Plan> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);

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
            Plan { at, log }
        })
    }

    /// Marks a boundary named `label`. Returns an error, or kills the
    /// process, when the fault plan says this is the boundary to break.
    /// Without a plan it costs one relaxed atomic load.
    pub fn point(label: &str) -> Result<(), MigrateError> {
        let plan = plan();
        if plan.at.is_none() && plan.log.is_none() {
            return Ok(());
        }
        let n = COUNTER.fetch_add(1, Ordering::SeqCst) + 1;
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
            // No destructor, no flush, no rollback by us; exactly what a
            // power cut or an OOM kill leaves behind.
            Some((at, Mode::Kill)) if at == n => platform::kill_self(),
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

    /// The variables, as a crash test sets them: break boundary `fault`,
    /// log every boundary, copy instead of moving.
    fn child(fault: &str, log: &std::path::Path) -> std::process::Output {
        let exe = std::env::current_exe().expect("the test binary knows its path");
        Command::new(exe)
            .args(["--exact", "fault::tests::pass_boundaries", "--ignored"])
            .args(["--test-threads=1", "--nocapture"])
            .env("CORTEX_MIGRATE_FAULT", fault)
            .env("CORTEX_MIGRATE_FAULT_LOG", log)
            .env("CORTEX_MIGRATE_FORCE_COPY", "1")
            .output()
            .expect("running the test binary again")
    }

    /// What the child process does: pass many boundaries and report
    /// whether moves would copy. Run by the tests below.
    #[test]
    #[ignore = "run by the tests below in a process of their own, with the variables set"]
    fn pass_boundaries() {
        for _ in 0..100 {
            assert!(super::point("test: boundary").is_ok());
        }
        println!("force_copy={}", super::force_copy());
    }

    /// The default build (a release, the boot API) reads none of the
    /// variables: the child passes every boundary alive, writes no log and
    /// keeps moves as renames. Fails if a default build arms anything.
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
    }

    /// With the feature (the tests' build) the same variables kill the
    /// child at its first boundary, after logging it, and make moves
    /// copies: the check above would see the difference.
    #[cfg(feature = "fault-injection")]
    #[test]
    fn fault_injection_build_obeys_fault_variables() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("boundaries");
        let out = child("1:kill", &log);
        assert!(!out.status.success(), "the child was not stopped");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "1 test: boundary\n");
        let out = child("1000:kill", &log);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{:?}: {stdout}", out.status);
        assert!(stdout.contains("force_copy=true"), "{stdout}");
    }
}
