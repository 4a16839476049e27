//! What the migration tests on PostgreSQL and MariaDB (`tests/servers.rs`,
//! `tests/server_folders.rs`) share: the macro that runs each behaviour once
//! per server, the real runner up and down with a data folder, rows in
//! every Cortex table inserted with each server's own quoting, and the
//! entities' rows read around PostgreSQL's 32-bit integers.
// Each test file uses a part of this module.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Output;

use migration::Migrator;
use migration::toolkit::StepList;
use migration::toolkit::runner::{Options, Report, Runner, Target};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, IdenStatic, Iterable,
    QueryOrder, QuerySelect,
};

use crate::servers::Server;

/// Runs each named behaviour once per server, as `postgres::<name>` and
/// `mysql::<name>`.
macro_rules! on_both_servers {
    ($($test:ident),* $(,)?) => {
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Server::Postgres, concat!("postgres::", stringify!($test))).await
                }
            )*
        }
        mod mysql {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Server::MySql, concat!("mysql::", stringify!($test))).await
                }
            )*
        }
    };
}
pub(crate) use on_both_servers;

/// The real steps' names, in order.
pub fn names() -> Vec<String> {
    Migrator::steps()
        .iter()
        .map(|s| s.name().to_owned())
        .collect()
}

pub fn options(data: &Path) -> Options {
    Options {
        data_dir: Some(data.to_path_buf()),
        ..Default::default()
    }
}

pub async fn up(db: &DatabaseConnection, data: &Path, target: Target) -> Report {
    Runner::new(db, Migrator::steps(), options(data))
        .await
        .unwrap()
        .up(target)
        .await
        .unwrap()
}

pub async fn down(db: &DatabaseConnection, data: &Path, target: Target) -> Report {
    Runner::new(db, Migrator::steps(), options(data))
        .await
        .unwrap()
        .down(target)
        .await
        .unwrap()
}

/// A data folder with its real path, so that the absolute paths written
/// into rows and model.yml compare equal to what the migrator resolves.
pub fn data_folder() -> (tempfile::TempDir, PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().canonicalize().unwrap();
    (t, p)
}

/// Inserts one row into `table` with sea-query, so that each server gets
/// its own quoting and placeholders.
pub async fn insert(db: &DatabaseConnection, table: &str, cells: Vec<(&str, Expr)>) {
    let (cols, vals): (Vec<_>, Vec<_>) = cells.into_iter().unzip();
    let stmt = Query::insert()
        .into_table(Alias::new(table))
        .columns(cols.into_iter().map(Alias::new))
        .values_panic(vals)
        .to_owned();
    db.execute(&stmt)
        .await
        .unwrap_or_else(|e| panic!("inserting into {table}: {e}"));
}

pub fn text(s: &str) -> Expr {
    Expr::val(s)
}

pub fn null() -> Expr {
    Expr::val(Option::<String>::None)
}

pub fn null_int() -> Expr {
    Expr::val(Option::<i32>::None)
}

pub const UNICODE_ID: &str = "ünïcødé:模型 🦙";
pub const AWKWARD: &str = "it's \"quoted\"\nand on two lines \\ with a backslash";
/// Above 2^53: a value that a float anywhere on the way would change.
pub const BIG: i64 = 9_007_199_254_740_993;

/// Rows in every Cortex table, with NULLs, unicode, quotes, newlines and
/// integers at their limits; `engines` ids are left to the server.
pub async fn fill_every_table(db: &DatabaseConnection) {
    insert(
        db,
        "models",
        vec![
            ("model_id", text("tinyllama:1b")),
            ("author_repo_id", text("cortexso")),
            ("branch_name", text("1b")),
            (
                "path_to_model_yaml",
                text("models/cortex.so/tinyllama/1b/model.yml"),
            ),
            ("model_alias", text("tiny")),
            ("model_format", text("cortexso")),
            (
                "model_source",
                text("https://huggingface.co/cortexso/tinyllama"),
            ),
            ("status", text("downloaded")),
            ("engine", text("llama-cpp")),
            ("metadata", text("{\"size\": 669000000}")),
        ],
    )
    .await;
    insert(
        db,
        "models",
        vec![
            ("model_id", text(UNICODE_ID)),
            ("author_repo_id", null()),
            ("branch_name", text("")),
            ("path_to_model_yaml", null()),
            ("model_alias", text(AWKWARD)),
            ("model_format", null()),
            ("model_source", null()),
            ("status", text("downloadable")),
            ("engine", null()),
            ("metadata", null()),
        ],
    )
    .await;
    for (uuid, hw, sw, activated, priority) in [
        ("GPU-8f2e", 0, 0, 1, Expr::val(0)),
        ("GPU-0001", i32::MAX, i32::MIN, 0, null_int()),
    ] {
        insert(
            db,
            "hardware",
            vec![
                ("uuid", text(uuid)),
                ("type", text("gpu")),
                ("hardware_id", Expr::val(hw)),
                ("software_id", Expr::val(sw)),
                ("activated", Expr::val(activated)),
                ("priority", priority),
            ],
        )
        .await;
    }
    insert(
        db,
        "engines",
        vec![
            ("engine_name", text("llama-cpp")),
            ("type", text("local")),
            ("api_key", null()),
            ("url", null()),
            ("version", text("v0.1.49")),
            ("variant", text("linux-amd64-avx2")),
            ("status", text("Default")),
            ("metadata", null()),
            ("date_created", text("2025-01-01 00:00:00")),
            ("date_updated", text("2025-01-02 00:00:00")),
        ],
    )
    .await;
    insert(
        db,
        "engines",
        vec![
            ("engine_name", text("openai")),
            ("type", text("remote")),
            ("api_key", text("sk-tëst")),
            ("url", text("https://api.openai.com")),
            ("version", null()),
            ("variant", text("all-platforms")),
            ("status", text("Default")),
            ("metadata", text("{\"a\": 1}")),
            ("date_created", text("2025-01-03 00:00:00")),
            ("date_updated", text("2025-01-04 00:00:00")),
        ],
    )
    .await;
    for (id, created, bytes) in [
        ("file-01JABCDEF", Expr::val(1_735_689_600i64), BIG),
        ("file-01JABCDEG", Expr::val(Option::<i64>::None), i64::MAX),
    ] {
        insert(
            db,
            "files",
            vec![
                ("id", text(id)),
                ("object", text("file")),
                ("purpose", text("assistants")),
                ("filename", text(UNICODE_ID)),
                ("created_at", created),
                ("bytes", Expr::val(bytes)),
            ],
        )
        .await;
    }
}

pub const TABLES: [&str; 5] = ["models", "hardware", "engines", "files", "schema_version"];

/// The columns of each table that PostgreSQL keeps as `integer` (int4).
fn int4_columns(table: &str) -> &'static [&'static str] {
    match table {
        "hardware" => &["hardware_id", "software_id", "activated", "priority"],
        "engines" => &["id"],
        "schema_version" => &["version"],
        _ => &[],
    }
}

/// Every row of `E` through the entity, ordered by `order`. The entities
/// are what sea-orm-cli generates from SQLite, where INTEGER is 64-bit, so
/// their integers are `i64`; PostgreSQL's `integer` columns decode only as
/// `i32`. There, the plain read is checked to fail (so this goes when the
/// schema changes) and the entity's select casts those columns to bigint.
pub async fn entity_rows<E>(
    db: &DatabaseConnection,
    server: Server,
    order: E::Column,
) -> Vec<E::Model>
where
    E: EntityTrait,
    E::Model: FromQueryResult,
{
    let int4 = int4_columns(E::default().table_name());
    let plain = E::find().order_by_asc(order);
    if server != Server::Postgres || int4.is_empty() {
        return plain
            .all(db)
            .await
            .unwrap_or_else(|e| panic!("{server:?}: {} entity: {e}", E::default().table_name()));
    }
    assert!(
        plain.all(db).await.is_err(),
        "{} int4 columns decode as i64 now: read them plainly",
        E::default().table_name()
    );
    let mut cast = E::find().select_only();
    for c in E::Column::iter() {
        cast = if int4.contains(&c.as_str()) {
            cast.column_as(Expr::col(c).cast_as("bigint"), c.as_str())
        } else {
            cast.column(c)
        };
    }
    cast.order_by_asc(order)
        .into_model::<E::Model>()
        .all(db)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "{server:?}: {} entity, cast: {e}",
                E::default().table_name()
            )
        })
}

/// An output's exit code, stdout and stderr, for a failure message.
pub fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
