//! SeaORM entities of Cortex's tables, one module per table: exactly what
//! `sea-orm-cli generate entity --lib` writes from a SQLite database
//! migrated through every step (the migrator's own bookkeeping tables left
//! out), with a module doc comment in place of the generator's banner.
//! `tests/entity_schema.rs` regenerates them and fails when they differ.
//!
//! They describe SQLite, Cortex's database: SQLite's INTEGER is 64-bit, so
//! every integer column is `i64`. On PostgreSQL the 32-bit `integer`
//! columns (`hardware` ids and flags, `engines.id`, `schema_version`) do
//! not decode as `i64`: select them cast to bigint
//! (`column_as(Expr::col(column).cast_as("bigint"), column.as_str())`).

pub mod prelude;

pub mod engines;
pub mod files;
pub mod hardware;
pub mod models;
pub mod schema_version;
