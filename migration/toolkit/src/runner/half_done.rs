//! MySQL commits DDL on its own, so a step that fails or dies half-way
//! there leaves part of its schema change behind. The runner marks such a
//! step (`cortex_migrate_state`) and refuses to go on; this settles it:
//! reverts what was committed of it, or runs it again to the end.

use std::sync::Arc;
use std::time::Instant;

use sea_orm_migration::prelude::*;

use super::{Runner, StepReport};
use crate::error::{Direction, MigrateError, Result};
use crate::history;
use crate::step_context::{StepContext, StepRun};

impl Runner<'_> {
    /// Settles the steps MySQL left half done: reverts each (runs the
    /// opposite of its schema ops, which tolerate the half state) or, with
    /// `complete`, runs it again to the end. Returns the steps settled.
    pub async fn recover_half_done(&mut self, complete: bool) -> Result<Vec<StepReport>> {
        let outcome = self.recover_half_done_inner(complete).await;
        self.release().await;
        outcome
    }

    pub(super) async fn recover_half_done_inner(
        &mut self,
        complete: bool,
    ) -> Result<Vec<StepReport>> {
        self.prepare().await?;
        let half = history::half_done(&self.conn)
            .await
            .map_err(|e| self.err("reading the steps' state", e))?;
        let mut done = Vec::new();
        for h in half {
            let i = self.position(&h.step)?;
            if complete {
                done.push(self.run_step_as(i, h.direction, 1, 1, true).await?);
                continue;
            }
            let started = Instant::now();
            let step = &self.steps[i];
            let backend = self.backend;
            let ops = match h.direction {
                Direction::Up => step.down_ops(backend),
                Direction::Down => step.up_ops(backend),
            };
            let ctx = Arc::new(
                StepRun::new(
                    &h.step,
                    h.direction,
                    self.data_dir.clone(),
                    self.progress.clone(),
                )
                .resuming(),
            );
            let txn = self.begin().await?;
            let manager = SchemaManager::new(&txn);
            let cx = StepContext::new(&manager, Arc::clone(&ctx));
            let body = cx.run(&ops).await;
            drop(cx);
            match body {
                Ok(()) => txn
                    .commit()
                    .await
                    .map_err(|e| self.err("reverting the step", e))?,
                Err(e) => {
                    let _ = txn.rollback().await;
                    return Err(MigrateError::Step {
                        step: h.step.clone(),
                        direction: h.direction,
                        source: Box::new(self.step_failure("reverting the half-done step", e)),
                    });
                }
            }
            history::clear_state(&self.conn, &h.step)
                .await
                .map_err(|e| self.err("clearing the step's state", e))?;
            done.push(StepReport {
                step: h.step,
                direction: match h.direction {
                    Direction::Up => Direction::Down,
                    Direction::Down => Direction::Up,
                },
                millis: started.elapsed().as_millis() as u64,
                notes: vec!["reverted what MySQL had committed of it".into()],
            });
        }
        Ok(done)
    }
}
