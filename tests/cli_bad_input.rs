//! The binary on data it cannot use: one clear line on stderr, a non-zero
//! exit code, and every byte left as it was.

mod common;

use std::path::Path;
use std::process::{Command, Output};

/// Asserts a failure with one line on stderr that contains `needle`.
fn assert_one_line_error(out: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "not one line: {stderr}"
    );
    assert!(stderr.contains(needle), "expected `{needle}` in: {stderr}");
}

#[tokio::test]
async fn a_file_that_is_not_a_database_is_refused_untouched() {
    let fx = common::not_a_database().await;
    let before = common::tree(&fx.home);
    for cmd in [
        &["up"][..],
        &["status"],
        &["down", "--steps", "1"],
        &["plan"],
    ] {
        let out = common::cli(&fx.data, cmd);
        assert_one_line_error(&out, 3, "is not a SQLite database");
        assert_eq!(common::tree(&fx.home), before, "{cmd:?} changed files");
        assert!(
            !fx.data.join(".cortex-migrate").exists(),
            "{cmd:?} created state files"
        );
    }
}

#[tokio::test]
async fn tables_cortex_never_made_are_refused_untouched() {
    let fx = common::with_extra_table(2, "CREATE TABLE invoices (id INTEGER PRIMARY KEY)").await;
    let before = common::tree(&fx.home);
    let out = common::cli(&fx.data, &["up"]);
    assert_one_line_error(&out, 3, "invoices");
    let mut after = common::tree(&fx.home);
    after.retain(|k, _| !k.contains(".cortex-migrate"));
    assert_eq!(after, before);
}

#[tokio::test]
async fn a_contradictory_cortex_database_is_refused_untouched() {
    let fx = common::with_schema_version_rows(1, &[2]).await;
    let before = common::bytes(&fx.db_path());
    let out = common::cli(&fx.data, &["up"]);
    assert_one_line_error(&out, 3, "schema_version says v2");
    assert_eq!(common::bytes(&fx.db_path()), before);
}

/// Makes a folder immutable (even for root, unlike permission bits) and
/// undoes it when dropped.
struct Immutable<'a>(&'a Path);

impl<'a> Immutable<'a> {
    fn set(path: &'a Path) -> Option<Immutable<'a>> {
        let set = common::succeeds(Command::new("chattr").arg("+i").arg(path));
        if common::require(
            "`chattr +i` (root, and a filesystem that has it) to make a read-only folder",
            set,
        ) {
            Some(Immutable(path))
        } else {
            None
        }
    }
}

impl Drop for Immutable<'_> {
    fn drop(&mut self) {
        let _ = Command::new("chattr").arg("-i").arg(self.0).status();
    }
}

#[tokio::test]
async fn a_read_only_data_folder_is_reported_and_left_as_it_was() {
    let fx = common::cortex_folder(1).await;
    let before = common::tree(&fx.home);
    let Some(_guard) = Immutable::set(&fx.data) else {
        return;
    };
    let out = common::cli(&fx.data, &["up"]);
    assert_one_line_error(&out, 3, "read-only");
    assert!(String::from_utf8_lossy(&out.stderr).contains(fx.data.to_str().unwrap()));
    drop(_guard);
    assert_eq!(common::tree(&fx.home), before);
}

#[tokio::test]
async fn a_missing_database_is_reported_by_status() {
    let fx = common::Fixture::empty();
    let out = common::cli(&fx.data, &["status"]);
    assert_one_line_error(&out, 3, "no cortex.db");
    assert!(!fx.db_path().exists(), "status created the database");
}

#[tokio::test]
async fn an_unknown_step_name_is_a_usage_error() {
    let fx = common::cortex_folder(3).await;
    let out = common::cli(&fx.data, &["up", "--to", "no_such_step"]);
    assert_one_line_error(&out, 2, "no step like");
}

#[tokio::test]
async fn status_up_status_on_a_v1_folder() {
    let fx = common::cortex_folder(1).await;
    let out = common::cli(&fx.data, &["status"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("cortex.cpp schema v1"), "{text}");
    assert!(text.contains("adoptable"), "{text}");
    assert!(text.contains("9 pending step(s)"), "{text}");

    let out = common::cli(&fx.data, &["up"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches("adopted ").count(), 2, "{text}");
    assert_eq!(text.matches("applied ").count(), 9, "{text}");

    let out = common::cli(&fx.data, &["status", "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["pending"].as_array().unwrap().len(), 0);
    assert_eq!(st["data_version"], st["app_version"]);
    assert_eq!(st["steps"][0]["origin"], "adopted");
    assert_eq!(st["steps"][3]["origin"], "ran");
}
