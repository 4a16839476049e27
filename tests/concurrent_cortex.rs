//! Cortex running while `cortex-migrate` migrates its data folder: a second
//! real process opens `cortex.db` as cortex.cpp does and adds models to it
//! in short transactions *between* the steps of `up` and `down`.
//!
//! How cortex.cpp writes (janhq/cortex.cpp at ee9e0ad5, July 2025):
//! - one connection for the whole process, `SQLite::Database(
//!   GetCortexDataPath() / "cortex.db", OPEN_READWRITE | OPEN_CREATE)`
//!   (`engine/database/database.h`); SQLiteCpp's busy timeout defaults to
//!   0 (`Database(const char*, int aFlags, int aBusyTimeoutMs = 0, ...)`),
//!   and cortex.cpp never sets one nor a journal mode (no `PRAGMA`,
//!   `busyTimeout` or `setBusyTimeout` under `engine/`): rollback journal
//!   (`DELETE`), and `SQLITE_BUSY` at once when another process holds the
//!   write lock;
//! - `Models::AddModelEntry` (`engine/database/models.cc`): `BEGIN
//!   TRANSACTION;` (deferred), the whole model list read, `INSERT INTO
//!   models (...)`, `COMMIT;` from a scope guard. A `SQLite::Exception`
//!   (`database is locked`) is caught and returned as the call's error:
//!   no retry, the model's files stay on disk without a row.
//!
//! The writer here ([`cortex_writer`], this test binary run again as a
//! child) does the same over sqlx: its own connection to the file, busy
//! timeout 0, no journal mode set, foreign keys off (SQLite's default,
//! which sqlx would otherwise change), the same statements; it fails as
//! cortex.cpp fails. It writes the model's `model.gguf` and `model.yml`
//! first, as a pull does, then its row, with the columns the table has at
//! that moment among those cortex.cpp knows.
//!
//! "Between steps" is made exact by `CORTEX_MIGRATE_PAUSE` (the
//! fault-injection build's pause after each step's commit): at every pause
//! the test has the writer add a model, then lets the run go on.

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use migration::Migrator;
use migration::toolkit::StepList;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::sqlx::{Connection, Row, SqliteConnection};

const WRITER_DB: &str = "CONCURRENT_CORTEX_WRITER_DB";
const WRITER_TEST: &str = "cortex_writer";

const RELATIVE: &str = "m20261126_000001_relative_model_paths";
const RENAME: &str = "m20261126_000002_rename_legacy_engines";
const BACKFILL: &str = "m20261126_000003_backfill_weights_bytes";

/// The `models` columns cortex.cpp writes (v0..v3), in its `INSERT` order.
const CORTEX_COLUMNS: [&str; 10] = [
    "model_id",
    "author_repo_id",
    "branch_name",
    "path_to_model_yaml",
    "model_alias",
    "model_format",
    "model_source",
    "status",
    "engine",
    "metadata",
];

/// How the running Cortex lays a model down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    /// A cortex.cpp from before #1399 and #1406 (October 2024): absolute
    /// paths in the row and in `files:`, engine `cortex.llamacpp`.
    Old,
    /// A cortex.cpp from after: paths relative to the data folder, engine
    /// `llama-cpp`.
    New,
}

impl Style {
    fn word(self) -> &'static str {
        match self {
            Style::Old => "old",
            Style::New => "new",
        }
    }

    fn engine(self) -> &'static str {
        match self {
            Style::Old => "cortex.llamacpp",
            Style::New => "llama-cpp",
        }
    }
}

/// Where a model the writer pulls lives, relative to the data folder.
fn model_dir(id: &str) -> String {
    format!("models/cortex.so/{id}/main")
}

/// The weights the writer puts down for `id` (their size is what the
/// backfill step must find).
fn weights(id: &str) -> Vec<u8> {
    format!("GGUF weights of {id}\n")
        .repeat(64 + id.len())
        .into_bytes()
}

/// `model.yml` as cortex.cpp's `YamlHandler::WriteYamlFile` lays it out,
/// cut to the fields the steps read.
fn yml_text(id: &str, files: &str, engine: &str) -> String {
    format!(
        "# BEGIN GENERAL GGUF METADATA
id: {id} # Model ID unique between models (author / quantization)
model: {id} # Model ID which is used for request construct - should be unique between models (author / quantization)
name: {id} # metadata.general.name
version: 1
files:             # Can be relative OR absolute local file path
  - {files}
# END GENERAL GGUF METADATA

# BEGIN INFERENCE PARAMETERS
# BEGIN REQUIRED
stop:                # tokenizer.ggml.eos_token_id
  - </s>
# END REQUIRED
# END INFERENCE PARAMETERS

# BEGIN MODEL LOAD PARAMETERS
# BEGIN REQUIRED
engine: {engine} # engine to run model
# END REQUIRED
# END MODEL LOAD PARAMETERS
"
    )
}

/// The stored paths of a model: (`path_to_model_yaml`, `files:` entry).
fn stored_paths(data: &Path, id: &str, style: Style) -> (String, String) {
    let dir = model_dir(id);
    match style {
        Style::Old => (
            data.join(&dir).join("model.yml").display().to_string(),
            data.join(&dir).join("model.gguf").display().to_string(),
        ),
        Style::New => (format!("{dir}/model.yml"), format!("{dir}/model.gguf")),
    }
}

/// The values cortex.cpp's pull binds for `column`.
fn value_of(data: &Path, id: &str, style: Style, column: &str) -> String {
    match column {
        "model_id" | "model_alias" => id.to_owned(),
        "author_repo_id" => "cortexso".into(),
        "branch_name" => "main".into(),
        "path_to_model_yaml" => stored_paths(data, id, style).0,
        "model_format" => "cortexso".into(),
        "model_source" => format!("https://huggingface.co/cortexso/{id}"),
        "status" => "downloaded".into(),
        "engine" => style.engine().into(),
        "metadata" => format!("{{\"id\":\"cortexso/{id}\"}}"),
        other => panic!("cortex.cpp writes no column {other}"),
    }
}

/// The Cortex-like writer, run as a child process by the tests below with
/// `CONCURRENT_CORTEX_WRITER_DB` naming `cortex.db`. It keeps one
/// connection open, as cortex.cpp does, and obeys lines on stdin:
/// `insert ID old|new` (a pull: files, then the row; answers `committed`
/// or `failed: <error>`), `hold ID old|new` (the same, but the transaction
/// stays open after the `INSERT`, holding the write lock, until `release`),
/// `quit`.
#[tokio::test]
#[ignore = "the Cortex-like writer, a child process of the tests below; does nothing on its own"]
async fn cortex_writer() {
    let Some(db) = std::env::var_os(WRITER_DB) else {
        return;
    };
    let db = PathBuf::from(db);
    let data = db
        .parent()
        .expect("cortex.db is in its data folder")
        .to_owned();
    let opts = SqliteConnectOptions::new()
        .filename(&db)
        .create_if_missing(true)
        .busy_timeout(Duration::ZERO)
        .foreign_keys(false);
    let mut conn = SqliteConnection::connect_with(&opts)
        .await
        .expect("opening cortex.db as cortex.cpp does");
    let mut lines = std::io::stdin().lock().lines();
    while let Some(Ok(line)) = lines.next() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let (hold, id, style) = match words[..] {
            ["quit"] => break,
            ["loop", prefix, stop] => {
                let lists = pull_until(&mut conn, &data, prefix, Path::new(stop)).await;
                println!("writer: {}", lists.map(|l| l.join(",")).join(" | "));
                continue;
            }
            [verb @ ("insert" | "hold"), id, style] => (
                verb == "hold",
                id.to_owned(),
                if style == "old" {
                    Style::Old
                } else {
                    Style::New
                },
            ),
            _ => panic!("writer: unknown command {line:?}"),
        };
        pull_files(&data, &id, style);
        let columns = match add_model(&mut conn, &data, &id, style).await {
            Ok(columns) => columns,
            Err(e) => {
                // cortex.cpp's scope guard commits whatever is open; here
                // only the read part can be.
                let _ = sqlx_exec(&mut conn, "COMMIT;").await;
                println!("writer: failed: {e}");
                continue;
            }
        };
        if hold {
            println!("writer: holding");
            match lines.next() {
                Some(Ok(l)) if l.trim() == "release" => {}
                other => panic!("writer: expected release, got {other:?}"),
            }
        }
        match commit(&mut conn).await {
            Ok(()) => println!("writer: committed {}", columns.join(",")),
            Err(e) => println!("writer: failed: {e}"),
        }
    }
    conn.close().await.expect("closing cortex.db");
}

/// Pulls models `PREFIX-0`, `PREFIX-1`, ... one after the other until the
/// file `stop` exists: the ids whose row committed, those whose write
/// failed before its `COMMIT;` and those whose `COMMIT;` failed (each with
/// `database is locked`, as cortex.cpp reports it).
async fn pull_until(
    conn: &mut SqliteConnection,
    data: &Path,
    prefix: &str,
    stop: &Path,
) -> [Vec<String>; 3] {
    let [mut committed, mut failed, mut at_commit] = [Vec::new(), Vec::new(), Vec::new()];
    for n in 0.. {
        if stop.exists() {
            break;
        }
        let id = format!("{prefix}-{n}");
        pull_files(data, &id, Style::Old);
        let (outcome, list) = match add_model(conn, data, &id, Style::Old).await {
            Ok(_) => (commit(conn).await, &mut at_commit),
            Err(e) => {
                let _ = sqlx_exec(conn, "COMMIT;").await;
                (Err(e), &mut failed)
            }
        };
        match outcome {
            Ok(()) => committed.push(id),
            Err(e) => {
                assert!(
                    e.to_string().contains("database is locked"),
                    "{id}: not a lock: {e}"
                );
                list.push(id);
            }
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    [committed, failed, at_commit]
}

/// The scope guard's `COMMIT;`. When it fails (the migrator reads at that
/// moment, so SQLite cannot take the exclusive lock a commit needs, and
/// the busy timeout is 0), cortex.cpp's guard throws from a destructor;
/// here the transaction is rolled back so that the writer can go on, and
/// the write counts as failed.
async fn commit(conn: &mut SqliteConnection) -> Result<(), sea_orm::sqlx::Error> {
    let outcome = sqlx_exec(conn, "COMMIT;").await;
    if outcome.is_err() {
        let _ = sqlx_exec(conn, "ROLLBACK;").await;
    }
    outcome
}

/// What a pull puts on disk before it adds the row.
fn pull_files(data: &Path, id: &str, style: Style) {
    let dir = data.join(model_dir(id));
    std::fs::create_dir_all(&dir).expect("creating the model folder");
    std::fs::write(dir.join("model.gguf"), weights(id)).expect("writing the weights");
    let (_, files) = stored_paths(data, id, style);
    std::fs::write(dir.join("model.yml"), yml_text(id, &files, style.engine()))
        .expect("writing model.yml");
}

/// `Models::AddModelEntry` up to its `COMMIT`: `BEGIN TRANSACTION;`, the
/// model list, the `INSERT` of the columns the table has.
async fn add_model(
    conn: &mut SqliteConnection,
    data: &Path,
    id: &str,
    style: Style,
) -> Result<Vec<&'static str>, sea_orm::sqlx::Error> {
    sqlx_exec(conn, "BEGIN TRANSACTION;").await?;
    let present: Vec<String> = sea_orm::sqlx::query("SELECT name FROM pragma_table_info('models')")
        .fetch_all(&mut *conn)
        .await?
        .iter()
        .map(|r| r.get::<String, _>(0))
        .collect();
    sea_orm::sqlx::query("SELECT model_id, path_to_model_yaml FROM models")
        .fetch_all(&mut *conn)
        .await?;
    let columns: Vec<&str> = CORTEX_COLUMNS
        .into_iter()
        .filter(|c| present.iter().any(|p| p == c))
        .collect();
    let sql = format!(
        "INSERT INTO models ({}) VALUES ({})",
        columns.join(", "),
        vec!["?"; columns.len()].join(", ")
    );
    // Built from `CORTEX_COLUMNS` only; the values are bound.
    let mut insert = sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(sql));
    for c in &columns {
        insert = insert.bind(value_of(data, id, style, c));
    }
    insert.execute(&mut *conn).await?;
    Ok(columns)
}

async fn sqlx_exec(
    conn: &mut SqliteConnection,
    sql: &'static str,
) -> Result<(), sea_orm::sqlx::Error> {
    sea_orm::sqlx::raw_sql(sql).execute(&mut *conn).await?;
    Ok(())
}

/// The writer child, seen from the test.
struct Writer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Writer {
    fn start(data: &Path) -> Writer {
        let exe = std::env::current_exe().expect("the test binary");
        let mut child = Command::new(exe)
            .args([WRITER_TEST, "--exact", "--ignored", "--nocapture"])
            .args(["--test-threads=1"])
            .env(WRITER_DB, data.join("cortex.db"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("starting the writer");
        let stdin = child.stdin.take().expect("the writer's stdin");
        let stdout = BufReader::new(child.stdout.take().expect("the writer's stdout"));
        Writer {
            child,
            stdin,
            stdout,
        }
    }

    /// Sends `line` and returns the writer's answer (after `writer: `).
    fn ask(&mut self, line: &str) -> String {
        self.send(line);
        self.answer()
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("writing to the writer");
        self.stdin.flush().expect("flushing to the writer");
    }

    /// The writer's next answer (after `writer: `).
    fn answer(&mut self) -> String {
        let mut answer = String::new();
        loop {
            answer.clear();
            let n = self
                .stdout
                .read_line(&mut answer)
                .expect("reading the writer");
            assert!(n > 0, "the writer ended before it answered");
            // The harness may have printed the test's name on the same
            // line, without its end.
            if let Some((_, rest)) = answer.trim().split_once("writer: ") {
                return rest.to_owned();
            }
        }
    }

    /// Has the writer pull a model: the columns its committed row has
    /// values in, or why it failed.
    fn insert(&mut self, id: &str, style: Style) -> Result<Vec<String>, String> {
        committed(self.ask(&format!("insert {id} {}", style.word())))
    }
}

/// The columns a `committed` answer lists, or the failure.
fn committed(answer: String) -> Result<Vec<String>, String> {
    match answer.strip_prefix("committed ") {
        Some(columns) => Ok(columns.split(',').map(str::to_owned).collect()),
        None => Err(answer),
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        let _ = self.child.wait();
    }
}

/// A model the writer added, and the steps applied when its row committed.
#[derive(Debug)]
struct Added {
    id: String,
    style: Style,
    /// The columns the writer gave values (the others the table had later).
    columns: Vec<String>,
    applied_then: Vec<String>,
}

/// The versions applied now (none before the history exists).
async fn applied(data: &Path) -> Vec<String> {
    let mut conn = read_only(data).await;
    let versions = sea_orm::sqlx::query("SELECT version FROM seaql_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .map(|rows| rows.iter().map(|r| r.get::<String, _>(0)).collect())
        .unwrap_or_default();
    conn.close().await.expect("closing the reader");
    versions
}

async fn read_only(data: &Path) -> SqliteConnection {
    let opts = SqliteConnectOptions::new()
        .filename(data.join("cortex.db"))
        .read_only(true);
    SqliteConnection::connect_with(&opts)
        .await
        .expect("opening cortex.db to read")
}

/// What a finished run of the binary left: its exit, output and how many
/// times it paused between steps.
struct Run {
    output: std::process::Output,
    pauses: usize,
}

/// Runs the binary on `data` with a pause after every step's commit; at
/// each pause `between(k, applied)` runs while nothing holds the database
/// (`applied`: the steps applied at that moment), then the run goes on.
async fn run_paused(
    data: &Path,
    args: &[&str],
    mut between: impl FnMut(usize, Vec<String>),
) -> Run {
    let pause = tempfile::tempdir().expect("a pause folder");
    let out = pause.path().join("stdout");
    let err = pause.path().join("stderr");
    let mut child = common::cli_command(data, args)
        .env("CORTEX_MIGRATE_PAUSE", pause.path())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("starting cortex-migrate");
    let started = Instant::now();
    let mut k = 1;
    let status = loop {
        if pause.path().join(format!("paused-{k}")).exists() {
            between(k, applied(data).await);
            std::fs::write(pause.path().join(format!("resume-{k}")), "").expect("resuming");
            k += 1;
            continue;
        }
        if let Some(status) = child.try_wait().expect("waiting for cortex-migrate") {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "cortex-migrate {args:?} did not end"
        );
        std::thread::sleep(Duration::from_millis(2));
    };
    Run {
        output: std::process::Output {
            status,
            stdout: std::fs::read(&out).expect("reading stdout"),
            stderr: std::fs::read(&err).expect("reading stderr"),
        },
        pauses: k - 1,
    }
}

/// Every `models` row by id: column name to value (`NULL` as `None`).
async fn model_rows(data: &Path) -> BTreeMap<String, BTreeMap<String, Option<String>>> {
    let mut conn = read_only(data).await;
    let rows = sea_orm::sqlx::query("SELECT * FROM models")
        .fetch_all(&mut conn)
        .await
        .expect("reading models");
    conn.close().await.expect("closing the reader");
    rows.iter()
        .map(|r| {
            let cells: BTreeMap<String, Option<String>> = r
                .columns()
                .iter()
                .map(|c| {
                    use sea_orm::sqlx::Column;
                    let name = c.name().to_owned();
                    let v = r
                        .try_get::<Option<String>, _>(c.ordinal())
                        .or_else(|_| {
                            r.try_get::<Option<i64>, _>(c.ordinal())
                                .map(|v| v.map(|v| v.to_string()))
                        })
                        .unwrap_or_else(|e| panic!("reading models.{name}: {e}"));
                    (name, v)
                })
                .collect();
            let id = cells["model_id"].clone().expect("a model_id");
            (id, cells)
        })
        .collect()
}

/// Checks that `added`'s row and files went through exactly the steps
/// applied after it committed, as every row there before did: the stored
/// path made relative by the relative-paths step, the engine renamed by
/// the rename step, the weights counted by the backfill, all other cells
/// as the writer wrote them.
fn assert_carried(
    data: &Path,
    added: &Added,
    row: &BTreeMap<String, Option<String>>,
    applied_now: &[String],
) {
    let id = &added.id;
    let ran_after = |step: &str| {
        applied_now.iter().any(|a| a == step) && !added.applied_then.iter().any(|a| a == step)
    };
    let relative = added.style == Style::New || ran_after(RELATIVE);
    let engine = if ran_after(RENAME) {
        "llama-cpp"
    } else {
        added.style.engine()
    };
    let (path, files) = stored_paths(data, id, if relative { Style::New } else { Style::Old });
    for c in CORTEX_COLUMNS {
        let Some(got) = row.get(c) else { continue };
        let want = match c {
            _ if !added.columns.iter().any(|w| w == c) => None,
            "path_to_model_yaml" => Some(path.clone()),
            "engine" => Some(engine.to_owned()),
            _ => Some(value_of(data, id, added.style, c)),
        };
        assert_eq!(got, &want, "model {id}: {c}");
    }
    if applied_now.iter().any(|a| a == BACKFILL) {
        let want = ran_after(BACKFILL).then(|| weights(id).len().to_string());
        assert_eq!(row["weights_bytes"], want, "model {id}: weights_bytes");
    }
    let dir = data.join(model_dir(id));
    assert_eq!(
        std::fs::read_to_string(dir.join("model.yml")).expect("reading model.yml"),
        yml_text(id, &files, engine),
        "model {id}: model.yml"
    );
    assert_eq!(
        common::bytes(&dir.join("model.gguf")),
        weights(id),
        "model {id}: weights"
    );
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `up` from a cortex.cpp v1 folder, all steps, with the writer adding a
/// model (the way a cortex.cpp of that time pulls one) before the run and
/// after every step: each row is carried forward by every step after it,
/// exactly like the rows that were there, and none is lost or half
/// written; `verify` is clean. Then `down --to 0` with the writer adding a
/// model (as the newer cortex.cpp does) after every step: every row is
/// kept (archived with its table by the last step) and every model.yml is
/// back to the bytes the writer wrote.
#[tokio::test]
async fn rows_cortex_writes_between_steps_are_carried_by_every_later_step() {
    let fx = common::cortex_folder(1).await;
    let data = fx.data.clone();
    let before: Vec<String> = model_rows(&data).await.into_keys().collect();
    let mut writer = Writer::start(&data);
    let mut added = Vec::new();
    let columns = writer
        .insert("w-up-0", Style::Old)
        .expect("nothing else writes before the run");
    added.push(Added {
        id: "w-up-0".into(),
        style: Style::Old,
        columns,
        applied_then: Vec::new(),
    });

    let started = Instant::now();
    let run = run_paused(&data, &["up"], |k, applied_then| {
        let id = format!("w-up-{k}");
        let columns = writer
            .insert(&id, Style::Old)
            .unwrap_or_else(|e| panic!("{id} between steps: {e}"));
        added.push(Added {
            id,
            style: Style::Old,
            columns,
            applied_then,
        });
    })
    .await;
    let up_time = started.elapsed();
    common::ok(&run.output);
    let applied_now = applied(&data).await;
    let steps: Vec<String> = Migrator::steps()
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    assert_eq!(applied_now, steps, "up did not apply every step");
    // Adopted steps (v0, v1) are not run, so they do not pause.
    assert_eq!(run.pauses, steps.len() - 2, "a step did not pause");

    let rows = model_rows(&data).await;
    let mut want_ids: Vec<String> = before.clone();
    want_ids.extend(added.iter().map(|a| a.id.clone()));
    want_ids.sort();
    assert_eq!(rows.keys().cloned().collect::<Vec<_>>(), want_ids);
    for a in &added {
        assert_carried(&data, a, &rows[&a.id], &applied_now);
    }
    // The row added before the run went through every step, as the
    // fixture's own absolute, legacy-named model did.
    let first = &rows["w-up-0"];
    assert!(
        !first["path_to_model_yaml"]
            .as_deref()
            .unwrap()
            .starts_with('/')
    );
    assert_eq!(first["engine"].as_deref(), Some("llama-cpp"));
    assert_eq!(
        rows[common::TINYLLAMA]["engine"].as_deref(),
        Some("llama-cpp")
    );
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());
    println!(
        "up: {} steps, {} models added between them, {:?}",
        steps.len(),
        added.len(),
        up_time
    );

    let ymls_written: BTreeMap<String, String> = added
        .iter()
        .map(|a| {
            let (_, files) = stored_paths(&data, &a.id, a.style);
            (a.id.clone(), yml_text(&a.id, &files, a.style.engine()))
        })
        .collect();
    let mut down_added = Vec::new();
    let mut down_failed = Vec::new();
    let run = run_paused(&data, &["down", "--to", "0", "--yes"], |k, _| {
        let id = format!("w-down-{k}");
        match writer.insert(&id, Style::New) {
            Ok(_) => down_added.push(id),
            Err(e) => down_failed.push((id, e)),
        }
    })
    .await;
    common::ok(&run.output);
    assert_eq!(run.pauses, steps.len(), "a step did not pause");
    assert_eq!(applied(&data).await, Vec::<String>::new());
    // Only after the last step, which archived `models`, has Cortex no
    // table to write to, and it fails as cortex.cpp does, writing nothing.
    assert_eq!(down_added.len(), steps.len() - 1, "{down_failed:?}");
    assert_eq!(down_failed.len(), 1);
    assert!(
        down_failed[0].1.contains("no such table: models"),
        "{down_failed:?}"
    );
    let archived = archived_models(&data).await;
    for a in &added {
        let (path, _) = stored_paths(&data, &a.id, a.style);
        assert_eq!(
            archived.get(&a.id).map(String::as_str),
            Some(path.as_str()),
            "model {} after down",
            a.id
        );
        let dir = data.join(model_dir(&a.id));
        assert_eq!(
            std::fs::read_to_string(dir.join("model.yml")).expect("reading model.yml"),
            ymls_written[&a.id],
            "model {}: model.yml after down",
            a.id
        );
    }
    for id in &down_added {
        let (path, files) = stored_paths(&data, id, Style::New);
        assert_eq!(archived.get(id).map(String::as_str), Some(path.as_str()));
        let yml = data.join(model_dir(id)).join("model.yml");
        assert_eq!(
            std::fs::read_to_string(yml).expect("reading model.yml"),
            yml_text(id, &files, Style::New.engine())
        );
    }
    for id in &before {
        assert!(archived.contains_key(id), "model {id} lost by down");
    }
    assert_eq!(
        archived.len(),
        before.len() + added.len() + down_added.len()
    );
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());
}

/// `models` as `down --to 0` keeps it: model id to `path_to_model_yaml`.
async fn archived_models(data: &Path) -> BTreeMap<String, String> {
    let mut conn = read_only(data).await;
    let rows =
        sea_orm::sqlx::query("SELECT model_id, path_to_model_yaml FROM cortex_archive_v0_models")
            .fetch_all(&mut conn)
            .await
            .expect("reading the archived models");
    conn.close().await.expect("closing the reader");
    rows.iter()
        .map(|r| (r.get::<String, _>(0), r.get::<String, _>(1)))
        .collect()
}

/// A Cortex in the middle of a write when `up` starts (its transaction
/// holds SQLite's write lock): the run waits its busy timeout, then stops
/// with the "is Cortex running?" error and nothing changed. Once Cortex
/// commits, the next `up` carries its row through every step.
#[tokio::test]
async fn a_run_that_cannot_get_the_write_lock_stops_before_changing_anything() {
    let fx = common::cortex_folder(1).await;
    let mut writer = Writer::start(&fx.data);
    assert_eq!(writer.ask("hold w-held old"), "holding");
    let before = common::tree(&fx.home);
    let started = Instant::now();
    let o = common::cli(&fx.data, &["up"]);
    let waited = started.elapsed();
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(
        err.contains("locked by another writer (is Cortex running?)"),
        "{err}"
    );
    assert_eq!(
        common::tree(&fx.home),
        before,
        "the refused run changed files"
    );
    assert_eq!(applied(&fx.data).await, Vec::<String>::new());
    println!("refused after {waited:?}: {}", err.trim());

    let columns = committed(writer.ask("release")).expect("the held write commits");
    common::ok(&common::cli(&fx.data, &["up"]));
    let applied_now = applied(&fx.data).await;
    let held = Added {
        id: "w-held".into(),
        style: Style::Old,
        columns,
        applied_then: Vec::new(),
    };
    assert_carried(
        &fx.data,
        &held,
        &model_rows(&fx.data).await["w-held"],
        &applied_now,
    );
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());
}

/// A Cortex that starts a write between two steps and holds it past the
/// busy timeout: the next step cannot begin, the run stops there with the
/// "is Cortex running?" error, the steps before it committed and whole
/// (`verify` clean), the step after it not begun. Once Cortex commits, the
/// next `up` goes on from there and carries the row through the steps
/// still to run, not through the ones before it.
#[tokio::test]
async fn a_write_held_between_steps_stops_the_run_between_them() {
    let fx = common::cortex_folder(1).await;
    let mut writer = Writer::start(&fx.data);
    let mut held_at = None;
    let run = run_paused(&fx.data, &["up"], |_, applied_then| {
        if held_at.is_none() && applied_then.last().map(String::as_str) == Some(RELATIVE) {
            assert_eq!(writer.ask("hold w-held old"), "holding");
            held_at = Some(applied_then);
        }
    })
    .await;
    let err = stderr(&run.output);
    assert_eq!(run.output.status.code(), Some(3), "{err}");
    assert!(
        err.contains(RENAME) && err.contains("locked by another writer (is Cortex running?)"),
        "{err}"
    );
    let applied_then = held_at.expect("the run paused after the relative-paths step");
    assert_eq!(
        applied(&fx.data).await,
        applied_then,
        "a step past the lock ran"
    );
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());
    println!("stopped between steps: {}", err.trim());

    let columns = committed(writer.ask("release")).expect("the held write commits");
    common::ok(&common::cli(&fx.data, &["up"]));
    let held = Added {
        id: "w-held".into(),
        style: Style::Old,
        columns,
        applied_then,
    };
    let applied_now = applied(&fx.data).await;
    assert_carried(
        &fx.data,
        &held,
        &model_rows(&fx.data).await["w-held"],
        &applied_now,
    );
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());
}

/// The writer pulls models one after the other, as fast as it can, the
/// whole time `up` runs, with no pause: whatever the interleaving, `up`
/// succeeds; a write that meets a step's transaction fails at once with
/// `database is locked` (cortex.cpp's busy timeout is 0) and leaves no
/// row; every row that committed is there, whole: its stored path, its
/// model.yml's `files:` and `engine:` and its `weights_bytes` agree with
/// one point of the run (each step either carried it or came before it);
/// `verify` is clean.
#[tokio::test]
async fn a_cortex_writing_all_through_up_loses_nothing_that_committed() {
    let fx = common::cortex_folder(1).await;
    let data = fx.data.clone();
    let stop = fx.home.join("stop-writing");
    let before = model_rows(&data).await.len();
    let mut writer = Writer::start(&data);
    writer.send(&format!("loop w {}", stop.display()));
    // Let it commit a few before the run starts.
    while model_rows(&data).await.len() < before + 3 {
        std::thread::sleep(Duration::from_millis(5));
    }
    let o = common::cli(&data, &["up"]);
    std::fs::write(&stop, "").expect("stopping the writer");
    let answer = writer.answer();
    common::ok(&o);
    let lists: Vec<Vec<&str>> = answer
        .split('|')
        .map(|l| l.trim().split(',').filter(|s| !s.is_empty()).collect())
        .collect();
    let [committed, before_commit, at_commit] = &lists[..] else {
        panic!("the loop's answer: {answer}");
    };
    let failed: Vec<&str> = before_commit.iter().chain(at_commit).copied().collect();
    let rows = model_rows(&data).await;
    for id in &failed {
        assert!(!rows.contains_key(*id), "{id} failed but has a row");
    }
    for id in committed {
        let row = rows
            .get(*id)
            .unwrap_or_else(|| panic!("{id} committed but is gone"));
        let stored = row["path_to_model_yaml"].clone().expect("a path");
        let relative = !stored.starts_with('/');
        let engine = row["engine"].clone().expect("an engine");
        let (path, files) = stored_paths(&data, id, if relative { Style::New } else { Style::Old });
        assert_eq!(stored, path, "{id}");
        let dir = data.join(model_dir(id));
        assert_eq!(
            std::fs::read_to_string(dir.join("model.yml")).expect("reading model.yml"),
            yml_text(id, &files, &engine),
            "{id}: model.yml disagrees with its row"
        );
        // The steps run in this order: a row there for the relative paths
        // was there for the rename after it, and for the backfill after
        // that.
        let renamed = engine == "llama-cpp";
        let counted = row["weights_bytes"].is_some();
        assert!(!relative || renamed, "{id}: made relative but not renamed");
        assert!(!renamed || counted, "{id}: renamed but not counted");
        if counted {
            assert_eq!(
                row["weights_bytes"].clone(),
                Some(weights(id).len().to_string()),
                "{id}"
            );
        }
    }
    assert_eq!(rows.len(), before + committed.len());
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());
    println!(
        "the writer, before and while up ran: {} writes committed, {} failed with `database is locked` \
         ({} of them at COMMIT)",
        committed.len(),
        failed.len(),
        at_commit.len()
    );
}
