//! Where a user keeps the data, as cortex.cpp lets them: a data folder
//! moved to another place (absolute paths into its old place, cortex.cpp
//! before 8657549e), a `models/` folder linked to another disk, and
//! imported models of both kinds (their own gguf outside, or a copy
//! beside the yml). Each comes through `up` with every path resolving the
//! way cortex.cpp resolves it, `verify` clean, and `down` gives back every
//! byte.

mod common;

use std::os::unix::fs::MetadataExt;

use common::{Fixture, IMPORTED, IMPORTED_COPY, TINYLLAMA};
use migration::Migrator;
use migration::toolkit::StepList;
use migration::toolkit::runner::{Report, Target};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

const CORTEX_TABLES: [&str; 5] = ["schema_version", "models", "hardware", "engines", "files"];

/// The step that reproduces cortex.cpp schema `v`: where a folder of that
/// version starts, and where `down` takes it back to.
fn start(v: usize) -> Target {
    Target::To(Migrator::steps()[v].name().to_owned())
}

fn first_step() -> Target {
    start(0)
}

fn v3() -> Target {
    Target::To(Migrator::steps()[3].name().to_owned())
}

fn notes(report: &Report) -> Vec<String> {
    report.steps.iter().flat_map(|s| s.notes.clone()).collect()
}

async fn rows(fx: &Fixture) -> String {
    let db = fx.connect().await;
    format!("{:?}", common::db_rows_of(&db, &CORTEX_TABLES).await)
}

/// `(model id, path_to_model_yaml)` of every row with a path. Only these
/// two columns: the folders start at cortex.cpp v0, whose `models` lacks
/// the entity's later ones.
async fn model_paths(fx: &Fixture) -> Vec<(String, String)> {
    use entity::models;
    let db = fx.connect().await;
    models::Entity::find()
        .select_only()
        .column(models::Column::ModelId)
        .column(models::Column::PathToModelYaml)
        .filter(models::Column::PathToModelYaml.is_not_null())
        .filter(models::Column::PathToModelYaml.ne(""))
        .order_by_asc(models::Column::ModelId)
        .into_tuple()
        .all(&db)
        .await
        .unwrap()
}

/// The `files:` entries of a model.yml, as written.
fn files_entries(path: &std::path::Path) -> Vec<String> {
    let yml: serde_yaml::Value = serde_yaml::from_slice(&common::bytes(path)).unwrap();
    yml["files"]
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// What cortex.cpp does with a stored path (`ToAbsoluteCortexDataPath`,
/// engine/utils/file_manager_utils.cc, v1.0.9): absolute as is, else
/// relative to the data folder.
fn as_cortex_opens(fx: &Fixture, stored: &str) -> std::path::PathBuf {
    let p = std::path::Path::new(stored);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        fx.data.join(p)
    }
}

/// Every model's yml and every weight file it names, opened as cortex.cpp
/// opens them.
async fn assert_cortex_finds_every_model(fx: &Fixture) {
    for (id, yml) in model_paths(fx).await {
        let yml = as_cortex_opens(fx, &yml);
        assert!(yml.is_file(), "model {id}: {} is not there", yml.display());
        for entry in files_entries(&yml) {
            let w = as_cortex_opens(fx, &entry);
            assert!(
                w.is_file(),
                "model {id}: weights {} are not there",
                w.display()
            );
        }
    }
}

#[tokio::test]
async fn up_on_a_moved_v0_folder_heals_every_path_and_verifies_clean() {
    let fx = common::moved_cortex_folder(0).await;
    // As cortex.cpp left it, the moved folder's absolute paths are broken.
    let broken: Vec<String> = model_paths(&fx)
        .await
        .into_iter()
        .filter(|(_, p)| !as_cortex_opens(&fx, p).exists())
        .map(|(id, _)| id)
        .collect();
    assert!(broken.contains(&TINYLLAMA.to_owned()), "{broken:?}");

    let report = common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    for (id, p) in model_paths(&fx).await {
        assert!(!p.starts_with('/'), "model {id} still absolute: {p}");
    }
    assert_cortex_finds_every_model(&fx).await;
    let notes = notes(&report);
    assert!(
        notes.iter().any(|n| n.contains("healed")),
        "no healing reported: {notes:?}"
    );
    assert!(
        !notes.iter().any(|n| n.contains("outside the data folder")),
        "{notes:?}"
    );
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());
}

#[tokio::test]
async fn down_after_healing_a_moved_folder_gives_back_every_byte() {
    let fx = common::moved_cortex_folder(0).await;
    common::run_steps(&fx, Migrator::steps(), true, first_step()).await;
    let (files_before, rows_before) = (common::files_but_db(&fx), rows(&fx).await);
    common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    assert_ne!(rows(&fx).await, rows_before);
    common::run_steps(&fx, Migrator::steps(), false, first_step()).await;
    assert_eq!(common::files_but_db(&fx), files_before);
    assert_eq!(rows(&fx).await, rows_before);
}

#[tokio::test]
async fn verify_names_a_path_into_the_old_place_and_what_to_do() {
    let fx = common::moved_cortex_folder(1).await;
    common::run_steps(&fx, Migrator::steps(), true, v3()).await;
    let problems = common::verify_problems(&fx).await;
    let tiny = problems
        .iter()
        .find(|p| p.contains(TINYLLAMA))
        .unwrap_or_else(|| panic!("no problem named {TINYLLAMA}: {problems:?}"));
    assert!(tiny.contains("was moved"), "{tiny}");
    assert!(tiny.contains("cortex-migrate up"), "{tiny}");
    // And up heals it.
    common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());
}

#[tokio::test]
async fn a_models_folder_on_another_disk_is_migrated_through_its_link() {
    let (fx, disk) = common::cortex_folder_with_linked_models(1).await;
    let phi = disk.join("cortex.so/phi-3/onnx/model.yml");
    assert!(
        std::fs::read_to_string(&phi)
            .unwrap()
            .contains("engine: cortex.onnx")
    );
    common::run_steps(&fx, Migrator::steps(), true, start(1)).await;
    let (files_before, disk_before, rows_before) = (
        common::files_but_db(&fx),
        common::tree(&disk),
        rows(&fx).await,
    );

    let report = common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    let notes = notes(&report);
    assert!(!notes.iter().any(|n| n.contains("symlink")), "{notes:?}");
    assert!(
        std::fs::read_to_string(&phi)
            .unwrap()
            .contains("engine: onnxruntime")
    );
    assert!(
        std::fs::symlink_metadata(fx.data.join("models"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    for (id, p) in model_paths(&fx).await {
        assert!(!p.starts_with('/') || id == IMPORTED, "model {id}: {p}");
    }
    assert_cortex_finds_every_model(&fx).await;
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());

    common::run_steps(&fx, Migrator::steps(), false, start(1)).await;
    assert_eq!(common::files_but_db(&fx), files_before);
    assert_eq!(common::tree(&disk), disk_before);
    assert_eq!(rows(&fx).await, rows_before);
}

#[tokio::test]
async fn a_symlink_deeper_inside_a_linked_models_folder_that_leads_out_stays_refused() {
    let (fx, disk) = common::cortex_folder_with_linked_models(2).await;
    let away = fx.home.with_file_name("away");
    std::fs::create_dir_all(&away).unwrap();
    let link = disk.join("cortex.so/llama3.2/3b-gguf-q4-km");
    let real = away.join("3b");
    std::fs::rename(&link, &real).unwrap();
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let away_before = common::tree(&away);
    let report = common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    let notes = notes(&report);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("llama3.2") && n.contains("symlink")),
        "{notes:?}"
    );
    assert_eq!(
        common::tree(&away),
        away_before,
        "something outside changed"
    );
}

#[tokio::test]
async fn imported_models_of_both_kinds_come_through_up_and_down_untouched() {
    let fx = common::cortex_folder(0).await;
    let own = fx.outside().join("my-imported.gguf");
    let before = std::fs::metadata(&own).unwrap();
    let own_bytes = common::bytes(&own);
    common::run_steps(&fx, Migrator::steps(), true, first_step()).await;
    let (files_before, rows_before) = (common::files_but_db(&fx), rows(&fx).await);

    let report = common::run_steps(&fx, Migrator::steps(), true, Target::All).await;
    let imported_yml = fx.data.join(format!("models/imported/{IMPORTED}.yml"));
    let copy_yml = fx.data.join(format!("models/imported/{IMPORTED_COPY}.yml"));
    // The user's own file: still named, not touched.
    assert_eq!(files_entries(&imported_yml), [own.display().to_string()]);
    let after = std::fs::metadata(&own).unwrap();
    assert_eq!(
        (after.ino(), after.len(), after.mtime(), after.mtime_nsec()),
        (
            before.ino(),
            before.len(),
            before.mtime(),
            before.mtime_nsec()
        )
    );
    assert_eq!(common::bytes(&own), own_bytes);
    // The copy beside the yml: named relative to the data folder now.
    assert_eq!(
        files_entries(&copy_yml),
        [format!("models/imported/{IMPORTED_COPY}.gguf")]
    );
    let notes = notes(&report);
    assert!(
        !notes.iter().any(|n| n.contains("my-imported")),
        "an imported model was noted: {notes:?}"
    );
    assert_cortex_finds_every_model(&fx).await;
    assert_eq!(common::verify_problems(&fx).await, Vec::<String>::new());

    common::run_steps(&fx, Migrator::steps(), false, first_step()).await;
    assert_eq!(common::files_but_db(&fx), files_before);
    assert_eq!(rows(&fx).await, rows_before);
    let back = std::fs::metadata(&own).unwrap();
    assert_eq!((back.ino(), back.mtime()), (before.ino(), before.mtime()));
}
