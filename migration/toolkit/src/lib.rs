//! The machinery behind Cortex's migrations: the runner that gives every
//! step its own transaction, the journal that makes file operations commit
//! or roll back with it, path safety, the locks, adoption of cortex.cpp
//! databases, schema snapshots, backups and the history tables.

pub use async_trait;
pub use sea_orm_migration;

pub mod adopt;
pub mod atomic_fs;
pub mod backup;
pub mod database;
pub mod error;
pub mod fault;
pub mod history;
pub mod journal;
pub mod lock;
pub mod paths;
pub(crate) mod platform;
pub mod progress;
pub mod recorded;
pub(crate) mod rows;
pub mod runner;
pub mod schema_ops;
pub mod sea_orm_adapter;
pub mod snapshot;
pub mod state_dir;
pub mod status;
pub mod step;
pub mod step_context;
pub mod undo;

pub use error::{Direction, MigrateError};
pub use paths::{DataDir, Located};
pub use progress::{Event, ProgressSink};
pub use runner::{Options, Report, Runner, Target};
pub use schema_ops::{SchemaOp, key_text};
pub use sea_orm_adapter::SeaOrmMigrator;
pub use status::Status;
pub use step::{Step, StepKind, StepList, StepSource};
pub use step_context::{Change, Folder, LinesEdited, StepContext};
