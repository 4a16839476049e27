//! The path `sea-orm-cli migrate` takes: `run_cli` parses its arguments and
//! calls `run_migrate`, which dispatches to `MigratorTrait::up`. A failing
//! step must leave the state of the step before it there too.
//! (One test in this file: `run_migrate` installs a global logger.)

mod common;
#[path = "support/failing.rs"]
mod failing;

use cortex_migrate::connect::{self, Place};
use sea_orm_cli::MigrateSubcommands;
use sea_orm_migration::MigratorTrait;
use sea_orm_migration::cli::run_migrate;

#[tokio::test]
async fn run_cli_dispatch_gives_each_step_its_transaction() {
    let t = failing::folder();
    let db = connect::open(&Place::Folder(t.path().to_path_buf()), true)
        .await
        .unwrap();
    failing::FailingMigrator::up(&db, Some(1)).await.unwrap();
    let rows = common::db_rows(&db).await;
    let files = common::tree(t.path());

    let err = run_migrate(
        failing::FailingMigrator::new(),
        &db,
        Some(MigrateSubcommands::Up { num: None }),
        false,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("fails half-way on purpose"),
        "{err}"
    );
    assert_eq!(common::db_rows(&db).await, rows);
    assert_eq!(common::tree(t.path()), files);

    // `fresh` would drop user data: refused, nothing changed.
    let err = failing::FailingMigrator::fresh(&db).await.unwrap_err();
    assert!(err.to_string().contains("refuses"), "{err}");
    assert_eq!(common::db_rows(&db).await, rows);
}
