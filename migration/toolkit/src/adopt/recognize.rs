//! Recognizing a database: managed by this migrator, empty, or written by
//! cortex.cpp; for the last, the version its tables are complete at, what
//! it had added of the next one, and the early table variants it used.
//! Reads only; anything no cortex.cpp version could have made is refused.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::cortex_tables::{
    CORTEX_TABLES, col, engines_shape, files_shape, hardware_columns, models_columns, prefix_len,
    same_shape,
};
use super::{CortexCpp, Found, NEWEST_CORTEX_VERSION, TableForm, refuse};
use crate::error::{MigrateError, Result};
use crate::history;
use crate::snapshot;

/// Reads an unmanaged database and says what it is. Never writes.
pub async fn inspect<C: ConnectionTrait>(conn: &C) -> Result<Found> {
    if !history::applied(conn)
        .await
        .map_err(|e| MigrateError::db("reading the database schema", e))?
        .is_empty()
    {
        return Ok(Found::Managed);
    }
    inspect_unmanaged(conn).await
}

/// [`inspect`] for a database whose history (`history::applied`) is known to
/// be empty: [`Found::Empty`] or [`Found::CortexCpp`], never
/// [`Found::Managed`].
pub async fn inspect_unmanaged<C: ConnectionTrait>(conn: &C) -> Result<Found> {
    let db = |e| MigrateError::db("reading the database schema", e);
    if conn.get_database_backend() != DbBackend::Sqlite {
        // cortex.cpp only ever wrote SQLite; a server database without
        // history must be empty of Cortex tables.
        return Ok(Found::Empty);
    }
    let tables = snapshot::sqlite_tables(conn).await.map_err(db)?;
    let user: Vec<&(String, String)> = tables
        .iter()
        .filter(|(n, _)| !snapshot::is_internal(n))
        .collect();
    let foreign: Vec<String> = user
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| !CORTEX_TABLES.contains(&n.as_str()))
        .collect();
    if foreign.iter().any(|t| t == "runs") {
        return Err(refuse(
            "it has the `runs` table of cortex.cpp schema v4, newer than the v0..v3 \
             this cortex-migrate knows; use a newer cortex-migrate",
        ));
    }
    if !foreign.is_empty() {
        return Err(MigrateError::ForeignTables { tables: foreign });
    }
    if user.is_empty() {
        return Ok(Found::Empty);
    }

    let mut shapes = std::collections::HashMap::new();
    for (name, sql) in &user {
        shapes.insert(
            name.as_str(),
            snapshot::sqlite_table(conn, name, sql).await.map_err(db)?,
        );
    }

    // (feature, version that adds it)
    let mut features: Vec<(String, i64)> = Vec::new();
    let mut hardware_uuid_without_key = false;
    if let Some(m) = shapes.get("models") {
        let n = prefix_len(m, &models_columns(), 5)?;
        features.push(("table models".into(), 0));
        for (c, v) in models_columns().into_iter().take(n).skip(5) {
            features.push((format!("models.{}", c.name), v));
        }
    }
    if let Some(h) = shapes.get("hardware") {
        let mut expected = hardware_columns();
        if h.columns
            .first()
            .is_some_and(|c| c.pk == 0 && c.not_null && c.name == "uuid")
        {
            hardware_uuid_without_key = true;
            expected[0].0 = col("uuid", "TEXT", true, 0, None);
        }
        let n = prefix_len(h, &expected, 5)?;
        if h.checks != ["activated IN(0,1)"] {
            return Err(refuse(format!(
                "table hardware has checks ({}) where cortex.cpp made (activated IN (0, 1))",
                h.checks.join("; ")
            )));
        }
        features.push(("table hardware".into(), 0));
        if n == 6 {
            features.push(("hardware.priority".into(), 2));
        }
    }
    if let Some(e) = shapes.get("engines") {
        same_shape(e, &engines_shape())?;
        features.push(("table engines".into(), 1));
    }
    if let Some(f) = shapes.get("files") {
        same_shape(f, &files_shape())?;
        features.push(("table files".into(), 3));
    }
    let schema_version_table = match shapes.get("schema_version") {
        None => TableForm::Missing,
        Some(s) if s.columns == [col("version", "INTEGER", false, 1, None)] => TableForm::Canonical,
        Some(s) if s.columns == [col("version", "INTEGER", true, 0, None)] => {
            TableForm::EarlyVariant
        }
        Some(s) => {
            return Err(refuse(format!(
                "table schema_version has columns ({}) where cortex.cpp made (version INTEGER)",
                s.column_names().join(", ")
            )));
        }
    };

    let required = |v: i64| -> Vec<String> {
        let mut all: Vec<String> = vec!["table models".into(), "table hardware".into()];
        if v >= 1 {
            all.extend(
                [
                    "models.model_format",
                    "models.model_source",
                    "models.status",
                    "models.engine",
                    "table engines",
                ]
                .map(String::from),
            );
        }
        if v >= 2 {
            all.extend(["models.metadata", "hardware.priority"].map(String::from));
        }
        if v >= 3 {
            all.push("table files".into());
        }
        all
    };
    let present: Vec<&str> = features.iter().map(|(f, _)| f.as_str()).collect();
    let mut version = -1;
    for v in 0..=NEWEST_CORTEX_VERSION {
        if required(v).iter().all(|f| present.contains(&f.as_str())) {
            version = v;
        } else {
            break;
        }
    }
    if let Some((f, v)) = features.iter().find(|(_, v)| *v > version + 1) {
        return Err(refuse(format!(
            "it has {f} (cortex.cpp v{v}) but is not complete at v{}: {} missing",
            version + 1,
            required(version + 1)
                .into_iter()
                .filter(|r| !present.contains(&r.as_str()))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let partial_next: Vec<String> = features
        .iter()
        .filter(|(_, v)| *v == version + 1)
        .map(|(f, _)| f.clone())
        .collect();

    let mut claimed = Vec::new();
    if schema_version_table != TableForm::Missing {
        let rows = conn
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT version, typeof(version) AS t FROM schema_version ORDER BY version",
            ))
            .await
            .map_err(db)?;
        for r in rows {
            let t: String = r.try_get("", "t").map_err(db)?;
            if t != "integer" {
                return Err(refuse(format!(
                    "schema_version holds a {t} value; cortex.cpp only writes whole numbers"
                )));
            }
            claimed.push(r.try_get::<i64>("", "version").map_err(db)?);
        }
    }
    if let Some(&max) = claimed.iter().max() {
        if max > NEWEST_CORTEX_VERSION {
            return Err(refuse(format!(
                "schema_version says {max}, a cortex.cpp version newer than the v0..v{NEWEST_CORTEX_VERSION} \
                 this cortex-migrate knows; use a newer cortex-migrate"
            )));
        }
        if claimed.iter().any(|v| *v < 0) {
            return Err(refuse("schema_version holds a negative version"));
        }
        if max > version {
            return Err(refuse(format!(
                "schema_version says v{max} but the tables are only complete at {}: {} missing",
                if version < 0 {
                    "no version".to_owned()
                } else {
                    format!("v{version}")
                },
                required(max)
                    .into_iter()
                    .filter(|r| !present.contains(&r.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    }
    Ok(Found::CortexCpp(CortexCpp {
        version,
        claimed,
        partial_next,
        schema_version_table,
        hardware_uuid_without_key,
    }))
}
