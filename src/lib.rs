//! `cortex_migrate`: what an application and a person use to keep Cortex's
//! data (the SQLite `cortex.db` and the data folder around it) in step with
//! the binary: locating the data folder, opening the database, and the
//! `cortex-migrate` command line. The steps themselves and the runner live
//! in the `migration` crate, so that `sea-orm-cli migrate` gets them too.

pub mod boot;
pub mod cli;
pub mod connect;
pub mod error;
pub mod inspect;
pub mod location;
pub mod render;
pub mod sample;
pub mod verify;

pub use boot::{Boot, Booted, NewerData, Policy, open};
pub use error::{Error, Result};
pub use migration::Migrator;
pub use migration::toolkit;
