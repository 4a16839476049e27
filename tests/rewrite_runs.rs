//! A step that reads a run of rows ahead of its rewrites (the relative-path
//! step reads 256 rows at a time on the machine's cores, while earlier
//! batches of rewrites are written behind it). Two rows of one run may name
//! one `model.yml`; if the first row's rewrite is written, and its batch
//! forgotten, before the second row is taken, the second row's text is the
//! old one, read before that write. Taking it rewrote the file a second
//! time from that stale text and counted it twice in the step's note. The
//! second row must find the file looked at already; the `down` puts every
//! byte back either way.

mod common;

use std::path::Path;

use common::{FixtureSpec, build, cli, exec, ok, open_db};

const V3: &str = "m20250110_000001_cortex_v3";
const RELATIVE: &str = "m20261126_000001_relative_model_paths";
/// Generated models, each with a large `model.yml` that lists its weights
/// by absolute path: two of them fill a batch of rewrites (256 KiB), so
/// the first model's batch is written and settled before the last row.
const LARGE: usize = 6;
/// A comment block that makes a `model.yml` about 150 KB.
const PADDING: usize = 150_000;
/// The last row, naming the first generated model's `model.yml`.
const TWIN: &str = "zz-twin:main";

/// Makes each generated model's `model.yml` large and its `files:` entry
/// absolute (into the data folder, as cortex.cpp before v1.0.2 wrote it).
fn enlarge(data: &Path) -> Vec<String> {
    let mut rels = Vec::new();
    for n in 1..=LARGE {
        let rel = format!("models/cortex.so/gen-model-{n}/main/model.yml");
        let path = data.join(&rel);
        let text = std::fs::read_to_string(&path).unwrap();
        let weights = format!("models/cortex.so/gen-model-{n}/main/model.gguf");
        assert!(text.contains(&format!("  - {weights}\n")), "{text}");
        let absolute = data.join(&weights);
        let mut text = text.replace(
            &format!("  - {weights}\n"),
            &format!("  - {}\n", absolute.display()),
        );
        let line = format!("# {}\n", "x".repeat(97));
        while text.len() < PADDING {
            text.push_str(&line);
        }
        std::fs::write(&path, text).unwrap();
        rels.push(rel);
    }
    rels
}

#[tokio::test]
async fn a_row_read_before_its_files_rewrite_was_written_is_not_taken_again() {
    let fx = build(FixtureSpec {
        models: LARGE,
        ..FixtureSpec::new(1)
    })
    .await;
    let rels = enlarge(&fx.data);
    let db = open_db(&fx.data).await;
    exec(
        &db,
        &format!(
            "INSERT INTO models (model_id, author_repo_id, branch_name, path_to_model_yaml, \
             model_alias, engine) SELECT '{TWIN}', author_repo_id, branch_name, \
             path_to_model_yaml, '{TWIN}', engine FROM models WHERE model_id = 'gen-model-1:main'"
        ),
    )
    .await;
    db.close().await.unwrap();
    ok(&cli(&fx.data, &["up", "--to", V3]));
    let before = common::tree(&fx.data);

    // The files that list weights by absolute path into the folder.
    let absolute = before
        .keys()
        .filter(|k| k.ends_with(".yml"))
        .filter(|k| {
            let text = std::fs::read_to_string(fx.data.join(k)).unwrap();
            text.lines().any(|l| {
                l.trim_start()
                    .strip_prefix("- ")
                    .is_some_and(|v| Path::new(v.trim()).starts_with(&fx.data))
            })
        })
        .count();
    let out = ok(&cli(&fx.data, &["up", "--to", RELATIVE]));
    let note = out
        .lines()
        .find(|l| l.contains("model.yml file(s) made relative"))
        .unwrap_or_else(|| panic!("no note of the relative paths: {out}"));
    let files: usize = note.split_whitespace().nth(5).unwrap().parse().unwrap();
    for rel in &rels {
        let text = std::fs::read_to_string(fx.data.join(rel)).unwrap();
        let dir = rel.trim_end_matches("model.yml");
        assert!(text.contains(&format!("  - {dir}model.gguf\n")), "{rel}");
        assert!(!text.contains(&fx.data.display().to_string()), "{rel}");
    }

    // The down undoes each file's one edit: every byte as it was.
    ok(&cli(&fx.data, &["down", "--to", V3]));
    let back = common::tree(&fx.data);
    let differ: Vec<_> = common::tree_changes(&before, &back)
        .filter(|k| !k.starts_with("cortex.db"))
        .take(3)
        .collect();
    assert!(differ.is_empty(), "files differ after the down: {differ:?}");
    // Every file listing an absolute path was made relative once: the
    // twin's row was not taken again.
    assert_eq!(files, absolute, "{note}");
}
