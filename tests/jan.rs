//! Cortex as Jan (0.5.8 to 0.6.5) ran it: `--data_folder_path <Jan data
//! folder>`, `--config_file_path <Jan data folder>/.janrc` and `ENGINE_PATH`
//! pointing at the engines Jan ships (janhq/jan,
//! `extensions/inference-cortex-extension/src/node/index.ts` at 2c11caf8).
//! `cortex-migrate --config-file` finds the data folder through `.janrc`
//! as Cortex does, migrates it, leaves `.janrc` as it is (it has the
//! current keys), and the cortex.cpp reader, with `ENGINE_PATH` set, finds
//! every model and engine.

mod common;

use std::path::Path;
use std::process::Command;

use common::cortex_reader::{self, Release};

fn cli(home: &Path, args: &[&str]) -> std::process::Output {
    Command::new(common::bin())
        .args(args)
        .env("HOME", home)
        .env_remove("USERPROFILE")
        .env_remove("CORTEX_DATA_DIR")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("CORTEX_VARIANT")
        .env_remove("ENGINE_PATH")
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_folder_laid_out_the_way_jan_ran_cortex_is_migrated() {
    let fx = common::cortex_folder(3).await;
    // Jan's layout: the config inside the data folder, engines elsewhere.
    let janrc = fx.data.join(".janrc");
    std::fs::rename(fx.cortexrc(), &janrc).unwrap();
    let engine_path = fx.home.join("jan-app/resources");
    std::fs::create_dir_all(&engine_path).unwrap();
    std::fs::rename(fx.data.join("engines"), engine_path.join("engines")).unwrap();
    let janrc_before = std::fs::read(&janrc).unwrap();

    let janrc_arg = janrc.to_str().unwrap();
    let out = cli(&fx.home, &["--config-file", janrc_arg, "status"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "data folder   {} (from {janrc_arg})",
            fx.data.display()
        )),
        "{text}"
    );

    let out = cli(&fx.home, &["--config-file", janrc_arg, "up"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(&janrc).unwrap(),
        janrc_before,
        ".janrc untouched"
    );

    let reading = cortex_reader::read_with_engine_path(
        &fx.data,
        Some(&janrc),
        Release::V1_0_5ToV1_0_12,
        Some(&engine_path),
    )
    .await;
    assert!(reading.problems.is_empty(), "{:#?}", reading.problems);
    assert!(!reading.models.is_empty());
    assert!(!reading.engine_dirs.is_empty());

    // Engines are where Jan's ENGINE_PATH puts them: `verify` finds them
    // there, and misses them without it.
    let engine_arg = engine_path.to_str().unwrap();
    let out = cli(
        &fx.home,
        &[
            "--config-file",
            janrc_arg,
            "--engine-path",
            engine_arg,
            "verify",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = cli(&fx.home, &["--config-file", janrc_arg, "verify"]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("give --engine-path"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn a_config_file_that_does_not_exist_is_named_in_one_line() {
    let t = tempfile::tempdir().unwrap();
    let missing = t.path().join("jan/.janrc");
    let out = cli(
        t.path(),
        &["--config-file", missing.to_str().unwrap(), "status"],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("does not exist"), "{err}");
}
