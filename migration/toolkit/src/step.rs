//! What the runner knows about a step beyond sea-orm-migration's
//! `MigrationTrait`: its kind, the cortex.cpp version it reproduces, its
//! schema ops (for `plan` and stored recipes) and its checksum.

use sea_orm_migration::MigrationTrait;
use sea_orm_migration::sea_orm::DbBackend;
use sha2::{Digest, Sha256};

use super::schema_ops::{SchemaOp, ops_sql};

/// Whether a step changes only the database, or files too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepKind {
    /// Tables, columns and rows only.
    Schema,
    /// Files in the data folder too (moves, rewrites, backfills from files).
    Folder,
}

/// A migration step of the Cortex data.
pub trait Step: MigrationTrait {
    /// One line saying what the step does.
    fn summary(&self) -> &'static str;

    /// Schema or folder step.
    fn kind(&self) -> StepKind {
        StepKind::Schema
    }

    /// The cortex.cpp `schema_version` whose schema this step reproduces.
    fn cortex_version(&self) -> Option<i64> {
        None
    }

    /// The schema ops of `up`, when the step is written as ops.
    fn up_ops(&self, _backend: DbBackend) -> Vec<SchemaOp> {
        Vec::new()
    }

    /// The schema ops of `down`, when the step is written as ops.
    fn down_ops(&self, _backend: DbBackend) -> Vec<SchemaOp> {
        Vec::new()
    }

    /// For steps not written as ops: a text that defines what the step does
    /// (its rules and mappings), so that a change to it changes the checksum.
    fn definition(&self) -> String {
        String::new()
    }

    /// Whether `down` can be replayed later from what is stored at `up` time
    /// (SQL and inverse file operations). A step whose `down` reads data to
    /// decide what to do returns `false`; an older binary then offers the
    /// backup taken before it instead.
    fn down_storable(&self) -> bool {
        true
    }
}

/// The SHA-256 (hex) of everything that defines a step on `backend`.
pub fn checksum(step: &dyn Step, backend: DbBackend) -> String {
    let mut h = Sha256::new();
    h.update(step.name().as_bytes());
    h.update(b"\0up\0");
    for s in ops_sql(backend, &step.up_ops(backend)) {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    h.update(b"\0down\0");
    for s in ops_sql(backend, &step.down_ops(backend)) {
        h.update(s.as_bytes());
        h.update(b"\n");
    }
    h.update(b"\0def\0");
    h.update(step.definition().as_bytes());
    format!("{:x}", h.finalize())
}

/// Whether running the step's `down` keeps data aside in archive tables.
pub fn down_archives(step: &dyn Step, backend: DbBackend) -> bool {
    step.down_ops(backend).iter().any(SchemaOp::archives)
}

/// An ordered list of steps: what a migrator is.
pub trait StepList: Send + Sync + 'static {
    /// Every step, oldest first.
    fn steps() -> Vec<Box<dyn Step>>;
}
