//! cortex.cpp schema v2: `models.metadata` and `hardware.priority`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::toolkit::{SchemaOp, Step};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Models {
    Metadata,
}

#[derive(DeriveIden)]
pub(crate) enum Hardware {
    Priority,
}

#[async_trait::async_trait]
impl Step for Migration {
    fn summary(&self) -> &'static str {
        "cortex.cpp schema v2: models.metadata, hardware.priority"
    }

    fn cortex_version(&self) -> Option<i64> {
        Some(2)
    }

    fn up_ops(&self, _backend: DbBackend) -> Vec<SchemaOp> {
        vec![
            SchemaOp::AddColumn {
                table: "models",
                column: ColumnDef::new(Models::Metadata).text().to_owned(),
            },
            SchemaOp::AddColumn {
                table: "hardware",
                column: ColumnDef::new(Hardware::Priority).integer().to_owned(),
            },
            SchemaOp::RestoreColumns {
                archive_tag: "v2",
                table: "models",
                key: "model_id",
                columns: &["metadata"],
            },
            SchemaOp::RestoreColumns {
                archive_tag: "v2",
                table: "hardware",
                key: "uuid",
                columns: &["priority"],
            },
            SchemaOp::SetCortexVersion(2),
        ]
    }

    fn down_ops(&self, _backend: DbBackend) -> Vec<SchemaOp> {
        vec![
            SchemaOp::ArchiveColumns {
                archive_tag: "v2",
                table: "hardware",
                key: "uuid",
                columns: &["priority"],
            },
            SchemaOp::ArchiveColumns {
                archive_tag: "v2",
                table: "models",
                key: "model_id",
                columns: &["metadata"],
            },
            SchemaOp::SetCortexVersion(1),
        ]
    }
}
