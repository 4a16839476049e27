//! The MySQL/MariaDB snapshot, read from `information_schema` for the
//! current database (`DATABASE()`) only. MariaDB and MySQL 8 print types,
//! defaults and checks differently; both are normalized to one spelling
//! where they mean the same (`int(11)` and `int`, `current_timestamp()`
//! and `CURRENT_TIMESTAMP`).

use std::collections::BTreeMap;

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr};

use super::server::{self, ServerColumn, ServerTable, int, normalize_expr, opt_text, text};

const MY: DbBackend = DbBackend::MySql;

// Text cells are cast to CHAR and numbers to SIGNED: the catalog's column
// types differ between MariaDB and MySQL 8 (unsigned, binary strings).
const COLUMNS: &str = "\
SELECT CAST(c.TABLE_NAME AS CHAR) AS tbl, CAST(c.COLUMN_NAME AS CHAR) AS name,
       CAST(c.COLUMN_TYPE AS CHAR) AS ty, CAST(c.IS_NULLABLE AS CHAR) AS nullable,
       CAST(c.COLUMN_DEFAULT AS CHAR) AS dflt, CAST(c.EXTRA AS CHAR) AS extra
FROM information_schema.COLUMNS c
JOIN information_schema.TABLES t
  ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME
WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'
ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION";

// Every index, one row per column in index order; `PRIMARY` is the key.
const INDEXES: &str = "\
SELECT CAST(TABLE_NAME AS CHAR) AS tbl, CAST(INDEX_NAME AS CHAR) AS name,
       CAST(NON_UNIQUE AS SIGNED) AS non_unique, CAST(SEQ_IN_INDEX AS SIGNED) AS seq,
       CAST(COLUMN_NAME AS CHAR) AS col, CAST(SUB_PART AS SIGNED) AS sub_part
FROM information_schema.STATISTICS
WHERE TABLE_SCHEMA = DATABASE()
ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX";

// Which columns `CHECK_CONSTRAINTS` has: MariaDB's has `TABLE_NAME`,
// MySQL 8's does not (its check names are unique per database, so it is
// joined with `TABLE_CONSTRAINTS`), and older servers have no such table
// (nor enforced checks).
const CHECK_COLUMNS: &str = "\
SELECT CAST(COLUMN_NAME AS CHAR) AS name FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = 'information_schema' AND TABLE_NAME = 'CHECK_CONSTRAINTS'";

const CHECKS_MARIADB: &str = "\
SELECT CAST(TABLE_NAME AS CHAR) AS tbl, CAST(CHECK_CLAUSE AS CHAR) AS clause
FROM information_schema.CHECK_CONSTRAINTS
WHERE CONSTRAINT_SCHEMA = DATABASE()";

const CHECKS_MYSQL: &str = "\
SELECT CAST(tc.TABLE_NAME AS CHAR) AS tbl, CAST(cc.CHECK_CLAUSE AS CHAR) AS clause
FROM information_schema.TABLE_CONSTRAINTS tc
JOIN information_schema.CHECK_CONSTRAINTS cc
  ON cc.CONSTRAINT_SCHEMA = tc.CONSTRAINT_SCHEMA AND cc.CONSTRAINT_NAME = tc.CONSTRAINT_NAME
WHERE tc.TABLE_SCHEMA = DATABASE() AND tc.CONSTRAINT_TYPE = 'CHECK'";

const OTHERS: &str = "\
SELECT 'view' AS kind, CAST(TABLE_NAME AS CHAR) AS name, CAST(TABLE_NAME AS CHAR) AS tbl
FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()
UNION ALL
SELECT 'trigger', CAST(TRIGGER_NAME AS CHAR), CAST(EVENT_OBJECT_TABLE AS CHAR)
FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()";

/// The normalized snapshot of the Cortex tables in the current database of
/// a MySQL or MariaDB server (the migrator's own tables and archives left
/// out).
pub async fn mysql_snapshot<C: ConnectionTrait>(conn: &C) -> Result<String, DbErr> {
    let mut tables: BTreeMap<String, ServerTable> = BTreeMap::new();
    for r in server::query(conn, MY, COLUMNS, vec![]).await? {
        let tbl = text(&r, "tbl")?;
        let column = ServerColumn {
            name: text(&r, "name")?,
            ty: normalize_type(&text(&r, "ty")?),
            not_null: text(&r, "nullable")? == "NO",
            default: normalize_default(opt_text(&r, "dflt")?),
            pk: 0,
            generated: extra(&opt_text(&r, "extra")?.unwrap_or_default()),
        };
        server::push_column(&mut tables, tbl, column);
    }

    let mut indexes: BTreeMap<(String, String), (bool, Vec<String>)> = BTreeMap::new();
    for r in server::query(conn, MY, INDEXES, vec![]).await? {
        let tbl = text(&r, "tbl")?;
        let name = text(&r, "name")?;
        // A functional index (MySQL 8) has no column name.
        let mut col = opt_text(&r, "col")?.unwrap_or_else(|| "<expr>".into());
        if let Some(len) = r.try_get::<Option<i64>>("", "sub_part")? {
            col = format!("{col}({len})");
        }
        if name == "PRIMARY" {
            let seq = int(&r, "seq")?;
            if let Some(c) = tables
                .get_mut(&tbl)
                .and_then(|t| t.columns.iter_mut().find(|c| c.name == col))
            {
                c.pk = seq;
            }
            continue;
        }
        let entry = indexes
            .entry((tbl, name))
            .or_insert_with(|| (false, Vec::new()));
        entry.0 = int(&r, "non_unique")? == 0;
        entry.1.push(col);
    }
    for ((tbl, name), (unique, cols)) in indexes {
        let Some(t) = tables.get_mut(&tbl) else {
            continue;
        };
        // MySQL makes a unique constraint a unique index named by the
        // server (after its first column) unless named: both are listed as
        // constraints, without the name.
        if unique {
            t.uniques.push(cols);
        } else {
            t.indexes.push((name, false, cols));
        }
    }

    let check_columns: Vec<String> = server::query(conn, MY, CHECK_COLUMNS, vec![])
        .await?
        .iter()
        .map(|r| text(r, "name").map(|n| n.to_uppercase()))
        .collect::<Result<_, _>>()?;
    let checks_sql = if check_columns.is_empty() {
        None
    } else if check_columns.iter().any(|c| c == "TABLE_NAME") {
        Some(CHECKS_MARIADB)
    } else {
        Some(CHECKS_MYSQL)
    };
    if let Some(sql) = checks_sql {
        for r in server::query(conn, MY, sql, vec![]).await? {
            if let Some(t) = tables.get_mut(&text(&r, "tbl")?) {
                t.checks.push(normalize_expr(&text(&r, "clause")?));
            }
        }
    }

    let others = server::others(conn, MY, OTHERS).await?;
    Ok(server::render_all(tables.into_values().collect(), others))
}

/// `int(11)` (MariaDB, MySQL 5) and `int` (MySQL 8) are the same type: the
/// display width is dropped, except `tinyint(1)`, which is how MySQL spells
/// a boolean. Upper case, as SQLite's snapshots are.
fn normalize_type(ty: &str) -> String {
    let mut lower = ty.trim().to_lowercase();
    for int in ["tinyint", "smallint", "mediumint", "bigint", "int"] {
        let Some(after) = lower
            .strip_prefix(int)
            .and_then(|rest| rest.strip_prefix('('))
        else {
            continue;
        };
        if let Some(close) = after.find(')') {
            let width = &after[..close];
            if width.bytes().all(|b| b.is_ascii_digit()) && !(int == "tinyint" && width == "1") {
                lower = format!("{int}{}", &after[close + 1..]);
            }
        }
        break;
    }
    lower.to_uppercase()
}

/// MariaDB says `NULL` for "no default" and `current_timestamp()` where
/// MySQL 8 says nothing and `CURRENT_TIMESTAMP`. (A MySQL 8 text default
/// spelled `NULL` is indistinguishable from none here; Cortex has none.)
fn normalize_default(default: Option<String>) -> Option<String> {
    let d = default?;
    let lower = d.trim().to_lowercase();
    if lower == "null" {
        return None;
    }
    if lower == "current_timestamp()" || lower == "current_timestamp" {
        return Some("CURRENT_TIMESTAMP".into());
    }
    Some(d)
}

/// The `EXTRA` cell as attributes: `auto_increment` -> `autoincrement`,
/// `on update current_timestamp()` -> `on_update=CURRENT_TIMESTAMP`;
/// MySQL 8's `DEFAULT_GENERATED` (an expression default, shown already)
/// is dropped; anything else is kept as `extra=...` so that it shows.
fn extra(extra: &str) -> Vec<String> {
    let mut rest = format!(
        " {} ",
        extra.split_whitespace().collect::<Vec<_>>().join(" ")
    )
    .to_lowercase();
    let mut out = Vec::new();
    for (token, attribute) in [
        (" auto_increment ", Some("autoincrement")),
        (
            " on update current_timestamp() ",
            Some("on_update=CURRENT_TIMESTAMP"),
        ),
        (
            " on update current_timestamp ",
            Some("on_update=CURRENT_TIMESTAMP"),
        ),
        (" default_generated ", None),
    ] {
        if rest.contains(token) {
            rest = rest.replacen(token, " ", 1);
            out.extend(attribute.map(str::to_owned));
        }
    }
    let rest = rest.trim();
    if !rest.is_empty() {
        out.push(format!("extra={}", rest.replace(' ', "_")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_display_widths_are_dropped_but_booleans_kept() {
        assert_eq!(normalize_type("int(11)"), "INT");
        assert_eq!(normalize_type("int"), "INT");
        assert_eq!(normalize_type("bigint(20) unsigned"), "BIGINT UNSIGNED");
        assert_eq!(normalize_type("tinyint(1)"), "TINYINT(1)");
        assert_eq!(normalize_type("tinyint(4)"), "TINYINT");
        assert_eq!(normalize_type("varchar(255)"), "VARCHAR(255)");
        assert_eq!(normalize_type("text"), "TEXT");
    }

    #[test]
    fn mariadb_and_mysql_defaults_and_extras_read_the_same() {
        assert_eq!(normalize_default(Some("NULL".into())), None);
        assert_eq!(normalize_default(None), None);
        assert_eq!(
            normalize_default(Some("current_timestamp()".into())).as_deref(),
            Some("CURRENT_TIMESTAMP")
        );
        assert_eq!(
            normalize_default(Some("'x'".into())).as_deref(),
            Some("'x'")
        );
        assert_eq!(extra("auto_increment"), vec!["autoincrement"]);
        assert_eq!(
            extra("DEFAULT_GENERATED on update CURRENT_TIMESTAMP"),
            vec!["on_update=CURRENT_TIMESTAMP"]
        );
        assert_eq!(
            extra("on update current_timestamp()"),
            vec!["on_update=CURRENT_TIMESTAMP"]
        );
        assert_eq!(extra("STORED GENERATED"), vec!["extra=stored_generated"]);
        assert!(extra("").is_empty());
    }
}
