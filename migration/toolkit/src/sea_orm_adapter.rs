//! sea-orm-migration's side of the runner: [`SeaOrmMigrator`] implements
//! `MigratorTrait` over a step list, routing `up`, `down`, `status`,
//! `refresh`, `reset` and `fresh` through the cortex runner, so that
//! `Migrator::up`, `run_cli` and `sea-orm-cli migrate` all get it.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseExecutor};

use std::marker::PhantomData;
use std::sync::Arc;

use sea_orm_migration::IntoSchemaManagerConnection;

use crate::database::{default_data_dir, sqlite_file};
use crate::error::{Direction, MigrateError};
use crate::history;
use crate::progress::ProgressSink;
use crate::runner::{Options, Report, Runner, Target};
use crate::status::{StepState, read_status};
use crate::step::{Step, StepList};
use crate::step_context::{StepContext, StepRun};

fn print_report(report: &Report) {
    if let Some(r) = &report.recovered {
        println!(
            "Recovered interrupted step '{}' ({}): {}",
            r.step,
            r.direction,
            if r.committed { "completed" } else { "undone" }
        );
    }
    for a in &report.adopted {
        println!("Adopted '{a}' (schema made by cortex.cpp)");
    }
    if report.steps.is_empty() {
        println!("Nothing to do");
    }
    for s in &report.steps {
        let verb = match s.direction {
            Direction::Up => "Applied",
            Direction::Down => "Rolled back",
        };
        println!("{verb} '{}' in {} ms", s.step, s.millis);
        for n in &s.notes {
            println!("  note: {n}");
        }
    }
}

/// `MigratorTrait::up` of a cortex migrator.
pub async fn sea_orm_up<M: StepList>(
    db: DatabaseExecutor<'_>,
    steps: Option<u32>,
) -> std::result::Result<(), DbErr> {
    let mut r = Runner::new(db, M::steps(), Options::default()).await?;
    let report = r
        .up(steps.map(Target::Count).unwrap_or(Target::All))
        .await?;
    print_report(&report);
    Ok(())
}

/// `MigratorTrait::down` of a cortex migrator.
pub async fn sea_orm_down<M: StepList>(
    db: DatabaseExecutor<'_>,
    steps: Option<u32>,
) -> std::result::Result<(), DbErr> {
    let mut r = Runner::new(db, M::steps(), Options::default()).await?;
    let report = r
        .down(steps.map(Target::Count).unwrap_or(Target::All))
        .await?;
    print_report(&report);
    Ok(())
}

/// `MigratorTrait::refresh`: every step down, then up again (archived data
/// comes back).
pub async fn sea_orm_refresh<M: StepList>(
    db: DatabaseExecutor<'_>,
) -> std::result::Result<(), DbErr> {
    let mut r = Runner::new(db, M::steps(), Options::default()).await?;
    print_report(&r.down(Target::All).await?);
    print_report(&r.up(Target::All).await?);
    Ok(())
}

/// `MigratorTrait::reset`: every step down, then the history tables go.
/// Archived data stays in its archive tables.
pub async fn sea_orm_reset<M: StepList>(
    db: DatabaseExecutor<'_>,
) -> std::result::Result<(), DbErr> {
    let mut r = Runner::new(db, M::steps(), Options::default()).await?;
    print_report(&r.down(Target::All).await?);
    for t in [
        "seaql_migrations",
        history::STEPS_TABLE,
        history::UNDO_TABLE,
        history::STATE_TABLE,
    ] {
        let drop = Table::drop().table(Alias::new(t)).if_exists().to_owned();
        r.connection().execute(&drop).await?;
    }
    Ok(())
}

/// `MigratorTrait::fresh` would drop every table, user data included: refused.
pub async fn sea_orm_fresh(_db: DatabaseExecutor<'_>) -> std::result::Result<(), DbErr> {
    Err(MigrateError::Refused(
        "`fresh` would drop every table of the Cortex database, models and engines included; \
         cortex-migrate refuses it. Use `refresh` (down then up, keeping data) or delete cortex.db yourself"
            .into(),
    )
    .into())
}

/// `MigratorTrait::status` of a cortex migrator: prints each step.
pub async fn sea_orm_status<M: StepList, C: ConnectionTrait>(
    db: &C,
) -> std::result::Result<(), DbErr> {
    let db_path = sqlite_file(db).await?;
    let data_dir = default_data_dir(db_path.as_deref())?;
    let st = read_status(db, &M::steps(), &[], data_dir.as_ref(), db_path.as_deref()).await?;
    for s in &st.steps {
        println!(
            "Migration '{}'... {}{}",
            s.name,
            match s.state {
                StepState::Applied => "Applied",
                StepState::Adoptable => "Applied by cortex.cpp (recorded at next up)",
                StepState::Pending => "Pending",
            },
            if s.drifted {
                " (changed since it was applied)"
            } else {
                ""
            }
        );
    }
    for u in &st.unknown_applied {
        println!("Migration '{u}'... Applied by a newer cortex-migrate (unknown here)");
    }
    if let Some(i) = &st.interrupted {
        println!(
            "Interrupted: '{}' ({}); the next up completes or undoes it",
            i.step, i.direction
        );
    }
    Ok(())
}

/// sea-orm-migration's migrator over the steps `S` lists: `up`, `down`,
/// `status`, `refresh`, `reset` and `fresh` go through the cortex runner,
/// so `Migrator::up(&db, None)`, `run_cli` and `sea-orm-cli migrate` get
/// the same transactions, locks, recovery and adoption as `cortex-migrate`.
pub struct SeaOrmMigrator<S>(PhantomData<S>);

impl<S> SeaOrmMigrator<S> {
    /// The migrator (a value, for `run_cli`).
    pub const fn new() -> Self {
        SeaOrmMigrator(PhantomData)
    }
}

impl<S> Default for SeaOrmMigrator<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S: StepList> StepList for SeaOrmMigrator<S> {
    fn steps() -> Vec<Box<dyn Step>> {
        S::steps()
    }
}

#[async_trait::async_trait]
impl<S: StepList> MigratorTrait for SeaOrmMigrator<S> {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        S::steps()
            .into_iter()
            .map(|step| Box::new(AsMigration(step)) as Box<dyn MigrationTrait>)
            .collect()
    }

    async fn up<'c, C>(db: C, steps: Option<u32>) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        sea_orm_up::<S>(db.into_database_executor(), steps).await
    }

    async fn down<'c, C>(db: C, steps: Option<u32>) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        sea_orm_down::<S>(db.into_database_executor(), steps).await
    }

    async fn refresh<'c, C>(db: C) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        sea_orm_refresh::<S>(db.into_database_executor()).await
    }

    async fn reset<'c, C>(db: C) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        sea_orm_reset::<S>(db.into_database_executor()).await
    }

    async fn fresh<'c, C>(db: C) -> Result<(), DbErr>
    where
        C: IntoSchemaManagerConnection<'c>,
    {
        sea_orm_fresh(db.into_database_executor()).await
    }

    async fn status<C>(db: &C) -> Result<(), DbErr>
    where
        C: ConnectionTrait,
    {
        sea_orm_status::<S, C>(db).await
    }
}

/// A step as sea-orm-migration's `MigrationTrait`, for what sea-orm reads
/// of `migrations()` (names). Run directly, outside the runner, a step gets
/// no data folder and no journal: schema steps work, a folder step says so.
struct AsMigration(Box<dyn Step>);

impl MigrationName for AsMigration {
    fn name(&self) -> &str {
        self.0.name()
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AsMigration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        self.run(manager, Direction::Up).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        self.run(manager, Direction::Down).await
    }
}

impl AsMigration {
    async fn run(&self, manager: &SchemaManager<'_>, direction: Direction) -> Result<(), DbErr> {
        let run = Arc::new(StepRun::new(
            self.0.name(),
            direction,
            None,
            ProgressSink::default(),
        ));
        let cx = StepContext::new(manager, run);
        match direction {
            Direction::Up => self.0.up(&cx).await?,
            Direction::Down => self.0.down(&cx).await?,
        }
        Ok(())
    }
}
