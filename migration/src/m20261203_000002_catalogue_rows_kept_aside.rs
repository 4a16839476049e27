//! The history of a data folder whose `m20250110_000001_cortex_v3` was
//! applied (or adopted) by that step's first definition gets the corrected
//! definition's checksum on record. The first definition's `down` left
//! cortex.cpp's catalogue rows (`status = 'downloadable'`, empty
//! `path_to_model_yaml`) in `models`, where the schema-1/2 builds fail to
//! parse them and v1.0.4 deletes them; the corrected one keeps them in an
//! archive table and its `up` puts them back (the reasons, with the
//! cortex.cpp source they come from, are in that step's documentation).
//! Both definitions' `up` leave the same schema and rows (the corrected
//! `up` only adds putting back an archive that the first definition never
//! made), so a folder on either is the same data and nothing but the
//! record changes.
//!
//! On a history that holds the first definition's checksum for this
//! backend, this step writes the current checksum into `cortex_v3`'s row
//! and notes it, so `verify` is clean and the supersession is on record
//! (this step's own row and recipe). Its `down` puts the first checksum
//! back. On any other history it does nothing.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261203_000001_engine_folders_by_repository::stored_checksum;
use crate::toolkit::STEPS_TABLE;
use crate::toolkit::checksum;
use crate::toolkit::{Change, MigrateError, Step, StepContext};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The step whose first definition had no archive of catalogue rows.
const CORTEX_V3: &str = "m20250110_000001_cortex_v3";

/// The checksums `m20250110_000001_cortex_v3` had in its first definition
/// (a `files` table and `schema_version` 3 up; the `files` archive and
/// `schema_version` 2 down), per backend (the SQL differs), in the first
/// checksum scheme. A test computes them from that definition.
pub const FIRST_DEFINITION_CHECKSUMS: [(DbBackend, &str); 3] = [
    (
        DbBackend::Sqlite,
        "8ea77d509f92f31cd4ad3e26f8eb8cba48bd7a22f52c6b78d39190efafa87b41",
    ),
    (
        DbBackend::Postgres,
        "cd812dbf9eda63390c57dfc4ef3cf6e7958f931a4145793ceff8682a1270663d",
    ),
    (
        DbBackend::MySql,
        "0a4963321b76f61d6b404c9332f4a370acb0219ecc5282244330e2b53eedf417",
    ),
];

/// The first definition's checksum on `backend`, if it ran there.
pub fn first_definition_checksum(backend: DbBackend) -> Option<&'static str> {
    FIRST_DEFINITION_CHECKSUMS
        .iter()
        .find(|(b, _)| *b == backend)
        .map(|(_, sum)| *sum)
}

#[async_trait::async_trait]
impl Step for Migration {
    fn summary(&self) -> &'static str {
        "record cortex_v3's corrected definition (its down keeps catalogue rows in an archive) where the first one was applied"
    }

    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        let Some(first) = first_definition_checksum(cx.backend()) else {
            return Ok(());
        };
        let stored = stored_checksum(cx.manager().get_connection(), CORTEX_V3).await?;
        if stored.as_deref() != Some(first) {
            return Ok(());
        }
        let current = checksum(&crate::m20250110_000001_cortex_v3::Migration);
        let change = Change {
            key: CORTEX_V3.to_owned(),
            old: Some(first.into()),
            new: Some(current.clone().into()),
        };
        cx.set_values(STEPS_TABLE, "version", "checksum", &[change])
            .await?;
        cx.note(format!(
            "{CORTEX_V3} was applied by its first definition (checksum {}), whose down left \
             catalogue rows where older cortex.cpp builds fail on them; its record now carries \
             the corrected definition's checksum {}",
            first.get(..12).unwrap_or(first),
            current.get(..12).unwrap_or(&current)
        ));
        Ok(())
    }

    /// Puts the first checksum back (the undo `up` recorded).
    async fn down(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        cx.undo().await
    }
}
