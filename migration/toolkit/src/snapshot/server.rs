//! What the PostgreSQL and MySQL/MariaDB snapshots share: the shape of a
//! server table, its rendering in the same line format as SQLite's
//! snapshots, and the normalization of expressions (checks, defaults) the
//! servers print back in their own spelling.

use std::collections::BTreeMap;

use sea_orm_migration::sea_orm::{
    ConnectionTrait, DbBackend, DbErr, QueryResult, Statement, Value,
};

use super::is_internal;

/// One column of a server table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ServerColumn {
    pub name: String,
    /// The type as the server prints it, normalized (upper case, integer
    /// display widths dropped).
    pub ty: String,
    pub not_null: bool,
    pub default: Option<String>,
    /// Position in the primary key (1-based), 0 if not part of it.
    pub pk: i64,
    /// How the server numbers or computes the column: `autoincrement`,
    /// `identity=by_default`, `on_update=CURRENT_TIMESTAMP`, ...
    pub generated: Vec<String>,
}

/// One server table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct ServerTable {
    pub name: String,
    pub columns: Vec<ServerColumn>,
    /// Unique constraints (and, on MySQL, unique indexes: the server does
    /// not tell them apart) by column list; their names are left out since
    /// servers generate them.
    pub uniques: Vec<Vec<String>>,
    /// Check expressions, normalized; names left out for the same reason.
    pub checks: Vec<String>,
    /// Other indexes: (name, unique, columns). Their names are chosen by
    /// whoever ran `CREATE INDEX`, so they are part of the schema.
    pub indexes: Vec<(String, bool, Vec<String>)>,
}

impl ServerTable {
    /// Sorts what the server returns in no promised order, so that the
    /// text is the same on every run.
    pub fn sort(&mut self) {
        self.uniques.sort();
        self.checks.sort();
        self.indexes.sort();
    }

    /// The snapshot text of this table, in the line format of
    /// [`super::TableShape::render`].
    pub fn render(&self) -> String {
        let mut out = format!("table {}\n", self.name);
        for c in &self.columns {
            out.push_str(&format!("  column {} {}", c.name, c.ty));
            if c.pk > 0 {
                out.push_str(&format!(" primary_key={}", c.pk));
            }
            for g in &c.generated {
                out.push(' ');
                out.push_str(g);
            }
            if c.not_null {
                out.push_str(" not_null");
            }
            if let Some(d) = &c.default {
                out.push_str(&format!(" default={d}"));
            }
            out.push('\n');
        }
        super::render_constraints(&mut out, &self.uniques, &self.checks, &self.indexes);
        out
    }
}

/// A view or trigger of the schema: `(kind, name, table)`.
pub(super) type Other = (String, String, String);

/// The whole snapshot: the Cortex tables sorted by name, then views and
/// triggers on them, as `sqlite_snapshot` lists them.
pub(super) fn render_all(mut tables: Vec<ServerTable>, mut others: Vec<Other>) -> String {
    tables.retain(|t| !is_internal(&t.name));
    // Sorted here, byte-wise, rather than by the server's collation, which
    // depends on its locale settings.
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    others.retain(|(_, _, table)| !is_internal(table));
    others.sort();
    let mut out = String::new();
    for mut t in tables {
        t.sort();
        out.push_str(&t.render());
    }
    for (kind, name, table) in others {
        out.push_str(&format!("{kind} {name} on {table}\n"));
    }
    out
}

/// Adds `column` to the table `table` of `tables`, which it creates when
/// this is the table's first column.
pub(super) fn push_column(
    tables: &mut BTreeMap<String, ServerTable>,
    table: String,
    column: ServerColumn,
) {
    tables
        .entry(table.clone())
        .or_insert_with(|| ServerTable {
            name: table,
            ..ServerTable::default()
        })
        .columns
        .push(column);
}

/// The views and triggers `sql` lists (columns `kind`, `name`, `tbl`).
pub(super) async fn others<C: ConnectionTrait>(
    conn: &C,
    backend: DbBackend,
    sql: &str,
) -> Result<Vec<Other>, DbErr> {
    query(conn, backend, sql, vec![])
        .await?
        .iter()
        .map(|r| Ok((text(r, "kind")?, text(r, "name")?, text(r, "tbl")?)))
        .collect()
}

/// Runs a catalog query with `backend`'s placeholders.
pub(super) async fn query<C: ConnectionTrait>(
    conn: &C,
    backend: DbBackend,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<QueryResult>, DbErr> {
    conn.query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await
}

/// Reads a text cell of a catalog row.
pub(super) fn text(row: &QueryResult, col: &str) -> Result<String, DbErr> {
    row.try_get::<String>("", col)
}

/// Reads a nullable text cell of a catalog row.
pub(super) fn opt_text(row: &QueryResult, col: &str) -> Result<Option<String>, DbErr> {
    row.try_get::<Option<String>>("", col)
}

/// Reads an integer cell of a catalog row (the queries cast to a signed
/// 64-bit type, since the catalogs use several integer types).
pub(super) fn int(row: &QueryResult, col: &str) -> Result<i64, DbErr> {
    row.try_get::<i64>("", col)
}

/// An expression as a server prints it back (a check, a default),
/// normalized: identifier quotes dropped, whitespace squeezed, no space
/// inside parentheses, after commas or before `(`, redundant outer
/// parentheses dropped. String literals are kept as they are.
pub(super) fn normalize_expr(expr: &str) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut in_literal = false;
    let mut space = false;
    for c in expr.chars() {
        if in_literal {
            out.push(c);
            // A doubled quote inside a literal closes and reopens it, which
            // copies it unchanged.
            in_literal = c != '\'';
            continue;
        }
        match c {
            '"' | '`' => {}
            c if c.is_whitespace() => space = true,
            c => {
                if space
                    && !out.is_empty()
                    && !out.ends_with(['(', ',', '['])
                    && !matches!(c, ')' | ',' | '(' | ']')
                {
                    out.push(' ');
                }
                space = false;
                in_literal = c == '\'';
                out.push(c);
            }
        }
    }
    strip_outer_parens(&out).to_owned()
}

/// `((a = 1))` -> `a = 1`; `(a) OR (b)` stays, since its first and last
/// parentheses are not a pair.
fn strip_outer_parens(mut s: &str) -> &str {
    while s.starts_with('(') && s.ends_with(')') && closes_at_end(s) {
        s = &s[1..s.len() - 1];
    }
    s
}

/// Whether the `(` at the start of `s` is closed by its last character.
fn closes_at_end(s: &str) -> bool {
    let mut depth = 0i32;
    let mut in_literal = false;
    let last = s.len() - 1;
    for (i, c) in s.char_indices() {
        if in_literal {
            in_literal = c != '\'';
            continue;
        }
        match c {
            '\'' => in_literal = true,
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return i == last;
                }
            }
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_lose_quotes_spaces_and_outer_parens_but_not_literals() {
        assert_eq!(
            normalize_expr("(activated = ANY (ARRAY[0, 1]))"),
            "activated = ANY(ARRAY[0,1])"
        );
        assert_eq!(normalize_expr("`activated` in (0,1)"), "activated in(0,1)");
        assert_eq!(normalize_expr("((\"a\" > 0))"), "a > 0");
        assert_eq!(normalize_expr("(a > 0) OR (b > 0)"), "(a > 0) OR(b > 0)");
        assert_eq!(
            normalize_expr("'it''s  (\"x\")'::text"),
            "'it''s  (\"x\")'::text"
        );
        assert_eq!(normalize_expr("('a)')"), "'a)'");
    }

    #[test]
    fn rendering_follows_the_sqlite_line_format() {
        let t = ServerTable {
            name: "engines".into(),
            columns: vec![
                ServerColumn {
                    name: "id".into(),
                    ty: "INTEGER".into(),
                    not_null: true,
                    default: None,
                    pk: 1,
                    generated: vec!["identity=by_default".into()],
                },
                ServerColumn {
                    name: "date_created".into(),
                    ty: "TEXT".into(),
                    not_null: false,
                    default: Some("CURRENT_TIMESTAMP".into()),
                    pk: 0,
                    generated: vec![],
                },
            ],
            uniques: vec![vec!["engine_name".into(), "variant".into()]],
            checks: vec![],
            indexes: vec![("engines_url".into(), false, vec!["url".into()])],
        };
        assert_eq!(
            t.render(),
            "table engines\n  column id INTEGER primary_key=1 identity=by_default not_null\n  \
             column date_created TEXT default=CURRENT_TIMESTAMP\n  unique (engine_name, variant)\n  \
             index engines_url (url)\n"
        );
    }
}
