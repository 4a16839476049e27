//! Backups already taken: listing and pruning them, finding one by name,
//! checking every file against its manifest, and restoring one as a single
//! journaled operation (recovered like a step if the process dies).

use std::collections::HashMap;
use std::fs;

use sha2::Digest;

use super::*;

/// Every backup, newest first. Folders without a readable manifest are
/// skipped (a backup interrupted before its database was in place).
pub fn list(dir: &DataDir) -> Result<Vec<Manifest>> {
    let mut out: Vec<Manifest> = manifests(dir)?;
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    Ok(out)
}

/// What pruning needs of a backup: its id and age. Read with nothing else
/// of its manifest kept, which lists every file a run over thousands of
/// models rewrote.
#[derive(serde::Deserialize)]
struct Summary {
    id: String,
    created_at: u64,
}

/// The manifests of the folder's backups that read as `T` (hidden
/// leftovers and unreadable manifests left out), each streamed from its
/// file.
fn manifests<T: serde::de::DeserializeOwned>(dir: &DataDir) -> Result<Vec<T>> {
    let root = backups_dir(dir);
    let entries = match fs::read_dir(&root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(MigrateError::io("list backups in", &root, e)),
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let Ok(file) = fs::File::open(entry.path().join("manifest.json")) else {
            continue;
        };
        if let Ok(m) = serde_json::from_reader(std::io::BufReader::new(file)) {
            out.push(m);
        }
    }
    Ok(out)
}

/// Removes all but the newest `keep` backups (and leftovers of backups
/// that never finished their database copy). Returns the ids removed.
pub fn prune(dir: &DataDir, keep: usize) -> Result<Vec<String>> {
    let root = backups_dir(dir);
    let mut removed = Vec::new();
    let mut all: Vec<Summary> = manifests(dir)?;
    all.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
    for m in all.into_iter().skip(keep) {
        // Out of the list in one rename, then removed: a process killed
        // while removing leaves a hidden leftover, never a listed backup
        // with files missing.
        let gone = root.join(format!(".pruned-{}", m.id));
        platform::rename(&root.join(&m.id), &gone)
            .map_err(|e| MigrateError::io("prune backup", &gone, e))?;
        atomic_fs::sync_dir(&root)?;
        fault::point("backup: pruned one")?;
        atomic_fs::remove_any(&gone)?;
        removed.push(m.id);
    }
    clear_leftovers(dir)?;
    Ok(removed)
}

/// Removes what a process killed while taking a backup, pruning one or
/// staging a restore's database left behind: hidden folders in the backups
/// folder, hidden files in a backup (a manifest's temporary file, a scratch
/// file of its run that the system could not leave unnamed: nothing a
/// backup keeps has a hidden name) and the staged database. None of it is
/// ever listed or used. The caller holds the folder lock (so no run of
/// another process is recording).
pub fn clear_leftovers(dir: &DataDir) -> Result<()> {
    let root = backups_dir(dir);
    if let Ok(entries) = fs::read_dir(&root) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(".partial-") || name.starts_with(".pruned-") {
                atomic_fs::remove_any(&e.path())?;
            } else if !name.starts_with('.')
                && let Ok(inside) = fs::read_dir(e.path())
            {
                for f in inside.flatten() {
                    if f.file_name().to_string_lossy().starts_with('.') {
                        atomic_fs::remove_any(&f.path())?;
                    }
                }
            }
        }
    }
    // Only without a pending restore: then the staged file is its data.
    if !StateDir::of(dir).has_journal() {
        atomic_fs::remove_any(&dir.root().join(staged_rel()))?;
    }
    Ok(())
}

/// The backup named `id` (or a unique start of it, or `latest`).
pub fn find(dir: &DataDir, id: &str) -> Result<Manifest> {
    let all = list(dir)?;
    if id == "latest" {
        return all.into_iter().next().ok_or_else(|| {
            MigrateError::NoSuchBackup(format!(
                "there are no backups in {}",
                backups_dir(dir).display()
            ))
        });
    }
    if let Some(m) = all.iter().find(|m| m.id == id) {
        return Ok(m.clone());
    }
    let matches: Vec<&Manifest> = all.iter().filter(|m| m.id.starts_with(id)).collect();
    match matches.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(MigrateError::NoSuchBackup(format!(
            "there is no backup `{id}`; `cortex-migrate backups list` shows them"
        ))),
        many => Err(MigrateError::NoSuchBackup(format!(
            "`{id}` matches {} backups; give more of the name",
            many.len()
        ))),
    }
}

/// Checks every file of a backup against its manifest.
pub fn check(dir: &DataDir, m: &Manifest) -> Result<()> {
    checked_files(dir, m).map(|_| ())
}

/// [`check`], returning the old bytes it read (see [`stored_files`]).
fn checked_files(dir: &DataDir, m: &Manifest) -> Result<HashMap<String, Vec<u8>>> {
    let folder = backups_dir(dir).join(&m.id);
    let db = folder.join(DB_FILE);
    if !db.exists() || sha256_hex(&db)? != m.database.sha256 {
        return Err(MigrateError::DamagedBackup {
            id: m.id.clone(),
            what: db.display().to_string(),
        });
    }
    checked_small_files(dir, m)
}

/// The files a backup keeps besides its database, checked against the
/// manifest, with their bytes.
fn checked_small_files(dir: &DataDir, m: &Manifest) -> Result<HashMap<String, Vec<u8>>> {
    let stored = stored_files(dir, m)?;
    for f in &m.files {
        let ok = stored
            .get(&f.path)
            .is_some_and(|b| format!("{:x}", sha2::Sha256::digest(b)) == f.sha256);
        if !ok {
            return Err(MigrateError::DamagedBackup {
                id: m.id.clone(),
                what: format!("its copy of {}", f.path),
            });
        }
    }
    Ok(stored)
}

/// The old bytes a backup keeps, by path in the data folder.
pub fn stored_files(dir: &DataDir, m: &Manifest) -> Result<HashMap<String, Vec<u8>>> {
    let folder = backups_dir(dir).join(&m.id).join(FILES_DIR);
    let mut out = HashMap::new();
    for f in &m.files {
        let p = folder.join(&f.stored);
        match fs::read(&p) {
            Ok(bytes) => {
                out.insert(f.path.clone(), bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(MigrateError::io("read", &p, e)),
        }
    }
    Ok(out)
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restored {
    pub backup: String,
    pub data_version: Option<String>,
    pub files: usize,
    pub moves: usize,
    pub removed: usize,
    /// The database was put back as a reflink clone of the backup's (no
    /// bytes copied), where the filesystem has them.
    pub database_cloned: bool,
}

/// Where a restore puts the backup's database before the journaled part
/// (in the state folder, on the data folder's filesystem, so that putting
/// it in place is a rename).
fn staged_rel() -> PathBuf {
    Path::new(crate::state_dir::NAME).join("restore-staged.db")
}

/// Copies the backup's database to `to` (a reflink clone where the
/// filesystem has them, else a copy hashed in the same pass), and refuses
/// it (leaving nothing) if it is not what the manifest says. Returns
/// whether it was cloned.
fn stage_database(dir: &DataDir, m: &Manifest, to: &Path) -> Result<bool> {
    use std::io::Read;
    let from = backups_dir(dir).join(&m.id).join(DB_FILE);
    let damaged = || MigrateError::DamagedBackup {
        id: m.id.clone(),
        what: from.display().to_string(),
    };
    if !from.exists() {
        return Err(damaged());
    }
    if platform::clone_file(&from, to).map_err(|e| MigrateError::io("clone", &from, e))? {
        fault::point("restore: staging the database")?;
        if sha256_hex(to)? != m.database.sha256 {
            atomic_fs::remove_any(to)?;
            return Err(damaged());
        }
        platform::sync_path(to).map_err(|e| MigrateError::io("sync", to, e))?;
        return Ok(true);
    }
    let mut src = fs::File::open(&from).map_err(|e| MigrateError::io("open", &from, e))?;
    let mut out = HashedFile::create(to)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src
            .read(&mut buf)
            .map_err(|e| MigrateError::io("read", &from, e))?;
        if n == 0 {
            break;
        }
        if out.bytes == 0 {
            fault::point("restore: staging the database")?;
        }
        out.write(&buf[..n])?;
    }
    let (file, _, sha256) = out.finish()?;
    if sha256 != m.database.sha256 {
        drop(file);
        atomic_fs::remove_any(to)?;
        return Err(damaged());
    }
    platform::sync_file(&file).map_err(|e| MigrateError::io("sync", to, e))?;
    Ok(false)
}

/// Puts a backup back: the database file, the old contents of rewritten
/// files, moved folders back where they were, created files removed. Every
/// file of the backup is checked first (nothing is changed if one is
/// damaged); then one journaled operation (see the module doc). The caller
/// holds the lock and has no connection open to the database, and has
/// checked [`newer_writes`] if what Cortex wrote since must not be lost.
pub fn restore(dir: &DataDir, m: &Manifest) -> Result<Restored> {
    let mut stored = checked_small_files(dir, m)?;
    let staged_rel = staged_rel();
    let staged = dir.root().join(&staged_rel);
    atomic_fs::remove_any(&staged)?;
    let cloned = stage_database(dir, m, &staged)?;
    fault::point("restore: database staged")?;
    let outcome = journaled_restore(dir, m, &mut stored, &staged_rel).map(|mut r| {
        r.database_cloned = cloned;
        r
    });
    // Left only if the journal rolled the database back out.
    atomic_fs::remove_any(&staged)?;
    outcome
}

fn journaled_restore(
    dir: &DataDir,
    m: &Manifest,
    stored: &mut HashMap<String, Vec<u8>>,
    staged_rel: &Path,
) -> Result<Restored> {
    let mut j = Journal::begin(dir, &format!("{RESTORE_PREFIX}{}", m.id), Direction::Up)?;
    let outcome = (|| -> Result<Restored> {
        let mut moves = 0;
        for mv in m.moves.iter().rev() {
            let (from, to) = (dir.root().join(&mv.from), dir.root().join(&mv.to));
            if to.exists() && !from.exists() {
                j.move_path(Path::new(&mv.to), Path::new(&mv.from))?;
                moves += 1;
            }
        }
        let mut removed = 0;
        for c in &m.created {
            if dir.root().join(c).exists() {
                j.delete(Path::new(c))?;
                removed += 1;
            }
        }
        let mut rewrites = Vec::new();
        for f in &m.files {
            let content = stored.remove(&f.path).unwrap_or_default();
            if dir.root().join(&f.path).exists() {
                rewrites.push((PathBuf::from(&f.path), content));
            } else {
                j.create_file(Path::new(&f.path), &content)?;
            }
        }
        let files = m.files.len();
        j.rewrite_many(rewrites)?;
        for side in ["-journal", "-wal", "-shm"] {
            let p = format!("{DB_FILE}{side}");
            if dir.root().join(&p).exists() {
                j.delete(Path::new(&p))?;
            }
        }
        if dir.root().join(DB_FILE).exists() {
            j.delete(Path::new(DB_FILE))?;
        }
        j.move_path(staged_rel, Path::new(DB_FILE))?;
        j.mark_committed()?;
        Ok(Restored {
            backup: m.id.clone(),
            data_version: m.data_version.clone(),
            files,
            moves,
            removed,
            database_cloned: false,
        })
    })();
    match outcome {
        Ok(r) => {
            j.finalize()?;
            Ok(r)
        }
        Err(e) => {
            j.rollback()?;
            Err(e)
        }
    }
}

/// Whether a pending journal is a restore's (decided by its own marker,
/// not by a database row).
pub fn is_restore(journal: &PendingJournal) -> bool {
    journal.step.starts_with(RESTORE_PREFIX)
}

/// Finishes or undoes an interrupted restore, before any connection to the
/// database is opened. Returns what it did, if there was one.
pub fn recover_restore(dir: &DataDir) -> Result<Option<(String, bool)>> {
    let Some(p) = PendingJournal::load(dir)? else {
        return Ok(None);
    };
    if !is_restore(&p) {
        return Ok(None);
    }
    let step = p.step.clone();
    let committed = p.committed_marker;
    if committed {
        p.roll_forward()?;
    } else {
        p.roll_back()?;
    }
    atomic_fs::remove_any(&dir.root().join(staged_rel()))?;
    Ok(Some((step, committed)))
}

/// Rows that differ between the live database and a backup's copy, per
/// table, compared on the columns both have: `(table, rows only live, rows
/// only in the backup)`. What restoring that backup would lose and bring
/// back.
pub async fn changes_since<C: ConnectionTrait>(
    conn: &C,
    dir: &DataDir,
    m: &Manifest,
) -> Result<Vec<(String, usize, usize)>> {
    use sea_orm_migration::sea_orm::{ConnectOptions, Database};
    let file = backups_dir(dir).join(&m.id).join(DB_FILE);
    let path = file.clone();
    let mut opts = ConnectOptions::new("sqlite://backup.db");
    opts.sqlx_logging(false)
        .max_connections(1)
        .map_sqlx_sqlite_opts(move |o| o.filename(&path).read_only(true));
    let backup = Database::connect(opts)
        .await
        .map_err(|e| MigrateError::db(format!("opening the backup {}", file.display()), e))?;
    let db = |e| MigrateError::db("comparing with the backup", e);
    let mut out = Vec::new();
    for (table, _) in crate::snapshot::sqlite_tables(&backup).await.map_err(db)? {
        if crate::snapshot::is_internal(&table) {
            continue;
        }
        let live_cols = columns(conn, &table).await?;
        if live_cols.is_empty() {
            continue;
        }
        let common: Vec<String> = columns(&backup, &table)
            .await?
            .into_iter()
            .filter(|c| live_cols.contains(c))
            .collect();
        let now = row_texts(conn, &table, &common).await?;
        let then = row_texts(&backup, &table, &common).await?;
        let only_now = now.difference(&then).count();
        let only_then = then.difference(&now).count();
        if only_now + only_then > 0 {
            out.push((table, only_now, only_then));
        }
    }
    Ok(out)
}

/// What restoring `m` would lose of what was written after its run: rows
/// of the live database (`cortex.db` of the data folder) that the backup
/// does not have, by table, as `(table, rows)`. Empty when SQLite's change
/// counter is where the run left it (nothing wrote since); otherwise every
/// row is compared, as [`changes_since`] does, and an empty answer means
/// only the migrator's own tables changed.
pub async fn newer_writes(dir: &DataDir, m: &Manifest) -> Result<Vec<(String, usize)>> {
    let live = dir.root().join(DB_FILE);
    if !live.exists() {
        return Ok(Vec::new());
    }
    if m.change_counter.is_some() && sqlite_file::change_counter(&live)? == m.change_counter {
        return Ok(Vec::new());
    }
    let Some(after) = &m.rows_after else {
        return compare_with_backup(dir, m, &live).await;
    };
    let conn = open_read_only(&live).await?;
    let now = row_hashes(&conn).await;
    conn.close()
        .await
        .map_err(|e| MigrateError::db(format!("closing {}", live.display()), e))?;
    let mut out = Vec::new();
    for (table, rows) in now? {
        let known: HashSet<u64> = after
            .get(&table)
            .into_iter()
            .flatten()
            .filter_map(|h| spill::parse_row_hash(h))
            .collect();
        let new = rows.iter().filter(|r| !known.contains(r)).count();
        if new > 0 {
            out.push((table, new));
        }
    }
    Ok(out)
}

async fn open_read_only(file: &Path) -> Result<sea_orm_migration::sea_orm::DatabaseConnection> {
    use sea_orm_migration::sea_orm::{ConnectOptions, Database};
    let path = file.to_path_buf();
    let mut opts = ConnectOptions::new("sqlite://cortex.db");
    opts.sqlx_logging(false)
        .max_connections(1)
        .map_sqlx_sqlite_opts(move |o| o.filename(&path).read_only(true));
    Database::connect(opts)
        .await
        .map_err(|e| MigrateError::db(format!("opening {}", file.display()), e))
}

/// [`newer_writes`] without the rows the run left: the live rows the
/// backup does not have (the run's own changes counted too).
async fn compare_with_backup(
    dir: &DataDir,
    m: &Manifest,
    live: &Path,
) -> Result<Vec<(String, usize)>> {
    let conn = open_read_only(live).await?;
    let changes = changes_since(&conn, dir, m).await;
    conn.close()
        .await
        .map_err(|e| MigrateError::db(format!("closing {}", live.display()), e))?;
    Ok(changes?
        .into_iter()
        .filter(|(_, now, _)| *now > 0)
        .map(|(table, now, _)| (table, now))
        .collect())
}

/// Refuses, before anything is changed, a restore of `m` that would lose
/// rows written after its run ([`newer_writes`]), naming them by table.
pub async fn refuse_newer_writes(dir: &DataDir, m: &Manifest) -> Result<()> {
    let lost = newer_writes(dir, m).await?;
    if lost.is_empty() {
        return Ok(());
    }
    Err(MigrateError::NewerWrites {
        backup: m.id.clone(),
        lost: lost
            .into_iter()
            .map(|(table, n)| format!("{n} new or changed row(s) of {table}"))
            .collect(),
    })
}

/// A short hash (the first 64 bits of SHA-256, big-endian, so that numbers
/// sort as their hex strings) of every row of every table but the
/// migrator's own, by table: what [`Manifest::rows_after`] keeps, in hex.
pub(super) async fn row_hashes<C: ConnectionTrait>(conn: &C) -> Result<RowHashes> {
    let tables = crate::snapshot::sqlite_tables(conn)
        .await
        .map_err(|e| MigrateError::db("listing the tables", e))?;
    let mut out = std::collections::BTreeMap::new();
    for (table, _) in tables {
        if crate::snapshot::is_internal(&table) {
            continue;
        }
        let cols = columns(conn, &table).await?;
        let mut rows = row_hashes_of(conn, &table, &cols).await?;
        rows.sort();
        rows.dedup();
        out.insert(table, rows);
    }
    Ok(out)
}

/// Rows read at a time by [`row_hashes_of`].
const PAGE: usize = 2000;

/// The short hash of each row of `table`, read a page at a time in rowid
/// order, so that memory holds one page of row texts however long the
/// table (a `WITHOUT ROWID` table is read whole).
async fn row_hashes_of<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    cols: &[String],
) -> Result<Vec<u64>> {
    let hash = |text: &str| -> u64 {
        let h = sha2::Sha256::digest(text.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&h[..8]);
        u64::from_be_bytes(first)
    };
    if cols.is_empty() {
        return Ok(Vec::new());
    }
    let expr = row_text_expr(cols);
    let reading = |e| MigrateError::db(format!("reading {table}"), e);
    let has_rowid = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!("SELECT rowid FROM {} LIMIT 1", quoted(table)),
        ))
        .await
        .is_ok();
    if !has_rowid {
        return Ok(row_texts(conn, table, cols)
            .await?
            .iter()
            .map(|r| hash(r))
            .collect());
    }
    let mut out = Vec::new();
    let mut after: Option<i64> = None;
    loop {
        let rows = conn
            .query_all_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                format!(
                    "SELECT rowid AS k, {expr} AS r FROM {} WHERE ?1 IS NULL OR rowid > ?1 \
                     ORDER BY rowid LIMIT {PAGE}",
                    quoted(table)
                ),
                vec![after.into()],
            ))
            .await
            .map_err(reading)?;
        for r in &rows {
            if let Ok(text) = r.try_get::<String>("", "r") {
                out.push(hash(&text));
            }
        }
        match rows.last().map(|r| r.try_get::<i64>("", "k")) {
            Some(Ok(k)) if rows.len() == PAGE => after = Some(k),
            Some(Err(e)) => return Err(reading(e)),
            _ => return Ok(out),
        }
    }
}

async fn columns<C: ConnectionTrait>(conn: &C, table: &str) -> Result<Vec<String>> {
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT name FROM pragma_table_info(?)",
            vec![table.into()],
        ))
        .await
        .map_err(|e| MigrateError::db("reading columns", e))?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get::<String>("", "name").ok())
        .collect())
}

/// An SQLite identifier, quoted.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The SQL of one row as text: every column `quote`d, joined by `|`.
fn row_text_expr(cols: &[String]) -> String {
    cols.iter()
        .map(|c| format!("quote({})", quoted(c)))
        .collect::<Vec<_>>()
        .join(" || '|' || ")
}

async fn row_texts<C: ConnectionTrait>(
    conn: &C,
    table: &str,
    cols: &[String],
) -> Result<HashSet<String>> {
    if cols.is_empty() {
        return Ok(HashSet::new());
    }
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!("SELECT {} AS r FROM {}", row_text_expr(cols), quoted(table)),
        ))
        .await
        .map_err(|e| MigrateError::db(format!("reading {table}"), e))?;
    Ok(rows
        .iter()
        .filter_map(|r| r.try_get::<String>("", "r").ok())
        .collect())
}

/// The newest backup taken before `step` was applied (its run applied it).
pub fn before_step(dir: &DataDir, step: &str) -> Result<Option<Manifest>> {
    Ok(list(dir)?
        .into_iter()
        .find(|m| m.steps.iter().any(|s| s == step)))
}
