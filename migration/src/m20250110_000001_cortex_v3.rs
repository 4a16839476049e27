//! cortex.cpp schema v3: the `files` table (uploaded files); its `down`
//! also moves aside the catalogue rows that only schema-3 builds can read.
//!
//! cortex.cpp's model sources (f473b0b2, "feat: model sources", after the
//! schema-3 migration 8dde05cc and first tagged in v1.0.5) write a
//! catalogue row into `models` for every model a hub lists:
//! `path_to_model_yaml = ""` and `status = Downloadable`, stored as
//! `downloadable` (`ModelSourceService::AddRepoSiblings` and
//! `AddCortexsoRepoBranch`, `engine/services/model_source_service.cc` at
//! v1.0.12; `Models::StatusToString`, `engine/database/models.cc` at
//! v1.0.12). The builds below schema 3 cannot keep such a row:
//! - schema 1 and 2 (nightlies 79f7679d and 0fa83b2e): `Models::StringToStatus`
//!   (`engine/database/models.cc`) knows `remote`, `downloaded` or empty,
//!   and `undownloaded`, and throws "Invalid status string" on anything
//!   else; `LoadModelListNoLock` parses every row, so one catalogue row
//!   makes the whole model list fail;
//! - schema 0 (v1.0.4, 4fe16038): `ModelService::ForceIndexingModelList`
//!   (`engine/services/model_service.cc`), run on every model list, reads
//!   the yml of every row at `ToAbsoluteCortexDataPath(path_to_model_yaml)`
//!   and deletes the row when that throws. An empty path is the data
//!   folder itself, which `YAML::LoadFile` cannot read as a file (it throws
//!   `BadFile` where a folder does not open, and the stream error "Is a
//!   directory" where it does), so the row is deleted. The schema-1 and -2
//!   builds run the same loop over every row (`model_service.cc` at
//!   79f7679d and 0fa83b2e); only from f473b0b2 on does it skip rows that
//!   are not `Downloaded`.
//!
//! So `down` keeps every row whose status the schema-1/2 builds cannot parse
//! (NULL reads as empty and stays) whole in `cortex_archive_v3_models`,
//! and `up` puts them back. That also covers the downs below: once they are
//! aside, every row left is one the schema-1/2 builds read by the same rule
//! as v1.0.4 (its yml, through the same loop), so `m20241010_000001_cortex_v1`
//! needs no archive of rows of its own. A row written again under the same
//! `model_id` while its catalogue row was archived (a schema-1/2 build
//! downloading that model) is kept as it is written, as cortex.cpp keeps a
//! downloaded row over a catalogue entry: a download turns the existing
//! row into the downloaded one (`ParseGguf`, `engine/services/model_service.cc`
//! at v1.0.12), and the catalogue sync rewrites only rows that are still
//! `Downloadable` (`AddRepoSiblings`, `AddCortexsoRepoBranch`, at v1.0.12).
//!
//! The first definition of this step had no row archive; its checksums are
//! superseded on record by `m20261203_000002_catalogue_rows_kept_aside`.

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

/// Every column of `models` at cortex.cpp schema 2 and 3 (v0's five, v1's
/// four, v2's `metadata`): a catalogue row, whole.
const MODEL_COLUMNS: &[&str] = &[
    "model_id",
    "author_repo_id",
    "branch_name",
    "path_to_model_yaml",
    "model_alias",
    "model_format",
    "model_source",
    "status",
    "engine",
    "metadata",
];

/// The `models.status` values the schema-1 and -2 builds parse
/// (`Models::StringToStatus`, `engine/database/models.cc` at 79f7679d and
/// 0fa83b2e); a row with any other status is archived by `down`.
const SCHEMA_2_STATUSES: &[&str] = &["", "remote", "downloaded", "undownloaded"];

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
            SchemaOp::RestoreRows {
                archive_tag: "v3",
                table: "models",
                key: "model_id",
                columns: MODEL_COLUMNS,
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
            SchemaOp::ArchiveRows {
                archive_tag: "v3",
                table: "models",
                key: "model_id",
                columns: MODEL_COLUMNS,
                column: "status",
                keep: SCHEMA_2_STATUSES,
            },
            SchemaOp::SetCortexVersion(2),
        ]
    }
}
