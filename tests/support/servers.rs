//! Real PostgreSQL and MariaDB for the tests that need them: the URLs come
//! from `CORTEX_TEST_POSTGRES_URL` and `CORTEX_TEST_MYSQL_URL`; without
//! them those tests print why and pass without running. Each test gets a
//! database of its own, so tests can run in parallel.
// Each test file uses a part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend};

/// A server the tests can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Postgres,
    MySql,
}

impl Server {
    pub fn env(self) -> &'static str {
        match self {
            Server::Postgres => "CORTEX_TEST_POSTGRES_URL",
            Server::MySql => "CORTEX_TEST_MYSQL_URL",
        }
    }

    pub fn backend(self) -> DbBackend {
        match self {
            Server::Postgres => DbBackend::Postgres,
            Server::MySql => DbBackend::MySql,
        }
    }

    /// The backend's name as the golden snapshot folders use it.
    pub fn name(self) -> &'static str {
        match self {
            Server::Postgres => "postgres",
            Server::MySql => "mysql",
        }
    }
}

/// The server's URL, or `None` after printing why the test is skipped.
pub fn url(server: Server, test: &str) -> Option<String> {
    match std::env::var(server.env()) {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            eprintln!(
                "skipping {test}: {} is not set (no {:?} server to test against)",
                server.env(),
                server
            );
            None
        }
    }
}

/// A database of its own on the server; dropped when the value is.
pub struct TestDb {
    pub url: String,
    admin_url: String,
    name: String,
    server: Server,
}

fn with_db(url: &str, db: &str) -> String {
    // Replace the path (database name) of the URL, keep the query.
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..]
        .find('/')
        .map(|i| i + scheme_end)
        .unwrap_or(base.len());
    let mut out = format!("{}/{db}", &base[..path_start]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl TestDb {
    /// Creates a fresh database named after the test.
    pub async fn create(server: Server, test: &str) -> Option<TestDb> {
        let admin_url = url(server, test)?;
        let unique = format!(
            "cm_{}_{}_{}",
            test.chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .take(20)
                .collect::<String>(),
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        )
        .to_lowercase();
        let admin = Database::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "{} is set but the server does not answer: {e}",
                server.env()
            )
        });
        admin
            .execute_unprepared(&format!("CREATE DATABASE {unique}"))
            .await
            .unwrap();
        Some(TestDb {
            url: with_db(&admin_url, &unique),
            admin_url,
            name: unique,
            server,
        })
    }

    pub fn backend(&self) -> DbBackend {
        self.server.backend()
    }

    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(&self.url).await.unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin_url, name, server) = (self.admin_url.clone(), self.name.clone(), self.server);
        // Drop on a thread of its own: this may run inside a runtime.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) = Database::connect(&admin_url).await {
                    let sql = match server {
                        Server::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                        Server::MySql => format!("DROP DATABASE IF EXISTS {name}"),
                    };
                    let _ = admin.execute_unprepared(&sql).await;
                }
            });
        })
        .join();
    }
}

/// The binary on the server database `url` with the data folder `dir`,
/// with no fault or data folder settings inherited.
pub fn command(url: &str, dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cortex-migrate"));
    c.arg("--database-url")
        .arg(url)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env_remove("CORTEX_DATA_DIR")
        .env_remove("CORTEX_MIGRATE_FAULT")
        .env_remove("CORTEX_MIGRATE_FAULT_LOG");
    c
}

/// Runs [`command`], with `CORTEX_MIGRATE_FAULT=fault` when given.
pub fn cli(url: &str, dir: &Path, args: &[&str], fault: Option<&str>) -> Output {
    let mut c = command(url, dir, args);
    if let Some(f) = fault {
        c.env("CORTEX_MIGRATE_FAULT", f);
    }
    c.output().expect("running cortex-migrate")
}
