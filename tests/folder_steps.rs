//! The folder steps on cortex.cpp-shaped data folders: relative paths,
//! engine renames and the weights backfill change the rows and the bytes on
//! disk as they should, leave everything else alone, and their `down` gives
//! back every byte and every value.

mod common;

use std::collections::BTreeMap;

use common::Fixture;
use entity::{engines, models};
use migration::Migrator;
use migration::toolkit::runner::{Options, Report, Runner, Target};
use migration::toolkit::{MigrateError, StepList};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};

const CORTEX_TABLES: [&str; 5] = ["schema_version", "models", "hardware", "engines", "files"];

fn step(i: usize) -> String {
    Migrator::steps()[i].name().to_owned()
}

const V3: usize = 3;

async fn run(fx: &Fixture, up: bool, target: Target) -> Result<Report, MigrateError> {
    let db = fx.connect().await;
    let mut r = Runner::new(&db, Migrator::steps(), Options::default()).await?;
    if up {
        r.up(target).await
    } else {
        r.down(target).await
    }
}

/// A model's `path_to_model_yaml`. Only that column: the tests read it at
/// cortex.cpp v3 too, whose `models` lacks the entity's weights_bytes.
async fn model_path(fx: &Fixture, model_id: &str) -> Option<String> {
    let db = fx.connect().await;
    models::Entity::find_by_id(model_id)
        .select_only()
        .column(models::Column::PathToModelYaml)
        .into_tuple::<Option<String>>()
        .one(&db)
        .await
        .unwrap()
        .flatten()
}

/// A model's row, after every step.
async fn model(fx: &Fixture, model_id: &str) -> models::Model {
    let db = fx.connect().await;
    models::Entity::find_by_id(model_id)
        .one(&db)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no model {model_id}"))
}

fn read(fx: &Fixture, rel: &str) -> String {
    std::fs::read_to_string(fx.data.join(rel)).unwrap()
}

/// Lines that differ between two texts, as (before, after) pairs.
fn changed_lines(a: &str, b: &str) -> Vec<(String, String)> {
    assert_eq!(a.lines().count(), b.lines().count(), "line count changed");
    a.lines()
        .zip(b.lines())
        .filter(|(x, y)| x != y)
        .map(|(x, y)| (x.to_owned(), y.to_owned()))
        .collect()
}

const TINY_YML: &str = "models/cortex.so/tinyllama/1b/model.yml";
const PHI_YML: &str = "models/cortex.so/phi-3/onnx/model.yml";

#[tokio::test]
async fn up_makes_inside_paths_relative_and_leaves_outside_ones() {
    for v in 0..=3u8 {
        let fx = common::cortex_folder(v).await;
        run(&fx, true, Target::To(step(V3))).await.unwrap();
        let abs_path = model_path(&fx, common::TINYLLAMA).await.unwrap();
        assert!(
            abs_path.starts_with('/'),
            "fixture v{v} should start absolute: {abs_path}"
        );
        let yml_before = read(&fx, TINY_YML);
        let imported_before = read(&fx, "models/imported/my-imported.yml");

        let report = run(&fx, true, Target::All).await.unwrap();
        assert_eq!(report.steps.len(), 7, "v{v}");
        let rel = model_path(&fx, common::TINYLLAMA).await.unwrap();
        assert_eq!(rel, TINY_YML, "v{v}");
        let imported = model_path(&fx, common::IMPORTED).await.unwrap();
        assert_eq!(imported, "models/imported/my-imported.yml", "v{v}");

        let changed = changed_lines(&yml_before, &read(&fx, TINY_YML));
        let files_line = changed
            .iter()
            .find(|(b, _)| b.contains("model.gguf"))
            .expect("files: entry unchanged");
        assert_eq!(
            files_line.1.trim(),
            "- models/cortex.so/tinyllama/1b/model.gguf",
            "v{v}"
        );
        // The imported model's weights live outside: its absolute entry stays.
        let imported_after = read(&fx, "models/imported/my-imported.yml");
        let outside_entry = fx.outside().join("my-imported.gguf");
        assert!(
            imported_after.contains(outside_entry.to_str().unwrap()),
            "v{v}: {imported_after}"
        );
        assert_eq!(
            changed_lines(&imported_before, &imported_after)
                .iter()
                .filter(|(b, _)| b.contains("files") || b.contains(".gguf"))
                .count(),
            0
        );
    }
}

#[tokio::test]
async fn up_renames_legacy_engines_in_rows_and_model_yml_and_leaves_engine_folders() {
    let fx = common::cortex_folder(3).await;
    run(&fx, true, Target::To(step(V3))).await.unwrap();
    let tree_before = common::tree(&fx.data);
    let phi_before = read(&fx, PHI_YML);
    run(&fx, true, Target::All).await.unwrap();
    let tree_after = common::tree(&fx.data);

    // Engine folders keep their repository names, where cortex.cpp's
    // NormalizeEngine looks for them: every file under engines/ is where it
    // was, with the same bytes.
    let engines = |t: &BTreeMap<String, String>| -> Vec<(String, String)> {
        t.iter()
            .filter(|(k, _)| k.starts_with("engines/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    assert!(tree_before.contains_key("engines/cortex.llamacpp"));
    assert!(tree_before.contains_key("engines/cortex.onnx"));
    assert_eq!(engines(&tree_after), engines(&tree_before));
    let db = fx.connect().await;
    let engines: Vec<String> = engines::Entity::find()
        .order_by_asc(engines::Column::EngineName)
        .all(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.engine_name.expect("engine_name"))
        .collect();
    // Local engine rows keep the repository name cortex.cpp writes
    // (DownloadEngine -> UpsertEngine with the normalized name).
    assert_eq!(engines, ["cortex.llamacpp", "cortex.onnx", "openai"]);
    let legacy = models::Entity::find()
        .filter(models::Column::Engine.like("cortex.%"))
        .count(&db)
        .await
        .unwrap();
    assert_eq!(legacy, 0);
    let changed = changed_lines(&phi_before, &read(&fx, PHI_YML));
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(
        changed[0].0.starts_with("engine: cortex.onnx"),
        "{changed:?}"
    );
    assert!(
        changed[0].1.starts_with("engine: onnxruntime"),
        "{changed:?}"
    );
    assert_eq!(
        changed[0].0.split_once('#').map(|x| x.1),
        changed[0].1.split_once('#').map(|x| x.1),
        "comment lost"
    );
}

#[tokio::test]
async fn up_fills_weights_bytes_from_the_files_on_disk() {
    let fx = common::cortex_folder(3).await;
    run(&fx, true, Target::All).await.unwrap();
    let tiny = std::fs::metadata(fx.data.join("models/cortex.so/tinyllama/1b/model.gguf"))
        .unwrap()
        .len();
    let got = model(&fx, common::TINYLLAMA).await.weights_bytes;
    assert_eq!(got, Some(i64::try_from(tiny).unwrap()));
    let imported = std::fs::metadata(fx.outside().join("my-imported.gguf"))
        .unwrap()
        .len();
    let got = model(&fx, common::IMPORTED).await.weights_bytes;
    assert_eq!(got, Some(i64::try_from(imported).unwrap()));
    assert_eq!(model(&fx, common::CATALOGUE).await.weights_bytes, None);
}

async fn digest(
    fx: &Fixture,
) -> (
    BTreeMap<String, String>,
    BTreeMap<String, common::TableRows>,
) {
    let db = fx.connect().await;
    let mut t = common::tree(&fx.home);
    t.retain(|k, _| !k.ends_with("cortex.db"));
    (t, common::db_rows_of(&db, &CORTEX_TABLES).await)
}

#[tokio::test]
async fn down_gives_back_every_byte_and_row_and_up_again_gives_the_same_result() {
    for v in 0..=3u8 {
        let fx = common::cortex_folder(v).await;
        run(&fx, true, Target::To(step(V3))).await.unwrap();
        let before = digest(&fx).await;
        run(&fx, true, Target::All).await.unwrap();
        let after = digest(&fx).await;
        assert_ne!(before, after, "v{v}: the folder steps changed nothing");

        run(&fx, false, Target::To(step(V3))).await.unwrap();
        assert_eq!(
            digest(&fx).await,
            before,
            "v{v}: down did not restore the before-state"
        );

        run(&fx, true, Target::All).await.unwrap();
        assert_eq!(
            digest(&fx).await,
            after,
            "v{v}: up again differs from the first up"
        );
    }
}

async fn notes(report: &Report) -> Vec<String> {
    report.steps.iter().flat_map(|s| s.notes.clone()).collect()
}

#[tokio::test]
async fn invalid_yaml_is_skipped_with_a_note_and_left_as_it_was() {
    let fx = common::cortex_folder(3).await;
    let broken = "id: tinyllama\nfiles:\n  - [unclosed\nengine: cortex.llamacpp\n";
    std::fs::write(fx.data.join(TINY_YML), broken).unwrap();
    let report = run(&fx, true, Target::All).await.unwrap();
    assert_eq!(read(&fx, TINY_YML), broken);
    let notes = notes(&report).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains(TINY_YML) && n.contains("not valid YAML")),
        "{notes:?}"
    );
    // The database path still became relative: it does not depend on the file.
    let rel = model_path(&fx, common::TINYLLAMA).await.unwrap();
    assert_eq!(rel, TINY_YML);
    assert_eq!(model(&fx, common::TINYLLAMA).await.weights_bytes, None);
}

#[tokio::test]
async fn a_read_only_model_yml_is_skipped_with_a_note() {
    use std::os::unix::fs::PermissionsExt;
    let fx = common::cortex_folder(3).await;
    let p = fx.data.join(TINY_YML);
    let text = read(&fx, TINY_YML);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o444)).unwrap();
    let report = run(&fx, true, Target::All).await.unwrap();
    assert_eq!(read(&fx, TINY_YML), text);
    assert_eq!(
        std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o444
    );
    let notes = notes(&report).await;
    assert!(notes.iter().any(|n| n.contains("read-only")), "{notes:?}");
}

#[tokio::test]
async fn paths_that_climb_out_or_symlink_out_are_not_touched() {
    let fx = common::cortex_folder(3).await;
    // A row whose path climbs out with `..`, and a model.yml that is a
    // symlink to a file outside the data folder.
    let victim = fx.outside().join("victim.yml");
    let victim_text = format!(
        "id: victim\nfiles:\n  - {}\nengine: cortex.llamacpp\n",
        fx.data.join("models/x.gguf").display()
    );
    std::fs::write(&victim, &victim_text).unwrap();
    std::fs::create_dir_all(fx.data.join("models/linked")).unwrap();
    std::os::unix::fs::symlink(&victim, fx.data.join("models/linked/model.yml")).unwrap();
    {
        let db = fx.connect().await;
        db.execute_unprepared(
            "INSERT INTO models (model_id, path_to_model_yaml, status, engine) VALUES \
             ('climber', '../outside/victim.yml', 'downloaded', 'cortex.llamacpp'), \
             ('linked', 'models/linked/model.yml', 'downloaded', 'cortex.llamacpp')",
        )
        .await
        .unwrap();
    }
    let report = run(&fx, true, Target::All).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        victim_text,
        "a file outside was changed"
    );
    let climber = model_path(&fx, "climber").await.unwrap();
    assert_eq!(climber, "../outside/victim.yml");
    let notes = notes(&report).await;
    assert!(
        notes
            .iter()
            .any(|n| n.contains("climber") && n.contains("climbs out")),
        "{notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("linked") && n.contains("symlink")),
        "{notes:?}"
    );
}

#[tokio::test]
async fn plan_lists_the_file_operations_without_doing_them() {
    let fx = common::cortex_folder(1).await;
    let before = digest(&fx).await;
    let out = std::process::Command::new(common::bin())
        .args(["--data-dir", fx.data.to_str().unwrap(), "plan"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // Engine folders never move (cortex.cpp loads them by repository name).
    assert!(!text.contains("rename engines/"), "{text}");
    assert!(text.contains(&format!("rewrite {TINY_YML}")), "{text}");
    assert_eq!(digest(&fx).await, before, "plan changed something");
}
