//! Where a running journal finds its operations again: in the journal file,
//! not in memory. The file already holds every announced operation; a step
//! that rewrites 100,000 `model.yml` files would otherwise also hold each
//! one's three paths in memory until it commits. The index keeps the byte
//! offset (and line) of every [`CHUNK`]-th operation record, so a rollback
//! reads the operations back one chunk at a time, newest chunk first, and a
//! finalize reads them once, oldest first. A left-behind journal is read
//! whole by `PendingJournal` instead (recovery is rare and must see every
//! record anyway).

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::records::{FileOp, Record};
use crate::error::{MigrateError, Result};

/// Operations per chunk read back at once (few in unit tests, so that
/// they cross many chunk boundaries quickly).
pub(super) const CHUNK: usize = if cfg!(test) { 16 } else { 1000 };

/// Where the operation records of a running journal start, a chunk at a
/// time.
#[derive(Debug, Default)]
pub(super) struct OpIndex {
    /// Operations announced.
    count: usize,
    /// For operation `k * CHUNK`: its record's byte offset and line number
    /// (1-based, for errors) in the journal file.
    pub(super) chunk_starts: Vec<(u64, usize)>,
    /// Sources of moves done as copies: they go at commit (few: a move is a
    /// rename within one filesystem).
    copied_from: Vec<PathBuf>,
    /// Whether any operation leaves work for the finalize (a deletion's
    /// trash, a copied move's source): a step that only rewrote files has
    /// none, and its records need not be read back.
    finalizing: bool,
}

impl OpIndex {
    /// Whether the operation `k` places after the next one announced
    /// starts a chunk (its offset is needed; a batch is announced in one
    /// write).
    pub(super) fn starts_chunk_after(&self, k: usize) -> bool {
        (self.count + k).is_multiple_of(CHUNK)
    }

    /// Notes the operation whose record was just written; `start` is its
    /// offset and line when [`starts_chunk_after`](Self::starts_chunk_after)
    /// said so.
    pub(super) fn push(&mut self, op: &FileOp, start: Option<(u64, usize)>) {
        if let Some(start) = start {
            self.chunk_starts.push(start);
        }
        if let FileOp::CopyMove { from, .. } = op {
            self.copied_from.push(from.clone());
        }
        self.finalizing |= matches!(op, FileOp::Delete { .. } | FileOp::CopyMove { .. });
        self.count += 1;
    }

    /// Whether any operation announced leaves work for the finalize.
    pub(super) fn finalizing(&self) -> bool {
        self.finalizing
    }

    /// How many operations were announced.
    pub(super) fn len(&self) -> usize {
        self.count
    }

    /// The operations, read back from the journal file at `journal`.
    pub(super) fn in_file<'a>(&'a self, journal: &'a Path) -> InFile<'a> {
        InFile {
            index: self,
            journal,
        }
    }

    /// The sources of this step's moves that were copies.
    pub(super) fn copied_from(&self) -> &[PathBuf] {
        &self.copied_from
    }

    /// Chunk `k`'s operations, oldest first, read back from `journal`
    /// (without the file contents a creation carries).
    fn chunk(&self, journal: &Path, k: usize) -> Result<Vec<FileOp>> {
        let Some(&(offset, first_line)) = self.chunk_starts.get(k) else {
            return Ok(Vec::new());
        };
        let want = CHUNK.min(self.count - k * CHUNK);
        let corrupt = |line: usize, reason: &str| MigrateError::JournalCorrupt {
            path: journal.to_path_buf(),
            line,
            reason: reason.into(),
        };
        let mut file =
            File::open(journal).map_err(|e| MigrateError::io("open journal", journal, e))?;
        file.seek(SeekFrom::Start(offset))
            .map_err(|e| MigrateError::io("read journal", journal, e))?;
        let mut reader = BufReader::new(file);
        let mut ops = Vec::with_capacity(want);
        let mut buf = Vec::new();
        let mut line = first_line;
        while ops.len() < want {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| MigrateError::io("read journal", journal, e))?;
            if n == 0 || !buf.ends_with(b"\n") {
                return Err(corrupt(line, "it ends before every announced operation"));
            }
            match serde_json::from_slice::<Record>(&buf) {
                Ok(Record::Op { op, .. }) => ops.push(op.without_contents()),
                Ok(Record::Done { .. } | Record::Commit) => {}
                Ok(Record::Begin { .. }) => return Err(corrupt(line, "records are out of order")),
                Err(_) => return Err(corrupt(line, "the record cannot be read")),
            }
            line += 1;
        }
        Ok(ops)
    }
}

/// The operations of a journal, in order, wherever they are kept.
pub(super) trait OpSource {
    /// Calls `f` on each operation, oldest first.
    fn oldest_first(&self, f: &mut dyn FnMut(&FileOp) -> Result<()>) -> Result<()>;
    /// Calls `f` on each operation, newest first.
    fn newest_first(&self, f: &mut dyn FnMut(&FileOp) -> Result<()>) -> Result<()>;
}

/// Operations held in memory (a journal left behind, read whole).
impl OpSource for Vec<FileOp> {
    fn oldest_first(&self, f: &mut dyn FnMut(&FileOp) -> Result<()>) -> Result<()> {
        self.iter().try_for_each(f)
    }

    fn newest_first(&self, f: &mut dyn FnMut(&FileOp) -> Result<()>) -> Result<()> {
        self.iter().rev().try_for_each(f)
    }
}

/// The operations of a running journal, read back from its file.
pub(super) struct InFile<'a> {
    index: &'a OpIndex,
    journal: &'a Path,
}

impl OpSource for InFile<'_> {
    fn oldest_first(&self, f: &mut dyn FnMut(&FileOp) -> Result<()>) -> Result<()> {
        for k in 0..self.index.chunk_starts.len() {
            self.index
                .chunk(self.journal, k)?
                .iter()
                .try_for_each(&mut *f)?;
        }
        Ok(())
    }

    fn newest_first(&self, f: &mut dyn FnMut(&FileOp) -> Result<()>) -> Result<()> {
        for k in (0..self.index.chunk_starts.len()).rev() {
            self.index
                .chunk(self.journal, k)?
                .iter()
                .rev()
                .try_for_each(&mut *f)?;
        }
        Ok(())
    }
}
