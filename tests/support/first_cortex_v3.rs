//! The first definition of `m20250110_000001_cortex_v3`, as the project's
//! main branch had it before its `down` kept catalogue rows aside: the
//! `files` table and `schema_version` 3 up; the `files` archive and
//! `schema_version` 2 down, leaving `downloadable` rows in `models`. Kept
//! here, verbatim but for its name, to build data folders "migrated by the
//! old main" and to prove the checksums
//! `m20261203_000002_catalogue_rows_kept_aside` recognises.

#![allow(dead_code)]

use migration::toolkit::{SchemaOp, Step, StepSource, key_text};
use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

pub struct FirstCortexV3;

impl MigrationName for FirstCortexV3 {
    fn name(&self) -> &str {
        "m20250110_000001_cortex_v3"
    }
}

#[derive(DeriveIden)]
enum Files {
    Table,
    Id,
    Object,
    Purpose,
    Filename,
    CreatedAt,
    Bytes,
}

impl StepSource for FirstCortexV3 {
    fn source(&self) -> &'static str {
        include_str!("first_cortex_v3.rs")
    }
}

#[async_trait::async_trait]
impl Step for FirstCortexV3 {
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

/// `steps` with `m20250110_000001_cortex_v3` replaced by its first
/// definition.
pub fn with_first_cortex_v3(mut steps: Vec<Box<dyn Step>>) -> Vec<Box<dyn Step>> {
    assert_eq!(steps[3].name(), "m20250110_000001_cortex_v3");
    steps[3] = Box::new(FirstCortexV3);
    steps
}
