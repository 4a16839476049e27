//! A step over more models than one part of a recipe holds (1,000 inverses):
//! its recipe is stored in parts (`cortex_migrate_undo`), the history row
//! keeps only a header an older binary refuses rather than half replays,
//! `down` puts every byte and row back from the parts, and a recipe with a
//! part missing is refused with nothing changed.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{FixtureSpec, build, cli, ok, open_db};
use sea_orm::{ConnectionTrait, DatabaseConnection};

const RELATIVE: &str = "m20261126_000001_relative_model_paths";
const RENAME: &str = "m20261126_000002_rename_legacy_engines";
/// Models the rename step rewrites: one part and a bit of another.
const MODELS: usize = 1_200;

async fn scalar(db: &DatabaseConnection, sql: &str) -> String {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Sqlite,
            sql,
        ))
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("no row: {sql}"));
    row.try_get_by_index::<String>(0)
        .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v.to_string()))
        .unwrap()
}

/// The `down_recipe` stored with `step`, parsed.
async fn recipe_of(db: &DatabaseConnection, step: &str) -> serde_json::Value {
    let text = scalar(
        db,
        &format!("SELECT down_recipe FROM cortex_migrate_steps WHERE version = '{step}'"),
    )
    .await;
    serde_json::from_str(&text).unwrap()
}

/// The folder's files (but the database file) and every row but the
/// history's, compared before and after a round trip.
#[derive(Debug, PartialEq, Eq)]
struct State {
    files: BTreeMap<String, String>,
    rows: BTreeMap<String, common::TableRows>,
}

async fn state(data: &Path) -> State {
    let db = open_db(data).await;
    let mut rows = common::db_rows(&db).await;
    rows.retain(|t, _| !t.starts_with("cortex_migrate_") && t != "seaql_migrations");
    db.close().await.unwrap();
    let mut files = common::tree(data);
    files.retain(|k, _| !k.starts_with("cortex.db"));
    State { files, rows }
}

/// The first file or table where two states differ (states of 1,200
/// models are too long to print whole).
fn first_difference(a: &State, b: &State) -> Option<String> {
    let keys: std::collections::BTreeSet<&String> = a.files.keys().chain(b.files.keys()).collect();
    for k in keys {
        if a.files.get(k) != b.files.get(k) {
            return Some(format!(
                "file {k}: {:?} then {:?}",
                a.files.get(k),
                b.files.get(k)
            ));
        }
    }
    let tables: std::collections::BTreeSet<&String> = a.rows.keys().chain(b.rows.keys()).collect();
    for t in tables {
        if a.rows.get(t) != b.rows.get(t) {
            return Some(format!("table {t}"));
        }
    }
    None
}

/// A v1 folder with legacy engine names and `MODELS` more models, taken up
/// to the step before the rename.
async fn folder() -> common::Fixture {
    let fx = build(FixtureSpec {
        models: MODELS,
        ..FixtureSpec::new(1)
    })
    .await;
    ok(&cli(&fx.data, &["up", "--to", RELATIVE]));
    fx
}

#[tokio::test]
async fn a_long_recipe_is_stored_in_parts_and_down_puts_every_byte_back() {
    let fx = folder().await;
    let before = state(&fx.data).await;
    ok(&cli(&fx.data, &["up", "--to", RENAME]));

    let db = open_db(&fx.data).await;
    let header = recipe_of(&db, RENAME).await;
    assert_eq!(header["format"], 2, "{header}");
    // What a binary that knows only inline recipes reads: no `ops`, so it
    // refuses instead of replaying the header alone.
    assert!(header.get("ops").is_none(), "{header}");
    let count = header["count"].as_u64().unwrap();
    assert!(
        count > MODELS as u64,
        "{count} inverses for {MODELS} models"
    );
    let parts: u64 = scalar(
        &db,
        &format!("SELECT COUNT(*) FROM cortex_migrate_undo WHERE version = '{RENAME}'"),
    )
    .await
    .parse()
    .unwrap();
    assert_eq!(parts, header["chunks"].as_u64().unwrap());
    assert_eq!(parts, count.div_ceil(1000));
    // A short recipe is still stored whole, as every binary reads it.
    let inline = recipe_of(&db, RELATIVE).await;
    assert_eq!(inline["format"], 1, "{inline}");
    assert!(inline["ops"].is_array(), "{inline}");
    db.close().await.unwrap();
    assert!(
        first_difference(&state(&fx.data).await, &before).is_some(),
        "the step changed nothing"
    );

    ok(&cli(&fx.data, &["down", "--to", RELATIVE]));
    assert_eq!(first_difference(&state(&fx.data).await, &before), None);
    let db = open_db(&fx.data).await;
    assert_eq!(
        scalar(&db, "SELECT COUNT(*) FROM cortex_migrate_undo").await,
        "0",
        "parts left behind after the down"
    );
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_recipe_with_a_part_missing_is_refused_and_nothing_changes() {
    let fx = folder().await;
    ok(&cli(&fx.data, &["up", "--to", RENAME]));
    let db = open_db(&fx.data).await;
    db.execute_unprepared(&format!(
        "DELETE FROM cortex_migrate_undo WHERE version = '{RENAME}' AND seq = 0"
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
    let before = state(&fx.data).await;

    let out = cli(&fx.data, &["down", "--to", RELATIVE]);
    assert!(!out.status.success(), "a down with a part missing ran");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(RENAME) && err.contains("parts"),
        "the message names neither the step nor what is missing: {err}"
    );
    assert_eq!(first_difference(&state(&fx.data).await, &before), None);
    let status = ok(&cli(&fx.data, &["status"]));
    assert!(status.contains(RENAME), "{status}");
}
