//! The throwaway steps of `tests/new_steps.rs`, written as a new step would
//! be: a schema step (a `notes` table, written as ops; its down archives it)
//! and a folder step (moves `logs/` aside, edits a line of a model.yml
//! written behind it, sets a column without waiting for that write; its
//! down replays what it recorded), a failing twin of the
//! folder step, the test migrators that append them to the real Cortex
//! steps, and the helpers that look at what they did. This file's text is
//! the steps' source, which their checksums are made of.
// Each test file uses a part of this module.
#![allow(dead_code)]

use migration::toolkit::runner::{Options, Runner, Target};
use migration::toolkit::undo::{self, LineEdit};
use migration::toolkit::{
    Change, LinesEdited, MigrateError, SchemaOp, SeaOrmMigrator, Step, StepContext, StepKind,
    StepList, StepSource,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use sea_orm_migration::prelude::*;

use crate::common::{self, Fixture};

pub const NOTES: &str = "m20991201_000001_notes";
pub const TIDY: &str = "m20991201_000002_tidy_logs";

// ---------------------------------------------------------------------------
// The schema step: ops only.

pub struct Notes;

impl MigrationName for Notes {
    fn name(&self) -> &str {
        NOTES
    }
}

impl StepSource for Notes {
    fn source(&self) -> &'static str {
        include_str!("new_steps.rs")
    }
}

#[async_trait::async_trait]
impl Step for Notes {
    fn summary(&self) -> &'static str {
        "test: notes on models"
    }

    fn up_ops(&self, _backend: DbBackend) -> Vec<SchemaOp> {
        vec![SchemaOp::CreateTable {
            table: "notes",
            archive_tag: "n1",
            stmt: Table::create()
                .table(Alias::new("notes"))
                .col(ColumnDef::new(Alias::new("id")).integer().primary_key())
                .col(ColumnDef::new(Alias::new("model_id")).text().not_null())
                .col(ColumnDef::new(Alias::new("body")).text())
                .to_owned(),
        }]
    }

    fn down_ops(&self, _backend: DbBackend) -> Vec<SchemaOp> {
        vec![SchemaOp::ArchiveTable {
            archive_tag: "n1",
            table: "notes",
        }]
    }
}

// ---------------------------------------------------------------------------
// The folder step: `up` written out, `down` replays what `up` recorded.

pub const TINYLLAMA_YML: &str = "models/cortex.so/tinyllama/1b/model.yml";
pub const NEW_ALIAS: &str = "tiny-notes";

pub struct TidyLogs;

impl MigrationName for TidyLogs {
    fn name(&self) -> &str {
        TIDY
    }
}

impl StepSource for TidyLogs {
    fn source(&self) -> &'static str {
        include_str!("new_steps.rs")
    }
}

#[async_trait::async_trait]
impl Step for TidyLogs {
    fn summary(&self) -> &'static str {
        "test: move logs aside, rename tinyllama in its model.yml and its row"
    }

    fn kind(&self) -> StepKind {
        StepKind::Folder
    }

    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        tidy(cx).await
    }

    async fn down(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        cx.undo().await
    }
}

/// The folder step's work: a move, a line edit and a value, each recording
/// what undoes it.
async fn tidy(cx: &StepContext<'_>) -> Result<(), MigrateError> {
    let folder = cx.folder()?;
    folder.move_path("logs", "logs-archive").await?;

    let path = folder.dir().root().join(TINYLLAMA_YML);
    let text = std::fs::read_to_string(&path).map_err(|e| MigrateError::io("read", &path, e))?;
    let Some((line, before)) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.starts_with("name: "))
    else {
        cx.note(format!("{TINYLLAMA_YML} has no name: line"));
        return Ok(());
    };
    let edit = LineEdit {
        line,
        before: before.to_owned(),
        after: format!("name: {NEW_ALIAS}"),
    };
    let new = undo::apply_line_edits(&text, std::slice::from_ref(&edit))
        .map_err(|reason| MigrateError::Yaml { path, reason })?;
    // Written behind the step, which goes on to its row without waiting:
    // the runner waits for the write before the commit (or, when the step
    // fails, before the rollback).
    folder
        .start_edited(vec![LinesEdited {
            path: TINYLLAMA_YML.into(),
            text: new,
            edits: vec![edit],
        }])
        .await?;

    let old = cx
        .manager()
        .get_connection()
        .query_one(
            Query::select()
                .column(Alias::new("model_alias"))
                .from(Alias::new("models"))
                .and_where(Expr::col(Alias::new("model_id")).eq(common::TINYLLAMA)),
        )
        .await?
        .map(|r| r.try_get::<Option<String>>("", "model_alias"))
        .transpose()?
        .flatten();
    cx.set_values(
        "models",
        "model_id",
        "model_alias",
        &[Change {
            key: common::TINYLLAMA.into(),
            old: old.map(Into::into),
            new: Some(NEW_ALIAS.into()),
        }],
    )
    .await
}

/// The folder step again, failing after all its work.
pub struct TidyLogsFailing;

impl MigrationName for TidyLogsFailing {
    fn name(&self) -> &str {
        TIDY
    }
}

impl StepSource for TidyLogsFailing {
    fn source(&self) -> &'static str {
        include_str!("new_steps.rs")
    }
}

#[async_trait::async_trait]
impl Step for TidyLogsFailing {
    fn summary(&self) -> &'static str {
        "test: the folder step, failing half-way"
    }

    fn kind(&self) -> StepKind {
        StepKind::Folder
    }

    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        tidy(cx).await?;
        Err(MigrateError::Refused(
            "the folder step fails on purpose".into(),
        ))
    }

    async fn down(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        cx.undo().await
    }
}

// ---------------------------------------------------------------------------
// The test migrators: the real steps, then the new ones.

pub struct WithNewSteps;

impl StepList for WithNewSteps {
    fn steps() -> Vec<Box<dyn Step>> {
        let mut steps = migration::CortexSteps::steps();
        steps.push(Box::new(Notes));
        steps.push(Box::new(TidyLogs));
        steps
    }
}

pub type TestMigrator = SeaOrmMigrator<WithNewSteps>;

pub struct WithFailingStep;

impl StepList for WithFailingStep {
    fn steps() -> Vec<Box<dyn Step>> {
        let mut steps = migration::CortexSteps::steps();
        steps.push(Box::new(Notes));
        steps.push(Box::new(TidyLogsFailing));
        steps
    }
}

// ---------------------------------------------------------------------------
// Helpers.

pub const TABLES: [&str; 6] = [
    "schema_version",
    "models",
    "hardware",
    "engines",
    "files",
    "notes",
];

pub fn last_real_step() -> String {
    migration::CortexSteps::steps()
        .last()
        .map(|s| s.name().to_owned())
        .expect("the real steps are not empty")
}

/// A cortex.cpp v3 folder with every real step applied.
pub async fn migrated_v3() -> Fixture {
    let fx = common::cortex_folder(3).await;
    common::run_steps(&fx, migration::CortexSteps::steps(), true, Target::All).await;
    fx
}

/// Every file of the data folder but the database, then the rows of the
/// Cortex tables and `notes`, the schema snapshot and the applied steps.
pub async fn digest(fx: &Fixture) -> String {
    let db = fx.connect().await;
    let state = common::db_state(&db, &TABLES).await;
    db.close().await.expect("closing the digest's connection");
    format!("{:?}\n{state}", common::files_but_db(fx))
}

/// A runner of `steps` on `db`, with default options.
pub async fn runner(db: &DatabaseConnection, steps: Vec<Box<dyn Step>>) -> Runner<'_> {
    Runner::new(db, steps, Options::default())
        .await
        .expect("opening the runner")
}

/// tinyllama's `model_alias`.
pub async fn alias(db: &DatabaseConnection) -> Option<String> {
    db.query_one(
        Query::select()
            .column(Alias::new("model_alias"))
            .from(Alias::new("models"))
            .and_where(Expr::col(Alias::new("model_id")).eq(common::TINYLLAMA)),
    )
    .await
    .unwrap()
    .unwrap()
    .try_get("", "model_alias")
    .unwrap()
}

/// The `body` of every `notes` row, by id.
pub async fn notes_bodies(db: &DatabaseConnection) -> Vec<String> {
    db.query_all(
        Query::select()
            .column(Alias::new("body"))
            .from(Alias::new("notes"))
            .order_by(Alias::new("id"), Order::Asc),
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get("", "body").unwrap())
    .collect()
}

/// The text of `rel` in the data folder.
pub fn read(fx: &Fixture, rel: &str) -> String {
    std::fs::read_to_string(fx.data.join(rel)).unwrap()
}
