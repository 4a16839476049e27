//! Runs against real PostgreSQL and MariaDB servers (skipped, saying why,
//! when their URLs are unset): eight migrators starting at once run every
//! step exactly once under the advisory lock; a step that fails half-way
//! leaves no trace on PostgreSQL, and on MariaDB (which cannot roll back
//! DDL) is shown as failed and can be reverted or completed.

mod common;
#[path = "support/servers.rs"]
mod servers;

use std::process::Output;

use common::ok;
use servers::{Server, TestDb, cli, command};

fn steps() -> usize {
    <migration::Migrator as migration::toolkit::StepList>::steps().len()
}

async fn eight_at_once(server: Server) {
    let Some(db) = TestDb::create(server, "eight_at_once").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("engines/cortex.llamacpp")).unwrap();
    let children: Vec<_> = (0..8)
        .map(|_| {
            command(&db.url, dir.path(), &["up"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let mut applied = 0;
    for o in &outs {
        applied += ok(o).lines().filter(|l| l.starts_with("applied ")).count();
    }
    assert_eq!(
        applied,
        steps(),
        "every step exactly once across the eight runs"
    );
    let waited = outs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stderr).contains("waiting for another migration"))
        .count();
    println!("{server:?}: 8 processes, {applied} steps applied once, {waited} waited for the lock");

    let conn = db.connect().await;
    let applied = migration::toolkit::history::applied(&conn).await.unwrap();
    assert_eq!(applied.len(), steps());
    // All ended at the same data version.
    let st: serde_json::Value =
        serde_json::from_str(&ok(&cli(&db.url, dir.path(), &["status", "--json"], None))).unwrap();
    assert_eq!(st["data_version"], st["app_version"]);
    // Engine folders stay where cortex.cpp loads them.
    assert!(dir.path().join("engines/cortex.llamacpp").exists());
    assert!(!dir.path().join("engines/llama-cpp").exists());
}

#[tokio::test]
async fn postgres_eight_migrators_at_once_run_each_step_once() {
    eight_at_once(Server::Postgres).await;
}

#[tokio::test]
async fn mariadb_eight_migrators_at_once_run_each_step_once() {
    eight_at_once(Server::MySql).await;
}

async fn failing_half_way(server: Server) -> Option<(TestDb, tempfile::TempDir)> {
    let db = TestDb::create(server, "failing_half_way").await?;
    let dir = tempfile::tempdir().unwrap();
    // Learn the boundaries on a twin database.
    let twin = TestDb::create(server, "failing_half_way_twin").await?;
    let log = dir.path().join("points.log");
    let o = command(&twin.url, dir.path(), &["up"])
        .env("CORTEX_MIGRATE_FAULT_LOG", &log)
        .output()
        .unwrap();
    ok(&o);
    let mut begun = 0;
    let mut sql = 0;
    let mut at = None;
    for line in std::fs::read_to_string(&log).unwrap().lines() {
        let (n, label) = line.split_once(' ').unwrap();
        match label {
            "step: transaction begun" => begun += 1,
            "sql: before statement" if begun == 2 => {
                sql += 1;
                if sql == 3 {
                    at = Some(n.to_owned());
                    break;
                }
            }
            _ => {}
        }
    }
    std::fs::remove_dir_all(dir.path().join(".cortex-migrate")).unwrap();
    let at = at.expect("the second step has three statements");
    let out = cli(&db.url, dir.path(), &["up"], Some(&format!("{at}:error")));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some((db, dir))
}

async fn model_columns(db: &TestDb) -> Vec<String> {
    use sea_orm::ConnectionTrait;
    let conn = db.connect().await;
    let sql = match db.backend() {
        sea_orm::DbBackend::Postgres => {
            "SELECT column_name AS c FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'models' ORDER BY ordinal_position"
        }
        _ => {
            "SELECT column_name AS c FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = 'models' ORDER BY ordinal_position"
        }
    };
    conn.query_all_raw(sea_orm::Statement::from_string(
        conn.get_database_backend(),
        sql,
    ))
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get::<String>("", "c").unwrap())
    .collect()
}

#[tokio::test]
async fn postgres_step_failing_half_way_leaves_no_trace() {
    let Some((db, dir)) = failing_half_way(Server::Postgres).await else {
        return;
    };
    assert_eq!(
        model_columns(&db).await,
        [
            "model_id",
            "author_repo_id",
            "branch_name",
            "path_to_model_yaml",
            "model_alias"
        ],
        "the failed v1 step left columns behind"
    );
    let st: serde_json::Value =
        serde_json::from_str(&ok(&cli(&db.url, dir.path(), &["status", "--json"], None))).unwrap();
    assert_eq!(st["half_done"].as_array().unwrap().len(), 0);
    assert_eq!(st["pending"].as_array().unwrap().len(), steps() - 1);
    // Running again simply works.
    ok(&cli(&db.url, dir.path(), &["up"], None));
}

#[tokio::test]
async fn mariadb_step_failing_half_way_is_shown_and_reverted() {
    let Some((db, dir)) = failing_half_way(Server::MySql).await else {
        return;
    };
    // MySQL committed the first ADD COLUMNs of the failed step.
    assert_eq!(
        model_columns(&db).await.len(),
        7,
        "{:?}",
        model_columns(&db).await
    );
    let st = ok(&cli(&db.url, dir.path(), &["status"], None));
    assert!(
        st.contains("failed        m20241010_000001_cortex_v1 (up) on MySQL"),
        "{st}"
    );
    let up = cli(&db.url, dir.path(), &["up"], None);
    assert_eq!(up.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&up.stderr).contains("recover"),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );

    let rec = ok(&cli(&db.url, dir.path(), &["recover"], None));
    assert!(
        rec.contains("rolled back   m20241010_000001_cortex_v1"),
        "{rec}"
    );
    assert_eq!(
        model_columns(&db).await.len(),
        5,
        "revert left columns: {:?}",
        model_columns(&db).await
    );
    ok(&cli(&db.url, dir.path(), &["up"], None));
    ok(&cli(&db.url, dir.path(), &["verify"], None));
}

#[tokio::test]
async fn mariadb_step_failing_half_way_can_be_completed() {
    let Some((db, dir)) = failing_half_way(Server::MySql).await else {
        return;
    };
    let rec = ok(&cli(&db.url, dir.path(), &["recover", "--complete"], None));
    assert!(
        rec.contains("applied       m20241010_000001_cortex_v1"),
        "{rec}"
    );
    assert_eq!(model_columns(&db).await.len(), 9);
    ok(&cli(&db.url, dir.path(), &["up"], None));
    let st: serde_json::Value =
        serde_json::from_str(&ok(&cli(&db.url, dir.path(), &["status", "--json"], None))).unwrap();
    assert_eq!(st["pending"].as_array().unwrap().len(), 0);
    assert_eq!(st["half_done"].as_array().unwrap().len(), 0);
}

/// A history written without the half-done table (by plain
/// sea-orm-migration, or before that table existed): the next run creates
/// the bookkeeping it needs before its first step, rather than failing on
/// the missing table.
#[tokio::test]
async fn mariadb_history_without_the_state_table_still_runs_steps() {
    let Some(db) = TestDb::create(Server::MySql, "no_state_table").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    ok(&cli(&db.url, dir.path(), &["up"], None));
    let conn = db.connect().await;
    sea_orm::ConnectionTrait::execute_unprepared(&conn, "DROP TABLE cortex_migrate_state")
        .await
        .unwrap();

    ok(&cli(
        &db.url,
        dir.path(),
        &["down", "--steps", "1", "--yes"],
        None,
    ));
    assert_eq!(
        migration::toolkit::history::applied(&conn)
            .await
            .unwrap()
            .len(),
        steps() - 1
    );
    ok(&cli(&db.url, dir.path(), &["up"], None));
    assert_eq!(
        migration::toolkit::history::applied(&conn)
            .await
            .unwrap()
            .len(),
        steps()
    );
    ok(&cli(&db.url, dir.path(), &["verify"], None));
}

/// `sea-orm-cli migrate reset`: every step down, then every bookkeeping
/// table goes (the archive tables keep the archived data).
#[tokio::test]
async fn mariadb_reset_leaves_no_bookkeeping_table() {
    use sea_orm_migration::MigratorTrait;
    let Some(db) = TestDb::create(Server::MySql, "reset").await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    ok(&cli(&db.url, dir.path(), &["up"], None));
    let conn = db.connect().await;
    migration::Migrator::reset(&conn).await.unwrap();
    let tables: Vec<String> = sea_orm::ConnectionTrait::query_all_raw(
        &conn,
        sea_orm::Statement::from_string(sea_orm::DbBackend::MySql, "SHOW TABLES"),
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get_by_index::<String>(0).unwrap())
    .collect();
    assert!(
        tables
            .iter()
            .all(|t| t.starts_with(migration::toolkit::schema_ops::ARCHIVE_PREFIX)),
        "{tables:?}"
    );
}

#[tokio::test]
async fn a_migrator_waiting_for_the_advisory_lock_gives_up_after_its_timeout() {
    for server in [Server::Postgres, Server::MySql] {
        let Some(db) = TestDb::create(server, "advisory_timeout").await else {
            continue;
        };
        let dir = tempfile::tempdir().unwrap();
        let conn = db.connect().await;
        let holder = migration::toolkit::lock::server::ServerLock::acquire(&conn, None, &|_| {})
            .await
            .unwrap();
        let o = cli(&db.url, dir.path(), &["--lock-timeout", "1", "up"], None);
        assert_eq!(
            o.status.code(),
            Some(5),
            "{server:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let err = String::from_utf8_lossy(&o.stderr);
        // The waiting message, then one error line.
        assert!(err.contains("waiting for another migration"), "{err}");
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
        assert!(
            errors.len() == 1 && errors[0].contains("timed out"),
            "{err}"
        );
        holder.release().await.unwrap();
        ok(&cli(&db.url, dir.path(), &["up"], None));
    }
}
