//! Fault injection for the reliability tests: every boundary of a run
//! (journal write, file operation, SQL statement, commit) calls [`point`], and
//! a test process started with `CORTEX_MIGRATE_FAULT=N:kill` (or `N:error`)
//! dies at once (SIGKILL; `TerminateProcess` on Windows) or fails at the
//! N-th boundary it reaches.
//! `CORTEX_MIGRATE_FAULT_LOG=FILE` appends the name of every boundary reached,
//! so a harness can learn how many there are. Without these variables a point
//! costs one relaxed atomic load.

use std::io::Write;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::error::MigrateError;
use super::platform;

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

/// Marks a boundary named `label`. Returns an error, or kills the process,
/// when the fault plan says this is the boundary to break.
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
        let _ = writeln!(f, "{n} {label}");
        let _ = platform::sync_file_data(&f);
    }
    match plan.at {
        // No destructor, no flush, no rollback by us; exactly what a power
        // cut or an OOM kill leaves behind.
        Some((at, Mode::Kill)) if at == n => platform::kill_self(),
        Some((at, Mode::Error)) if at == n => Err(MigrateError::InjectedFault {
            boundary: n,
            label: label.to_owned(),
        }),
        _ => Ok(()),
    }
}
