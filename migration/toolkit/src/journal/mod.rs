//! The durable journal of a step's file operations.
//!
//! Before a file operation happens, a record saying what it will do (and what
//! is needed to undo it) is appended to `.cortex-migrate/journal` and fsynced.
//! A deletion is a move into the step's trash; a rewrite keeps the old bytes
//! in the step's work folder. After the database commit the journal is
//! *finalized* (trash emptied, old copies dropped, journal removed); if the
//! step fails it is *rolled back* (every operation undone, newest first). A
//! process that dies leaves the journal behind, and the next start rolls it
//! forward or back depending on whether the step's row committed. Every
//! redo, undo and finalize looks at the disk before acting, so each can run
//! any number of times.

mod apply;
mod index;
mod pending;
mod records;
mod repr;

use records::BATCH_SYNC_THRESHOLD;
use records::Record;
pub use records::{Content, FileOp, MAX_REWRITE};
#[cfg(test)]
mod tests;

use apply::{
    finalize_ops, finish_rewrite, redo, rewrite_file, rewrite_in_batch, rollback_ops,
    stage_in_batch,
};
use index::OpIndex;
use repr::path_repr;

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::atomic_fs::{self, exists, remove_any, sync_dir};
use super::disk;
use super::error::{Direction, MigrateError, Result};
use super::fault;
use super::paths::DataDir;
use super::platform;
use super::state_dir::StateDir;
use super::threads;

/// What sees the journal's work as it happens: the backup of the run keeps
/// what an operation replaces, the step's progress shows bytes copied.
pub trait Observer: Send + Sync {
    /// Operation `op` was just done.
    fn done(&self, _op: &FileOp, _dir: &DataDir) -> Result<()> {
        Ok(())
    }

    /// Operations `ops` were just done, together (a batch of rewrites);
    /// by default [`done`](Self::done) of each, in order.
    fn done_many(&self, ops: &[FileOp], dir: &DataDir) -> Result<()> {
        ops.iter().try_for_each(|op| self.done(op, dir))
    }

    /// A copy has written `done` of `total` bytes.
    fn bytes_copied(&self, _done: u64, _total: u64) {}
}

/// The observer of a journal nobody watches (recovery, tests).
pub struct NoObserver;

impl Observer for NoObserver {}

/// The journal of the step that is running now.
pub struct Journal {
    dir: DataDir,
    file: File,
    path: PathBuf,
    step: String,
    direction: Direction,
    /// Where the operations so far are found again in the journal file
    /// (not held here: memory stays flat however many files a step
    /// rewrites; undoing never needs the contents either, as a created
    /// file is removed and a rewritten one comes back from its kept old
    /// version).
    index: OpIndex,
    /// Records written to the journal file (for the line numbers of
    /// errors).
    records: usize,
    next_id: u64,
    /// Sees each operation, contents included, right after it is done (the
    /// run's backup keeps the old bytes).
    observer: std::sync::Arc<dyn Observer>,
}

/// A journal left by a process that died, found at the next start.
#[derive(Debug)]
pub struct PendingJournal {
    dir: DataDir,
    path: PathBuf,
    /// The step that was running.
    pub step: String,
    /// Which way it was running.
    pub direction: Direction,
    /// The operations it had announced (some may not have happened).
    pub ops: Vec<FileOp>,
    /// For each operation, whether it was recorded as complete.
    pub done: Vec<bool>,
    /// The whole was marked final (see [`Journal::mark_committed`]).
    pub committed_marker: bool,
    /// The process that wrote it.
    pub pid: u32,
    /// When it began, in seconds since the epoch.
    pub started_at: u64,
}

fn journal_path(dir: &DataDir) -> PathBuf {
    StateDir::of(dir).journal()
}

fn work_dir(dir: &DataDir) -> PathBuf {
    StateDir::of(dir).work()
}

/// Seconds since the epoch (0 if the clock is before it).
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Journal {
    /// Starts the journal of `step`. Fails if an earlier journal was not
    /// recovered.
    pub fn begin(dir: &DataDir, step: &str, direction: Direction) -> Result<Journal> {
        if let Some(p) = PendingJournal::load(dir)? {
            return Err(MigrateError::Interrupted {
                step: p.step,
                direction: p.direction,
            });
        }
        StateDir::of(dir).ensure()?;
        let work = work_dir(dir);
        remove_any(&work)?;
        disk::create_dir(&work).map_err(|e| MigrateError::io("create folder", &work, e))?;
        let path = journal_path(dir);
        let file = disk::create_new(&path, true)
            .map_err(|e| MigrateError::io("create journal", &path, e))?;
        let mut j = Journal {
            dir: dir.clone(),
            file,
            path,
            step: step.to_owned(),
            direction,
            index: OpIndex::default(),
            records: 0,
            next_id: 1,
            observer: std::sync::Arc::new(NoObserver),
        };
        j.append(&Record::Begin {
            step: step.to_owned(),
            direction,
            pid: std::process::id(),
            started_at: now_secs(),
        })?;
        sync_dir(StateDir::of(dir).path())?;
        fault::point("journal: begun")?;
        Ok(j)
    }

    /// Lets `observer` see every operation done from now on.
    pub fn observe_with(&mut self, observer: std::sync::Arc<dyn Observer>) {
        self.observer = observer;
    }

    /// The step this journal belongs to.
    pub fn step(&self) -> &str {
        &self.step
    }

    /// Which way the step runs.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// How many operations were announced so far.
    pub fn announced(&self) -> usize {
        self.index.len()
    }

    /// The sources of this step's moves that were copies (across
    /// filesystems, or forced): they go when the step commits.
    pub fn copied_sources(&self) -> &[PathBuf] {
        self.index.copied_from()
    }

    /// The data folder.
    pub fn data_dir(&self) -> &DataDir {
        &self.dir
    }

    fn append(&mut self, record: &Record) -> Result<()> {
        self.write_record(record)?;
        self.sync()
    }

    fn write_record(&mut self, record: &Record) -> Result<()> {
        self.write_records(std::slice::from_ref(record))
    }

    /// Writes records, a line each, in one write (a crash may cut the last
    /// line short; a reader drops such a line).
    fn write_records(&mut self, records: &[Record]) -> Result<()> {
        let mut lines = Vec::new();
        for record in records {
            serde_json::to_writer(&mut lines, record).map_err(|e| MigrateError::Encode {
                what: "a journal record",
                detail: e.to_string(),
            })?;
            lines.push(b'\n');
        }
        disk::write_all(&mut self.file, &self.path, &lines)
            .map_err(|e| MigrateError::io("write journal", &self.path, e))?;
        self.records += records.len();
        Ok(())
    }

    /// Records, durably, that every operation is done and the whole is
    /// final: after this a recovery completes rather than undoes.
    pub fn mark_committed(&mut self) -> Result<()> {
        self.write_record(&Record::Commit)?;
        self.sync()?;
        fault::point("journal: committed")
    }

    /// Copies a file (or tree) to a free path; undone by removing the copy.
    pub fn copy_path(&mut self, from: &Path, to: &Path) -> Result<()> {
        if exists(&self.dir.root().join(to)) {
            return Err(MigrateError::Refused(format!(
                "cannot copy to {}: it already exists",
                self.dir.root().join(to).display()
            )));
        }
        self.run(FileOp::Copy {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
        })
    }

    /// Makes every record written so far durable (done before the commit).
    pub fn sync(&mut self) -> Result<()> {
        disk::sync_file_data(&self.file, &self.path)
            .map_err(|e| MigrateError::io("sync journal", &self.path, e))
    }

    /// Announces `op` durably, then does it.
    fn run(&mut self, op: FileOp) -> Result<()> {
        let id = self.announce(op.clone())?;
        self.sync()?;
        fault::point("journal: operation announced")?;
        self.perform(id, &op)
    }

    /// Writes the record of `op` (not yet durable: the caller syncs).
    fn announce(&mut self, op: FileOp) -> Result<u64> {
        self.announce_many(std::iter::once(move |_| op))?;
        // The one id it took.
        Ok(self.next_id - 1)
    }

    /// Writes the records of a batch of operations in one write (not yet
    /// durable: the caller syncs): each of `ops` makes its operation from
    /// the id it is given. Every operation's fault point comes first, so a
    /// failure there leaves none of the batch announced.
    fn announce_many<F>(&mut self, ops: impl ExactSizeIterator<Item = F>) -> Result<Vec<(u64, FileOp)>>
    where
        F: FnOnce(u64) -> FileOp,
    {
        let n = ops.len();
        for _ in 0..n {
            fault::point("journal: before announcing an operation")?;
        }
        // The file is opened to append: its length is where the batch
        // goes, asked only if a record of it starts a chunk.
        let mut at = None;
        let mut lines = Vec::new();
        let mut announced = Vec::with_capacity(n);
        let mut starts = Vec::with_capacity(n);
        for (k, make) in ops.enumerate() {
            let id = self.next_id + k as u64;
            let op = make(id);
            let start = if self.index.starts_chunk_after(k) {
                let base = match at {
                    Some(base) => base,
                    None => *at.insert(
                        self.file
                            .metadata()
                            .map_err(|e| MigrateError::io("read journal", &self.path, e))?
                            .len(),
                    ),
                };
                Some((base + lines.len() as u64, self.records + k + 1))
            } else {
                None
            };
            serde_json::to_writer(&mut lines, &Record::Op { id, op: op.clone() }).map_err(|e| {
                MigrateError::Encode {
                    what: "a journal record",
                    detail: e.to_string(),
                }
            })?;
            lines.push(b'\n');
            starts.push(start);
            announced.push((id, op));
        }
        disk::write_all(&mut self.file, &self.path, &lines)
            .map_err(|e| MigrateError::io("write journal", &self.path, e))?;
        self.records += n;
        self.next_id += n as u64;
        for ((_, op), start) in announced.iter().zip(starts) {
            self.index.push(op, start);
        }
        Ok(announced)
    }

    /// Does an announced operation and marks it done.
    fn perform(&mut self, id: u64, op: &FileOp) -> Result<()> {
        redo(&self.dir, op, self.observer.as_ref())?;
        self.mark_done(id, op)
    }

    /// After operation `id` is done: lets the observer see it and records
    /// it as done (not yet durable: see [`Record::Done`]).
    fn mark_done(&mut self, id: u64, op: &FileOp) -> Result<()> {
        self.mark_done_many(&[id], std::slice::from_ref(op))
    }

    /// [`mark_done`](Self::mark_done) of a batch done together: the
    /// observer hears of them all at once (and may share its work out over
    /// threads), then each is recorded done.
    fn mark_done_many(&mut self, ids: &[u64], ops: &[FileOp]) -> Result<()> {
        for _ in ops {
            fault::point("journal: operation done")?;
        }
        self.observer.done_many(ops, &self.dir)?;
        let done: Vec<Record> = ids.iter().map(|&id| Record::Done { id }).collect();
        self.write_records(&done)
    }

    /// Creates a folder (and nothing above it: the parent must exist).
    pub fn create_dir(&mut self, rel: &Path) -> Result<()> {
        let abs = self.dir.root().join(rel);
        if exists(&abs) {
            return Ok(());
        }
        self.run(FileOp::CreateDir {
            path: rel.to_path_buf(),
        })
    }

    /// Creates every missing folder on the way to `rel`.
    pub fn create_dir_all(&mut self, rel: &Path) -> Result<()> {
        let mut missing = Vec::new();
        let mut probe = rel.to_path_buf();
        while !probe.as_os_str().is_empty() && !exists(&self.dir.root().join(&probe)) {
            missing.push(probe.clone());
            if !probe.pop() {
                break;
            }
        }
        for p in missing.into_iter().rev() {
            self.create_dir(&p)?;
        }
        Ok(())
    }

    /// Moves a file or folder. A rename when both ends are on one
    /// filesystem; otherwise a verified copy whose source goes at commit.
    pub fn move_path(&mut self, from: &Path, to: &Path) -> Result<()> {
        let (afrom, ato) = (self.dir.root().join(from), self.dir.root().join(to));
        if !exists(&afrom) {
            return Err(MigrateError::io(
                "move",
                &afrom,
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ));
        }
        if exists(&ato) {
            return Err(MigrateError::Refused(format!(
                "cannot move {} to {}: the target already exists; move one of them away and run again",
                afrom.display(),
                ato.display()
            )));
        }
        if let Some(parent) = to.parent() {
            self.create_dir_all(parent)?;
        }
        let parent = ato.parent().unwrap_or(self.dir.root());
        let same = atomic_fs::same_filesystem(&afrom, parent)? && !fault::force_copy();
        let op = if same {
            FileOp::Rename {
                from: from.to_path_buf(),
                to: to.to_path_buf(),
            }
        } else {
            FileOp::CopyMove {
                from: from.to_path_buf(),
                to: to.to_path_buf(),
            }
        };
        self.run(op)
    }

    /// Replaces the content of an existing file, keeping the old bytes until
    /// the step commits. A file marked read-only is refused, not forced.
    pub fn rewrite(&mut self, rel: &Path, content: &[u8]) -> Result<()> {
        self.rewrite_many(vec![(rel.to_path_buf(), content.to_vec())])
    }

    /// Rewrites many files: every intent in the journal with one fsync,
    /// then each file written beside its target and renamed over it (by a
    /// few threads when there are many), with two syncs of the filesystem
    /// (one before the first rename, one after the last) instead of fsyncs
    /// a file where the OS can do that (Linux). What makes thousands of
    /// `model.yml` rewrites cheap.
    pub fn rewrite_many(&mut self, items: Vec<(PathBuf, Vec<u8>)>) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        // Every file is checked before anything is announced (on threads:
        // a batch is hundreds of files); what the check read is what the
        // rewrite needs of each (its permissions, its filesystem).
        let root = self.dir.root();
        let checked = threads::map(&items, |(rel, _)| check_rewrite(&root.join(rel)))?;
        let (ids, ops): (Vec<u64>, Vec<FileOp>) = self
            .announce_many(items.iter().map(|(rel, _)| {
                move |id| FileOp::Rewrite {
                    path: rel.clone(),
                    old: StateDir::work_file(id, "old"),
                    tmp: atomic_fs::beside(rel, ".", &format!(".cortex-migrate-{id}")),
                }
            }))?
            .into_iter()
            .unzip();
        self.sync()?;
        fault::point("journal: operation announced")?;
        let work: Vec<(&FileOp, &Vec<u8>, &Checked)> = ops
            .iter()
            .zip(items.iter().map(|(_, c)| c))
            .zip(&checked)
            .map(|((op, content), checked)| (op, content, checked))
            .collect();
        if ops.len() <= BATCH_SYNC_THRESHOLD {
            for (id, (op, content, checked)) in ids.into_iter().zip(&work) {
                rewrite_file(&self.dir, op, content, true, checked.perms.clone())?;
                self.mark_done(id, op)?;
            }
            return Ok(());
        }
        let dir = &self.dir;
        let whole = platform::WHOLE_FILESYSTEM_SYNC;
        // A rewrite a thread did not get to is undone from the journal like
        // any other announced operation.
        threads::map(&work, |(op, content, checked)| {
            let perms = checked.perms.clone();
            if whole {
                stage_in_batch(dir, op, content, false, perms)
            } else {
                rewrite_in_batch(dir, op, content, perms)
            }
        })?;
        if !whole {
            fault::point("rewrite batch: every file replaced")?;
            // Each file was flushed on its own.
            return self.mark_done_many(&ids, &ops);
        }
        // The kept old versions are under the state folder; the new files
        // may be on other filesystems mounted inside the data folder. The
        // filesystem the check found a file on stands for its folder's,
        // which a sync through the folder reaches: they are one unless the
        // file is a mount point of its own, which cannot be renamed over
        // (its rewrite fails at the rename), or lies on an overlay, where a
        // file shows the layer that holds it and a sync through any folder
        // of the overlay reaches that layer.
        let root = self.dir.root();
        let state = StateDir::of(&self.dir);
        let state_place = state.path().to_path_buf();
        let state_id = atomic_fs::filesystem_of_path(&state_place)?;
        let folders: Vec<(PathBuf, Option<u64>)> = items
            .iter()
            .zip(&checked)
            .filter_map(|((rel, _), c)| Some((root.join(rel).parent()?.to_path_buf(), c.filesystem)))
            .collect();
        // Looked up once for both syncs.
        let filesystems = atomic_fs::one_of_each(
            std::iter::once((state_place.as_path(), state_id))
                .chain(folders.iter().map(|(p, d)| (p.as_path(), *d))),
        );
        let sync_all = || {
            filesystems
                .iter()
                .try_for_each(|p| atomic_fs::sync_filesystem(p))
        };
        // Old versions kept and new bytes written, durably, before the
        // first rename; then the renames (each file on its own: which of
        // them a crash leaves done does not matter), made durable together.
        fault::point("rewrite batch: before the filesystem sync")?;
        sync_all()?;
        fault::point("rewrite batch: filesystem synced")?;
        threads::map(&ops, |op| {
            finish_rewrite(dir, op, false)?;
            fault::point("rewrite batch: file replaced")
        })?;
        fault::point("rewrite batch: every file replaced")?;
        self.mark_done_many(&ids, &ops)?;
        sync_all()?;
        fault::point("rewrite batch: renames synced")
    }

    /// Creates a new file with `content`; the path must be free.
    pub fn create_file(&mut self, rel: &Path, content: &[u8]) -> Result<()> {
        let abs = self.dir.root().join(rel);
        if exists(&abs) {
            return Err(MigrateError::Refused(format!(
                "cannot create {}: it already exists",
                abs.display()
            )));
        }
        if let Some(parent) = rel.parent() {
            self.create_dir_all(parent)?;
        }
        self.run(FileOp::Create {
            path: rel.to_path_buf(),
            new: Content(content.to_vec()),
        })
    }

    /// Deletes a file or folder: it moves into the trash until commit.
    pub fn delete(&mut self, rel: &Path) -> Result<()> {
        let abs = self.dir.root().join(rel);
        if !exists(&abs) {
            return Ok(());
        }
        let id = self.next_id;
        let in_state = StateDir::work_file(id, "trash");
        // The trash must be on the item's filesystem, or the "move" would
        // be a copy of possibly gigabytes.
        let trash = if atomic_fs::same_filesystem(&abs, StateDir::of(&self.dir).path())? {
            in_state
        } else {
            atomic_fs::beside(rel, ".", &format!(".cortex-migrate-deleted-{id}"))
        };
        self.run(FileOp::Delete {
            path: rel.to_path_buf(),
            trash,
        })
    }

    /// After the database commit: makes the step's file changes final and
    /// removes the journal.
    pub fn finalize(self) -> Result<()> {
        let Journal {
            dir, path, index, ..
        } = self;
        if index.finalizing() {
            finalize_ops(&dir, &index.in_file(&path), &path)
        } else {
            // Nothing to make final but the work folder and the journal.
            finalize_ops(&dir, &Vec::<FileOp>::new(), &path)
        }
    }

    /// After a failure: undoes every operation, newest first, and removes
    /// the journal.
    pub fn rollback(self) -> Result<()> {
        let Journal {
            dir,
            path,
            index,
            file,
            ..
        } = self;
        drop(file);
        rollback_ops(&dir, &index.in_file(&path), &path)
    }
}

/// What checking a file before its rewrite found.
struct Checked {
    /// Its permissions, which the new version is given.
    perms: std::fs::Permissions,
    /// The filesystem that holds it (its own, a symlink not followed).
    filesystem: Option<u64>,
}

/// Checks that the file at `abs` can be rewritten: it exists, is not
/// marked read-only and is not too large ([`MAX_REWRITE`]). A symlink is
/// judged by the file it leads to, and its filesystem is its own.
fn check_rewrite(abs: &Path) -> Result<Checked> {
    let own = fs::symlink_metadata(abs).map_err(|e| MigrateError::io("open", abs, e))?;
    let filesystem = platform::filesystem_of(&own);
    let meta = if own.file_type().is_symlink() {
        fs::metadata(abs).map_err(|e| MigrateError::io("open", abs, e))?
    } else {
        own
    };
    if meta.permissions().readonly() {
        return Err(MigrateError::ReadOnly {
            path: abs.to_path_buf(),
        });
    }
    if meta.len() > MAX_REWRITE {
        return Err(MigrateError::Refused(format!(
            "{} is {} bytes, too large to rewrite safely",
            abs.display(),
            meta.len()
        )));
    }
    Ok(Checked {
        perms: meta.permissions(),
        filesystem,
    })
}
