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
//!
//! `recognize` reads the database and says what it is, against the tables
//! as each cortex.cpp version made them (`cortex_tables`); this file holds
//! what was found and [`adopt`], which records it.

mod cortex_tables;
mod recognize;

pub use recognize::{inspect, inspect_unmanaged};

use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

use super::error::{MigrateError, Result};
use super::history::{self, Origin, Record};
use super::schema_ops::SchemaOp;
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

/// The refusal of a database that no cortex.cpp version could have made.
fn refuse(reason: impl Into<String>) -> MigrateError {
    MigrateError::Adoption {
        reason: reason.into(),
    }
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
