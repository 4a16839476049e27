//! cortex.cpp schema v1: `models` gains format, source, status and engine
//! (added one at a time, each only if missing, as cortex.cpp did); the
//! `engines` table appears.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::toolkit::{SchemaOp, Step, key_text};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
pub(crate) enum Models {
    ModelFormat,
    ModelSource,
    Status,
    Engine,
}

#[derive(DeriveIden)]
pub(crate) enum Engines {
    Table,
    Id,
    EngineName,
    Type,
    ApiKey,
    Url,
    Version,
    Variant,
    Status,
    Metadata,
    DateCreated,
    DateUpdated,
}

const NEW_MODEL_COLUMNS: &[&str] = &["model_format", "model_source", "status", "engine"];

#[async_trait::async_trait]
impl Step for Migration {
    fn summary(&self) -> &'static str {
        "cortex.cpp schema v1: models.model_format/model_source/status/engine, engines"
    }

    fn cortex_version(&self) -> Option<i64> {
        Some(1)
    }

    fn up_ops(&self, backend: DbBackend) -> Vec<SchemaOp> {
        let mut ops: Vec<SchemaOp> = [
            Models::ModelFormat,
            Models::ModelSource,
            Models::Status,
            Models::Engine,
        ]
        .into_iter()
        .map(|c| SchemaOp::AddColumn {
            table: "models",
            column: ColumnDef::new(c).text().to_owned(),
        })
        .collect();
        ops.push(SchemaOp::RestoreColumns {
            archive_tag: "v1",
            table: "models",
            key: "model_id",
            columns: NEW_MODEL_COLUMNS,
        });
        let mut engine_name = key_text(backend, Engines::EngineName);
        let mut variant = key_text(backend, Engines::Variant);
        ops.push(SchemaOp::CreateTable {
            table: "engines",
            archive_tag: "v1",
            stmt: Table::create()
                .table(Engines::Table)
                .col(
                    ColumnDef::new(Engines::Id)
                        .integer()
                        .primary_key()
                        .auto_increment(),
                )
                .col(&mut engine_name)
                .col(ColumnDef::new(Engines::Type).text())
                .col(ColumnDef::new(Engines::ApiKey).text())
                .col(ColumnDef::new(Engines::Url).text())
                .col(ColumnDef::new(Engines::Version).text())
                .col(&mut variant)
                .col(ColumnDef::new(Engines::Status).text())
                .col(ColumnDef::new(Engines::Metadata).text())
                .col(created_default(backend, Engines::DateCreated))
                .col(created_default(backend, Engines::DateUpdated))
                .index(
                    Index::create()
                        .unique()
                        .col(Engines::EngineName)
                        .col(Engines::Variant),
                )
                .to_owned(),
        });
        ops.push(SchemaOp::SetCortexVersion(1));
        ops
    }

    fn down_ops(&self, _backend: DbBackend) -> Vec<SchemaOp> {
        vec![
            SchemaOp::ArchiveTable {
                archive_tag: "v1",
                table: "engines",
            },
            SchemaOp::ArchiveColumns {
                archive_tag: "v1",
                table: "models",
                key: "model_id",
                columns: NEW_MODEL_COLUMNS,
            },
            SchemaOp::SetCortexVersion(0),
        ]
    }
}

/// `TEXT DEFAULT CURRENT_TIMESTAMP` as cortex.cpp wrote it: on SQLite that
/// stores `YYYY-MM-DD HH:MM:SS` in UTC. The servers get a default that
/// stores the same text (PostgreSQL would otherwise add fractions and a
/// zone; MySQL cannot default a TEXT column, so it gets a VARCHAR).
fn created_default(backend: DbBackend, col: Engines) -> ColumnDef {
    let mut c = ColumnDef::new(col);
    match backend {
        DbBackend::MySql => c.string_len(32).default(Expr::cust(
            "(DATE_FORMAT(UTC_TIMESTAMP(), '%Y-%m-%d %H:%i:%s'))",
        )),
        DbBackend::Postgres => c.text().default(Expr::cust(
            "to_char(CURRENT_TIMESTAMP AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')",
        )),
        _ => c.text().default(Expr::current_timestamp()),
    };
    c
}
