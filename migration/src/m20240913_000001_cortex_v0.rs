//! cortex.cpp schema v0: `schema_version`, `models` and `hardware`, exactly
//! as cortex.cpp's own v0 migration created them.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::toolkit::{SchemaOp, Step, key_text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum SchemaVersion {
    Table,
    Version,
}

#[derive(DeriveIden)]
pub(crate) enum Models {
    Table,
    ModelId,
    AuthorRepoId,
    BranchName,
    PathToModelYaml,
    ModelAlias,
}

// Column names are cortex.cpp's (`hardware_id` in table `hardware`).
#[allow(clippy::enum_variant_names)]
#[derive(DeriveIden)]
pub(crate) enum Hardware {
    Table,
    Uuid,
    Type,
    HardwareId,
    SoftwareId,
    Activated,
}

#[async_trait::async_trait]
impl Step for Migration {
    fn summary(&self) -> &'static str {
        "cortex.cpp schema v0: schema_version, models, hardware"
    }

    fn cortex_version(&self) -> Option<i64> {
        Some(0)
    }

    fn up_ops(&self, backend: DbBackend) -> Vec<SchemaOp> {
        vec![
            SchemaOp::CreateTable {
                table: "schema_version",
                archive_tag: "v0",
                stmt: Table::create()
                    .table(SchemaVersion::Table)
                    .col(
                        ColumnDef::new(SchemaVersion::Version)
                            .integer()
                            .primary_key(),
                    )
                    .to_owned(),
            },
            SchemaOp::CreateTable {
                table: "models",
                archive_tag: "v0",
                stmt: Table::create()
                    .table(Models::Table)
                    .col(key_text(backend, Models::ModelId).primary_key())
                    .col(ColumnDef::new(Models::AuthorRepoId).text())
                    .col(ColumnDef::new(Models::BranchName).text())
                    .col(ColumnDef::new(Models::PathToModelYaml).text())
                    .col(ColumnDef::new(Models::ModelAlias).text())
                    .to_owned(),
            },
            SchemaOp::CreateTable {
                table: "hardware",
                archive_tag: "v0",
                stmt: Table::create()
                    .table(Hardware::Table)
                    .col(key_text(backend, Hardware::Uuid).primary_key())
                    .col(ColumnDef::new(Hardware::Type).text().not_null())
                    .col(ColumnDef::new(Hardware::HardwareId).integer().not_null())
                    .col(ColumnDef::new(Hardware::SoftwareId).integer().not_null())
                    .col(
                        ColumnDef::new(Hardware::Activated)
                            .integer()
                            .not_null()
                            .check(Expr::col(Hardware::Activated).is_in([0, 1])),
                    )
                    .to_owned(),
            },
            SchemaOp::SetCortexVersion(0),
        ]
    }

    fn down_ops(&self, _backend: DbBackend) -> Vec<SchemaOp> {
        vec![
            SchemaOp::ArchiveTable {
                archive_tag: "v0",
                table: "hardware",
            },
            SchemaOp::ArchiveTable {
                archive_tag: "v0",
                table: "models",
            },
            SchemaOp::DropTable("schema_version"),
        ]
    }
}
