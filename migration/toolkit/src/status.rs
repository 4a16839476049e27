//! What `status` reports: the data version (last applied step) apart from
//! the app version (last step this binary knows), each step's state, a
//! cortex.cpp database waiting for adoption, an interrupted step and the
//! lock holder. Reads only.

use std::path::PathBuf;

use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr};

use super::adopt::{self, Found};
use super::error::{Direction, MigrateError, Result};
use super::history::{self, StoredOrigin};
use super::journal::PendingJournal;
use super::lock::{self, Holder};
use super::paths::DataDir;
use super::step::{ChecksumMatch, Step, StepKind, compare_checksum};
use crate::database::{check_readable, classify};

/// One step as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepStatus {
    pub name: String,
    pub summary: String,
    pub kind: StepKind,
    pub state: StepState,
    pub applied_at: Option<i64>,
    pub origin: Option<StoredOrigin>,
    /// The stored checksum differs from this binary's definition.
    pub drifted: bool,
}

/// Where a step stands on this database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepState {
    /// Recorded as applied.
    Applied,
    /// Not applied; the next `up` runs it.
    Pending,
    /// cortex.cpp made its schema: the next `up` records it, not runs it.
    Adoptable,
}

impl StepState {
    /// The word `status` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Applied => "applied",
            StepState::Pending => "pending",
            StepState::Adoptable => "adoptable",
        }
    }
}

/// An interrupted step, as `status` reports it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Interrupted {
    pub step: String,
    pub direction: Direction,
    pub pid: u32,
    pub started_at: u64,
    pub operations: usize,
}

/// Everything `status` knows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    pub backend: String,
    pub data_dir: Option<PathBuf>,
    pub database: Option<PathBuf>,
    /// The last applied step: the version of the data.
    pub data_version: Option<String>,
    /// SHA-256 (first 16 hex digits) of the schema after that step, as
    /// recorded when it was applied.
    pub data_fingerprint: Option<String>,
    /// The last step this binary knows: the version of the app.
    pub app_version: Option<String>,
    pub steps: Vec<StepStatus>,
    /// Applied steps this binary does not know (data from a newer binary).
    pub unknown_applied: Vec<String>,
    pub pending: Vec<String>,
    /// What an unmanaged cortex.cpp database was found to be.
    pub cortex_cpp: Option<String>,
    pub interrupted: Option<Interrupted>,
    /// Steps MySQL left running or failed half-way.
    pub half_done: Vec<history::HalfDoneStep>,
    pub lock_holder: Option<Holder>,
}

/// Everything `status` shows, over any connection. Reads only: takes no
/// lock, recovers and adopts nothing.
pub async fn read_status<C: ConnectionTrait>(
    conn: &C,
    steps: &[Box<dyn Step>],
    skip: &[String],
    data_dir: Option<&DataDir>,
    db_path: Option<&std::path::Path>,
) -> Result<Status> {
    // Steps stood in for by their recipes (a newer binary's) are data, not
    // this binary's steps.
    let known: Vec<&Box<dyn Step>> = steps
        .iter()
        .filter(|s| !skip.iter().any(|k| k == s.name()))
        .collect();
    let backend = conn.get_database_backend();
    let err = |what: &str, e: DbErr| classify(db_path, what, e);
    check_readable(conn, db_path).await?;
    // With the error `adopt::inspect` gives when it reads the history first.
    let applied = history::applied(conn)
        .await
        .map_err(|e| MigrateError::db("reading the database schema", e))?;
    // A database with a history is managed; only one without can be
    // cortex.cpp's.
    let cortex = if applied.is_empty() {
        match adopt::inspect_unmanaged(conn).await? {
            Found::CortexCpp(c) => Some(c),
            Found::Managed | Found::Empty => None,
        }
    } else {
        None
    };
    let mut steps = Vec::new();
    let mut pending = Vec::new();
    for s in &known {
        let a = applied.iter().find(|a| a.version == s.name());
        let adoptable = cortex
            .as_ref()
            .is_some_and(|c| s.cortex_version().is_some_and(|v| v <= c.version));
        let state = if a.is_some() {
            StepState::Applied
        } else if adoptable {
            StepState::Adoptable
        } else {
            pending.push(s.name().to_owned());
            StepState::Pending
        };
        let drifted = a
            .and_then(|a| a.checksum.as_ref())
            .is_some_and(|c| compare_checksum(s.as_ref(), c) == ChecksumMatch::Changed);
        steps.push(StepStatus {
            name: s.name().to_owned(),
            summary: s.summary().to_owned(),
            kind: s.kind(),
            state,
            applied_at: a.map(|a| a.applied_at),
            origin: a.and_then(|a| a.origin.clone()),
            drifted,
        });
    }
    let unknown_applied = applied
        .iter()
        .filter(|a| !known.iter().any(|s| s.name() == a.version))
        .map(|a| a.version.clone())
        .collect();
    let interrupted = match data_dir {
        Some(dir) => PendingJournal::peek(dir)?.map(|p| Interrupted {
            step: p.step,
            direction: p.direction,
            pid: p.pid,
            started_at: p.started_at,
            operations: p.ops.len(),
        }),
        None => None,
    };
    let data_version = match &cortex {
        Some(c) => known
            .iter()
            .rfind(|s| s.cortex_version().is_some_and(|v| v <= c.version))
            .map(|s| s.name().to_owned()),
        None => applied.last().map(|a| a.version.clone()),
    };
    let data_fingerprint = applied
        .last()
        .and_then(|a| a.schema_after.as_ref())
        .map(|s| {
            format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(s.as_bytes()))[..16].to_owned()
        });
    Ok(Status {
        backend: format!("{backend:?}").to_lowercase(),
        data_fingerprint,
        data_dir: data_dir.map(|d| d.root().to_path_buf()),
        database: db_path.map(PathBuf::from),
        data_version,
        app_version: known.last().map(|s| s.name().to_owned()),
        steps,
        unknown_applied,
        pending,
        cortex_cpp: cortex.map(|c| c.describe()),
        interrupted,
        half_done: history::half_done(conn)
            .await
            .map_err(|e| err("reading the steps' state", e))?,
        lock_holder: data_dir.and_then(lock::current_holder),
    })
}
