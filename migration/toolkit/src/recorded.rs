//! Steps that a newer binary applied and this one does not know: each is
//! stood in for by a [`RecordedStep`] built from the recipe stored when it
//! was applied, so that an older binary can step the data down to what it
//! knows, through the same runner (transaction, journal, recovery) as any
//! step. Such a step can only go down.

use sea_orm_migration::prelude::*;

use super::error::MigrateError;
use super::step::{Step, StepKind, StepSource};
use super::step_context::StepContext;
use super::undo::StoredUndo;

/// An applied step known only by its stored recipe.
#[derive(Debug, Clone)]
pub struct RecordedStep {
    name: String,
    recipe: Option<StoredUndo>,
}

impl RecordedStep {
    pub fn new(name: String, recipe: Option<StoredUndo>) -> RecordedStep {
        RecordedStep { name, recipe }
    }
}

impl MigrationName for RecordedStep {
    fn name(&self) -> &str {
        &self.name
    }
}

impl StepSource for RecordedStep {
    /// A recorded step has no source here: its checksum is never compared,
    /// it only goes down.
    fn source(&self) -> &'static str {
        ""
    }
}

#[async_trait::async_trait]
impl Step for RecordedStep {
    async fn up(&self, _cx: &StepContext<'_>) -> Result<(), MigrateError> {
        Err(MigrateError::Refused(format!(
            "step {} belongs to a newer cortex-migrate; this binary can only undo it",
            self.name
        )))
    }

    async fn down(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        match &self.recipe {
            Some(r) => cx.replay(r).await,
            None => Err(MigrateError::NoStoredUndo {
                step: self.name.clone(),
            }),
        }
    }

    fn summary(&self) -> &'static str {
        "applied by a newer cortex-migrate; undone from the recipe it stored"
    }

    fn kind(&self) -> StepKind {
        if self.recipe.as_ref().is_some_and(StoredUndo::touches_files) {
            StepKind::Folder
        } else {
            StepKind::Schema
        }
    }

    /// Replayable only from a stored recipe that does not read data.
    fn down_storable(&self) -> bool {
        self.recipe.as_ref().is_some_and(|r| r.storable)
    }
}
