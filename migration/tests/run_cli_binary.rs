//! The `migration` binary (what `sea-orm-cli migrate -d migration` runs)
//! goes through the cortex runner: folder steps run on the folder that
//! holds the SQLite database, and `down` undoes them.

use std::path::Path;
use std::process::{Command, Output};

fn migration(dir: &Path, args: &[&str]) -> Output {
    let url = format!("sqlite://{}?mode=rwc", dir.join("cortex.db").display());
    Command::new(env!("CARGO_BIN_EXE_migration"))
        .args(args)
        .arg("-u")
        .arg(url)
        .env_remove("CORTEX_DATA_DIR")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap()
}

#[test]
fn sea_orm_cli_path_runs_folder_steps_on_the_database_folder() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    std::fs::create_dir_all(dir.join("engines/cortex.llamacpp/linux-amd64-avx2/v0.1.49")).unwrap();
    std::fs::write(
        dir.join("engines/cortex.llamacpp/linux-amd64-avx2/v0.1.49/libengine.so"),
        b"engine",
    )
    .unwrap();

    let up = migration(dir, &["up"]);
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let text = String::from_utf8_lossy(&up.stdout);
    assert!(
        text.contains("Applied 'm20261126_000002_rename_legacy_engines'"),
        "{text}"
    );
    // Engine folders stay where cortex.cpp loads them.
    assert_eq!(
        std::fs::read(dir.join("engines/cortex.llamacpp/linux-amd64-avx2/v0.1.49/libengine.so"))
            .unwrap(),
        b"engine"
    );
    assert!(!dir.join("engines/llama-cpp").exists());

    let status = migration(dir, &["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert_eq!(text.matches("... Applied").count(), 11, "{text}");

    let down = migration(dir, &["down", "-n", "3"]);
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert_eq!(
        std::fs::read(dir.join("engines/cortex.llamacpp/linux-amd64-avx2/v0.1.49/libengine.so"))
            .unwrap(),
        b"engine"
    );
    assert!(!dir.join("engines/llama-cpp").exists());
}

#[test]
fn sea_orm_cli_fresh_is_refused_and_changes_nothing() {
    let t = tempfile::tempdir().unwrap();
    let up = migration(t.path(), &["up"]);
    assert!(up.status.success());
    let before = std::fs::read(t.path().join("cortex.db")).unwrap();
    let fresh = migration(t.path(), &["fresh"]);
    assert!(!fresh.status.success());
    assert!(String::from_utf8_lossy(&fresh.stderr).contains("refuses"));
    assert_eq!(std::fs::read(t.path().join("cortex.db")).unwrap(), before);
}
