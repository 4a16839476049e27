//! A recipe too long for one value: a folder step over thousands of models
//! records an inverse per file. While the step runs, its inverses go
//! [`CHUNK`] at a time to a scratch file instead of staying in memory; when
//! the step is recorded, each chunk becomes a row of `cortex_migrate_undo`
//! (in the step's transaction, one chunk in memory at a time) and the
//! history row holds only a header. A recipe of at most [`CHUNK`] ops is
//! stored inline, exactly as before (format 1), so the recipes of most
//! steps still read on every binary.
//!
//! The header of a chunked recipe (format 2) has no `ops` field: a binary
//! that knows only format 1 cannot read it and says so, rather than replay
//! a part of it.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::PathBuf;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::{StoredUndo, UndoOp};
use crate::error::MigrateError;
use crate::history::{UNDO_TABLE, has_table};

/// Ops per chunk row, and the most a recipe stored inline holds.
pub const CHUNK: usize = 1000;

/// The format of a chunked recipe's header.
pub const CHUNKED_FORMAT: u32 = 2;

/// The header a history row holds for a chunked recipe.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format: u32,
    storable: bool,
    /// Replayed before the chunks: the SQL of a schema step's `down`.
    first: Vec<UndoOp>,
    /// Rows in `cortex_migrate_undo`, `seq` 0.. in the order the step
    /// recorded them (oldest first; replayed newest first).
    chunks: u64,
    /// Ops in all chunks together.
    count: u64,
}

/// The inverses a running step records, in the order it records them.
#[derive(Debug, Default)]
pub struct UndoLog {
    /// Where the scratch file goes: the migrator's folder in the data
    /// folder where there is one (a system temp folder may live in memory),
    /// else the system's temp folder.
    scratch_dir: Option<PathBuf>,
    tail: Vec<UndoOp>,
    spill: Option<File>,
    chunks: u64,
    count: u64,
    failed: Option<String>,
}

impl UndoLog {
    /// A log whose scratch file, if it needs one, goes in `dir` (if it
    /// exists).
    pub fn in_folder(dir: Option<PathBuf>) -> UndoLog {
        UndoLog {
            scratch_dir: dir,
            ..UndoLog::default()
        }
    }

    fn scratch(&self) -> PathBuf {
        match &self.scratch_dir {
            Some(d) if d.is_dir() => d.clone(),
            _ => std::env::temp_dir(),
        }
    }

    /// Adds one inverse; a full chunk goes to the scratch file.
    pub fn push(&mut self, op: UndoOp) {
        self.tail.push(op);
        self.count += 1;
        if self.tail.len() >= CHUNK
            && self.failed.is_none()
            && let Err(e) = self.spill_tail()
        {
            self.failed = Some(e.to_string());
        }
    }

    fn spill_tail(&mut self) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(&self.tail).map_err(std::io::Error::other)?;
        line.push(b'\n');
        let mut file = match self.spill.take() {
            Some(f) => f,
            None => tempfile::tempfile_in(self.scratch())?,
        };
        let written = file.write_all(&line);
        self.spill = Some(file);
        written?;
        self.tail.clear();
        self.chunks += 1;
        Ok(())
    }

    /// What is stored for a step whose `down` replays `first`, then these
    /// inverses newest first.
    pub fn into_recipe(mut self, first: Vec<UndoOp>) -> Result<Recipe, MigrateError> {
        let dir = self.scratch();
        if let Some(why) = self.failed.take() {
            return Err(MigrateError::io(
                "write the step's undo to a scratch file",
                &dir,
                std::io::Error::other(why),
            ));
        }
        if self.spill.is_none() && first.len() + self.tail.len() <= CHUNK {
            let mut ops = first;
            ops.extend(self.tail.into_iter().rev());
            return Ok(Recipe {
                header: StoredUndo::new(ops).to_json(),
                chunks: None,
                scratch: dir,
            });
        }
        if !self.tail.is_empty() {
            self.spill_tail()
                .map_err(|e| MigrateError::io("write the step's undo", &dir, e))?;
        }
        let mut file = self.spill.take().ok_or_else(|| {
            MigrateError::Refused("a chunked recipe without its scratch file".into())
        })?;
        file.seek(SeekFrom::Start(0))
            .map_err(|e| MigrateError::io("read the step's undo back", &dir, e))?;
        let header = Header {
            format: CHUNKED_FORMAT,
            storable: true,
            first,
            chunks: self.chunks,
            count: self.count,
        };
        Ok(Recipe {
            header: serde_json::to_string(&header).unwrap_or_else(|_| "{}".to_owned()),
            chunks: Some(BufReader::new(file)),
            scratch: dir,
        })
    }
}

/// A recipe ready to be recorded: the history row's text, and the chunk
/// rows of a long one.
pub struct Recipe {
    pub header: String,
    chunks: Option<BufReader<File>>,
    scratch: PathBuf,
}

impl Recipe {
    /// A recipe of nothing but `undo` (inline).
    pub fn inline(undo: &StoredUndo) -> Recipe {
        Recipe {
            header: undo.to_json(),
            chunks: None,
            scratch: PathBuf::new(),
        }
    }

    /// Writes the chunk rows of step `version` (inside the caller's
    /// transaction), one chunk in memory at a time.
    pub async fn store_chunks<C: ConnectionTrait>(
        self,
        conn: &C,
        version: &str,
    ) -> Result<(), MigrateError> {
        let Some(mut reader) = self.chunks else {
            return Ok(());
        };
        let db = |e| MigrateError::db(format!("storing the down recipe of {version}"), e);
        let mut line = String::new();
        let mut seq: i64 = 0;
        loop {
            line.clear();
            let n = reader
                .read_line(&mut line)
                .map_err(|e| MigrateError::io("read the step's undo back", &self.scratch, e))?;
            if n == 0 {
                return Ok(());
            }
            let mut ins = Query::insert();
            ins.into_table(Alias::new(UNDO_TABLE))
                .columns([Alias::new("version"), Alias::new("seq"), Alias::new("ops")])
                .values([
                    version.into(),
                    seq.into(),
                    line.trim_end_matches('\n').into(),
                ])
                .map_err(|e| db(DbErr::Custom(e.to_string())))?;
            conn.execute(&ins).await.map_err(db)?;
            seq += 1;
        }
    }
}

/// Reads back a recipe stored with header `text`: inline, or with its
/// chunks from `cortex_migrate_undo`.
pub async fn read<C: ConnectionTrait>(
    conn: &C,
    step: &str,
    text: &str,
) -> Result<StoredUndo, MigrateError> {
    #[derive(Deserialize)]
    struct Probe {
        format: u32,
    }
    let unreadable = |e: String| {
        MigrateError::Refused(format!(
            "the stored down recipe of {step} cannot be read: {e}"
        ))
    };
    let probe: Probe = serde_json::from_str(text).map_err(|e| unreadable(e.to_string()))?;
    if probe.format != CHUNKED_FORMAT {
        return StoredUndo::from_json(step, text);
    }
    let header: Header = serde_json::from_str(text).map_err(|e| unreadable(e.to_string()))?;
    if !has_table(conn, UNDO_TABLE)
        .await
        .map_err(|e| MigrateError::db(format!("reading the down recipe of {step}"), e))?
    {
        return Err(unreadable(format!("its table {UNDO_TABLE} is missing")));
    }
    let q = Query::select()
        .column(Alias::new("ops"))
        .from(Alias::new(UNDO_TABLE))
        .and_where(Expr::col(Alias::new("version")).eq(step))
        .order_by(Alias::new("seq"), Order::Desc)
        .to_owned();
    let rows = conn
        .query_all(&q)
        .await
        .map_err(|e| MigrateError::db(format!("reading the down recipe of {step}"), e))?;
    if rows.len() as u64 != header.chunks {
        return Err(unreadable(format!(
            "{} of its {} parts are in {UNDO_TABLE}",
            rows.len(),
            header.chunks
        )));
    }
    let mut ops = header.first;
    let mut read: u64 = 0;
    for r in rows {
        let part: String = r
            .try_get("", "ops")
            .map_err(|e| MigrateError::db(format!("reading the down recipe of {step}"), e))?;
        let part: Vec<UndoOp> =
            serde_json::from_str(&part).map_err(|e| unreadable(e.to_string()))?;
        read += part.len() as u64;
        ops.extend(part.into_iter().rev());
    }
    if read != header.count {
        return Err(unreadable(format!(
            "its parts hold {read} actions where {} were recorded",
            header.count
        )));
    }
    Ok(StoredUndo {
        format: CHUNKED_FORMAT,
        storable: header.storable,
        ops,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm_migration::sea_orm::Database;

    fn op(i: usize) -> UndoOp {
        UndoOp::Move {
            from: format!("b/{i}"),
            to: format!("a/{i}"),
        }
    }

    /// What `down` replays: `first`, then every inverse newest first,
    /// whether the recipe is stored whole or in parts.
    async fn round_trip(n: usize) -> (String, StoredUndo) {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        crate::history::install(&db).await.unwrap();
        let scratch = tempfile::tempdir().unwrap();
        let mut log = UndoLog::in_folder(Some(scratch.path().to_path_buf()));
        (0..n).for_each(|i| log.push(op(i)));
        let first = vec![UndoOp::Sql {
            sql: "DROP TABLE x".into(),
        }];
        let recipe = log.into_recipe(first).unwrap();
        let header = recipe.header.clone();
        recipe.store_chunks(&db, "s").await.unwrap();
        let stored = read(&db, "s", &header).await.unwrap();
        let mut want = vec![UndoOp::Sql {
            sql: "DROP TABLE x".into(),
        }];
        want.extend((0..n).rev().map(op));
        assert_eq!(stored.ops, want, "{n} inverses");
        (header, stored)
    }

    #[tokio::test]
    async fn short_recipes_stay_whole_and_long_ones_come_back_in_order() {
        let (header, stored) = round_trip(CHUNK - 1).await;
        assert_eq!(stored.format, StoredUndo::FORMAT);
        assert!(header.contains("\"ops\""), "{header}");
        for n in [CHUNK, CHUNK + 1, 2 * CHUNK, 2 * CHUNK + 7] {
            let (header, stored) = round_trip(n).await;
            assert_eq!(stored.format, CHUNKED_FORMAT, "{n}");
            // A binary that knows only whole recipes cannot read it.
            assert!(StoredUndo::from_json("s", &header).is_err(), "{header}");
        }
    }

    #[tokio::test]
    async fn a_part_that_does_not_parse_is_refused() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        crate::history::install(&db).await.unwrap();
        let mut log = UndoLog::in_folder(None);
        (0..CHUNK + 1).for_each(|i| log.push(op(i)));
        let recipe = log.into_recipe(Vec::new()).unwrap();
        let header = recipe.header.clone();
        recipe.store_chunks(&db, "s").await.unwrap();
        db.execute_unprepared("UPDATE cortex_migrate_undo SET ops = '[{' WHERE seq = 1")
            .await
            .unwrap();
        let err = read(&db, "s", &header).await.unwrap_err().to_string();
        assert!(err.contains("down recipe of s cannot be read"), "{err}");
    }
}
