//! Cortex reads what we write (design invariant 10): for every fixture, the
//! untouched folder and the folder after every step up and every step down
//! read clean with the cortex.cpp reader (`common::cortex_reader`) of the
//! release that state targets; and the state the engine rename's first
//! definition left is read as broken where it is. The reader's own rules,
//! and that it fails when something cortex.cpp looks for is gone, are
//! `tests/cortex_reader_rules.rs`.

mod common;
#[path = "support/first_engine_rename.rs"]
mod first_engine_rename;
#[path = "support/reader_problems.rs"]
mod reader_problems;

use common::cortex_reader::{self, Kind, Release, Subject};
use common::{
    Fixture, FixtureSpec, LLAMACPP_VARIANT, LLAMACPP_VERSION, ONNX_VARIANT, ONNX_VERSION,
};
use migration::Migrator;
use migration::toolkit::StepList;
use migration::toolkit::runner::{Options, Runner, Target};
use reader_problems::{llama_dir, problem, read_v3};

/// The last schema step that reproduces cortex.cpp's own schema (v3).
const CORTEX_V3: &str = "m20250110_000001_cortex_v3";

/// The cortex.cpp release a data folder targets once `last` is the last
/// step applied (`None`: no step, after down to nothing).
///
/// - No step: no cortex.cpp schema at all, as before cortex.cpp had
///   migrations; v1.0.3 is the newest such release and the first with the
///   `engines/<repo>/<variant>/<version>/` layout the fixtures' engines are
///   installed in (59d4a6f3).
/// - `cortex_v0` .. `cortex_v3` reproduce cortex.cpp's migrations v0..v3, so
///   the release with that `SCHEMA_VERSION` (`engine/migrations/
///   schema_version.h`): 0 is v1.0.4 (adfbda12); 1 and 2 only ever shipped
///   in nightlies (79f7679d, 0fa83b2e); 3 is v1.0.5 to v1.0.12 (8dde05cc).
/// - The folder steps carry a schema-3 database forward for the releases
///   that read it, v1.0.5 to v1.0.12. None of them targets cc2e093a
///   (llama.cpp server, `engines/llama.cpp/`, first in v1.0.13-rc3).
///
/// A new step must be added here: it targets a release on purpose.
fn release_after(last: Option<&str>) -> Release {
    match last {
        None => Release::V1_0_3,
        Some("m20240913_000001_cortex_v0") => Release::with_schema(0),
        Some("m20241010_000001_cortex_v1") => Release::with_schema(1),
        Some("m20241205_000001_cortex_v2") => Release::with_schema(2),
        Some(
            "m20250110_000001_cortex_v3"
            | "m20261126_000001_relative_model_paths"
            | "m20261126_000002_rename_legacy_engines"
            | "m20261126_000003_backfill_weights_bytes"
            | "m20261203_000001_engine_folders_by_repository"
            | "m20261203_000002_catalogue_rows_kept_aside"
            | "m20261203_000003_models_before_cortex_db"
            | "m20261203_000004_cortexrc_server_address",
        ) => Release::V1_0_5ToV1_0_12,
        Some(step) => {
            panic!("step {step} targets no cortex.cpp release yet; add it to release_after")
        }
    }
}

fn names() -> Vec<String> {
    Migrator::steps()
        .iter()
        .map(|s| s.name().to_owned())
        .collect()
}

/// The applied steps, in step order.
async fn applied(fx: &Fixture) -> Vec<String> {
    let db = fx.connect().await;
    let applied = migration::toolkit::history::applied(&db).await.unwrap();
    db.close().await.unwrap();
    names()
        .into_iter()
        .filter(|n| applied.iter().any(|a| &a.version == n))
        .collect()
}

async fn run(fx: &Fixture, up: bool, target: Target) {
    let db = fx.connect().await;
    let mut r = Runner::new(&db, Migrator::steps(), Options::default())
        .await
        .unwrap();
    let report = if up {
        r.up(target).await
    } else {
        r.down(target).await
    };
    report.unwrap_or_else(|e| panic!("{}: {e}", if up { "up" } else { "down" }));
    db.close().await.unwrap();
}

/// What `release` finds in `fx`, as lines naming `when`.
async fn problems(fx: &Fixture, release: Release, when: &str) -> Vec<String> {
    let reading = cortex_reader::read(&fx.data, Some(&fx.cortexrc()), release).await;
    reading
        .problems
        .iter()
        .map(|p| format!("{when}, read by {release}: {p}"))
        .collect()
}

/// What the release the applied steps target finds in `fx`.
async fn problems_now(fx: &Fixture, when: &str) -> Vec<String> {
    let release = release_after(applied(fx).await.last().map(String::as_str));
    problems(fx, release, when).await
}

/// Runs every step up, one at a time, and reads after each run that
/// changed the history (adoption included).
async fn up_step_by_step(fx: &Fixture) -> Vec<String> {
    let mut out = Vec::new();
    for step in names() {
        let before = applied(fx).await;
        run(fx, true, Target::To(step.clone())).await;
        if applied(fx).await != before {
            out.extend(problems_now(fx, &format!("after up to {step}")).await);
        }
    }
    out
}

/// Runs steps down, one at a time, until `keep` is the last one applied
/// (`None`: down to nothing), and reads after each.
async fn down_step_by_step(fx: &Fixture, keep: Option<&str>) -> Vec<String> {
    let all = names();
    let keep = keep.map(|k| all.iter().position(|n| n == k).unwrap());
    let mut out = Vec::new();
    loop {
        let applied = applied(fx).await;
        let Some(last) = applied.last() else { break };
        let i = all.iter().position(|n| n == last).unwrap();
        if keep.is_some_and(|k| i <= k) {
            break;
        }
        let target = match i {
            0 => Target::Nothing,
            _ => Target::To(all[i - 1].clone()),
        };
        run(fx, false, target).await;
        out.extend(problems_now(fx, &format!("after down from {last}")).await);
    }
    out
}

fn assert_clean(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "cortex.cpp would not find:\n{}",
        problems.join("\n")
    );
}

/// The untouched fixture, read by the release that wrote schema `schema`.
async fn untouched(fx: &Fixture, schema: u8) -> Vec<String> {
    problems(fx, Release::with_schema(schema), "untouched").await
}

/// Untouched, then every step up.
async fn up_walk(fx: Fixture, schema: u8) {
    let mut out = untouched(&fx, schema).await;
    out.extend(up_step_by_step(&fx).await);
    assert_clean(out);
}

/// Every step up, then down one step at a time to `cortex_v3`.
async fn down_walk_to_cortex_v3(fx: Fixture) {
    run(&fx, true, Target::All).await;
    assert_clean(down_step_by_step(&fx, Some(CORTEX_V3)).await);
}

/// Every step up, down to `cortex_v3`, then one step at a time to nothing.
async fn down_walk_below_cortex_v3(fx: Fixture) {
    run(&fx, true, Target::All).await;
    run(&fx, false, Target::To(CORTEX_V3.into())).await;
    assert_clean(down_step_by_step(&fx, None).await);
}

/// A v3 folder taken up by the project's main branch before the engine
/// folder fix, whose first engine rename moved the engine folders.
async fn migrated_before_fix() -> Fixture {
    let fx = common::cortex_folder(3).await;
    assert_clean(untouched(&fx, 3).await);
    first_engine_rename::migrate_before_fix(&fx.db_url()).await;
    fx
}

/// Generated models on top of the standard set.
const MANY: usize = 150;

async fn many_models() -> Fixture {
    common::build(FixtureSpec {
        models: MANY,
        ..FixtureSpec::new(2)
    })
    .await
}

/// A v1 folder whose imported model was imported with `option: copy`
/// (cortex.cpp v1.0.2+, `ImportModel` in `engine/controllers/models.cc`):
/// the weights copied to `models/imported/<file>` and `files:` holding that
/// absolute path, inside the data folder.
async fn imported_by_copy() -> Fixture {
    let fx = common::cortex_folder(1).await;
    let outside = fx.outside().join("my-imported.gguf");
    let inside = fx.data.join("models/imported/my-imported.gguf");
    std::fs::copy(&outside, &inside).unwrap();
    let yml = fx
        .data
        .join(format!("models/imported/{}.yml", common::IMPORTED));
    let text = std::fs::read_to_string(&yml).unwrap();
    let out = outside.display().to_string();
    assert!(text.contains(&out));
    std::fs::write(&yml, text.replace(&out, &inside.display().to_string())).unwrap();
    std::fs::remove_file(&outside).unwrap();
    fx
}

// Up, from every fixture.

#[tokio::test]
async fn cortex_v0_reads_clean_after_every_step_up() {
    up_walk(common::cortex_folder(0).await, 0).await;
}

#[tokio::test]
async fn cortex_v1_reads_clean_after_every_step_up() {
    up_walk(common::cortex_folder(1).await, 1).await;
}

#[tokio::test]
async fn cortex_v2_reads_clean_after_every_step_up() {
    up_walk(common::cortex_folder(2).await, 2).await;
}

#[tokio::test]
async fn cortex_v3_reads_clean_after_every_step_up() {
    up_walk(common::cortex_folder(3).await, 3).await;
}

#[tokio::test]
async fn fresh_v1_reads_clean_after_every_step_up() {
    up_walk(common::cortex_folder_fresh_install(1).await, 1).await;
}

#[tokio::test]
async fn fresh_v2_reads_clean_after_every_step_up() {
    up_walk(common::cortex_folder_fresh_install(2).await, 2).await;
}

#[tokio::test]
async fn fresh_v3_reads_clean_after_every_step_up() {
    up_walk(common::cortex_folder_fresh_install(3).await, 3).await;
}

#[tokio::test]
async fn many_models_read_clean_after_every_step_up() {
    up_walk(many_models().await, 2).await;
}

#[tokio::test]
async fn imported_by_copy_reads_clean_after_every_step_up() {
    up_walk(imported_by_copy().await, 1).await;
}

#[tokio::test]
async fn migrated_before_the_fix_reads_clean_after_every_step_up() {
    let fx = migrated_before_fix().await;
    assert_clean(up_step_by_step(&fx).await);
}

// Down to cortex.cpp v3, through the folder steps.

#[tokio::test]
async fn cortex_v0_reads_clean_after_every_step_down_to_cortex_v3() {
    down_walk_to_cortex_v3(common::cortex_folder(0).await).await;
}

#[tokio::test]
async fn cortex_v1_reads_clean_after_every_step_down_to_cortex_v3() {
    down_walk_to_cortex_v3(common::cortex_folder(1).await).await;
}

#[tokio::test]
async fn cortex_v2_reads_clean_after_every_step_down_to_cortex_v3() {
    down_walk_to_cortex_v3(common::cortex_folder(2).await).await;
}

#[tokio::test]
async fn cortex_v3_reads_clean_after_every_step_down_to_cortex_v3() {
    down_walk_to_cortex_v3(common::cortex_folder(3).await).await;
}

#[tokio::test]
async fn fresh_v1_reads_clean_after_every_step_down_to_cortex_v3() {
    down_walk_to_cortex_v3(common::cortex_folder_fresh_install(1).await).await;
}

#[tokio::test]
async fn fresh_v2_reads_clean_after_every_step_down_to_cortex_v3() {
    down_walk_to_cortex_v3(common::cortex_folder_fresh_install(2).await).await;
}

#[tokio::test]
async fn fresh_v3_reads_clean_after_every_step_down_to_cortex_v3() {
    down_walk_to_cortex_v3(common::cortex_folder_fresh_install(3).await).await;
}

#[tokio::test]
async fn many_models_read_clean_after_every_step_down_to_cortex_v3() {
    down_walk_to_cortex_v3(many_models().await).await;
}

#[tokio::test]
async fn imported_by_copy_reads_clean_after_every_step_down_to_cortex_v3() {
    down_walk_to_cortex_v3(imported_by_copy().await).await;
}

/// Down from the repair gives back, byte for byte, the state the engine
/// rename's first definition left (engine folders under the engine names),
/// which cortex.cpp cannot load: that is the defect the repair exists for.
/// Once the first definition's own step is undone too, cortex.cpp v3 reads
/// the folder clean again.
#[tokio::test]
async fn migrated_before_the_fix_is_broken_only_where_the_first_definition_left_it() {
    let fx = migrated_before_fix().await;
    run(&fx, true, Target::All).await;
    let rename = "m20261126_000002_rename_legacy_engines";
    let problems = down_step_by_step(&fx, Some(rename)).await;
    assert!(
        !problems.is_empty(),
        "the first definition's state read clean"
    );
    assert!(
        problems.iter().all(|p| p.contains("engine")),
        "only engines are missing there: {problems:?}"
    );
    assert_clean(down_step_by_step(&fx, Some(CORTEX_V3)).await);
}

// Down below cortex.cpp v3, through cortex.cpp's own schemas, to nothing.

#[tokio::test]
async fn cortex_v0_reads_clean_after_every_step_down_below_cortex_v3() {
    down_walk_below_cortex_v3(common::cortex_folder(0).await).await;
}

#[tokio::test]
async fn cortex_v1_reads_clean_after_every_step_down_below_cortex_v3() {
    down_walk_below_cortex_v3(common::cortex_folder(1).await).await;
}

#[tokio::test]
async fn cortex_v2_reads_clean_after_every_step_down_below_cortex_v3() {
    down_walk_below_cortex_v3(common::cortex_folder(2).await).await;
}

#[tokio::test]
async fn cortex_v3_reads_clean_after_every_step_down_below_cortex_v3() {
    down_walk_below_cortex_v3(common::cortex_folder(3).await).await;
}

#[tokio::test]
async fn fresh_v1_reads_clean_after_every_step_down_below_cortex_v3() {
    down_walk_below_cortex_v3(common::cortex_folder_fresh_install(1).await).await;
}

#[tokio::test]
async fn fresh_v2_reads_clean_after_every_step_down_below_cortex_v3() {
    down_walk_below_cortex_v3(common::cortex_folder_fresh_install(2).await).await;
}

#[tokio::test]
async fn fresh_v3_reads_clean_after_every_step_down_below_cortex_v3() {
    down_walk_below_cortex_v3(common::cortex_folder_fresh_install(3).await).await;
}

#[tokio::test]
async fn many_models_read_clean_after_every_step_down_below_cortex_v3() {
    down_walk_below_cortex_v3(many_models().await).await;
}

#[tokio::test]
async fn imported_by_copy_reads_clean_after_every_step_down_below_cortex_v3() {
    down_walk_below_cortex_v3(imported_by_copy().await).await;
}

#[tokio::test]
async fn migrated_before_the_fix_reads_clean_after_every_step_down_below_cortex_v3() {
    down_walk_below_cortex_v3(migrated_before_fix().await).await;
}

// The mapping.

#[test]
fn every_step_targets_a_release() {
    for step in names() {
        release_after(Some(&step));
    }
    assert_eq!(release_after(None), Release::V1_0_3);
}

// What the engine rename's first definition left, as the reader sees it.

#[tokio::test]
async fn the_first_engine_rename_leaves_engines_where_no_release_loads_them() {
    let fx = migrated_before_fix().await;
    let onnx = cortex_reader::engine_dir(&fx.data, "cortex.onnx", ONNX_VARIANT, ONNX_VERSION);
    let row = |name: &str, variant: &str, version: &str| {
        Subject::EngineRow(name.into(), variant.into(), version.into())
    };
    assert_eq!(
        read_v3(&fx).await,
        [
            problem(
                row("llama-cpp", LLAMACPP_VARIANT, LLAMACPP_VERSION),
                llama_dir(&fx),
                Kind::EngineFolderMissing
            ),
            problem(
                row("onnxruntime", ONNX_VARIANT, ONNX_VERSION),
                onnx,
                Kind::EngineFolderMissing
            ),
            problem(
                Subject::DefaultEngine,
                llama_dir(&fx),
                Kind::EngineFolderMissing
            ),
        ]
    );
}
