//! One migrator at a time on a database server: a server-side advisory lock
//! (`pg_advisory_xact_lock` on PostgreSQL, `GET_LOCK` on MySQL/MariaDB),
//! held for the whole run on a connection of its own and released by the
//! server when that session ends, so a killed migrator never leaves it
//! behind. Many replicas starting at once: one migrates, the others wait,
//! then find nothing to do.

use std::time::{Duration, Instant};

use sea_orm_migration::sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, Statement, TransactionTrait,
};

use crate::error::{MigrateError, Result};
use crate::fault;

/// The PostgreSQL advisory lock key: "cortexmg" as a big-endian i64.
/// Advisory locks are per database, so replicas of different databases on
/// one server do not block each other.
pub const PG_KEY: i64 = 0x636f_7274_6578_6d67;

/// The MySQL lock name; `GET_LOCK` names are server-wide, so the database
/// name is part of it.
fn mysql_name(database: &str) -> String {
    format!("cortex-migrate:{database}")
}

/// The held advisory lock; released when dropped (the transaction that
/// pins its connection ends).
pub struct ServerLock {
    txn: Option<DatabaseTransaction>,
    mysql_name: Option<String>,
}

impl std::fmt::Debug for ServerLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerLock")
            .field("mysql_name", &self.mysql_name)
            .finish()
    }
}

async fn one_i64<C: ConnectionTrait>(conn: &C, sql: &str) -> Result<Option<i64>> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            sql.to_owned(),
        ))
        .await
        .map_err(|e| MigrateError::db("taking the migration lock", e))?;
    Ok(match row {
        Some(r) => r
            .try_get::<Option<i64>>("", "v")
            .or_else(|_| r.try_get::<Option<bool>>("", "v").map(|b| b.map(i64::from)))
            .or_else(|_| r.try_get::<Option<i32>>("", "v").map(|v| v.map(i64::from)))
            .map_err(|e| MigrateError::db("taking the migration lock", e))?,
        None => None,
    })
}

impl ServerLock {
    /// Takes the lock on the server behind `conn`, waiting up to `timeout`
    /// (forever if `None`); `on_wait` hears once who holds it.
    pub async fn acquire<C>(
        conn: &C,
        timeout: Option<Duration>,
        on_wait: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<ServerLock>
    where
        C: ConnectionTrait + TransactionTrait<Transaction = DatabaseTransaction>,
    {
        let backend = conn.get_database_backend();
        // A transaction pins one connection of the pool for the whole run.
        let txn = conn
            .begin()
            .await
            .map_err(|e| MigrateError::db("opening the connection for the migration lock", e))?;
        fault::point("lock: connection pinned")?;
        let started = Instant::now();
        let mysql_name = match backend {
            DbBackend::Postgres => {
                let got = one_i64(&txn, &format!("SELECT CASE WHEN pg_try_advisory_xact_lock({PG_KEY}) THEN 1 ELSE 0 END::int8 AS v")).await?;
                if got != Some(1) {
                    let holders = holders_pg(&txn).await.unwrap_or_default();
                    on_wait(&format!(
                        "waiting for another migration to finish (advisory lock held by {holders})"
                    ));
                    if let Some(t) = timeout {
                        txn.execute_unprepared(&format!(
                            "SET LOCAL lock_timeout = '{}ms'",
                            t.as_millis().max(1)
                        ))
                        .await
                        .map_err(|e| MigrateError::db("setting the lock timeout", e))?;
                    }
                    if let Err(e) = txn
                        .execute_unprepared(&format!("SELECT pg_advisory_xact_lock({PG_KEY})"))
                        .await
                    {
                        let msg = e.to_string();
                        if msg.contains("lock timeout") || msg.contains("canceling statement") {
                            return Err(MigrateError::LockTimeout {
                                path: "the PostgreSQL advisory lock".into(),
                                holder: holders,
                                waited_secs: started.elapsed().as_secs(),
                            });
                        }
                        return Err(MigrateError::db("taking the migration lock", e));
                    }
                }
                None
            }
            DbBackend::MySql => {
                let row = txn
                    .query_one_raw(Statement::from_string(backend, "SELECT DATABASE() AS d"))
                    .await
                    .map_err(|e| MigrateError::db("taking the migration lock", e))?;
                let db: String = row
                    .and_then(|r| r.try_get::<Option<String>>("", "d").ok().flatten())
                    .unwrap_or_default();
                let name = mysql_name(&db);
                let quoted = name.replace('\'', "''");
                let got = one_i64(&txn, &format!("SELECT GET_LOCK('{quoted}', 0) AS v")).await?;
                if got != Some(1) {
                    let holder = one_i64(&txn, &format!("SELECT IS_USED_LOCK('{quoted}') AS v"))
                        .await?
                        .map(|id| format!("connection {id}"))
                        .unwrap_or_else(|| "another session".into());
                    on_wait(&format!(
                        "waiting for another migration to finish (lock {name} held by {holder})"
                    ));
                    let secs = timeout
                        .map(|t| t.as_secs().max(1))
                        .unwrap_or(365 * 24 * 3600);
                    let got =
                        one_i64(&txn, &format!("SELECT GET_LOCK('{quoted}', {secs}) AS v")).await?;
                    if got != Some(1) {
                        return Err(MigrateError::LockTimeout {
                            path: name.into(),
                            holder,
                            waited_secs: started.elapsed().as_secs(),
                        });
                    }
                }
                Some(name)
            }
            _ => None,
        };
        fault::point("lock: taken")?;
        Ok(ServerLock {
            txn: Some(txn),
            mysql_name,
        })
    }

    /// Releases the lock now (dropping it does too, a little later).
    pub async fn release(mut self) -> Result<()> {
        if let Some(txn) = self.txn.take() {
            if let Some(name) = &self.mysql_name {
                let _ = txn
                    .execute_unprepared(&format!(
                        "SELECT RELEASE_LOCK('{}')",
                        name.replace('\'', "''")
                    ))
                    .await;
            }
            txn.rollback()
                .await
                .map_err(|e| MigrateError::db("releasing the migration lock", e))?;
        }
        Ok(())
    }
}

/// Who holds the PostgreSQL advisory lock, for the waiting message.
async fn holders_pg(txn: &DatabaseTransaction) -> Result<String> {
    let sql = format!(
        "SELECT string_agg(a.pid::text || ' (' || COALESCE(NULLIF(a.application_name, ''), 'unnamed') || ')', ', ') AS v \
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND l.classid = {} AND l.objid = {}",
        (PG_KEY >> 32) as u32,
        PG_KEY as u32
    );
    let row = txn
        .query_one_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .map_err(|e| MigrateError::db("finding the lock holder", e))?;
    Ok(row
        .and_then(|r| r.try_get::<Option<String>>("", "v").ok().flatten())
        .map(|s| format!("pid {s}"))
        .unwrap_or_else(|| "another session".into()))
}

impl Drop for ServerLock {
    fn drop(&mut self) {
        // Not released explicitly (an error path): release it on the
        // runtime, so that a pooled connection does not keep a MySQL lock
        // (PostgreSQL's goes with the transaction). If the process is
        // exiting, the server releases it with the session anyway.
        let Some(txn) = self.txn.take() else { return };
        let name = self.mysql_name.take();
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                if let Some(name) = name {
                    let _ = txn
                        .execute_unprepared(&format!(
                            "SELECT RELEASE_LOCK('{}')",
                            name.replace('\'', "''")
                        ))
                        .await;
                }
                let _ = txn.rollback().await;
            });
        }
    }
}

/// Whether a connection pool leaves a second connection for the steps
/// while one holds the lock.
pub fn pool_allows_lock(conn: &sea_orm_migration::sea_orm::DatabaseConnection) -> bool {
    match conn.get_database_backend() {
        DbBackend::Postgres => {
            conn.get_postgres_connection_pool()
                .options()
                .get_max_connections()
                >= 2
        }
        DbBackend::MySql => {
            conn.get_mysql_connection_pool()
                .options()
                .get_max_connections()
                >= 2
        }
        _ => true,
    }
}
