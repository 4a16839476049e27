//! The one runner behind every path (`Migrator::up`/`down`, `run_cli` and
//! so `sea-orm-cli migrate`, the boot API, the `cortex-migrate` binary).
//!
//! Order of a run that may write: take the lock, recover an interrupted
//! step, adopt a cortex.cpp database, then run each step in its own
//! transaction together with its bookkeeping rows and its journaled file
//! operations: all of it commits, or none of it does.
//!
//! This file holds what a run is asked and reports, the runner itself and
//! the run from start to end; `prepare` (lock, recover, adopt), `choose`
//! (which steps a target means), `one_step` (one step's transaction),
//! `plan`, `half_done` and `newer` hold the parts.

mod choose;
mod half_done;
mod newer;
mod one_step;
mod plan;
mod prepare;

pub use plan::PlannedStep;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseExecutor, DatabaseTransaction, DbBackend, IntoDatabaseExecutor,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::backup::{self, Recorder};
use crate::database::{classify, default_data_dir, reclassify, sqlite_file};
use crate::error::{Direction, MigrateError, Result};
use crate::history;
use crate::lock::{FolderLock, ServerLock};
use crate::paths::DataDir;
use crate::progress::ProgressSink;
use crate::status::{Status, read_status};
use crate::step::{Step, down_archives};

/// How far to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every pending step (up) / every applied step (down).
    All,
    /// At most this many steps.
    Count(u32),
    /// Up to and including this step (up) / down until this step is the
    /// last one applied.
    To(String),
    /// Down to before the first step.
    Nothing,
}

/// How many backups a data folder keeps by default.
pub const DEFAULT_KEEP_BACKUPS: usize = 5;

/// How to run.
#[derive(Clone)]
pub struct Options {
    /// The data folder; otherwise `CORTEX_DATA_DIR`, otherwise (SQLite) the
    /// folder that holds the database file.
    pub data_dir: Option<PathBuf>,
    /// Where events go.
    pub progress: ProgressSink,
    /// How long to wait for another migrator; forever if `None`.
    pub lock_timeout: Option<Duration>,
    /// Backups to keep: one is taken before a run that changes anything,
    /// then all but the newest this many are removed. 0: no backups.
    pub keep_backups: usize,
    /// The Cortex config file (`.cortexrc`) that belongs to the data
    /// folder, as Cortex's location rules name it: the one file outside
    /// the data folder a step may change ([`StepContext::config_file`]).
    ///
    /// [`StepContext::config_file`]: crate::StepContext::config_file
    pub config_file: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data_dir: None,
            progress: ProgressSink::default(),
            lock_timeout: None,
            keep_backups: DEFAULT_KEEP_BACKUPS,
            config_file: None,
        }
    }
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct StepReport {
    pub step: String,
    pub direction: Direction,
    pub millis: u64,
    /// Things the step wants the user to know (skipped models and such).
    pub notes: Vec<String>,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// The backup taken before the run changed anything.
    pub backup: Option<String>,
    /// An interrupted step that was finished or undone first.
    pub recovered: Option<Recovered>,
    /// Steps recorded as applied because cortex.cpp had made their schema.
    pub adopted: Vec<String>,
    /// Steps run, in order.
    pub steps: Vec<StepReport>,
}

/// An interrupted step found at start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Recovered {
    pub step: String,
    pub direction: Direction,
    /// `true`: the step had committed and its file changes were completed;
    /// `false`: it had not, and they were undone.
    pub committed: bool,
    pub operations: usize,
}

/// The runner over one connection.
pub struct Runner<'c> {
    conn: DatabaseExecutor<'c>,
    backend: DbBackend,
    steps: Vec<Box<dyn Step>>,
    data_dir: Option<DataDir>,
    config_file: Option<PathBuf>,
    db_path: Option<PathBuf>,
    progress: ProgressSink,
    lock_timeout: Option<Duration>,
    lock: Option<FolderLock>,
    server_lock: Option<ServerLock>,
    prepared: Option<Report>,
    keep_backups: usize,
    recorder: Option<Arc<Recorder>>,
    /// Names of steps a newer binary applied, stood in for by their recipes.
    recorded: Vec<String>,
}

impl<'c> Runner<'c> {
    /// A runner over `conn` for `steps`. Nothing is locked or written yet.
    pub async fn new(
        conn: impl IntoDatabaseExecutor<'c>,
        steps: Vec<Box<dyn Step>>,
        opts: Options,
    ) -> Result<Runner<'c>> {
        let conn = conn.into_database_executor();
        let backend = conn.get_database_backend();
        let db_path = sqlite_file(&conn).await.map_err(|e| reclassify(None, e))?;
        let data_dir = match opts.data_dir {
            Some(d) => Some(DataDir::new(d)?),
            None => default_data_dir(db_path.as_deref())?,
        };
        Ok(Runner {
            conn,
            backend,
            steps,
            data_dir,
            config_file: opts.config_file,
            db_path,
            progress: opts.progress,
            lock_timeout: opts.lock_timeout,
            lock: None,
            server_lock: None,
            prepared: None,
            keep_backups: opts.keep_backups,
            recorder: None,
            recorded: Vec::new(),
        })
    }

    /// The data folder in use, if any.
    pub fn data_dir(&self) -> Option<&DataDir> {
        self.data_dir.as_ref()
    }

    /// The database backend.
    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// The connection.
    pub fn connection(&self) -> &DatabaseExecutor<'c> {
        &self.conn
    }

    /// The steps this runner knows.
    pub fn steps(&self) -> &[Box<dyn Step>] {
        &self.steps
    }

    fn err(&self, what: &str, e: DbErr) -> MigrateError {
        classify(self.db_path.as_deref(), what, e)
    }

    /// A database error from a toolkit function, turned into the error a
    /// person can act on (corrupt, busy, read-only, full).
    fn reclassify(&self, e: MigrateError) -> MigrateError {
        reclassify(self.db_path.as_deref(), e)
    }

    /// The error a step's body returned, as a person can act on it: a
    /// failed statement says `what` was being done and is classified
    /// (corrupt, busy, read-only, full).
    pub(crate) fn step_failure(&self, what: &str, e: MigrateError) -> MigrateError {
        match e {
            MigrateError::Db { source, .. } => self.err(what, source),
            other => other,
        }
    }
    async fn begin(&self) -> Result<DatabaseTransaction> {
        let opts = TransactionOptions {
            sqlite_transaction_mode: (self.backend == DbBackend::Sqlite)
                .then_some(SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        };
        self.conn
            .begin_with_options(opts)
            .await
            .map_err(|e| self.err("starting a transaction", e))
    }
    /// Applies pending steps.
    pub async fn up(&mut self, target: Target) -> Result<Report> {
        self.run(Direction::Up, target).await
    }

    /// Rolls applied steps back.
    pub async fn down(&mut self, target: Target) -> Result<Report> {
        self.run(Direction::Down, target).await
    }

    async fn run(&mut self, direction: Direction, target: Target) -> Result<Report> {
        let outcome = self.run_inner(direction, target).await;
        self.end_backup().await;
        self.release().await;
        outcome
    }

    /// Ends the run: releases the locks; a later run prepares again.
    pub async fn release(&mut self) {
        if let Some(l) = self.server_lock.take()
            && let Err(e) = l.release().await
        {
            tracing::warn!("{e}");
        }
        self.lock = None;
        self.prepared = None;
    }

    async fn run_inner(&mut self, direction: Direction, target: Target) -> Result<Report> {
        let mut report = self.prepare().await?;
        if let Some(h) = history::half_done(&self.conn)
            .await
            .map_err(|e| self.err("reading the steps' state", e))?
            .into_iter()
            .next()
        {
            return Err(MigrateError::HalfDone {
                step: h.step,
                direction: h.direction,
                state: h.state,
                error: h.error,
            });
        }
        // Nothing writes the history between here and the steps.
        let applied = self.read_applied(&self.conn).await?;
        if direction == Direction::Down {
            self.load_recorded_from(&applied).await?;
        }
        let list = match direction {
            Direction::Up => self.up_list_from(&applied, &target)?,
            Direction::Down => self.down_list_from(&applied, &target)?,
        };
        if direction == Direction::Down {
            self.check_replayable(&list).await?;
        }
        if let (Direction::Up, Some(dir)) = (direction, &self.data_dir) {
            for i in &list {
                self.steps[*i].check_folder(dir)?;
            }
        }
        if let Some(last) = list.last() {
            let reason = match (direction, &target) {
                (Direction::Up, _) => format!("before up to {}", self.steps[*last].name()),
                (Direction::Down, Target::To(name)) => format!("before down to {name}"),
                (Direction::Down, Target::Count(n)) => format!("before down by {n} step(s)"),
                (Direction::Down, _) => "before down to nothing".to_owned(),
            };
            let version = applied.last().map(|a| a.version.clone());
            self.ensure_backup(&reason, version).await?;
        }
        let total = list.len();
        for (n, i) in list.into_iter().enumerate() {
            report
                .steps
                .push(self.run_step(i, direction, n + 1, total).await?);
        }
        // The backup of adoption (taken in `prepare`) or of this run.
        report.backup = self.recorder.as_ref().map(|r| r.id());
        Ok(report)
    }

    /// Takes the run's backup, once, if backups are on and there is a
    /// SQLite data folder.
    async fn ensure_backup(&mut self, reason: &str, data_version: Option<String>) -> Result<()> {
        if self.recorder.is_some() || self.keep_backups == 0 || self.backend != DbBackend::Sqlite {
            return Ok(());
        }
        let Some(dir) = self.data_dir.clone() else {
            return Ok(());
        };
        let rec = Recorder::start(&self.conn, &dir, reason, data_version).await?;
        self.recorder = Some(Arc::new(rec));
        Ok(())
    }

    /// Closes the run's backup and prunes old ones. A failure here does not
    /// undo a run that succeeded; it is logged.
    async fn end_backup(&mut self) {
        let Some(rec) = self.recorder.take() else {
            return;
        };
        if let Err(e) = rec.note_rows(&self.conn).await {
            tracing::warn!(
                "could not note the rows the run left in backup {}: {e}",
                rec.id()
            );
        }
        if let Err(e) = rec.finish() {
            tracing::warn!("could not finish backup {}: {e}", rec.id());
        }
        if let Some(dir) = &self.data_dir
            && let Err(e) = backup::prune(dir, self.keep_backups)
        {
            tracing::warn!("could not prune old backups: {e}");
        }
    }

    /// Whether `down` to `target` would keep data aside in archive tables.
    pub async fn down_would_archive(&mut self, target: &Target) -> Result<Vec<String>> {
        let applied = self.read_applied(&self.conn).await?;
        self.load_recorded_from(&applied).await?;
        Ok(self
            .down_list_from(&applied, target)?
            .into_iter()
            .filter(|&i| down_archives(self.steps[i].as_ref(), self.backend))
            .map(|i| self.steps[i].name().to_owned())
            .collect())
    }

    /// Recovers an interrupted step, if any, under the lock.
    pub async fn recover(&mut self) -> Result<Option<Recovered>> {
        let outcome = self.prepare().await;
        self.release().await;
        Ok(outcome?.recovered)
    }

    /// Everything `status` shows. Reads only: takes no lock, recovers and
    /// adopts nothing.
    pub async fn status(&self) -> Result<Status> {
        self.status_inner().await.map_err(|e| self.reclassify(e))
    }

    async fn status_inner(&self) -> Result<Status> {
        read_status(
            &self.conn,
            &self.steps,
            &self.recorded,
            self.data_dir.as_ref(),
            self.db_path.as_deref(),
        )
        .await
    }
}
