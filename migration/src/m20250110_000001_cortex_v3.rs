//! cortex.cpp schema v3: the `files` table (uploaded files).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::toolkit::{SchemaOp, Step, key_text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Files {
    Table,
    Id,
    Object,
    Purpose,
    Filename,
    CreatedAt,
    Bytes,
}

#[async_trait::async_trait]
impl Step for Migration {
    fn summary(&self) -> &'static str {
        "cortex.cpp schema v3: files"
    }

    fn cortex_version(&self) -> Option<i64> {
        Some(3)
    }

    fn up_ops(&self, backend: DbBackend) -> Vec<SchemaOp> {
        vec![
            SchemaOp::CreateTable {
                table: "files",
                archive_tag: "v3",
                stmt: Table::create()
                    .table(Files::Table)
                    .col(key_text(backend, Files::Id).primary_key())
                    .col(ColumnDef::new(Files::Object).text())
                    .col(ColumnDef::new(Files::Purpose).text())
                    .col(ColumnDef::new(Files::Filename).text())
                    // 64-bit on servers (sizes pass 2 GiB); SQLite spells
                    // both `integer`, as cortex.cpp did.
                    .col(ColumnDef::new(Files::CreatedAt).big_integer())
                    .col(ColumnDef::new(Files::Bytes).big_integer())
                    .to_owned(),
            },
            SchemaOp::SetCortexVersion(3),
        ]
    }

    fn down_ops(&self, _backend: DbBackend) -> Vec<SchemaOp> {
        vec![
            SchemaOp::ArchiveTable {
                archive_tag: "v3",
                table: "files",
            },
            SchemaOp::SetCortexVersion(2),
        ]
    }
}
