//! A journal left behind by a process that died: reading it, and rolling
//! its step forward (the step committed) or back (it did not).

use std::fs::File;
use std::io::{BufRead, BufReader};

use super::*;

impl PendingJournal {
    /// Reads the journal a dead process left, if there is one. A last line
    /// cut short by the crash is ignored (its operation never started); any
    /// other damage is an error, and nothing is touched.
    pub fn load(dir: &DataDir) -> Result<Option<PendingJournal>> {
        Self::read(dir, true)
    }

    /// Like [`load`](Self::load), but never touches the disk (for `status`).
    pub fn peek(dir: &DataDir) -> Result<Option<PendingJournal>> {
        Self::read(dir, false)
    }

    fn read(dir: &DataDir, tidy: bool) -> Result<Option<PendingJournal>> {
        let path = journal_path(dir);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(MigrateError::io("open journal", &path, e)),
        };
        let mut lines = Vec::new();
        let mut reader = BufReader::new(file);
        loop {
            let mut buf = Vec::new();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| MigrateError::io("read journal", &path, e))?;
            if n == 0 {
                break;
            }
            lines.push(buf);
        }
        let mut begin = None;
        let mut ops = Vec::new();
        // Each operation's index by its id (the first, should one repeat).
        let mut index: HashMap<u64, usize> = HashMap::new();
        let mut done = Vec::new();
        let mut committed_marker = false;
        let count = lines.len();
        for (i, line) in lines.into_iter().enumerate() {
            let complete = line.ends_with(b"\n");
            let parsed: std::result::Result<Record, _> = serde_json::from_slice(&line);
            let record = match parsed {
                Ok(r) if complete => r,
                _ if i + 1 == count => break, // torn tail: never acted upon
                Ok(_) | Err(_) => {
                    return Err(MigrateError::JournalCorrupt {
                        path,
                        line: i + 1,
                        reason: "the record cannot be read".into(),
                    });
                }
            };
            // The operation a `Done` record marks (none: the id is unknown).
            let done_at = match &record {
                Record::Done { id } => index.get(id).copied(),
                _ => None,
            };
            match (record, &begin, done_at) {
                (
                    Record::Begin {
                        step,
                        direction,
                        pid,
                        started_at,
                    },
                    None,
                    _,
                ) => begin = Some((step, direction, pid, started_at)),
                (Record::Op { op, id }, Some(_), _) => {
                    index.entry(id).or_insert(ops.len());
                    ops.push(op);
                    done.push(false);
                }
                (Record::Commit, Some(_), _) => committed_marker = true,
                (Record::Done { .. }, Some(_), Some(at)) => done[at] = true,
                _ => {
                    return Err(MigrateError::JournalCorrupt {
                        path,
                        line: i + 1,
                        reason: "records are out of order".into(),
                    });
                }
            }
        }
        let Some((step, direction, pid, started_at)) = begin else {
            // The process died while writing the very first record: no
            // operation was announced, so none happened.
            if tidy {
                remove_any(&path)?;
                crate::atomic_fs::remove_wide_folder(&work_dir(dir))?;
            }
            return Ok(None);
        };
        Ok(Some(PendingJournal {
            dir: dir.clone(),
            path,
            step,
            direction,
            ops,
            done,
            committed_marker,
            pid,
            started_at,
        }))
    }

    /// The step committed: complete the operation that was under way (the
    /// others are done, and later ones may have built on them) and make
    /// every one final.
    pub fn roll_forward(self) -> Result<()> {
        for (op, done) in self.ops.iter().zip(&self.done) {
            if !done {
                redo(&self.dir, op, &NoObserver)?;
            }
        }
        finalize_ops(&self.dir, &self.ops, &self.path)
    }

    /// The step did not commit: undo every operation, newest first.
    pub fn roll_back(self) -> Result<()> {
        rollback_ops(&self.dir, &self.ops, &self.path)
    }
}
