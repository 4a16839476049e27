//! The bridge from sea-orm-migration's `MigratorTrait`: the functions the
//! `cortex_migrator!` macro routes `up`, `down`, `status`, `refresh`,
//! `reset` and `fresh` to, so that `Migrator::up`, `run_cli` and
//! `sea-orm-cli migrate` all go through the cortex runner.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DatabaseExecutor};

use super::error::{Direction, MigrateError};
use super::history;
use super::runner::{Options, Report, Runner, Target, default_data_dir, sqlite_file};
use super::status::read_status;
use super::step::StepList;

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
        history::STATE_TABLE,
    ] {
        let drop = Table::drop().table(Alias::new(t)).if_exists().to_owned();
        r.connection().execute(&drop).await?;
    }
    Ok(())
}

/// `MigratorTrait::fresh` would drop every table, user data included: refused.
pub async fn sea_orm_fresh<M: StepList>(
    _db: DatabaseExecutor<'_>,
) -> std::result::Result<(), DbErr> {
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
                "applied" => "Applied",
                "adoptable" => "Applied by cortex.cpp (recorded at next up)",
                _ => "Pending",
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

/// Implements sea-orm-migration's `MigratorTrait` for a type that lists its
/// steps with [`StepList`], routing `up`, `down`, `status`, `refresh`,
/// `reset` and `fresh` through the cortex runner.
#[macro_export]
macro_rules! cortex_migrator {
    ($ty:ty) => {
        #[$crate::async_trait::async_trait]
        impl $crate::sea_orm_migration::MigratorTrait for $ty {
            fn migrations() -> Vec<Box<dyn $crate::sea_orm_migration::MigrationTrait>> {
                <$ty as $crate::StepList>::steps()
                    .into_iter()
                    .map(|s| s as Box<dyn $crate::sea_orm_migration::MigrationTrait>)
                    .collect()
            }

            async fn up<'c, C>(
                db: C,
                steps: Option<u32>,
            ) -> Result<(), $crate::sea_orm_migration::DbErr>
            where
                C: $crate::sea_orm_migration::IntoSchemaManagerConnection<'c>,
            {
                $crate::sea_orm_adapter::sea_orm_up::<$ty>(
                    $crate::sea_orm_migration::IntoSchemaManagerConnection::into_database_executor(
                        db,
                    ),
                    steps,
                )
                .await
            }

            async fn down<'c, C>(
                db: C,
                steps: Option<u32>,
            ) -> Result<(), $crate::sea_orm_migration::DbErr>
            where
                C: $crate::sea_orm_migration::IntoSchemaManagerConnection<'c>,
            {
                $crate::sea_orm_adapter::sea_orm_down::<$ty>(
                    $crate::sea_orm_migration::IntoSchemaManagerConnection::into_database_executor(
                        db,
                    ),
                    steps,
                )
                .await
            }

            async fn refresh<'c, C>(db: C) -> Result<(), $crate::sea_orm_migration::DbErr>
            where
                C: $crate::sea_orm_migration::IntoSchemaManagerConnection<'c>,
            {
                $crate::sea_orm_adapter::sea_orm_refresh::<$ty>(
                    $crate::sea_orm_migration::IntoSchemaManagerConnection::into_database_executor(
                        db,
                    ),
                )
                .await
            }

            async fn reset<'c, C>(db: C) -> Result<(), $crate::sea_orm_migration::DbErr>
            where
                C: $crate::sea_orm_migration::IntoSchemaManagerConnection<'c>,
            {
                $crate::sea_orm_adapter::sea_orm_reset::<$ty>(
                    $crate::sea_orm_migration::IntoSchemaManagerConnection::into_database_executor(
                        db,
                    ),
                )
                .await
            }

            async fn fresh<'c, C>(db: C) -> Result<(), $crate::sea_orm_migration::DbErr>
            where
                C: $crate::sea_orm_migration::IntoSchemaManagerConnection<'c>,
            {
                $crate::sea_orm_adapter::sea_orm_fresh::<$ty>(
                    $crate::sea_orm_migration::IntoSchemaManagerConnection::into_database_executor(
                        db,
                    ),
                )
                .await
            }

            async fn status<C>(db: &C) -> Result<(), $crate::sea_orm_migration::DbErr>
            where
                C: $crate::sea_orm_migration::sea_orm::ConnectionTrait,
            {
                $crate::sea_orm_adapter::sea_orm_status::<$ty, C>(db).await
            }
        }
    };
}
