//! Two binaries' worth of migrators on one data folder: an older one that
//! knows steps 1..3 and a newer one with steps 1..5 (a schema step and a
//! folder step on top), plus a newer-still one whose last step cannot store
//! its down, and an older one whose step 3 was changed after it ran.

#![allow(dead_code)]

use migration::toolkit::undo::{self, LineEdit};
use migration::toolkit::{
    Change, LinesEdited, MigrateError, SchemaOp, SeaOrmMigrator, Step, StepContext, StepKind,
    StepList, StepSource,
};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use sea_orm_migration::prelude::*;

macro_rules! named {
    ($ty:ident, $name:expr) => {
        pub struct $ty;
        impl MigrationName for $ty {
            fn name(&self) -> &str {
                $name
            }
        }
    };
}

named!(S1, "m20990101_000001_notes");
named!(S2, "m20990102_000001_notes_tag");
named!(S3, "m20990103_000001_labels");
named!(S3Changed, "m20990103_000001_labels");
named!(S4, "m20990104_000001_notes_color_and_pins");
named!(S5, "m20990105_000001_move_notes_folder");
named!(S6, "m20990106_000001_merge_labels");

pub const S3_NAME: &str = "m20990103_000001_labels";

fn notes_table() -> TableCreateStatement {
    Table::create()
        .table(Alias::new("notes"))
        .col(ColumnDef::new(Alias::new("id")).integer().primary_key())
        .col(ColumnDef::new(Alias::new("body")).text())
        .to_owned()
}

/// A step written as schema ops: `up_ops`/`down_ops` are all there is. Its
/// source (for the checksum) is the text of those ops.
macro_rules! ops_step {
    ($ty:ident, $summary:expr, up: $up:expr, down: $down:expr) => {
        impl StepSource for $ty {
            fn source(&self) -> &'static str {
                concat!(stringify!($up), "\n", stringify!($down))
            }
        }
        #[async_trait::async_trait]
        impl Step for $ty {
            fn summary(&self) -> &'static str {
                $summary
            }
            fn up_ops(&self, _b: DbBackend) -> Vec<SchemaOp> {
                $up
            }
            fn down_ops(&self, _b: DbBackend) -> Vec<SchemaOp> {
                $down
            }
        }
    };
}

ops_step!(S1, "test: notes",
    up: vec![SchemaOp::CreateTable { table: "notes", archive_tag: "t1", stmt: notes_table() }],
    down: vec![SchemaOp::ArchiveTable { archive_tag: "t1", table: "notes" }]);

ops_step!(S2, "test: notes.tag",
    up: vec![
        SchemaOp::AddColumn { table: "notes", column: ColumnDef::new(Alias::new("tag")).text().to_owned() },
        SchemaOp::RestoreColumns { archive_tag: "t2", table: "notes", key: "id", columns: &["tag"] },
    ],
    down: vec![SchemaOp::ArchiveColumns { archive_tag: "t2", table: "notes", key: "id", columns: &["tag"] }]);

ops_step!(S3, "test: labels",
    up: vec![SchemaOp::CreateTable {
        table: "labels",
        archive_tag: "t3",
        stmt: Table::create()
            .table(Alias::new("labels"))
            .col(ColumnDef::new(Alias::new("id")).text().primary_key())
            .col(ColumnDef::new(Alias::new("name")).text())
            .to_owned(),
    }],
    down: vec![SchemaOp::ArchiveTable { archive_tag: "t3", table: "labels" }]);

// The same step, edited after it ran somewhere (a nightly that changed it).
ops_step!(S3Changed, "test: labels (changed)",
    up: vec![SchemaOp::CreateTable {
        table: "labels",
        archive_tag: "t3",
        stmt: Table::create()
            .table(Alias::new("labels"))
            .col(ColumnDef::new(Alias::new("id")).text().primary_key())
            .col(ColumnDef::new(Alias::new("name")).text())
            .col(ColumnDef::new(Alias::new("color")).text())
            .to_owned(),
    }],
    down: vec![SchemaOp::ArchiveTable { archive_tag: "t3", table: "labels" }]);

ops_step!(S4, "test: notes.color and pins",
up: vec![
    SchemaOp::AddColumn { table: "notes", column: ColumnDef::new(Alias::new("color")).text().to_owned() },
    SchemaOp::RestoreColumns { archive_tag: "t4", table: "notes", key: "id", columns: &["color"] },
    SchemaOp::CreateTable {
        table: "pins",
        archive_tag: "t4",
        stmt: Table::create()
            .table(Alias::new("pins"))
            .col(ColumnDef::new(Alias::new("note_id")).integer().primary_key())
            .col(ColumnDef::new(Alias::new("at")).big_integer())
            .to_owned(),
    },
],
down: vec![
    SchemaOp::ArchiveTable { archive_tag: "t4", table: "pins" },
    SchemaOp::ArchiveColumns { archive_tag: "t4", table: "notes", key: "id", columns: &["color"] },
]);

impl StepSource for S5 {
    fn source(&self) -> &'static str {
        include_str!("versions.rs")
    }
}

impl StepSource for S6 {
    fn source(&self) -> &'static str {
        include_str!("versions.rs")
    }
}

#[async_trait::async_trait]
impl Step for S5 {
    fn summary(&self) -> &'static str {
        "test: move notes-dir to notes, rename it in its config, tag untagged notes"
    }

    fn kind(&self) -> StepKind {
        StepKind::Folder
    }

    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        let folder = cx.folder()?;
        let root = folder.dir().root().to_path_buf();
        if root.join("notes-dir").exists() {
            folder.move_path("notes-dir", "notes").await?;
        }
        let config = root.join("notes/config.yml");
        if let Ok(text) = std::fs::read_to_string(&config) {
            let edit = LineEdit {
                line: 0,
                before: "name: old".into(),
                after: "name: new".into(),
            };
            if let Ok(new) = undo::apply_line_edits(&text, std::slice::from_ref(&edit)) {
                folder
                    .write_edited(vec![LinesEdited {
                        path: "notes/config.yml".into(),
                        text: new,
                        edits: vec![edit],
                    }])
                    .await?;
            }
        }
        let conn = cx.manager().get_connection();
        let backend = cx.backend();
        let rows = conn
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT id FROM notes WHERE tag IS NULL",
            ))
            .await?;
        let ids: Vec<String> = rows
            .iter()
            .map(|r| r.try_get::<i64>("", "id").map(|i| i.to_string()))
            .collect::<Result<_, _>>()?;
        let changes: Vec<Change> = ids
            .into_iter()
            .map(|key| Change {
                key,
                old: None,
                new: Some("moved".into()),
            })
            .collect();
        cx.set_values("notes", "id", "tag", &changes).await
    }

    async fn down(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        cx.undo().await
    }
}

#[async_trait::async_trait]
impl Step for S6 {
    fn summary(&self) -> &'static str {
        "test: merge labels (its down must read data)"
    }

    fn down_storable(&self) -> bool {
        false
    }

    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        cx.manager()
            .get_connection()
            .execute_unprepared("UPDATE labels SET name = lower(name)")
            .await?;
        Ok(())
    }

    async fn down(&self, _cx: &StepContext<'_>) -> Result<(), MigrateError> {
        Err(MigrateError::Refused("the old names are gone".into()))
    }
}

/// The older binary: steps 1..3.
pub struct OldSteps;
impl StepList for OldSteps {
    fn steps() -> Vec<Box<dyn Step>> {
        vec![Box::new(S1), Box::new(S2), Box::new(S3)]
    }
}
pub type OldMigrator = SeaOrmMigrator<OldSteps>;

/// The newer binary: steps 1..5.
pub struct NewSteps;
impl StepList for NewSteps {
    fn steps() -> Vec<Box<dyn Step>> {
        vec![
            Box::new(S1),
            Box::new(S2),
            Box::new(S3),
            Box::new(S4),
            Box::new(S5),
        ]
    }
}
pub type NewMigrator = SeaOrmMigrator<NewSteps>;

/// A newer-still binary whose last step cannot store its down.
pub struct NewestMigrator;
impl StepList for NewestMigrator {
    fn steps() -> Vec<Box<dyn Step>> {
        vec![
            Box::new(S1),
            Box::new(S2),
            Box::new(S3),
            Box::new(S4),
            Box::new(S5),
            Box::new(S6),
        ]
    }
}

/// An older binary whose step 3 was edited after it ran.
pub struct DriftedMigrator;
impl StepList for DriftedMigrator {
    fn steps() -> Vec<Box<dyn Step>> {
        vec![Box::new(S1), Box::new(S2), Box::new(S3Changed)]
    }
}

/// The steps of a binary by its name.
pub fn steps_of(binary: &str) -> Vec<Box<dyn Step>> {
    match binary {
        "old" => OldMigrator::steps(),
        "new" => NewMigrator::steps(),
        "newest" => NewestMigrator::steps(),
        _ => DriftedMigrator::steps(),
    }
}

/// A data folder with a `notes-dir` the folder step moves.
pub fn folder() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(t.path().join("notes-dir/attachments")).unwrap();
    std::fs::write(
        t.path().join("notes-dir/config.yml"),
        "name: old\nkeep: this line\n",
    )
    .unwrap();
    std::fs::write(
        t.path().join("notes-dir/attachments/a.bin"),
        vec![9u8; 10_000],
    )
    .unwrap();
    t
}
