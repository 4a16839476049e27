//! Data a newer binary migrated: the refusal that names both versions, and
//! the steps this binary does not know, stood in for by the recipes the
//! newer binary stored so that `down` can undo them.

use crate::backup;
use crate::error::{MigrateError, Result};
use crate::history::AppliedStep;
use crate::recorded::RecordedStep;
use crate::undo::{self, StoredUndo};

use super::Runner;

impl Runner<'_> {
    /// The refusal for data a newer binary migrated.
    pub(super) fn newer_data(&self, applied: &[AppliedStep], unknown: Vec<String>) -> MigrateError {
        MigrateError::UnknownAppliedSteps {
            data_version: applied
                .last()
                .map(|a| a.version.clone())
                .unwrap_or_default(),
            known_last: self.known_last().unwrap_or_else(|| "0".to_owned()),
            unknown,
        }
    }

    /// The last step this binary itself knows.
    pub fn known_last(&self) -> Option<String> {
        self.steps
            .iter()
            .rev()
            .find(|s| !self.recorded.iter().any(|r| r == s.name()))
            .map(|s| s.name().to_owned())
    }

    /// Stands in, for each applied step this binary does not know, a step
    /// built from the recipe stored when it was applied, so that `down` can
    /// undo it.
    pub(super) async fn load_recorded(&mut self) -> Result<()> {
        let applied = self.read_applied(&self.conn).await?;
        self.load_recorded_from(&applied).await
    }

    /// [`Runner::load_recorded`] from a history already read.
    /// Only the recipes of those steps are read.
    pub(super) async fn load_recorded_from(&mut self, applied: &[AppliedStep]) -> Result<()> {
        for a in applied {
            if self.steps.iter().any(|s| s.name() == a.version) {
                continue;
            }
            let recipe: Option<StoredUndo> = if a.has_recipe {
                undo::load(&self.conn, &a.version).await?
            } else {
                None
            };
            let at = self
                .steps
                .iter()
                .position(|s| s.name() > a.version.as_str())
                .unwrap_or(self.steps.len());
            self.steps
                .insert(at, Box::new(RecordedStep::new(a.version.clone(), recipe)));
            self.recorded.push(a.version.clone());
        }
        Ok(())
    }

    /// Refuses a down through a recorded step that cannot be replayed, and
    /// offers the backup taken before it instead.
    pub(super) async fn check_replayable(&self, list: &[usize]) -> Result<()> {
        for &i in list {
            let step = &self.steps[i];
            if !self.recorded.iter().any(|r| r == step.name()) || step.down_storable() {
                continue;
            }
            let why = "its down reads data to decide what to do, or no recipe was stored with it"
                .to_owned();
            let (backup, lost) = match &self.data_dir {
                Some(dir) => match backup::before_step(dir, step.name())? {
                    Some(m) => {
                        let lost = backup::changes_since(&self.conn, dir, &m)
                            .await?
                            .into_iter()
                            .filter(|(_, now, _)| *now > 0)
                            .map(|(t, now, _)| format!("{now} row(s) of {t}"))
                            .collect();
                        (Some(m.id), lost)
                    }
                    None => (None, Vec::new()),
                },
                None => (None, Vec::new()),
            };
            return Err(MigrateError::CannotStepDown {
                step: step.name().to_owned(),
                why,
                backup,
                lost,
            });
        }
        Ok(())
    }
}
