//! The SQL text of the schema ops, for each backend: identifiers quoted,
//! statements built by sea-query where it can and written out where the
//! backends differ (renames, archives, row copies).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub(super) fn q(backend: DbBackend, ident: &str) -> String {
    match backend {
        DbBackend::MySql => format!("`{ident}`"),
        _ => format!("\"{ident}\""),
    }
}

pub(super) fn build<S: SchemaStatementBuilder>(backend: DbBackend, stmt: &S) -> String {
    match backend {
        DbBackend::MySql => stmt.to_string(MysqlQueryBuilder),
        DbBackend::Postgres => stmt.to_string(PostgresQueryBuilder),
        _ => stmt.to_string(SqliteQueryBuilder),
    }
}

pub(super) fn drop_column_sql(backend: DbBackend, table: &str, column: &str) -> String {
    format!(
        "ALTER TABLE {} DROP COLUMN {}",
        q(backend, table),
        q(backend, column)
    )
}

pub(super) fn rename_sql(backend: DbBackend, from: &str, to: &str) -> String {
    match backend {
        DbBackend::MySql => format!("RENAME TABLE {} TO {}", q(backend, from), q(backend, to)),
        _ => format!(
            "ALTER TABLE {} RENAME TO {}",
            q(backend, from),
            q(backend, to)
        ),
    }
}

pub(super) fn archive_sql(
    backend: DbBackend,
    archive: &str,
    table: &str,
    key: &str,
    columns: &[&str],
) -> String {
    let cols = std::iter::once(key)
        .chain(columns.iter().copied())
        .map(|c| q(backend, c))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "CREATE TABLE {} AS SELECT {cols} FROM {}",
        q(backend, archive),
        q(backend, table)
    )
}

pub(super) fn restore_sql(
    backend: DbBackend,
    archive: &str,
    table: &str,
    key: &str,
    columns: &[&str],
) -> String {
    let (a, t, k) = (q(backend, archive), q(backend, table), q(backend, key));
    let sets = columns
        .iter()
        .map(|c| {
            let c = q(backend, c);
            format!("{c} = (SELECT a.{c} FROM {a} a WHERE a.{k} = {t}.{k})")
        })
        .collect::<Vec<_>>()
        .join(", ");
    format!("UPDATE {t} SET {sets} WHERE {k} IN (SELECT {k} FROM {a})")
}

/// A string literal: quotes doubled, and backslashes on MySQL, where they
/// escape.
pub(super) fn lit(backend: DbBackend, value: &str) -> String {
    let v = value.replace('\'', "''");
    match backend {
        DbBackend::MySql => format!("'{}'", v.replace('\\', "\\\\")),
        _ => format!("'{v}'"),
    }
}

pub(super) fn column_list(backend: DbBackend, columns: &[&str]) -> String {
    columns
        .iter()
        .map(|c| q(backend, c))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) fn archive_rows_sql(
    backend: DbBackend,
    archive: &str,
    table: &str,
    columns: &[&str],
    column: &str,
    keep: &[&str],
) -> String {
    let c = q(backend, column);
    let keep = keep
        .iter()
        .map(|v| lit(backend, v))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "CREATE TABLE {} AS SELECT {} FROM {} WHERE {c} IS NOT NULL AND {c} NOT IN ({keep})",
        q(backend, archive),
        column_list(backend, columns),
        q(backend, table)
    )
}

pub(super) fn delete_archived_sql(
    backend: DbBackend,
    archive: &str,
    table: &str,
    key: &str,
) -> String {
    let k = q(backend, key);
    format!(
        "DELETE FROM {} WHERE {k} IN (SELECT {k} FROM {})",
        q(backend, table),
        q(backend, archive)
    )
}

pub(super) fn restore_rows_sql(
    backend: DbBackend,
    archive: &str,
    table: &str,
    key: &str,
    columns: &[&str],
) -> String {
    let (a, t, k) = (q(backend, archive), q(backend, table), q(backend, key));
    let cols = column_list(backend, columns);
    format!(
        "INSERT INTO {t} ({cols}) SELECT {cols} FROM {a} a \
         WHERE NOT EXISTS (SELECT 1 FROM {t} t WHERE t.{k} = a.{k})"
    )
}
