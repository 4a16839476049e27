//! The state of a data folder as the crash and power-loss tests compare
//! it (`digest`: every file, and every table of the database with its
//! schema and rows, but for the time each step was recorded), what
//! `verify` finds wrong with it (`verdict`), and where two states differ.

use std::path::Path;

/// Everything that matters: the files (the database file itself and the
/// migrator's own state left out, but for what steps set aside in its
/// `archive/`) and the whole database (`super::whole_db_state`: every
/// table's schema and rows, the archives and the history included).
pub async fn digest(home: &Path, data: &Path) -> String {
    let mut files = super::tree(home);
    files.retain(|k, _| !k.ends_with("cortex.db") && !k.ends_with("cortex.db-journal"));
    let db = match database(data).await {
        Some(db) => db,
        None => sea_orm::Database::connect("sqlite::memory:").await.unwrap(),
    };
    let state = super::whole_db_state(&db).await;
    db.close().await.expect("closing the digest's connection");
    format!("{files:#?}\n{state}")
}

/// The folder's database, or `None` where it reads the same as no
/// database: there is no cortex.db yet, or it holds nothing but an empty
/// history (`up` in a new folder installs its history tables before the
/// first step, and they stay if that step fails: they record nothing).
pub async fn database(data: &Path) -> Option<sea_orm::DatabaseConnection> {
    let file = data.join("cortex.db");
    if !file.exists() {
        return None;
    }
    let db = cortex_migrate::connect::open_sqlite_file(&file, false)
        .await
        .unwrap();
    let history = [
        "cortex_migrate_steps",
        "cortex_migrate_undo",
        "seaql_migrations",
    ];
    if super::table_names(&db).await == history
        && super::db_rows_of(&db, &history)
            .await
            .values()
            .all(Vec::is_empty)
    {
        db.close().await.expect("closing the connection");
        return None;
    }
    Some(db)
}

/// What `cortex-migrate verify --json` finds wrong with the folder, or
/// `None` where it does not judge: no database with a history (a folder
/// without one, or a cortex.cpp database not adopted yet, is only "not
/// migrated yet" to it).
pub async fn verdict(data: &Path) -> Option<Vec<String>> {
    let db = database(data).await?;
    let history = super::table_names(&db)
        .await
        .iter()
        .any(|t| t == "seaql_migrations");
    db.close().await.expect("closing the connection");
    if !history {
        return None;
    }
    let o = super::cli(data, &["verify", "--json"]);
    let out: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "verify --json: {e}: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let problems: Vec<String> = out["checks"]
        .as_array()
        .expect("verify --json lists its checks")
        .iter()
        .flat_map(|c| {
            c["problems"]
                .as_array()
                .expect("each check's problems")
                .clone()
        })
        .map(|p| p.as_str().expect("a problem is a line").to_owned())
        .collect();
    // Exit 0 exactly when clean.
    assert_eq!(
        o.status.success(),
        problems.is_empty(),
        "verify's exit: {problems:?}"
    );
    Some(problems)
}

/// The first lines where two digests differ, with two lines before them.
pub fn first_difference(a: &str, b: &str) -> String {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let at = (0..a.len().max(b.len()))
        .find(|&i| a.get(i) != b.get(i))
        .unwrap_or(0);
    let from = at.saturating_sub(2);
    let show = |l: &[&str]| l[from.min(l.len())..(at + 3).min(l.len())].join("\n");
    format!(
        "at line {at}:\n--- one\n{}\n--- other\n{}",
        show(&a),
        show(&b)
    )
}
