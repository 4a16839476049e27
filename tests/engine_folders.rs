//! Engine folders stay where cortex.cpp loads them: `engines/<repository
//! name>/<variant>/<version>/` (cortex.cpp v1.0.8,
//! `engine/services/engine_service.cc`, `GetEngineDirPath` with
//! `NormalizeEngine`). The engine rename changes names only; a data folder
//! migrated by the rename's first definition (which moved the folders to
//! the engine names) gets them back, with its history superseded on record,
//! and `down` gives back every byte of either.

mod common;
#[path = "support/first_engine_rename.rs"]
mod first_engine_rename;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use common::{Fixture, LLAMACPP_VARIANT, LLAMACPP_VERSION};
use migration::Migrator;
use migration::m20261203_000001_engine_folders_by_repository::FIRST_DEFINITION_CHECKSUM;
use migration::toolkit::StepList;
use migration::toolkit::runner::Target;
use migration::toolkit::step::checksum;
use sea_orm::{ConnectionTrait, DbBackend};

const RENAME: &str = "m20261126_000002_rename_legacy_engines";
const REPAIR: &str = "m20261203_000001_engine_folders_by_repository";
const CORTEX_TABLES: [&str; 5] = ["schema_version", "models", "hardware", "engines", "files"];

/// The files under `engines/`.
fn engines_tree(fx: &Fixture) -> BTreeMap<String, String> {
    common::files_but_db(fx)
        .into_iter()
        .filter(|(k, _)| k.starts_with("engines/"))
        .collect()
}

async fn stored_checksum(fx: &Fixture, step: &str) -> String {
    let db = fx.connect().await;
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT checksum FROM cortex_migrate_steps WHERE version = ?",
            [step.into()],
        ))
        .await
        .unwrap()
        .expect("the step has a row");
    row.try_get("", "checksum").unwrap()
}

/// The llama.cpp engine library where cortex.cpp v1.0.x loads it.
fn llama_library(fx: &Fixture) -> std::path::PathBuf {
    fx.data
        .join("engines/cortex.llamacpp")
        .join(LLAMACPP_VARIANT)
        .join(LLAMACPP_VERSION)
        .join("libengine.so")
}

/// A v3 folder taken up by main before the fix: its engine folders sit
/// under the engine names, and its history has the first definition.
async fn migrated_before_fix() -> Fixture {
    let fx = common::cortex_folder(3).await;
    first_engine_rename::migrate_before_fix(&fx.db_url()).await;
    assert!(fx.data.join("engines/llama-cpp").is_dir());
    assert!(!fx.data.join("engines/cortex.llamacpp").exists());
    fx
}

#[tokio::test]
async fn up_renames_engines_and_leaves_their_folders_where_cortex_loads_them() {
    let fx = common::cortex_folder(3).await;
    let before = engines_tree(&fx);
    common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    assert_eq!(
        engines_tree(&fx),
        before,
        "an engine folder moved or changed"
    );
    assert!(llama_library(&fx).is_file());
    let names = common::column_values(&fx, "engines", "engine_name").await;
    // Local rows keep the repository name cortex.cpp writes.
    assert!(
        names.iter().any(|n| n.contains("cortex.llamacpp")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("llama-cpp")), "{names:?}");
    let engines = common::column_values(&fx, "models", "engine").await;
    assert!(
        engines.iter().any(|n| n.contains("llama-cpp")),
        "{engines:?}"
    );
    assert!(
        !engines.iter().any(|n| n.contains("cortex.")),
        "{engines:?}"
    );
    assert!(common::verify_problems(&fx).await.is_empty());
}

#[tokio::test]
async fn the_first_definitions_checksum_is_the_one_the_repair_recognises() {
    use first_engine_rename::first_scheme;
    let first = &first_engine_rename::FirstRename;
    let definition = first_engine_rename::first_definition();
    for backend in [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql] {
        assert_eq!(
            first_scheme::checksum_with(first, backend, &definition),
            FIRST_DEFINITION_CHECKSUM
        );
    }
    let current = &Migrator::steps()[5];
    assert_eq!(current.name(), RENAME);
    assert_ne!(checksum(current.as_ref()), FIRST_DEFINITION_CHECKSUM);
    assert!(
        !current
            .superseded_checksums()
            .contains(&FIRST_DEFINITION_CHECKSUM),
        "the first definition is repaired, never accepted as it is"
    );
    let fx = migrated_before_fix().await;
    assert_eq!(
        stored_checksum(&fx, RENAME).await,
        FIRST_DEFINITION_CHECKSUM
    );
}

#[tokio::test]
async fn a_folder_migrated_before_the_fix_gets_its_engines_back_and_verifies_clean() {
    let fx = common::cortex_folder(3).await;
    let original = engines_tree(&fx);
    first_engine_rename::migrate_before_fix(&fx.db_url()).await;
    // The old main's checksum reads as a changed step to this binary.
    assert!(
        common::verify_problems(&fx)
            .await
            .iter()
            .any(|p| p.contains(RENAME)),
        "verify should name the superseded definition before the repair"
    );

    let report = common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    assert_eq!(
        engines_tree(&fx),
        original,
        "engines are not back as they were"
    );
    assert!(llama_library(&fx).is_file());
    assert!(!fx.data.join("engines/llama-cpp").exists());
    assert!(!fx.data.join("engines/onnxruntime").exists());
    let current = checksum(Migrator::steps()[5].as_ref());
    assert_eq!(stored_checksum(&fx, RENAME).await, current);
    let notes = format!("{report:?}");
    assert!(notes.contains("moved 2 engine folder(s) back"), "{notes}");
    assert!(notes.contains("first definition"), "{notes}");
    assert!(
        notes.contains("2 local engine row(s) named by repository again"),
        "{notes}"
    );
    let db = fx.connect().await;
    let engine_rows = format!("{:?}", common::db_rows_of(&db, &["engines"]).await);
    assert!(!engine_rows.contains("llama-cpp"), "{engine_rows}");
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());
}

#[tokio::test]
async fn down_from_the_repair_gives_back_the_old_mains_folder_and_history() {
    let fx = migrated_before_fix().await;
    let tree_before = common::files_but_db(&fx);
    let db = fx.connect().await;
    let rows_before = common::db_rows(&db).await;
    drop(db);
    common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    let last_before_repair = Migrator::steps()[6].name().to_owned();
    common::run_steps(
        &fx,
        Migrator::steps(),
        false,
        Target::To(last_before_repair),
    )
    .await;
    assert_eq!(common::files_but_db(&fx), tree_before);
    let db = fx.connect().await;
    assert_eq!(common::db_rows(&db).await, rows_before);
    assert_eq!(
        stored_checksum(&fx, RENAME).await,
        FIRST_DEFINITION_CHECKSUM
    );
}

#[tokio::test]
async fn down_to_cortex_v3_after_the_repair_gives_back_every_byte() {
    let fx = common::cortex_folder(3).await;
    let tree_before = common::files_but_db(&fx);
    let db = fx.connect().await;
    let state_before = common::db_state(&db, &CORTEX_TABLES).await;
    drop(db);
    first_engine_rename::migrate_before_fix(&fx.db_url()).await;
    common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    common::run_steps(
        &fx,
        Migrator::steps(),
        false,
        Target::To(Migrator::steps()[3].name().into()),
    )
    .await;
    assert_eq!(common::files_but_db(&fx), tree_before);
    let db = fx.connect().await;
    let state_after = common::db_state(&db, &CORTEX_TABLES).await;
    // The history differs (steps 0..=3 applied now, adopted before); rows
    // and schema of Cortex's tables are what cortex.cpp wrote.
    let rows = |s: &str| s.lines().next().unwrap_or_default().to_owned();
    assert_eq!(rows(&state_after), rows(&state_before));
}

#[tokio::test]
async fn a_reinstalled_engine_wins_and_the_rest_merges_around_it() {
    let fx = migrated_before_fix().await;
    // After the old main's up, cortex.cpp found no engine and the user
    // installed it again: a fresh copy of the same version, new bytes.
    let lib = llama_library(&fx);
    std::fs::create_dir_all(lib.parent().unwrap()).unwrap();
    std::fs::write(&lib, b"reinstalled engine").unwrap();
    let tree_before = common::files_but_db(&fx);

    let report = common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    assert_eq!(std::fs::read(&lib).unwrap(), b"reinstalled engine");
    // Everything that did not clash is back under the repository name.
    let deps = fx.data.join("engines/cortex.llamacpp/deps/libcudart.so.12");
    assert!(deps.is_file(), "deps were not merged back");
    let left = fx
        .data
        .join("engines/llama-cpp")
        .join(LLAMACPP_VARIANT)
        .join(LLAMACPP_VERSION)
        .join("libengine.so");
    assert!(left.is_file(), "the clashing old copy must be kept");
    let notes = format!("{report:?}");
    assert!(notes.contains("was left where it is"), "{notes}");
    assert!(fx.data.join("engines/cortex.onnx").is_dir());

    let last_before_repair = Migrator::steps()[6].name().to_owned();
    common::run_steps(
        &fx,
        Migrator::steps(),
        false,
        Target::To(last_before_repair),
    )
    .await;
    assert_eq!(common::files_but_db(&fx), tree_before);
}

#[tokio::test]
async fn engines_go_back_by_rename_a_sparse_20gb_file_keeps_its_inode() {
    let fx = migrated_before_fix().await;
    let big = fx.data.join("engines/llama-cpp/deps/libcublasLt.so.12");
    let f = std::fs::File::create(&big).unwrap();
    f.set_len(20 << 30).unwrap();
    drop(f);
    let before = std::fs::metadata(&big).unwrap();
    common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    let back = fx
        .data
        .join("engines/cortex.llamacpp/deps/libcublasLt.so.12");
    let after = std::fs::metadata(&back).unwrap();
    assert_eq!(
        after.ino(),
        before.ino(),
        "the file was copied, not renamed"
    );
    assert_eq!(after.blocks(), before.blocks(), "blocks were written");
    common::run_steps(&fx, Migrator::steps(), false, Target::To(RENAME.into())).await;
    assert_eq!(std::fs::metadata(&big).unwrap().ino(), before.ino());
}

#[tokio::test]
async fn a_fresh_folder_gets_nothing_from_the_repair() {
    let fx = common::cortex_folder(3).await;
    common::run_steps(
        &fx,
        Migrator::steps(),
        true,
        Target::To(Migrator::steps()[6].name().into()),
    )
    .await;
    let tree = common::files_but_db(&fx);
    let report = common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    assert_eq!(common::files_but_db(&fx), tree);
    let repair = format!("{report:?}");
    assert!(repair.contains(REPAIR), "{repair}");
    assert!(!repair.contains("moved"), "{repair}");
}

#[tokio::test]
async fn a_folder_holding_a_non_utf8_name_is_merged_around_never_removed() {
    use std::os::unix::ffi::OsStrExt;
    let fx = migrated_before_fix().await;
    // Cortex re-created the repository folder, so the old one is merged
    // entry by entry; a name the merge cannot carry stays, with its folder.
    std::fs::create_dir_all(fx.data.join("engines/cortex.llamacpp/deps")).unwrap();
    let name = std::ffi::OsStr::from_bytes(b"lib\xff\xfe-cuda.so");
    let odd = fx.data.join("engines/llama-cpp/deps").join(name);
    std::fs::write(&odd, b"\x7fELF").unwrap();
    let tree_before = common::files_but_db(&fx);
    let report = common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    assert_eq!(std::fs::read(&odd).unwrap(), b"\x7fELF");
    assert!(format!("{report:?}").contains("was left where it is"));
    assert!(llama_library(&fx).is_file());
    let last_before_repair = Migrator::steps()[6].name().to_owned();
    common::run_steps(
        &fx,
        Migrator::steps(),
        false,
        Target::To(last_before_repair),
    )
    .await;
    assert_eq!(common::files_but_db(&fx), tree_before);
}
