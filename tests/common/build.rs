//! Builders of cortex.cpp-shaped data folders for the tests: the samples
//! that `cortex_migrate::sample` writes (upgraded and fresh installs), and
//! the odd states real users end up in, built from the sample's pieces
//! (half-run upgrades, several `schema_version` rows, early table forms,
//! foreign tables, a cortex.db that is not SQLite).

use cortex_migrate::sample::{self, Content, SampleHome, SampleSpec, db, ddl};
use sea_orm::DatabaseConnection;

use super::Fixture;

/// What to build. `FixtureSpec::new(v)` is what `cortex_folder(v)` builds.
pub type FixtureSpec = SampleSpec;

/// A cortex.cpp-shaped data folder whose cortex.db is at cortex.cpp schema
/// `version` (0..=3), built the way a real install that started at v0 and
/// was upgraded by cortex.cpp would be. Rows and model.yml files use the
/// legacy engine names (`cortex.llamacpp`), which such an install kept.
pub async fn cortex_folder(version: u8) -> Fixture {
    build(FixtureSpec::new(version)).await
}

/// Same, but built like a fresh install of that version: `models` gets all
/// its columns in one `CREATE TABLE`. v1+ fresh installs use the new engine
/// names (`llama-cpp`); v0 ones the legacy names.
pub async fn cortex_folder_fresh_install(version: u8) -> Fixture {
    build(FixtureSpec::fresh_install(version)).await
}

/// A data folder as `spec` describes, written by `sample::write`.
pub async fn build(spec: FixtureSpec) -> Fixture {
    let fx = Fixture::unbuilt();
    let written = sample::write(&spec, &fx.home)
        .await
        .unwrap_or_else(|e| panic!("building the fixture {spec:?}: {e}"));
    assert_eq!(written.data, fx.data, "the sample's data folder moved");
    fx
}

/// A v(`version`-1) folder where cortex.cpp's v`version` DDL stopped after
/// `added` statements (v1: model_format, model_source, status, engine, then
/// the engines table; v2: models.metadata, then hardware.priority; v3: the
/// files table). `schema_version` still says `version`-1 and no row uses
/// the new columns yet.
pub async fn half_added(version: u8, added: usize) -> Fixture {
    assert!(
        (1..=3).contains(&version),
        "half_added: version {version} is not 1..=3"
    );
    let statements = ddl::upgrade(version).expect("versions 1..=3 have DDL");
    assert!(
        added <= statements.len(),
        "half_added: v{version} has only {} statements, not {added}",
        statements.len()
    );
    let fx = cortex_folder(version - 1).await;
    let conn = fx.connect().await;
    for sql in &statements[..added] {
        exec(&conn, sql).await;
    }
    conn.close().await.expect("closing the fixture database");
    fx
}

/// `cortex_folder(version)` with `schema_version` holding exactly `rows`
/// (older cortex.cpp inserted a row per upgrade and never deleted one; a
/// crash between its DDL and its version write leaves none).
pub async fn with_schema_version_rows(version: u8, rows: &[i64]) -> Fixture {
    let fx = cortex_folder(version).await;
    let conn = fx.connect().await;
    exec(&conn, "DELETE FROM schema_version").await;
    for v in rows {
        exec(
            &conn,
            &format!("INSERT INTO schema_version (version) VALUES ({v})"),
        )
        .await;
    }
    conn.close().await.expect("closing the fixture database");
    fx
}

/// A v0 folder as the earliest cortex.cpp builds made it:
/// `schema_version ( version INTEGER NOT NULL)` and `hardware` with
/// `uuid TEXT NOT NULL` (no primary key anywhere but `models`).
pub async fn early_variants() -> Fixture {
    let spec = FixtureSpec::new(0);
    let fx = Fixture::empty();
    let home = SampleHome::new(fx.home.clone());
    let content = Content::new(&home, &spec);
    content
        .write_disk(&home, spec.version)
        .unwrap_or_else(|e| panic!("writing the fixture's files: {e}"));
    let conn = fx.connect().await;
    let early = [
        ddl::EARLY_V0_SCHEMA_VERSION,
        ddl::V0_MODELS,
        ddl::EARLY_V0_HARDWARE,
    ];
    db::upgrade(&conn, &content.rows(), 0, &early)
        .await
        .unwrap_or_else(|e| panic!("building the early v0 database: {e}"));
    conn.close().await.expect("closing the fixture database");
    fx
}

/// `cortex_folder(version)` plus a table cortex.cpp never made.
pub async fn with_extra_table(version: u8, ddl: &str) -> Fixture {
    let fx = cortex_folder(version).await;
    let conn = fx.connect().await;
    exec(&conn, ddl).await;
    conn.close().await.expect("closing the fixture database");
    fx
}

/// A v3 data folder whose cortex.db holds bytes that are not SQLite.
pub async fn not_a_database() -> Fixture {
    let fx = cortex_folder(3).await;
    let junk = "This is not a database. cortex.db was overwritten by a bad sync.\n".repeat(64);
    std::fs::write(fx.db_path(), junk).expect("overwriting cortex.db");
    fx
}

async fn exec(conn: &DatabaseConnection, sql: &str) {
    db::execute(conn, sql)
        .await
        .unwrap_or_else(|e| panic!("fixture SQL failed: {e}"));
}

/// A v`version` folder as cortex.cpp left it, then moved by its user: the
/// whole data folder renamed to where this fixture's data folder is, and
/// `.cortexrc`'s `dataFolderPath` pointed at the new place (what cortex.cpp
/// does when started with `--data_folder_path`, `main.cc` at v1.0.9). Paths
/// the database and model.yml files hold absolutely still name the old
/// place; the imported model's own gguf, outside, stays where it was.
pub async fn moved_cortex_folder(version: u8) -> Fixture {
    let fx = Fixture::unbuilt();
    let old_home = fx.home.with_file_name("old-home");
    let written = sample::write(&FixtureSpec::new(version), &old_home)
        .await
        .unwrap_or_else(|e| panic!("building the fixture v{version}: {e}"));
    std::fs::create_dir_all(&fx.home).expect("creating the new home");
    std::fs::rename(&written.data, &fx.data).expect("moving the data folder");
    let rc = std::fs::read_to_string(old_home.join(".cortexrc")).expect("reading .cortexrc");
    let rc = rc.replace(
        &written.data.display().to_string(),
        &fx.data.display().to_string(),
    );
    std::fs::write(fx.cortexrc(), rc).expect("writing the moved .cortexrc");
    fx
}

/// A v`version` folder whose `models/` lives on "another disk": moved to a
/// folder beside the home and replaced by a symlink to it, as users short
/// of space do. cortex.cpp follows the link without noticing; the paths it
/// stored (through `models/`) stay valid.
pub async fn cortex_folder_with_linked_models(version: u8) -> (Fixture, std::path::PathBuf) {
    let fx = cortex_folder(version).await;
    let disk = fx.home.with_file_name("other-disk");
    std::fs::create_dir_all(&disk).expect("creating the other disk");
    let target = disk.join("models");
    std::fs::rename(fx.data.join("models"), &target).expect("moving models/ away");
    std::os::unix::fs::symlink(&target, fx.data.join("models")).expect("linking models/");
    (fx, target)
}
