//! Keeping two migrators apart: the lock file in the data folder's state
//! folder (`file`) and, on PostgreSQL and MySQL/MariaDB, the server's own
//! advisory lock (`server`).

pub mod file;
pub mod server;

pub use file::{FolderLock, Holder, current_holder, redact_url};
pub use server::ServerLock;
