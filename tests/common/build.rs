//! Builders of cortex.cpp-shaped data folders: upgraded installs (each
//! version's DDL run on the previous one, with rows written between
//! upgrades), fresh installs, and the odd states real users end up in
//! (half-run upgrades, several `schema_version` rows, early table forms,
//! foreign tables, a cortex.db that is not SQLite).

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait};

use super::Fixture;
use super::data::{Content, Row};
use super::ddl;

/// What to build. `FixtureSpec::new(v)` is what `cortex_folder(v)` builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixtureSpec {
    /// cortex.cpp schema version, 0..=3.
    pub version: u8,
    /// Started at v0 and upgraded by cortex.cpp (true), or a fresh install
    /// of `version` (false).
    pub upgraded: bool,
    /// Rows and model.yml files use `cortex.llamacpp` / `cortex.onnx`
    /// instead of `llama-cpp` / `onnxruntime`. Engine folders on disk are
    /// named by repository (`engines/cortex.llamacpp`) either way, as
    /// cortex.cpp's `NormalizeEngine` does.
    pub legacy_engine_names: bool,
    /// Extra generated models (`gen-model-N:main`) beyond the standard set.
    pub models: usize,
}

impl FixtureSpec {
    /// An upgraded install at `version` with legacy engine names (it
    /// started at v0, when cortex.cpp used them) and the standard models.
    pub fn new(version: u8) -> Self {
        FixtureSpec {
            version,
            upgraded: true,
            legacy_engine_names: true,
            models: 0,
        }
    }
}

/// How the database is built beyond `FixtureSpec`.
#[derive(Debug, Clone, Copy, Default)]
struct Quirks {
    /// v0 with the earliest DDL for `schema_version` and `hardware`.
    early_v0: bool,
    /// After reaching `version`, run this many statements of the next
    /// version's DDL and stop (as a crash would).
    partial_next: Option<usize>,
}

/// A cortex.cpp-shaped data folder whose cortex.db is at cortex.cpp schema
/// `version` (0..=3), built the way a real install that started at v0 and
/// was upgraded by cortex.cpp would be. Rows and model.yml files use the
/// legacy engine names (`cortex.llamacpp`), which such an install kept.
pub async fn cortex_folder(version: u8) -> Fixture {
    build(FixtureSpec::new(version)).await
}

/// Same, but built like a fresh install of that version: `models` gets all
/// its columns in one `CREATE TABLE`. v1+ fresh installs use the new engine
/// names (`llama-cpp`); v0 ones the legacy names.
pub async fn cortex_folder_fresh_install(version: u8) -> Fixture {
    build(FixtureSpec {
        version,
        upgraded: false,
        legacy_engine_names: version == 0,
        models: 0,
    })
    .await
}

/// A data folder as `spec` describes.
pub async fn build(spec: FixtureSpec) -> Fixture {
    build_with(spec, Quirks::default()).await
}

/// A v(`version`-1) folder where cortex.cpp's v`version` DDL stopped after
/// `added` statements (v1: model_format, model_source, status, engine, then
/// the engines table; v2: models.metadata, then hardware.priority; v3: the
/// files table). `schema_version` still says `version`-1 and no row uses
/// the new columns yet.
pub async fn half_added(version: u8, added: usize) -> Fixture {
    assert!(
        (1..=3).contains(&version),
        "half_added: version {version} is not 1..=3"
    );
    let total = ddl::upgrade(version).len();
    assert!(
        added <= total,
        "half_added: v{version} has only {total} statements, not {added}"
    );
    build_with(
        FixtureSpec::new(version - 1),
        Quirks {
            partial_next: Some(added),
            ..Quirks::default()
        },
    )
    .await
}

/// `cortex_folder(version)` with `schema_version` holding exactly `rows`
/// (older cortex.cpp inserted a row per upgrade and never deleted one; a
/// crash between its DDL and its version write leaves none).
pub async fn with_schema_version_rows(version: u8, rows: &[i64]) -> Fixture {
    let fx = cortex_folder(version).await;
    let conn = fx.connect().await;
    exec(&conn, "DELETE FROM schema_version").await;
    for v in rows {
        exec(
            &conn,
            &format!("INSERT INTO schema_version (version) VALUES ({v})"),
        )
        .await;
    }
    conn.close().await.expect("closing the fixture database");
    fx
}

/// A v0 folder as the earliest cortex.cpp builds made it:
/// `schema_version ( version INTEGER NOT NULL)` and `hardware` with
/// `uuid TEXT NOT NULL` (no primary key anywhere but `models`).
pub async fn early_variants() -> Fixture {
    build_with(
        FixtureSpec::new(0),
        Quirks {
            early_v0: true,
            ..Quirks::default()
        },
    )
    .await
}

/// `cortex_folder(version)` plus a table cortex.cpp never made.
pub async fn with_extra_table(version: u8, ddl: &str) -> Fixture {
    let fx = cortex_folder(version).await;
    let conn = fx.connect().await;
    exec(&conn, ddl).await;
    conn.close().await.expect("closing the fixture database");
    fx
}

/// A v3 data folder whose cortex.db holds bytes that are not SQLite.
pub async fn not_a_database() -> Fixture {
    let fx = cortex_folder(3).await;
    let junk = "This is not a database. cortex.db was overwritten by a bad sync.\n".repeat(64);
    std::fs::write(fx.db_path(), junk).expect("overwriting cortex.db");
    fx
}

async fn build_with(spec: FixtureSpec, quirks: Quirks) -> Fixture {
    assert!(spec.version <= 3, "no cortex.cpp schema v{}", spec.version);
    assert!(
        !quirks.early_v0 || (spec.upgraded && spec.version == 0),
        "the early v0 variant is only built as an upgraded v0"
    );
    let fx = Fixture::empty();
    let content = Content::new(
        &fx.data,
        &fx.outside(),
        spec.legacy_engine_names,
        spec.models,
    );
    content.write_disk(&fx.home, &fx.data, &fx.outside(), spec.version);
    let rows = content.rows();

    let conn = fx.connect().await;
    if spec.upgraded {
        for v in 0..=spec.version {
            let stmts: Vec<&str> = if v == 0 && quirks.early_v0 {
                vec![
                    ddl::EARLY_V0_SCHEMA_VERSION,
                    ddl::V0_MODELS,
                    ddl::EARLY_V0_HARDWARE,
                ]
            } else {
                ddl::upgrade(v).to_vec()
            };
            for sql in stmts {
                exec(&conn, sql).await;
            }
            set_version(&conn, v).await;
            // The server then runs at v and writes what that version knows.
            write_rows(&conn, &rows, v, true).await;
        }
        if let Some(added) = quirks.partial_next {
            for sql in &ddl::upgrade(spec.version + 1)[..added] {
                exec(&conn, sql).await;
            }
        }
    } else {
        for sql in ddl::fresh_install(spec.version) {
            exec(&conn, sql).await;
        }
        set_version(&conn, spec.version).await;
        write_rows(&conn, &rows, spec.version, false).await;
    }
    conn.close().await.expect("closing the fixture database");
    fx
}

pub(crate) async fn exec(conn: &impl ConnectionTrait, sql: &str) {
    conn.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("fixture SQL failed: {sql}: {e}"));
}

/// cortex.cpp's `UpdateSchemaVersion`: insert the new version and delete
/// the old one in one transaction.
async fn set_version(conn: &DatabaseConnection, v: u8) {
    let txn = conn.begin().await.expect("begin");
    exec(
        &txn,
        &format!("INSERT INTO schema_version (version) VALUES ({v})"),
    )
    .await;
    if v > 0 {
        exec(
            &txn,
            &format!("DELETE FROM schema_version WHERE version = {}", v - 1),
        )
        .await;
    }
    txn.commit().await.expect("commit");
}

/// Writes what the server at schema `step` writes: rows that first exist
/// at `step` are inserted with the columns `step` has; with `upgraded`,
/// older rows get the columns `step` added. A fresh install inserts every
/// row that exists at `step`. (One transaction so that thousands of
/// generated models do not cost thousands of fsyncs.)
async fn write_rows(conn: &DatabaseConnection, rows: &[Row], step: u8, upgraded: bool) {
    let txn = conn.begin().await.expect("begin");
    for row in rows {
        if row.since == step || (!upgraded && row.since < step) {
            let cells: Vec<_> = row.cells.iter().filter(|c| c.since <= step).collect();
            let cols: Vec<String> = cells.iter().map(|c| format!("\"{}\"", c.col)).collect();
            let marks = vec!["?"; cells.len()].join(", ");
            let sql = format!(
                "INSERT INTO \"{}\" ({}) VALUES ({marks})",
                row.table,
                cols.join(", ")
            );
            run(&txn, &sql, cells.iter().map(|c| c.val.clone()).collect()).await;
        } else if upgraded && row.since < step {
            let cells: Vec<_> = row.cells.iter().filter(|c| c.since == step).collect();
            if cells.is_empty() {
                continue;
            }
            let key = &row.cells[0];
            let sets: Vec<String> = cells.iter().map(|c| format!("\"{}\" = ?", c.col)).collect();
            let sql = format!(
                "UPDATE \"{}\" SET {} WHERE \"{}\" = ?",
                row.table,
                sets.join(", "),
                key.col
            );
            let mut values: Vec<_> = cells.iter().map(|c| c.val.clone()).collect();
            values.push(key.val.clone());
            run(&txn, &sql, values).await;
        }
    }
    txn.commit().await.expect("commit");
}

async fn run(conn: &impl ConnectionTrait, sql: &str, values: Vec<sea_orm::Value>) {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        values,
    ))
    .await
    .unwrap_or_else(|e| panic!("fixture SQL failed: {sql}: {e}"));
}
