//! The bad-input catalogue: each input that can be wrong gets the clear
//! error (or the note) it must get, and the data stays exactly as it was.
//! (Also covered elsewhere: not a database, read-only folder and foreign
//! tables in `cli_bad_input.rs`; `..`, symlinks out, invalid YAML and
//! read-only model.yml in `folder_steps.rs`; malformed `.cortexrc` in
//! `cortexrc.rs`; a full filesystem during a move in `cross_fs.rs`.)

mod common;
#[path = "support/first_engine_rename.rs"]
mod first_engine_rename;

use std::path::Path;
use std::process::{Command, Output};

use common::Fixture;

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every byte of the home (the migrator's state folder left out).
fn bytes_of(fx: &Fixture) -> std::collections::BTreeMap<String, String> {
    common::tree(&fx.home)
}

fn assert_refused(o: &Output, code: i32, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(code), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
}

#[tokio::test]
async fn a_truncated_database_is_refused_untouched() {
    let fx = common::cortex_folder(2).await;
    let db = common::bytes(&fx.db_path());
    std::fs::write(fx.db_path(), &db[..db.len() / 2 + 100]).unwrap();
    let before = bytes_of(&fx);
    assert_refused(&common::cli(&fx.data, &["up"]), 3, "corrupt");
    assert_eq!(bytes_of(&fx), before);
}

#[tokio::test]
async fn a_database_with_damaged_pages_is_refused_untouched() {
    let fx = common::cortex_folder(2).await;
    let mut db = common::bytes(&fx.db_path());
    for b in db.iter_mut().skip(4096).take(4096) {
        *b = 0xA5;
    }
    std::fs::write(fx.db_path(), &db).unwrap();
    let before = bytes_of(&fx);
    assert_refused(&common::cli(&fx.data, &["up"]), 3, "corrupt");
    assert_eq!(bytes_of(&fx), before);
}

#[tokio::test]
async fn a_database_locked_by_another_writer_is_reported_as_busy() {
    use sea_orm::sqlx::{Connection, Executor, SqliteConnection};
    let fx = common::cortex_folder(2).await;
    // Read before the lock: closing any descriptor of the file in this
    // process would drop SQLite's POSIX lock on it.
    let before = bytes_of(&fx);
    // One raw connection that holds an exclusive lock, as a busy Cortex
    // writing for a long time would.
    let mut holder = SqliteConnection::connect(&fx.db_url()).await.unwrap();
    holder.execute("BEGIN EXCLUSIVE").await.unwrap();
    holder
        .execute("UPDATE models SET model_alias = model_alias")
        .await
        .unwrap();
    let o = common::cli(&fx.data, &["up"]);
    holder.execute("ROLLBACK").await.unwrap();
    assert_refused(&o, 3, "locked by another writer");
    assert_eq!(bytes_of(&fx), before);
    assert!(common::cli(&fx.data, &["up"]).status.success());
}

#[tokio::test]
async fn model_yml_of_the_wrong_shape_or_missing_is_noted_and_left_alone() {
    let fx = common::cortex_folder(3).await;
    let tiny = "models/cortex.so/tinyllama/1b/model.yml";
    let phi = "models/cortex.so/phi-3/onnx/model.yml";
    std::fs::write(fx.data.join(tiny), "files: 42\nengine: [cortex.llamacpp]\n").unwrap();
    std::fs::remove_file(fx.data.join(phi)).unwrap();
    let before_tiny = common::bytes(&fx.data.join(tiny));
    let out = common::cli(&fx.data, &["up"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{tiny}: `files:` is neither a list nor a path")),
        "{text}"
    );
    assert!(
        text.contains("phi-3:onnx") && text.contains("cannot be read"),
        "{text}"
    );
    assert_eq!(common::bytes(&fx.data.join(tiny)), before_tiny);
    assert!(
        !fx.data.join(phi).exists(),
        "a missing model.yml was created"
    );
}

#[tokio::test]
async fn a_symlink_loop_on_a_model_path_is_noted_and_not_followed() {
    use sea_orm::ConnectionTrait;
    let fx = common::cortex_folder(3).await;
    let d = fx.data.join("models/loop");
    std::fs::create_dir_all(&d).unwrap();
    std::os::unix::fs::symlink(d.join("b"), d.join("a")).unwrap();
    std::os::unix::fs::symlink(d.join("a"), d.join("b")).unwrap();
    fx.connect()
        .await
        .execute_unprepared("INSERT INTO models (model_id, path_to_model_yaml, status) VALUES ('looped', 'models/loop/a/model.yml', 'downloaded')")
        .await
        .unwrap();
    let out = common::cli(&fx.data, &["up"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("looped") && text.contains("symlink loop"),
        "{text}"
    );
    assert_eq!(std::fs::read_link(d.join("a")).unwrap(), d.join("b"));
}

#[tokio::test]
async fn non_utf8_file_names_move_with_their_folder_byte_for_byte() {
    use std::os::unix::ffi::OsStrExt;
    // Engine folders moved by the engine rename's first definition go
    // back, and their down moves them again.
    let fx = common::cortex_folder(2).await;
    first_engine_rename::migrate_before_fix(&fx.db_url()).await;
    let name = std::ffi::OsStr::from_bytes(b"lib\xff\xfe-cuda.so");
    let file = fx.data.join("engines/llama-cpp/deps").join(name);
    std::fs::write(&file, b"\x7fELF binary").unwrap();
    let out = common::cli(&fx.data, &["up"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let moved = fx.data.join("engines/cortex.llamacpp/deps").join(name);
    assert_eq!(std::fs::read(&moved).unwrap(), b"\x7fELF binary");
    let out = common::cli(
        &fx.data,
        &["down", "--to", "backfill_weights_bytes", "--yes"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(&file).unwrap(), b"\x7fELF binary");
}

/// Mounts a tmpfs of `size` on the fixture's data folder, carrying its
/// files over (same paths, which the database stores). Unmounted on drop.
struct DataOnTmpfs(std::path::PathBuf);

impl DataOnTmpfs {
    fn mount(fx: &Fixture, size: &str) -> Option<DataOnTmpfs> {
        let aside = fx.tmp.path().join("data-aside");
        assert!(
            Command::new("mv")
                .arg(&fx.data)
                .arg(&aside)
                .status()
                .unwrap()
                .success()
        );
        std::fs::create_dir(&fx.data).unwrap();
        let mounted = common::succeeds(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(&fx.data),
        );
        if mounted.is_err() {
            std::fs::remove_dir(&fx.data).unwrap();
            assert!(
                Command::new("mv")
                    .arg(&aside)
                    .arg(&fx.data)
                    .status()
                    .unwrap()
                    .success()
            );
            // The folder is back in place: skip, or fail under CI=true.
            common::require("a tmpfs mounted on the data folder (root)", mounted);
            return None;
        }
        let copied = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cp -a '{}'/. '{}'/",
                aside.display(),
                fx.data.display()
            ))
            .status()
            .unwrap();
        assert!(copied.success(), "the fixture does not fit the tmpfs");
        Some(DataOnTmpfs(fx.data.clone()))
    }
}

impl Drop for DataOnTmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test]
async fn a_data_folder_on_its_own_filesystem_migrates_normally() {
    let fx = common::cortex_folder(1).await;
    let Some(_m) = DataOnTmpfs::mount(&fx, "64m") else {
        return;
    };
    let out = common::cli(&fx.data, &["up"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(common::cli(&fx.data, &["verify"]).status.success());
}

#[tokio::test]
async fn no_free_space_is_reported_and_nothing_changes() {
    let fx = common::cortex_folder(1).await;
    // Room for the folder as it is, not for the backup of its database.
    let used: u64 = fx.data.read_dir().unwrap().map(|_| 0).sum::<u64>() + dir_size(&fx.data);
    let size = used + 24 * 1024;
    let Some(_m) = DataOnTmpfs::mount(&fx, &format!("{size}")) else {
        return;
    };
    let mut before = bytes_of(&fx);
    before.retain(|k, _| !k.ends_with("cortex.db"));
    let o = common::cli(&fx.data, &["up"]);
    let err = stderr(&o);
    assert!(!o.status.success(), "it fit after all: {err}");
    assert!(err.contains("no space left"), "{err}");
    assert_eq!(
        err.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{err}"
    );
    // Whatever step ran out of space left nothing behind: the files are as
    // they were, and the database is exactly at the step before it.
    let mut after = bytes_of(&fx);
    after.retain(|k, _| !k.ends_with("cortex.db"));
    assert_eq!(after, before);
    let v = common::cli(&fx.data, &["verify"]);
    assert!(v.status.success(), "{}", String::from_utf8_lossy(&v.stdout));
}

fn dir_size(p: &Path) -> u64 {
    let m = std::fs::symlink_metadata(p).unwrap();
    if m.is_dir() {
        4096 + std::fs::read_dir(p)
            .unwrap()
            .flatten()
            .map(|e| dir_size(&e.path()))
            .sum::<u64>()
    } else {
        // tmpfs rounds every file up to whole pages.
        m.len().div_ceil(4096) * 4096
    }
}

#[tokio::test]
async fn a_tampered_checksum_is_reported_by_verify_not_a_panic() {
    use sea_orm::ConnectionTrait;
    let fx = common::cortex_folder(1).await;
    common::ok(&common::cli(&fx.data, &["up"]));
    // Eleven ASCII characters, then one of three bytes across the 12th.
    fx.connect()
        .await
        .execute_unprepared(
            "UPDATE cortex_migrate_steps SET checksum = 'abcdefghijk€€€' \
             WHERE version = 'm20250110_000001_cortex_v3'",
        )
        .await
        .unwrap();
    let out = common::cli(&fx.data, &["verify"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("m20250110_000001_cortex_v3 changed") && text.contains("abcdefghijk€"),
        "{text}"
    );
}

#[tokio::test]
async fn a_table_whose_text_upper_cases_shorter_is_reported_by_verify_not_a_panic() {
    use sea_orm::ConnectionTrait;
    let fx = common::cortex_folder(1).await;
    common::ok(&common::cli(&fx.data, &["up"]));
    // `ı` is two bytes and upper-cases to the one-byte `I`: the schema
    // reader sliced its upper-cased copy past the end.
    fx.connect()
        .await
        .execute_unprepared(&format!(
            "CREATE TABLE notes (t TEXT DEFAULT '{}', n INTEGER CHECK (n > 0))",
            "ı".repeat(40)
        ))
        .await
        .unwrap();
    let out = common::cli(&fx.data, &["verify"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(4), "{text}{}", stderr(&out));
    assert!(text.contains("notes"), "{text}");
}
