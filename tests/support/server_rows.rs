//! Row digests on PostgreSQL and MySQL/MariaDB, the servers' counterpart of
//! `tests/common`'s SQLite digest: every row of a table as
//! `(column, "type:value")` cells, sorted, so that a test can prove that a
//! round trip kept every value and its type. `tests/common` reads SQLite's
//! pragmas and storage classes, so it cannot serve here.
// Each test file uses a part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement};

/// Rows of one table: each row is its `(column, "type:value")` cells.
pub type TableRows = Vec<Vec<(String, String)>>;

async fn query(
    conn: &DatabaseConnection,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> Vec<QueryResult> {
    let backend = conn.get_database_backend();
    conn.query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
        .unwrap_or_else(|e| panic!("digest query failed: {sql}: {e}"))
}

fn get(row: &QueryResult, col: &str) -> String {
    row.try_get::<String>("", col)
        .unwrap_or_else(|e| panic!("reading {col}: {e}"))
}

fn quote(backend: DbBackend, name: &str) -> String {
    match backend {
        DbBackend::MySql => format!("`{}`", name.replace('`', "``")),
        _ => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// Every base table of the current schema (PostgreSQL) or database
/// (MySQL), sorted.
pub async fn table_names(conn: &DatabaseConnection) -> Vec<String> {
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT table_name::text AS name FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
        }
        _ => {
            "SELECT CAST(TABLE_NAME AS CHAR) AS name FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'"
        }
    };
    let mut names: Vec<String> = query(conn, sql, vec![])
        .await
        .iter()
        .map(|r| get(r, "name"))
        .collect();
    names.sort();
    names
}

/// `(name, data type)` of every column of `table`, in order; empty if the
/// table does not exist.
async fn columns(conn: &DatabaseConnection, table: &str) -> Vec<(String, String)> {
    let sql = match conn.get_database_backend() {
        DbBackend::Postgres => {
            "SELECT column_name::text AS name, data_type::text AS ty FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position"
        }
        _ => {
            "SELECT CAST(COLUMN_NAME AS CHAR) AS name, CAST(DATA_TYPE AS CHAR) AS ty \
             FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION"
        }
    };
    query(conn, sql, vec![table.into()])
        .await
        .iter()
        .map(|r| (get(r, "name"), get(r, "ty")))
        .collect()
}

/// Every row of these tables (each table's rows sorted), each cell as
/// `"<declared type>:<value as text>"` or `"null:"`; binary columns in hex.
/// A table that does not exist is left out of the map (so a dropped table
/// shows as a difference).
pub async fn rows_of(conn: &DatabaseConnection, tables: &[&str]) -> BTreeMap<String, TableRows> {
    let backend = conn.get_database_backend();
    let mut out = BTreeMap::new();
    for table in tables {
        let cols = columns(conn, table).await;
        if cols.is_empty() {
            continue;
        }
        // The value as the server prints it, so that no driver decoding
        // (integer widths, text encodings) can hide a change.
        let select: Vec<String> = cols
            .iter()
            .enumerate()
            .map(|(i, (c, ty))| {
                let c = quote(backend, c);
                let (text, tag) = match backend {
                    DbBackend::Postgres if ty == "bytea" => (format!("encode({c}, 'hex')"), ty),
                    DbBackend::Postgres => (format!("{c}::text"), ty),
                    _ if ty.contains("blob") || ty.contains("binary") => (format!("HEX({c})"), ty),
                    _ => (format!("CAST({c} AS CHAR)"), ty),
                };
                let tagged = match backend {
                    DbBackend::Postgres => format!("'{tag}:' || {text}"),
                    _ => format!("CONCAT('{tag}:', {text})"),
                };
                format!("CASE WHEN {c} IS NULL THEN 'null:' ELSE {tagged} END AS v{i}")
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM {}",
            select.join(", "),
            quote(backend, table)
        );
        let mut rows: TableRows = query(conn, &sql, vec![])
            .await
            .iter()
            .map(|r| {
                cols.iter()
                    .enumerate()
                    .map(|(i, (c, _))| (c.clone(), get(r, &format!("v{i}"))))
                    .collect()
            })
            .collect();
        rows.sort();
        out.insert((*table).to_owned(), rows);
    }
    out
}
