//! The one runner behind every path (`Migrator::up`/`down`, `run_cli` and
//! so `sea-orm-cli migrate`, the boot API, the `cortex-migrate` binary).
//!
//! Order of a run that may write: take the lock, recover an interrupted
//! step, adopt a cortex.cpp database, then run each step in its own
//! transaction together with its bookkeeping rows and its journaled file
//! operations: all of it commits, or none of it does.

mod half_done;
mod newer;
mod one_step;
mod plan;

pub use plan::PlannedStep;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseExecutor, DatabaseTransaction, DbBackend, IntoDatabaseExecutor,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

use crate::adopt::{self, Found};
use crate::backup::{self, Recorder};
use crate::database::{check_readable, classify, default_data_dir, reclassify, sqlite_file};
use crate::error::{Direction, MigrateError, Result};
use crate::fault;
use crate::history::{self, AppliedStep, Origin, Record};
use crate::journal::PendingJournal;
use crate::lock::FolderLock;
use crate::lock::{self, ServerLock};
use crate::paths::DataDir;
use crate::progress::{Event, ProgressSink};
use crate::schema_ops::ops_sql;
use crate::snapshot;
use crate::status::{Status, read_status};
use crate::step::{Step, checksum, down_archives};
use crate::step_context::{StepContext, StepRun};
use crate::undo::{StoredUndo, UndoOp};

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
}

impl Default for Options {
    fn default() -> Self {
        Options {
            data_dir: None,
            progress: ProgressSink::default(),
            lock_timeout: None,
            keep_backups: DEFAULT_KEEP_BACKUPS,
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

    /// Takes the lock, recovers an interrupted step and adopts a cortex.cpp
    /// database. Idempotent; every writing method calls it first.
    pub async fn prepare(&mut self) -> Result<Report> {
        if let Some(r) = &self.prepared {
            return Ok(r.clone());
        }
        // A database that cannot even be read is reported before anything
        // (lock file, journal) is created next to it.
        check_readable(&self.conn, self.db_path.as_deref()).await?;
        let progress = self.progress.clone();
        let on_wait = move |msg: &str| {
            tracing::info!("{msg}");
            progress.emit(Event::Note {
                step: String::new(),
                message: msg.to_owned(),
            });
        };
        if self.backend != DbBackend::Sqlite && self.server_lock.is_none() {
            if let DatabaseExecutor::Connection(c) = &self.conn
                && !lock::server::pool_allows_lock(c)
            {
                return Err(MigrateError::Refused(
                    "the connection pool has a single connection; the migration lock needs one of its \
                     own besides the steps' (set max_connections to 2 or more)"
                        .into(),
                ));
            }
            self.server_lock =
                Some(ServerLock::acquire(&self.conn, self.lock_timeout, &on_wait).await?);
        }
        if let Some(dir) = &self.data_dir
            && self.lock.is_none()
        {
            self.lock = Some(FolderLock::acquire(dir, self.lock_timeout, &on_wait).await?);
        }
        let mut report = Report {
            recovered: self.recover_inner().await.map_err(|e| self.reclassify(e))?,
            ..Report::default()
        };
        report.adopted = self
            .adopt_if_needed()
            .await
            .map_err(|e| self.reclassify(e))?;
        report.backup = self.recorder.as_ref().map(|r| r.id());
        self.prepared = Some(report.clone());
        Ok(report)
    }

    /// Finishes or undoes a step a dead process left behind.
    async fn recover_inner(&mut self) -> Result<Option<Recovered>> {
        let Some(dir) = self.data_dir.clone() else {
            return Ok(None);
        };
        let Some(pending) = PendingJournal::load(&dir)? else {
            return Ok(None);
        };
        if backup::is_restore(&pending) {
            // Its outcome is decided by its own marker, and it replaced the
            // database file this connection may have opened.
            return Err(MigrateError::Refused(format!(
                "a restore ({}) was interrupted; run `cortex-migrate recover` before anything else",
                pending.step
            )));
        }
        let applied = history::is_applied(&self.conn, &pending.step)
            .await
            .map_err(|e| self.err("checking the interrupted step", e))?;
        let committed = match pending.direction {
            Direction::Up => applied,
            Direction::Down => !applied,
        };
        let rec = Recovered {
            step: pending.step.clone(),
            direction: pending.direction,
            committed,
            operations: pending.ops.len(),
        };
        tracing::warn!(
            step = %rec.step,
            direction = %rec.direction,
            committed,
            "recovering an interrupted step"
        );
        self.progress.emit(Event::Recovering {
            step: rec.step.clone(),
            direction: rec.direction,
            committed,
        });
        if committed {
            pending.roll_forward()?;
        } else {
            pending.roll_back()?;
        }
        Ok(Some(rec))
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

    async fn adopt_if_needed(&mut self) -> Result<Vec<String>> {
        let found = adopt::inspect(&self.conn).await?;
        match found {
            // A history written by plain sea-orm-migration (or before a
            // bookkeeping table existed) gets the missing tables too: every
            // step run relies on them.
            Found::Managed | Found::Empty => {
                let txn = self.begin().await?;
                history::install(&txn)
                    .await
                    .map_err(|e| self.err("creating the bookkeeping tables", e))?;
                txn.commit()
                    .await
                    .map_err(|e| self.err("creating the bookkeeping tables", e))?;
                Ok(Vec::new())
            }
            Found::CortexCpp(cpp) => {
                tracing::info!("adopting {}", cpp.describe());
                self.ensure_backup(
                    "before adopting a cortex.cpp database",
                    Some(cpp.describe()),
                )
                .await?;
                let txn = self.begin().await?;
                match adopt::adopt(&txn, &cpp, &self.steps).await {
                    Ok(adopted) => {
                        fault::point("adopt: before commit")?;
                        txn.commit()
                            .await
                            .map_err(|e| self.err("committing the adoption", e))?;
                        Ok(adopted)
                    }
                    Err(e) => {
                        let _ = txn.rollback().await;
                        Err(e)
                    }
                }
            }
        }
    }

    /// The applied steps (the migration history), oldest first.
    async fn read_applied<C: ConnectionTrait>(&self, conn: &C) -> Result<Vec<AppliedStep>> {
        history::applied(conn)
            .await
            .map_err(|e| self.err("reading the migration history", e))
    }

    /// Refuses a history with steps this runner does not know.
    fn check_known(&self, applied: &[AppliedStep]) -> Result<()> {
        let unknown: Vec<String> = applied
            .iter()
            .filter(|a| !self.steps.iter().any(|s| s.name() == a.version))
            .map(|a| a.version.clone())
            .collect();
        if !unknown.is_empty() {
            return Err(self.newer_data(applied, unknown));
        }
        Ok(())
    }

    fn position(&self, name: &str) -> Result<usize> {
        self.steps
            .iter()
            .position(|s| s.name() == name)
            .ok_or_else(|| MigrateError::NoSuchStep {
                name: name.to_owned(),
            })
    }

    /// The steps `up` would run for `target`, in order (indexes into steps).
    async fn up_list(&self, target: &Target) -> Result<Vec<usize>> {
        self.up_list_on(&self.conn, target).await
    }

    async fn up_list_on<C: ConnectionTrait>(
        &self,
        conn: &C,
        target: &Target,
    ) -> Result<Vec<usize>> {
        self.up_list_from(&self.read_applied(conn).await?, target)
    }

    /// The steps `up` would run for `target`, given the history `applied`.
    fn up_list_from(&self, applied: &[AppliedStep], target: &Target) -> Result<Vec<usize>> {
        self.check_known(applied)?;
        let newer: Vec<String> = applied
            .iter()
            .filter(|a| self.recorded.contains(&a.version))
            .map(|a| a.version.clone())
            .collect();
        if !newer.is_empty() {
            return Err(self.newer_data(applied, newer));
        }
        let pending: Vec<usize> = (0..self.steps.len())
            .filter(|&i| !applied.iter().any(|a| a.version == self.steps[i].name()))
            .filter(|&i| !self.recorded.iter().any(|r| r == self.steps[i].name()))
            .collect();
        Ok(match target {
            Target::All => pending,
            Target::Count(n) => pending.into_iter().take(*n as usize).collect(),
            Target::To(name) => {
                let until = self.position(name)?;
                pending.into_iter().filter(|&i| i <= until).collect()
            }
            Target::Nothing => Vec::new(),
        })
    }

    /// The steps `down` would undo for `target`, newest first.
    async fn down_list(&self, target: &Target) -> Result<Vec<usize>> {
        self.down_list_on(&self.conn, target).await
    }

    async fn down_list_on<C: ConnectionTrait>(
        &self,
        conn: &C,
        target: &Target,
    ) -> Result<Vec<usize>> {
        self.down_list_from(&self.read_applied(conn).await?, target)
    }

    /// The steps `down` would undo for `target`, given the history
    /// `applied`, newest first.
    fn down_list_from(&self, applied: &[AppliedStep], target: &Target) -> Result<Vec<usize>> {
        self.check_known(applied)?;
        let mut done: Vec<usize> = (0..self.steps.len())
            .filter(|&i| applied.iter().any(|a| a.version == self.steps[i].name()))
            .collect();
        done.reverse();
        Ok(match target {
            Target::All | Target::Nothing => done,
            Target::Count(n) => done.into_iter().take(*n as usize).collect(),
            Target::To(name) => {
                let keep = self.position(name)?;
                done.into_iter().filter(|&i| i > keep).collect()
            }
        })
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
        self.end_backup();
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
            self.load_recorded_from(&applied)?;
        }
        let list = match direction {
            Direction::Up => self.up_list_from(&applied, &target)?,
            Direction::Down => self.down_list_from(&applied, &target)?,
        };
        if direction == Direction::Down {
            self.check_replayable(&list).await?;
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
    fn end_backup(&mut self) {
        let Some(rec) = self.recorder.take() else {
            return;
        };
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
        self.load_recorded_from(&applied)?;
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
