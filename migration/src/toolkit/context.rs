//! What a running step can reach besides its `SchemaManager`: the data
//! folder, the journal for its file operations and the progress sink. The
//! runner sets it (a tokio task-local) around each step; a folder step that
//! is called any other way gets a clear error instead of touching files
//! without a journal.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use sea_orm_migration::DbErr;

use super::backup::Recorder;
use super::error::{Direction, MigrateError, Result};
use super::journal::{Content, FileOp, Journal};
use super::paths::DataDir;
use super::progress::{Event, ProgressSink};
use super::recipe::RecipeOp;

/// The context of the step that runs now.
pub struct StepContext {
    pub(crate) step: String,
    pub(crate) direction: Direction,
    pub(crate) data_dir: Option<DataDir>,
    pub(crate) journal: Mutex<Option<Journal>>,
    pub(crate) progress: ProgressSink,
    /// The typed error behind the `DbErr` a step had to return.
    pub(crate) error: Mutex<Option<MigrateError>>,
    /// When set, file operations are only described, not done (`plan`).
    pub(crate) dry_run: Option<Mutex<Vec<FileOp>>>,
    /// Lines a step wants shown in its summary (skipped models and such).
    pub(crate) notes: Mutex<Vec<String>>,
    /// What undoes each change the step made, in the order made.
    pub(crate) inverse: Mutex<Vec<RecipeOp>>,
    /// In a dry run (`plan`): every statement the step ran.
    pub(crate) sql_log: Option<Mutex<Vec<String>>>,
    /// The backup of the run, which keeps what the step's file operations
    /// replace.
    pub(crate) backup: Option<Arc<Recorder>>,
    /// Finishing or reverting a step MySQL left half done: schema ops
    /// accept the state a half-run left (an archive already made, a column
    /// already gone) instead of refusing it.
    pub(crate) resume: bool,
}

tokio::task_local! {
    static CURRENT: Arc<StepContext>;
}

impl StepContext {
    pub(crate) fn new(
        step: &str,
        direction: Direction,
        data_dir: Option<DataDir>,
        progress: ProgressSink,
    ) -> Self {
        StepContext {
            step: step.to_owned(),
            direction,
            data_dir,
            journal: Mutex::new(None),
            progress,
            error: Mutex::new(None),
            dry_run: None,
            notes: Mutex::new(Vec::new()),
            inverse: Mutex::new(Vec::new()),
            sql_log: None,
            backup: None,
            resume: false,
        }
    }

    pub(crate) fn resuming(mut self) -> Self {
        self.resume = true;
        self
    }

    pub(crate) fn with_backup(mut self, backup: Option<Arc<Recorder>>) -> Self {
        self.backup = backup;
        self
    }

    pub(crate) fn dry(mut self) -> Self {
        self.dry_run = Some(Mutex::new(Vec::new()));
        self.sql_log = Some(Mutex::new(Vec::new()));
        self
    }

    pub(crate) fn take_sql(&self) -> Vec<String> {
        self.sql_log
            .as_ref()
            .and_then(|l| l.lock().ok().map(|mut v| std::mem::take(&mut *v)))
            .unwrap_or_default()
    }

    /// Runs `fut` with `ctx` as the current step context.
    pub(crate) async fn scope<F: std::future::Future>(ctx: Arc<StepContext>, fut: F) -> F::Output {
        CURRENT.scope(ctx, fut).await
    }

    pub(crate) fn take_journal(&self) -> Option<Journal> {
        self.journal.lock().ok().and_then(|mut j| j.take())
    }

    pub(crate) fn take_error(&self) -> Option<MigrateError> {
        self.error.lock().ok().and_then(|mut e| e.take())
    }

    pub(crate) fn take_notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    /// The recorded inverse actions, newest first: the step's down recipe.
    pub(crate) fn take_inverse(&self) -> Vec<RecipeOp> {
        let mut v = self
            .inverse
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default();
        v.reverse();
        v
    }

    pub(crate) fn planned_ops(&self) -> Vec<FileOp> {
        self.dry_run
            .as_ref()
            .and_then(|d| d.lock().ok().map(|v| v.clone()))
            .unwrap_or_default()
    }
}

/// A folder step's handle on the data folder. Every change goes through the
/// journal, so it commits or rolls back with the step's transaction.
pub struct Folder {
    ctx: Arc<StepContext>,
    dir: DataDir,
}

impl Folder {
    /// The data folder of the step that runs now, or an error (as the
    /// `DbErr` a `MigrationTrait` method returns) when there is none.
    pub fn current() -> std::result::Result<Folder, DbErr> {
        let ctx = CURRENT.try_with(Arc::clone).map_err(|_| {
            DbErr::Migration(
                "a folder step must run through the cortex-migrate runner \
                 (Migrator::up/down, `cortex-migrate`, or `sea-orm-cli migrate`)"
                    .into(),
            )
        })?;
        let Some(dir) = ctx.data_dir.clone() else {
            let e = MigrateError::NoDataFolder {
                step: ctx.step.clone(),
            };
            let msg = e.to_string();
            if let Ok(mut slot) = ctx.error.lock() {
                *slot = Some(e);
            }
            return Err(DbErr::Migration(msg));
        };
        Ok(Folder { ctx, dir })
    }

    /// The data folder.
    pub fn dir(&self) -> &DataDir {
        &self.dir
    }

    /// Which way the step runs.
    pub fn direction(&self) -> Direction {
        self.ctx.direction
    }

    /// Whether this is a `plan` (nothing is changed).
    pub fn is_dry_run(&self) -> bool {
        self.ctx.dry_run.is_some()
    }

    /// Turns a typed error into the `DbErr` a step returns, keeping the typed
    /// one for the runner.
    pub fn fail(&self, e: MigrateError) -> DbErr {
        let msg = e.to_string();
        if let Ok(mut slot) = self.ctx.error.lock()
            && slot.is_none()
        {
            *slot = Some(e);
        }
        DbErr::Migration(msg)
    }

    /// Adds a line to the step's summary (e.g. a model that was skipped).
    pub fn note(&self, line: impl Into<String>) {
        let line = line.into();
        tracing::debug!(step = %self.ctx.step, "{line}");
        self.ctx.progress.emit(Event::Note {
            step: self.ctx.step.clone(),
            message: line.clone(),
        });
        if let Ok(mut n) = self.ctx.notes.lock() {
            n.push(line);
        }
    }

    /// Reports rows filled in so far.
    pub fn rows_done(&self, done: u64, total: u64) {
        self.ctx.progress.emit(Event::Rows {
            step: self.ctx.step.clone(),
            done,
            total,
        });
    }

    fn with_journal<T>(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<T>,
        planned: impl FnOnce() -> Option<FileOp>,
    ) -> std::result::Result<Option<T>, DbErr> {
        if let Some(plan) = &self.ctx.dry_run {
            if let (Some(op), Ok(mut v)) = (planned(), plan.lock()) {
                v.push(op);
            }
            return Ok(None);
        }
        let mut slot = self
            .ctx
            .journal
            .lock()
            .map_err(|_| DbErr::Migration("journal lock poisoned".into()))?;
        if slot.is_none() {
            let mut j = Journal::begin(&self.dir, &self.ctx.step, self.ctx.direction)
                .map_err(|e| self.fail(e))?;
            j.observe_with(self.ctx.backup.clone());
            *slot = Some(j);
        }
        let Some(journal) = slot.as_mut() else {
            return Err(DbErr::Migration("journal missing".into()));
        };
        f(journal).map(Some).map_err(|e| self.fail(e))
    }

    /// Moves a file or folder (paths relative to the data folder).
    pub async fn move_path(&self, from: &str, to: &str) -> std::result::Result<(), DbErr> {
        let (f, t) = (from.to_owned(), to.to_owned());
        self.blocking(
            move |j| j.move_path(Path::new(&f), Path::new(&t)),
            || {
                Some(FileOp::Rename {
                    from: from.into(),
                    to: to.into(),
                })
            },
        )
        .await
    }

    /// Replaces the content of a file.
    pub async fn rewrite(&self, path: &str, content: Vec<u8>) -> std::result::Result<(), DbErr> {
        let p = path.to_owned();
        self.blocking(
            move |j| j.rewrite(Path::new(&p), &content),
            || {
                Some(FileOp::Rewrite {
                    path: path.into(),
                    old: PathBuf::new(),
                    tmp: PathBuf::new(),
                })
            },
        )
        .await
    }

    /// Replaces the content of many files at once (one journal sync for
    /// all of them).
    pub async fn rewrite_many(
        &self,
        items: Vec<(String, Vec<u8>)>,
    ) -> std::result::Result<(), DbErr> {
        if let Some(plan) = &self.ctx.dry_run {
            if let Ok(mut v) = plan.lock() {
                v.extend(items.iter().map(|(p, _)| FileOp::Rewrite {
                    path: p.into(),
                    old: PathBuf::new(),
                    tmp: PathBuf::new(),
                }));
            }
            return Ok(());
        }
        let items: Vec<(std::path::PathBuf, Vec<u8>)> =
            items.into_iter().map(|(p, c)| (p.into(), c)).collect();
        self.blocking(move |j| j.rewrite_many(items), || None).await
    }

    /// Records what undoes a change just made (kept as the step's down
    /// recipe; replayed by its `down` or by an older binary).
    pub fn record(&self, op: RecipeOp) {
        if self.ctx.dry_run.is_some() {
            return;
        }
        if let Ok(mut v) = self.ctx.inverse.lock() {
            v.push(op);
        }
    }

    /// Creates a new file.
    pub async fn create_file(
        &self,
        path: &str,
        content: Vec<u8>,
    ) -> std::result::Result<(), DbErr> {
        let p = path.to_owned();
        self.blocking(
            move |j| j.create_file(Path::new(&p), &content),
            || {
                Some(FileOp::Create {
                    path: path.into(),
                    new: Content(Vec::new()),
                })
            },
        )
        .await
    }

    /// Creates a folder and any missing parents.
    pub async fn create_dir_all(&self, path: &str) -> std::result::Result<(), DbErr> {
        let p = path.to_owned();
        self.blocking(
            move |j| j.create_dir_all(Path::new(&p)),
            || Some(FileOp::CreateDir { path: path.into() }),
        )
        .await
    }

    /// Deletes a file or folder (into the trash until the step commits).
    pub async fn delete(&self, path: &str) -> std::result::Result<(), DbErr> {
        let p = path.to_owned();
        self.blocking(
            move |j| j.delete(Path::new(&p)),
            || {
                Some(FileOp::Delete {
                    path: path.into(),
                    trash: "".into(),
                })
            },
        )
        .await
    }

    /// Runs a journal operation on a blocking thread: renames and fsyncs are
    /// quick, but a copy across filesystems is not.
    async fn blocking(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<()> + Send + 'static,
        planned: impl FnOnce() -> Option<FileOp>,
    ) -> std::result::Result<(), DbErr> {
        if self.ctx.dry_run.is_some() {
            return self.with_journal(|_| Ok(()), planned).map(|_| ());
        }
        let ctx = Arc::clone(&self.ctx);
        let dir = self.dir.clone();
        let handle = tokio::task::spawn_blocking(move || {
            CURRENT.sync_scope(Arc::clone(&ctx), || {
                let folder = Folder { ctx, dir };
                folder.with_journal(f, || None).map(|_| ())
            })
        });
        handle
            .await
            .map_err(|e| DbErr::Migration(format!("file operation panicked: {e}")))?
    }
}

/// Whether the current step is finishing or reverting a half-done run.
pub(crate) fn resuming() -> bool {
    CURRENT.try_with(|ctx| ctx.resume).unwrap_or(false)
}

/// Adds a line to the current step's summary from code that has no
/// [`Folder`] (a schema op); nothing outside a step.
pub(crate) fn note(line: String) {
    let _ = CURRENT.try_with(|ctx| {
        tracing::debug!(step = %ctx.step, "{line}");
        ctx.progress.emit(Event::Note {
            step: ctx.step.clone(),
            message: line.clone(),
        });
        if let Ok(mut n) = ctx.notes.lock() {
            n.push(line.clone());
        }
    });
}

/// Notes a statement the current step runs (kept only in a dry run, for
/// `plan`).
pub(crate) fn log_sql(sql: &str) {
    let _ = CURRENT.try_with(|ctx| {
        if let Some(log) = &ctx.sql_log
            && let Ok(mut v) = log.lock()
        {
            v.push(sql.to_owned());
        }
    });
}

/// Reports bytes copied by the current step (from inside the journal).
pub(crate) fn report_bytes(done: u64, total: u64) {
    let _ = CURRENT.try_with(|ctx| {
        ctx.progress.emit(Event::Bytes {
            step: ctx.step.clone(),
            done,
            total,
        })
    });
}
