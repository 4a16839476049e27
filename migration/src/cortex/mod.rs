//! What the folder steps know about Cortex's data: `model.yml` files, the
//! rows that point at them, and statements that change many rows at once.

pub mod before_db;
pub mod cortexrc;
pub mod model_yml;
pub mod plain_yml;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbErr};

use crate::toolkit::LineEdit;
use crate::toolkit::{DataDir, Located, OpenFor, map_on_threads, path_key};
use crate::toolkit::{Folder, LinesEdited, MigrateError};
use model_yml::ModelYml;

/// The columns of a `models` row the folder steps use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRow {
    pub id: String,
    pub yml: Option<String>,
}

/// Rows [`ModelPages`] reads at a time.
const ROWS_PAGE: u64 = 2000;

/// Rows [`look_at`] works out at once: enough to share out over the cores,
/// few enough that what the threads read and make of them stays a few
/// hundred KB, however long the page.
pub const LOOK_AT_ONCE: usize = 256;

/// `look` of each of `rows`, worked out on the machine's cores
/// [`LOOK_AT_ONCE`] rows at a time, in the rows' order: what a step makes
/// of a row from its files alone (reading a `model.yml`, statting its
/// weights) is its own, and is most of the step's work. Each item is one
/// run of rows with what came of them; the caller takes them in order
/// (notes, values).
///
/// For a `look` whose answer is small (a size, a note now and then, the
/// text of the rare file that needs an edit): what a thread allocates and
/// the caller keeps, later freed elsewhere, stays in that thread's malloc
/// arena. Handing a new `model.yml` text per row across (the engine
/// rename's, which edits nearly every file) grew the 100,000-model peak by
/// 4 MiB, so that step looks at its rows on the step's own thread.
pub fn look_at<R, F>(
    rows: &[ModelRow],
    look: F,
) -> impl Iterator<Item = Result<Vec<(&ModelRow, R)>, MigrateError>>
where
    R: Send,
    F: Fn(&ModelRow) -> R + Sync,
{
    rows.chunks(LOOK_AT_ONCE).map(move |run| {
        let looks = map_on_threads(run, |row| Ok(look(row)))?;
        Ok(run.iter().zip(looks).collect())
    })
}

/// The model rows a page of [`ROWS_PAGE`] at a time, in key order, read by
/// key: a step that goes through them page by page holds one page, however
/// many models there are (the driver's rows cost several times what is kept
/// of them, and 100,000 rows held at once cost tens of megabytes).
#[derive(Debug, Default)]
pub struct ModelPages {
    /// The key of the last row read.
    after: Option<String>,
    /// The last page was short: nothing is left.
    done: bool,
}

impl ModelPages {
    /// The next page; `None` once every row was read. Rows a step changes
    /// as it goes keep their place: the order is by `model_id`, which no
    /// step changes.
    pub async fn next<C: ConnectionTrait>(
        &mut self,
        conn: &C,
    ) -> Result<Option<Vec<ModelRow>>, DbErr> {
        if self.done {
            return Ok(None);
        }
        let page = Query::select()
            .columns([Models::ModelId, Models::PathToModelYaml])
            .from(Models::Table)
            .apply_if(self.after.clone(), |q, after| {
                q.and_where(Expr::col(Models::ModelId).gt(after));
            })
            .order_by(Models::ModelId, Order::Asc)
            .limit(ROWS_PAGE)
            .to_owned();
        let rows = conn
            .query_all_raw(conn.get_database_backend().build(&page))
            .await?;
        self.done = (rows.len() as u64) < ROWS_PAGE;
        let rows = rows
            .into_iter()
            .map(|r| {
                Ok(ModelRow {
                    id: r.try_get("", "model_id")?,
                    yml: r.try_get("", "path_to_model_yaml")?,
                })
            })
            .collect::<Result<Vec<ModelRow>, DbErr>>()?;
        match rows.last() {
            Some(last) => self.after = Some(last.id.clone()),
            None => return Ok(None),
        }
        Ok(Some(rows))
    }
}

/// How many model rows there are (the total a step's progress counts to).
pub async fn model_count<C: ConnectionTrait>(conn: &C) -> Result<u64, DbErr> {
    let query = Query::select()
        .expr_as(Expr::col(Models::ModelId).count(), Alias::new("n"))
        .from(Models::Table)
        .to_owned();
    let row = conn
        .query_one_raw(conn.get_database_backend().build(&query))
        .await?;
    let n: i64 = match row {
        Some(r) => r.try_get("", "n")?,
        None => 0,
    };
    // A count is never negative; `unsigned_abs` keeps clear of the
    // query-builder traits the prelude brings in (`max`, `try_from`).
    Ok(if n > 0 { n.unsigned_abs() } else { 0 })
}

/// Every model row, in key order, all at once (for a step that needs
/// them together; [`ModelPages`] holds one page at a time).
pub async fn model_rows<C: ConnectionTrait>(conn: &C) -> Result<Vec<ModelRow>, DbErr> {
    let mut pages = ModelPages::default();
    let mut out = Vec::new();
    while let Some(page) = pages.next(conn).await? {
        out.extend(page);
    }
    Ok(out)
}

#[derive(DeriveIden)]
enum Models {
    Table,
    ModelId,
    PathToModelYaml,
}

/// A model's `model.yml`, read safely.
#[derive(Debug)]
pub enum YmlRead {
    /// Inside the data folder, readable and valid.
    Ok {
        /// Path relative to the data folder.
        rel: String,
        yml: ModelYml,
        read_only: bool,
    },
    /// Not usable; the sentence says why (for the step's notes).
    Skip(String),
}

/// A model's `model.yml` as text, read safely but not parsed (steps look
/// at the text first and parse only the files they may change).
#[derive(Debug)]
pub enum YmlText {
    /// Inside the data folder and readable.
    Ok {
        /// Path relative to the data folder.
        rel: String,
        text: String,
        read_only: bool,
    },
    /// Not usable; the sentence says why (for the step's notes).
    Skip(String),
}

/// Reads the `model.yml` a row points at. `None` when the row has no path
/// (catalogue entries that were never downloaded).
pub fn read_model_text(dir: &DataDir, row: &ModelRow) -> Option<YmlText> {
    let stored = stored_yml(row)?;
    let (located, _, opened) = dir.open_healing(stored, OpenFor::Read);
    Some(read_located(row, stored, located, opened))
}

/// The `model.yml` path a row stores, if it stores one.
pub fn stored_yml(row: &ModelRow) -> Option<&str> {
    row.yml.as_deref().filter(|p| !p.trim().is_empty())
}

/// [`read_model_text`] for a caller that has located the row's stored
/// path (`stored`) already, and maybe opened it
/// ([`DataDir::open_healing`]).
pub fn read_located(
    row: &ModelRow,
    stored: &str,
    located: Located,
    opened: Option<std::fs::File>,
) -> YmlText {
    let (abs, rel) = match located {
        Located::Inside { abs, rel } => (abs, rel),
        Located::Outside { reason, .. } => {
            return YmlText::Skip(format!(
                "model {}: its model.yml `{stored}` was not touched: {reason}",
                row.id
            ));
        }
    };
    let cannot = |e: std::io::Error| {
        YmlText::Skip(format!(
            "model {}: its model.yml {} cannot be read ({e})",
            row.id,
            abs.display()
        ))
    };
    let read = match opened {
        Some(file) => read_with_metadata(file),
        None => std::fs::File::open(&abs).and_then(read_with_metadata),
    };
    match read {
        Ok((text, meta)) => YmlText::Ok {
            rel,
            text,
            read_only: meta.permissions().readonly(),
        },
        Err(e) => cannot(e),
    }
}

/// A text file and its metadata through one open handle: the path is
/// looked up once, where reading it and asking for its metadata apart
/// looks it up twice (steps read every model's `model.yml`).
fn read_with_metadata(file: std::fs::File) -> std::io::Result<(String, std::fs::Metadata)> {
    let meta = file.metadata()?;
    let bytes = read_sized(file, usize::try_from(meta.len()).unwrap_or(0))?;
    let text = String::from_utf8(bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok((text, meta))
}

/// Reads a file whose metadata said it holds `size` bytes, whole. Each
/// read asks for one byte more than is known to be there: a read that
/// stops short at exactly `size` bytes is the file's end, so a file read
/// at once costs one call, not a second that finds nothing left. A file
/// that grew since is read on to its end.
fn read_sized(mut file: std::fs::File, size: usize) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut bytes = vec![0; size.saturating_add(1)];
    let mut filled = 0;
    loop {
        let asked = bytes.len() - filled;
        let n = match file.read(&mut bytes[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        filled += n;
        if n == 0 || (n < asked && filled == size) {
            break;
        }
        if filled == bytes.len() {
            let more = bytes.len().max(8 << 10);
            bytes.resize(bytes.len() + more, 0);
        }
    }
    bytes.truncate(filled);
    Ok(bytes)
}

/// Parses what [`read_model_text`] read.
pub fn parse_model_text(row: &ModelRow, read: YmlText) -> YmlRead {
    match read {
        YmlText::Skip(why) => YmlRead::Skip(why),
        YmlText::Ok {
            rel,
            text,
            read_only,
        } => match ModelYml::parse_owned(text) {
            Ok(yml) => YmlRead::Ok {
                rel,
                yml,
                read_only,
            },
            Err(why) => YmlRead::Skip(format!(
                "model {}: its model.yml {rel} is {why}; left as it was",
                row.id
            )),
        },
    }
}

/// How many rewrites a folder step hands to the journal at once: enough to
/// share fsyncs, few enough to keep memory flat with thousands of models.
/// Each batch ends in syncs of the filesystem, whose cost is mostly fixed
/// (they flush whatever else is dirty there too). The batch is cut sooner
/// by [`REWRITE_BATCH_BYTES`]: with cortex.cpp's `model.yml` of about
/// 1.4 KB, some 185 files a batch, and 10,000 models take about 55 batches.
pub const REWRITE_BATCH: usize = 2048;

/// The new text a batch holds at most, whatever the count. Memory holds two
/// batches, the one being written and the one filling (512 KiB, what one
/// batch held before the write went behind the step); a few hundred files
/// of cortex.cpp's `model.yml`, about 1.4 KB each, fill one.
pub const REWRITE_BATCH_BYTES: usize = 256 << 10;

/// `model.yml` rewrites a folder step gathers and hands to the journal
/// [`REWRITE_BATCH`] (or [`REWRITE_BATCH_BYTES`]) at a time; the folder
/// records the line edits that undo each batch. A batch is written while
/// the step reads on ([`Folder::start_edited`]), one batch at a time: the
/// next is handed over once the last is written, so memory holds two.
#[derive(Debug, Default)]
pub struct Rewrites {
    pending: Vec<LinesEdited>,
    /// Bytes of new text pending.
    bytes: usize,
    done: usize,
    /// The paths looked at ([`Rewrites::first_look`]) and not rewritten on
    /// disk before the step's last read began: the pending batch's, the
    /// batch being written's, those left as they were (with a note, or
    /// nothing to change), and in a dry run, where nothing is written,
    /// every one. A file once rewritten reads as changed, so a later row
    /// that names it finds nothing left to do: memory holds two batches and
    /// the few files left, not every path of the step.
    /// (By [`path_key`]: 16 bytes a path.)
    looked: std::collections::HashSet<u128>,
    /// The keys of the batch being written behind the step: they stay in
    /// `looked` until the write is done, and longer (`written`).
    writing: Vec<u128>,
    /// The keys of batches written since the step last began reading
    /// ([`Rewrites::reading`]): a text read before their write may be the
    /// old one, so they stay in `looked` until the next read begins.
    written: Vec<u128>,
}

impl Rewrites {
    /// Says that the step is about to read files: those written so far are
    /// forgotten, as what it reads now is their new text. A step that reads
    /// a run of rows ahead ([`look_at`]) calls it before each run, so that
    /// a row whose file was written after it was read (its text the old
    /// one) finds it looked at already. A step that reads each row as it
    /// takes it may call it less often (once a page): a row naming a file
    /// written since reads its new text, which leaves nothing to do, so it
    /// does not matter whether the file still counts as looked at.
    pub fn reading(&mut self) {
        for key in self.written.drain(..) {
            self.looked.remove(&key);
        }
    }

    /// Whether a row naming `rel` is the first to look at it in this step
    /// (two rows may name one `model.yml`, which is changed once): `false`
    /// while it waits in the batch, or after it was left as it was.
    pub fn first_look(&mut self, rel: &str) -> bool {
        self.looked.insert(path_key(rel))
    }

    /// Adds the new `text` of `rel`, made by `edits`; hands the batch over
    /// once it is full.
    pub async fn push(
        &mut self,
        folder: &Folder,
        rel: String,
        text: String,
        edits: &[LineEdit],
    ) -> Result<(), MigrateError> {
        self.bytes += text.len();
        self.pending.push(LinesEdited {
            path: rel,
            text,
            edits: edits.to_vec(),
        });
        if self.pending.len() >= REWRITE_BATCH || self.bytes >= REWRITE_BATCH_BYTES {
            self.flush(folder).await?;
        }
        Ok(())
    }

    /// Hands over what is left and waits for every write; returns how
    /// many files were rewritten.
    pub async fn finish(mut self, folder: &Folder) -> Result<usize, MigrateError> {
        self.flush(folder).await?;
        self.settle(folder).await?;
        Ok(self.done)
    }

    /// Waits for the batch being written, then hands the pending one over;
    /// it is written while the step reads on ([`Folder::start_edited`]).
    async fn flush(&mut self, folder: &Folder) -> Result<(), MigrateError> {
        self.settle(folder).await?;
        if self.pending.is_empty() {
            return Ok(());
        }
        self.done += self.pending.len();
        self.bytes = 0;
        let batch = std::mem::take(&mut self.pending);
        // Forgotten once written (see `settle`); in a dry run nothing is.
        if !folder.is_dry_run() {
            self.writing = batch.iter().map(|f| path_key(&f.path)).collect();
        }
        folder.start_edited(batch).await
    }

    /// Waits for the batch being written; its paths are forgotten when the
    /// step next begins to read ([`Rewrites::reading`]): a batch that fails
    /// to be written fails the step, and nothing looks at them again.
    async fn settle(&mut self, folder: &Folder) -> Result<(), MigrateError> {
        folder.settle().await?;
        self.written.append(&mut self.writing);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::read_sized;

    /// `read_sized` of a file holding `bytes`, told it holds `told`.
    fn read_told(bytes: &[u8], told: usize) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.yml");
        std::fs::write(&path, bytes).unwrap();
        read_sized(std::fs::File::open(&path).unwrap(), told).unwrap()
    }

    #[test]
    fn a_file_is_read_whole_whatever_size_it_was_said_to_hold() {
        let text: Vec<u8> = (0..50_000u32).map(|i| (i % 251) as u8).collect();
        for len in [0, 1, 1_424, 8 << 10, (8 << 10) + 1, 50_000] {
            let bytes = &text[..len];
            // The size its metadata gave; a file that grew since (more
            // than one buffer's worth, too); one that shrank since.
            for told in [len, 0, len / 2, len.saturating_sub(1), len + 1, len + 9_000] {
                assert_eq!(read_told(bytes, told), bytes, "{len} bytes, told {told}");
            }
        }
    }
}
