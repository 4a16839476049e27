//! Checks of the builders in `tests/common/generations.rs` against the
//! cortex.cpp rules they cite: folder and file names per generation, yml
//! text as each build's `WriteYamlFile` wrote it, `model.list` lines as
//! `modellist_utils.cc` wrote them, and weights a test can tell apart.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::Fixture;
use common::generations::{self, LLAMA31_HF, OldModel, TINYLLAMA_HF, model_list};
use serde_yaml::{Mapping, Value};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn yaml(path: &Path) -> Mapping {
    serde_yaml::from_str(&read(path)).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn str_of<'a>(m: &'a Mapping, key: &str) -> &'a str {
    m.get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no string {key} in {m:?}"))
}

fn files_of(m: &Mapping) -> Vec<PathBuf> {
    m.get("files")
        .and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .map(|v| PathBuf::from(v.as_str().expect("files are strings")))
                .collect()
        })
        .unwrap_or_default()
}

/// A whole-folder builder over a fixture.
type Folder = fn(&Fixture) -> Vec<OldModel>;

/// Every whole-folder builder, each in its own fixture.
fn every_folder() -> Vec<(&'static str, Fixture, Vec<OldModel>)> {
    let build: [(&str, Folder); 4] = [
        ("rc", |fx| generations::rc_folder(&fx.data)),
        ("before model.list", |fx| {
            generations::nightly_before_model_list(&fx.data)
        }),
        ("with model.list", |fx| {
            generations::nightly_with_model_list(&fx.data, &fx.outside())
        }),
        ("new layout", |fx| {
            generations::nightly_new_layout(&fx.data, &fx.outside())
        }),
    ];
    build
        .into_iter()
        .map(|(name, f)| {
            let fx = Fixture::empty();
            let models = f(&fx);
            (name, fx, models)
        })
        .collect()
}

#[test]
fn rc_pull_names_folder_and_yaml_by_download_task_id() {
    let fx = Fixture::empty();
    let branch = generations::cortexso_pull_rc(&fx.data, "tinyllama", "1b-gguf");
    let main = generations::cortexso_pull_rc(&fx.data, "mistral", "main");
    let models = fx.data.join("models");
    assert_eq!(branch.id, "tinyllama-1b-gguf");
    assert_eq!(branch.folder, Some(models.join("tinyllama-1b-gguf")));
    assert_eq!(branch.yml, models.join("tinyllama-1b-gguf.yaml"));
    assert_eq!(main.id, "mistral");
    assert_eq!(main.folder, Some(models.join("mistral")));
    assert_eq!(main.yml, models.join("mistral.yaml"));
    for m in [&branch, &main] {
        let y = yaml(&m.yml);
        assert_eq!(
            str_of(&y, "id"),
            m.id,
            "DownloadModelCb sets id to the folder name"
        );
        let folder = m.folder.as_ref().expect("a pull has a folder");
        assert_eq!(files_of(&y), vec![folder.join("model.gguf")]);
    }
}

#[test]
fn readme_and_gitattributes_are_only_in_rc_folders() {
    let names = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .expect("reading a model folder")
            .map(|e| {
                e.expect("an entry")
                    .file_name()
                    .into_string()
                    .expect("UTF-8")
            })
            .collect()
    };
    let fx = Fixture::empty();
    let rc = generations::cortexso_pull_rc(&fx.data, "tinyllama", "1b-gguf");
    let nightly = generations::cortexso_pull_nightly(&fx.data, "mistral");
    let new = generations::cortexso_pull_new_layout(&fx.data, "llama3.1", "8b-gguf-q4-km");
    let all = [
        ".gitattributes",
        "README.md",
        "metadata.yml",
        "model.gguf",
        "model.yml",
    ];
    let kept = ["metadata.yml", "model.gguf", "model.yml"];
    let set = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(names(rc.folder.as_ref().unwrap()), set(&all));
    assert_eq!(names(nightly.folder.as_ref().unwrap()), set(&kept));
    assert_eq!(names(new.folder.as_ref().unwrap()), set(&kept));
}

#[test]
fn rc_yaml_is_yaml_cpp_dump_in_update_model_config_order() {
    let fx = Fixture::empty();
    let m = generations::cortexso_pull_rc(&fx.data, "tinyllama", "1b-gguf");
    let text = read(&m.yml);
    assert!(
        !text.ends_with('\n'),
        "yaml-cpp's dump ends without a newline"
    );
    assert!(!text.contains('#'), "the dump has no comments: {text}");
    let y = yaml(&m.yml);
    let keys: Vec<&str> = y.keys().map(|k| k.as_str().expect("string keys")).collect();
    assert_eq!(
        keys,
        [
            "name",
            "model",
            "version",
            "engine",
            "prompt_template",
            "id",
            "top_p",
            "temperature",
            "frequency_penalty",
            "presence_penalty",
            "max_tokens",
            "ngl",
            "ctx_len",
            "tp",
            "stream",
            "text_model",
            "stop",
            "files",
            "created",
        ]
    );
    for line in [
        "top_p: 0.949999988",
        "temperature: 0.699999988",
        "frequency_penalty: 0",
        "tp: 0",
        "text_model: false",
        "stop:\n  - </s>",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    let hub = yaml(&m.folder.as_ref().unwrap().join("model.yml"));
    assert_eq!(
        y.get("prompt_template"),
        hub.get("prompt_template"),
        "the re-quoted template reads back as the hub's"
    );
    let created = y.get("created").and_then(Value::as_i64).expect("created");
    assert!(
        (1_726_444_800..1_726_531_200).contains(&created),
        "2024-09-16: {created}"
    );
}

#[test]
fn late_yml_is_commented_with_sampling_defaults_and_no_created() {
    let fx = Fixture::empty();
    let m = generations::cortexso_pull_nightly_late(&fx.data, "llama3.1");
    let text = read(&m.yml);
    assert!(text.starts_with("# BEGIN GENERAL GGUF METADATA\nid: llama3.1 # Model ID"));
    assert!(text.ends_with("# END OPTIONAL\n# END MODEL LOAD PARAMETERS\n"));
    for line in [
        "stop:                # tokenizer.ggml.eos_token_id\n  - <|eot_id|>\n",
        "top_p: 0.949999988 # Ranges: 0 to 1\n",
        "seed: -1\n",
        "min_p: 0.0500000007\n",
        "mirostat_eta: 0.100000001\n",
        "engine: cortex.llamacpp # engine to run model\n",
        "ngl: 33 # Undefined = loaded from model\n",
    ] {
        assert!(text.contains(line), "{line:?} missing from:\n{text}");
    }
    let y = yaml(&m.yml);
    for absent in ["created", "tp", "text_model", "grammar"] {
        assert!(y.get(absent).is_none(), "{absent} is not written");
    }
    assert_eq!(m.yml, fx.data.join("models/llama3.1.yaml"));
}

#[test]
fn nightly_pull_folder_and_yaml_ignore_the_branch() {
    let fx = Fixture::empty();
    let early = generations::cortexso_pull_nightly(&fx.data, "tinyllama");
    let late = generations::cortexso_pull_nightly_late(&fx.data, "mistral");
    for (m, name) in [(&early, "tinyllama"), (&late, "mistral")] {
        assert_eq!(m.id, name);
        assert_eq!(m.folder, Some(fx.data.join("models").join(name)));
        assert_eq!(m.yml, fx.data.join("models").join(format!("{name}.yaml")));
        assert_eq!(str_of(&yaml(&m.yml), "id"), name);
    }
}

#[test]
fn hf_direct_pull_saves_weights_without_extension_and_the_same_yml_twice() {
    let fx = Fixture::empty();
    let (author, repo, file) = LLAMA31_HF;
    for m in [
        generations::hf_direct_pull(&fx.data, author, repo, file),
        generations::hf_direct_pull_early(&fx.data, "TheBloke", "TinyLlama-GGUF", file),
    ] {
        let folder = m.folder.clone().expect("a pull has a folder");
        let repo = folder.file_name().unwrap().to_str().unwrap().to_owned();
        assert_eq!(m.weights, vec![folder.join(&repo)]);
        assert_eq!(m.yml, fx.data.join("models").join(format!("{repo}.yaml")));
        assert_eq!(read(&m.yml), read(&folder.join("model.yml")));
        let y = yaml(&m.yml);
        assert_eq!(str_of(&y, "id"), repo);
        assert_eq!(files_of(&y), m.weights);
    }
}

#[test]
fn import_lists_local_imported_and_names_weights_outside() {
    let fx = Fixture::empty();
    let weights = fx.outside().join("Phi-3-mini-4k-instruct-q4.gguf");
    let m = generations::import(&fx.data, "my-phi3", &weights);
    let yml = fx.data.join("models/imported/my-phi3.yml");
    assert_eq!(m.yml, yml);
    assert_eq!(m.folder, None);
    let line = format!("my-phi3 local imported {} my-phi3 READY", yml.display());
    assert_eq!(m.list_line.as_deref(), Some(line.as_str()));
    assert_eq!(read(&model_list::path(&fx.data)), line + "\n");
    let y = yaml(&yml);
    assert_eq!(files_of(&y), vec![weights.clone()]);
    assert!(!weights.starts_with(&fx.data) && weights.is_file());
    assert_eq!(str_of(&y, "model"), "my-phi3");
    assert_eq!(
        str_of(&y, "id"),
        "Phi-3-mini-4k-instruct-q4",
        "the import keeps GGUF general.name as id"
    );
}

#[test]
fn model_list_lines_have_six_fields_and_an_existing_absolute_yml() {
    for (name, fx, models) in every_folder() {
        let path = model_list::path(&fx.data);
        let listed: Vec<&OldModel> = models.iter().filter(|m| m.list_line.is_some()).collect();
        if listed.is_empty() {
            assert!(!path.exists(), "{name}: no build wrote model.list");
            continue;
        }
        let text = read(&path);
        assert!(text.ends_with('\n'), "{name}: std::endl ends every line");
        let lines: Vec<&str> = text.lines().collect();
        let expected: Vec<&str> = listed
            .iter()
            .map(|m| m.list_line.as_deref().unwrap())
            .collect();
        assert_eq!(
            lines, expected,
            "{name}: one line per listed model, in order"
        );
        let mut seen = BTreeSet::new();
        for (line, m) in lines.iter().zip(&listed) {
            let f: Vec<&str> = line.split(' ').collect();
            assert_eq!(f.len(), 6, "{name}: {line}");
            assert_eq!(f[0], m.id);
            assert_eq!(Path::new(f[3]), m.yml);
            assert!(m.yml.is_absolute() && m.yml.is_file(), "{name}: {line}");
            assert_eq!(f[5], "READY");
            // IsUnique: no other line has this id or alias as its id or alias.
            let own = BTreeSet::from([f[0], f[4]]);
            assert!(
                seen.is_disjoint(&own),
                "{name}: {line} reuses an id or alias"
            );
            seen.extend(own);
        }
        assert_eq!(model_list::load(&fx.data).len(), lines.len());
    }
}

#[test]
fn pulls_before_77414c64_stay_out_of_model_list() {
    let fx = Fixture::empty();
    let models = generations::nightly_with_model_list(&fx.data, &fx.outside());
    let listed: Vec<String> = model_list::load(&fx.data)
        .into_iter()
        .map(|e| e.model_id)
        .collect();
    assert_eq!(listed, ["my-phi3", "gemma-local"]);
    for m in models.iter().filter(|m| m.folder.is_some()) {
        assert_eq!(m.list_line, None, "{} was pulled, not listed", m.id);
        assert_eq!(m.yml.parent(), Some(fx.data.join("models").as_path()));
    }
}

#[test]
fn new_layout_cortexso_pull_lists_the_hub_model_yml_as_is() {
    let fx = Fixture::empty();
    let m = generations::cortexso_pull_new_layout(&fx.data, "tinyllama", "1b-gguf");
    let folder = fx.data.join("models/cortex.so/tinyllama/1b-gguf");
    assert_eq!(m.yml, folder.join("model.yml"));
    let line = format!(
        "tinyllama:1b-gguf cortexso 1b-gguf {} tinyllama:1b-gguf READY",
        m.yml.display()
    );
    assert_eq!(m.list_line, Some(line));
    let y = yaml(&m.yml);
    assert!(y.get("files").is_none(), "the hub's file is not rewritten");
    assert_eq!(str_of(&y, "id"), "tinyllama", "the hub's own id stays");
    assert_eq!(m.weights, vec![folder.join("model.gguf")]);
}

#[test]
fn new_layout_hf_pull_writes_stem_yml_and_a_short_alias() {
    let fx = Fixture::empty();
    let (author, repo, file) = TINYLLAMA_HF;
    let first = generations::hf_pull_new_layout(&fx.data, author, repo, file);
    let again = generations::hf_pull_new_layout(&fx.data, "someone", repo, file);
    let folder = fx.data.join("models/huggingface.co/TheBloke").join(repo);
    assert_eq!(first.weights, vec![folder.join(file)]);
    assert_eq!(
        first.yml,
        folder.join("tinyllama-1.1b-chat-v1.0.Q4_K_M.yml")
    );
    assert_eq!(first.id, format!("huggingface.co/{author}/{repo}/{file}"));
    let fields = |m: &OldModel| -> Vec<String> {
        let line = m.list_line.as_deref().expect("listed");
        line.split(' ').map(str::to_owned).collect()
    };
    assert_eq!(fields(&first)[1..3], ["TheBloke", "main"]);
    assert_eq!(fields(&first)[4], "tinyllama-1.1b-chat-v1.0.q4_k_m");
    assert_eq!(
        fields(&again)[4],
        "TinyLlama-1.1B-Chat-v1.0-GGUF:tinyllama-1.1b-chat-v1.0.q4_k_m",
        "the stem is taken, so GenerateShortenedAlias tries repo:stem"
    );
    let y = yaml(&first.yml);
    assert_eq!(
        str_of(&y, "id"),
        repo,
        "ParseGguf sets id to the folder name"
    );
    assert_eq!(files_of(&y), first.weights);
}

#[test]
fn every_yml_parses_and_its_files_are_absolute_and_exist() {
    for (name, _fx, models) in every_folder() {
        assert!(models.len() >= 3, "{name}: a few models");
        for m in &models {
            let y = yaml(&m.yml);
            let files = files_of(&y);
            if files.is_empty() {
                // Only a hub model.yml goes without: ReadYamlFile adds
                // the model.gguf beside it.
                assert_eq!(m.yml.file_name().unwrap(), "model.yml", "{name}: {}", m.id);
                assert_eq!(m.weights, vec![m.yml.with_file_name("model.gguf")]);
            } else {
                assert_eq!(files, m.weights, "{name}: {}", m.id);
            }
            for w in &m.weights {
                assert!(w.is_absolute() && w.is_file(), "{name}: {}", w.display());
            }
            assert_eq!(str_of(&y, "engine"), "cortex.llamacpp");
            assert!(!str_of(&y, "prompt_template").is_empty());
        }
    }
}

#[test]
fn weights_are_small_gguf_files_distinct_per_model_and_stable() {
    let weights_by_place = |fx: &Fixture, models: &[OldModel]| -> BTreeMap<PathBuf, Vec<u8>> {
        let home = fx.data.parent().expect("the data folder is in the home");
        models
            .iter()
            .flat_map(|m| &m.weights)
            .map(|w| {
                let bytes = std::fs::read(w).expect("reading weights");
                (w.strip_prefix(home).unwrap().to_path_buf(), bytes)
            })
            .collect()
    };
    let one = Fixture::empty();
    let two = Fixture::empty();
    let a = weights_by_place(
        &one,
        &generations::nightly_new_layout(&one.data, &one.outside()),
    );
    let b = weights_by_place(
        &two,
        &generations::nightly_new_layout(&two.data, &two.outside()),
    );
    assert_eq!(a, b, "the same builder writes the same bytes anywhere");
    let distinct: BTreeSet<&Vec<u8>> = a.values().collect();
    assert_eq!(distinct.len(), a.len(), "every model's weights differ");
    for (place, bytes) in &a {
        assert_eq!(&bytes[..4], b"GGUF", "{}", place.display());
        assert_eq!(bytes[4..8], 3u32.to_le_bytes(), "GGUF v3");
        assert!(
            (3072..6144).contains(&bytes.len()),
            "{}: a few KiB",
            place.display()
        );
    }
}
