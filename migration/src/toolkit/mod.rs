//! What the steps share: the runner that gives every step its own
//! transaction, the journal that makes file operations commit or roll back
//! with it, path safety, the lock, adoption of cortex.cpp databases, schema
//! snapshots and bookkeeping.

pub mod adopt;
pub mod advisory;
pub mod backup;
pub mod book;
pub mod bridge;
pub mod context;
pub mod durable;
pub mod error;
pub mod fault;
pub mod golden;
pub mod journal;
pub mod lock;
pub mod paths;
pub(crate) mod platform;
pub mod progress;
pub mod recipe;
pub mod recorded;
pub mod runner;
pub mod schema;
pub mod snapshot;
pub mod status;
pub mod step;

pub use context::Folder;
pub use error::{Direction, MigrateError};
pub use paths::{DataDir, Located};
pub use progress::{Event, ProgressSink};
pub use runner::{Options, Report, Runner, Target};
pub use schema::{SchemaOp, key_text, run_ops};
pub use status::Status;
pub use step::{Step, StepKind, StepList};
