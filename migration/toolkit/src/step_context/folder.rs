//! [`Folder`]: a step's handle on the data folder. Every change goes
//! through the step's journal, so it commits or rolls back with the step's
//! transaction; moves and line edits record their own undo.

use std::path::Path;
use std::sync::Arc;

use super::{LinesEdited, StepRun};
use crate::error::{MigrateError, Result};
use crate::journal::{Content, FileOp, Journal, Observer};
use crate::paths::DataDir;
use crate::undo::{LineEdit, UndoOp};

/// A step's handle on the data folder. Every change goes through the
/// journal, so it commits or rolls back with the step's transaction.
pub struct Folder {
    run: Arc<StepRun>,
    dir: DataDir,
}

impl Folder {
    pub(super) fn new(run: Arc<StepRun>, dir: DataDir) -> Folder {
        Folder { run, dir }
    }

    /// The data folder.
    pub fn dir(&self) -> &DataDir {
        &self.dir
    }

    /// Whether this is a dry run (`plan`): nothing is written.
    pub fn is_dry_run(&self) -> bool {
        self.run.dry_run.is_some()
    }

    pub(super) fn push_undo(&self, op: UndoOp) {
        self.run.push_undo(op);
    }

    fn with_journal<T>(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<T>,
        planned: impl FnOnce() -> Option<FileOp>,
    ) -> Result<Option<T>> {
        if let Some(plan) = &self.run.dry_run {
            if let (Some(op), Ok(mut v)) = (planned(), plan.lock()) {
                v.push(op);
            }
            return Ok(None);
        }
        let mut slot = self.run.journal_slot()?;
        if slot.is_none() {
            let mut j = Journal::begin(&self.dir, &self.run.step, self.run.direction)?;
            let observer: Arc<dyn Observer> = Arc::clone(&self.run) as Arc<dyn Observer>;
            j.observe_with(observer);
            *slot = Some(j);
        }
        match slot.as_mut() {
            Some(journal) => f(journal).map(Some),
            None => Err(MigrateError::Poisoned {
                what: "the step's journal",
            }),
        }
    }

    /// Moves a file or folder (paths relative to the data folder); the
    /// move back is the step's undo.
    /// Folders the move creates (missing parents of `to`) are removed
    /// again, if still empty, when the step is undone.
    pub async fn move_path(&self, from: &str, to: &str) -> Result<()> {
        let created = self.missing_parents(to);
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
        .await?;
        for path in created {
            self.run.push_undo(UndoOp::RemoveEmptyDir { path });
        }
        self.run.push_undo(UndoOp::Move {
            from: to.to_owned(),
            to: from.to_owned(),
        });
        Ok(())
    }

    /// The parents of `rel` that do not exist yet, outermost first, as
    /// relative paths with `/` separators.
    fn missing_parents(&self, rel: &str) -> Vec<String> {
        let mut missing: Vec<String> = Path::new(rel)
            .ancestors()
            .skip(1)
            .filter(|p| !p.as_os_str().is_empty())
            .take_while(|p| !self.dir.root().join(p).exists())
            .map(|p| {
                p.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect();
        missing.reverse();
        missing
    }

    /// Writes text files whose lines a step edited, all with one journal
    /// sync; the inverse line edits are the step's undo.
    pub async fn write_edited(&self, files: Vec<LinesEdited>) -> Result<()> {
        let (undo, items) = undo_and_bytes(files);
        self.rewrite_many(items).await?;
        undo.into_iter().for_each(|op| self.run.push_undo(op));
        Ok(())
    }

    /// [`write_edited`](Self::write_edited), but the write goes on behind
    /// the step, which reads on meanwhile: this returns once the write
    /// started before it (if any) is done, with that write's error if it
    /// failed. Every other file operation of the step waits for the write
    /// first, and so does the runner once the step's body returns: it never
    /// outlives the step. The files handed over must not be read again
    /// until [`settle`](Self::settle) says the write is done (a row naming
    /// one finds it half replaced, or not yet). The undo is recorded now,
    /// in the order handed over; a write that fails fails the step, whose
    /// undo is then dropped.
    pub async fn start_edited(&self, files: Vec<LinesEdited>) -> Result<()> {
        self.settle().await?;
        if self.is_dry_run() {
            return self.write_edited(files).await;
        }
        let (undo, items) = undo_and_bytes(files);
        undo.into_iter().for_each(|op| self.run.push_undo(op));
        let items: Vec<(std::path::PathBuf, Vec<u8>)> =
            items.into_iter().map(|(p, c)| (p.into(), c)).collect();
        self.run
            .write_behind(self.spawn(move |j| j.rewrite_many(items)))
    }

    /// Waits for the write [`start_edited`](Self::start_edited) began, if
    /// any; its error, if it failed.
    pub async fn settle(&self) -> Result<()> {
        self.run.settle().await
    }

    /// Replaces the content of a file. Nothing is recorded to undo it: a
    /// step that uses it writes its own `down`.
    pub async fn rewrite(&self, path: &str, content: Vec<u8>) -> Result<()> {
        let p = path.to_owned();
        self.blocking(
            move |j| j.rewrite(Path::new(&p), &content),
            || {
                Some(FileOp::Rewrite {
                    path: path.into(),
                    old: Default::default(),
                    tmp: Default::default(),
                })
            },
        )
        .await
    }

    /// Replaces the content of many files at once (one journal sync for
    /// all of them). Nothing is recorded to undo it.
    pub async fn rewrite_many(&self, items: Vec<(String, Vec<u8>)>) -> Result<()> {
        if let Some(plan) = &self.run.dry_run {
            if let Ok(mut v) = plan.lock() {
                v.extend(items.iter().map(|(p, _)| FileOp::Rewrite {
                    path: p.into(),
                    old: Default::default(),
                    tmp: Default::default(),
                }));
            }
            return Ok(());
        }
        let items: Vec<(std::path::PathBuf, Vec<u8>)> =
            items.into_iter().map(|(p, c)| (p.into(), c)).collect();
        self.blocking(move |j| j.rewrite_many(items), || None).await
    }

    /// Creates a new file. Nothing is recorded to undo it.
    pub async fn create_file(&self, path: &str, content: Vec<u8>) -> Result<()> {
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
    pub async fn create_dir_all(&self, path: &str) -> Result<()> {
        let p = path.to_owned();
        self.blocking(
            move |j| j.create_dir_all(Path::new(&p)),
            || Some(FileOp::CreateDir { path: path.into() }),
        )
        .await
    }

    /// Deletes a file or folder (into the trash until the step commits).
    /// Nothing is recorded to undo it.
    pub async fn delete(&self, path: &str) -> Result<()> {
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

    /// Whether the folder `rel` holds nothing but sources of this step's
    /// moves that were verified copies (across filesystems, or forced):
    /// they go when the step commits, so the folder is empty then, as a
    /// rename would have left it now. `None` if it cannot be read.
    pub(super) fn empty_at_commit(&self, rel: &str) -> Result<Option<bool>> {
        let copied: Vec<std::path::PathBuf> = {
            let slot = self.run.journal_slot()?;
            slot.iter()
                .flat_map(|j| j.copied_sources())
                .map(|from| self.dir.root().join(from))
                .collect()
        };
        let Ok(entries) = std::fs::read_dir(self.dir.root().join(rel)) else {
            return Ok(None);
        };
        for entry in entries {
            let Ok(entry) = entry else {
                return Ok(None);
            };
            if !copied.contains(&entry.path()) {
                return Ok(Some(false));
            }
        }
        Ok(Some(true))
    }

    /// Runs a journal operation on a blocking thread: renames and fsyncs are
    /// quick, but a copy across filesystems is not.
    async fn blocking(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<()> + Send + 'static,
        planned: impl FnOnce() -> Option<FileOp>,
    ) -> Result<()> {
        if self.run.dry_run.is_some() {
            return self.with_journal(|_| Ok(()), planned).map(|_| ());
        }
        self.settle().await?;
        self.spawn(f).await.map_err(|e| MigrateError::Panicked {
            what: "a file operation",
            detail: e.to_string(),
        })?
    }

    /// Starts a journal operation on a blocking thread, on another handle
    /// on the same step and folder.
    fn spawn(
        &self,
        f: impl FnOnce(&mut Journal) -> Result<()> + Send + 'static,
    ) -> tokio::task::JoinHandle<Result<()>> {
        let folder = Folder {
            run: Arc::clone(&self.run),
            dir: self.dir.clone(),
        };
        tokio::task::spawn_blocking(move || folder.with_journal(f, || None).map(|_| ()))
    }
}

/// What undoes each edited file (its inverse line edits), and the bytes to
/// write, by path.
fn undo_and_bytes(files: Vec<LinesEdited>) -> (Vec<UndoOp>, Vec<(String, Vec<u8>)>) {
    files
        .into_iter()
        .map(|f| {
            let undo = UndoOp::EditLines {
                path: f.path.clone(),
                edits: f.edits.iter().map(LineEdit::inverse).collect(),
            };
            (undo, (f.path, f.text.into_bytes()))
        })
        .unzip()
}
