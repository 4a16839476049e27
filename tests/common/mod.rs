//! Shared helpers for the integration tests: temporary homes with
//! cortex.cpp-shaped data folders at every schema version (and in the odd
//! states real installs end up in), written with `cortex_migrate::sample`,
//! digests of rows and files to assert that nothing changed, the
//! cortex.cpp reader (`cortex_reader`) that finds models and engines by
//! cortex.cpp's own rules, and the data folders September 2024 builds left
//! before cortex.db existed (`generations`), and whether a test may skip
//! when the machine denies it root, `mount` or `chattr` (`require`: never
//! under `CI=true`).
// Each test file uses a subset of these helpers and re-exports.
#![allow(dead_code, unused_imports)]

mod build;
pub mod cortex_reader;
mod digest;
pub mod generations;
pub mod power_cut;
mod require;
pub mod states;

use std::path::PathBuf;

use cortex_migrate::sample::SampleHome;
use sea_orm::{Database, DatabaseConnection};

pub use build::{
    FixtureSpec, build, cortex_folder, cortex_folder_fresh_install,
    cortex_folder_with_linked_models, early_variants, half_added, moved_cortex_folder,
    not_a_database, with_extra_table, with_schema_version_rows,
};
pub use cortex_migrate::sample::{
    CATALOGUE, DOWNLOADED, EngineNames, FILE_IDS, IMPORTED, IMPORTED_COPY, LLAMA32,
    LLAMACPP_VARIANT, LLAMACPP_VERSION, ONNX_VARIANT, ONNX_VERSION, PHI3, TINYLLAMA, generated_id,
};
pub use digest::{
    TableRows, applied_versions, backup_ids, bin, bytes, cli, cli_command, cli_env, cli_recorded,
    cli_with, copy_tree, db_rows, db_rows_of, db_schema, db_state, every_entry, exec, ok, open_db,
    table_names, tree, tree_changes, whole_db_state,
};
pub use require::{in_ci, require, succeeds};

/// A temporary home: `home/.cortexrc`, the data folder `home/cortexcpp`
/// (cortex.cpp's pre-XDG default) and `home/outside` for files that live
/// outside the data folder. Everything goes when the fixture is dropped.
pub struct Fixture {
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
    pub data: PathBuf,
}

impl Fixture {
    /// An empty home with empty `cortexcpp` and `outside` folders and no
    /// `.cortexrc`.
    pub fn empty() -> Fixture {
        let fx = Fixture::unbuilt();
        std::fs::create_dir_all(&fx.data).expect("creating the data folder");
        std::fs::create_dir_all(fx.outside()).expect("creating the outside folder");
        fx
    }

    /// A fixture whose home does not exist yet, for `sample::write` to
    /// create.
    pub(crate) fn unbuilt() -> Fixture {
        let tmp = tempfile::tempdir().expect("creating a temporary folder");
        // Canonical, so that paths the migrator resolves compare equal.
        let root = tmp
            .path()
            .canonicalize()
            .expect("canonicalizing the temporary folder");
        let home = root.join("home");
        let data = SampleHome::new(home.clone()).data;
        Fixture { tmp, home, data }
    }

    /// `data/cortex.db`.
    pub fn db_path(&self) -> PathBuf {
        self.data.join("cortex.db")
    }

    /// `sqlite://<abs path>?mode=rwc`.
    pub fn db_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.db_path().display())
    }

    /// `home/.cortexrc`.
    pub fn cortexrc(&self) -> PathBuf {
        self.home.join(".cortexrc")
    }

    /// `home/outside`: a folder outside the data folder, where the imported
    /// model's weights live.
    pub fn outside(&self) -> PathBuf {
        SampleHome::new(self.home.clone()).outside
    }

    /// A connection to `cortex.db` (created if missing).
    pub async fn connect(&self) -> DatabaseConnection {
        Database::connect(self.db_url())
            .await
            .unwrap_or_else(|e| panic!("connecting to {}: {e}", self.db_url()))
    }
}

/// Runs `steps` up or down to `target` on the fixture's folder with the
/// real runner, panicking with the error.
pub async fn run_steps(
    fx: &Fixture,
    steps: Vec<Box<dyn migration::toolkit::Step>>,
    up: bool,
    target: migration::toolkit::Target,
) -> migration::toolkit::Report {
    let db = fx.connect().await;
    let mut r = migration::toolkit::Runner::new(&db, steps, Default::default())
        .await
        .expect("opening the runner");
    let report = if up {
        r.up(target).await
    } else {
        r.down(target).await
    };
    report.unwrap_or_else(|e| panic!("{}: {e}", if up { "up" } else { "down" }))
}

/// What `verify` finds wrong with the fixture, against this binary's steps.
pub async fn verify_problems(fx: &Fixture) -> Vec<String> {
    use migration::toolkit::StepList;
    let db = fx.connect().await;
    let dir = migration::toolkit::DataDir::new(&fx.data).expect("opening the data folder");
    cortex_migrate::verify::verify(&db, &migration::Migrator::steps(), Some(&dir))
        .await
        .expect("verify")
        .problems()
}

/// Every file of the data folder but the database (its rows are compared
/// on their own; the history changes its bytes).
pub fn files_but_db(fx: &Fixture) -> std::collections::BTreeMap<String, String> {
    let mut t = tree(&fx.data);
    t.retain(|k, _| !k.starts_with("cortex.db"));
    t
}

/// The values of `column` in every row of `table`.
pub async fn column_values(fx: &Fixture, table: &str, column: &str) -> Vec<String> {
    let db = fx.connect().await;
    db_rows_of(&db, &[table]).await[table]
        .iter()
        .filter_map(|r| r.iter().find(|(c, _)| c == column).map(|(_, v)| v.clone()))
        .collect()
}
