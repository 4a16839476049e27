//! Digests for assertions: every row of every table with its SQLite storage
//! class, and every file under a folder with its sha256, so that a test can
//! prove that nothing changed or that a round trip kept every value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement};
use sha2::{Digest, Sha256};

/// Rows of one table: each row is its `(column, "typeof:value")` cells.
pub type TableRows = Vec<Vec<(String, String)>>;

async fn query(
    conn: &DatabaseConnection,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Vec<QueryResult> {
    conn.query_all_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        values,
    ))
    .await
    .unwrap_or_else(|e| panic!("digest query failed: {sql}: {e}"))
}

fn get(row: &QueryResult, col: &str) -> String {
    row.try_get::<String>("", col)
        .unwrap_or_else(|e| panic!("reading {col}: {e}"))
}

fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Every table of the database except SQLite's own (`sqlite_%`), sorted.
pub async fn table_names(conn: &DatabaseConnection) -> Vec<String> {
    query(
        conn,
        "SELECT name FROM sqlite_master WHERE type = 'table' \
         AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        vec![],
    )
    .await
    .iter()
    .map(|r| get(r, "name"))
    .collect()
}

/// Every row of every table (each table's rows sorted), with SQLite storage
/// classes: `"text:downloaded"`, `"integer:1"`, `"null:"`, `"real:0.5"`,
/// `"blob:<hex>"`.
pub async fn db_rows(conn: &DatabaseConnection) -> BTreeMap<String, TableRows> {
    let names = table_names(conn).await;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    db_rows_of(conn, &names).await
}

/// Like `db_rows`, for these tables only. A table that does not exist is
/// left out of the map (so a dropped table shows as a difference).
pub async fn db_rows_of(conn: &DatabaseConnection, tables: &[&str]) -> BTreeMap<String, TableRows> {
    let mut out = BTreeMap::new();
    for table in tables {
        let cols: Vec<String> = query(
            conn,
            "SELECT name FROM pragma_table_info(?) ORDER BY cid",
            vec![(*table).into()],
        )
        .await
        .iter()
        .map(|r| get(r, "name"))
        .collect();
        if cols.is_empty() {
            continue;
        }
        // Reals with 17 digits so that no rounding hides a change; blobs
        // in hex so that any bytes survive the trip into a String.
        let select: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let c = quote_ident(c);
                format!(
                    "typeof({c}) || ':' || CASE typeof({c}) WHEN 'null' THEN '' \
                     WHEN 'blob' THEN hex({c}) WHEN 'real' THEN printf('%!.17g', {c}) \
                     ELSE CAST({c} AS TEXT) END AS v{i}"
                )
            })
            .collect();
        let sql = format!("SELECT {} FROM {}", select.join(", "), quote_ident(table));
        let mut rows: TableRows = query(conn, &sql, vec![])
            .await
            .iter()
            .map(|r| {
                cols.iter()
                    .enumerate()
                    .map(|(i, c)| (c.clone(), get(r, &format!("v{i}"))))
                    .collect()
            })
            .collect();
        rows.sort();
        out.insert((*table).to_owned(), rows);
    }
    out
}

/// The versions of the applied steps, in the order the history lists them.
pub async fn applied_versions(conn: &DatabaseConnection) -> Vec<String> {
    migration::toolkit::history::applied(conn)
        .await
        .unwrap_or_else(|e| panic!("reading the applied steps: {e}"))
        .into_iter()
        .map(|a| a.version)
        .collect()
}

/// The state of a database a crash or a round trip must keep: the rows of
/// `tables`, the schema snapshot and the applied steps, as one text.
pub async fn db_state(conn: &DatabaseConnection, tables: &[&str]) -> String {
    let rows = db_rows_of(conn, tables).await;
    let schema = migration::toolkit::snapshot::sqlite_snapshot(conn)
        .await
        .unwrap_or_else(|e| panic!("schema snapshot: {e}"));
    let applied = applied_versions(conn).await;
    format!("{rows:?}\n{schema}\n{applied:?}")
}

/// Columns whose values differ between two runs that reach the same state:
/// the clock (seconds) when a step was recorded as applied. A crash, a
/// recovery and a run finished later each take their own time. Every other
/// column of every table is compared, the tool version of each history row
/// among them (every path runs the same build of the toolkit).
const RUN_TIME_COLUMNS: [(&str, &str); 2] = [
    ("seaql_migrations", "applied_at"),
    ("cortex_migrate_steps", "applied_at"),
];

/// The whole state of a SQLite database, as one text: the `CREATE` text of
/// every table, index, view and trigger; the rows of every table (Cortex's,
/// the archives `cortex_archive_*`, the history `seaql_migrations` and
/// `cortex_migrate_steps` with their checksums, origins, schemas after and
/// stored recipes, any other) but for [`RUN_TIME_COLUMNS`]; SQLite's
/// `AUTOINCREMENT` counters; the normalized schema snapshot; the applied
/// steps in history order.
pub async fn whole_db_state(conn: &DatabaseConnection) -> String {
    let mut names = table_names(conn).await;
    // The next id an `AUTOINCREMENT` table hands out is state too.
    if query(
        conn,
        "SELECT name FROM sqlite_master WHERE name = 'sqlite_sequence'",
        vec![],
    )
    .await
    .len()
        == 1
    {
        names.push("sqlite_sequence".to_owned());
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut rows = db_rows_of(conn, &names).await;
    for (table, column) in RUN_TIME_COLUMNS {
        if let Some(table_rows) = rows.get_mut(table) {
            for row in table_rows.iter_mut() {
                let before = row.len();
                row.retain(|(c, _)| c != column);
                assert_eq!(row.len() + 1, before, "{table} has no column {column}");
            }
            table_rows.sort();
        }
    }
    let objects: Vec<String> = query(
        conn,
        "SELECT type || ' ' || name || ' on ' || tbl_name || ': ' || COALESCE(sql, '') AS s \
         FROM sqlite_master WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY type, name",
        vec![],
    )
    .await
    .iter()
    .map(|r| get(r, "s"))
    .collect();
    let schema = migration::toolkit::snapshot::sqlite_snapshot(conn)
        .await
        .unwrap_or_else(|e| panic!("schema snapshot: {e}"));
    let applied = applied_versions(conn).await;
    format!("{objects:#?}\n{rows:#?}\n{schema}\n{applied:?}")
}

/// The `CREATE` text of every table and index (SQLite's own left out),
/// by name: for asserting that the schema did not change.
pub async fn db_schema(conn: &DatabaseConnection) -> BTreeMap<String, String> {
    query(
        conn,
        "SELECT name, COALESCE(sql, '') AS sql FROM sqlite_master \
         WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        vec![],
    )
    .await
    .iter()
    .map(|r| (get(r, "name"), get(r, "sql")))
    .collect()
}

/// The data folder's `cortex.db`, opened to read and change it as a test
/// does (not read-only).
pub async fn open_db(data: &Path) -> DatabaseConnection {
    cortex_migrate::connect::open_sqlite_file(&data.join("cortex.db"), false)
        .await
        .unwrap_or_else(|e| panic!("opening {}: {e}", data.join("cortex.db").display()))
}

/// Runs a test's own SQL on `db` (a change made to a fixture).
pub async fn exec(db: &DatabaseConnection, sql: &str) {
    db.execute_raw(Statement::from_string(DbBackend::Sqlite, sql))
        .await
        .unwrap_or_else(|e| panic!("test SQL failed: {sql}: {e}"));
}

/// The paths whose entry differs between two [`tree`]s of one folder:
/// changed, gone or new.
pub fn tree_changes<'a>(
    before: &'a BTreeMap<String, String>,
    after: &'a BTreeMap<String, String>,
) -> impl Iterator<Item = &'a String> {
    before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(*v))
        .map(|(k, _)| k)
        .chain(after.keys().filter(|k| !before.contains_key(*k)))
}

/// Every file and folder under `dir` (relative path with `/` ->
/// sha256 hex, `"<dir>"`, or `"<symlink -> target>"`), skipping anything
/// named `.cortex-migrate` (the migrator's own journal, locks and trash)
/// but its `archive/`, where steps set the user's files aside.
/// Symlinks are not followed.
pub fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("tree: reading {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("tree: reading {}: {e}", dir.display()));
        if entry.file_name() == ".cortex-migrate" {
            // The migrator's own state, except what a step set aside: that
            // is the user's data.
            let archive = entry.path().join("archive");
            if archive.is_dir() {
                let rel = archive
                    .strip_prefix(root)
                    .expect("walked path is under the root");
                out.insert(rel.to_string_lossy().replace('\\', "/"), "<dir>".to_owned());
                walk(root, &archive, out);
            }
            continue;
        }
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .expect("walked path is under the root")
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let meta = std::fs::symlink_metadata(&path)
            .unwrap_or_else(|e| panic!("tree: stat {}: {e}", path.display()));
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)
                .unwrap_or_else(|e| panic!("tree: readlink {}: {e}", path.display()));
            out.insert(rel, format!("<symlink -> {}>", target.display()));
        } else if meta.is_dir() {
            out.insert(rel, "<dir>".to_owned());
            walk(root, &path, out);
        } else {
            out.insert(rel, format!("{:x}", Sha256::digest(bytes(&path))));
        }
    }
}

/// Every file and folder under `dir`, the migrator's state folder and the
/// database file included, each with its modification time (files also
/// with their sha256, symlinks with their target): two equal results mean
/// nothing under `dir` was written, created or removed in between (a file
/// created and removed again still changes its folder's time).
pub fn every_entry(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    walk_all(dir, dir, &mut out);
    out
}

fn walk_all(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("tree: reading {}: {e}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|e| panic!("tree: reading {}: {e}", dir.display()));
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .expect("walked path is under the root")
            .to_string_lossy()
            .into_owned();
        let meta = std::fs::symlink_metadata(&path)
            .unwrap_or_else(|e| panic!("tree: stat {}: {e}", path.display()));
        let mtime = meta
            .modified()
            .unwrap_or_else(|e| panic!("tree: mtime of {}: {e}", path.display()));
        let what = if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path)
                .unwrap_or_else(|e| panic!("tree: readlink {}: {e}", path.display()));
            format!("<symlink -> {}>", target.display())
        } else if meta.is_dir() {
            walk_all(root, &path, out);
            "<dir>".to_owned()
        } else {
            format!("{:x}", Sha256::digest(bytes(&path)))
        };
        out.insert(rel, format!("{what} modified {mtime:?}"));
    }
}

/// The exact bytes of a file.
pub fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Copies the folder `from` to `to` as `cp -a` does: modes, times, hard
/// links and symlinks kept, so that a test can reset a folder between runs.
pub fn copy_tree(from: &Path, to: &Path) {
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("running cp");
    assert!(st.success(), "cp -a {} {}", from.display(), to.display());
}

/// The `cortex-migrate` binary Cargo built for this test run.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cortex-migrate"))
}

/// Runs the binary on a data folder, with `CORTEX_MIGRATE_FAULT=fault` and
/// the boundary log at `log` when given, no fault settings inherited, and
/// no terminal on stdin.
pub fn cli_with(
    data: &Path,
    args: &[&str],
    fault: Option<String>,
    log: Option<&Path>,
) -> std::process::Output {
    cli_env(data, args, fault, log, &[])
}

/// [`cli_with`], and with every change to the disk logged to the folder
/// `fs_log` when given (`CORTEX_MIGRATE_FS_LOG`, read by `power_cut`).
pub fn cli_recorded(
    data: &Path,
    args: &[&str],
    fault: Option<String>,
    log: Option<&Path>,
    fs_log: Option<&Path>,
) -> std::process::Output {
    let fs_log = fs_log.map(|l| l.to_str().expect("test paths are UTF-8"));
    let env: Vec<(&str, &str)> = fs_log
        .into_iter()
        .map(|l| ("CORTEX_MIGRATE_FS_LOG", l))
        .collect();
    cli_env(data, args, fault, log, &env)
}

/// [`cli_with`], and the variables `env` set (e.g.
/// `CORTEX_MIGRATE_FORCE_COPY`, which is never inherited either).
pub fn cli_env(
    data: &Path,
    args: &[&str],
    fault: Option<String>,
    log: Option<&Path>,
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut cmd = cli_command(data, args);
    cmd.envs(env.iter().copied());
    if let Some(f) = fault {
        cmd.env("CORTEX_MIGRATE_FAULT", f);
    }
    if let Some(l) = log {
        cmd.env("CORTEX_MIGRATE_FAULT_LOG", l);
    }
    cmd.output().expect("running cortex-migrate")
}

/// The binary on a data folder, not started yet: the fixture's home, no
/// fault settings inherited, no terminal on stdin.
pub fn cli_command(data: &Path, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin());
    cmd.arg("--data-dir").arg(data).args(args);
    // The fixture's home, never this machine's: the `.cortexrc` that
    // belongs to the data folder is looked for there.
    if let Some(home) = data.parent() {
        cmd.env("HOME", home)
            .env_remove("USERPROFILE")
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_DATA_HOME")
            .env_remove("CORTEX_VARIANT")
            .env_remove("ENGINE_PATH");
    }
    cmd.env_remove("CORTEX_MIGRATE_FAULT")
        .env_remove("CORTEX_MIGRATE_FAULT_LOG")
        .env_remove("CORTEX_MIGRATE_PAUSE")
        .env_remove("CORTEX_MIGRATE_FS_LOG")
        .env_remove("CORTEX_MIGRATE_FORCE_COPY")
        .stdin(std::process::Stdio::null());
    cmd
}

/// Runs the binary on a data folder (see [`cli_with`]).
pub fn cli(data: &Path, args: &[&str]) -> std::process::Output {
    cli_with(data, args, None, None)
}

/// The ids of the folder's backups, newest first (`backups list --json`).
pub fn backup_ids(data: &Path) -> Vec<String> {
    let out = ok(&cli(data, &["backups", "list", "--json"]));
    let list: serde_json::Value = serde_json::from_str(&out).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

/// The stdout of a run that must succeed (its stderr in the panic if not).
pub fn ok(o: &std::process::Output) -> String {
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}
