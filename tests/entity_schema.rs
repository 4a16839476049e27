//! The entities in `entity/` are what `sea-orm-cli generate entity` writes
//! from the migrated schema, and must stay so: a SQLite database is
//! migrated through every step, sea-orm-cli (its library, run as its
//! command line would be) regenerates the entities from it, and each file
//! must equal the one in `entity/src/` byte for byte once the leading `//!`
//! lines are dropped from both (the generator's banner there, our module
//! doc comment here; nothing else may differ).
//!
//! Then each entity is turned into a table (as SeaORM would create it) and
//! compared, column by column, with the migrated table: names, order, type
//! affinity, nullability, primary key, autoincrement and unique
//! constraints. (CHECK constraints and column defaults exist only in the
//! migrations; entities cannot express them. Nor does sea-orm-cli write an
//! unnamed UNIQUE over several columns, such as `engines`' (engine_name,
//! variant).)

use cortex_migrate::connect::{self, Place};
use migration::Migrator;
use migration::toolkit::runner::{Options, Runner, Target};
use migration::toolkit::snapshot::{self, TableShape};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, Schema};

/// Where the entities live, from this crate's root.
const ENTITY_SRC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/entity/src");

/// SQLite's type affinity of a declared column type.
fn affinity(decl: &str) -> &'static str {
    let d = decl.to_uppercase();
    if d.contains("INT") {
        "INTEGER"
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        "TEXT"
    } else if d.contains("BLOB") || d.is_empty() {
        "BLOB"
    } else if d.contains("REAL") || d.contains("FLOA") || d.contains("DOUB") {
        "REAL"
    } else {
        "NUMERIC"
    }
}

/// What must agree: (name, affinity, may hold NULL, primary key position).
fn comparable(shape: &TableShape) -> Vec<(String, &'static str, bool, i64)> {
    shape
        .columns
        .iter()
        // SQLite lets a TEXT primary key hold NULL (a legacy quirk that
        // cortex.cpp's DDL inherits); the entity rightly says it never does.
        .map(|c| {
            (
                c.name.clone(),
                affinity(&c.decl_type),
                !c.not_null && c.pk == 0,
                c.pk,
            )
        })
        .collect()
}

async fn entity_shape<E: EntityTrait>(entity: E) -> TableShape {
    let db = Database::connect("sqlite::memory:").await.unwrap();
    let schema = Schema::new(db.get_database_backend());
    db.execute(&schema.create_table_from_entity(entity))
        .await
        .unwrap();
    for idx in schema.create_index_from_entity(entity) {
        db.execute(&idx).await.unwrap();
    }
    let name = entity.table_name().to_owned();
    let (_, sql) = snapshot::sqlite_tables(&db)
        .await
        .unwrap()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap();
    snapshot::sqlite_table(&db, &name, &sql).await.unwrap()
}

/// A temporary data folder migrated through every shipped step.
async fn migrated() -> (tempfile::TempDir, DatabaseConnection) {
    let t = tempfile::tempdir().unwrap();
    let db = connect::open(&Place::Folder(t.path().to_path_buf()), true)
        .await
        .unwrap();
    Runner::new(
        &db,
        <Migrator as migration::toolkit::StepList>::steps(),
        Options::default(),
    )
    .await
    .unwrap()
    .up(Target::All)
    .await
    .unwrap();
    (t, db)
}

/// A file's text without its leading `//!` lines.
fn without_module_doc(text: &str) -> String {
    let mut lines = text.split_inclusive('\n').peekable();
    while lines.next_if(|l| l.starts_with("//!")).is_some() {}
    lines.collect()
}

/// The `.rs` files of `dir`, by name, without their module doc comments.
fn sources(dir: &std::path::Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                without_module_doc(&std::fs::read_to_string(&p).unwrap()),
            )
        })
        .collect()
}

#[tokio::test]
async fn entities_are_what_sea_orm_cli_generates_from_the_migrated_schema() {
    use clap::Parser;
    // sea-orm-cli logs each column it writes unless a subscriber is set.
    let _ = tracing::subscriber::set_global_default(tracing::subscriber::NoSubscriber::default());
    let (t, db) = migrated().await;
    // The migrator's bookkeeping (`seaql_migrations`, `cortex_migrate_*`)
    // and archives (`cortex_archive_*`) are not Cortex's data.
    let bookkeeping: Vec<String> = snapshot::sqlite_tables(&db)
        .await
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .filter(|n| snapshot::is_internal(n))
        .collect();
    assert!(bookkeeping.iter().any(|n| n == "seaql_migrations"));
    db.close().await.unwrap();

    let out = t.path().join("generated");
    let url = format!("sqlite://{}", t.path().join(connect::DB_FILE).display());
    // The command line, as one would type it (sea-orm-cli's own defaults
    // apply); it formats what it writes with `rustfmt`.
    let args = [
        "sea-orm-cli",
        "generate",
        "entity",
        "--lib",
        "--database-url",
        &url,
        "--output-dir",
        &out.display().to_string(),
        "--ignore-tables",
        &bookkeeping.join(","),
    ];
    let sea_orm_cli::Commands::Generate { command } =
        sea_orm_cli::Cli::try_parse_from(args).unwrap().command
    else {
        panic!("not a generate command");
    };
    sea_orm_cli::run_generate_command(command, false)
        .await
        .unwrap();

    let generated = sources(&out);
    let ours = sources(std::path::Path::new(ENTITY_SRC));
    assert!(generated.contains_key("models.rs"), "{generated:?}");
    let regenerate = format!(
        "the entities differ from what sea-orm-cli generates: regenerate them with \
         `sea-orm-cli generate entity --lib -u sqlite://<migrated cortex.db> -o entity/src \
         --ignore-tables {}` and put each file's module doc comment back in place of the banner",
        bookkeeping.join(",")
    );
    assert_eq!(
        generated.keys().collect::<Vec<_>>(),
        ours.keys().collect::<Vec<_>>(),
        "{regenerate}"
    );
    for (name, text) in &generated {
        assert_eq!(text, &ours[name], "{name}: {regenerate}");
    }
    // Every file of ours has a module doc comment.
    for name in ours.keys() {
        let text = std::fs::read_to_string(std::path::Path::new(ENTITY_SRC).join(name)).unwrap();
        assert!(text.starts_with("//! "), "{name} has no module doc comment");
    }
}

#[tokio::test]
async fn entities_agree_with_the_migrated_schema() {
    let (_t, db) = migrated().await;
    let migrated: Vec<(String, String)> = snapshot::sqlite_tables(&db)
        .await
        .unwrap()
        .into_iter()
        .filter(|(n, _)| !snapshot::is_internal(n))
        .collect();

    let entities = [
        entity_shape(entity::models::Entity).await,
        entity_shape(entity::hardware::Entity).await,
        entity_shape(entity::engines::Entity).await,
        entity_shape(entity::files::Entity).await,
        entity_shape(entity::schema_version::Entity).await,
    ];
    let mut entity_tables: Vec<&str> = entities.iter().map(|e| e.name.as_str()).collect();
    entity_tables.sort();
    let mut migrated_tables: Vec<&str> = migrated.iter().map(|(n, _)| n.as_str()).collect();
    migrated_tables.sort();
    assert_eq!(
        entity_tables, migrated_tables,
        "tables without an entity, or entities without a table"
    );

    for e in &entities {
        let (_, sql) = migrated.iter().find(|(n, _)| *n == e.name).unwrap();
        let m = snapshot::sqlite_table(&db, &e.name, sql).await.unwrap();
        assert_eq!(
            comparable(e),
            comparable(&m),
            "columns of {} differ",
            e.name
        );
        assert_eq!(
            e.autoincrement, m.autoincrement,
            "autoincrement of {} differs",
            e.name
        );
        let mut eu: Vec<Vec<String>> = e.uniques.clone();
        eu.extend(
            e.indexes
                .iter()
                .filter(|(_, u, _)| *u)
                .map(|(_, _, c)| c.clone()),
        );
        eu.sort();
        // sea-orm-cli writes a UNIQUE over several columns only when it has
        // a name; cortex.cpp's on engines (engine_name, variant) has none.
        let mut mu = m.uniques.clone();
        if e.name == "engines" {
            let unnamed = vec!["engine_name".to_owned(), "variant".to_owned()];
            assert!(
                mu.contains(&unnamed),
                "engines lost UNIQUE (engine_name, variant)"
            );
            mu.retain(|u| *u != unnamed);
        }
        assert_eq!(eu, mu, "unique constraints of {} differ", e.name);
    }
}

#[tokio::test]
async fn entities_read_the_rows_the_migrations_store() {
    use sea_orm::EntityTrait;
    let (_t, db) = migrated().await;
    db.execute_unprepared(
        "INSERT INTO models VALUES ('m', 'a', 'b', 'models/x/model.yml', 'm', 'cortexso', 's', 'downloaded', 'llama-cpp', '{}', 123);
         INSERT INTO hardware VALUES ('GPU-1', 'gpu', 0, 0, 1, 2);
         INSERT INTO engines (engine_name, type, variant, status) VALUES ('llama-cpp', 'local', 'linux-amd64-avx2', 'Default');
         INSERT INTO files VALUES ('file-1', 'file', 'assistants', 'a.txt', 1735689600, 3000000000);",
    )
    .await
    .unwrap();
    let m = entity::models::Entity::find().all(&db).await.unwrap();
    assert_eq!(m[0].engine.as_deref(), Some("llama-cpp"));
    let h = entity::hardware::Entity::find().all(&db).await.unwrap();
    assert_eq!(h[0].priority, Some(2));
    let e = entity::engines::Entity::find().all(&db).await.unwrap();
    assert!(e[0].date_created.is_some(), "default timestamp not filled");
    let f = entity::files::Entity::find().all(&db).await.unwrap();
    assert_eq!(f[0].bytes, Some(3_000_000_000));
    let v = entity::schema_version::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(v, [entity::schema_version::Model { version: 3 }]);
}
