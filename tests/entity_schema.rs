//! The entities in `entity/` and the schema the migrations produce must not
//! drift apart: each entity is turned into a table (as SeaORM would create
//! it) and compared, column by column, with the migrated table: names,
//! order, type affinity, nullability, primary key, autoincrement and unique
//! constraints. (CHECK constraints and column defaults exist only in the
//! migrations; entities cannot express them.)

use cortex_migrate::connect::{self, Place};
use migration::Migrator;
use migration::toolkit::runner::{Options, Runner, Target};
use migration::toolkit::snapshot::{self, TableShape};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, EntityTrait, Schema};

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

#[tokio::test]
async fn entities_agree_with_the_migrated_schema() {
    let (_t, db) = migrated().await;
    let migrated: Vec<(String, String)> = snapshot::sqlite_tables(&db)
        .await
        .unwrap()
        .into_iter()
        .filter(|(n, _)| !snapshot::is_internal(n) && n != "schema_version")
        .collect();

    let entities = [
        entity_shape(entity::models::Entity).await,
        entity_shape(entity::hardware::Entity).await,
        entity_shape(entity::engines::Entity).await,
        entity_shape(entity::files::Entity).await,
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
        assert_eq!(eu, m.uniques, "unique constraints of {} differ", e.name);
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
}
