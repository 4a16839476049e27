//! The bookkeeping tables: sea-orm-migration's own `seaql_migrations` (so
//! that `sea-orm-cli migrate status` sees the same history) and
//! `cortex_migrate_steps`, which keeps, per applied step, its checksum, how
//! it got there (run or adopted from cortex.cpp), the schema after it and
//! the recipe an older binary needs to step it down.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Schema, Statement, Value};
use sea_orm_migration::seaql_migrations;

mod origin;

pub use origin::{Origin, StoredOrigin, UnknownOrigin};

/// The table with the migrator's own record of each applied step.
pub const STEPS_TABLE: &str = "cortex_migrate_steps";

#[derive(DeriveIden)]
enum CortexMigrateSteps {
    Table,
    Version,
    Checksum,
    Origin,
    ToolVersion,
    AppliedAt,
    SchemaAfter,
    DownRecipe,
}

/// One applied step as the database records it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AppliedStep {
    pub version: String,
    pub applied_at: i64,
    /// `None` for a step recorded by plain sea-orm-migration.
    pub checksum: Option<String>,
    /// `None` for a step recorded by plain sea-orm-migration.
    pub origin: Option<StoredOrigin>,
    pub tool_version: Option<String>,
    #[serde(skip)]
    pub schema_after: Option<String>,
    /// Whether a down recipe is stored with it. The recipe itself is read
    /// only when it is replayed (`undo::load`): a folder step's grows with
    /// the number of models, and the history is read on every run.
    #[serde(skip)]
    pub has_recipe: bool,
}

fn seaql_create(backend: DbBackend) -> TableCreateStatement {
    let mut stmt = Schema::new(backend).create_table_from_entity(seaql_migrations::Entity);
    stmt.if_not_exists();
    stmt
}

fn steps_create(backend: DbBackend) -> TableCreateStatement {
    use super::schema_ops::key_text;
    Table::create()
        .table(CortexMigrateSteps::Table)
        .if_not_exists()
        .col(
            key_text(backend, CortexMigrateSteps::Version)
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new(CortexMigrateSteps::Checksum)
                .string_len(64)
                .not_null(),
        )
        .col(
            ColumnDef::new(CortexMigrateSteps::Origin)
                .string_len(16)
                .not_null(),
        )
        .col(
            ColumnDef::new(CortexMigrateSteps::ToolVersion)
                .string_len(64)
                .not_null(),
        )
        .col(
            ColumnDef::new(CortexMigrateSteps::AppliedAt)
                .big_integer()
                .not_null(),
        )
        .col(long_text(backend, CortexMigrateSteps::SchemaAfter).null())
        .col(long_text(backend, CortexMigrateSteps::DownRecipe).null())
        .to_owned()
}

/// A text column for documents that can pass MySQL's 64 KiB TEXT (the
/// recipe of a step over thousands of models).
fn long_text(backend: DbBackend, col: impl IntoIden) -> ColumnDef {
    let mut c = ColumnDef::new(col);
    if backend == DbBackend::MySql {
        c.custom(Alias::new("LONGTEXT"));
    } else {
        c.text();
    }
    c
}

/// The table that holds, in parts, the down recipes too long for one
/// value (`undo::stored`).
pub const UNDO_TABLE: &str = "cortex_migrate_undo";

#[derive(DeriveIden)]
enum CortexMigrateUndo {
    Table,
    Version,
    Seq,
    Ops,
}

fn undo_create(backend: DbBackend) -> TableCreateStatement {
    use super::schema_ops::key_text;
    Table::create()
        .table(CortexMigrateUndo::Table)
        .if_not_exists()
        .col(key_text(backend, CortexMigrateUndo::Version).not_null())
        .col(
            ColumnDef::new(CortexMigrateUndo::Seq)
                .big_integer()
                .not_null(),
        )
        .col(long_text(backend, CortexMigrateUndo::Ops).not_null())
        .primary_key(
            Index::create()
                .col(CortexMigrateUndo::Version)
                .col(CortexMigrateUndo::Seq),
        )
        .to_owned()
}

/// The table where, on MySQL (which cannot roll back DDL), a step that is
/// running or failed half-way is marked, outside its transaction.
pub const STATE_TABLE: &str = "cortex_migrate_state";

#[derive(DeriveIden)]
enum CortexMigrateState {
    Table,
    Version,
    Direction,
    State,
    Error,
    At,
}

fn state_create(backend: DbBackend) -> TableCreateStatement {
    use super::schema_ops::key_text;
    Table::create()
        .table(CortexMigrateState::Table)
        .if_not_exists()
        .col(
            key_text(backend, CortexMigrateState::Version)
                .not_null()
                .primary_key(),
        )
        .col(
            ColumnDef::new(CortexMigrateState::Direction)
                .string_len(8)
                .not_null(),
        )
        .col(
            ColumnDef::new(CortexMigrateState::State)
                .string_len(16)
                .not_null(),
        )
        .col(ColumnDef::new(CortexMigrateState::Error).text().null())
        .col(
            ColumnDef::new(CortexMigrateState::At)
                .big_integer()
                .not_null(),
        )
        .to_owned()
}

/// Creates the bookkeeping tables if they do not exist.
pub async fn install<C: ConnectionTrait>(conn: &C) -> Result<(), DbErr> {
    let backend = conn.get_database_backend();
    conn.execute(&seaql_create(backend)).await?;
    conn.execute(&steps_create(backend)).await?;
    conn.execute(&undo_create(backend)).await?;
    if backend == DbBackend::MySql {
        conn.execute(&state_create(backend)).await?;
    }
    Ok(())
}

pub use super::error::HalfState;

/// A step MySQL left half done.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HalfDoneStep {
    pub step: String,
    pub direction: super::error::Direction,
    pub state: HalfState,
    pub error: Option<String>,
    pub at: i64,
}

/// Marks `step` as running (committed at once, outside its transaction).
pub async fn mark_running<C: ConnectionTrait>(
    conn: &C,
    step: &str,
    direction: super::error::Direction,
) -> Result<(), DbErr> {
    clear_state(conn, step).await?;
    let mut ins = Query::insert();
    ins.into_table(CortexMigrateState::Table)
        .columns([
            CortexMigrateState::Version,
            CortexMigrateState::Direction,
            CortexMigrateState::State,
            CortexMigrateState::At,
        ])
        .values([
            step.into(),
            direction.to_string().into(),
            HalfState::Running.as_str().into(),
            now().into(),
        ])
        .map_err(query_err)?;
    conn.execute(&ins).await?;
    Ok(())
}

/// Marks `step` as failed with its error.
pub async fn mark_failed<C: ConnectionTrait>(
    conn: &C,
    step: &str,
    error: &str,
) -> Result<(), DbErr> {
    let upd = Query::update()
        .table(CortexMigrateState::Table)
        .value(CortexMigrateState::State, HalfState::Failed.as_str())
        .value(CortexMigrateState::Error, error)
        .value(CortexMigrateState::At, now())
        .and_where(Expr::col(CortexMigrateState::Version).eq(step))
        .to_owned();
    conn.execute(&upd).await?;
    Ok(())
}

/// Forgets the state of `step` (it committed, or was recovered).
pub async fn clear_state<C: ConnectionTrait>(conn: &C, step: &str) -> Result<(), DbErr> {
    let del = Query::delete()
        .from_table(CortexMigrateState::Table)
        .and_where(Expr::col(CortexMigrateState::Version).eq(step))
        .to_owned();
    conn.execute(&del).await?;
    Ok(())
}

/// Steps left running or failed (MySQL only; empty elsewhere).
pub async fn half_done<C: ConnectionTrait>(conn: &C) -> Result<Vec<HalfDoneStep>, DbErr> {
    if conn.get_database_backend() != DbBackend::MySql || !has_table(conn, STATE_TABLE).await? {
        return Ok(Vec::new());
    }
    let q = Query::select()
        .columns([
            CortexMigrateState::Version,
            CortexMigrateState::Direction,
            CortexMigrateState::State,
            CortexMigrateState::Error,
            CortexMigrateState::At,
        ])
        .from(CortexMigrateState::Table)
        .order_by(CortexMigrateState::Version, Order::Asc)
        .to_owned();
    let rows = conn.query_all(&q).await?;
    rows.iter()
        .map(|r| {
            let dir: String = r.try_get("", "direction")?;
            let state: String = r.try_get("", "state")?;
            Ok(HalfDoneStep {
                step: r.try_get("", "version")?,
                direction: if dir == "down" {
                    super::error::Direction::Down
                } else {
                    super::error::Direction::Up
                },
                // Only `mark_failed` writes anything but `running`.
                state: if state == HalfState::Failed.as_str() {
                    HalfState::Failed
                } else {
                    HalfState::Running
                },
                error: r.try_get("", "error")?,
                at: r.try_get("", "at")?,
            })
        })
        .collect()
}

/// Whether a table exists (without creating anything).
pub async fn has_table<C: ConnectionTrait>(conn: &C, table: &str) -> Result<bool, DbErr> {
    let backend = conn.get_database_backend();
    let (sql, values): (&str, Vec<Value>) = match backend {
        DbBackend::Sqlite => (
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ?",
            vec![table.into()],
        ),
        DbBackend::Postgres => (
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1",
            vec![table.into()],
        ),
        _ => (
            "SELECT COUNT(*) AS n FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = ?",
            vec![table.into()],
        ),
    };
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(match row {
        Some(r) => r.try_get::<i64>("", "n")? > 0,
        None => false,
    })
}

/// The applied steps, oldest first, without creating any table.
pub async fn applied<C: ConnectionTrait>(conn: &C) -> Result<Vec<AppliedStep>, DbErr> {
    if !has_table(conn, "seaql_migrations").await? {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let with_book = has_table(conn, STEPS_TABLE).await?;
    let sql = if with_book {
        format!(
            "SELECT m.version AS version, m.applied_at AS applied_at, s.checksum AS checksum, \
             s.origin AS origin, s.tool_version AS tool_version, s.schema_after AS schema_after, \
             CASE WHEN s.down_recipe IS NULL THEN 0 ELSE 1 END AS has_recipe \
             FROM seaql_migrations m LEFT JOIN {STEPS_TABLE} s ON s.version = m.version \
             ORDER BY m.version"
        )
    } else {
        "SELECT version, applied_at, NULL AS checksum, NULL AS origin, NULL AS tool_version, \
         NULL AS schema_after, 0 AS has_recipe FROM seaql_migrations ORDER BY version"
            .to_owned()
    };
    let rows = conn
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    rows.iter()
        .map(|r| {
            Ok(AppliedStep {
                version: r.try_get("", "version")?,
                applied_at: r.try_get("", "applied_at")?,
                checksum: r.try_get("", "checksum")?,
                origin: r
                    .try_get::<Option<String>>("", "origin")?
                    .as_deref()
                    .map(StoredOrigin::parse),
                tool_version: r.try_get("", "tool_version")?,
                schema_after: r.try_get("", "schema_after")?,
                has_recipe: r
                    .try_get::<i64>("", "has_recipe")
                    // PostgreSQL's INTEGER is 32-bit and decodes only as such.
                    .or_else(|_| r.try_get::<i32>("", "has_recipe").map(i64::from))?
                    != 0,
            })
        })
        .collect()
}

/// Whether `version` has a row in `seaql_migrations`.
pub async fn is_applied<C: ConnectionTrait>(conn: &C, version: &str) -> Result<bool, DbErr> {
    if !has_table(conn, "seaql_migrations").await? {
        return Ok(false);
    }
    let q = Query::select()
        .expr_as(Expr::col(seaql_migrations::Column::Version).count(), "n")
        .from(seaql_migrations::Entity)
        .and_where(Expr::col(seaql_migrations::Column::Version).eq(version))
        .to_owned();
    let row = conn.query_one(&q).await?;
    Ok(match row {
        Some(r) => r.try_get::<i64>("", "n")? > 0,
        None => false,
    })
}

fn query_err(e: sea_orm_migration::sea_query::error::Error) -> DbErr {
    DbErr::Custom(format!("building a bookkeeping statement: {e}"))
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// What is recorded with an applied step.
pub struct Record<'a> {
    pub version: &'a str,
    pub checksum: &'a str,
    pub origin: Origin,
    pub schema_after: Option<String>,
    pub down_recipe: Option<String>,
}

/// Records a step as applied (both tables), inside the caller's transaction.
pub async fn record_up<C: ConnectionTrait>(conn: &C, rec: Record<'_>) -> Result<(), DbErr> {
    let t = now();
    let mut ins = Query::insert();
    ins.into_table(seaql_migrations::Entity)
        .columns([
            seaql_migrations::Column::Version,
            seaql_migrations::Column::AppliedAt,
        ])
        .values([rec.version.into(), t.into()])
        .map_err(query_err)?;
    conn.execute(&ins).await?;
    let del = Query::delete()
        .from_table(CortexMigrateSteps::Table)
        .and_where(Expr::col(CortexMigrateSteps::Version).eq(rec.version))
        .to_owned();
    conn.execute(&del).await?;
    let mut ins = Query::insert();
    ins.into_table(CortexMigrateSteps::Table)
        .columns([
            CortexMigrateSteps::Version,
            CortexMigrateSteps::Checksum,
            CortexMigrateSteps::Origin,
            CortexMigrateSteps::ToolVersion,
            CortexMigrateSteps::AppliedAt,
            CortexMigrateSteps::SchemaAfter,
            CortexMigrateSteps::DownRecipe,
        ])
        .values([
            rec.version.into(),
            rec.checksum.into(),
            rec.origin.as_str().into(),
            env!("CARGO_PKG_VERSION").into(),
            t.into(),
            rec.schema_after.into(),
            rec.down_recipe.into(),
        ])
        .map_err(query_err)?;
    conn.execute(&ins).await?;
    Ok(())
}

/// Removes a step's records (both tables), inside the caller's transaction.
pub async fn record_down<C: ConnectionTrait>(conn: &C, version: &str) -> Result<(), DbErr> {
    let del = Query::delete()
        .from_table(seaql_migrations::Entity)
        .and_where(Expr::col(seaql_migrations::Column::Version).eq(version))
        .to_owned();
    conn.execute(&del).await?;
    for table in [STEPS_TABLE, UNDO_TABLE] {
        if has_table(conn, table).await? {
            let del = Query::delete()
                .from_table(Alias::new(table))
                .and_where(Expr::col(Alias::new("version")).eq(version))
                .to_owned();
            conn.execute(&del).await?;
        }
    }
    Ok(())
}
