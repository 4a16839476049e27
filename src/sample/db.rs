//! A sample's cortex.db: cortex.cpp's DDL run the way cortex.cpp ran it
//! (version by version on an upgraded install, all at once on a fresh one),
//! with the rows that each version's server wrote in between.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait, Value,
};

use migration::toolkit::MigrateError;

use super::content::Row;
use super::{SampleSpec, ddl, no_such_version};
use crate::error::{Error, Result};

/// Runs one statement, as cortex.cpp does: unprepared, outside any
/// transaction unless `conn` is one.
pub async fn execute(conn: &impl ConnectionTrait, sql: &str) -> Result<()> {
    conn.execute_unprepared(sql)
        .await
        .map(drop)
        .map_err(|e| failed(sql, e))
}

/// Builds the database `spec` describes in an empty `conn`, with `rows`
/// (from `Content::rows`).
pub async fn install(conn: &DatabaseConnection, rows: &[Row], spec: &SampleSpec) -> Result<()> {
    if spec.upgraded {
        for v in 0..=spec.version {
            let statements = ddl::upgrade(v).ok_or_else(|| no_such_version(v))?;
            upgrade(conn, rows, v, statements).await?;
        }
        return Ok(());
    }
    let statements =
        ddl::fresh_install(spec.version).ok_or_else(|| no_such_version(spec.version))?;
    for sql in statements {
        execute(conn, sql).await?;
    }
    set_version(conn, spec.version).await?;
    write_rows(conn, rows, spec.version, false).await
}

/// One upgrade as cortex.cpp runs it on a database at v(`version`-1):
/// `statements` (normally `ddl::upgrade(version)`), then the version
/// record, then what the server at `version` writes: the rows that first
/// exist at `version`, and the columns `version` added to older rows.
pub async fn upgrade(
    conn: &DatabaseConnection,
    rows: &[Row],
    version: u8,
    statements: &[&str],
) -> Result<()> {
    for sql in statements {
        execute(conn, sql).await?;
    }
    set_version(conn, version).await?;
    write_rows(conn, rows, version, true).await
}

/// cortex.cpp's `UpdateSchemaVersion`: insert the new version and delete
/// the old one in one transaction.
async fn set_version(conn: &DatabaseConnection, v: u8) -> Result<()> {
    let txn = conn.begin().await.map_err(|e| failed("begin", e))?;
    execute(
        &txn,
        &format!("INSERT INTO schema_version (version) VALUES ({v})"),
    )
    .await?;
    if v > 0 {
        execute(
            &txn,
            &format!("DELETE FROM schema_version WHERE version = {}", v - 1),
        )
        .await?;
    }
    txn.commit().await.map_err(|e| failed("commit", e))
}

/// Writes what the server at schema `step` writes: rows that first exist
/// at `step` are inserted with the columns `step` has; with `upgraded`,
/// older rows get the columns `step` added. A fresh install inserts every
/// row that exists at `step`. (One transaction so that thousands of
/// generated models do not cost thousands of fsyncs.)
async fn write_rows(
    conn: &DatabaseConnection,
    rows: &[Row],
    step: u8,
    upgraded: bool,
) -> Result<()> {
    let txn = conn.begin().await.map_err(|e| failed("begin", e))?;
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
            run(&txn, &sql, cells.iter().map(|c| c.val.clone()).collect()).await?;
        } else if upgraded && row.since < step {
            let cells: Vec<_> = row.cells.iter().filter(|c| c.since == step).collect();
            let Some(key) = row.cells.first() else {
                continue;
            };
            if cells.is_empty() {
                continue;
            }
            let sets: Vec<String> = cells.iter().map(|c| format!("\"{}\" = ?", c.col)).collect();
            let sql = format!(
                "UPDATE \"{}\" SET {} WHERE \"{}\" = ?",
                row.table,
                sets.join(", "),
                key.col
            );
            let mut values: Vec<_> = cells.iter().map(|c| c.val.clone()).collect();
            values.push(key.val.clone());
            run(&txn, &sql, values).await?;
        }
    }
    txn.commit().await.map_err(|e| failed("commit", e))
}

async fn run(conn: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Result<()> {
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        values,
    ))
    .await
    .map(drop)
    .map_err(|e| failed(sql, e))
}

/// The error for a statement (or `begin` / `commit`) that failed.
fn failed(what: &str, e: DbErr) -> Error {
    MigrateError::db(format!("writing the sample database: {what}"), e).into()
}
