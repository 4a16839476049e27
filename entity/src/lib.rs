//! SeaORM entities of the Cortex tables, one module per table, in the shape
//! `sea-orm-cli generate entity` writes. They describe the schema after the
//! newest step; a test (`tests/entity_schema.rs`) fails when they and the
//! migrated schema disagree.

pub mod prelude;

pub mod engines;
pub mod files;
pub mod hardware;
pub mod models;
