//! The migration crate's error type: every failure names the step, table or
//! path it concerns and, where there is one, what the user can do next.

use std::path::PathBuf;

use sea_orm_migration::DbErr;

/// Which way a step was being run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

impl std::fmt::Display for Direction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Direction::Up => "up",
            Direction::Down => "down",
        })
    }
}

/// Everything that can go wrong while inspecting, migrating or recovering
/// Cortex data.
/// How a step MySQL left half done ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HalfState {
    /// Its process died while it ran.
    Running,
    /// It failed; the error is kept.
    Failed,
}

impl HalfState {
    /// The word stored in the state table.
    pub fn as_str(self) -> &'static str {
        match self {
            HalfState::Running => "running",
            HalfState::Failed => "failed",
        }
    }
}

impl std::fmt::Display for HalfState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrateError {
    #[error("{what}: {source}")]
    Db {
        what: String,
        #[source]
        source: DbErr,
    },

    #[error(
        "{path} is not a SQLite database (or it is corrupt): {detail}; \
         restore it from a backup (`cortex-migrate backups list`) or move it away"
    )]
    NotADatabase { path: PathBuf, detail: String },

    #[error(
        "the database {path} is locked by another writer (is Cortex running?); \
         stop it or try again later"
    )]
    DatabaseBusy { path: PathBuf },

    #[error("cannot write to {path}: it is read-only; make it writable and run again")]
    ReadOnly { path: PathBuf },

    #[error("step {step} ({direction}) failed: {source}")]
    Step {
        step: String,
        direction: Direction,
        #[source]
        source: Box<MigrateError>,
    },

    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("no space left on the device while writing {path}; free some space and run again")]
    NoSpace { path: PathBuf },

    #[error("the journal {path} is damaged at line {line}: {reason}; nothing was changed")]
    JournalCorrupt {
        path: PathBuf,
        line: usize,
        reason: String,
    },

    #[error(
        "{path} lies outside the data folder {root}; cortex-migrate never changes files outside it"
    )]
    OutsideDataFolder { path: PathBuf, root: PathBuf },

    #[error("{path} is not valid YAML: {reason}")]
    Yaml { path: PathBuf, reason: String },

    #[error(
        "step {step} changes files but no data folder is known; pass --data-dir \
         or set CORTEX_DATA_DIR"
    )]
    NoDataFolder { step: String },

    #[error("cannot adopt this database: {reason}; the database was left as it was")]
    Adoption { reason: String },

    #[error(
        "the database has tables that Cortex never made ({}); \
         is this really a Cortex database? nothing was changed",
        tables.join(", ")
    )]
    ForeignTables { tables: Vec<String> },

    #[error(
        "the data was migrated by a newer cortex-migrate: applied step(s) {} are unknown \
         to this binary (data version {data_version}, this binary knows up to {known_last}); \
         run the newer binary, or step the data down with \
         `cortex-migrate down --to {known_last}`",
        unknown.join(", ")
    )]
    UnknownAppliedSteps {
        unknown: Vec<String>,
        data_version: String,
        known_last: String,
    },

    #[error(
        "step {step} was applied by a newer cortex-migrate and its down cannot be replayed \
         without that binary ({why}); {}",
        match backup {
            Some(b) => format!(
                "restore backup {b} (`cortex-migrate restore {b}`), taken before it was applied; \
                 what was written since would be lost: {}",
                if lost.is_empty() { "nothing".to_owned() } else { lost.join(", ") }
            ),
            None => "no backup from before it exists; run the newer binary instead".to_owned(),
        }
    )]
    CannotStepDown {
        step: String,
        why: String,
        backup: Option<String>,
        lost: Vec<String>,
    },

    #[error(
        "step {step} ({direction}) {state} half-way on MySQL, which cannot roll back DDL{}; \
         run `cortex-migrate recover` to revert it, or `cortex-migrate recover --complete` to finish it",
        error.as_ref().map(|e| format!(" ({e})")).unwrap_or_default()
    )]
    HalfDone {
        step: String,
        direction: Direction,
        state: HalfState,
        error: Option<String>,
    },

    #[error("there is no step named {name}; `cortex-migrate status` lists them")]
    NoSuchStep { name: String },

    #[error(
        "step {step} was interrupted ({direction}) and must be recovered first; \
         run `cortex-migrate recover` (or any `up`)"
    )]
    Interrupted { step: String, direction: Direction },

    #[error(
        "timed out after {waited_secs}s waiting for the migration lock {path} held by {holder}"
    )]
    LockTimeout {
        path: PathBuf,
        holder: String,
        waited_secs: u64,
    },

    /// A lock inside this process was poisoned by a panic.
    #[error("{what} is unusable after a panic in this process; run again")]
    Poisoned { what: &'static str },

    /// Work on another thread panicked.
    #[error("{what} panicked: {detail}; nothing of it was committed, run again")]
    Panicked { what: &'static str, detail: String },

    /// `down` of a step that recorded no undo when it was applied.
    #[error(
        "step {step} has no stored undo (was it applied without cortex-migrate?); \
         restore a backup taken before it instead"
    )]
    NoStoredUndo { step: String },

    /// A stored undo that says it cannot be replayed.
    #[error(
        "step {step} cannot be undone from what it stored (its down reads data to decide); \
         restore the backup taken before it instead"
    )]
    NotReplayable { step: String },

    /// A fault injected at a numbered boundary (crash tests only: the
    /// `fault-injection` feature).
    #[cfg(feature = "fault-injection")]
    #[error("injected fault at boundary {boundary} ({label})")]
    InjectedFault { boundary: u64, label: String },

    /// A record this binary writes could not be encoded.
    #[error("cannot encode {what}: {detail}")]
    Encode { what: &'static str, detail: String },

    /// The backup named does not exist, or the name is ambiguous.
    #[error("{0}")]
    NoSuchBackup(String),

    /// A backup whose files are missing or changed.
    #[error("backup {id} is damaged: {what} is missing or changed; nothing was restored")]
    DamagedBackup { id: String, what: String },

    /// Anything else this binary refuses to do, with the reason and what to
    /// do instead.
    #[error("cannot adopt the data folder {root}: {found}; nothing was changed")]
    /// A data folder whose files fit no layout any cortex.cpp build wrote,
    /// or mix two layouts in a way no build could have.
    UnknownLayout { root: PathBuf, found: String },

    #[error("{0}")]
    Refused(String),

    /// A call of SQLite's C API (the backup's copy of the database) failed.
    #[error("{what} {path} failed: SQLite error {code}: {message}")]
    Sqlite {
        what: &'static str,
        path: PathBuf,
        code: i32,
        message: String,
    },

    /// A restore that would overwrite rows written after the backup's run
    /// (Cortex ran since), refused before anything was changed.
    #[error(
        "restoring backup {backup} would lose what was written since its run: {}; \
         nothing was changed; `cortex-migrate restore {backup} --discard-newer` restores it anyway",
        lost.join(", ")
    )]
    NewerWrites { backup: String, lost: Vec<String> },
}

impl MigrateError {
    /// Wraps a database error with a sentence that says what was being done,
    /// turning SQLite's terse codes into the errors a person can act on.
    pub fn db(what: impl Into<String>, source: DbErr) -> Self {
        MigrateError::Db {
            what: what.into(),
            source,
        }
    }

    /// An I/O error about `path`, with the common cases (read-only, full
    /// disk) turned into their own variants.
    pub fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        let path = path.into();
        use std::io::ErrorKind;
        match source.kind() {
            ErrorKind::StorageFull | ErrorKind::QuotaExceeded => MigrateError::NoSpace { path },
            ErrorKind::ReadOnlyFilesystem | ErrorKind::PermissionDenied => {
                MigrateError::ReadOnly { path }
            }
            _ => MigrateError::Io { op, path, source },
        }
    }

    /// The step this error happened in, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            MigrateError::Step { step, .. } => Some(step),
            _ => None,
        }
    }

    /// The innermost error, past the step wrappers.
    pub fn root(&self) -> &MigrateError {
        match self {
            MigrateError::Step { source, .. } => source.root(),
            other => other,
        }
    }
}

impl From<DbErr> for MigrateError {
    /// A statement of a step failed; the runner classifies it further
    /// (busy, read-only, not a database).
    fn from(source: DbErr) -> Self {
        MigrateError::db("a statement of the step", source)
    }
}

impl From<MigrateError> for DbErr {
    fn from(e: MigrateError) -> Self {
        match e {
            MigrateError::Db { source, .. } => source,
            other => DbErr::Migration(other.to_string()),
        }
    }
}

pub type Result<T, E = MigrateError> = std::result::Result<T, E>;
