//! cortex.cpp's catalogue rows (`status = 'downloadable'`, empty
//! `path_to_model_yaml`, written by model sources from v1.0.5 on) go aside
//! when `down` leaves schema 3, because the schema-1/2 builds fail on
//! their status and v1.0.4 deletes them, and come back with every byte on
//! the way up. A data folder migrated by `cortex_v3`'s first definition
//! (which left them in place) gets the corrected checksum on record,
//! verifies clean, and goes down and up like any other.

mod common;
#[path = "support/first_cortex_v3.rs"]
mod first_cortex_v3;
#[path = "support/first_scheme.rs"]
mod first_scheme;

use common::Fixture;
use first_cortex_v3::FirstCortexV3;
use migration::Migrator;
use migration::m20261203_000002_catalogue_rows_kept_aside::{
    FIRST_DEFINITION_CHECKSUMS, first_definition_checksum,
};
use migration::toolkit::runner::Target;
use migration::toolkit::step::checksum;
use migration::toolkit::{Step, StepList};
use sea_orm::{ConnectionTrait, DbBackend};

const CORTEX_V2: &str = "m20241205_000001_cortex_v2";
const CORTEX_V3: &str = "m20250110_000001_cortex_v3";
const SUPERSEDE: &str = "m20261203_000002_catalogue_rows_kept_aside";
const ARCHIVE: &str = "cortex_archive_v3_models";
const CORTEX_TABLES: [&str; 5] = ["schema_version", "models", "hardware", "engines", "files"];

/// This binary's steps as the old main had them: `cortex_v3` in its first
/// definition, and no step after the engine-folder repair.
fn old_main_steps() -> Vec<Box<dyn Step>> {
    let steps: Vec<Box<dyn Step>> = Migrator::steps()
        .into_iter()
        .take_while(|s| s.name() != SUPERSEDE)
        .collect();
    first_cortex_v3::with_first_cortex_v3(steps)
}

/// Writes the checksum the old main stored for its `cortex_v3` (the first
/// checksum scheme) into the history, as that binary left it.
async fn record_first_scheme_checksum(fx: &Fixture) {
    let db = fx.connect().await;
    db.execute_raw(sea_orm::Statement::from_sql_and_values(
        DbBackend::Sqlite,
        "UPDATE cortex_migrate_steps SET checksum = ? WHERE version = ?",
        [
            first_scheme::checksum(&FirstCortexV3, DbBackend::Sqlite).into(),
            CORTEX_V3.into(),
        ],
    ))
    .await
    .unwrap();
}

async fn stored_checksum(fx: &Fixture, step: &str) -> Option<String> {
    let db = fx.connect().await;
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            DbBackend::Sqlite,
            "SELECT checksum FROM cortex_migrate_steps WHERE version = ?",
            [step.into()],
        ))
        .await
        .unwrap();
    row.map(|r| r.try_get("", "checksum").unwrap())
}

async fn rows(
    fx: &Fixture,
    tables: &[&str],
) -> std::collections::BTreeMap<String, common::TableRows> {
    let db = fx.connect().await;
    common::db_rows_of(&db, tables).await
}

/// The `model_id`s of `table`.
async fn ids(fx: &Fixture, table: &str) -> Vec<String> {
    common::column_values(fx, table, "model_id")
        .await
        .into_iter()
        .map(|v| v.trim_start_matches("text:").to_owned())
        .collect()
}

#[test]
fn the_first_definitions_checksums_are_the_ones_recognised() {
    let current = &Migrator::steps()[3];
    assert_eq!(current.name(), CORTEX_V3);
    for backend in [DbBackend::Sqlite, DbBackend::Postgres, DbBackend::MySql] {
        let first = first_scheme::checksum(&FirstCortexV3, backend);
        assert_eq!(first_definition_checksum(backend), Some(first.as_str()));
        assert_ne!(checksum(current.as_ref()), first, "{backend:?}");
        assert!(
            !current.superseded_checksums().contains(&first.as_str()),
            "the first definition is superseded by its own step, not accepted as it is"
        );
    }
    assert_eq!(FIRST_DEFINITION_CHECKSUMS.len(), 3);
}

#[tokio::test]
async fn down_below_cortex_v3_keeps_catalogue_rows_whole_and_up_puts_them_back() {
    let fx = common::cortex_folder(3).await;
    common::run_steps(&fx, Migrator::steps(), true, Target::To(CORTEX_V3.into())).await;
    let db = fx.connect().await;
    let at_v3_before = common::db_state(&db, &CORTEX_TABLES).await;
    drop(db);
    common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    let models_before = rows(&fx, &["models"]).await;
    common::run_steps(&fx, Migrator::steps(), false, Target::To(CORTEX_V2.into())).await;

    assert!(
        !ids(&fx, "models")
            .await
            .contains(&common::CATALOGUE.to_owned())
    );
    assert_eq!(ids(&fx, ARCHIVE).await, [common::CATALOGUE]);
    // The archive holds the whole row as it was at schema 3.
    let archived = rows(&fx, &[ARCHIVE]).await.remove(ARCHIVE).unwrap();
    let catalogue_row = models_before["models"]
        .iter()
        .find(|r| {
            r.iter()
                .any(|(c, v)| c == "model_id" && v == &format!("text:{}", common::CATALOGUE))
        })
        .unwrap()
        .iter()
        .filter(|(c, _)| c != "weights_bytes")
        .cloned()
        .collect::<Vec<_>>();
    assert_eq!(archived, [catalogue_row]);

    common::run_steps(&fx, Migrator::steps(), true, Target::To(CORTEX_V3.into())).await;
    let db = fx.connect().await;
    assert_eq!(common::db_state(&db, &CORTEX_TABLES).await, at_v3_before);
    assert!(!common::table_names(&db).await.contains(&ARCHIVE.to_owned()));
    drop(db);
    common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    assert_eq!(rows(&fx, &["models"]).await, models_before);
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());
}

#[tokio::test]
async fn plan_shows_the_rows_down_keeps_aside() {
    let fx = common::cortex_folder(3).await;
    let o = common::cli(&fx.data, &["up"]);
    common::ok(&o);
    let o = common::cli(&fx.data, &["plan", "down", "--to", CORTEX_V2]);
    let plan = common::ok(&o);
    assert!(
        plan.contains(&format!("CREATE TABLE \"{ARCHIVE}\" AS SELECT")),
        "{plan}"
    );
    assert!(
        plan.contains("\"status\" NOT IN ('', 'remote', 'downloaded', 'undownloaded')"),
        "{plan}"
    );
}

#[tokio::test]
async fn a_folder_migrated_with_the_first_definition_verifies_and_goes_down_and_up() {
    let fx = common::cortex_folder(3).await;
    common::run_steps(&fx, old_main_steps(), true, Target::All).await;
    record_first_scheme_checksum(&fx).await;
    let first = first_definition_checksum(DbBackend::Sqlite).unwrap();
    assert_eq!(
        stored_checksum(&fx, CORTEX_V3).await.as_deref(),
        Some(first)
    );
    let before_tree = common::files_but_db(&fx);
    let db = fx.connect().await;
    let before_all = common::db_rows(&db).await;
    drop(db);
    // Before this binary's up, verify names the superseded definition.
    assert!(
        common::verify_problems(&fx)
            .await
            .iter()
            .any(|p| p.contains(CORTEX_V3)),
        "verify should name cortex_v3's first definition before the up"
    );

    let report = common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    let notes = format!("{report:?}");
    assert!(notes.contains("first definition"), "{notes}");
    let current = checksum(Migrator::steps()[3].as_ref());
    assert_eq!(stored_checksum(&fx, CORTEX_V3).await, Some(current.clone()));
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());
    assert_eq!(common::files_but_db(&fx), before_tree);

    // Down from the supersession gives back the old history, byte for byte.
    let repair = Migrator::steps()[7].name().to_owned();
    common::run_steps(&fx, Migrator::steps(), false, Target::To(repair)).await;
    let db = fx.connect().await;
    assert_eq!(common::db_rows(&db).await, before_all);
    drop(db);

    // And down below v3 from there, then all the way up again.
    let models_at_top = rows(&fx, &["models"]).await;
    common::run_steps(&fx, Migrator::steps(), false, Target::To(CORTEX_V2.into())).await;
    assert!(
        !ids(&fx, "models")
            .await
            .contains(&common::CATALOGUE.to_owned())
    );
    assert_eq!(ids(&fx, ARCHIVE).await, [common::CATALOGUE]);
    common::run_steps(&fx, Migrator::steps(), false, Target::Nothing).await;
    common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    assert_eq!(rows(&fx, &["models"]).await, models_at_top);
    assert_eq!(stored_checksum(&fx, CORTEX_V3).await, Some(current));
    assert_eq!(common::files_but_db(&fx), before_tree);
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_fresh_history_gets_nothing_from_the_supersession() {
    let fx = common::cortex_folder(3).await;
    let report = common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    let step = report.steps.iter().find(|s| s.step == SUPERSEDE).unwrap();
    assert!(step.notes.is_empty(), "{:?}", step.notes);
    let current = checksum(Migrator::steps()[3].as_ref());
    assert_eq!(stored_checksum(&fx, CORTEX_V3).await, Some(current));
}

/// A schema-2 build downloaded the model while its catalogue row was
/// archived: the row it wrote stays, as cortex.cpp keeps a downloaded row
/// over a catalogue entry.
#[tokio::test]
async fn a_row_written_again_below_v3_stays_as_written() {
    let fx = common::cortex_folder(3).await;
    common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    common::run_steps(&fx, Migrator::steps(), false, Target::To(CORTEX_V2.into())).await;
    let db = fx.connect().await;
    db.execute_unprepared(&format!(
        "INSERT INTO models (model_id, author_repo_id, branch_name, path_to_model_yaml, \
         model_alias, model_format, model_source, status, engine, metadata) VALUES \
         ('{}', 'cortexso', '7b', 'models/cortex.so/qwen2.5/7b/model.yml', '{}', NULL, NULL, \
         'downloaded', 'llama-cpp', NULL)",
        common::CATALOGUE,
        common::CATALOGUE
    ))
    .await
    .unwrap();
    let written = rows(&fx, &["models"]).await;
    drop(db);
    let report =
        common::run_steps(&fx, Migrator::steps(), true, Target::To(CORTEX_V3.into())).await;
    let notes = format!("{report:?}");
    assert!(notes.contains(common::CATALOGUE), "{notes}");
    assert!(notes.contains("written again"), "{notes}");
    let db = fx.connect().await;
    assert!(!common::table_names(&db).await.contains(&ARCHIVE.to_owned()));
    drop(db);
    assert_eq!(rows(&fx, &["models"]).await, written);
}
