//! The one shape of a step, schema and folder alike: a struct that names
//! itself (sea-orm's `DeriveMigrationName`) and implements [`Step`], whose
//! `up` and `down` are either the declarative lists of [`SchemaOp`]s they
//! run (`up_ops`/`down_ops`) or written out against the [`StepContext`].
//! Its checksum is computed from its source text ([`StepSource`]), so an
//! edited step is always seen.

use sea_orm_migration::MigrationName;
use sea_orm_migration::sea_orm::DbBackend;
use sha2::{Digest, Sha256};

use crate::error::Result;
use crate::paths::DataDir;
use crate::schema_ops::SchemaOp;
use crate::step_context::StepContext;

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
///
/// A schema step lists its ops in `up_ops` and `down_ops`; the provided
/// `up` and `down` run them, `plan` prints them and the runner stores the
/// SQL of `down_ops` so that an older binary can replay it. A folder step
/// writes `up` and `down` out: every file operation it makes through
/// [`StepContext::folder`] and every value it sets through the
/// context records its own inverse, and its `down` is usually
/// `cx.undo().await`, which replays them.
#[async_trait::async_trait]
pub trait Step: MigrationName + StepSource + Send + Sync {
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

    /// The schema ops `up` runs, when the step is written as ops.
    fn up_ops(&self, _backend: DbBackend) -> Vec<SchemaOp> {
        Vec::new()
    }

    /// The schema ops `down` runs, when the step is written as ops. Their
    /// SQL is stored at `up` time as (the start of) the step's undo.
    fn down_ops(&self, _backend: DbBackend) -> Vec<SchemaOp> {
        Vec::new()
    }

    /// Applies the step: by default, runs `up_ops`.
    async fn up(&self, cx: &StepContext<'_>) -> Result<()> {
        cx.run(&self.up_ops(cx.backend())).await
    }

    /// Reverts the step: by default, runs `down_ops`.
    async fn down(&self, cx: &StepContext<'_>) -> Result<()> {
        cx.run(&self.down_ops(cx.backend())).await
    }

    /// Checks, before a run that is to apply this step changes anything
    /// (no step has started, no backup is taken), that the data folder is
    /// one the step can take; an `Err` refuses the whole run and leaves
    /// everything as it was. By default every folder is.
    fn check_folder(&self, _dir: &DataDir) -> Result<()> {
        Ok(())
    }

    /// Whether `down` can be replayed later from what is stored at `up` time
    /// (SQL and recorded inverses). A step whose `down` reads data to decide
    /// what to do returns `false`; an older binary then offers the backup
    /// taken before it instead.
    fn down_storable(&self) -> bool {
        true
    }
}

/// What a step is made of, for its checksum. A migrator crate's build
/// script implements it for every `m*.rs` step file (the file's text); a
/// step defined elsewhere (a test) implements it with `include_str!`.
pub trait StepSource {
    /// The source text of the step.
    fn source(&self) -> &'static str;

    /// Checksums that earlier definitions of the step were recorded with and
    /// that are still accepted, each superseded explicitly (for example by
    /// a change of the checksum scheme that changed no behaviour).
    fn superseded_checksums(&self) -> &'static [&'static str] {
        &[]
    }
}

/// The SHA-256 (hex) of what defines a step: its name and its source text,
/// with line endings, comment lines, trailing spaces and blank lines left
/// out (a Windows checkout or a corrected doc comment is the same step).
pub fn checksum(step: &dyn Step) -> String {
    let mut h = Sha256::new();
    h.update(step.name().as_bytes());
    h.update(b"\0");
    for line in step.source().lines() {
        let line = line.trim_end();
        if line.is_empty() || line.trim_start().starts_with("//") {
            continue;
        }
        h.update(line.as_bytes());
        h.update(b"\n");
    }
    format!("{:x}", h.finalize())
}

/// How a stored checksum compares with the step this binary has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMatch {
    /// The step is what was applied.
    Current,
    /// The step was applied by an earlier definition that it supersedes
    /// explicitly (see [`StepSource::superseded_checksums`]).
    Superseded,
    /// The step changed since it was applied.
    Changed,
}

/// Compares `stored` with the checksum of `step`.
pub fn compare_checksum(step: &dyn Step, stored: &str) -> ChecksumMatch {
    if stored == checksum(step) {
        ChecksumMatch::Current
    } else if step.superseded_checksums().contains(&stored) {
        ChecksumMatch::Superseded
    } else {
        ChecksumMatch::Changed
    }
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
