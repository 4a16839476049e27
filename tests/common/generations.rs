//! Data folders as September 2024 nightly and beta builds of cortex.cpp
//! left them, before cortex.db existed (08b8841e added it): the models of
//! each folder layout, byte for byte as the cited source writes them, and
//! whole folders with a few models of one generation each.
//!
//! | generation | builds | a model is |
//! |---|---|---|
//! | A | up to efb426c5 (v0.5.1-rc2) | `models/<task id>/` + `models/<task id>.yaml` |
//! | B | 05d67be4 to 77414c64^1 | `models/<name>/` + `models/<name>.yaml` |
//! | C | 8a3a5902 to 77414c64^1 | `models/<repo>/<repo>` + `models/<repo>.yaml` + `models/<repo>/model.yml` |
//! | D | d9c5b412 to 08b8841e^1 | `models/imported/<id>.yml` + a `models/model.list` line |
//! | E | 77414c64 to 08b8841e^1 | `models/cortex.so/...` or `models/huggingface.co/...` + a `model.list` line |
//!
//! The yml writer changed inside B and C: yaml-cpp's dump up to f5588991^
//! (`created` stamped, no trailing newline), a commented layout from
//! f5588991 on (`yaml::commented`). `cortexso_pull_nightly` and
//! `hf_direct_pull_early` write the dump; `cortexso_pull_nightly_late`,
//! `hf_direct_pull` and everything in D and E the commented layout.
//!
//! Only `models/` is written: no `.cortexrc`, engines or logs. (Nightly and
//! beta builds kept their data in `~/cortexcpp-nightly` or
//! `~/cortexcpp-beta`, named in `~/.cortexrc-nightly` or
//! `~/.cortexrc-beta`: `CreateConfigFileIfNotExist` in
//! `engine/utils/file_manager_utils.h`; the builders take whatever data
//! folder they are given.)

mod hub;
pub mod model_list;
mod yaml;

use std::path::{Path, PathBuf};

use hub::{BRANCH_FILES, Family, SKIPPED_FROM_05D67BE4, branch_file, fnv1a, write};
use model_list::Entry;
use yaml::{ModelConfig, commented, yaml_cpp_dump};

/// What a builder wrote for one model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OldModel {
    /// The id the build knew the model by: the name of its `.yaml`, or its
    /// `model.list` id.
    pub id: String,
    /// The yml or yaml the build read to start the model.
    pub yml: PathBuf,
    /// The model's own folder, if it has one (an import has none).
    pub folder: Option<PathBuf>,
    /// The weights the yml names (or, for a hub `model.yml` without
    /// `files`, the `model.gguf` beside it that `ReadYamlFile` supplies).
    pub weights: Vec<PathBuf>,
    /// Its `models/model.list` line (no newline), if the build wrote one.
    pub list_line: Option<String>,
}

/// `std::time(nullptr)` when the rc builds pulled (2024-09-16T08:00Z).
const RC_PULLED: i64 = 1_726_473_600;
/// `std::time(nullptr)` when the early nightlies pulled (2024-09-17T08:00Z).
const NIGHTLY_PULLED: i64 = 1_726_560_000;

/// A `created` stamp near `base`, stable per model.
fn created(base: i64, id: &str) -> i64 {
    base + i64::try_from(fnv1a(id.as_bytes()) % 36_000).expect("small")
}

fn abs(path: &Path) -> String {
    assert!(
        path.is_absolute(),
        "cortex.cpp wrote absolute paths; {} is not",
        path.display()
    );
    path.to_str().expect("fixture paths are UTF-8").to_owned()
}

/// A label for a weights file that does not depend on where `data` is, so
/// that the same model gets the same bytes in every fixture.
fn label(data: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(data).unwrap_or(path);
    rel.to_str().expect("fixture paths are UTF-8").to_owned()
}

/// Downloads a cortexso branch into `folder`, leaving out `skip`.
fn pull_branch(data: &Path, folder: &Path, family: &Family, skip: &[&str]) -> PathBuf {
    for file in BRANCH_FILES.iter().filter(|f| !skip.contains(f)) {
        let path = folder.join(file);
        let bytes = if *file == "model.gguf" {
            family.weights(&label(data, &path))
        } else {
            branch_file(family, file)
        };
        write(&path, &bytes);
    }
    folder.join("model.gguf")
}

/// The config `WriteYamlOutput`/`DownloadModelCb` writes for a cortexso
/// pull: the hub's `model.yml` as `ModelConfigFromYaml` reads it, `id` set
/// to the folder's name, and the `files` `ReadYamlFile` adds when the hub
/// file has none (`<folder>/model.gguf`, since the engine is
/// `cortex.llamacpp`).
fn cortexso_config(family: &Family, folder: &Path) -> ModelConfig {
    let mut c = family.hub_config();
    c.id = folder_name(folder);
    c.files = vec![abs(&folder.join("model.gguf"))];
    c
}

fn folder_name(folder: &Path) -> String {
    let name = folder.file_name().expect("a model folder has a name");
    name.to_str().expect("fixture paths are UTF-8").to_owned()
}

/// A: `cortex pull <name>[:<branch>]` with an rc build, up to efb426c5
/// (v0.5.1-rc2), the last commit before 05d67be4.
///
/// `engine/utils/cortexso_parser.h` at efb426c5 names the download task
/// `<name>` on `main`, else `<name>-<branch>`; `DownloadService::StartDownloadItem`
/// (`engine/services/download_service.cc`) saves every file the branch
/// lists, README.md and .gitattributes too, in `models/<task id>/`; on
/// `model.yml`, `model_callback_utils::DownloadModelCb`
/// (`engine/utils/model_callback_utils.h`) writes `models/<task id>.yaml`
/// with `id: <task id>` and `files: [<abs folder>/model.gguf]`, as
/// `yaml_config.cc`'s yaml-cpp dump.
pub fn cortexso_pull_rc(data: &Path, name: &str, branch: &str) -> OldModel {
    let task_id = if branch == "main" {
        name.to_owned()
    } else {
        format!("{name}-{branch}")
    };
    let folder = data.join("models").join(&task_id);
    let family = Family::of_cortexso(name);
    let gguf = pull_branch(data, &folder, &family, &[]);
    let yaml = data.join("models").join(format!("{task_id}.yaml"));
    let text = yaml_cpp_dump(
        &cortexso_config(&family, &folder),
        created(RC_PULLED, &task_id),
    );
    write(&yaml, text.as_bytes());
    old(task_id, yaml, Some(folder), vec![gguf], None)
}

/// B: `cortex pull <name>[:<branch>]` with a nightly from 05d67be4 to
/// before f5588991 (the yml writer's change).
///
/// `engine/utils/cortexso_parser.h` at 05d67be4 downloads into
/// `models/<name>/` whatever the branch (so two branches share a folder)
/// and skips README.md, .gitattributes and .gitignore;
/// `WriteYamlOutput` (`engine/utils/model_callback_utils.h` at 05d67be4)
/// writes `models/<name>.yaml` with `id: <name>`, as yaml-cpp's dump. (The
/// CLI at 05d67be4 still starts and chats with `models/<name>-<branch>.yaml`.)
pub fn cortexso_pull_nightly(data: &Path, name: &str) -> OldModel {
    let (folder, gguf, yaml, c) = nightly_pull(data, name);
    let text = yaml_cpp_dump(&c, created(NIGHTLY_PULLED, name));
    write(&yaml, text.as_bytes());
    old(name.to_owned(), yaml, Some(folder), vec![gguf], None)
}

/// B, late: the same pull with a nightly from f5588991 to 77414c64^1.
///
/// `ModelService::DownloadModelFromCortexso` (`engine/services/model_service.cc`
/// at 77414c64^1, after a branch menu) still goes through `cortexso_parser.h`
/// and `WriteYamlOutput` as at 05d67be4; `WriteYamlFile` is the commented
/// layout, with the sampling fields at their defaults and no `created`.
pub fn cortexso_pull_nightly_late(data: &Path, name: &str) -> OldModel {
    let (folder, gguf, yaml, c) = nightly_pull(data, name);
    write(&yaml, commented(&c).as_bytes());
    old(name.to_owned(), yaml, Some(folder), vec![gguf], None)
}

fn nightly_pull(data: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf, ModelConfig) {
    let folder = data.join("models").join(name);
    let family = Family::of_cortexso(name);
    let gguf = pull_branch(data, &folder, &family, &SKIPPED_FROM_05D67BE4);
    let yaml = data.join("models").join(format!("{name}.yaml"));
    (
        folder.clone(),
        gguf,
        yaml,
        cortexso_config(&family, &folder),
    )
}

/// C: a Hugging Face file pulled by URL or `author/repo` with a nightly
/// from f5588991 to 77414c64^1.
///
/// `ModelService::DownloadModelByDirectUrl` (`engine/services/model_service.cc`
/// at 77414c64^1) saves the file as `models/<repo>/<repo>`, no extension;
/// `model_callback_utils::ParseGguf` (`engine/utils/model_callback_utils.h`
/// at 77414c64^1) reads its GGUF metadata (`Family::gguf_config`; the
/// values are this fixture's), sets `id: <repo>` and `files: [<abs
/// weights>]` and writes the same text to `models/<repo>.yaml` and
/// `models/<repo>/model.yml`, in the commented layout. The author is in no
/// path: two authors' repos of one name share a folder.
pub fn hf_direct_pull(data: &Path, _author: &str, repo: &str, file: &str) -> OldModel {
    let (m, c) = hf_pull(data, repo, file);
    write_both(&m, &commented(&c));
    m
}

/// C, early: the same pull with a nightly from 6dcecef5 (8a3a5902 merged)
/// to before f5588991: `ParseGguf` (`model_callback_utils.h` at 6dcecef5)
/// writes both files as yaml-cpp's dump, with one `created`.
pub fn hf_direct_pull_early(data: &Path, _author: &str, repo: &str, file: &str) -> OldModel {
    let (m, c) = hf_pull(data, repo, file);
    write_both(&m, &yaml_cpp_dump(&c, created(NIGHTLY_PULLED, repo)));
    m
}

fn hf_pull(data: &Path, repo: &str, file: &str) -> (OldModel, ModelConfig) {
    let folder = data.join("models").join(repo);
    let weights = folder.join(repo);
    let family = Family::of_file(file);
    write(&weights, &family.weights(&label(data, &weights)));
    let mut c = family.gguf_config();
    c.id = repo.to_owned();
    c.files = vec![abs(&weights)];
    let yaml = data.join("models").join(format!("{repo}.yaml"));
    let m = old(repo.to_owned(), yaml, Some(folder), vec![weights], None);
    (m, c)
}

fn write_both(m: &OldModel, text: &str) {
    write(&m.yml, text.as_bytes());
    let folder = m.folder.as_ref().expect("a pulled model has a folder");
    write(&folder.join("model.yml"), text.as_bytes());
}

/// D: `cortex models import --model_id <id> --model_path <weights>` with a
/// nightly from d9c5b412 to 08b8841e^1 (`engine/commands/model_import_cmd.cc`
/// at 77414c64^1, unchanged in between but for a comment).
///
/// Writes the weights first if they are missing (as the user's own file).
/// `AddModelEntry` adds `<id> local imported <abs yml> <id> READY` to
/// `models/model.list`, then `models/imported/<id>.yml` is written in the
/// commented layout from the file's GGUF metadata: `model: <id>`, but
/// `id` and `name` are the GGUF `general.name`; `files` holds the path
/// exactly as given (cortex.cpp does not make it absolute; pass an
/// absolute one, outside `data`, as a user importing a download would).
/// (The HTTP import, `Models::ImportModel` in `engine/controllers/models.cc`,
/// sets `name` to the handle instead and leaves `model` the GGUF name.)
pub fn import(data: &Path, id: &str, weights: &Path) -> OldModel {
    let file = weights.file_name().expect("weights are a file");
    let family = Family::of_file(file.to_str().expect("fixture paths are UTF-8"));
    if !weights.exists() {
        write(weights, &family.weights(&format!("imported/{id}")));
    }
    let yml = data
        .join("models")
        .join("imported")
        .join(format!("{id}.yml"));
    let entry = model_list::add(
        data,
        Entry {
            model_id: id.to_owned(),
            author_repo_id: "local".to_owned(),
            branch_name: "imported".to_owned(),
            path_to_model_yaml: abs(&yml),
            model_alias: id.to_owned(),
            status: "READY".to_owned(),
        },
        false,
    );
    let mut c = family.gguf_config();
    c.files = vec![abs(weights)];
    c.model = id.to_owned();
    write(&yml, commented(&c).as_bytes());
    let line = Some(entry.line());
    old(id.to_owned(), yml, None, vec![weights.to_path_buf()], line)
}

/// E: `cortex pull <name>` (branch from a menu) with a nightly from
/// 77414c64 to 08b8841e^1.
///
/// The download goes to `models/cortex.so/<name>/<branch>/` (README.md,
/// .gitattributes, .gitignore skipped; `cortexso_parser.h` at 77414c64,
/// `GetDownloadTask` in `model_service.cc` at 08b8841e^1); nothing is
/// rewritten: the hub's `model.yml` stays as it is, without `files`.
/// `DownloadModelFromCortexso` adds `<name>:<branch> cortexso <branch>
/// <abs model.yml> <name>:<branch> READY` to `models/model.list`.
pub fn cortexso_pull_new_layout(data: &Path, name: &str, branch: &str) -> OldModel {
    let folder = data
        .join("models")
        .join("cortex.so")
        .join(name)
        .join(branch);
    let family = Family::of_cortexso(name);
    let gguf = pull_branch(data, &folder, &family, &SKIPPED_FROM_05D67BE4);
    let yml = folder.join("model.yml");
    let id = format!("{name}:{branch}");
    let entry = model_list::add(
        data,
        Entry {
            model_id: id.clone(),
            author_repo_id: "cortexso".to_owned(),
            branch_name: branch.to_owned(),
            path_to_model_yaml: abs(&yml),
            model_alias: id.clone(),
            status: "READY".to_owned(),
        },
        false,
    );
    old(id, yml, Some(folder), vec![gguf], Some(entry.line()))
}

/// E: a Hugging Face file pulled (`author/repo` and a menu, or its URL on
/// `main`) with a nightly from 77414c64 to 08b8841e^1.
///
/// `DownloadModelByDirectUrl` (77414c64) / `HandleUrl` (08b8841e^1) saves
/// `models/huggingface.co/<author>/<repo>/<file>`; `ParseGguf` writes
/// `<file stem>.yml` beside it (commented layout, `id: <repo>`, `files:
/// [<abs file>]`) and adds `huggingface.co/<author>/<repo>/<file> <author>
/// main <abs yml> <alias> READY` with `use_short_alias`, so the alias is
/// `GenerateShortenedAlias`'s: the lowercased file stem when it is free.
pub fn hf_pull_new_layout(data: &Path, author: &str, repo: &str, file: &str) -> OldModel {
    let folder = data
        .join("models")
        .join("huggingface.co")
        .join(author)
        .join(repo);
    let weights = folder.join(file);
    let family = Family::of_file(file);
    write(&weights, &family.weights(&label(data, &weights)));
    let yml = weights.with_extension("yml");
    let mut c = family.gguf_config();
    c.id = repo.to_owned();
    c.files = vec![abs(&weights)];
    write(&yml, commented(&c).as_bytes());
    let id = format!("huggingface.co/{author}/{repo}/{file}");
    let entry = model_list::add(
        data,
        Entry {
            model_id: id.clone(),
            author_repo_id: author.to_owned(),
            branch_name: "main".to_owned(),
            path_to_model_yaml: abs(&yml),
            model_alias: id.clone(),
            status: "READY".to_owned(),
        },
        true,
    );
    old(id, yml, Some(folder), vec![weights], Some(entry.line()))
}

fn old(
    id: String,
    yml: PathBuf,
    folder: Option<PathBuf>,
    weights: Vec<PathBuf>,
    list_line: Option<String>,
) -> OldModel {
    OldModel {
        id,
        yml,
        folder,
        weights,
        list_line,
    }
}

/// Hugging Face files the whole-folder builders pull.
pub const TINYLLAMA_HF: (&str, &str, &str) = (
    "TheBloke",
    "TinyLlama-1.1B-Chat-v1.0-GGUF",
    "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf",
);
pub const LLAMA31_HF: (&str, &str, &str) = (
    "bartowski",
    "Meta-Llama-3.1-8B-Instruct-GGUF",
    "Meta-Llama-3.1-8B-Instruct-Q4_K_M.gguf",
);

/// An rc user's folder (generation A): three cortexso branches pulled.
pub fn rc_folder(data: &Path) -> Vec<OldModel> {
    vec![
        cortexso_pull_rc(data, "tinyllama", "1b-gguf"),
        cortexso_pull_rc(data, "llama3.1", "8b-gguf-q4-km"),
        cortexso_pull_rc(data, "mistral", "7b-gguf"),
    ]
}

/// A nightly user's folder from 6dcecef5 to before b8078af0 (B and C, the
/// yaml-cpp dump): two cortexso models and one Hugging Face file, no
/// `model.list`.
pub fn nightly_before_model_list(data: &Path) -> Vec<OldModel> {
    let (author, repo, file) = TINYLLAMA_HF;
    vec![
        cortexso_pull_nightly(data, "tinyllama"),
        cortexso_pull_nightly(data, "mistral"),
        hf_direct_pull_early(data, author, repo, file),
    ]
}

/// A nightly user's folder from d9c5b412 to 77414c64^1: a cortexso model
/// pulled with an early nightly (dump), one pulled later (commented), a
/// Hugging Face file and two imports from `outside`, listed in
/// `model.list` (pulls never were before 77414c64).
pub fn nightly_with_model_list(data: &Path, outside: &Path) -> Vec<OldModel> {
    let (author, repo, file) = LLAMA31_HF;
    vec![
        cortexso_pull_nightly(data, "tinyllama"),
        cortexso_pull_nightly_late(data, "llama3.1"),
        hf_direct_pull(data, author, repo, file),
        import(
            data,
            "my-phi3",
            &outside.join("Phi-3-mini-4k-instruct-q4.gguf"),
        ),
        import(
            data,
            "gemma-local",
            &outside.join("gemma-2-2b-it-Q4_K_M.gguf"),
        ),
    ]
}

/// A nightly user's folder from 77414c64 to 08b8841e^1 (E): two cortexso
/// branches, two Hugging Face files and an import, all in `model.list`.
pub fn nightly_new_layout(data: &Path, outside: &Path) -> Vec<OldModel> {
    let (a1, r1, f1) = TINYLLAMA_HF;
    let (a2, r2, f2) = LLAMA31_HF;
    vec![
        cortexso_pull_new_layout(data, "tinyllama", "1b-gguf"),
        cortexso_pull_new_layout(data, "llama3.1", "8b-gguf-q4-km"),
        hf_pull_new_layout(data, a1, r1, f1),
        hf_pull_new_layout(data, a2, r2, f2),
        import(
            data,
            "my-phi3",
            &outside.join("Phi-3-mini-4k-instruct-q4.gguf"),
        ),
    ]
}

/// A `.cortexrc` as the builds of 703368b6 to 24166e4f~1 (6 to 9 Sept
/// 2024) write it for the stable variant: `DumpYamlConfig` of
/// `dataFolderPath`, `host`, `port` in that order, no newline at the end
/// (`engine/utils/config_yaml_utils.h` at a2e54ceb, yaml-cpp's emitter).
pub fn cortexrc_before_24166e4f(path: &Path, data: &Path) -> String {
    let text = format!(
        "dataFolderPath: {}\nhost: 127.0.0.1\nport: 3928",
        data.display()
    );
    std::fs::write(path, &text).expect("writing .cortexrc");
    text
}
