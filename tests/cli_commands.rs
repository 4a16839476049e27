//! The command line's success and failure paths that other files do not
//! cover: `verify` finding drift, `plan down`, a `down` that archives data
//! without confirmation, JSON output, and `recover` with nothing to do.

mod common;

#[tokio::test]
async fn verify_passes_on_migrated_data_and_finds_a_missing_model_file() {
    let fx = common::cortex_folder(2).await;
    common::ok(&common::cli(&fx.data, &["up"]));
    let text = common::ok(&common::cli(&fx.data, &["verify"]));
    assert!(text.contains("No drift."), "{text}");

    std::fs::remove_file(fx.data.join("models/cortex.so/phi-3/onnx/model.yml")).unwrap();
    let o = common::cli(&fx.data, &["verify"]);
    assert_eq!(o.status.code(), Some(4));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("model phi-3:onnx") && text.contains("does not exist"),
        "{text}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let o = common::cli(&fx.data, &["verify", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let paths = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "paths")
        .unwrap();
    assert_eq!(paths["problems"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn plan_down_shows_the_sql_and_that_data_is_archived_and_changes_nothing() {
    let fx = common::cortex_folder(3).await;
    common::ok(&common::cli(&fx.data, &["up"]));
    let before = common::tree(&fx.home);
    let text = common::ok(&common::cli(
        &fx.data,
        &["plan", "down", "--to", "cortex_v1"],
    ));
    assert!(text.contains("down  m20250110_000001_cortex_v3"), "{text}");
    assert!(
        text.contains("RENAME TO \"cortex_archive_v3_files\""),
        "{text}"
    );
    assert!(
        text.contains("keeps what it drops in archive tables"),
        "{text}"
    );
    assert!(
        text.contains("file  rewrite models/cortex.so/phi-3/onnx/model.yml"),
        "{text}"
    );
    assert_eq!(common::tree(&fx.home), before);
}

#[tokio::test]
async fn a_down_that_archives_data_needs_confirmation() {
    let fx = common::cortex_folder(3).await;
    common::ok(&common::cli(&fx.data, &["up"]));
    let before = common::tree(&fx.home);
    let o = common::cli(&fx.data, &["down", "--to", "cortex_v2"]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(
        common::tree(&fx.home),
        before,
        "an unconfirmed down changed files"
    );
    let st: serde_json::Value =
        serde_json::from_str(&common::ok(&common::cli(&fx.data, &["status", "--json"]))).unwrap();
    assert_eq!(st["pending"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn up_and_down_report_in_json() {
    let fx = common::cortex_folder(1).await;
    let v: serde_json::Value =
        serde_json::from_str(&common::ok(&common::cli(&fx.data, &["up", "--json"]))).unwrap();
    assert_eq!(v["adopted"].as_array().unwrap().len(), 2);
    assert_eq!(v["steps"].as_array().unwrap().len(), 9);
    assert!(v["backup"].is_string());
    let v: serde_json::Value = serde_json::from_str(&common::ok(&common::cli(
        &fx.data,
        &["down", "--steps", "2", "--json", "--yes"],
    )))
    .unwrap();
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["direction"], "down");
}

#[tokio::test]
async fn recover_with_nothing_interrupted_says_so() {
    let fx = common::cortex_folder(3).await;
    common::ok(&common::cli(&fx.data, &["up"]));
    let text = common::ok(&common::cli(&fx.data, &["recover"]));
    assert!(text.contains("Nothing to do"), "{text}");
}

#[tokio::test]
async fn up_to_a_step_stops_there() {
    let fx = common::cortex_folder(1).await;
    let text = common::ok(&common::cli(&fx.data, &["up", "--to", "cortex_v3"]));
    assert!(
        text.contains("applied       m20250110_000001_cortex_v3"),
        "{text}"
    );
    assert!(!text.contains("relative_model_paths"), "{text}");
    let st: serde_json::Value =
        serde_json::from_str(&common::ok(&common::cli(&fx.data, &["status", "--json"]))).unwrap();
    assert_eq!(st["pending"].as_array().unwrap().len(), 7);
    let o = common::cli(&fx.data, &["up", "--to", "cortex"]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "an ambiguous step name is a usage error"
    );
}

/// Shell completions and the manual page come from the same definition as
/// the parser: every command is in them, and every command's help ends
/// with an example.
#[test]
fn completions_man_page_and_examples_name_every_command() {
    let run = |args: &[&str]| {
        let o = std::process::Command::new(common::bin())
            .args(args)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    };
    let commands = [
        "status",
        "up",
        "down",
        "plan",
        "verify",
        "backups",
        "restore",
        "recover",
        "sample",
        "completions",
        "man",
    ];
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = run(&["completions", shell]);
        for c in commands {
            assert!(script.contains(c), "{shell} completions lack {c}");
        }
    }
    let man = run(&["man"]);
    assert!(man.contains(".TH cortex-migrate 1"), "{man}");
    for c in commands {
        assert!(man.contains(c), "the manual page lacks {c}");
        let help = run(&[c, "--help"]);
        assert!(
            help.contains("Example"),
            "{c} --help has no example:\n{help}"
        );
    }
}
