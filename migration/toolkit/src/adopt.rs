//! Adoption of databases written by cortex.cpp itself.
//!
//! cortex.cpp keeps its version in `schema_version` and has no
//! `seaql_migrations`. Its C++ migrations add columns one at a time outside
//! any transaction and write the version last, so real databases can be
//! half-way between two versions, have an empty `schema_version`, or more
//! than one row in it. This module reads what is really there (the shape of
//! every table, not only the version claimed), decides which cortex.cpp
//! version the database is complete at, and records the steps up to it as
//! applied without running them; the next step then finishes what cortex.cpp
//! left half done. Anything that no cortex.cpp version could have produced is
//! refused, and the database is left as it was.

use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

use super::error::{MigrateError, Result};
use super::history::{self, Origin, Record};
use super::schema_ops::SchemaOp;
use super::snapshot::{self, ColumnShape, TableShape};
use super::step::{Step, checksum};

/// The newest cortex.cpp schema version this migrator knows.
pub const NEWEST_CORTEX_VERSION: i64 = 3;

/// What an unmanaged database turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// No tables at all (or only the migrator's own, with no history).
    Empty,
    /// Already managed by this migrator (`seaql_migrations` has rows).
    Managed,
    /// Written by cortex.cpp.
    CortexCpp(CortexCpp),
}

/// A cortex.cpp database, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CortexCpp {
    /// The newest cortex.cpp version whose schema is complete (-1: none).
    pub version: i64,
    /// What `schema_version` says (all rows, ascending).
    pub claimed: Vec<i64>,
    /// Parts of the next version that cortex.cpp added before it stopped.
    pub partial_next: Vec<String>,
    /// `schema_version` as early cortex.cpp builds made it
    /// (`version INTEGER NOT NULL`, no key), or missing.
    pub schema_version_table: TableForm,
    /// `hardware.uuid` as early builds made it (`NOT NULL`, no key).
    pub hardware_uuid_without_key: bool,
}

/// The form a table was found in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableForm {
    Canonical,
    EarlyVariant,
    Missing,
}

impl CortexCpp {
    /// One line for `status`.
    pub fn describe(&self) -> String {
        let mut s = if self.version >= 0 {
            format!("cortex.cpp schema v{}", self.version)
        } else {
            "an unfinished cortex.cpp v0 schema".to_owned()
        };
        if !self.partial_next.is_empty() {
            s.push_str(&format!(
                " with part of v{} already added ({})",
                self.version + 1,
                self.partial_next.join(", ")
            ));
        }
        let claimed = match self.claimed.as_slice() {
            [] => "empty".to_owned(),
            rows => rows
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        };
        s.push_str(&format!("; schema_version: {claimed}"));
        s
    }
}

fn col(name: &str, ty: &str, not_null: bool, pk: i64, default: Option<&str>) -> ColumnShape {
    ColumnShape {
        name: name.to_owned(),
        decl_type: ty.to_owned(),
        not_null,
        default: default.map(str::to_owned),
        pk,
    }
}

/// (column, the cortex.cpp version that added it)
fn models_columns() -> Vec<(ColumnShape, i64)> {
    vec![
        (col("model_id", "TEXT", false, 1, None), 0),
        (col("author_repo_id", "TEXT", false, 0, None), 0),
        (col("branch_name", "TEXT", false, 0, None), 0),
        (col("path_to_model_yaml", "TEXT", false, 0, None), 0),
        (col("model_alias", "TEXT", false, 0, None), 0),
        (col("model_format", "TEXT", false, 0, None), 1),
        (col("model_source", "TEXT", false, 0, None), 1),
        (col("status", "TEXT", false, 0, None), 1),
        (col("engine", "TEXT", false, 0, None), 1),
        (col("metadata", "TEXT", false, 0, None), 2),
    ]
}

fn hardware_columns() -> Vec<(ColumnShape, i64)> {
    vec![
        (col("uuid", "TEXT", false, 1, None), 0),
        (col("type", "TEXT", true, 0, None), 0),
        (col("hardware_id", "INTEGER", true, 0, None), 0),
        (col("software_id", "INTEGER", true, 0, None), 0),
        (col("activated", "INTEGER", true, 0, None), 0),
        (col("priority", "INTEGER", false, 0, None), 2),
    ]
}

fn engines_shape() -> TableShape {
    TableShape {
        name: "engines".into(),
        columns: vec![
            col("id", "INTEGER", false, 1, None),
            col("engine_name", "TEXT", false, 0, None),
            col("type", "TEXT", false, 0, None),
            col("api_key", "TEXT", false, 0, None),
            col("url", "TEXT", false, 0, None),
            col("version", "TEXT", false, 0, None),
            col("variant", "TEXT", false, 0, None),
            col("status", "TEXT", false, 0, None),
            col("metadata", "TEXT", false, 0, None),
            col("date_created", "TEXT", false, 0, Some("CURRENT_TIMESTAMP")),
            col("date_updated", "TEXT", false, 0, Some("CURRENT_TIMESTAMP")),
        ],
        autoincrement: true,
        checks: vec![],
        uniques: vec![vec!["engine_name".into(), "variant".into()]],
        indexes: vec![],
    }
}

fn files_shape() -> TableShape {
    TableShape {
        name: "files".into(),
        columns: vec![
            col("id", "TEXT", false, 1, None),
            col("object", "TEXT", false, 0, None),
            col("purpose", "TEXT", false, 0, None),
            col("filename", "TEXT", false, 0, None),
            col("created_at", "INTEGER", false, 0, None),
            col("bytes", "INTEGER", false, 0, None),
        ],
        autoincrement: false,
        checks: vec![],
        uniques: vec![],
        indexes: vec![],
    }
}

const CORTEX_TABLES: [&str; 5] = ["schema_version", "models", "hardware", "engines", "files"];

fn refuse(reason: impl Into<String>) -> MigrateError {
    MigrateError::Adoption {
        reason: reason.into(),
    }
}

/// Checks that `shape` has a prefix of `expected` (at least `min` columns)
/// and returns how many columns it has.
fn prefix_len(shape: &TableShape, expected: &[(ColumnShape, i64)], min: usize) -> Result<usize> {
    let n = shape.columns.len();
    let names: Vec<&str> = expected.iter().map(|(c, _)| c.name.as_str()).collect();
    if n < min || n > expected.len() {
        return Err(refuse(format!(
            "table {} has columns ({}) but cortex.cpp made it with ({})",
            shape.name,
            shape.column_names().join(", "),
            names.join(", ")
        )));
    }
    for (i, (found, (want, _))) in shape.columns.iter().zip(expected).enumerate() {
        if found != want {
            return Err(refuse(format!(
                "column {} of table {} is `{} {}{}{}` where cortex.cpp made `{} {}{}` (column {})",
                found.name,
                shape.name,
                found.name,
                found.decl_type,
                if found.pk > 0 { " PRIMARY KEY" } else { "" },
                if found.not_null { " NOT NULL" } else { "" },
                want.name,
                want.decl_type,
                if want.pk > 0 { " PRIMARY KEY" } else { "" },
                i + 1
            )));
        }
    }
    Ok(n)
}

fn same_shape(found: &TableShape, want: &TableShape) -> Result<()> {
    if found.columns != want.columns
        || found.autoincrement != want.autoincrement
        || found.uniques != want.uniques
        || found.checks != want.checks
        || !found.indexes.is_empty()
    {
        return Err(refuse(format!(
            "table {} does not have the shape cortex.cpp gave it:\n{}expected:\n{}",
            found.name,
            found.render(),
            want.render()
        )));
    }
    Ok(())
}

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

async fn exec<C: ConnectionTrait>(conn: &C, sql: &str) -> Result<()> {
    super::fault::point("sql: before statement")?;
    conn.execute_unprepared(sql)
        .await
        .map(|_| ())
        .map_err(|e| MigrateError::db(format!("adopting the cortex.cpp database ({sql})"), e))
}

/// Records the adopted steps and brings cortex.cpp's early table variants
/// to their final form. Runs inside the caller's transaction.
pub async fn adopt<C: ConnectionTrait>(
    conn: &C,
    found: &CortexCpp,
    steps: &[Box<dyn Step>],
) -> Result<Vec<String>> {
    let backend = conn.get_database_backend();
    history::install(conn)
        .await
        .map_err(|e| MigrateError::db("creating the bookkeeping tables", e))?;

    if found.hardware_uuid_without_key {
        let dups = conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT uuid FROM hardware GROUP BY uuid HAVING COUNT(*) > 1",
            ))
            .await
            .map_err(|e| MigrateError::db("checking hardware.uuid", e))?;
        if !dups.is_empty() {
            let ids = dups
                .iter()
                .filter_map(|r| r.try_get::<String>("", "uuid").ok())
                .collect::<Vec<_>>();
            return Err(refuse(format!(
                "table hardware (made by an early cortex.cpp without a key on uuid) has \
                 duplicate uuids ({}); remove the duplicates and run again",
                ids.join(", ")
            )));
        }
        let cols = if found.version >= 2 {
            ", priority INTEGER"
        } else {
            ""
        };
        let names = if found.version >= 2 {
            "uuid, type, hardware_id, software_id, activated, priority"
        } else {
            "uuid, type, hardware_id, software_id, activated"
        };
        exec(
            conn,
            &format!(
                "CREATE TABLE cortex_migrate_hardware_new (uuid TEXT PRIMARY KEY, type TEXT NOT NULL, \
                 hardware_id INTEGER NOT NULL, software_id INTEGER NOT NULL, \
                 activated INTEGER NOT NULL CHECK (activated IN (0, 1)){cols})"
            ),
        )
        .await?;
        exec(
            conn,
            &format!(
                "INSERT INTO cortex_migrate_hardware_new ({names}) SELECT {names} FROM hardware"
            ),
        )
        .await?;
        exec(conn, "DROP TABLE hardware").await?;
        exec(
            conn,
            "ALTER TABLE cortex_migrate_hardware_new RENAME TO hardware",
        )
        .await?;
    }

    match found.schema_version_table {
        TableForm::EarlyVariant => {
            exec(conn, "DROP TABLE schema_version").await?;
            exec(
                conn,
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY)",
            )
            .await?;
        }
        TableForm::Missing if found.version >= 0 => {
            exec(
                conn,
                "CREATE TABLE schema_version (version INTEGER PRIMARY KEY)",
            )
            .await?;
        }
        _ => {}
    }
    if found.version >= 0 {
        for sql in SchemaOp::SetCortexVersion(found.version).sql(backend) {
            exec(conn, &sql).await?;
        }
    }

    let mut adopted = Vec::new();
    for step in steps {
        let Some(v) = step.cortex_version() else {
            continue;
        };
        if v > found.version {
            continue;
        }
        let sum = checksum(step.as_ref());
        history::record_up(
            conn,
            Record {
                version: step.name(),
                checksum: &sum,
                origin: Origin::Adopted,
                schema_after: None,
                down_recipe: None,
            },
        )
        .await
        .map_err(|e| MigrateError::db(format!("recording adopted step {}", step.name()), e))?;
        adopted.push(step.name().to_owned());
    }
    Ok(adopted)
}
