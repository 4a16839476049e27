//! What a running step reaches, and the only way it reaches it: the
//! [`StepContext`] the runner hands to `up` and `down`. It holds the step's
//! `SchemaManager` (inside the step's transaction), runs schema ops, sets
//! values recording what undoes them, hands out the data folder
//! ([`Folder`], whose every change goes through the step's journal), takes
//! notes and progress, and replays the step's stored undo.

use std::sync::{Arc, Mutex};

use sea_orm_migration::SchemaManager;
use sea_orm_migration::prelude::Value;
use sea_orm_migration::sea_orm::DbBackend;

use crate::backup::Recorder;
use crate::error::{Direction, MigrateError, Result};
use crate::journal::{FileOp, Journal, Observer};
use crate::paths::DataDir;
use crate::progress::{Event, ProgressSink};
use crate::rows;
use crate::schema_ops::{self, ExecMode, NoteSink, SchemaOp};
use crate::undo::{self, LineEdit, StoredUndo, UndoLog, UndoOp};

mod config;
mod folder;
pub use config::ConfigFile;
pub use folder::Folder;

/// What the runner keeps of the step that runs now.
pub(crate) struct StepRun {
    pub(crate) step: String,
    pub(crate) direction: Direction,
    pub(crate) data_dir: Option<DataDir>,
    pub(crate) journal: Mutex<Option<Journal>>,
    pub(crate) progress: ProgressSink,
    /// When set, file operations are only described, not done (`plan`).
    pub(crate) dry_run: Option<Mutex<Vec<FileOp>>>,
    /// Lines a step wants shown in its summary (skipped models and such).
    pub(crate) notes: Mutex<Vec<String>>,
    /// What undoes each change the step made, in the order made.
    pub(crate) inverse: Mutex<UndoLog>,
    /// In a dry run (`plan`): every statement the step ran.
    pub(crate) sql_log: Option<Mutex<Vec<String>>>,
    /// The backup of the run, which keeps what the step's file operations
    /// replace.
    pub(crate) backup: Option<Arc<Recorder>>,
    /// Finishing or reverting a step MySQL left half done.
    pub(crate) resume: bool,
    /// The config file that belongs to the data folder, if known.
    pub(crate) config_file: Option<std::path::PathBuf>,
    /// The write [`Folder::start_edited`] began and nobody has waited for
    /// yet; [`StepRun::settle`] waits for it.
    pub(crate) writing: Mutex<Option<tokio::task::JoinHandle<Result<()>>>>,
}

impl StepRun {
    pub(crate) fn new(
        step: &str,
        direction: Direction,
        data_dir: Option<DataDir>,
        progress: ProgressSink,
    ) -> Self {
        let scratch = data_dir
            .as_ref()
            .map(|d| crate::state_dir::StateDir::of(d).path().to_path_buf());
        StepRun {
            step: step.to_owned(),
            direction,
            data_dir,
            journal: Mutex::new(None),
            progress,
            dry_run: None,
            notes: Mutex::new(Vec::new()),
            inverse: Mutex::new(UndoLog::in_folder(scratch)),
            sql_log: None,
            backup: None,
            resume: false,
            config_file: None,
            writing: Mutex::new(None),
        }
    }

    pub(crate) fn with_config_file(mut self, path: Option<std::path::PathBuf>) -> Self {
        self.config_file = path;
        self
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

    pub(crate) fn take_journal(&self) -> Option<Journal> {
        self.journal.lock().ok().and_then(|mut j| j.take())
    }

    /// The step's journal (none before its first file operation), held.
    pub(crate) fn journal_slot(&self) -> Result<std::sync::MutexGuard<'_, Option<Journal>>> {
        self.journal.lock().map_err(|_| MigrateError::Poisoned {
            what: "the step's journal",
        })
    }

    /// Waits for the write [`Folder::start_edited`] began, if any, and
    /// returns its outcome. Every other file operation of the step waits
    /// so first, and the runner does once the step's body is done, whatever
    /// it returned: nothing writes behind the step's commit or rollback.
    pub(crate) async fn settle(&self) -> Result<()> {
        let writing = self.writing_slot()?.take();
        match writing {
            Some(handle) => handle.await.map_err(|e| MigrateError::Panicked {
                what: "a file write",
                detail: e.to_string(),
            })?,
            None => Ok(()),
        }
    }

    /// Keeps `write` as the write going on behind the step (the one
    /// before it was waited for first, by [`Folder::start_edited`]).
    pub(crate) fn write_behind(&self, write: tokio::task::JoinHandle<Result<()>>) -> Result<()> {
        *self.writing_slot()? = Some(write);
        Ok(())
    }

    fn writing_slot(
        &self,
    ) -> Result<std::sync::MutexGuard<'_, Option<tokio::task::JoinHandle<Result<()>>>>> {
        self.writing.lock().map_err(|_| MigrateError::Poisoned {
            what: "the step's pending write",
        })
    }

    /// Makes the journal's records durable (before the step commits).
    pub(crate) fn sync_journal(&self) -> Result<()> {
        self.journal_slot()?.as_mut().map_or(Ok(()), Journal::sync)
    }

    pub(crate) fn take_notes(&self) -> Vec<String> {
        self.notes
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .unwrap_or_default()
    }

    /// The recorded inverse actions: the step's stored undo.
    pub(crate) fn take_inverse(&self) -> Result<UndoLog> {
        self.inverse
            .lock()
            .map(|mut n| std::mem::take(&mut *n))
            .map_err(|_| MigrateError::Poisoned {
                what: "the step's undo",
            })
    }

    pub(crate) fn planned_ops(&self) -> Vec<FileOp> {
        self.dry_run
            .as_ref()
            .and_then(|d| d.lock().ok().map(|v| v.clone()))
            .unwrap_or_default()
    }

    fn mode(&self) -> ExecMode<'_> {
        ExecMode {
            resume: self.resume,
            log: self.sql_log.as_ref(),
            notes: Some(self),
        }
    }
}

impl NoteSink for StepRun {
    fn note(&self, line: String) {
        tracing::debug!(step = %self.step, "{line}");
        self.progress.emit(Event::Note {
            step: self.step.clone(),
            message: line.clone(),
        });
        if let Ok(mut n) = self.notes.lock() {
            n.push(line);
        }
    }
}

impl StepRun {
    fn push_undo(&self, op: UndoOp) {
        if self.dry_run.is_some() {
            return;
        }
        if let Ok(mut v) = self.inverse.lock() {
            v.push(op);
        }
    }
}

impl Observer for StepRun {
    fn done(&self, op: &FileOp, dir: &DataDir) -> Result<()> {
        match &self.backup {
            Some(b) => b.observe(op, dir),
            None => Ok(()),
        }
    }

    fn done_many(&self, ops: &[FileOp], dir: &DataDir) -> Result<()> {
        match &self.backup {
            Some(b) => b.observe_many(ops, dir),
            None => Ok(()),
        }
    }

    fn bytes_copied(&self, done: u64, total: u64) {
        self.progress.emit(Event::Bytes {
            step: self.step.clone(),
            done,
            total,
        });
    }
}

/// What a step's `up` and `down` work with.
pub struct StepContext<'a> {
    manager: &'a SchemaManager<'a>,
    run: Arc<StepRun>,
}

impl<'a> StepContext<'a> {
    pub(crate) fn new(manager: &'a SchemaManager<'a>, run: Arc<StepRun>) -> Self {
        StepContext { manager, run }
    }

    /// The schema manager, inside the step's transaction (sea-orm's own
    /// `SchemaManager`: `has_table`, `create_table`, `get_connection`...).
    pub fn manager(&self) -> &SchemaManager<'a> {
        self.manager
    }

    /// The database backend.
    pub fn backend(&self) -> DbBackend {
        self.manager.get_database_backend()
    }

    /// Which way the step runs.
    pub fn direction(&self) -> Direction {
        self.run.direction
    }

    /// Whether this is a `plan` (run in a transaction that is rolled back;
    /// file operations are only described).
    pub fn is_dry_run(&self) -> bool {
        self.run.dry_run.is_some()
    }

    /// Runs schema ops in order.
    pub async fn run(&self, ops: &[SchemaOp]) -> Result<()> {
        schema_ops::run_ops(self.manager, ops, self.run.mode())
            .await
            .map_err(MigrateError::from)
    }

    /// Runs one statement.
    pub async fn execute(&self, sql: String) -> Result<()> {
        schema_ops::exec(self.manager.get_connection(), self.run.mode(), sql)
            .await
            .map_err(MigrateError::from)
    }

    /// Sets `column` of the rows of `table` whose `key` is given, from each
    /// change's `old` to its `new` value (`None` = NULL), and records the
    /// statements that set the old values back: the step's undo.
    pub async fn set_values(
        &self,
        table: &str,
        key: &str,
        column: &str,
        changes: &[Change],
    ) -> Result<()> {
        let backend = self.backend();
        for chunk in changes.chunks(rows::CHUNK) {
            let new = chunk.iter().map(|c| (c.key.as_str(), c.new.clone()));
            self.execute_update(&rows::set_by_key(table, key, column, new))
                .await?;
            let old = chunk.iter().map(|c| (c.key.as_str(), c.old.clone()));
            self.run.push_undo(UndoOp::Sql {
                sql: rows::text(backend, &rows::set_by_key(table, key, column, old)),
            });
        }
        Ok(())
    }

    /// Runs an update with its values bound (one prepared statement serves
    /// every chunk of the same size; the driver caches each distinct text).
    /// On PostgreSQL as literal text: keys come as text, and a bound text
    /// does not compare with an integer key there, where a literal does.
    async fn execute_update(
        &self,
        stmt: &sea_orm_migration::prelude::UpdateStatement,
    ) -> Result<()> {
        let backend = self.backend();
        if backend == DbBackend::Postgres {
            return self.execute(rows::text(backend, stmt)).await;
        }
        schema_ops::exec_bound(
            self.manager.get_connection(),
            self.run.mode(),
            backend.build(stmt),
            |_| rows::text(backend, stmt),
        )
        .await
        .map_err(MigrateError::from)
    }

    /// Inserts rows into `table` (column values, `None` = NULL) and records
    /// the statements that delete them again by their `key` column: the
    /// step's undo. Every row carries its `key` as text.
    pub async fn insert_rows(
        &self,
        table: &str,
        key: &str,
        rows: &[Vec<(&str, Option<Value>)>],
    ) -> Result<()> {
        let backend = self.backend();
        let mut keys = Vec::with_capacity(rows.len());
        for row in rows {
            let k = row.iter().find_map(|(c, v)| match v {
                Some(Value::String(Some(s))) if *c == key => Some(String::clone(s)),
                _ => None,
            });
            let Some(k) = k else {
                return Err(MigrateError::Encode {
                    what: "a row to insert",
                    detail: format!("no text value for its key column {key} in {table}"),
                });
            };
            let sql = rows::insert(backend, table, row).map_err(|e| MigrateError::Encode {
                what: "a row to insert",
                detail: format!("{table} {key} = {k}: {e}"),
            })?;
            self.execute(sql).await?;
            keys.push(k);
        }
        for sql in rows::delete_by_key(backend, table, key, &keys) {
            self.run.push_undo(UndoOp::Sql { sql });
        }
        Ok(())
    }

    /// Fills `column` of the rows of `table` with values derived from files
    /// (a backfill); nothing is recorded, since the step's `down_ops` drop
    /// the column and the next `up` computes the values again.
    pub async fn fill_derived(
        &self,
        table: &str,
        key: &str,
        column: &str,
        values: &[(String, Option<Value>)],
    ) -> Result<()> {
        for chunk in values.chunks(rows::CHUNK) {
            let pairs = chunk.iter().map(|(k, v)| (k.as_str(), v.clone()));
            let stmt = rows::set_by_key(table, key, column, pairs);
            self.execute_update(&stmt).await?;
        }
        Ok(())
    }

    /// Adds what undoes a change the context cannot invert by itself (a
    /// custom step's own bookkeeping). Ops run newest first.
    pub fn push_undo(&self, op: UndoOp) {
        self.run.push_undo(op);
    }

    /// The data folder, or [`MigrateError::NoDataFolder`] when none is known.
    pub fn folder(&self) -> Result<Folder> {
        let Some(dir) = self.run.data_dir.clone() else {
            return Err(MigrateError::NoDataFolder {
                step: self.run.step.clone(),
            });
        };
        Ok(Folder::new(Arc::clone(&self.run), dir))
    }

    /// The Cortex config file that belongs to the data folder
    /// ([`Options::config_file`](crate::Options::config_file)), if the run
    /// knows one and it exists; its changes go through the step's journal
    /// like the data folder's.
    pub fn config_file(&self) -> Result<Option<ConfigFile>> {
        let Some(path) = self.run.config_file.clone().filter(|p| p.is_file()) else {
            return Ok(None);
        };
        Ok(Some(ConfigFile::new(self.folder()?, path)))
    }

    /// Adds a line to the step's summary (e.g. a model that was skipped).
    pub fn note(&self, line: impl Into<String>) {
        self.run.note(line.into());
    }

    /// Reports rows done so far.
    pub fn rows_done(&self, done: u64, total: u64) {
        self.run.progress.emit(Event::Rows {
            step: self.run.step.clone(),
            done,
            total,
        });
    }

    /// The `down` of a step whose `up` recorded its undo: replays it.
    pub async fn undo(&self) -> Result<()> {
        let step = self.run.step.clone();
        let stored = undo::load(self.manager.get_connection(), &step)
            .await?
            .ok_or_else(|| MigrateError::NoStoredUndo { step: step.clone() })?;
        self.replay(&stored).await
    }

    /// Replays a stored undo inside the running step: SQL on the step's
    /// connection, file operations through its journal. A file that changed
    /// or vanished since the step ran is left alone and noted, never
    /// overwritten.
    pub(crate) async fn replay(&self, stored: &StoredUndo) -> Result<()> {
        if !stored.storable {
            return Err(MigrateError::NotReplayable {
                step: self.run.step.clone(),
            });
        }
        let folder = if stored.touches_files() {
            Some(self.folder()?)
        } else {
            None
        };
        let mut edits: Vec<(String, Vec<u8>)> = Vec::new();
        for op in &stored.ops {
            match (op, &folder) {
                (UndoOp::Sql { sql }, _) => self.execute(sql.clone()).await?,
                (UndoOp::Move { from, to }, Some(f)) => {
                    // Edits gathered so far concern paths before this move.
                    if !edits.is_empty() {
                        f.rewrite_many(std::mem::take(&mut edits)).await?;
                    }
                    let root = f.dir().root();
                    if root.join(to).exists() && !root.join(from).exists() {
                        self.note(format!("{to} is already back in place"));
                    } else if !root.join(from).exists() {
                        self.note(format!("{from} is gone; it cannot be moved back to {to}"));
                    } else {
                        f.move_path(from, to).await?;
                    }
                }
                (UndoOp::EditLines { path, edits: lines }, Some(f)) => {
                    let abs = f.dir().root().join(path);
                    let Ok(text) = std::fs::read_to_string(&abs) else {
                        self.note(format!(
                            "{path} is gone or unreadable; its lines were not changed back"
                        ));
                        continue;
                    };
                    match undo::apply_line_edits(&text, lines) {
                        Ok(new) => edits.push((path.clone(), new.into_bytes())),
                        Err(why) => self.note(format!(
                            "{path} changed since the step ran ({why}); left as it is"
                        )),
                    }
                }
                (
                    UndoOp::Replace {
                        path,
                        written,
                        before,
                    },
                    Some(f),
                ) => {
                    if !edits.is_empty() {
                        f.rewrite_many(std::mem::take(&mut edits)).await?;
                    }
                    let now = std::fs::read(f.dir().root().join(path)).ok();
                    let same = now.as_deref().map(|b| {
                        use sha2::Digest;
                        format!("{:x}", sha2::Sha256::digest(b)) == *written
                    });
                    if same == Some(true) {
                        f.rewrite(path, before.clone().into_bytes()).await?;
                    } else {
                        self.note(format!(
                            "{path} changed since the step wrote it; its earlier text was not put back"
                        ));
                    }
                }
                (UndoOp::RemoveEmptyDir { path }, Some(f)) => {
                    if !edits.is_empty() {
                        f.rewrite_many(std::mem::take(&mut edits)).await?;
                    }
                    // A folder that holds only the sources of this
                    // step's copies is empty once it commits.
                    match f.empty_at_commit(path)? {
                        None => {}
                        Some(true) => f.delete(path).await?,
                        Some(false) => self.note(format!(
                            "{path} was left in place: it holds files written since the step ran"
                        )),
                    }
                }
                // `touches_files` made the folder for every file op.
                (_, None) => {
                    return Err(MigrateError::NoDataFolder {
                        step: self.run.step.clone(),
                    });
                }
            }
        }
        if let (Some(f), false) = (&folder, edits.is_empty()) {
            f.rewrite_many(edits).await?;
        }
        Ok(())
    }
}

/// One value [`StepContext::set_values`] changes.
#[derive(Debug, Clone)]
pub struct Change {
    /// The key of the row.
    pub key: String,
    /// The value the row has now.
    pub old: Option<Value>,
    /// The value it gets.
    pub new: Option<Value>,
}

/// A model.yml (or other text file) whose lines a step edits: its path
/// relative to the data folder, its new text, and the line edits that made
/// it (their inverses are the step's undo).
#[derive(Debug, Clone)]
pub struct LinesEdited {
    pub path: String,
    pub text: String,
    pub edits: Vec<LineEdit>,
}
