//! The folder steps on PostgreSQL and MariaDB: they move files and rows with
//! a server database and a data folder, and down gives back every byte;
//! engine rows and folders renamed by the engine rename's first definition
//! come back and down restores them; `cortex_v3`'s first definition is
//! superseded and its catalogue row goes aside below it.
//!
//! Every test runs once per server, on a database of its own, and prints
//! why it skips when `CORTEX_TEST_POSTGRES_URL` / `CORTEX_TEST_MYSQL_URL`
//! is unset.

mod common;
#[path = "support/first_engine_rename.rs"]
mod first_engine_rename;
#[path = "support/server_rows.rs"]
mod server_rows;
#[path = "support/server_steps.rs"]
mod server_steps;
#[path = "support/servers.rs"]
mod servers;

use std::path::Path;

use migration::Migrator;
use migration::toolkit::StepList;
use migration::toolkit::runner::{Runner, Target};
use sea_orm::sea_query::{Alias, Expr, Query};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};
use server_steps::{
    TABLES, data_folder, down, entity_rows, fill_every_table, insert, names, null, on_both_servers,
    options, show, text, up,
};
use servers::{Server, TestDb, cli};

on_both_servers!(
    folder_steps_move_files_and_rows_and_down_gives_back_every_byte,
    engine_rows_and_folders_renamed_before_the_fix_come_back_and_down_restores_them,
    cortex_v3s_first_definition_is_superseded_and_its_catalogue_row_goes_aside_below_it,
);

const YML: &str = "models/cortex.so/x/main/model.yml";
const WEIGHTS: &str = "models/cortex.so/x/main/model.gguf";
const ENGINE_FILE: &str = "linux-amd64-avx2/v0.1.49/libengine.so";

/// A data folder as cortex.cpp v1 left it: a legacy engine folder and a
/// model whose model.yml names its weights by absolute path.
fn lay_out_legacy_folder(data: &Path) -> u64 {
    let engine = data.join("engines/cortex.llamacpp").join(ENGINE_FILE);
    std::fs::create_dir_all(engine.parent().unwrap()).unwrap();
    std::fs::write(&engine, b"\x7fELF not really a library").unwrap();
    std::fs::write(
        data.join("engines/cortex.llamacpp/linux-amd64-avx2/v0.1.49/version.txt"),
        "name: linux-amd64-avx2\nversion: v0.1.49\n",
    )
    .unwrap();
    let weights = data.join(WEIGHTS);
    std::fs::create_dir_all(weights.parent().unwrap()).unwrap();
    let bytes: Vec<u8> = (0..12_345u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&weights, &bytes).unwrap();
    std::fs::write(
        data.join(YML),
        format!(
            "# BEGIN GENERAL GGUF METADATA\n\
             id: x # Model ID\n\
             model: x:main\n\
             name: x\n\
             files:             # Can be relative OR absolute local file path\n  \
             - {}\n\
             # END GENERAL GGUF METADATA\n\
             engine: cortex.llamacpp # engine to run model\n\
             ctx_len: 4096\n",
            weights.display()
        ),
    )
    .unwrap();
    bytes.len() as u64
}

async fn folder_steps_move_files_and_rows_and_down_gives_back_every_byte(
    server: Server,
    test: &str,
) {
    let Some(tdb) = TestDb::create(server, test).await else {
        return;
    };
    let db = tdb.connect().await;
    let (_t, data) = data_folder();
    let v3 = names()[3].clone();
    assert!(v3.ends_with("_cortex_v3"), "{v3}");
    up(&db, &data, Target::To(v3.clone())).await;

    let size = lay_out_legacy_folder(&data);
    let abs_yml = data.join(YML).display().to_string();
    insert(
        &db,
        "models",
        vec![
            ("model_id", text("x:main")),
            ("author_repo_id", text("cortexso")),
            ("branch_name", text("main")),
            ("path_to_model_yaml", text(&abs_yml)),
            ("model_alias", text("x:main")),
            ("model_format", text("cortexso")),
            ("model_source", text("https://huggingface.co/cortexso/x")),
            ("status", text("downloaded")),
            ("engine", text("cortex.llamacpp")),
            ("metadata", null()),
        ],
    )
    .await;
    let rows_before = server_rows::rows_of(&db, &TABLES).await;
    let tree_before = common::tree(&data);
    let yml_before = std::fs::read_to_string(data.join(YML)).unwrap();

    let report = up(&db, &data, Target::All).await;
    assert_eq!(report.steps.len(), 7, "{server:?}: {report:?}");
    let model = entity::models::Entity::find_by_id("x:main")
        .one(&db)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(model.path_to_model_yaml.as_deref(), Some(YML), "{server:?}");
    assert_eq!(model.engine.as_deref(), Some("llama-cpp"), "{server:?}");
    assert_eq!(model.weights_bytes, Some(size as i64), "{server:?}");

    let tree_after = common::tree(&data);
    // Engine folders stay where cortex.cpp loads them.
    assert!(!data.join("engines/llama-cpp").exists(), "{server:?}");
    assert_eq!(
        tree_after.get(&format!("engines/cortex.llamacpp/{ENGINE_FILE}")),
        tree_before.get(&format!("engines/cortex.llamacpp/{ENGINE_FILE}")),
        "{server:?}: the engine folder changed"
    );
    assert_eq!(tree_after.get(WEIGHTS), tree_before.get(WEIGHTS));
    let yml_after = std::fs::read_to_string(data.join(YML)).unwrap();
    let changed: Vec<(&str, &str)> = yml_before
        .lines()
        .zip(yml_after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(yml_before.lines().count(), yml_after.lines().count());
    assert_eq!(
        changed,
        vec![
            (
                format!("  - {}", data.join(WEIGHTS).display()).as_str(),
                format!("  - {WEIGHTS}").as_str()
            ),
            (
                "engine: cortex.llamacpp # engine to run model",
                "engine: llama-cpp # engine to run model"
            ),
        ],
        "{server:?}"
    );

    down(&db, &data, Target::To(v3)).await;
    assert_eq!(
        server_rows::rows_of(&db, &TABLES).await,
        rows_before,
        "{server:?}: rows not given back by the down"
    );
    assert!(
        common::tree(&data) == tree_before,
        "{server:?}: the data folder is not byte for byte as before: {:?}",
        common::tree(&data).keys().collect::<Vec<_>>()
    );
}

/// A folder migrated by the engine rename's first definition (which renamed
/// local engine rows and moved engine folders): the repair step names the
/// row by repository again, keyed by the INTEGER id the server numbers, and
/// moves the folder back; `down` restores both.
async fn engine_rows_and_folders_renamed_before_the_fix_come_back_and_down_restores_them(
    server: Server,
    test: &str,
) {
    let Some(tdb) = TestDb::create(server, test).await else {
        return;
    };
    let db = tdb.connect().await;
    let (_t, data) = data_folder();
    let v3 = names()[3].clone();
    up(&db, &data, Target::To(v3.clone())).await;
    lay_out_legacy_folder(&data);
    insert(
        &db,
        "engines",
        vec![
            ("engine_name", text("cortex.llamacpp")),
            ("type", text("local")),
            ("version", text("v0.1.49")),
            ("variant", text("linux-amd64-avx2")),
            ("status", text("Default")),
        ],
    )
    .await;
    let rows_before = server_rows::rows_of(&db, &["engines"]).await;
    let tree_before = common::tree(&data);
    let engine_names = || async {
        entity_rows::<entity::engines::Entity>(&db, server, entity::engines::Column::Id)
            .await
            .into_iter()
            .map(|e| e.engine_name)
            .collect::<Vec<Option<String>>>()
    };

    Runner::new(&db, first_engine_rename::steps_before_fix(), options(&data))
        .await
        .unwrap()
        .up(Target::All)
        .await
        .unwrap();
    first_engine_rename::write_first_scheme_checksums(&db).await;
    assert_eq!(
        engine_names().await,
        vec![Some("llama-cpp".to_owned())],
        "{server:?}"
    );
    assert!(data.join("engines/llama-cpp").exists(), "{server:?}");

    up(&db, &data, Target::All).await;
    assert_eq!(
        engine_names().await,
        vec![Some("cortex.llamacpp".to_owned())],
        "{server:?}"
    );
    assert!(!data.join("engines/llama-cpp").exists(), "{server:?}");
    assert!(
        data.join("engines/cortex.llamacpp")
            .join(ENGINE_FILE)
            .is_file()
    );

    down(&db, &data, Target::To(v3)).await;
    assert_eq!(
        server_rows::rows_of(&db, &["engines"]).await,
        rows_before,
        "{server:?}: the engines row is not as before"
    );
    assert!(
        common::tree(&data) == tree_before,
        "{server:?}: files differ"
    );
}

/// The checksum `cortex_migrate_steps` holds for `step`.
async fn stored_checksum(db: &DatabaseConnection, step: &str) -> String {
    use sea_orm::sea_query::ExprTrait;
    let q = Query::select()
        .column(Alias::new("checksum"))
        .from(Alias::new("cortex_migrate_steps"))
        .and_where(Expr::col(Alias::new("version")).eq(step))
        .to_owned();
    db.query_one(&q)
        .await
        .unwrap()
        .expect("the step has a row")
        .try_get("", "checksum")
        .unwrap()
}

/// A server database taken to v3 by `cortex_v3`'s first definition (whose
/// `down` left catalogue rows in place): this binary records the current
/// checksum, verifies clean, and its `down` below v3 keeps the catalogue
/// row aside and its `up` puts it back.
async fn cortex_v3s_first_definition_is_superseded_and_its_catalogue_row_goes_aside_below_it(
    server: Server,
    test: &str,
) {
    use migration::m20261203_000002_catalogue_rows_kept_aside::first_definition_checksum;
    let Some(tdb) = TestDb::create(server, test).await else {
        return;
    };
    let db = tdb.connect().await;
    let (_t, data) = data_folder();
    let names = names();
    let old: Vec<_> = Migrator::steps().into_iter().take(4).collect();
    Runner::new(
        &db,
        first_engine_rename::first_cortex_v3::with_first_cortex_v3(old),
        options(&data),
    )
    .await
    .unwrap()
    .up(Target::All)
    .await
    .unwrap();
    // As the old main stored it: the first checksum scheme.
    first_engine_rename::write_first_scheme_checksums(&db).await;
    let first = first_definition_checksum(server.backend()).unwrap();
    assert_eq!(stored_checksum(&db, &names[3]).await, first, "{server:?}");
    fill_every_table(&db).await;

    let report = up(&db, &data, Target::All).await;
    assert!(
        format!("{report:?}").contains("first definition"),
        "{server:?}: {report:?}"
    );
    let current = migration::toolkit::step::checksum(Migrator::steps()[3].as_ref());
    assert_eq!(stored_checksum(&db, &names[3]).await, current, "{server:?}");
    // The rows name files this data folder does not have (the paths check
    // says so); the history is what this test is about.
    let verify = cli(&tdb.url, &data, &["verify"], None);
    assert!(
        String::from_utf8_lossy(&verify.stdout).contains("checksums match this binary"),
        "{server:?}: {}",
        show(&verify)
    );

    let before = server_rows::rows_of(&db, &TABLES).await;
    down(&db, &data, Target::To(names[2].clone())).await;
    let models = server_rows::rows_of(&db, &["models"]).await;
    assert_eq!(models["models"].len(), 1, "{server:?}: {models:?}");
    assert!(
        !format!("{models:?}").contains("downloadable"),
        "{server:?}: {models:?}"
    );
    up(&db, &data, Target::All).await;
    assert_eq!(
        server_rows::rows_of(&db, &TABLES).await,
        before,
        "{server:?}"
    );
}
