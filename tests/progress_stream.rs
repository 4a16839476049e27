//! `--progress json`: the event stream a GUI reads from the binary, one
//! JSON object per line as things happen, then the result (or the error).
//! Checked on a folder with a few hundred models: every line is versioned,
//! steps start in order and each finishes before the next starts, row
//! counts climb to their totals, and the last line is the result.

mod common;

use common::FixtureSpec;
use serde_json::Value;

const MODELS: usize = 300;

fn lines(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

#[tokio::test]
async fn up_streams_every_event_in_order_then_the_result() {
    let fx = common::build(FixtureSpec {
        models: MODELS,
        ..FixtureSpec::new(1)
    })
    .await;
    let out = common::cli(&fx.data, &["--progress", "json", "up"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let events = lines(&out.stdout);
    assert!(
        events.iter().all(|e| e["v"] == 1),
        "every line is versioned"
    );

    let (last, stream) = events.split_last().unwrap();
    assert_eq!(last["event"], "result");
    let steps = last["steps"].as_array().unwrap();

    let mut running: Option<String> = None;
    let mut started = 0;
    let mut rows: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for e in stream {
        match e["event"].as_str().unwrap() {
            "step_started" => {
                assert!(running.is_none(), "{e}: the step before did not finish");
                started += 1;
                assert_eq!(e["index"], started, "{e}");
                assert_eq!(e["total"], steps.len(), "{e}");
                running = e["step"].as_str().map(str::to_owned);
            }
            "step_finished" => {
                assert_eq!(e["step"].as_str(), running.as_deref(), "{e}");
                running = None;
            }
            "rows" => {
                let step = e["step"].as_str().unwrap().to_owned();
                assert_eq!(Some(step.as_str()), running.as_deref(), "{e}");
                let (done, total) = (e["done"].as_u64().unwrap(), e["total"].as_u64().unwrap());
                let prev = rows.insert(step, (done, total));
                assert!(prev.is_none_or(|(d, t)| d < done && t == total), "{e}");
            }
            "note" => assert!(e["message"].is_string(), "{e}"),
            other => panic!("unexpected event {other}: {e}"),
        }
    }
    assert!(running.is_none());
    assert_eq!(started, steps.len());
    // Every step that counted rows counted them all, and the backfill saw
    // every model of the folder.
    assert!(rows.values().all(|(d, t)| d == t), "{rows:?}");
    let backfill = rows
        .iter()
        .find(|(s, _)| s.ends_with("backfill_weights_bytes"))
        .map(|(_, (_, t))| *t)
        .unwrap();
    assert!(backfill as usize >= MODELS, "{backfill}");
}

#[tokio::test]
async fn a_failure_ends_the_stream_with_the_error_and_its_code() {
    let fx = common::not_a_database().await;
    let out = common::cli(&fx.data, &["--progress", "json", "up"]);
    assert_eq!(out.status.code(), Some(3));
    let events = lines(&out.stdout);
    let last = events.last().unwrap();
    assert_eq!(last["event"], "error");
    assert_eq!(last["code"], 3);
    assert!(
        last["message"].as_str().unwrap().contains("cortex.db"),
        "{last}"
    );
}
