//! Getting ready to write, once per run: the server and folder locks, a
//! step a dead process left behind finished or undone, and the history
//! tables installed or a cortex.cpp database adopted.

use sea_orm_migration::sea_orm::{DatabaseExecutor, DbBackend};

use super::{Recovered, Report, Runner};
use crate::adopt::{self, Found};
use crate::backup;
use crate::database::check_readable;
use crate::error::{Direction, MigrateError, Result};
use crate::fault;
use crate::history;
use crate::journal::PendingJournal;
use crate::lock::{self, FolderLock, ServerLock};
use crate::progress::Event;

impl Runner<'_> {
    /// Takes the lock, recovers an interrupted step and adopts a cortex.cpp
    /// database. Idempotent; every writing method calls it first.
    pub async fn prepare(&mut self) -> Result<Report> {
        if let Some(r) = &self.prepared {
            return Ok(r.clone());
        }
        // A database that cannot even be read is reported before anything
        // (lock file, journal) is created next to it.
        check_readable(&self.conn, self.db_path.as_deref()).await?;
        let progress = self.progress.clone();
        let on_wait = move |msg: &str| {
            tracing::info!("{msg}");
            progress.emit(Event::Note {
                step: String::new(),
                message: msg.to_owned(),
            });
        };
        if self.backend != DbBackend::Sqlite && self.server_lock.is_none() {
            if let DatabaseExecutor::Connection(c) = &self.conn
                && !lock::server::pool_allows_lock(c)
            {
                return Err(MigrateError::Refused(
                    "the connection pool has a single connection; the migration lock needs one of its \
                     own besides the steps' (set max_connections to 2 or more)"
                        .into(),
                ));
            }
            self.server_lock =
                Some(ServerLock::acquire(&self.conn, self.lock_timeout, &on_wait).await?);
        }
        if let Some(dir) = &self.data_dir
            && self.lock.is_none()
        {
            self.lock = Some(FolderLock::acquire(dir, self.lock_timeout, &on_wait).await?);
            // What a killed backup, prune or restore left (never listed,
            // never used), cleared under the lock.
            crate::backup::clear_leftovers(dir)?;
        }
        let mut report = Report {
            recovered: self.recover_inner().await.map_err(|e| self.reclassify(e))?,
            ..Report::default()
        };
        report.adopted = self
            .adopt_if_needed()
            .await
            .map_err(|e| self.reclassify(e))?;
        report.backup = self.recorder.as_ref().map(|r| r.id());
        self.prepared = Some(report.clone());
        Ok(report)
    }

    /// Finishes or undoes a step a dead process left behind.
    async fn recover_inner(&mut self) -> Result<Option<Recovered>> {
        let Some(dir) = self.data_dir.clone() else {
            return Ok(None);
        };
        let Some(pending) = PendingJournal::load(&dir)? else {
            return Ok(None);
        };
        if backup::is_restore(&pending) {
            // Its outcome is decided by its own marker, and it replaced the
            // database file this connection may have opened.
            return Err(MigrateError::Refused(format!(
                "a restore ({}) was interrupted; run `cortex-migrate recover` before anything else",
                pending.step
            )));
        }
        let applied = history::is_applied(&self.conn, &pending.step)
            .await
            .map_err(|e| self.err("checking the interrupted step", e))?;
        let committed = match pending.direction {
            Direction::Up => applied,
            Direction::Down => !applied,
        };
        let rec = Recovered {
            step: pending.step.clone(),
            direction: pending.direction,
            committed,
            operations: pending.ops.len(),
        };
        tracing::warn!(
            step = %rec.step,
            direction = %rec.direction,
            committed,
            "recovering an interrupted step"
        );
        self.progress.emit(Event::Recovering {
            step: rec.step.clone(),
            direction: rec.direction,
            committed,
        });
        if committed {
            pending.roll_forward()?;
        } else {
            pending.roll_back()?;
        }
        Ok(Some(rec))
    }
    async fn adopt_if_needed(&mut self) -> Result<Vec<String>> {
        let found = adopt::inspect(&self.conn).await?;
        match found {
            // A history written by plain sea-orm-migration (or before a
            // bookkeeping table existed) gets the missing tables too: every
            // step run relies on them.
            Found::Managed | Found::Empty => {
                let txn = self.begin().await?;
                history::install(&txn)
                    .await
                    .map_err(|e| self.err("creating the bookkeeping tables", e))?;
                txn.commit()
                    .await
                    .map_err(|e| self.err("creating the bookkeeping tables", e))?;
                Ok(Vec::new())
            }
            Found::CortexCpp(cpp) => {
                tracing::info!("adopting {}", cpp.describe());
                self.ensure_backup(
                    "before adopting a cortex.cpp database",
                    Some(cpp.describe()),
                )
                .await?;
                let txn = self.begin().await?;
                match adopt::adopt(&txn, &cpp, &self.steps).await {
                    Ok(adopted) => {
                        fault::point("adopt: before commit")?;
                        txn.commit()
                            .await
                            .map_err(|e| self.err("committing the adoption", e))?;
                        Ok(adopted)
                    }
                    Err(e) => {
                        let _ = txn.rollback().await;
                        Err(e)
                    }
                }
            }
        }
    }
}
