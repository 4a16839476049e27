//! Data folders written before cortex.db (the September 2024 nightly and
//! beta builds), built as each generation left them
//! (`common::generations`), taken `up` to the newest step and `down` to the
//! start through the real binary: after `up` the cortex.cpp v1.0.5–v1.0.12
//! reader finds every model, with its weights renamed (same inode), not
//! copied; after `down` every original file is back byte for byte, the
//! weights as the same files, and the old builds' own rules find every
//! model again.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::cortex_reader::{self, Release};
use common::generations::{self, OldModel};

/// The inode of each weights file, by inode: what must survive `up` and
/// `down` without a single copy.
fn inodes(models: &[OldModel]) -> BTreeSet<u64> {
    models
        .iter()
        .flat_map(|m| &m.weights)
        .map(|w| std::fs::metadata(w).unwrap().ino())
        .collect()
}

fn without_db(tree: BTreeMap<String, String>) -> BTreeMap<String, String> {
    tree.into_iter()
        .filter(|(k, _)| !k.ends_with("cortex.db"))
        .collect()
}

/// Up to the newest step, then down to the start.
async fn round_trip(build: impl FnOnce(&Path, &Path) -> Vec<OldModel>) {
    let fx = common::Fixture::empty();
    let models = build(&fx.data, &fx.outside());
    let before = common::tree(&fx.home);
    let before_inodes = inodes(&models);
    let ids: BTreeSet<String> = models.iter().map(|m| m.id.clone()).collect();
    assert_eq!(cortex_reader::models_before_db(&fx.data), ids);

    let text = common::ok(&common::cli(&fx.data, &["up"]));
    assert!(
        text.contains(&format!("{} model(s) adopted", models.len())),
        "{text}"
    );
    let reading = cortex_reader::read(&fx.data, None, Release::V1_0_5ToV1_0_12).await;
    assert!(reading.problems.is_empty(), "{:#?}", reading.problems);
    let seen: BTreeSet<String> = reading.models.iter().map(|m| m.id.clone()).collect();
    assert_eq!(seen, ids, "every model is in cortex.db");
    assert!(
        reading.models.iter().all(|m| m.found),
        "{:#?}",
        reading.models
    );
    // The weights v1.0.x opens are the very files the old build wrote.
    let after_inodes: BTreeSet<u64> = reading
        .models
        .iter()
        .flat_map(|m| &m.weights)
        .map(|w| std::fs::metadata(w).unwrap().ino())
        .collect();
    assert_eq!(after_inodes, before_inodes, "renamed, not copied");
    assert!(
        !fx.data.join("models/model.list").exists(),
        "model.list is set aside"
    );

    common::ok(&common::cli(&fx.data, &["down", "--to", "0", "--yes"]));
    assert_eq!(without_db(common::tree(&fx.home)), without_db(before));
    assert_eq!(inodes(&models), before_inodes);
    assert_eq!(cortex_reader::models_before_db(&fx.data), ids);
}

/// Across filesystems a move is a verified copy whose source goes only
/// at commit (`CORTEX_MIGRATE_FORCE_COPY` makes every move one here): the
/// way down must still remove the folders the way up created (their
/// only entries are the sources of its own copies, gone at commit), and
/// leave every file as it was.
#[tokio::test]
async fn a_round_trip_whose_moves_are_copies_leaves_the_folder_as_it_was() {
    let fx = common::Fixture::empty();
    let models = generations::nightly_with_model_list(&fx.data, &fx.outside());
    let before = common::tree(&fx.home);
    let copy = [("CORTEX_MIGRATE_FORCE_COPY", "1")];
    let run = |args: &[&str]| common::ok(&common::cli_env(&fx.data, args, None, None, &copy));
    let text = run(&["up"]);
    assert!(
        text.contains(&format!("{} model(s) adopted", models.len())),
        "{text}"
    );
    let text = run(&["down", "--to", "0", "--yes"]);
    assert!(!text.contains("left in place"), "{text}");
    assert_eq!(without_db(common::tree(&fx.home)), without_db(before));
}

#[tokio::test]
async fn rc_builds_model_folders_come_forward_and_back() {
    round_trip(|data, _| generations::rc_folder(data)).await;
}

#[tokio::test]
async fn nightly_model_folders_before_model_list_come_forward_and_back() {
    round_trip(|data, _| generations::nightly_before_model_list(data)).await;
}

#[tokio::test]
async fn nightly_model_folders_with_model_list_come_forward_and_back() {
    round_trip(generations::nightly_with_model_list).await;
}

#[tokio::test]
async fn model_list_with_the_new_folder_layout_comes_forward_and_back() {
    round_trip(generations::nightly_new_layout).await;
}

/// A pull whose branch no file records keeps its id, and `status`, `plan`
/// and the rows say where it went.
#[tokio::test]
async fn a_pull_without_its_branch_keeps_its_id_and_is_named() {
    let fx = common::Fixture::empty();
    let m = generations::cortexso_pull_nightly(&fx.data, "tinyllama");
    let st = common::ok(&common::cli(&fx.data, &["status"]));
    assert!(
        st.contains("found         cortex.cpp nightly/beta model folders before #1327"),
        "{st}"
    );
    assert!(st.contains("1 model(s)"), "{st}");
    let plan = common::ok(&common::cli(&fx.data, &["plan"]));
    assert!(
        plan.contains("rename models/tinyllama -> models/cortex.so/tinyllama/unknown-branch"),
        "{plan}"
    );
    assert!(plan.contains("its branch is not recorded"), "{plan}");
    assert!(!fx.data.join("cortex.db").exists(), "plan writes nothing");

    common::ok(&common::cli(&fx.data, &["up"]));
    let conn = fx.connect().await;
    let rows = common::db_rows_of(&conn, &["models"]).await;
    let row = format!("{:?}", rows["models"]);
    assert_eq!(row.matches("downloaded").count(), 1, "one row: {row}");
    for want in [
        m.id.as_str(),
        "cortexso",
        "models/cortex.so/tinyllama/unknown-branch/model.yml",
        "downloaded",
        "llama-cpp",
    ] {
        assert!(row.contains(want), "{want} in {row}");
    }
    assert!(
        fx.data
            .join(".cortex-migrate/archive/m20261203_000003_models_before_cortex_db/models/tinyllama.yaml")
            .is_file()
    );
}

/// An invalid line of model.list is named with its number and not
/// adopted; the valid ones are.
#[tokio::test]
async fn an_invalid_model_list_line_is_named_and_the_others_adopted() {
    let fx = common::Fixture::empty();
    let good = generations::import(&fx.data, "mine", &fx.outside().join("mine.gguf"));
    let list = fx.data.join("models/model.list");
    let mut text = std::fs::read_to_string(&list).unwrap();
    text.push_str("half a line\n");
    text.push_str("gone local imported /nowhere/gone.yml gone READY\n");
    std::fs::write(&list, &text).unwrap();

    let out = common::ok(&common::cli(&fx.data, &["up"]));
    assert!(
        out.contains("models/model.list line 2: 3 field(s)"),
        "{out}"
    );
    assert!(
        out.contains(
            "models/model.list line 3: model gone: its yml /nowhere/gone.yml does not exist"
        ),
        "{out}"
    );
    let reading = cortex_reader::read(&fx.data, None, Release::V1_0_5ToV1_0_12).await;
    let ids: Vec<&str> = reading.models.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [good.id.as_str()]);
    assert!(reading.problems.is_empty(), "{:#?}", reading.problems);
    // The whole file, invalid lines too, comes back on down.
    common::ok(&common::cli(&fx.data, &["down", "--to", "0", "--yes"]));
    assert_eq!(std::fs::read_to_string(&list).unwrap(), text);
}

/// A model both in model.list and as `models/<id>.yaml` is a mix no build
/// wrote: refused in one line before anything runs, nothing changed.
#[tokio::test]
async fn a_mixed_layout_is_refused_and_the_folder_left_as_it_was() {
    let fx = common::Fixture::empty();
    let m = generations::cortexso_pull_nightly(&fx.data, "tinyllama");
    std::fs::write(
        fx.data.join("models/model.list"),
        format!(
            "tinyllama cortexso main {} tinyllama READY\n",
            m.yml.display()
        ),
    )
    .unwrap();
    let before = common::tree(&fx.home);
    let out = common::cli(&fx.data, &["up"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(
            "model tinyllama is both in models/model.list line 1 and in models/tinyllama.yaml"
        ),
        "{err}"
    );
    assert_eq!(common::tree(&fx.home), before);
    assert!(!fx.data.join("cortex.db").exists());
    assert!(!fx.data.join(".cortex-migrate").exists());
}

/// A folder whose adoption would land on an existing one is refused.
#[tokio::test]
async fn an_occupied_target_is_refused_and_nothing_changes() {
    let fx = common::Fixture::empty();
    generations::cortexso_pull_nightly(&fx.data, "tinyllama");
    std::fs::create_dir_all(fx.data.join("models/cortex.so/tinyllama/unknown-branch")).unwrap();
    let before = common::tree(&fx.home);
    let out = common::cli(&fx.data, &["up"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exists already"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(common::tree(&fx.home), before);
}

/// An empty data folder (a fresh install) is no old generation.
#[tokio::test]
async fn an_empty_folder_is_a_fresh_install() {
    let fx = common::Fixture::empty();
    let out = common::cli(&fx.data, &["status"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no cortex.db"));
    let text = common::ok(&common::cli(&fx.data, &["up"]));
    assert!(!text.contains("adopted"), "{text}");
}

/// The `.cortexrc` of the builds of 6 to 9 Sept 2024 names the server
/// `host`/`port`: `up` carries them over to the keys every later build
/// reads, and `down` gives the file back byte for byte.
#[tokio::test]
async fn the_server_address_of_an_early_cortexrc_is_carried_over_and_back() {
    let fx = common::Fixture::empty();
    generations::cortexso_pull_nightly(&fx.data, "tinyllama");
    let before = generations::cortexrc_before_24166e4f(&fx.cortexrc(), &fx.data);
    let tree = common::tree(&fx.home);

    let out = common::ok(&common::cli(&fx.data, &["up"]));
    assert!(out.contains("host/port carried over"), "{out}");
    let after = std::fs::read_to_string(fx.cortexrc()).unwrap();
    assert_eq!(
        after,
        format!("{before}\napiServerHost: 127.0.0.1\napiServerPort: 3928")
    );
    let v: serde_yaml::Value = serde_yaml::from_str(&after).unwrap();
    assert_eq!(v["apiServerPort"], serde_yaml::Value::from(3928));
    assert_eq!(v["port"], serde_yaml::Value::from(3928));

    common::ok(&common::cli(&fx.data, &["down", "--to", "0", "--yes"]));
    assert_eq!(without_db(common::tree(&fx.home)), without_db(tree));
    assert_eq!(std::fs::read_to_string(fx.cortexrc()).unwrap(), before);
}

/// A newer build rewrote the file after `up` (dropping `host`/`port`, as
/// `FromYaml` does from 1d1104e3): `down` cannot give the old bytes back,
/// says so, and puts `host`/`port` back so the old build can start.
#[tokio::test]
async fn a_cortexrc_rewritten_since_gets_host_and_port_back_on_down() {
    let fx = common::Fixture::empty();
    generations::cortexrc_before_24166e4f(&fx.cortexrc(), &fx.data);
    common::ok(&common::cli(&fx.data, &["up"]));
    let rewritten = format!(
        "logFolderPath: {0}\ndataFolderPath: {0}\napiServerHost: 127.0.0.1\napiServerPort: 3928",
        fx.data.display()
    );
    std::fs::write(fx.cortexrc(), &rewritten).unwrap();
    let out = common::ok(&common::cli(&fx.data, &["down", "--to", "0", "--yes"]));
    assert!(out.contains("changed since the step wrote it"), "{out}");
    assert_eq!(
        std::fs::read_to_string(fx.cortexrc()).unwrap(),
        format!("{rewritten}\nhost: 127.0.0.1\nport: 3928")
    );
}

/// A `.cortexrc` that already has the new keys (every build from 24166e4f)
/// is not touched, up or down.
#[tokio::test]
async fn a_current_cortexrc_is_left_alone() {
    let fx = common::cortex_folder(3).await;
    let before = std::fs::read(fx.cortexrc()).unwrap();
    common::ok(&common::cli(&fx.data, &["up"]));
    assert_eq!(std::fs::read(fx.cortexrc()).unwrap(), before);
    common::ok(&common::cli(&fx.data, &["down", "--to", "0", "--yes"]));
    assert_eq!(std::fs::read(fx.cortexrc()).unwrap(), before);
}

/// A `.cortexrc` whose `dataFolderPath` names another folder is not this
/// data folder's: the step leaves it alone and says so.
#[tokio::test]
async fn a_cortexrc_of_another_folder_is_not_touched() {
    let fx = common::Fixture::empty();
    let elsewhere = fx.home.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let before = generations::cortexrc_before_24166e4f(&fx.cortexrc(), &elsewhere);
    let out = common::ok(&common::cli(&fx.data, &["up"]));
    assert!(
        out.contains("no .cortexrc belongs to this data folder"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(fx.cortexrc()).unwrap(), before);
}

/// A `.cortexrc` that is not YAML names no data folder, so it is not this
/// one's: left as it is, and said. (Found without `--data-dir`, it stops
/// the run with a one-line error before anything: `tests/cortexrc.rs`.)
#[tokio::test]
async fn a_broken_cortexrc_is_left_as_it_is() {
    let fx = common::Fixture::empty();
    let text = format!("dataFolderPath: {}\nhost: [unclosed", fx.data.display());
    std::fs::write(fx.cortexrc(), &text).unwrap();
    let out = common::ok(&common::cli(&fx.data, &["up"]));
    assert!(
        out.contains("no .cortexrc belongs to this data folder"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(fx.cortexrc()).unwrap(), text);
}
