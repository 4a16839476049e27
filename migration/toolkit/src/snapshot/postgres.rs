//! The PostgreSQL snapshot, read from `pg_catalog` for the current schema
//! (`current_schema()`, the first of the search path that exists) only:
//! other schemas of the same database are other applications' business.

use std::collections::BTreeMap;

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, DbErr};

use super::server::{self, ServerColumn, ServerTable, normalize_expr, opt_text, text};

const PG: DbBackend = DbBackend::Postgres;

// Catalog names are of type `name` and flags of type `"char"`: cast to
// `text` so that they decode as strings; positions to `int8` likewise.
const COLUMNS: &str = "\
SELECT c.relname::text AS tbl, a.attname::text AS name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS ty,
       a.attnotnull AS not_null,
       pg_catalog.pg_get_expr(d.adbin, d.adrelid) AS dflt,
       a.attidentity::text AS ident, a.attgenerated::text AS gen
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
  AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum";

// Primary keys, unique constraints (one row per column, in key order) and
// checks (one row each).
const CONSTRAINTS: &str = "\
SELECT c.relname::text AS tbl, con.contype::text AS kind, con.conname::text AS cname,
       pg_catalog.pg_get_expr(con.conbin, con.conrelid) AS expr, con.convalidated AS valid,
       k.ord::int8 AS ord, a.attname::text AS col
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord) ON con.contype IN ('p', 'u')
LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
WHERE n.nspname = current_schema() AND con.contype IN ('p', 'u', 'c')
ORDER BY c.relname, con.conname, k.ord";

// Indexes that no key or unique constraint owns (those are listed above,
// without the name the server gave their index).
const INDEXES: &str = "\
SELECT t.relname::text AS tbl, i.relname::text AS name, x.indisunique AS uq, k.ord::int8 AS ord,
       pg_catalog.pg_get_indexdef(x.indexrelid, k.ord, true) AS col
FROM pg_catalog.pg_index x
JOIN pg_catalog.pg_class i ON i.oid = x.indexrelid
JOIN pg_catalog.pg_class t ON t.oid = x.indrelid
JOIN pg_catalog.pg_namespace n ON n.oid = t.relnamespace
CROSS JOIN LATERAL generate_series(1, x.indnkeyatts::int) AS k(ord)
WHERE n.nspname = current_schema()
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint con
                  WHERE con.conindid = x.indexrelid AND con.contype IN ('p', 'u', 'x'))
ORDER BY t.relname, i.relname, k.ord";

const OTHERS: &str = "\
SELECT 'view' AS kind, v.viewname::text AS name, v.viewname::text AS tbl
FROM pg_catalog.pg_views v WHERE v.schemaname = current_schema()
UNION ALL
SELECT 'trigger', tg.tgname::text, c.relname::text
FROM pg_catalog.pg_trigger tg
JOIN pg_catalog.pg_class c ON c.oid = tg.tgrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND NOT tg.tgisinternal";

/// The normalized snapshot of the Cortex tables in the current schema of a
/// PostgreSQL database (the migrator's own tables and archives left out).
pub async fn postgres_snapshot<C: ConnectionTrait>(conn: &C) -> Result<String, DbErr> {
    let mut tables: BTreeMap<String, ServerTable> = BTreeMap::new();
    for r in server::query(conn, PG, COLUMNS, vec![]).await? {
        let tbl = text(&r, "tbl")?;
        let column = column(
            text(&r, "name")?,
            &text(&r, "ty")?,
            r.try_get::<bool>("", "not_null")?,
            opt_text(&r, "dflt")?,
            &text(&r, "ident")?,
            &text(&r, "gen")?,
        );
        server::push_column(&mut tables, tbl, column);
    }

    // Unique constraints are grouped by name only to collect their columns.
    let mut uniques: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for r in server::query(conn, PG, CONSTRAINTS, vec![]).await? {
        let tbl = text(&r, "tbl")?;
        let Some(t) = tables.get_mut(&tbl) else {
            continue;
        };
        match text(&r, "kind")?.as_str() {
            "p" => {
                let col = opt_text(&r, "col")?;
                let ord = r.try_get::<Option<i64>>("", "ord")?.unwrap_or(0);
                if let Some(c) = t.columns.iter_mut().find(|c| Some(&c.name) == col.as_ref()) {
                    c.pk = ord;
                }
            }
            "u" => uniques
                .entry((tbl, text(&r, "cname")?))
                .or_default()
                .push(opt_text(&r, "col")?.unwrap_or_else(|| "<expr>".into())),
            _ => {
                let mut check = normalize_expr(&opt_text(&r, "expr")?.unwrap_or_default());
                if !r.try_get::<bool>("", "valid")? {
                    check.push_str(" not_valid");
                }
                t.checks.push(check);
            }
        }
    }
    for ((tbl, _), cols) in uniques {
        if let Some(t) = tables.get_mut(&tbl) {
            t.uniques.push(cols);
        }
    }

    let mut indexes: BTreeMap<(String, String), (bool, Vec<String>)> = BTreeMap::new();
    for r in server::query(conn, PG, INDEXES, vec![]).await? {
        let entry = indexes
            .entry((text(&r, "tbl")?, text(&r, "name")?))
            .or_insert_with(|| (false, Vec::new()));
        entry.0 = r.try_get::<bool>("", "uq")?;
        entry
            .1
            .push(normalize_expr(&opt_text(&r, "col")?.unwrap_or_default()));
    }
    for ((tbl, name), (unique, cols)) in indexes {
        if let Some(t) = tables.get_mut(&tbl) {
            t.indexes.push((name, unique, cols));
        }
    }

    let others = server::others(conn, PG, OTHERS).await?;
    Ok(server::render_all(tables.into_values().collect(), others))
}

/// One column from its catalog cells: `ident` is `pg_attribute.attidentity`
/// (empty, `a`, `d`) and `computed` is `attgenerated` (empty, `s`).
fn column(
    name: String,
    ty: &str,
    not_null: bool,
    default: Option<String>,
    ident: &str,
    computed: &str,
) -> ServerColumn {
    let mut generated = Vec::new();
    let mut default = default.map(|d| normalize_expr(&d));
    match ident {
        "a" => generated.push("identity=always".to_owned()),
        "d" => generated.push("identity=by_default".to_owned()),
        _ => {}
    }
    if computed == "s" {
        // The "default" of a generated column is its expression.
        if let Some(expr) = default.take() {
            generated.push(format!("generated=({expr})"));
        }
    } else if default
        .as_deref()
        .is_some_and(|d| d.starts_with("nextval("))
    {
        // `serial`: the default names a sequence the server named after
        // the table; what matters is that the column numbers itself.
        default = None;
        generated.push("autoincrement".to_owned());
    }
    ServerColumn {
        name,
        ty: ty.to_uppercase(),
        not_null,
        default,
        pk: 0,
        generated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serial_and_identity_columns_say_how_they_number_rows() {
        let serial = column(
            "id".into(),
            "integer",
            true,
            Some("nextval('engines_id_seq'::regclass)".into()),
            "",
            "",
        );
        assert_eq!(serial.generated, vec!["autoincrement"]);
        assert_eq!(serial.default, None);
        let identity = column("id".into(), "integer", true, None, "d", "");
        assert_eq!(identity.generated, vec!["identity=by_default"]);
        let varchar = column(
            "d".into(),
            "character varying(32)",
            false,
            Some("'x'::character varying".into()),
            "",
            "",
        );
        assert_eq!(varchar.ty, "CHARACTER VARYING(32)");
        assert_eq!(varchar.default.as_deref(), Some("'x'::character varying"));
    }
}
