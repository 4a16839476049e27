//! The folder steps over more model rows than one page holds (2,000): the
//! relative-path, engine-rename and backfill steps go a page at a time, so
//! rows and `model.yml` files on every page are changed, a `model.yml`
//! named by rows on two pages is rewritten once, every total and note
//! counts all pages, and `down` puts every byte and row back.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{FixtureSpec, build, cli, exec, ok, open_db};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

const V3: &str = "m20250110_000001_cortex_v3";
const BACKFILL: &str = "m20261126_000003_backfill_weights_bytes";
/// Generated models: more than one page of rows.
const MODELS: usize = 2_100;
/// A row on the last page that names the `model.yml` of the first
/// generated model by key (on the first page, rewritten long before).
const TWIN: &str = "zz-twin:main";
/// Appended to that first model's key: the row right after it, naming the
/// same `model.yml` (in the same batch of rewrites).
const NEXT_TWIN: &str = "~twin";

/// `model_id` -> (path_to_model_yaml, engine, weights_bytes) of every row.
async fn models(db: &DatabaseConnection) -> BTreeMap<String, (String, String, Option<i64>)> {
    let has_bytes = db
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            "SELECT 1 FROM pragma_table_info('models') WHERE name = 'weights_bytes'",
        ))
        .await
        .unwrap()
        .is_some();
    let bytes = if has_bytes { "weights_bytes" } else { "NULL" };
    db.query_all_raw(Statement::from_string(
        sea_orm::DbBackend::Sqlite,
        format!(
            "SELECT model_id, COALESCE(path_to_model_yaml, ''), COALESCE(engine, ''), \
             {bytes} FROM models"
        ),
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        (
            r.try_get_by_index::<String>(0).unwrap(),
            (
                r.try_get_by_index::<String>(1).unwrap(),
                r.try_get_by_index::<String>(2).unwrap(),
                r.try_get_by_index::<Option<i64>>(3).unwrap(),
            ),
        )
    })
    .collect()
}

/// A v1 folder with `MODELS` generated models whose rows store absolute
/// paths and the legacy engine name (as cortex.cpp before the rename
/// wrote them), plus [`TWIN`], taken up to cortex.cpp's v3 schema.
async fn folder() -> common::Fixture {
    let fx = build(FixtureSpec {
        models: MODELS,
        ..FixtureSpec::new(1)
    })
    .await;
    let db = open_db(&fx.data).await;
    let root = fx.data.to_string_lossy().replace('\'', "''");
    exec(
        &db,
        &format!(
            "UPDATE models SET path_to_model_yaml = '{root}/' || path_to_model_yaml, \
             engine = 'cortex.llamacpp' WHERE model_id LIKE 'gen-model-%'"
        ),
    )
    .await;
    exec(
        &db,
        &format!(
            "INSERT INTO models (model_id, author_repo_id, branch_name, path_to_model_yaml, \
             model_alias, engine) SELECT '{TWIN}', author_repo_id, branch_name, \
             path_to_model_yaml, '{TWIN}', engine FROM models WHERE model_id = \
             (SELECT MIN(model_id) FROM models WHERE model_id LIKE 'gen-model-%')"
        ),
    )
    .await;
    exec(
        &db,
        &format!(
            "INSERT INTO models (model_id, author_repo_id, branch_name, path_to_model_yaml, \
             model_alias, engine) SELECT model_id || '{NEXT_TWIN}', author_repo_id, branch_name, \
             path_to_model_yaml, model_alias, engine FROM models WHERE model_id = \
             (SELECT MIN(model_id) FROM models WHERE model_id LIKE 'gen-model-%')"
        ),
    )
    .await;
    db.close().await.unwrap();
    ok(&cli(&fx.data, &["up", "--to", V3]));
    fx
}

#[tokio::test]
async fn every_page_of_rows_is_changed_and_down_puts_them_back() {
    let fx = folder().await;
    let db = open_db(&fx.data).await;
    let rows_before = common::db_rows(&db).await;
    let before = models(&db).await;
    db.close().await.unwrap();
    let files_before = common::tree(&fx.data);
    assert!(before.len() > MODELS + 1, "{} rows", before.len());

    // The plan rewrites the shared model.yml once, though three rows name
    // it (nothing is written in a plan, so nothing shows it done).
    let first = before
        .keys()
        .find(|k| k.ends_with(NEXT_TWIN))
        .expect("the twin row")
        .trim_end_matches(NEXT_TWIN)
        .to_owned();
    let shared = before[&first].0.clone();
    let rel = shared
        .strip_prefix(&format!("{}/", fx.data.display()))
        .unwrap_or(&shared)
        .to_owned();
    let plan = ok(&cli(&fx.data, &["plan", "up", "--to", BACKFILL]));
    let lines: Vec<&str> = plan.lines().filter(|l| l.ends_with(&rel)).collect();
    assert_eq!(lines.len(), 1, "{rel} in the plan: {lines:?}");

    let out = ok(&cli(&fx.data, &["up", "--to", BACKFILL]));
    let db = open_db(&fx.data).await;
    let after = models(&db).await;
    db.close().await.unwrap();
    let generated: Vec<_> = after
        .iter()
        .filter(|(id, _)| id.starts_with("gen-model-") || id.as_str() == TWIN)
        .collect();
    assert_eq!(generated.len(), MODELS + 2);
    for (id, (path, engine, bytes)) in generated {
        assert!(!Path::new(path).is_absolute(), "{id}: {path}");
        assert_eq!(engine, "llama-cpp", "{id}");
        let yml = std::fs::read_to_string(fx.data.join(path)).unwrap();
        assert!(yml.contains("engine: llama-cpp"), "{id}: {yml}");
        assert!(!yml.contains("cortex.llamacpp"), "{id}: {yml}");
        let gguf = fx.data.join(Path::new(path).with_file_name("model.gguf"));
        let size = std::fs::metadata(&gguf).unwrap().len() as i64;
        assert_eq!(*bytes, Some(size), "{id}");
    }
    // The notes count every page: each generated row's path, and the twin.
    let relative = out
        .lines()
        .find(|l| l.contains("model.yml file(s) made relative"))
        .unwrap_or_else(|| panic!("no note of the relative paths: {out}"));
    let paths: usize = relative.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(paths > MODELS, "{relative}");
    let filled = out
        .lines()
        .find(|l| l.contains("weights_bytes filled for"))
        .unwrap_or_else(|| panic!("no note of the backfill: {out}"));
    assert!(
        filled.contains(&format!("of {} model(s)", after.len())),
        "{filled}"
    );

    ok(&cli(&fx.data, &["down", "--to", V3]));
    let db = open_db(&fx.data).await;
    let mut rows_back = common::db_rows(&db).await;
    let mut rows_then = rows_before.clone();
    for rows in [&mut rows_back, &mut rows_then] {
        rows.retain(|t, _| !t.starts_with("cortex_migrate_") && t != "seaql_migrations");
    }
    db.close().await.unwrap();
    assert!(rows_back == rows_then, "rows differ after the down");
    let files_back = common::tree(&fx.data);
    let differ: Vec<_> = common::tree_changes(&files_before, &files_back)
        .filter(|k| !k.starts_with("cortex.db"))
        .take(3)
        .collect();
    assert!(differ.is_empty(), "files differ after the down: {differ:?}");
}

/// The checksums the three steps were recorded with when they read every
/// row at once (`migration/src/superseded.rs`).
const WHOLE_ROWS: [(&str, &str); 3] = [
    (
        "m20261126_000001_relative_model_paths",
        "4612c4a7c75ca31be003924364cd082c372736159c3464e7e344cc3cf83bf58b",
    ),
    (
        "m20261126_000002_rename_legacy_engines",
        "70f54acf980be068763fa66f8f577aa9359760570b28ef3d68a8ed7e277917eb",
    ),
    (
        BACKFILL,
        "ed1efc84db405996bec399d770aacf795932d24c61c4854a6216d6cc015cf91e",
    ),
];

/// A folder migrated by the definitions that read every row at once is
/// the same steps: `verify` accepts it, saying so, and `down` undoes them.
#[tokio::test]
async fn the_whole_rows_definitions_are_accepted_as_superseded() {
    let fx = build(FixtureSpec::new(1)).await;
    ok(&cli(&fx.data, &["up", "--to", BACKFILL]));
    let db = open_db(&fx.data).await;
    for (step, checksum) in WHOLE_ROWS {
        exec(
            &db,
            &format!(
                "UPDATE cortex_migrate_steps SET checksum = '{checksum}' WHERE version = '{step}'"
            ),
        )
        .await;
    }
    db.close().await.unwrap();
    let verified = ok(&cli(&fx.data, &["verify"]));
    assert!(
        verified.contains("3 recorded by an earlier definition of the same step"),
        "{verified}"
    );
    ok(&cli(&fx.data, &["down", "--to", V3]));
    let status = ok(&cli(&fx.data, &["status"]));
    assert!(
        status
            .lines()
            .any(|l| l.contains("pending") && l.contains(BACKFILL)),
        "{status}"
    );

    // An unknown checksum is a changed step, refused.
    ok(&cli(&fx.data, &["up", "--to", BACKFILL]));
    let db = open_db(&fx.data).await;
    exec(
        &db,
        &format!(
            "UPDATE cortex_migrate_steps SET checksum = '{}' WHERE version = '{BACKFILL}'",
            "0".repeat(64)
        ),
    )
    .await;
    db.close().await.unwrap();
    let out = cli(&fx.data, &["verify"]);
    assert!(!out.status.success(), "a changed step verified");
}
