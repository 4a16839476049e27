//! The entities under the names `sea-orm-cli` gives them.

pub use super::engines::Entity as Engines;
pub use super::files::Entity as Files;
pub use super::hardware::Entity as Hardware;
pub use super::models::Entity as Models;
pub use super::schema_version::Entity as SchemaVersion;
