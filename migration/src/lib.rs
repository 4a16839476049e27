//! The migrations of Cortex's data, schema and data folder alike, in one
//! ordered list with one bookkeeping (`seaql_migrations`). Each step is a
//! file `m<date>_<n>_<name>.rs` holding one struct that implements
//! [`toolkit::Step`]; [`Migrator`] is sea-orm-migration's `MigratorTrait`
//! over them, routed through the toolkit's runner, so `Migrator::up`,
//! `run_cli` (and so `sea-orm-cli migrate`) and the `cortex-migrate`
//! binary all get per-step transactions, the lock, crash recovery and
//! adoption of cortex.cpp databases.

pub use migration_toolkit as toolkit;
pub use sea_orm_migration;
pub use sea_orm_migration::prelude::*;

pub mod cortex;
pub mod golden;
mod superseded;

mod m20240913_000001_cortex_v0;
mod m20241010_000001_cortex_v1;
mod m20241205_000001_cortex_v2;
mod m20250110_000001_cortex_v3;
mod m20261126_000001_relative_model_paths;
mod m20261126_000002_rename_legacy_engines;
mod m20261126_000003_backfill_weights_bytes;
pub mod m20261203_000001_engine_folders_by_repository;
pub mod m20261203_000002_catalogue_rows_kept_aside;
mod m20261203_000003_models_before_cortex_db;
mod m20261203_000004_cortexrc_server_address;

// `StepSource` (the source text a checksum is made of) of every step file.
include!(concat!(env!("OUT_DIR"), "/step_sources.rs"));

use toolkit::{Step, StepList};

/// Every step of Cortex's data, oldest first. Append only.
pub struct CortexSteps;

impl StepList for CortexSteps {
    fn steps() -> Vec<Box<dyn Step>> {
        vec![
            Box::new(m20240913_000001_cortex_v0::Migration),
            Box::new(m20241010_000001_cortex_v1::Migration),
            Box::new(m20241205_000001_cortex_v2::Migration),
            Box::new(m20250110_000001_cortex_v3::Migration),
            Box::new(m20261126_000001_relative_model_paths::Migration),
            Box::new(m20261126_000002_rename_legacy_engines::Migration),
            Box::new(m20261126_000003_backfill_weights_bytes::Migration),
            Box::new(m20261203_000001_engine_folders_by_repository::Migration),
            Box::new(m20261203_000002_catalogue_rows_kept_aside::Migration),
            Box::new(m20261203_000003_models_before_cortex_db::Migration),
            Box::new(m20261203_000004_cortexrc_server_address::Migration),
        ]
    }
}

/// sea-orm-migration's migrator over [`CortexSteps`]:
/// `Migrator::up(&db, None)` at Cortex boot, `run_cli(Migrator::new())`.
pub type Migrator = toolkit::SeaOrmMigrator<CortexSteps>;
