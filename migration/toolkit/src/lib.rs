//! The machinery behind Cortex's migrations: the runner that gives every
//! step its own transaction, the journal that makes file operations commit
//! or roll back with it, path safety, the locks, adoption of cortex.cpp
//! databases, schema snapshots, backups and the history tables.
//!
//! The front door is what this file re-exports: the runner, the step
//! shape and its context, the error type, status, backups and the few
//! read-only views `verify` and the boot need. The modules themselves are
//! the crate's own; the `test-support` feature opens them to the project's
//! integration tests, which inspect journals, history rows and snapshots.
//! ARCHITECTURE.md draws the layers.

pub use async_trait;
pub use sea_orm_migration;

/// Declares modules that are the crate's own, public only to the tests.
macro_rules! internal {
    ($($(#[$doc:meta])* $m:ident;)*) => {$(
        $(#[$doc])*
        #[cfg(feature = "test-support")]
        pub mod $m;
        $(#[$doc])*
        #[cfg(not(feature = "test-support"))]
        #[allow(dead_code, unreachable_pub)]
        pub(crate) mod $m;
    )*};
}

internal! {
    adopt;
    atomic_fs;
    backup;
    database;
    error;
    fault;
    history;
    journal;
    lock;
    paths;
    progress;
    recorded;
    runner;
    schema_ops;
    sea_orm_adapter;
    snapshot;
    state_dir;
    status;
    step;
    step_context;
    undo;
}
pub(crate) mod disk;
pub(crate) mod platform;
pub(crate) mod rows;
pub(crate) mod threads;

// Running steps.
pub use runner::{
    DEFAULT_KEEP_BACKUPS, Options, PlannedStep, Recovered, Report, Runner, StepReport, Target,
};
pub use sea_orm_adapter::SeaOrmMigrator;

// Writing steps.
pub use schema_ops::{SchemaOp, key_text};
pub use step::{ChecksumMatch, Step, StepKind, StepList, StepSource, checksum, compare_checksum};
pub use step_context::{Change, ConfigFile, Folder, LinesEdited, StepContext};
pub use undo::{LineEdit, UndoOp, apply_line_edits, load as stored_undo};

// Errors, progress, places.
pub use database::{DATA_DIR_ENV, classify as classify_db_error};
pub use error::{Direction, MigrateError};
pub use paths::{DataDir, Located, looks_absolute, path_key};
pub use platform::OpenFor;
pub use progress::{Event, ProgressSink};
pub use state_dir::StateDir;
pub use threads::map as map_on_threads;

// What status, verify and the boot read.
pub use adopt::{Found, inspect as inspect_database};
pub use atomic_fs::replace_durably;
pub use history::HalfState;
pub use history::{
    AppliedStep, Origin, STEPS_TABLE, StoredOrigin, UnknownOrigin, applied as applied_steps,
};
pub use journal::PendingJournal;
pub use lock::{FolderLock, redact_url};
pub use snapshot::snapshot as schema_snapshot;
pub use status::{Status, StepState};

/// Backups: taken before every run that changes something, listed,
/// checked and restored.
pub mod backups {
    pub use crate::backup::{
        Manifest, Restored, check, find, is_restore, list, newer_writes, recover_restore,
        refuse_newer_writes, restore,
    };
}
