//! Changing many rows with few statements: `UPDATE ... SET col = CASE key
//! WHEN ... END WHERE key IN (...)`, a few hundred keys per statement, with
//! values bound as parameters when they run (a full chunk is one prepared
//! statement, whatever its keys) and written as literals by sea-query for
//! the backend at hand where a stored undo keeps them, so an older binary
//! replays exactly what would have run.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Keys per statement: well under every backend's limits.
pub const CHUNK: usize = 250;

/// The statement as text for `backend`, values written as literals (what
/// a stored undo keeps).
pub fn text(backend: DbBackend, stmt: &impl QueryStatementWriter) -> String {
    match backend {
        DbBackend::MySql => stmt.to_string(MysqlQueryBuilder),
        DbBackend::Postgres => stmt.to_string(PostgresQueryBuilder),
        _ => stmt.to_string(SqliteQueryBuilder),
    }
}

/// The statement that inserts one row (`None` = NULL).
pub fn insert(
    backend: DbBackend,
    table: &str,
    row: &[(&str, Option<Value>)],
) -> Result<String, sea_orm_migration::sea_query::error::Error> {
    let mut stmt = Query::insert();
    stmt.into_table(Alias::new(table))
        .columns(row.iter().map(|(c, _)| Alias::new(*c)))
        .values(row.iter().map(|(_, v)| match v {
            Some(v) => Expr::val(v.clone()),
            None => Expr::value(Value::String(None)),
        }))?;
    Ok(text(backend, &stmt))
}

/// The statements that delete the rows of `table` whose `key` is given.
pub fn delete_by_key(backend: DbBackend, table: &str, key: &str, keys: &[String]) -> Vec<String> {
    keys.chunks(CHUNK)
        .map(|chunk| {
            let stmt = Query::delete()
                .from_table(Alias::new(table))
                .and_where(Expr::col(Alias::new(key)).is_in(chunk.iter().map(String::as_str)))
                .to_owned();
            text(backend, &stmt)
        })
        .collect()
}

/// The statement that sets `column` of the rows of `table` whose `key` is
/// given to the paired value (`None` = NULL): one chunk of at most
/// [`CHUNK`] pairs (a caller changing 100,000 rows makes one statement at a
/// time).
pub fn set_by_key<'a>(
    table: &str,
    key: &str,
    column: &str,
    pairs: impl Iterator<Item = (&'a str, Option<Value>)>,
) -> UpdateStatement {
    let mut case = CaseStatement::new();
    let mut keys = Vec::new();
    for (k, v) in pairs {
        // NULL as a literal, never a bound value: a bound NULL has a type
        // (text), which PostgreSQL will not mix with the others.
        let value: Expr = match v {
            Some(v) => Expr::val(v),
            None => Expr::cust("NULL"),
        };
        case = case.case(Expr::col(Alias::new(key)).eq(k), value);
        keys.push(k);
    }
    let case = case.finally(Expr::col(Alias::new(column)));
    Query::update()
        .table(Alias::new(table))
        .value(Alias::new(column), case)
        .and_where(Expr::col(Alias::new(key)).is_in(keys))
        .to_owned()
}
