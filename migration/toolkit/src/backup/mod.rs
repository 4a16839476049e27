//! Backups taken before a run that changes anything, and restoring them.
//!
//! A backup is a folder `DATA/.cortex-migrate/backups/<id>/` with the
//! database as it was (a copy of the file taken under SQLite's shared lock
//! and hashed in the same pass, so consistent even while Cortex reads or
//! writes it; `VACUUM INTO` for a database in WAL mode), the old bytes of
//! every small file the run rewrites (captured as the run rewrites it, so
//! exactly those files), the moves and creations it made, and
//! `manifest.json` with a SHA-256 of each. It is built under a hidden name
//! and appears, whole, in one rename. Weights are never copied: a moved
//! folder is moved back on restore. Old backups are pruned, keeping the
//! newest few. A restore is one journaled operation: it completes or is
//! undone, even if the process dies in the middle. While the run goes, the
//! manifest's long lists wait in scratch files (`spill`), not in memory.

use std::collections::HashSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use sha2::Digest;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use super::atomic_fs;
use super::error::{Direction, MigrateError, Result};
use super::fault;
use super::journal::{FileOp, Journal, PendingJournal, now_secs};
use super::paths::DataDir;
use super::paths::path_key;
use super::platform;
use super::state_dir::StateDir;
use super::threads;

mod restore;
mod spill;
mod sqlite_file;
pub use restore::*;
use spill::{HexRows, RowHashes, Spill};

/// The folder in a backup that holds the old versions of rewritten files.
pub const FILES_DIR: &str = "files";

/// The database file of a data folder.
pub const DB_FILE: &str = "cortex.db";
/// Prefix of the journal name of a restore.
pub const RESTORE_PREFIX: &str = "restore:";

/// One file kept in a backup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path in the data folder.
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    /// Where the backup keeps it (under `files/`); empty for the database.
    #[serde(default)]
    pub stored: String,
}

/// A move the run made (relative paths): restore moves it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoveEntry {
    pub from: String,
    pub to: String,
}

/// What a backup holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    /// Seconds since the epoch.
    pub created_at: u64,
    pub tool_version: String,
    /// Why it was taken (`before up`, `before down to ...`).
    pub reason: String,
    /// The data version (last applied step) when it was taken.
    pub data_version: Option<String>,
    /// The database copy (`cortex.db` in the backup folder).
    pub database: FileEntry,
    /// Old contents of files the run rewrote or deleted.
    pub files: Vec<FileEntry>,
    /// Moves the run made, in order.
    pub moves: Vec<MoveEntry>,
    /// Files the run created.
    pub created: Vec<String>,
    /// Steps of the run that committed after the backup.
    pub steps: Vec<String>,
    /// The run ended (successfully or not); `false` if it is under way or
    /// its process died.
    pub complete: bool,
    /// SQLite's file change counter (header offset 24) of the live
    /// database as the run left it, after its last commit: a restore that
    /// finds another value knows that something wrote since. `None` in WAL
    /// mode (the counter is not kept there) and in older manifests.
    #[serde(default)]
    pub change_counter: Option<u32>,
    /// The rows of the live database as the run left it, when it committed
    /// steps: a short hash of each row, by table (the migrator's own
    /// tables left out). A restore counts the live rows missing here as
    /// written since the run. Without it (no step committed, or the run
    /// died) the backup's own rows are the reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows_after: Option<std::collections::BTreeMap<String, Vec<String>>>,
}

fn backups_dir(dir: &DataDir) -> PathBuf {
    StateDir::of(dir).backups()
}

fn sha256_hex(path: &Path) -> Result<String> {
    Ok(format!("{:x}", atomic_fs::hash_file(path)?))
}

/// How a backup is named: `YYYYMMDD-HHMMSS` (UTC), so that names sort
/// like the times they were taken.
const STAMP: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day]-[hour][minute][second]");

/// `YYYYMMDD-HHMMSS` (UTC) of an epoch time; the bare number of seconds
/// for a time after the year 9999.
fn stamp(secs: u64) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(STAMP).ok())
        .unwrap_or_else(|| secs.to_string())
}

/// A path relative to the data folder as the manifest lists it: `/`
/// between its parts, whatever the platform wrote.
fn rel(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

/// The name under `files/` of the kept old version of the path whose key
/// is `id`: 32 hex digits. (Backups taken before numbered them in order;
/// a restore reads the name from the manifest either way.)
fn stored_name(id: u128) -> String {
    format!("{id:032x}")
}

/// Copies `from` to the new file `to`; `AlreadyExists` if `to` exists.
fn copy_new(from: &Path, to: &Path) -> std::io::Result<()> {
    let mut src = fs::File::open(from)?;
    let mut dst = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)?;
    std::io::copy(&mut src, &mut dst).map(|_| ())
}

fn manifest_bytes(m: &Manifest) -> Result<Vec<u8>> {
    serde_json::to_vec_pretty(m).map_err(|e| MigrateError::Encode {
        what: "the backup manifest",
        detail: e.to_string(),
    })
}

/// Writes the manifest of a running backup in `folder`: its short fields
/// rendered, with a mark where each long list goes, and each list copied
/// in at its mark from its scratch file (one with thousands of kept files
/// is never whole in memory as text, nor read back entry by entry).
fn write_manifest(folder: &Path, r: &Recording) -> Result<()> {
    let encode = |detail: String| MigrateError::Encode {
        what: "the backup manifest",
        detail,
    };
    let head = serde_json::to_vec_pretty(&r.written()).map_err(|e| encode(e.to_string()))?;
    let mut slots = vec![Slot::Files, Slot::Moves, Slot::Created];
    if r.rows_after.is_some() {
        slots.push(Slot::RowsAfter);
    }
    // Each mark once, in order, or a short field held one and the lists
    // would go to the wrong place.
    let mut pieces = Vec::with_capacity(slots.len() + 1);
    let mut rest = &head[..];
    for slot in &slots {
        let mark = slot.mark();
        let at = find_bytes(rest, &mark)
            .filter(|&at| find_bytes(&rest[at + mark.len()..], &mark).is_none())
            .ok_or_else(|| {
                encode(format!(
                    "the place of its list `{}` is not marked once (a short field reads as the mark)",
                    slot.name()
                ))
            })?;
        pieces.push(&rest[..at]);
        rest = &rest[at + mark.len()..];
    }
    atomic_fs::replace_durably_with(&folder.join("manifest.json"), |w| {
        for (piece, slot) in pieces.iter().zip(&slots) {
            w.write_all(piece)?;
            match slot {
                Slot::Files => r.files.write_list(w)?,
                Slot::Moves => r.moves.write_list(w)?,
                Slot::Created => r.created.write_list(w)?,
                Slot::RowsAfter => {
                    if let Some(rows) = &r.rows_after {
                        serde_json::to_writer_pretty(
                            spill::Indented::new(&mut *w, spill::FIELD_INDENT),
                            &HexRows(rows),
                        )
                        .map_err(std::io::Error::other)?;
                    }
                }
            }
        }
        w.write_all(rest)
    })
}

/// Where `needle` first is in `hay`.
fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A long part of a running backup's manifest, rendered in the short
/// fields' text as a mark: a string of a NUL and the field's name, which
/// serde_json writes as `"\u0000files"`. No short field the recorder
/// writes reads so; one that did would be refused, not misplaced.
#[derive(Debug, Clone, Copy)]
enum Slot {
    Files,
    Moves,
    Created,
    RowsAfter,
}

impl Slot {
    fn name(self) -> &'static str {
        match self {
            Slot::Files => "files",
            Slot::Moves => "moves",
            Slot::Created => "created",
            Slot::RowsAfter => "rows_after",
        }
    }

    /// The mark as it stands in the rendered text, quotes included.
    fn mark(self) -> Vec<u8> {
        format!("\"\\u0000{}\"", self.name()).into_bytes()
    }
}

impl Serialize for Slot {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("\0{}", self.name()))
    }
}

/// The file of the connection's main database; `None` for an in-memory
/// one.
async fn main_file<C: ConnectionTrait>(conn: &C) -> Result<Option<PathBuf>> {
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "SELECT file FROM pragma_database_list WHERE name = 'main'",
        ))
        .await
        .map_err(|e| MigrateError::db("finding the database file", e))?;
    Ok(rows
        .first()
        .and_then(|r| r.try_get::<String>("", "file").ok())
        .filter(|f| !f.is_empty())
        .map(PathBuf::from))
}

/// Copies the live database into the backup folder `partial` and hashes
/// it in the same pass: a plain copy of the file under SQLite's shared
/// lock (a consistent state; readers go on, a writer waits), or, for a
/// database in WAL mode or in memory, `VACUUM INTO`.
async fn copy_database<C: ConnectionTrait>(
    conn: &C,
    live: Option<&Path>,
    partial: &Path,
) -> Result<FileEntry> {
    let db_copy = partial.join(DB_FILE);
    let copied = match live {
        Some(live) => copy_locked(live, &db_copy)?,
        None => None,
    };
    let database = match copied {
        Some(entry) => entry,
        None => {
            let target = db_copy.to_string_lossy().replace('\'', "''");
            let vacuum = conn
                .execute_raw(Statement::from_string(
                    DbBackend::Sqlite,
                    format!("VACUUM INTO '{target}'"),
                ))
                .await;
            if let Err(e) = vacuum {
                return Err(if e.to_string().contains("full") {
                    MigrateError::NoSpace { path: db_copy }
                } else {
                    MigrateError::db("backing up the database (VACUUM INTO)", e)
                });
            }
            FileEntry {
                stored: String::new(),
                path: DB_FILE.into(),
                bytes: fs::metadata(&db_copy)
                    .map_err(|e| MigrateError::io("inspect", &db_copy, e))?
                    .len(),
                sha256: sha256_hex(&db_copy)?,
            }
        }
    };
    Ok(database)
}

/// A new file written and hashed (SHA-256) in one pass: the database's
/// copy in a backup, and the backup's copy a restore stages.
struct HashedFile {
    path: PathBuf,
    file: fs::File,
    hash: Hashing,
    bytes: u64,
}

impl HashedFile {
    /// Creates `path`, which must not exist.
    fn create(path: &Path) -> Result<HashedFile> {
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| MigrateError::io("create", path, e))?;
        Ok(HashedFile {
            path: path.to_path_buf(),
            file,
            hash: Hashing::start(),
            bytes: 0,
        })
    }

    fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.hash.update(chunk)?;
        self.file
            .write_all(chunk)
            .map_err(|e| MigrateError::io("write", &self.path, e))?;
        self.bytes += chunk.len() as u64;
        Ok(())
    }

    /// Closes the file and removes it.
    fn discard(self) -> Result<()> {
        drop(self.file);
        atomic_fs::remove_any(&self.path)
    }

    /// The file (to sync), its length and its SHA-256 (hex).
    fn finish(self) -> Result<(fs::File, u64, String)> {
        let hash = self.hash.finish()?;
        Ok((self.file, self.bytes, format!("{hash:x}")))
    }
}

/// The SHA-256 of what a [`HashedFile`] writes, worked out on a thread of
/// its own while the next chunk is read and written: measured on a 100 MB
/// database, hashing was half the backup's time on one core. Where no
/// thread can be started, here.
enum Hashing {
    Here(sha2::Sha256),
    Beside {
        /// Chunks to hash, in order; a few at most wait.
        chunks: std::sync::mpsc::SyncSender<Vec<u8>>,
        /// Hashed chunks, handed back to be filled again.
        spare: std::sync::mpsc::Receiver<Vec<u8>>,
        done: std::thread::JoinHandle<sha2::Sha256>,
    },
}

impl Hashing {
    fn start() -> Hashing {
        let (chunks, to_hash) = std::sync::mpsc::sync_channel::<Vec<u8>>(2);
        let (hand_back, spare) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("backup-hash".into())
            .spawn(move || {
                let mut hash = sha2::Sha256::new();
                for chunk in to_hash {
                    hash.update(&chunk);
                    // Gone once the file is finished: nothing to hand back.
                    let _ = hand_back.send(chunk);
                }
                hash
            });
        match spawned {
            Ok(done) => Hashing::Beside {
                chunks,
                spare,
                done,
            },
            Err(e) => {
                tracing::debug!("hashing the copy on its own thread: {e}");
                Hashing::Here(sha2::Sha256::new())
            }
        }
    }

    fn update(&mut self, chunk: &[u8]) -> Result<()> {
        match self {
            Hashing::Here(hash) => hash.update(chunk),
            Hashing::Beside { chunks, spare, .. } => {
                let mut owned = spare.try_recv().unwrap_or_default();
                owned.clear();
                owned.extend_from_slice(chunk);
                // Refused only if the thread is gone, which a panic alone
                // does.
                chunks.send(owned).map_err(|_| hashing_failed())?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<sha2::digest::Output<sha2::Sha256>> {
        match self {
            Hashing::Here(hash) => Ok(hash.finalize()),
            Hashing::Beside { chunks, done, .. } => {
                drop(chunks);
                done.join()
                    .map(sha2::Digest::finalize)
                    .map_err(|_| hashing_failed())
            }
        }
    }
}

fn hashing_failed() -> MigrateError {
    MigrateError::Panicked {
        what: "the thread hashing a database copy",
        detail: "no detail".into(),
    }
}

/// The copy of [`copy_database`] for a database in a rollback-journal
/// mode (Cortex's: it sets no journal mode, so DELETE): `None`, with
/// nothing left behind, for one in WAL mode.
fn copy_locked(live: &Path, to: &Path) -> Result<Option<FileEntry>> {
    let mut out = HashedFile::create(to)?;
    let copied = sqlite_file::read_locked(live, &mut |chunk| {
        if out.bytes == 0 {
            fault::point("backup: copying the database")?;
        }
        out.write(chunk)
    })?;
    if !copied {
        out.discard()?;
        return Ok(None);
    }
    let (file, bytes, sha256) = out.finish()?;
    // Synced after the lock is released: Cortex waits for the read only.
    // Data and size, not times (SQLite's own choice, fdatasync).
    platform::sync_file_data(&file).map_err(|e| MigrateError::io("sync", to, e))?;
    Ok(Some(FileEntry {
        stored: String::new(),
        path: DB_FILE.into(),
        bytes,
        sha256,
    }))
}

/// The change counter of the database at `live`, or `None` (WAL mode, or
/// it cannot be read: the restore then compares rows instead).
fn change_counter_of(live: &Path) -> Option<u32> {
    match sqlite_file::change_counter(live) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(
                "could not read the change counter of {}: {e}",
                live.display()
            );
            None
        }
    }
}

/// What the recorder knows of its backup's manifest: its short fields, and
/// its long parts kept small (see the `spill` module).
#[derive(Debug)]
struct Recording {
    /// The manifest but for `files`, `moves`, `created` and `rows_after`
    /// (left empty here: they are the fields below).
    manifest: Manifest,
    files: Spill<FileEntry>,
    moves: Spill<MoveEntry>,
    created: Spill<String>,
    rows_after: Option<RowHashes>,
    /// How long the three lists were when the manifest was last written
    /// whole: while they are so, the manifest on disk is what writing it
    /// again would give.
    saved_lengths: Option<[u64; 3]>,
}

impl Recording {
    fn lengths(&self) -> [u64; 3] {
        [self.files.len(), self.moves.len(), self.created.len()]
    }

    /// The manifest as it is written, but for a mark in the place of each
    /// long part (see [`write_manifest`]).
    fn written(&self) -> WrittenManifest<'_> {
        // Every field named: a field added to `Manifest` fails to compile
        // here until it is written too.
        let Manifest {
            id,
            created_at,
            tool_version,
            reason,
            data_version,
            database,
            files: _,
            moves: _,
            created: _,
            steps,
            complete,
            change_counter,
            rows_after: _,
        } = &self.manifest;
        WrittenManifest {
            id,
            created_at: *created_at,
            tool_version,
            reason,
            data_version,
            database,
            files: Slot::Files,
            moves: Slot::Moves,
            created: Slot::Created,
            steps,
            complete: *complete,
            change_counter: *change_counter,
            rows_after: self.rows_after.as_ref().map(|_| Slot::RowsAfter),
        }
    }
}

/// [`Manifest`] with a mark for each long part, which [`write_manifest`]
/// puts in its place: the same fields, in the same order, with the same
/// names.
#[derive(Serialize)]
struct WrittenManifest<'a> {
    id: &'a str,
    created_at: u64,
    tool_version: &'a str,
    reason: &'a str,
    data_version: &'a Option<String>,
    database: &'a FileEntry,
    files: Slot,
    moves: Slot,
    created: Slot,
    steps: &'a [String],
    complete: bool,
    change_counter: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rows_after: Option<Slot>,
}

/// Takes the backup of a run and records, while it goes, what the run
/// changes in the data folder.
#[derive(Debug)]
pub struct Recorder {
    folder: PathBuf,
    /// The database file the run changes (none for an in-memory one).
    live: Option<PathBuf>,
    recording: Mutex<Recording>,
    /// The paths noted as created, by [`path_key`] (few: a step creates a
    /// file rarely). Whether a path was kept is asked of `files/` itself,
    /// where a kept file is named by its path's key: nothing in memory
    /// grows with the files a run rewrites.
    created: Mutex<HashSet<u128>>,
    /// The files put in the backup (by their key, their name under
    /// `files/`) by a copy since the last sync.
    unsynced: Mutex<Vec<u128>>,
    /// Whether anything was put in the backup since the last sync (a hard
    /// link needs its folder synced too).
    added: std::sync::atomic::AtomicBool,
}

impl Recorder {
    /// Copies the database into a new backup folder. SQLite only: on a
    /// server, backups are the operator's (pg_dump, mariadb-dump).
    pub async fn start<C: ConnectionTrait>(
        conn: &C,
        dir: &DataDir,
        reason: &str,
        data_version: Option<String>,
    ) -> Result<Recorder> {
        if conn.get_database_backend() != DbBackend::Sqlite {
            return Err(MigrateError::Refused(
                "backups are taken for SQLite data folders only".into(),
            ));
        }
        let live = main_file(conn).await?;
        let root = backups_dir(dir);
        fs::create_dir_all(&root).map_err(|e| MigrateError::io("create folder", &root, e))?;
        let created_at = now_secs();
        let mut id = stamp(created_at);
        let mut n = 1;
        while root.join(&id).exists() || root.join(format!(".partial-{id}")).exists() {
            n += 1;
            id = format!("{}-{n}", stamp(created_at));
        }
        // Built under a hidden name, renamed when the database is in it.
        let partial = root.join(format!(".partial-{id}"));
        fs::create_dir(&partial).map_err(|e| MigrateError::io("create folder", &partial, e))?;
        let database = match copy_database(conn, live.as_deref(), &partial).await {
            Ok(d) => d,
            Err(e) => {
                let _ = atomic_fs::remove_any(&partial);
                return Err(e);
            }
        };
        fault::point("backup: database copied")?;
        let manifest = Manifest {
            id: id.clone(),
            created_at,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            reason: reason.into(),
            data_version,
            database,
            files: Vec::new(),
            moves: Vec::new(),
            created: Vec::new(),
            steps: Vec::new(),
            complete: false,
            change_counter: live.as_deref().and_then(change_counter_of),
            rows_after: None,
        };
        // The folder is new and hidden: the manifest is written in place,
        // and one sync of the folder makes both entries durable.
        let text = manifest_bytes(&manifest)?;
        let path = partial.join("manifest.json");
        fs::File::create(&path)
            .and_then(|mut f| {
                f.write_all(&text)?;
                platform::sync_file(&f)
            })
            .map_err(|e| MigrateError::io("write", &path, e))?;
        atomic_fs::sync_dir(&partial)?;
        fault::point("backup: manifest written")?;
        let folder = root.join(&id);
        platform::rename(&partial, &folder)
            .map_err(|e| MigrateError::io("create backup", &folder, e))?;
        atomic_fs::sync_dir(&root)?;
        fault::point("backup: in place")?;
        tracing::info!(backup = %id, "backup taken");
        Ok(Recorder {
            folder,
            live,
            recording: Mutex::new(Recording {
                manifest,
                files: Spill::new(),
                moves: Spill::new(),
                created: Spill::new(),
                rows_after: None,
                saved_lengths: None,
            }),
            created: Mutex::new(HashSet::new()),
            unsynced: Mutex::new(Vec::new()),
            added: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// The backup's id.
    pub fn id(&self) -> String {
        self.recording
            .lock()
            .map(|r| r.manifest.id.clone())
            .unwrap_or_default()
    }

    /// Notes a file operation of the run (called right after it is done).
    pub fn observe(&self, op: &FileOp, dir: &DataDir) -> Result<()> {
        if let FileOp::Rewrite { .. } = op {
            return self.observe_many(std::slice::from_ref(op), dir);
        }
        let (Ok(mut r), Ok(mut created)) = (self.recording(), self.created.lock()) else {
            return Err(MigrateError::Poisoned {
                what: "the backup recorder",
            });
        };
        match op {
            // Kept by `observe_many`, above.
            FileOp::Rewrite { .. } => {}
            FileOp::Create { path, .. } => {
                let key = rel(path);
                let id = path_key(&key);
                // Not when kept earlier in this run (it existed before the
                // run: its old version is what a restore puts back).
                let kept =
                    fs::symlink_metadata(self.folder.join(FILES_DIR).join(stored_name(id))).is_ok();
                if !kept && created.insert(id) {
                    r.created.push(&key, &self.folder)?;
                }
            }
            FileOp::CreateDir { .. } | FileOp::Copy { .. } | FileOp::Delete { .. } => {}
            FileOp::Rename { from, to } | FileOp::CopyMove { from, to } => {
                let entry = MoveEntry {
                    from: rel(from),
                    to: rel(to),
                };
                r.moves.push(&entry, &self.folder)?;
            }
        }
        Ok(())
    }

    /// [`observe`](Self::observe) of a batch of rewrites done together:
    /// the old versions are kept and hashed on threads, then listed in the
    /// batch's order. A batch with anything else in it is observed one
    /// operation at a time.
    pub fn observe_many(&self, ops: &[FileOp], dir: &DataDir) -> Result<()> {
        if !ops.iter().all(|op| matches!(op, FileOp::Rewrite { .. })) {
            return ops.iter().try_for_each(|op| self.observe(op, dir));
        }
        let (Ok(mut r), Ok(created)) = (self.recording(), self.created.lock()) else {
            return Err(MigrateError::Poisoned {
                what: "the backup recorder",
            });
        };
        // What to keep: neither created by this run (there was nothing
        // before it) nor named before in the batch (the first old version
        // of a path is the one to keep, and threads would race for the
        // name).
        let mut seen = HashSet::new();
        let wanted: Vec<(String, u128, &Path)> = ops
            .iter()
            .filter_map(|op| match op {
                FileOp::Rewrite { path, old, .. } => {
                    let key = rel(path);
                    let id = path_key(&key);
                    (!created.contains(&id) && seen.insert(id)).then_some((key, id, old.as_path()))
                }
                _ => None,
            })
            .collect();
        drop(created);
        if wanted.is_empty() {
            return Ok(());
        }
        if r.files.is_empty() {
            self.files_folder()?;
        }
        let kept = threads::map(&wanted, |(key, id, old)| {
            self.keep(key.clone(), *id, old, dir)
        })?;
        for entry in kept.into_iter().flatten() {
            r.files.push(&entry, &self.folder)?;
            fault::point("backup: file kept")?;
        }
        Ok(())
    }

    /// Creates the folder kept files go in.
    fn files_folder(&self) -> Result<()> {
        let files = self.folder.join(FILES_DIR);
        fs::create_dir_all(&files).map_err(|e| MigrateError::io("create folder", &files, e))
    }

    /// Keeps the old version of the file `key` (path key `id`) that the
    /// journal keeps at `old` until commit: the backup takes another hard
    /// link to it (no bytes copied; nothing writes to that file any more),
    /// named by the key. `None` when the name exists: a path kept earlier
    /// in this run, whose first old version is the one to keep.
    fn keep(&self, key: String, id: u128, old: &Path, dir: &DataDir) -> Result<Option<FileEntry>> {
        let kept = dir.root().join(old);
        let stored = stored_name(id);
        let target = self.folder.join(FILES_DIR).join(&stored);
        match fs::hard_link(&kept, &target) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
            // Another filesystem, or no hard links: a copy, made only
            // where the name is free.
            Err(_) => match copy_new(&kept, &target) {
                Ok(()) => {
                    if let Ok(mut u) = self.unsynced.lock() {
                        u.push(id);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
                Err(e) => return Err(MigrateError::io("back up", &kept, e)),
            },
        }
        self.added.store(true, std::sync::atomic::Ordering::SeqCst);
        let (bytes, sha256) = atomic_fs::measure_file(&target)?;
        Ok(Some(FileEntry {
            path: key,
            bytes,
            sha256: format!("{sha256:x}"),
            stored,
        }))
    }

    /// Makes the files copied into the backup durable (hard links share
    /// the journal's, which is synced before the commit) and its folder.
    fn sync(&self) -> Result<()> {
        if !self.added.swap(false, std::sync::atomic::Ordering::SeqCst) {
            // Nothing put in the backup since the last sync.
            return Ok(());
        }
        let copied = self
            .unsynced
            .lock()
            .map(|mut u| std::mem::take(&mut *u))
            .unwrap_or_default();
        let files = self.folder.join(FILES_DIR);
        if copied.len() > 32 && platform::WHOLE_FILESYSTEM_SYNC {
            atomic_fs::sync_filesystem(&self.folder)?;
        } else {
            for id in &copied {
                let f = files.join(stored_name(*id));
                platform::sync_path(&f).map_err(|e| MigrateError::io("sync", &f, e))?;
            }
        }
        if files.exists() {
            atomic_fs::sync_dir(&files)?;
        }
        atomic_fs::sync_dir(&self.folder)
    }

    /// A step is about to commit: the manifest lists, durably, the old
    /// files, moves and creations it made, so that a process killed between
    /// the commit and [`Recorder::step_done`] leaves a backup that restores
    /// them too. (Listed for a step that then rolls back, they are
    /// harmless: the old bytes equal the current ones, and the moves and
    /// creations are undone only where they are found done.)
    pub fn before_commit(&self) -> Result<()> {
        // No fault point of its own: the step's "before commit" follows
        // at once, with nothing changed in between.
        let mut r = self.recording()?;
        // A step that changed no file (most of a run's steps) leaves the
        // manifest as it is on disk: there is nothing new to say before
        // its commit.
        if r.saved_lengths == Some(r.lengths()) {
            return Ok(());
        }
        self.save(&mut r)
    }

    /// A step of the run committed: the manifest says so, durably.
    pub fn step_done(&self, step: &str) -> Result<()> {
        let counter = self.live.as_deref().and_then(change_counter_of);
        {
            let mut r = self.recording()?;
            r.manifest.steps.push(step.to_owned());
            r.manifest.change_counter = counter;
            self.save(&mut r)?;
        }
        fault::point("backup: manifest updated")
    }

    /// Notes the rows the run leaves (see [`Manifest::rows_after`]), if it
    /// committed steps; called at the end of the run, before
    /// [`Recorder::finish`].
    pub async fn note_rows<C: ConnectionTrait>(&self, conn: &C) -> Result<()> {
        if self.recording()?.manifest.steps.is_empty() {
            return Ok(());
        }
        let rows = row_hashes(conn).await?;
        self.recording()?.rows_after = Some(rows);
        Ok(())
    }

    /// The run ended: the manifest says so, and the scratch files go.
    pub fn finish(&self) -> Result<()> {
        let counter = self.live.as_deref().and_then(change_counter_of);
        let mut r = self.recording()?;
        r.manifest.complete = true;
        r.manifest.change_counter = counter;
        let saved = self.save(&mut r);
        // Gone even if the manifest could not say the run ended: the one
        // written last, at the last step, lists everything the steps that
        // committed did.
        r.files.close();
        r.moves.close();
        r.created.close();
        // Nothing can be written any more: a later save fails, not skips.
        r.saved_lengths = None;
        saved
    }

    /// The recording, held while it is changed or written out (its lists
    /// are read from the scratch files as the manifest is written, and
    /// nothing may be added to them meanwhile; no copy of a manifest of
    /// thousands of files is made to save it).
    fn recording(&self) -> Result<std::sync::MutexGuard<'_, Recording>> {
        self.recording.lock().map_err(|_| MigrateError::Poisoned {
            what: "the backup recorder",
        })
    }

    /// Makes the kept files durable, then writes the manifest. (No fault
    /// point here: [`Recorder::finish`]'s caller only logs its errors, so
    /// an injected error there could not fail the run.)
    fn save(&self, r: &mut Recording) -> Result<()> {
        r.saved_lengths = None;
        self.sync()?;
        write_manifest(&self.folder, r)?;
        r.saved_lengths = Some(r.lengths());
        Ok(())
    }
}

#[cfg(test)]
mod tests;
