//! One step, run: its transaction, its journal and its history row, all
//! committed together or all undone; MySQL's half-done bookkeeping around
//! it; and the undo it stores for an older binary.

use std::sync::Arc;
use std::time::Instant;

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{DatabaseTransaction, DbBackend};

use super::{Runner, StepReport};
use crate::database::classify;
use crate::error::{Direction, MigrateError, Result};
use crate::fault;
use crate::history::{self, Origin, Record};
use crate::progress::Event;
use crate::schema_ops::ops_sql;
use crate::snapshot;
use crate::step::{Step, checksum};
use crate::step_context::{StepContext, StepRun};
use crate::undo::{Recipe, StoredUndo, UndoOp};

impl<'c> Runner<'c> {
    pub(super) async fn run_step(
        &mut self,
        i: usize,
        direction: Direction,
        index: usize,
        total: usize,
    ) -> Result<StepReport> {
        self.run_step_as(i, direction, index, total, false).await
    }

    pub(super) async fn run_step_as(
        &mut self,
        i: usize,
        direction: Direction,
        index: usize,
        total: usize,
        resume: bool,
    ) -> Result<StepReport> {
        let step = &self.steps[i];
        let name = step.name().to_owned();
        let started = Instant::now();
        tracing::info!(step = %name, %direction, "running step {index}/{total}");
        self.progress.emit(Event::StepStarted {
            step: name.clone(),
            direction,
            index,
            total,
        });
        let wrap = |source: MigrateError| MigrateError::Step {
            step: name.clone(),
            direction,
            source: Box::new(source),
        };
        let mysql = self.backend == DbBackend::MySql;
        if mysql {
            // Outside the step's transaction: MySQL commits DDL on its own,
            // so a step that dies half-way must be known as such.
            history::mark_running(&self.conn, &name, direction)
                .await
                .map_err(|e| wrap(self.err("marking the step as running", e)))?;
        }
        let txn = self.begin().await.map_err(wrap)?;
        let mut ctx = StepRun::new(
            &name,
            direction,
            self.data_dir.clone(),
            self.progress.clone(),
        )
        .with_backup(self.recorder.clone())
        .with_config_file(self.config_file.clone());
        if resume {
            ctx = ctx.resuming();
        }
        let ctx = Arc::new(ctx);
        let outcome = self
            .run_in(&txn, i, direction, &ctx)
            .await
            // The journal's last records must be durable before the commit
            // makes the step final.
            .and_then(|()| ctx.sync_journal())
            .and_then(|()| match &self.recorder {
                Some(rec) => rec.before_commit(),
                None => Ok(()),
            })
            .and_then(|()| fault::point("step: before commit"));
        let outcome = match outcome {
            Ok(()) => txn
                .commit()
                .await
                .map_err(|e| self.err("committing the step", e)),
            Err(e) => {
                let _ = txn.rollback().await;
                Err(e)
            }
        };
        match outcome {
            Ok(()) => {
                fault::point("step: committed").map_err(wrap)?;
                if let Some(journal) = ctx.take_journal() {
                    journal.finalize().map_err(|e| {
                        wrap(MigrateError::Refused(format!(
                            "the step committed but cleaning up its old files failed ({e}); \
                             the next run completes it"
                        )))
                    })?;
                }
                if mysql {
                    history::clear_state(&self.conn, &name)
                        .await
                        .map_err(|e| wrap(self.err("clearing the step's state", e)))?;
                }
                if let Some(rec) = &self.recorder {
                    rec.step_done(&name).map_err(wrap)?;
                }
                let millis = started.elapsed().as_millis() as u64;
                self.progress.emit(Event::StepFinished {
                    step: name.clone(),
                    direction,
                    millis,
                });
                Ok(StepReport {
                    step: name,
                    direction,
                    millis,
                    notes: ctx.take_notes(),
                })
            }
            Err(e) => {
                if mysql {
                    let _ = history::mark_failed(&self.conn, &name, &e.to_string()).await;
                }
                if let Some(journal) = ctx.take_journal()
                    && let Err(undo) = journal.rollback()
                {
                    return Err(wrap(MigrateError::Refused(format!(
                        "{e}; undoing its file changes failed too ({undo}); \
                         they will be undone at the next run"
                    ))));
                }
                Err(wrap(e))
            }
        }
    }

    /// Runs one step's body and bookkeeping inside `txn`.
    async fn run_in(
        &self,
        txn: &DatabaseTransaction,
        i: usize,
        direction: Direction,
        ctx: &Arc<StepRun>,
    ) -> Result<()> {
        let step = &self.steps[i];
        fault::point("step: transaction begun")?;
        let manager = SchemaManager::new(txn);
        let cx = StepContext::new(&manager, Arc::clone(ctx));
        let body = match direction {
            Direction::Up => step.up(&cx).await,
            Direction::Down => step.down(&cx).await,
        };
        drop(cx);
        // A write the step began and did not wait for ends here, before
        // the commit or the rollback; the body's own error comes first.
        let settled = ctx.settle().await;
        body.and(settled)
            .map_err(|e| self.step_failure("running the step", e))?;
        fault::point("step: body done")?;
        let db = |e| classify(self.db_path.as_deref(), "recording the step", e);
        match direction {
            Direction::Up => {
                let schema_after = Some(snapshot::snapshot(txn).await.map_err(db)?);
                let sum = checksum(step.as_ref());
                let recipe = self.down_recipe(step.as_ref(), ctx)?;
                history::record_up(
                    txn,
                    Record {
                        version: step.name(),
                        checksum: &sum,
                        origin: Origin::Ran,
                        schema_after,
                        down_recipe: Some(recipe.header.clone()),
                    },
                )
                .await
                .map_err(db)?;
                recipe.store_chunks(txn, step.name()).await?;
            }
            Direction::Down => history::record_down(txn, step.name()).await.map_err(db)?,
        }
        fault::point("step: recorded")?;
        Ok(())
    }

    /// What an older binary needs to undo this step without its code: the
    /// SQL of a schema step's `down`, or the inverse of every change a
    /// folder step recorded while it ran (in parts when it is long).
    fn down_recipe(&self, step: &dyn Step, ctx: &StepRun) -> Result<Recipe> {
        if !step.down_storable() {
            return Ok(Recipe::inline(&StoredUndo::not_storable()));
        }
        let first: Vec<UndoOp> = ops_sql(self.backend, &step.down_ops(self.backend))
            .into_iter()
            .map(|sql| UndoOp::Sql { sql })
            .collect();
        ctx.take_inverse()?.into_recipe(first)
    }
}
