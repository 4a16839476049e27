//! `plan`: what `up` or `down` would do, without doing it. On SQLite and
//! PostgreSQL every step really runs in a transaction that is rolled back
//! (the SQL shown is what ran; file operations are only recorded); MySQL
//! cannot roll DDL back, so there each step's SQL is shown as written.

use std::sync::Arc;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DatabaseTransaction, DbBackend};

use super::{Runner, Target};
use crate::adopt::{self, Found};
use crate::error::{Direction, Result};
use crate::history::{self, Origin, Record};
use crate::journal::FileOp;
use crate::schema_ops::ops_sql;
use crate::step::{StepKind, down_archives};
use crate::step_context::{StepContext, StepRun};

/// A planned step, for `plan`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlannedStep {
    pub step: String,
    pub direction: Direction,
    /// Recorded as applied without running (cortex.cpp made its schema).
    pub adopt: bool,
    pub kind: StepKind,
    pub summary: String,
    /// SQL the step runs (schema steps).
    pub sql: Vec<String>,
    /// File operations it would do (folder steps), as found on disk now.
    pub files: Vec<String>,
    /// Whether it keeps dropped data in archive tables.
    pub archives: bool,
    /// Notes from a dry run (models that would be skipped and such).
    pub notes: Vec<String>,
}

impl Runner<'_> {
    /// What `up` (or `down`) to `target` would do, without doing it. On
    /// SQLite and PostgreSQL every step really runs, one after the other,
    /// in a transaction that is rolled back at the end: the SQL shown is
    /// what ran, the file operations are recorded but not done. MySQL
    /// cannot roll DDL back, so there the plan shows each step's SQL as
    /// written.
    pub async fn plan(
        &mut self,
        direction: Direction,
        target: &Target,
    ) -> Result<Vec<PlannedStep>> {
        if direction == Direction::Down {
            self.load_recorded().await?;
        }
        if self.backend == DbBackend::MySql {
            return self.plan_static(direction, target).await;
        }
        let txn = self.begin().await?;
        let out = self.plan_in(&txn, direction, target).await;
        let _ = txn.rollback().await;
        out
    }

    pub(super) async fn plan_in(
        &self,
        txn: &DatabaseTransaction,
        direction: Direction,
        target: &Target,
    ) -> Result<Vec<PlannedStep>> {
        let mut out = Vec::new();
        if direction == Direction::Up {
            match adopt::inspect(txn).await? {
                Found::CortexCpp(cpp) => {
                    for name in adopt::adopt(txn, &cpp, &self.steps).await? {
                        let i = self.position(&name)?;
                        out.push(self.planned(i, direction, true));
                    }
                }
                Found::Managed | Found::Empty => history::install(txn)
                    .await
                    .map_err(|e| self.err("creating the bookkeeping tables", e))?,
            }
        }
        let list = match direction {
            Direction::Up => self.up_list_on(txn, target).await?,
            Direction::Down => self.down_list_on(txn, target).await?,
        };
        for i in list {
            let step = &self.steps[i];
            let mut planned = self.planned(i, direction, false);
            let ctx = Arc::new(
                StepRun::new(
                    step.name(),
                    direction,
                    self.data_dir.clone(),
                    self.progress.clone(),
                )
                .with_config_file(self.config_file.clone())
                .dry(),
            );
            let manager = SchemaManager::new(txn);
            let cx = StepContext::new(&manager, Arc::clone(&ctx));
            let body = match direction {
                Direction::Up => step.up(&cx).await,
                Direction::Down => step.down(&cx).await,
            };
            planned.sql = ctx.take_sql();
            planned.files = ctx.planned_ops().iter().map(FileOp::describe).collect();
            planned.notes.extend(ctx.take_notes());
            match body {
                Ok(()) => {
                    match direction {
                        Direction::Up => history::record_up(
                            txn,
                            Record {
                                version: step.name(),
                                checksum: "",
                                origin: Origin::Ran,
                                schema_after: None,
                                down_recipe: None,
                            },
                        )
                        .await
                        .map_err(|e| self.err("planning", e))?,
                        Direction::Down => history::record_down(txn, step.name())
                            .await
                            .map_err(|e| self.err("planning", e))?,
                    }
                    out.push(planned);
                }
                Err(e) => {
                    planned.notes.push(format!(
                        "would fail: {}",
                        self.step_failure("running the step", e)
                    ));
                    out.push(planned);
                    break;
                }
            }
        }
        Ok(out)
    }

    pub(super) fn planned(&self, i: usize, direction: Direction, adopt: bool) -> PlannedStep {
        let step = &self.steps[i];
        PlannedStep {
            step: step.name().to_owned(),
            direction,
            adopt,
            kind: step.kind(),
            summary: step.summary().to_owned(),
            sql: Vec::new(),
            files: Vec::new(),
            archives: direction == Direction::Down && down_archives(step.as_ref(), self.backend),
            notes: Vec::new(),
        }
    }

    /// The plan from each step's SQL as written (MySQL).
    pub(super) async fn plan_static(
        &self,
        direction: Direction,
        target: &Target,
    ) -> Result<Vec<PlannedStep>> {
        let list = match direction {
            Direction::Up => self.up_list(target).await?,
            Direction::Down => self.down_list(target).await?,
        };
        Ok(list
            .into_iter()
            .map(|i| {
                let step = &self.steps[i];
                let ops = match direction {
                    Direction::Up => step.up_ops(self.backend),
                    Direction::Down => step.down_ops(self.backend),
                };
                let mut p = self.planned(i, direction, false);
                p.sql = ops_sql(self.backend, &ops);
                if step.kind() == StepKind::Folder {
                    p.notes.push(
                        "its file operations depend on the data folder; `up` reports them".into(),
                    );
                }
                p
            })
            .collect())
    }
}
