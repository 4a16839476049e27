//! Backups: one is taken before every run that changes something; a
//! restore brings back the database and the files the run changed, byte for
//! byte (weights are moved back, never copied); old backups are pruned; a
//! damaged backup is refused; a restore that would lose rows Cortex wrote
//! after the backup's run is refused, naming them (tests/crash_backup.rs
//! kills backups and restores at every boundary).

mod common;
#[path = "support/first_engine_rename.rs"]
mod first_engine_rename;

use std::path::Path;

use common::Fixture;

/// Every byte that matters: files (migrator state left out) and every row
/// of every table.
type State = (
    std::collections::BTreeMap<String, String>,
    std::collections::BTreeMap<String, common::TableRows>,
);

async fn state(fx: &Fixture) -> State {
    let mut files = common::tree(&fx.home);
    files.retain(|k, _| !k.ends_with("cortex.db"));
    let db = cortex_migrate::connect::open_sqlite_file(&fx.db_path(), false)
        .await
        .unwrap();
    (files, common::db_rows(&db).await)
}

#[tokio::test]
async fn restore_after_up_gives_back_every_row_and_byte() {
    let fx = common::cortex_folder(1).await;
    let before = state(&fx).await;
    let out = common::ok(&common::cli(&fx.data, &["up"]));
    assert!(out.contains("backup "), "{out}");
    assert_ne!(state(&fx).await, before);
    let list = common::backup_ids(&fx.data);
    assert_eq!(list.len(), 1, "one run, one backup: {list:?}");

    let out = common::ok(&common::cli(&fx.data, &["restore", &list[0]]));
    assert!(out.contains("restored"), "{out}");
    assert_eq!(state(&fx).await, before);
    // The restored data migrates again like the original.
    common::ok(&common::cli(&fx.data, &["up"]));
    common::ok(&common::cli(&fx.data, &["verify"]));
}

#[tokio::test]
async fn restore_after_down_moves_renamed_folders_back_without_copying() {
    use std::os::unix::fs::MetadataExt;
    // The one step that moves folders today is the repair of engine
    // folders moved by the engine rename's first definition; its down
    // moves them again.
    let fx = common::cortex_folder(3).await;
    first_engine_rename::migrate_before_fix(&fx.db_url()).await;
    common::ok(&common::cli(&fx.data, &["up"]));
    let after_up = state(&fx).await;
    let engine = fx.data.join("engines/cortex.llamacpp/deps/libcudart.so.12");
    let inode = std::fs::metadata(&engine).unwrap().ino();
    common::ok(&common::cli(
        &fx.data,
        &["down", "--to", "backfill_weights_bytes", "--yes"],
    ));
    assert!(!engine.exists());
    let latest = common::backup_ids(&fx.data)[0].clone();
    common::ok(&common::cli(&fx.data, &["restore", &latest]));
    assert_eq!(state(&fx).await, after_up);
    assert_eq!(
        std::fs::metadata(&engine).unwrap().ino(),
        inode,
        "the engine folder was copied"
    );
    let backup_bytes: u64 = walk_size(&fx.data.join(".cortex-migrate/backups").join(&latest));
    let weights = std::fs::metadata(fx.data.join("models/cortex.so/tinyllama/1b/model.gguf"))
        .unwrap()
        .len();
    assert!(backup_bytes < 1 << 20, "backup holds {backup_bytes} bytes");
    assert!(weights > 0);
}

fn walk_size(p: &Path) -> u64 {
    let m = std::fs::symlink_metadata(p).unwrap();
    if m.is_dir() {
        std::fs::read_dir(p)
            .unwrap()
            .flatten()
            .map(|e| walk_size(&e.path()))
            .sum()
    } else {
        m.len()
    }
}

#[tokio::test]
async fn backups_hold_the_old_bytes_of_rewritten_files_and_never_weights() {
    let fx = common::cortex_folder(1).await;
    let yml = "models/cortex.so/tinyllama/1b/model.yml";
    let old = common::bytes(&fx.data.join(yml));
    common::ok(&common::cli(&fx.data, &["up"]));
    let id = common::backup_ids(&fx.data)[0].clone();
    let folder = fx.data.join(".cortex-migrate/backups").join(&id);
    let dir = migration::toolkit::DataDir::new(&fx.data).unwrap();
    let manifest = migration::toolkit::backup::find(&dir, &id).unwrap();
    let stored = migration::toolkit::backup::stored_files(&dir, &manifest).unwrap();
    assert_eq!(stored.get(yml), Some(&old));
    assert!(
        stored.keys().all(|k| k.ends_with(".yml")),
        "{:?}",
        stored.keys()
    );
    let mut files = common::tree(&folder);
    files.retain(|_, v| v != "<dir>");
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    let expected: Vec<String> = ["cortex.db".to_owned(), "manifest.json".to_owned()]
        .into_iter()
        .chain(manifest.files.iter().map(|f| format!("files/{}", f.stored)))
        .collect();
    let mut expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(names, expected);
}

#[tokio::test]
async fn no_backup_is_taken_when_nothing_changes() {
    let fx = common::cortex_folder(3).await;
    common::ok(&common::cli(&fx.data, &["up"]));
    let n = common::backup_ids(&fx.data).len();
    let out = common::ok(&common::cli(&fx.data, &["up"]));
    assert!(out.contains("Nothing to do"), "{out}");
    assert_eq!(common::backup_ids(&fx.data).len(), n);
}

#[tokio::test]
async fn old_backups_are_pruned_keeping_the_newest() {
    let fx = common::cortex_folder(3).await;
    for _ in 0..3 {
        common::ok(&common::cli(&fx.data, &["--keep-backups", "2", "up"]));
        common::ok(&common::cli(
            &fx.data,
            &["--keep-backups", "2", "down", "--steps", "1"],
        ));
    }
    let list = common::backup_ids(&fx.data);
    assert_eq!(list.len(), 2, "{list:?}");
    assert!(list[0] > list[1], "not newest first: {list:?}");
    let none = common::cortex_folder(3).await;
    common::ok(&common::cli(&none.data, &["--keep-backups", "0", "up"]));
    assert!(common::backup_ids(&none.data).is_empty());
}

#[tokio::test]
async fn a_damaged_backup_is_refused_and_nothing_changes() {
    let fx = common::cortex_folder(1).await;
    common::ok(&common::cli(&fx.data, &["up"]));
    let id = common::backup_ids(&fx.data)[0].clone();
    let dir = migration::toolkit::DataDir::new(&fx.data).unwrap();
    let manifest = migration::toolkit::backup::find(&dir, &id).unwrap();
    let entry = manifest
        .files
        .iter()
        .find(|f| f.path.contains("tinyllama"))
        .unwrap();
    let kept = fx
        .data
        .join(".cortex-migrate/backups")
        .join(&id)
        .join("files")
        .join(&entry.stored);
    let mut bytes = common::bytes(&kept);
    bytes[0] ^= 1;
    std::fs::write(&kept, bytes).unwrap();
    let before = state(&fx).await;
    let o = common::cli(&fx.data, &["restore", &id]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("damaged"), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
    assert_eq!(state(&fx).await, before);
}

#[tokio::test]
async fn an_unknown_backup_name_is_a_clear_error() {
    let fx = common::cortex_folder(1).await;
    let o = common::cli(&fx.data, &["restore", "19990101"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no backup"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Writes what Cortex writes when a model is pulled after the backup's
/// run: its row and its model.yml.
async fn cortex_adds_a_model(fx: &Fixture) {
    use sea_orm::ConnectionTrait;
    let yml = "models/cortex.so/newer/main/model.yml";
    std::fs::create_dir_all(fx.data.join("models/cortex.so/newer/main")).unwrap();
    std::fs::write(fx.data.join(yml), "model: newer:main\nname: newer\n").unwrap();
    let db = cortex_migrate::connect::open_sqlite_file(&fx.db_path(), false)
        .await
        .unwrap();
    db.execute_unprepared(&format!(
        "INSERT INTO models (model_id, author_repo_id, branch_name, path_to_model_yaml, \
         model_alias, status, engine) VALUES ('newer:main', 'cortexso/newer', 'main', '{yml}', \
         'newer:main', 'downloaded', 'llama-cpp')"
    ))
    .await
    .unwrap();
    db.close().await.unwrap();
}

#[tokio::test]
async fn a_restore_that_would_lose_newer_rows_is_refused_naming_them() {
    let fx = common::cortex_folder(1).await;
    let (files_before_up, rows_before_up) = state(&fx).await;
    common::ok(&common::cli(&fx.data, &["up"]));
    let id = common::backup_ids(&fx.data)[0].clone();
    cortex_adds_a_model(&fx).await;
    let before = state(&fx).await;

    let o = common::cli(&fx.data, &["restore", &id]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("1 new or changed row(s) of models"), "{err}");
    assert!(err.contains("--discard-newer"), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(state(&fx).await, before);

    // The same refusal in the JSON stream a GUI reads.
    let o = common::cli(&fx.data, &["--progress", "json", "restore", &id]);
    assert_eq!(o.status.code(), Some(2));
    let out = String::from_utf8_lossy(&o.stdout);
    let last: serde_json::Value = serde_json::from_str(out.trim().lines().last().unwrap()).unwrap();
    assert_eq!(last["code"], 2, "{out}");
    let msg = last["message"].as_str().unwrap();
    assert!(msg.contains("1 new or changed row(s) of models"), "{out}");
    assert_eq!(state(&fx).await, before);

    // Asked for, the restore goes ahead: the database as before the run;
    // the new model's yml is a file the backup never knew, left alone.
    let out = common::ok(&common::cli(&fx.data, &["restore", &id, "--discard-newer"]));
    assert!(out.contains("restored"), "{out}");
    let (mut files, rows) = state(&fx).await;
    assert_eq!(rows, rows_before_up);
    assert!(
        files
            .remove("cortexcpp/models/cortex.so/newer/main/model.yml")
            .is_some()
    );
    files.retain(|k, _| !k.starts_with("cortexcpp/models/cortex.so/newer"));
    let mut expected = files_before_up;
    expected.retain(|k, _| !k.starts_with("cortexcpp/models/cortex.so/newer"));
    assert_eq!(files, expected);
}

/// The first column of every row `sql` returns, as text.
async fn texts(db: &sea_orm::DatabaseConnection, sql: &str) -> Vec<String> {
    use sea_orm::ConnectionTrait;
    db.query_all_raw(sea_orm::Statement::from_string(
        sea_orm::DbBackend::Sqlite,
        sql.to_owned(),
    ))
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get_by_index::<String>(0).unwrap())
    .collect()
}

/// The rows of `files` in a backup's copy of the database.
async fn backup_file_ids(fx: &Fixture, id: &str) -> Vec<String> {
    let copy = fx
        .data
        .join(".cortex-migrate/backups")
        .join(id)
        .join("cortex.db");
    let db = cortex_migrate::connect::open_sqlite_file(&copy, false)
        .await
        .unwrap();
    let ids = texts(&db, "SELECT id FROM files").await;
    let check = texts(&db, "PRAGMA integrity_check").await;
    assert_eq!(check, ["ok"]);
    db.close().await.unwrap();
    ids
}

#[tokio::test]
async fn a_backup_taken_while_cortex_writes_holds_only_committed_rows() {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let fx = common::cortex_folder(3).await;
    let dir = migration::toolkit::DataDir::new(&fx.data).unwrap();
    // Cortex, in its own connection, in the middle of a write transaction.
    let cortex = cortex_migrate::connect::open_sqlite_file(&fx.db_path(), false)
        .await
        .unwrap();
    let txn = cortex.begin().await.unwrap();
    txn.execute_unprepared(
        "INSERT INTO files VALUES ('uncommitted', 'file', 'assistants', 'x', 0, 0)",
    )
    .await
    .unwrap();
    let db = cortex_migrate::connect::open_sqlite_file(&fx.db_path(), false)
        .await
        .unwrap();
    let rec = migration::toolkit::backup::Recorder::start(&db, &dir, "test", None)
        .await
        .unwrap();
    rec.finish().unwrap();
    // The writer commits once the copy is done.
    txn.commit().await.unwrap();
    let id = rec.id();
    let m = migration::toolkit::backup::find(&dir, &id).unwrap();
    migration::toolkit::backup::check(&dir, &m).unwrap();
    assert!(
        !backup_file_ids(&fx, &id)
            .await
            .contains(&"uncommitted".to_owned())
    );
    let live = texts(&cortex, "SELECT id FROM files").await;
    assert!(live.contains(&"uncommitted".to_owned()));
}

#[tokio::test]
async fn a_database_in_wal_mode_is_backed_up_with_what_its_wal_holds() {
    use sea_orm::ConnectionTrait;
    let fx = common::cortex_folder(3).await;
    let dir = migration::toolkit::DataDir::new(&fx.data).unwrap();
    let cortex = cortex_migrate::connect::open_sqlite_file(&fx.db_path(), false)
        .await
        .unwrap();
    cortex
        .execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0;")
        .await
        .unwrap();
    cortex
        .execute_unprepared("INSERT INTO files VALUES ('in-wal', 'file', 'assistants', 'x', 0, 0)")
        .await
        .unwrap();
    assert!(fx.data.join("cortex.db-wal").metadata().unwrap().len() > 0);
    let db = cortex_migrate::connect::open_sqlite_file(&fx.db_path(), false)
        .await
        .unwrap();
    let rec = migration::toolkit::backup::Recorder::start(&db, &dir, "test", None)
        .await
        .unwrap();
    rec.finish().unwrap();
    assert!(
        backup_file_ids(&fx, &rec.id())
            .await
            .contains(&"in-wal".to_owned())
    );
}

/// A v1 folder taken `up`: its state before, and the one backup the run
/// took.
struct UpWithBackup {
    fx: Fixture,
    before: State,
    id: String,
    /// The backup's folder.
    folder: std::path::PathBuf,
    dir: migration::toolkit::DataDir,
    manifest: migration::toolkit::backup::Manifest,
}

async fn up_with_backup() -> UpWithBackup {
    let fx = common::cortex_folder(1).await;
    let before = state(&fx).await;
    common::ok(&common::cli(&fx.data, &["up"]));
    let id = common::backup_ids(&fx.data)[0].clone();
    let folder = fx.data.join(".cortex-migrate/backups").join(&id);
    let dir = migration::toolkit::DataDir::new(&fx.data).unwrap();
    let manifest = migration::toolkit::backup::find(&dir, &id).unwrap();
    UpWithBackup {
        fx,
        before,
        id,
        folder,
        dir,
        manifest,
    }
}

#[tokio::test]
async fn a_scratch_file_left_in_a_backup_is_never_listed_or_restored_and_is_cleared() {
    use migration::toolkit::backup;
    let UpWithBackup {
        fx,
        before,
        id,
        folder,
        dir,
        manifest,
    } = up_with_backup().await;
    let stored = backup::stored_files(&dir, &manifest).unwrap();
    // What a run killed while its recorder wrote can leave where the
    // system cannot leave a scratch file unnamed (tempfile's name for it),
    // and a manifest's temporary file: lines like kept files, naming one
    // that is not in the manifest.
    let line = serde_json::json!({
        "path": "models/intruder.yml",
        "bytes": 1,
        "sha256": "00",
        "stored": "0",
    });
    let leftovers = [
        folder.join(".tmpAbC123"),
        folder.join(".manifest.json.XyZ789.tmp"),
    ];
    for l in &leftovers {
        std::fs::write(l, format!("{line}\n{line}\n")).unwrap();
    }
    let out = common::ok(&common::cli(&fx.data, &["backups", "list"]));
    assert!(out.contains(&id), "{out}");
    assert_eq!(common::backup_ids(&fx.data), std::slice::from_ref(&id));
    let again = backup::find(&dir, &id).unwrap();
    assert_eq!(again, manifest);
    backup::check(&dir, &again).unwrap();
    assert_eq!(backup::stored_files(&dir, &again).unwrap(), stored);

    let out = common::ok(&common::cli(&fx.data, &["restore", &id]));
    assert!(out.contains("restored"), "{out}");
    assert_eq!(state(&fx).await, before);
    assert!(!fx.data.join("models/intruder.yml").exists());
    // The next run clears them, under its lock; the backup itself stays
    // whole.
    common::ok(&common::cli(&fx.data, &["up"]));
    for l in &leftovers {
        assert!(!l.exists(), "{} left", l.display());
    }
    assert!(common::backup_ids(&fx.data).contains(&id));
    backup::check(&dir, &backup::find(&dir, &id).unwrap()).unwrap();
}

/// Backups taken before kept files were named by their path's key numbered
/// them in order (`files/0`, `files/1`, ...): the manifest names them, and
/// a restore reads the name from there, so such a backup restores as well.
#[tokio::test]
async fn a_backup_with_numbered_kept_files_restores() {
    use migration::toolkit::backup;
    let UpWithBackup {
        fx,
        before,
        id,
        folder,
        dir,
        mut manifest,
    } = up_with_backup().await;
    assert!(!manifest.files.is_empty(), "the run kept no file");
    for (i, f) in manifest.files.iter_mut().enumerate() {
        assert_eq!(f.stored.len(), 32, "{}", f.stored);
        let files = folder.join(backup::FILES_DIR);
        std::fs::rename(files.join(&f.stored), files.join(i.to_string())).unwrap();
        f.stored = i.to_string();
    }
    std::fs::write(
        folder.join("manifest.json"),
        serde_json::to_vec_pretty(&manifest).unwrap(),
    )
    .unwrap();
    backup::check(&dir, &backup::find(&dir, &id).unwrap()).unwrap();
    let out = common::ok(&common::cli(&fx.data, &["restore", &id]));
    assert!(out.contains("restored"), "{out}");
    assert_eq!(state(&fx).await, before);
}
