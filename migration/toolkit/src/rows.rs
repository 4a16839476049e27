//! Changing many rows with few statements: `UPDATE ... SET col = CASE key
//! WHEN ... END WHERE key IN (...)`, a few hundred keys per statement, with
//! values written as literals by sea-query for the backend at hand. The
//! same text is what a stored undo keeps, so an older binary replays
//! exactly what would have run.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

/// Keys per statement: well under every backend's limits.
const CHUNK: usize = 250;

/// The statement for `backend`.
fn text(backend: DbBackend, stmt: &impl QueryStatementWriter) -> String {
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

/// The statements that set `column` of the rows of `table` whose `key` is
/// given to the paired value (`None` = NULL).
pub fn set_by_key(
    backend: DbBackend,
    table: &str,
    key: &str,
    column: &str,
    pairs: &[(String, Option<Value>)],
) -> Vec<String> {
    pairs
        .chunks(CHUNK)
        .map(|chunk| {
            let mut case = CaseStatement::new();
            for (k, v) in chunk {
                let value: Expr = match v {
                    Some(v) => Expr::val(v.clone()),
                    None => Expr::value(Value::String(None)),
                };
                case = case.case(Expr::col(Alias::new(key)).eq(k.as_str()), value);
            }
            let case = case.finally(Expr::col(Alias::new(column)));
            let stmt = Query::update()
                .table(Alias::new(table))
                .value(Alias::new(column), case)
                .and_where(Expr::col(Alias::new(key)).is_in(chunk.iter().map(|(k, _)| k.as_str())))
                .to_owned();
            text(backend, &stmt)
        })
        .collect()
}
