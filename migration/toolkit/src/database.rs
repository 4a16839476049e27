//! The database behind a run: the file of a SQLite connection, the data
//! folder that goes with it, whether it can be read at all, and what its
//! failures mean to a person (classified by SQLite's result codes).

use std::path::{Path, PathBuf};

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::sqlx::sqlite::SqliteError;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use crate::error::{MigrateError, Result};
use crate::paths::DataDir;
use crate::snapshot;

/// The environment variable that names the data folder when no other way
/// does (how `sea-orm-cli migrate` finds it for PostgreSQL and MySQL).
pub const DATA_DIR_ENV: &str = "CORTEX_DATA_DIR";

/// The file behind a SQLite connection (`None` for an in-memory database).
pub async fn sqlite_file<C: ConnectionTrait>(conn: &C) -> Result<Option<PathBuf>> {
    if conn.get_database_backend() != DbBackend::Sqlite {
        return Ok(None);
    }
    let rows = conn
        .query_all_raw(Statement::from_string(
            DbBackend::Sqlite,
            "PRAGMA database_list",
        ))
        .await
        .map_err(|e| MigrateError::db("finding the database file", e))?;
    for r in rows {
        let name: String = r.try_get("", "name").unwrap_or_default();
        let file: String = r.try_get("", "file").unwrap_or_default();
        if name == "main" && !file.is_empty() {
            return Ok(Some(PathBuf::from(file)));
        }
    }
    Ok(None)
}

/// SQLite's primary result codes that mean something a person can act on
/// (<https://www.sqlite.org/rescode.html>).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqliteFailure {
    /// `SQLITE_BUSY` (5) or `SQLITE_LOCKED` (6): another writer.
    Busy,
    /// `SQLITE_READONLY` (8).
    ReadOnly,
    /// `SQLITE_CORRUPT` (11) or `SQLITE_NOTADB` (26).
    NotADatabase,
    /// `SQLITE_FULL` (13).
    Full,
}

impl SqliteFailure {
    /// The failure behind a database error, by SQLite's result code (the
    /// extended code's low byte is the primary code).
    pub fn of(e: &DbErr) -> Option<SqliteFailure> {
        use sea_orm_migration::sea_orm::RuntimeErr;
        let (DbErr::Conn(RuntimeErr::SqlxError(x))
        | DbErr::Exec(RuntimeErr::SqlxError(x))
        | DbErr::Query(RuntimeErr::SqlxError(x))) = e
        else {
            return None;
        };
        let db = x.as_database_error()?;
        db.try_downcast_ref::<SqliteError>()?;
        let code: i64 = db.code()?.parse().ok()?;
        match code & 0xff {
            5 | 6 => Some(SqliteFailure::Busy),
            8 => Some(SqliteFailure::ReadOnly),
            11 | 26 => Some(SqliteFailure::NotADatabase),
            13 => Some(SqliteFailure::Full),
            _ => None,
        }
    }
}

/// Turns SQLite's terse errors into ones a person can act on, by result
/// code; any other error keeps what was being done.
pub fn classify(db_path: Option<&Path>, what: &str, e: DbErr) -> MigrateError {
    let path = db_path
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("the database"));
    match SqliteFailure::of(&e) {
        Some(SqliteFailure::NotADatabase) => MigrateError::NotADatabase {
            path,
            detail: e.to_string(),
        },
        Some(SqliteFailure::Busy) => MigrateError::DatabaseBusy { path },
        Some(SqliteFailure::ReadOnly) => MigrateError::ReadOnly { path },
        Some(SqliteFailure::Full) => MigrateError::NoSpace { path },
        None => MigrateError::db(what, e),
    }
}

/// [`classify`] for a database error a toolkit function returned; other
/// errors pass through.
pub(crate) fn reclassify(db_path: Option<&Path>, e: MigrateError) -> MigrateError {
    match e {
        MigrateError::Db { what, source } => classify(db_path, &what, source),
        other => other,
    }
}

/// The data folder when none is given: `CORTEX_DATA_DIR`, otherwise (SQLite)
/// the folder that holds the database file.
pub fn default_data_dir(db_path: Option<&Path>) -> Result<Option<DataDir>> {
    match std::env::var_os(DATA_DIR_ENV) {
        Some(d) if !d.is_empty() => Ok(Some(DataDir::new(PathBuf::from(d))?)),
        _ => db_path.and_then(Path::parent).map(DataDir::new).transpose(),
    }
}

/// Fails, with the error a person can act on, if the database cannot even
/// be read.
pub async fn check_readable<C: ConnectionTrait>(conn: &C, db_path: Option<&Path>) -> Result<()> {
    let backend = conn.get_database_backend();
    conn.query_all_raw(Statement::from_string(backend, "SELECT 1 AS one"))
        .await
        .map_err(|e| classify(db_path, "opening the database", e))?;
    if backend == DbBackend::Sqlite {
        snapshot::sqlite_tables(conn)
            .await
            .map_err(|e| classify(db_path, "reading the database", e))?;
    }
    Ok(())
}
