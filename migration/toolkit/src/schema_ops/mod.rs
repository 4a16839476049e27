//! Schema steps written as data: a list of [`SchemaOp`]s that the toolkit
//! runs, renders as SQL for `plan`, and stores as the `down` recipe an older
//! binary can replay. The ops cover what Cortex's history needs: tables and
//! columns that may already exist (adopted cortex.cpp databases, whose C++
//! code added columns one at a time), and downs that archive what they drop
//! so that the next `up` brings it back.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

mod sql;
use sql::*;

/// Prefix of the tables where downs keep what they drop.
pub const ARCHIVE_PREFIX: &str = "cortex_archive_";

/// The archive table that keeps `table`'s dropped data for step `tag`.
pub fn archive_name(tag: &str, table: &str) -> String {
    format!("{ARCHIVE_PREFIX}{tag}_{table}")
}

/// How a step's statements run.
#[derive(Default, Clone, Copy)]
pub struct ExecMode<'a> {
    /// Finishing or reverting a step MySQL left half done: ops accept the
    /// state a half-run left (an archive already made, a column already
    /// gone) instead of refusing it.
    pub resume: bool,
    /// In a dry run (`plan`): where every statement is noted.
    pub log: Option<&'a std::sync::Mutex<Vec<String>>>,
    /// Where an op's lines for the step's summary go.
    pub notes: Option<&'a dyn NoteSink>,
}

impl ExecMode<'_> {
    /// Adds a line to the running step's summary (nowhere outside a step).
    pub fn note(&self, line: String) {
        if let Some(n) = self.notes {
            n.note(line);
        }
    }
}

/// What takes the lines a schema op adds to its step's summary.
pub trait NoteSink: Sync {
    /// Adds `line`.
    fn note(&self, line: String);
}

/// One change to the schema (and the data it carries).
#[derive(Debug, Clone)]
pub enum SchemaOp {
    /// Creates a table, unless it exists already (then its shape was
    /// checked at adoption). If an earlier `down` archived this table, the
    /// archive is renamed back instead, with every row.
    CreateTable {
        table: &'static str,
        archive_tag: &'static str,
        stmt: TableCreateStatement,
    },
    /// Adds a column unless it exists.
    AddColumn {
        table: &'static str,
        column: ColumnDef,
    },
    /// Copies the archived values of `columns` (kept by an earlier `down`)
    /// back into `table` by `key`, then drops the archive.
    RestoreColumns {
        archive_tag: &'static str,
        table: &'static str,
        key: &'static str,
        columns: &'static [&'static str],
    },
    /// Keeps `columns` (with `key`) in an archive table, then drops them.
    ArchiveColumns {
        archive_tag: &'static str,
        table: &'static str,
        key: &'static str,
        columns: &'static [&'static str],
    },
    /// Renames a table to its archive.
    ArchiveTable {
        archive_tag: &'static str,
        table: &'static str,
    },
    /// Keeps whole rows of `table` in an archive table, then deletes them:
    /// the rows whose `column` holds a value (NULL is kept) that is not
    /// one of `keep`. `columns` is every column of such a row, `key`
    /// among them.
    ArchiveRows {
        archive_tag: &'static str,
        table: &'static str,
        key: &'static str,
        columns: &'static [&'static str],
        column: &'static str,
        keep: &'static [&'static str],
    },
    /// Puts the rows an earlier `ArchiveRows` kept back into `table`, then
    /// drops the archive. A row whose `key` has been written into `table`
    /// again since stays as it is written now; its archived copy is
    /// dropped, and the step notes which keys those were.
    RestoreRows {
        archive_tag: &'static str,
        table: &'static str,
        key: &'static str,
        columns: &'static [&'static str],
    },
    /// Records the cortex.cpp schema version the way cortex.cpp does (one
    /// row in `schema_version`), so that cortex.cpp itself still agrees.
    SetCortexVersion(i64),
    /// Drops a table that holds nothing worth keeping.
    DropTable(&'static str),
    /// Drops a column whose values are derived from files (a backfill) and
    /// are computed again by the next `up`: nothing is lost.
    DropDerivedColumn {
        table: &'static str,
        column: &'static str,
    },
}

impl SchemaOp {
    /// The SQL this op runs when nothing exists yet / everything exists as
    /// expected: what `plan` shows and what a stored recipe replays.
    pub fn sql(&self, backend: DbBackend) -> Vec<String> {
        match self {
            SchemaOp::CreateTable { stmt, .. } => vec![build(backend, stmt)],
            SchemaOp::AddColumn { table, column } => {
                let mut alter = Table::alter();
                alter.table(Alias::new(*table)).add_column(column.clone());
                vec![build(backend, &alter)]
            }
            SchemaOp::RestoreColumns {
                archive_tag,
                table,
                key,
                columns,
            } => {
                let archive = archive_name(archive_tag, table);
                vec![
                    restore_sql(backend, &archive, table, key, columns),
                    format!("DROP TABLE {}", q(backend, &archive)),
                ]
            }
            SchemaOp::ArchiveColumns {
                archive_tag,
                table,
                key,
                columns,
            } => {
                let archive = archive_name(archive_tag, table);
                let mut out = vec![archive_sql(backend, &archive, table, key, columns)];
                for c in columns.iter() {
                    out.push(drop_column_sql(backend, table, c));
                }
                out
            }
            SchemaOp::ArchiveTable { archive_tag, table } => {
                vec![rename_sql(
                    backend,
                    table,
                    &archive_name(archive_tag, table),
                )]
            }
            SchemaOp::ArchiveRows {
                archive_tag,
                table,
                key,
                columns,
                column,
                keep,
            } => {
                let archive = archive_name(archive_tag, table);
                vec![
                    archive_rows_sql(backend, &archive, table, columns, column, keep),
                    delete_archived_sql(backend, &archive, table, key),
                ]
            }
            SchemaOp::RestoreRows {
                archive_tag,
                table,
                key,
                columns,
            } => {
                let archive = archive_name(archive_tag, table);
                vec![
                    restore_rows_sql(backend, &archive, table, key, columns),
                    format!("DROP TABLE {}", q(backend, &archive)),
                ]
            }
            SchemaOp::SetCortexVersion(v) => vec![
                format!("DELETE FROM {}", q(backend, "schema_version")),
                format!(
                    "INSERT INTO {} ({}) VALUES ({v})",
                    q(backend, "schema_version"),
                    q(backend, "version")
                ),
            ],
            SchemaOp::DropTable(t) => vec![format!("DROP TABLE {}", q(backend, t))],
            SchemaOp::DropDerivedColumn { table, column } => {
                vec![drop_column_sql(backend, table, column)]
            }
        }
    }

    /// Runs the op, looking at what exists first.
    pub async fn run(&self, manager: &SchemaManager<'_>, mode: ExecMode<'_>) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let conn = manager.get_connection();
        match self {
            SchemaOp::CreateTable {
                table,
                archive_tag,
                stmt,
            } => {
                let archive = archive_name(archive_tag, table);
                let has_table = manager.has_table(table).await?;
                let has_archive = manager.has_table(&archive).await?;
                match (has_table, has_archive) {
                    (false, true) => exec(conn, mode, rename_sql(backend, &archive, table)).await,
                    (false, false) => exec(conn, mode, build(backend, stmt)).await,
                    (true, false) => Ok(()),
                    (true, true) => Err(DbErr::Migration(format!(
                        "both {table} and its archive {archive} exist; \
                         move one of them aside before migrating"
                    ))),
                }
            }
            SchemaOp::AddColumn { table, column } => {
                let name = column.get_column_name();
                if manager.has_column(*table, &name).await? {
                    return Ok(());
                }
                self.exec_sql(conn, backend, mode).await
            }
            SchemaOp::RestoreColumns {
                archive_tag,
                table,
                key,
                columns,
            } => {
                let archive = archive_name(archive_tag, table);
                if !manager.has_table(&archive).await? {
                    return Ok(());
                }
                // A revert of a half-done run archives only the columns it
                // found; restore what the archive has.
                let mut kept = Vec::new();
                for c in columns.iter() {
                    if manager.has_column(&archive, *c).await? {
                        kept.push(*c);
                    }
                }
                if !kept.is_empty() {
                    exec(
                        conn,
                        mode,
                        restore_sql(backend, &archive, table, key, &kept),
                    )
                    .await?;
                }
                exec(conn, mode, format!("DROP TABLE {}", q(backend, &archive))).await
            }
            SchemaOp::RestoreRows {
                archive_tag,
                table,
                key,
                ..
            } => {
                let archive = archive_name(archive_tag, table);
                if !manager.has_table(&archive).await? {
                    return Ok(());
                }
                let (a, t, k) = (q(backend, &archive), q(backend, table), q(backend, key));
                let taken = conn
                    .query_all_raw(Statement::from_string(
                        backend,
                        format!(
                            "SELECT a.{k} AS {k} FROM {a} a WHERE EXISTS \
                             (SELECT 1 FROM {t} t WHERE t.{k} = a.{k}) ORDER BY a.{k}"
                        ),
                    ))
                    .await?;
                let mut keys = Vec::with_capacity(taken.len());
                for r in &taken {
                    let k = r
                        .try_get::<String>("", key)
                        .or_else(|_| r.try_get::<i64>("", key).map(|v| v.to_string()))?;
                    keys.push(k);
                }
                // Settling a run MySQL left half done, the rows found are
                // the half-run's own (a `down` whose delete did not commit),
                // not rows written since.
                if !keys.is_empty() && !mode.resume {
                    mode.note(format!(
                        "{table} row(s) {} were written again after {archive} kept them; \
                         the rows as written now are kept and the archived copies dropped",
                        keys.join(", ")
                    ));
                }
                self.exec_sql(conn, backend, mode).await
            }
            // Finishing or reverting a run MySQL left half done: each op
            // does only the part that is not done yet.
            SchemaOp::ArchiveRows {
                archive_tag,
                table,
                key,
                columns,
                column,
                keep,
            } if mode.resume => {
                let archive = archive_name(archive_tag, table);
                if !manager.has_table(&archive).await? {
                    exec(
                        conn,
                        mode,
                        archive_rows_sql(backend, &archive, table, columns, column, keep),
                    )
                    .await?;
                }
                exec(
                    conn,
                    mode,
                    delete_archived_sql(backend, &archive, table, key),
                )
                .await
            }
            SchemaOp::ArchiveColumns {
                archive_tag,
                table,
                key,
                columns,
            } if mode.resume => {
                let archive = archive_name(archive_tag, table);
                let mut present = Vec::new();
                for c in columns.iter() {
                    if manager.has_column(*table, *c).await? {
                        present.push(*c);
                    }
                }
                if !manager.has_table(&archive).await? && !present.is_empty() {
                    exec(
                        conn,
                        mode,
                        archive_sql(backend, &archive, table, key, &present),
                    )
                    .await?;
                }
                for c in present {
                    exec(conn, mode, drop_column_sql(backend, table, c)).await?;
                }
                Ok(())
            }
            SchemaOp::ArchiveTable { archive_tag, table } if mode.resume => {
                if manager.has_table(*table).await?
                    && !manager.has_table(archive_name(archive_tag, table)).await?
                {
                    exec(
                        conn,
                        mode,
                        rename_sql(backend, table, &archive_name(archive_tag, table)),
                    )
                    .await?;
                }
                Ok(())
            }
            SchemaOp::DropTable(t) if mode.resume => {
                if manager.has_table(*t).await? {
                    self.exec_sql(conn, backend, mode).await?;
                }
                Ok(())
            }
            SchemaOp::DropDerivedColumn { table, column } if mode.resume => {
                if manager.has_table(*table).await? && manager.has_column(*table, *column).await? {
                    self.exec_sql(conn, backend, mode).await?;
                }
                Ok(())
            }
            _ => self.exec_sql(conn, backend, mode).await,
        }
    }

    /// Runs the op's statements as written ([`SchemaOp::sql`]).
    async fn exec_sql<C: ConnectionTrait>(
        &self,
        conn: &C,
        backend: DbBackend,
        mode: ExecMode<'_>,
    ) -> Result<(), DbErr> {
        for s in self.sql(backend) {
            exec(conn, mode, s).await?;
        }
        Ok(())
    }

    /// Whether running this op keeps data aside (a `down` that archives).
    pub fn archives(&self) -> bool {
        matches!(
            self,
            SchemaOp::ArchiveColumns { .. }
                | SchemaOp::ArchiveTable { .. }
                | SchemaOp::ArchiveRows { .. }
        )
    }
}

/// Runs a list of ops in order.
pub async fn run_ops(
    manager: &SchemaManager<'_>,
    ops: &[SchemaOp],
    mode: ExecMode<'_>,
) -> Result<(), DbErr> {
    for op in ops {
        op.run(manager, mode).await?;
    }
    Ok(())
}

/// The SQL of a list of ops.
pub fn ops_sql(backend: DbBackend, ops: &[SchemaOp]) -> Vec<String> {
    ops.iter().flat_map(|o| o.sql(backend)).collect()
}

/// Runs one statement on `conn`: the fault point every statement passes,
/// then the debug and SQL logs, then the statement itself.
pub async fn exec<C: ConnectionTrait>(
    conn: &C,
    mode: ExecMode<'_>,
    sql: String,
) -> Result<(), DbErr> {
    let stmt = Statement::from_string(conn.get_database_backend(), sql);
    exec_bound(conn, mode, stmt, |s| s.sql.clone()).await
}

/// [`exec`] for a statement whose values are bound: `literal` gives the
/// text the dry run's log shows.
pub async fn exec_bound<C: ConnectionTrait>(
    conn: &C,
    mode: ExecMode<'_>,
    stmt: Statement,
    literal: impl FnOnce(&Statement) -> String,
) -> Result<(), DbErr> {
    crate::fault::point("sql: before statement").map_err(DbErr::from)?;
    tracing::debug!(sql = %stmt.sql, "execute");
    if let Some(log) = mode.log
        && let Ok(mut v) = log.lock()
    {
        v.push(literal(&stmt));
    }
    conn.execute_raw(stmt).await.map(|_| ())
}

/// A text column that is (part of) a key: `TEXT` where the backend can
/// index it, `VARCHAR(255)` on MySQL, which cannot.
pub fn key_text(backend: DbBackend, col: impl IntoIden) -> ColumnDef {
    let mut c = ColumnDef::new(col);
    if backend == DbBackend::MySql {
        c.string_len(255);
    } else {
        c.text();
    }
    c
}
