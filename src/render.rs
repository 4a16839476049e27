//! Human output of the command line: short tables and a few lines, and the
//! progress bars (stderr, only on a terminal) that render runner events.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};

use indicatif::{ProgressBar, ProgressStyle};
use migration::toolkit::Status;
use migration::toolkit::backups::{Manifest, Restored};
use migration::toolkit::{Origin, PlannedStep, Report, StoredOrigin};
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::verify::Verification;
use migration::toolkit::{Direction, Event, ProgressSink};

/// How times are shown: `2026-11-26 01:14:03 UTC`.
const SHOWN_TIME: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");

/// `2026-11-26 01:14:03 UTC` from seconds since the epoch; a time outside
/// the years -9999..=9999 as its bare seconds.
pub fn time(secs: i64) -> String {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(SHOWN_TIME).ok())
        .unwrap_or_else(|| format!("{secs} s after 1970-01-01 UTC"))
}

/// The `status` screen.
pub fn status(st: &Status, located_from: Option<&str>, found: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(d) = &st.data_dir {
        out.push_str(&format!(
            "data folder   {}{}\n",
            d.display(),
            located_from
                .map(|f| format!(" (from {f})"))
                .unwrap_or_default()
        ));
    }
    match &st.database {
        Some(db) => out.push_str(&format!(
            "database      {} ({})\n",
            db.display(),
            st.backend
        )),
        None => out.push_str(&format!("database      {}\n", st.backend)),
    }
    if let Some(found) = found {
        out.push_str(&format!("found         {found}\n"));
    }
    out.push_str(&format!(
        "data version  {}{}\n",
        st.data_version.as_deref().unwrap_or("(empty)"),
        st.data_fingerprint
            .as_deref()
            .map(|f| format!(" (schema {f})"))
            .unwrap_or_default()
    ));
    out.push_str(&format!(
        "app version   {}\n",
        st.app_version.as_deref().unwrap_or("(none)")
    ));
    if let Some(c) = &st.cortex_cpp {
        out.push_str(&format!("found         {c} (adopted at the next `up`)\n"));
    }
    match &st.lock_holder {
        Some(h) => out.push_str(&format!("lock          held by {h}\n")),
        None => out.push_str("lock          free\n"),
    }
    if let Some(i) = &st.interrupted {
        out.push_str(&format!(
            "interrupted   {} ({}, {} file operations, pid {}); `cortex-migrate recover` finishes or undoes it\n",
            i.step, i.direction, i.operations, i.pid
        ));
    }
    for h in &st.half_done {
        out.push_str(&format!(
            "{:<13} {} ({}) on MySQL{}; `cortex-migrate recover` reverts it, `recover --complete` finishes it\n",
            h.state,
            h.step,
            h.direction,
            h.error.as_deref().map(|e| format!(": {e}")).unwrap_or_default()
        ));
    }
    out.push('\n');
    let width = st
        .steps
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    out.push_str(&format!(
        "  {:<9}  {:<width$}  {:<6}  APPLIED\n",
        "STATE", "STEP", "KIND"
    ));
    for s in &st.steps {
        let when = match (s.applied_at, &s.origin) {
            (Some(t), Some(StoredOrigin::Known(Origin::Adopted))) => {
                format!("{} (adopted from cortex.cpp)", time(t))
            }
            (Some(t), Some(StoredOrigin::Unknown(origin))) => {
                format!(
                    "{} (origin `{origin}`, unknown to this cortex-migrate)",
                    time(t)
                )
            }
            (Some(t), _) => time(t),
            (None, _) => String::new(),
        };
        let state = if s.drifted {
            "changed"
        } else {
            s.state.as_str()
        };
        out.push_str(&format!(
            "  {:<9}  {:<width$}  {:<6}  {when}\n",
            state,
            s.name,
            format!("{:?}", s.kind).to_lowercase()
        ));
    }
    for u in &st.unknown_applied {
        out.push_str(&format!(
            "  {:<9}  {u:<width$}  ?       (applied by a newer cortex-migrate)\n",
            "unknown"
        ));
    }
    out.push('\n');
    if !st.unknown_applied.is_empty() {
        out.push_str(&format!(
            "The data is newer than this binary ({} unknown step(s)); run the newer binary, or `cortex-migrate down --to {}`.\n",
            st.unknown_applied.len(),
            st.app_version.as_deref().unwrap_or("0")
        ));
    } else if st.pending.is_empty() {
        out.push_str("Up to date.\n");
    } else {
        out.push_str(&format!(
            "{} pending step(s): run `cortex-migrate up`.\n",
            st.pending.len()
        ));
    }
    if st.steps.iter().any(|s| s.drifted) {
        out.push_str("A step marked `changed` differs from the step this binary has; `cortex-migrate verify` explains.\n");
    }
    out
}

/// The result of `up`, `down` or `recover`.
pub fn report(r: &Report) -> String {
    let mut out = String::new();
    if let Some(b) = &r.backup {
        out.push_str(&format!(
            "backup        {b} (`cortex-migrate restore {b}` puts it back)\n"
        ));
    }
    if let Some(rec) = &r.recovered {
        out.push_str(&format!(
            "recovered     {} ({}): {} ({} file operations)\n",
            rec.step,
            rec.direction,
            if rec.committed {
                "it had committed; its file changes were completed"
            } else {
                "it had not committed; its file changes were undone"
            },
            rec.operations
        ));
    }
    for a in &r.adopted {
        out.push_str(&format!(
            "adopted       {a} (made by cortex.cpp, not run again)\n"
        ));
    }
    for s in &r.steps {
        let verb = match s.direction {
            Direction::Up => "applied",
            Direction::Down => "rolled back",
        };
        out.push_str(&format!("{verb:<13} {} ({} ms)\n", s.step, s.millis));
        for n in &s.notes {
            out.push_str(&format!("              note: {n}\n"));
        }
    }
    if r.steps.is_empty() && r.adopted.is_empty() && r.recovered.is_none() && r.backup.is_none() {
        out.push_str("Nothing to do: the data is up to date.\n");
    }
    out
}

/// The result of `verify`.
pub fn verification(v: &Verification) -> String {
    let mut out = String::new();
    for c in &v.checks {
        if c.problems.is_empty() {
            out.push_str(&format!("{:<15} ok: {}\n", c.name, c.detail));
        } else {
            out.push_str(&format!("{:<15} {} problem(s)\n", c.name, c.problems.len()));
            for p in &c.problems {
                out.push_str(&format!("  - {p}\n"));
            }
        }
    }
    let n = v.problems().len();
    if n == 0 {
        out.push_str("No drift.\n");
    } else {
        out.push_str(&format!("Drift found: {n} problem(s).\n"));
    }
    out
}

/// `backups list`.
pub fn backups(list: &[Manifest]) -> String {
    if list.is_empty() {
        return "No backups yet: one is taken before every run that changes something.\n".into();
    }
    let mut out = format!(
        "  {:<17}  {:<23}  {:>10}  {:>5}  {:<8}  {}\n",
        "BACKUP", "TAKEN", "DB BYTES", "FILES", "STATE", "DATA VERSION / REASON"
    );
    for m in list {
        out.push_str(&format!(
            "  {:<17}  {:<23}  {:>10}  {:>5}  {:<8}  {} / {}\n",
            m.id,
            time(m.created_at as i64),
            m.database.bytes,
            m.files.len(),
            if m.complete { "complete" } else { "partial" },
            m.data_version.as_deref().unwrap_or("(empty)"),
            m.reason
        ));
    }
    out
}

/// The result of `restore`.
pub fn restored(r: &Restored) -> String {
    format!(
        "restored      {} (data version {})\n              database, {} file(s) put back, {} folder(s) moved back, {} created file(s) removed\n",
        r.backup,
        r.data_version.as_deref().unwrap_or("(empty)"),
        r.files,
        r.moves,
        r.removed
    )
}

/// The result of `plan`.
pub fn plan(steps: &[PlannedStep], mysql: bool) -> String {
    let mut out = String::new();
    if steps.is_empty() {
        out.push_str("Nothing to do.\n");
        return out;
    }
    for s in steps {
        out.push_str(&format!(
            "{} {} ({}): {}\n",
            match (s.adopt, s.direction) {
                (true, _) => "adopt",
                (false, Direction::Up) => "up   ",
                (false, Direction::Down) => "down ",
            },
            s.step,
            format!("{:?}", s.kind).to_lowercase(),
            s.summary
        ));
        for sql in &s.sql {
            out.push_str(&format!("    sql   {sql}\n"));
        }
        for f in &s.files {
            out.push_str(&format!("    file  {f}\n"));
        }
        for n in &s.notes {
            out.push_str(&format!("    note  {n}\n"));
        }
        if s.adopt {
            out.push_str("    cortex.cpp already made this schema: recorded as applied, not run\n");
        }
        if s.archives {
            out.push_str("    keeps what it drops in archive tables; the next `up` restores it\n");
        }
    }
    if mysql {
        out.push_str(
            "MySQL/MariaDB cannot roll back DDL: a step that fails half-way is shown by `status` \
             as failed and completed or reverted by `recover`.\n",
        );
    }
    out
}

/// A progress sink that draws bars on stderr when it is a terminal, and
/// prints notes (waiting for the lock, skipped models) either way.
pub fn progress_sink(quiet: bool) -> ProgressSink {
    let tty = std::io::stderr().is_terminal();
    let bars: Arc<Mutex<HashMap<String, ProgressBar>>> = Arc::default();
    ProgressSink::new(move |e| match e {
        Event::StepStarted {
            step,
            direction,
            index,
            total,
        } if tty && !quiet => {
            let pb = ProgressBar::new_spinner();
            pb.set_message(format!("[{index}/{total}] {direction} {step}"));
            pb.enable_steady_tick(std::time::Duration::from_millis(120));
            if let Ok(mut b) = bars.lock() {
                b.insert(step.clone(), pb);
            }
        }
        Event::StepFinished { step, .. } => {
            if let Some(pb) = bars.lock().ok().and_then(|mut b| b.remove(step)) {
                pb.finish_and_clear();
            }
        }
        Event::Bytes { step, done, total } | Event::Rows { step, done, total } if tty && !quiet => {
            if let Ok(b) = bars.lock()
                && let Some(pb) = b.get(step)
            {
                if pb.length() != Some(*total) {
                    pb.set_length(*total);
                    let unit = if matches!(e, Event::Bytes { .. }) {
                        "{bytes}/{total_bytes}"
                    } else {
                        "{pos}/{len} models"
                    };
                    if let Ok(style) = ProgressStyle::with_template(&format!(
                        "{{msg}} [{{bar:30}}] {unit} {{eta}}"
                    )) {
                        pb.set_style(style);
                    }
                }
                pb.set_position(*done);
            }
        }
        // Notes of a step are in its report; the ones without a step
        // (waiting for the lock) are news now.
        Event::Note { step, message } if !quiet && step.is_empty() => {
            eprintln!("{message}");
        }
        Event::Recovering {
            step,
            direction,
            committed,
        } if !quiet => {
            eprintln!(
                "recovering the interrupted step {step} ({direction}): {}",
                if *committed {
                    "completing it"
                } else {
                    "undoing it"
                }
            );
        }
        _ => {}
    })
}

/// The version of the event stream of `--progress json`; it changes only
/// when a field changes meaning or goes away.
pub const EVENTS_VERSION: u32 = 1;

/// One line of the event stream: `{"v": 1, "event": kind, ...fields}` (an
/// object's fields are merged in; anything else goes under `"value"`).
pub fn stream_line(kind: &str, fields: serde_json::Value) -> serde_json::Value {
    let mut line = serde_json::Map::new();
    line.insert("v".into(), EVENTS_VERSION.into());
    line.insert("event".into(), kind.into());
    match fields {
        serde_json::Value::Object(m) => line.extend(m),
        other => {
            line.insert("value".into(), other);
        }
    }
    serde_json::Value::Object(line)
}

/// A runner event as a line of the stream (`None` only if it cannot be
/// encoded, which an `Event` always can).
pub fn event_line(event: &Event) -> Option<serde_json::Value> {
    match serde_json::to_value(event) {
        Ok(serde_json::Value::Object(mut m)) => {
            let kind = m
                .remove("event")
                .and_then(|k| k.as_str().map(str::to_owned))
                .unwrap_or_default();
            Some(stream_line(&kind, serde_json::Value::Object(m)))
        }
        _ => None,
    }
}

/// Writes one line of the event stream (`stream_line`) to stdout, now.
pub fn json_line(kind: &str, fields: serde_json::Value) {
    print_line(&stream_line(kind, fields));
}

/// A sink that writes each event as one line of the stream.
pub fn json_lines_sink() -> ProgressSink {
    ProgressSink::new(|e| {
        if let Some(line) = event_line(e) {
            print_line(&line);
        }
    })
}

fn print_line(line: &serde_json::Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    // A GUI that stopped reading is no reason to stop migrating.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    #[test]
    fn time_formats_known_instants() {
        assert_eq!(super::time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::time(1_795_654_443), "2026-11-26 00:54:03 UTC");
        assert_eq!(super::time(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(
            super::time(i64::MAX),
            format!("{} s after 1970-01-01 UTC", i64::MAX)
        );
    }

    #[test]
    fn an_event_line_is_versioned_and_names_its_event() {
        let line = super::event_line(&super::Event::Rows {
            step: "m1".into(),
            done: 2,
            total: 5,
        });
        assert_eq!(
            line,
            Some(serde_json::json!({"v": 1, "event": "rows", "step": "m1", "done": 2, "total": 5}))
        );
        assert_eq!(
            super::stream_line("error", serde_json::json!(3)),
            serde_json::json!({"v": 1, "event": "error", "value": 3})
        );
    }
}
