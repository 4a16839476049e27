//! The `desktop_host` example (the boot API as a desktop host uses it) on
//! a sample folder: it migrates and reports the models; on a damaged
//! cortex.db it refuses without the user's yes, and with it puts back the
//! latest backup and starts.

mod common;

use std::path::PathBuf;
use std::process::Command;

fn example() -> PathBuf {
    let bin = common::bin();
    let dir = bin.parent().expect("the binary's folder");
    let exe = dir
        .join("examples")
        .join(format!("desktop_host{}", std::env::consts::EXE_SUFFIX));
    assert!(
        exe.is_file(),
        "cargo test builds the examples: {}",
        exe.display()
    );
    exe
}

fn run(fx: &common::Fixture, yes: bool) -> std::process::Output {
    let mut cmd = Command::new(example());
    cmd.arg("--data-dir").arg(&fx.data).env("HOME", &fx.home);
    if yes {
        cmd.arg("--yes");
    }
    cmd.output().unwrap()
}

#[tokio::test]
async fn the_desktop_host_example_migrates_and_recovers_a_damaged_database() {
    let fx = common::cortex_folder(1).await;
    let out = run(&fx, false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("migrated:"), "{text}");
    assert!(text.contains("ready with 5 model(s)"), "{text}");

    std::fs::write(fx.db_path(), "not a database".repeat(300)).unwrap();
    let refused = run(&fx, false);
    assert_eq!(refused.status.code(), Some(3));
    assert_eq!(
        std::fs::read(fx.db_path()).unwrap(),
        "not a database".repeat(300).into_bytes(),
        "nothing changes without the user's yes"
    );
    let restored = run(&fx, true);
    assert!(
        restored.status.success(),
        "{}",
        String::from_utf8_lossy(&restored.stderr)
    );
    assert!(String::from_utf8_lossy(&restored.stderr).contains("restored backup"));
    assert!(String::from_utf8_lossy(&restored.stdout).contains("ready with 5 model(s)"));
}
