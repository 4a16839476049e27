//! Normalized schema snapshots: the live schema of the Cortex tables as a
//! stable text (one line per column, key, check and index), read from
//! `sqlite_master` and SQLite's pragmas, or from PostgreSQL's `pg_catalog`
//! and MySQL/MariaDB's `information_schema` (submodules). Two databases
//! with the same snapshot have the same tables, columns, types,
//! nullability, defaults, keys, checks and indexes, however their DDL was
//! spelled (cortex.cpp's hand-written SQL or sea-query's). Golden snapshots
//! per step and backend live in `migration/snapshots/` and are compared
//! with this.

mod mysql;
mod postgres;
mod server;

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement};

use super::schema_ops::ARCHIVE_PREFIX;

pub use mysql::mysql_snapshot;
pub use postgres::postgres_snapshot;

/// The normalized snapshot of the Cortex tables of whatever database
/// `conn` is connected to (the migrator's own tables and archives left
/// out): what the golden snapshots of its backend hold.
pub async fn snapshot<C: ConnectionTrait>(conn: &C) -> Result<String, DbErr> {
    match conn.get_database_backend() {
        DbBackend::Sqlite => sqlite_snapshot(conn).await,
        DbBackend::Postgres => postgres_snapshot(conn).await,
        DbBackend::MySql => mysql_snapshot(conn).await,
        // `DbBackend` is non-exhaustive: a backend added to SeaORM later has
        // no golden snapshots to compare with, so say so rather than guess.
        other => Err(DbErr::BackendNotSupported {
            db: backend_label(other),
            ctx: "schema snapshot",
        }),
    }
}

fn backend_label(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Sqlite => "SQLite",
        DbBackend::Postgres => "PostgreSQL",
        DbBackend::MySql => "MySQL",
        _ => "this database",
    }
}

/// Tables that belong to the migrator, not to Cortex's schema.
pub fn is_internal(table: &str) -> bool {
    table == "seaql_migrations"
        || table.starts_with("cortex_migrate_")
        || table.starts_with(ARCHIVE_PREFIX)
        || table.starts_with("sqlite_")
}

/// One table's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableShape {
    pub name: String,
    pub columns: Vec<ColumnShape>,
    pub autoincrement: bool,
    pub checks: Vec<String>,
    /// Unique constraints (column lists), in declaration order.
    pub uniques: Vec<Vec<String>>,
    /// Named indexes: (name, unique, columns).
    pub indexes: Vec<(String, bool, Vec<String>)>,
}

/// One column's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnShape {
    pub name: String,
    pub decl_type: String,
    pub not_null: bool,
    pub default: Option<String>,
    /// Position in the primary key (1-based), 0 if not part of it.
    pub pk: i64,
}

impl TableShape {
    /// The column names, in order.
    pub fn column_names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// The snapshot text of this table.
    pub fn render(&self) -> String {
        let mut out = format!("table {}\n", self.name);
        for c in &self.columns {
            out.push_str(&format!("  column {} {}", c.name, c.decl_type));
            if c.pk > 0 {
                out.push_str(&format!(" primary_key={}", c.pk));
                if self.autoincrement {
                    out.push_str(" autoincrement");
                }
            }
            if c.not_null {
                out.push_str(" not_null");
            }
            if let Some(d) = &c.default {
                out.push_str(&format!(" default={d}"));
            }
            out.push('\n');
        }
        render_constraints(&mut out, &self.uniques, &self.checks, &self.indexes);
        out
    }
}

/// The lines of a table's unique constraints, checks and other indexes, as
/// every backend's snapshot writes them.
pub(crate) fn render_constraints(
    out: &mut String,
    uniques: &[Vec<String>],
    checks: &[String],
    indexes: &[(String, bool, Vec<String>)],
) {
    for u in uniques {
        out.push_str(&format!("  unique ({})\n", u.join(", ")));
    }
    for c in checks {
        out.push_str(&format!("  check ({c})\n"));
    }
    for (name, unique, cols) in indexes {
        let kind = if *unique { "unique_index" } else { "index" };
        out.push_str(&format!("  {kind} {name} ({})\n", cols.join(", ")));
    }
}

async fn rows<C: ConnectionTrait>(
    conn: &C,
    sql: &str,
    values: Vec<sea_orm_migration::sea_orm::Value>,
) -> Result<Vec<sea_orm_migration::sea_orm::QueryResult>, DbErr> {
    conn.query_all_raw(Statement::from_sql_and_values(
        DbBackend::Sqlite,
        sql,
        values,
    ))
    .await
}

/// Every table of the SQLite database, with its `CREATE` text.
pub async fn sqlite_tables<C: ConnectionTrait>(conn: &C) -> Result<Vec<(String, String)>, DbErr> {
    let rs = rows(
        conn,
        "SELECT name, COALESCE(sql, '') AS sql FROM sqlite_master \
         WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
        vec![],
    )
    .await?;
    rs.iter()
        .map(|r| {
            Ok((
                r.try_get::<String>("", "name")?,
                r.try_get::<String>("", "sql")?,
            ))
        })
        .collect()
}

/// The shape of one SQLite table.
pub async fn sqlite_table<C: ConnectionTrait>(
    conn: &C,
    name: &str,
    sql: &str,
) -> Result<TableShape, DbErr> {
    let cols = rows(
        conn,
        "SELECT name, type, \"notnull\" AS nn, dflt_value, pk FROM pragma_table_xinfo(?) WHERE hidden = 0 ORDER BY cid",
        vec![name.into()],
    )
    .await?;
    let mut columns = Vec::new();
    for r in &cols {
        columns.push(ColumnShape {
            name: r.try_get("", "name")?,
            decl_type: r.try_get::<String>("", "type")?.to_uppercase(),
            not_null: r.try_get::<i64>("", "nn")? != 0,
            default: r.try_get::<Option<String>>("", "dflt_value")?,
            pk: r.try_get::<i64>("", "pk")?,
        });
    }
    let mut uniques = Vec::new();
    let mut indexes = Vec::new();
    let idx = rows(
        conn,
        "SELECT name, \"unique\" AS uq, origin FROM pragma_index_list(?) ORDER BY seq",
        vec![name.into()],
    )
    .await?;
    for r in &idx {
        let iname: String = r.try_get("", "name")?;
        let unique = r.try_get::<i64>("", "uq")? != 0;
        let origin: String = r.try_get("", "origin")?;
        let icols = rows(
            conn,
            "SELECT name FROM pragma_index_info(?) ORDER BY seqno",
            vec![iname.clone().into()],
        )
        .await?
        .iter()
        .map(|c| {
            c.try_get::<Option<String>>("", "name")
                .map(|n| n.unwrap_or_else(|| "<expr>".into()))
        })
        .collect::<Result<Vec<_>, _>>()?;
        match origin.as_str() {
            "pk" => {}
            "u" => uniques.push(icols),
            _ => indexes.push((iname, unique, icols)),
        }
    }
    indexes.sort();
    uniques.sort();
    Ok(TableShape {
        name: name.to_owned(),
        columns,
        autoincrement: sql.to_uppercase().contains("AUTOINCREMENT"),
        checks: extract_checks(sql),
        uniques,
        indexes,
    })
}

/// The normalized snapshot of the Cortex tables in a SQLite database (the
/// migrator's own tables and archives left out).
pub async fn sqlite_snapshot<C: ConnectionTrait>(conn: &C) -> Result<String, DbErr> {
    let mut out = String::new();
    for (name, sql) in sqlite_tables(conn).await? {
        if is_internal(&name) {
            continue;
        }
        out.push_str(&sqlite_table(conn, &name, &sql).await?.render());
    }
    let others = rows(
        conn,
        "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('view', 'trigger') ORDER BY type, name",
        vec![],
    )
    .await?;
    for r in &others {
        let tbl: String = r.try_get("", "tbl_name")?;
        if is_internal(&tbl) {
            continue;
        }
        out.push_str(&format!(
            "{} {} on {}\n",
            r.try_get::<String>("", "type")?,
            r.try_get::<String>("", "name")?,
            tbl
        ));
    }
    Ok(out)
}

/// The `CHECK (...)` expressions of a `CREATE TABLE` text, normalized:
/// identifier quotes dropped, whitespace squeezed.
pub fn extract_checks(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    // ASCII only, so that `ubytes[i]` is `bytes[i]`: a full `to_uppercase`
    // changes the length of text such as `ı` or `ß` (a default, a name),
    // which misplaced every later `CHECK` and sliced past the end.
    let upper = sql.to_ascii_uppercase();
    let ubytes = upper.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < bytes.len() {
        let b = bytes[i];
        if let Some(qc) = quote {
            if b == qc {
                quote = None;
            }
            i += 1;
            continue;
        }
        if b == b'\'' {
            quote = Some(b'\'');
            i += 1;
            continue;
        }
        let word_start = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if word_start && ubytes[i..].starts_with(b"CHECK") {
            let mut j = i + 5;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            if j < bytes.len() && bytes[j] == b'(' {
                let start = j + 1;
                let mut depth = 1;
                let mut k = start;
                let mut inq: Option<u8> = None;
                while k < bytes.len() && depth > 0 {
                    let c = bytes[k];
                    match inq {
                        Some(qc) if c == qc => inq = None,
                        Some(_) => {}
                        None if c == b'\'' => inq = Some(c),
                        None if c == b'(' => depth += 1,
                        None if c == b')' => depth -= 1,
                        None => {}
                    }
                    k += 1;
                }
                if depth == 0 {
                    out.push(normalize_expr(&sql[start..k - 1]));
                    i = k;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

fn normalize_expr(expr: &str) -> String {
    let cleaned: String = expr
        .chars()
        .filter(|c| !matches!(c, '"' | '`' | '[' | ']'))
        .collect();
    let squeezed = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out = String::with_capacity(squeezed.len());
    let chars: Vec<char> = squeezed.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            let prev = if i > 0 { chars[i - 1] } else { ' ' };
            let next = chars.get(i + 1).copied().unwrap_or(' ');
            if matches!(prev, '(' | ',') || matches!(next, ')' | ',' | '(') {
                continue;
            }
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_normalize_quotes_and_spaces() {
        assert_eq!(
            extract_checks("CREATE TABLE h (a INTEGER NOT NULL CHECK (activated IN (0, 1)))"),
            vec!["activated IN(0,1)"]
        );
        assert_eq!(
            extract_checks(
                "CREATE TABLE \"h\" ( \"a\" integer NOT NULL CHECK (\"activated\" IN (0,1)) )"
            ),
            vec!["activated IN(0,1)"]
        );
        assert!(
            extract_checks("CREATE TABLE t (checked TEXT, x TEXT DEFAULT 'CHECK (1)')").is_empty()
        );
    }

    #[test]
    fn text_whose_upper_case_is_shorter_or_longer_keeps_checks_in_place() {
        // `ı` upper-cases to `I` (one byte fewer): this sliced past the end.
        let shorter = format!(
            "CREATE TABLE t (a TEXT DEFAULT '{}', b INTEGER CHECK (b > 0))",
            "ı".repeat(40)
        );
        assert_eq!(extract_checks(&shorter), vec!["b > 0"]);
        // `ß` upper-cases to `SS` (one byte more): the check was missed.
        let longer = "CREATE TABLE t (a TEXT DEFAULT 'ßß', b INTEGER CHECK (b > 0))";
        assert_eq!(extract_checks(longer), vec!["b > 0"]);
    }
}
