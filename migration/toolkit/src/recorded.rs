//! Steps that a newer binary applied and this one does not know: each is
//! stood in for by a [`RecordedStep`] built from the recipe stored when it
//! was applied, so that an older binary can step the data down to what it
//! knows, through the same runner (transaction, journal, recovery) as any
//! step. Such a step can only go down.

use sea_orm_migration::prelude::*;

use super::error::MigrateError;
use super::step::{Step, StepKind};
use super::undo::{self, Recipe};

/// An applied step known only by its stored recipe.
#[derive(Debug, Clone)]
pub struct RecordedStep {
    name: String,
    recipe: Option<Recipe>,
}

impl RecordedStep {
    pub fn new(name: String, recipe: Option<Recipe>) -> RecordedStep {
        RecordedStep { name, recipe }
    }
}

impl MigrationName for RecordedStep {
    fn name(&self) -> &str {
        &self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for RecordedStep {
    async fn up(&self, _manager: &SchemaManager) -> Result<(), DbErr> {
        Err(MigrateError::Refused(format!(
            "step {} belongs to a newer cortex-migrate; this binary can only undo it",
            self.name
        ))
        .into())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        match &self.recipe {
            Some(r) => undo::replay(manager, &self.name, r).await,
            None => Err(
                MigrateError::Refused(format!("step {} has no stored recipe", self.name)).into(),
            ),
        }
    }
}

impl Step for RecordedStep {
    fn summary(&self) -> &'static str {
        "applied by a newer cortex-migrate; undone from the recipe it stored"
    }

    fn kind(&self) -> StepKind {
        if self.recipe.as_ref().is_some_and(Recipe::touches_files) {
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
