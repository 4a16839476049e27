//! Progress as events, for a GUI (Jan) or the command line's progress bars:
//! steps starting and finishing, bytes copied, rows backfilled, notes.

use std::sync::Arc;

use serde::Serialize;

use super::error::Direction;

/// Something a long run wants to tell whoever watches it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// An interrupted step was found and is being finished or undone.
    Recovering {
        step: String,
        direction: Direction,
        committed: bool,
    },
    /// A step begins (`index` counts from 1 up to `total` in this run).
    StepStarted {
        step: String,
        direction: Direction,
        index: usize,
        total: usize,
    },
    /// A step committed.
    StepFinished {
        step: String,
        direction: Direction,
        millis: u64,
    },
    /// Bytes copied by a move across filesystems.
    Bytes { step: String, done: u64, total: u64 },
    /// Rows (models) filled in by a backfill.
    Rows { step: String, done: u64, total: u64 },
    /// Something the user should know (a skipped model, a waiting lock).
    Note { step: String, message: String },
}

/// A function that receives events.
type Listener = Arc<dyn Fn(&Event) + Send + Sync>;

/// Where events go. Cheap to clone; does nothing by default.
#[derive(Clone, Default)]
pub struct ProgressSink(Option<Listener>);

impl ProgressSink {
    /// A sink that calls `f` for every event.
    pub fn new(f: impl Fn(&Event) + Send + Sync + 'static) -> Self {
        ProgressSink(Some(Arc::new(f)))
    }

    /// Sends an event.
    pub fn emit(&self, event: Event) {
        if let Some(f) = &self.0 {
            f(&event);
        }
    }
}

impl std::fmt::Debug for ProgressSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ProgressSink(on)"
        } else {
            "ProgressSink(off)"
        })
    }
}
