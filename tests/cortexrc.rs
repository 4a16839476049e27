//! Finding the data folder the way Cortex does, through the real binary in
//! a controlled environment (`HOME` is the fixture's home): `--data-dir`,
//! then `CORTEX_DATA_DIR`, then `dataFolderPath` in the variant's
//! `.cortexrc` (`$XDG_CONFIG_HOME/cortexcpp/` before `~/` on Linux), then
//! the default folder; a broken `.cortexrc` is named in one line.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `cortex-migrate ARGS` with `HOME` set to `home` and nothing else from
/// this process's environment that could pick the data folder.
fn cli(home: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(common::bin());
    cmd.args(args)
        .current_dir(home)
        .env("HOME", home)
        .env_remove("USERPROFILE")
        .env_remove("CORTEX_DATA_DIR")
        .env_remove("CORTEX_VARIANT")
        .env_remove("CORTEX_DATABASE_URL")
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("CORTEX_MIGRATE_FAULT")
        .env_remove("CORTEX_MIGRATE_FAULT_LOG")
        .env_remove("CORTEX_MIGRATE_LOG");
    cmd
}

fn output(cmd: &mut Command) -> Output {
    cmd.output().expect("running cortex-migrate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `data folder` line of a successful `status`.
fn data_folder_line(out: &Output) -> String {
    assert!(
        out.status.success(),
        "status failed ({:?}): {}",
        out.status,
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    stdout
        .lines()
        .find(|l| l.starts_with("data folder "))
        .unwrap_or_else(|| panic!("no data folder line in: {stdout}"))
        .to_owned()
}

fn located(data: &Path, from: &str) -> String {
    format!("data folder   {} (from {from})", data.display())
}

/// Writes a `.cortexrc` whose `dataFolderPath` is `data`, as cortex.cpp
/// writes it (more keys around it).
fn write_cortexrc(path: &Path, data: &Path) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("creating the .cortexrc folder");
    }
    std::fs::write(
        path,
        format!(
            "logFolderPath: {d}\ndataFolderPath: {d}\napiServerHost: 127.0.0.1\napiServerPort: 39281\n",
            d = data.display()
        ),
    )
    .expect("writing a .cortexrc");
}

/// Asserts exit code 3 and one line on stderr naming `file` and `reason`.
fn assert_config_error(out: &Output, file: &Path, reason: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    assert!(
        stderr.contains(&file.display().to_string()),
        "{} not named in: {stderr}",
        file.display()
    );
    assert!(stderr.contains(reason), "expected `{reason}` in: {stderr}");
}

#[tokio::test]
async fn status_finds_the_data_folder_through_cortexrc() {
    let fx = common::cortex_folder(1).await;
    let out = output(&mut cli(&fx.home, &["status"]));
    assert_eq!(
        data_folder_line(&out),
        located(&fx.data, &fx.cortexrc().display().to_string())
    );
    assert!(
        text(&out.stdout).contains(&format!("database      {}", fx.db_path().display())),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test]
async fn variant_flag_reads_the_nightly_cortexrc() {
    let fx = common::cortex_folder(1).await;
    let nightly = common::cortex_folder(3).await;
    let rc = fx.home.join(".cortexrc-nightly");
    write_cortexrc(&rc, &nightly.data);
    let stable_before = common::tree(&fx.home);

    let out = output(&mut cli(&fx.home, &["--variant", "nightly", "status"]));
    assert_eq!(
        data_folder_line(&out),
        located(&nightly.data, &rc.display().to_string())
    );
    let up = output(&mut cli(&fx.home, &["--variant", "nightly", "up"]));
    assert!(up.status.success(), "{}", text(&up.stderr));
    let st = output(&mut cli(
        &fx.home,
        &[
            "--data-dir",
            nightly.data.to_str().unwrap(),
            "status",
            "--json",
        ],
    ));
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).expect("status --json");
    assert_eq!(st["pending"].as_array().map(Vec::len), Some(0), "{st}");
    assert_eq!(
        common::tree(&fx.home),
        stable_before,
        "the stable data folder was touched"
    );

    // Without the flag, the stable .cortexrc still applies.
    let out = output(&mut cli(&fx.home, &["status"]));
    assert_eq!(
        data_folder_line(&out),
        located(&fx.data, &fx.cortexrc().display().to_string())
    );
}

#[tokio::test]
async fn variant_env_reads_the_nightly_cortexrc() {
    let fx = common::cortex_folder(1).await;
    let nightly = common::cortex_folder(3).await;
    let rc = fx.home.join(".cortexrc-nightly");
    write_cortexrc(&rc, &nightly.data);
    let out = output(cli(&fx.home, &["status"]).env("CORTEX_VARIANT", "nightly"));
    assert_eq!(
        data_folder_line(&out),
        located(&nightly.data, &rc.display().to_string())
    );
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn xdg_config_home_cortexrc_wins_over_the_one_in_home() {
    let fx = common::cortex_folder(1).await;
    let other = common::cortex_folder(3).await;
    let config = fx.home.join("xdg-config");
    let rc = config.join("cortexcpp").join(".cortexrc");
    write_cortexrc(&rc, &other.data);
    assert!(fx.cortexrc().is_file(), "the fixture has ~/.cortexrc");
    let out = output(cli(&fx.home, &["status"]).env("XDG_CONFIG_HOME", &config));
    assert_eq!(
        data_folder_line(&out),
        located(&other.data, &rc.display().to_string())
    );
}

#[tokio::test]
async fn cortex_data_dir_wins_over_cortexrc() {
    let fx = common::cortex_folder(1).await;
    let other = common::cortex_folder(3).await;
    let out = output(cli(&fx.home, &["status"]).env("CORTEX_DATA_DIR", &other.data));
    assert_eq!(
        data_folder_line(&out),
        located(&other.data, "CORTEX_DATA_DIR")
    );
}

#[tokio::test]
async fn data_dir_flag_wins_over_cortex_data_dir_and_cortexrc() {
    let fx = common::cortex_folder(1).await;
    let env = common::cortex_folder(3).await;
    let flag = common::cortex_folder(2).await;
    let out = output(
        cli(
            &fx.home,
            &["--data-dir", flag.data.to_str().unwrap(), "status"],
        )
        .env("CORTEX_DATA_DIR", &env.data),
    );
    assert_eq!(data_folder_line(&out), located(&flag.data, "--data-dir"));
}

#[tokio::test]
async fn invalid_yaml_in_cortexrc_exits_3_naming_the_file() {
    let fx = common::cortex_folder(1).await;
    std::fs::write(
        fx.cortexrc(),
        "dataFolderPath: [unclosed\napiServerPort: 39281\n",
    )
    .unwrap();
    let before = common::tree(&fx.home);
    for cmd in [&["status"][..], &["up"]] {
        let out = output(&mut cli(&fx.home, cmd));
        assert_config_error(&out, &fx.cortexrc(), "not valid YAML");
    }
    assert_eq!(common::tree(&fx.home), before);
    assert!(!fx.data.join(".cortex-migrate").exists());
}

#[tokio::test]
async fn a_data_folder_path_that_is_not_text_exits_3_naming_the_file() {
    let fx = common::cortex_folder(1).await;
    std::fs::write(fx.cortexrc(), "dataFolderPath: 42\napiServerPort: 39281\n").unwrap();
    let out = output(&mut cli(&fx.home, &["status"]));
    assert_config_error(&out, &fx.cortexrc(), "`dataFolderPath` should be a path");
}

#[tokio::test]
async fn a_cortexrc_with_a_byte_order_mark_is_read() {
    let fx = common::cortex_folder(1).await;
    // Another folder than the default one, so that a BOM that hid the key
    // (falling back to ~/cortexcpp) would show.
    let other = common::cortex_folder(3).await;
    let mut bytes = b"\xEF\xBB\xBF".to_vec();
    bytes.extend(
        format!(
            "dataFolderPath: {}\napiServerPort: 39281\n",
            other.data.display()
        )
        .into_bytes(),
    );
    std::fs::write(fx.cortexrc(), bytes).unwrap();
    let out = output(&mut cli(&fx.home, &["status"]));
    assert_eq!(
        data_folder_line(&out),
        located(&other.data, &fx.cortexrc().display().to_string())
    );
}

#[tokio::test]
async fn without_cortexrc_the_default_folder_is_used() {
    let fx = common::cortex_folder(1).await;
    std::fs::remove_file(fx.cortexrc()).unwrap();
    let xdg_default: PathBuf = fx.home.join(".local/share/cortexcpp");
    assert!(!xdg_default.exists());
    let out = output(&mut cli(&fx.home, &["status"]));
    assert_eq!(
        data_folder_line(&out),
        located(&fx.data, "the default location")
    );
}
