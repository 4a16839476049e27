//! What plain sea-orm-migration 2.0.4 does by itself (a migrator that does
//! not route through the cortex runner), measured on each backend. These
//! are the facts the README's design notes state; if a sea-orm-migration
//! upgrade changes them, this file says so.

#[path = "support/servers.rs"]
mod servers;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr};
use sea_orm_migration::{MigrationName, MigrationTrait, MigratorTrait, SchemaManager};
use servers::{Server, TestDb};

struct CreateT;
struct AddThenFail;

impl MigrationName for CreateT {
    fn name(&self) -> &str {
        "m20990101_000001_create_t"
    }
}

impl MigrationName for AddThenFail {
    fn name(&self) -> &str {
        "m20990101_000002_add_then_fail"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateT {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("CREATE TABLE t (id INTEGER)")
            .await?;
        Ok(())
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddThenFail {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.get_connection()
            .execute_unprepared("ALTER TABLE t ADD COLUMN c INTEGER")
            .await?;
        m.get_connection()
            .execute_unprepared("INSERT INTO no_such_table VALUES (1)")
            .await?;
        Ok(())
    }
}

/// sea-orm-migration's own behaviour: no overrides.
struct Plain;

impl MigratorTrait for Plain {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateT), Box::new(AddThenFail)]
    }
}

async fn has_column_c(db: &DatabaseConnection) -> bool {
    let sql = match db.get_database_backend() {
        sea_orm::DbBackend::Sqlite => {
            "SELECT COUNT(*) AS n FROM pragma_table_info('t') WHERE name = 'c'"
        }
        sea_orm::DbBackend::Postgres => {
            "SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_name = 't' AND column_name = 'c'"
        }
        _ => {
            "SELECT COUNT(*) AS n FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = 't' AND column_name = 'c'"
        }
    };
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .unwrap()
        .unwrap();
    row.try_get::<i64>("", "n").unwrap() > 0
}

/// Runs the failing pair twice; returns (column left behind, recorded
/// versions, second error).
async fn observe(db: &DatabaseConnection) -> (bool, usize, String) {
    Plain::up(db, None).await.unwrap_err();
    let left = has_column_c(db).await;
    let recorded = Plain::get_applied_migrations(db).await.unwrap().len();
    let second = Plain::up(db, None).await.unwrap_err().to_string();
    (left, recorded, second)
}

#[tokio::test]
async fn sqlite_leaves_a_failed_step_half_applied_and_unrecorded() {
    let t = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", t.path().join("plain.db").display());
    let db = sea_orm::Database::connect(&url).await.unwrap();
    let (left, recorded, second) = observe(&db).await;
    assert!(left, "the ADD COLUMN of the failed step was rolled back");
    assert_eq!(recorded, 1);
    assert!(second.contains("duplicate column name"), "{second}");
}

#[tokio::test]
async fn postgres_runs_each_step_in_a_transaction() {
    let Some(tdb) = TestDb::create(Server::Postgres, "postgres_runs_each_step").await else {
        return;
    };
    let db = tdb.connect().await;
    let (left, recorded, second) = observe(&db).await;
    assert!(!left, "the failed step left its column");
    assert_eq!(recorded, 1);
    assert!(second.contains("no_such_table"), "{second}");
}

#[tokio::test]
async fn mysql_cannot_roll_back_the_ddl_of_a_failed_step() {
    let Some(tdb) = TestDb::create(Server::MySql, "mysql_cannot_roll_back").await else {
        return;
    };
    let db = tdb.connect().await;
    let (left, recorded, second) = observe(&db).await;
    assert!(left, "MySQL rolled back DDL?");
    assert_eq!(recorded, 1);
    assert!(
        second.to_lowercase().contains("duplicate column"),
        "{second}"
    );
}
