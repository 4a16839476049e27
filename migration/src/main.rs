//! `sea-orm-cli migrate` drives this binary: `up`, `down`, `status`,
//! `refresh` and `reset` go through the cortex runner (see the library).

use sea_orm_migration::prelude::*;

#[tokio::main]
async fn main() {
    cli::run_cli(migration::Migrator::new()).await;
}
