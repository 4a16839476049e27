//! The error type of `cortex_migrate` and the exit code each error maps to.

use std::path::PathBuf;

use migration::toolkit::MigrateError;

/// Exit codes of the `cortex-migrate` binary (documented in the README).
pub mod exit {
    /// Success.
    pub const OK: i32 = 0;
    /// A step failed or was refused; the data is as it was before it.
    pub const FAILED: i32 = 1;
    /// The command line was wrong.
    pub const USAGE: i32 = 2;
    /// The data cannot be used as it is: not a database, unknown or
    /// contradictory schema, data written by a newer binary, read-only.
    pub const BAD_DATA: i32 = 3;
    /// `verify` found drift, or the `check` policy found pending steps.
    pub const DRIFT: i32 = 4;
    /// Another migrator held the lock for longer than the timeout.
    pub const LOCKED: i32 = 5;
}

/// Everything that can go wrong in `cortex_migrate`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Migrate(#[from] MigrateError),

    #[error("the data folder {path} does not exist; run Cortex once, or pass the right --data-dir")]
    NoDataFolder { path: PathBuf },

    #[error("there is no cortex.db in {folder}; `cortex-migrate up` creates it")]
    NoDatabase { folder: PathBuf },

    #[error("{path}: {reason}; fix or remove the file (Cortex rewrites it with defaults)")]
    Config { path: PathBuf, reason: String },

    #[error("cannot connect to {target}: {reason}")]
    Connect { target: String, reason: String },

    #[error(
        "{path} is not empty; a sample is written only into a new or empty folder, \
         so that no real .cortexrc or cortex.db is overwritten: pick another folder"
    )]
    SampleHomeNotEmpty { path: PathBuf },

    #[error("{0}")]
    Usage(String),

    #[error("{0}")]
    Drift(String),

    #[error(
        "the data is behind this binary ({}{}); run `cortex-migrate up` (the deploy step) first",
        if pending.is_empty() { "nothing pending".to_owned() } else { format!("pending: {}", pending.join(", ")) },
        interrupted.as_ref().map(|s| format!("; interrupted: {s}")).unwrap_or_default()
    )]
    Behind {
        pending: Vec<String>,
        interrupted: Option<String>,
    },
}

impl Error {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) | Error::SampleHomeNotEmpty { .. } => exit::USAGE,
            Error::Drift(_) | Error::Behind { .. } => exit::DRIFT,
            Error::NoDataFolder { .. }
            | Error::NoDatabase { .. }
            | Error::Config { .. }
            | Error::Connect { .. } => exit::BAD_DATA,
            Error::Migrate(e) => match e.root() {
                MigrateError::NotADatabase { .. }
                | MigrateError::DatabaseBusy { .. }
                | MigrateError::ReadOnly { .. }
                | MigrateError::Adoption { .. }
                | MigrateError::ForeignTables { .. }
                | MigrateError::UnknownLayout { .. }
                | MigrateError::UnknownAppliedSteps { .. }
                | MigrateError::JournalCorrupt { .. } => exit::BAD_DATA,
                MigrateError::NoSuchStep { .. }
                | MigrateError::NoSuchBackup(_)
                | MigrateError::NewerWrites { .. } => exit::USAGE,
                MigrateError::LockTimeout { .. } => exit::LOCKED,
                _ => exit::FAILED,
            },
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
