//! Which steps a target means, read against the history: a history with
//! steps this binary does not know is refused; `up` picks the pending
//! steps in order, `down` the applied ones, newest first.

use sea_orm_migration::sea_orm::ConnectionTrait;

use super::{Runner, Target};
use crate::error::{MigrateError, Result};
use crate::history::{self, AppliedStep};

impl Runner<'_> {
    /// The applied steps (the migration history), oldest first.
    pub(super) async fn read_applied<C: ConnectionTrait>(
        &self,
        conn: &C,
    ) -> Result<Vec<AppliedStep>> {
        history::applied(conn)
            .await
            .map_err(|e| self.err("reading the migration history", e))
    }

    /// Refuses a history with steps this runner does not know.
    fn check_known(&self, applied: &[AppliedStep]) -> Result<()> {
        let unknown: Vec<String> = applied
            .iter()
            .filter(|a| !self.steps.iter().any(|s| s.name() == a.version))
            .map(|a| a.version.clone())
            .collect();
        if !unknown.is_empty() {
            return Err(self.newer_data(applied, unknown));
        }
        Ok(())
    }

    pub(super) fn position(&self, name: &str) -> Result<usize> {
        self.steps
            .iter()
            .position(|s| s.name() == name)
            .ok_or_else(|| MigrateError::NoSuchStep {
                name: name.to_owned(),
            })
    }

    /// The steps `up` would run for `target`, in order (indexes into steps).
    pub(super) async fn up_list(&self, target: &Target) -> Result<Vec<usize>> {
        self.up_list_on(&self.conn, target).await
    }

    pub(super) async fn up_list_on<C: ConnectionTrait>(
        &self,
        conn: &C,
        target: &Target,
    ) -> Result<Vec<usize>> {
        self.up_list_from(&self.read_applied(conn).await?, target)
    }

    /// The steps `up` would run for `target`, given the history `applied`.
    pub(super) fn up_list_from(
        &self,
        applied: &[AppliedStep],
        target: &Target,
    ) -> Result<Vec<usize>> {
        self.check_known(applied)?;
        let newer: Vec<String> = applied
            .iter()
            .filter(|a| self.recorded.contains(&a.version))
            .map(|a| a.version.clone())
            .collect();
        if !newer.is_empty() {
            return Err(self.newer_data(applied, newer));
        }
        let pending: Vec<usize> = (0..self.steps.len())
            .filter(|&i| !applied.iter().any(|a| a.version == self.steps[i].name()))
            .filter(|&i| !self.recorded.iter().any(|r| r == self.steps[i].name()))
            .collect();
        Ok(match target {
            Target::All => pending,
            Target::Count(n) => pending.into_iter().take(*n as usize).collect(),
            Target::To(name) => {
                let until = self.position(name)?;
                pending.into_iter().filter(|&i| i <= until).collect()
            }
            Target::Nothing => Vec::new(),
        })
    }

    /// The steps `down` would undo for `target`, newest first.
    pub(super) async fn down_list(&self, target: &Target) -> Result<Vec<usize>> {
        self.down_list_on(&self.conn, target).await
    }

    pub(super) async fn down_list_on<C: ConnectionTrait>(
        &self,
        conn: &C,
        target: &Target,
    ) -> Result<Vec<usize>> {
        self.down_list_from(&self.read_applied(conn).await?, target)
    }

    /// The steps `down` would undo for `target`, given the history
    /// `applied`, newest first.
    pub(super) fn down_list_from(
        &self,
        applied: &[AppliedStep],
        target: &Target,
    ) -> Result<Vec<usize>> {
        self.check_known(applied)?;
        let mut done: Vec<usize> = (0..self.steps.len())
            .filter(|&i| applied.iter().any(|a| a.version == self.steps[i].name()))
            .collect();
        done.reverse();
        Ok(match target {
            Target::All | Target::Nothing => done,
            Target::Count(n) => done.into_iter().take(*n as usize).collect(),
            Target::To(name) => {
                let keep = self.position(name)?;
                done.into_iter().filter(|&i| i > keep).collect()
            }
        })
    }
}
