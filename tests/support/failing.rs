//! A test-only migrator whose second step fails half-way, after changing
//! the schema, the rows and files in the data folder.

use migration::toolkit::{
    MigrateError, SeaOrmMigrator, Step, StepContext, StepKind, StepList, StepSource,
};
use sea_orm::ConnectionTrait;
use sea_orm_migration::MigrationName;

pub struct CreateNotes;
pub struct FailHalfway;

pub const FIRST: &str = "m20990101_000001_create_notes";
pub const SECOND: &str = "m20990101_000002_fail_halfway";

impl MigrationName for CreateNotes {
    fn name(&self) -> &str {
        FIRST
    }
}

impl MigrationName for FailHalfway {
    fn name(&self) -> &str {
        SECOND
    }
}

impl StepSource for CreateNotes {
    fn source(&self) -> &'static str {
        include_str!("failing.rs")
    }
}

impl StepSource for FailHalfway {
    fn source(&self) -> &'static str {
        include_str!("failing.rs")
    }
}

#[async_trait::async_trait]
impl Step for CreateNotes {
    fn summary(&self) -> &'static str {
        "test: create notes"
    }

    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        let c = cx.manager().get_connection();
        c.execute_unprepared("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            .await?;
        c.execute_unprepared("INSERT INTO notes (body) VALUES ('first'), ('second')")
            .await?;
        Ok(())
    }

    async fn down(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        cx.manager()
            .get_connection()
            .execute_unprepared("DROP TABLE notes")
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Step for FailHalfway {
    fn summary(&self) -> &'static str {
        "test: fail half-way"
    }

    fn kind(&self) -> StepKind {
        StepKind::Folder
    }

    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        let c = cx.manager().get_connection();
        c.execute_unprepared("ALTER TABLE notes ADD COLUMN tag TEXT")
            .await?;
        c.execute_unprepared("UPDATE notes SET body = body || ' (changed)', tag = 'x'")
            .await?;
        c.execute_unprepared("CREATE TABLE half (id INTEGER)")
            .await?;
        let folder = cx.folder()?;
        folder.create_dir_all("models/new/place").await?;
        folder
            .move_path("models/a/model.gguf", "models/new/place/model.gguf")
            .await?;
        folder
            .rewrite("models/a/model.yml", b"engine: changed\n".to_vec())
            .await?;
        folder.delete("logs").await?;
        folder
            .create_file("models/new/created.txt", b"hello".to_vec())
            .await?;
        Err(MigrateError::Refused(
            "the second step fails half-way on purpose".into(),
        ))
    }

    async fn down(&self, _cx: &StepContext<'_>) -> Result<(), MigrateError> {
        Ok(())
    }
}

pub struct FailingSteps;

impl StepList for FailingSteps {
    fn steps() -> Vec<Box<dyn Step>> {
        vec![Box::new(CreateNotes), Box::new(FailHalfway)]
    }
}

pub type FailingMigrator = SeaOrmMigrator<FailingSteps>;

/// A data folder with the files the failing step touches.
pub fn folder() -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    let d = t.path();
    std::fs::create_dir_all(d.join("models/a")).unwrap();
    std::fs::create_dir_all(d.join("logs")).unwrap();
    std::fs::write(d.join("models/a/model.gguf"), vec![7u8; 4096]).unwrap();
    std::fs::write(d.join("models/a/model.yml"), b"engine: cortex.llamacpp\n").unwrap();
    std::fs::write(d.join("logs/cortex.log"), b"log line\n").unwrap();
    t
}
