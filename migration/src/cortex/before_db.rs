//! The data folders cortex.cpp wrote before `cortex.db` (nightly and beta
//! builds of September 2024): what is there ([`survey`]) and what adopting
//! it means ([`Survey::plan`]): which folders move where, which rows are
//! written, which files are set aside. Nothing here writes; the step
//! `m20261203_000003_models_before_cortex_db` carries the plan out.
//!
//! The generations, read from janhq/cortex.cpp:
//!
//! - **Model folders with a yaml beside them** (every build up to
//!   77414c64~1, #1327 on 24 Sept 2024, so tags v0.5.1-rc1 and rc2 too).
//!   Models were found by scanning `models/*.yaml`; the id is the file stem
//!   (`ModelService::GetDownloadedModel`, `engine/services/model_service.cc`
//!   at 77414c64~1). A cortexso pull went to `models/<id>/` with the hub's
//!   `model.yml` inside and cortex's own `models/<id>.yaml` beside it
//!   (`engine/utils/cortexso_parser.h` and
//!   `engine/utils/model_callback_utils.h`, `WriteYamlOutput`, at
//!   05d67be4); rc builds before 05d67be4 named the folder
//!   `<name>-<branch>` unless the branch was `main` (`getDownloadTask`,
//!   `cortexso_parser.h` at 05d67be4~1). A direct Hugging Face pull
//!   (8a3a5902 to 77414c64~1) saved the weights as `models/<repo>/<repo>`
//!   and wrote `models/<repo>.yaml` and `models/<repo>/model.yml`
//!   (`DownloadModelByDirectUrl` in `model_service.cc` and `ParseGguf` in
//!   `model_callback_utils.h`, both at 77414c64~1). `files:` is absolute.
//! - **`models/model.list`** (b8078af0, 18 Sept, to 08b8841e~1, #1336 on
//!   27 Sept 2024): one model per line, `model_id author_repo_id
//!   branch_name path_to_model_yaml model_alias READY|RUNNING`, read with
//!   `iss >> ...` and skipped with a warning when a field is missing
//!   (`ModelListUtils::LoadModelList`, `engine/utils/modellist_utils.cc` at
//!   08b8841e~1). Imports (d9c5b412) wrote `models/imported/<id>.yml` and a
//!   line `<id> local imported <yml> <id> READY`
//!   (`engine/commands/model_import_cmd.cc` at 77414c64~1); from 77414c64
//!   pulls went to `models/cortex.so/<name>/<branch>/` and
//!   `models/huggingface.co/<author>/<repo>/<file>.yml` with a line each
//!   (`ModelService::DownloadModelFromCortexso`, `ParseGguf`,
//!   `model_service.cc` at 77414c64). #1336 replaced the file with
//!   `cortex.db` and carried nothing over.
//!
//! What the adopted rows look like is what cortex.cpp v1.0.12 writes
//! (`model_service.cc` at v1.0.12): a cortexso pull is `author_repo_id`
//! `cortexso`; an import keeps `branch_name` `imported`, which is what
//! stops `DeleteModel` from deleting the user's own weights file;
//! `path_to_model_yaml` and `files:` are relative to the data folder when
//! they lie inside it (`ToRelativeCortexDataPath`), `status` is
//! `downloaded`, `engine` is the yml's engine under its current name.
//!
//! The branch of a pull before #1327 is recorded nowhere (the rc builds'
//! `<name>-<branch>` cannot be split: names and branches both hold `-`),
//! nor is the author of a direct Hugging Face pull. The adopted model keeps
//! the id the old build gave it (the one its user typed), and its folder
//! goes to `models/cortex.so/<id>/unknown-branch/` or
//! `models/huggingface.co/unknown-author/<id>/`, names no cortex.cpp pull
//! writes to; `branch_name` (and `author_repo_id` of a Hugging Face pull)
//! is empty, as cortex.cpp itself stores an unknown one. Every such model
//! is named in the step's notes and in `plan`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::toolkit::{DataDir, Located, MigrateError};

/// Where the folder of a pull whose branch is not known goes, under
/// `models/cortex.so/<id>/`.
pub const UNKNOWN_BRANCH: &str = "unknown-branch";
/// Where the folder of a direct Hugging Face pull whose author is not known
/// goes, under `models/huggingface.co/`.
pub const UNKNOWN_AUTHOR: &str = "unknown-author";

/// How a model with a `models/<id>.yaml` was pulled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pull {
    /// From cortexso: the hub's `model.yml` in `models/<id>/`.
    Cortexso,
    /// A direct Hugging Face pull: weights `models/<id>/<id>`.
    HuggingFace,
}

/// A model found by its `models/<id>.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlModel {
    pub id: String,
    pub pull: Pull,
}

/// A valid line of `models/model.list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedModel {
    /// 1-based.
    pub line: usize,
    pub id: String,
    pub author: String,
    pub branch: String,
    pub yml: String,
    pub alias: String,
}

/// What a data folder holds of the generations before cortex.db.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Survey {
    pub yaml_models: Vec<YamlModel>,
    /// `Some` when `models/model.list` exists.
    pub listed: Option<Vec<ListedModel>>,
    /// What cannot be adopted, one sentence each (nothing is guessed).
    pub problems: Vec<String>,
}

/// The `models` row of an adopted model, in v1.0.12's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub id: String,
    pub author: String,
    pub branch: String,
    /// Where the yml will be: relative to the data folder when inside it.
    pub yml: String,
    pub alias: String,
}

/// One model to adopt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adopted {
    /// Its new `models` row.
    pub row: Row,
    /// Its yml as it is before any move.
    pub yml_now: String,
    /// The move of its folder, relative to the data folder (`files:`
    /// entries into the old folder follow it; other absolute ones inside
    /// the data folder are only made relative).
    pub moved: Option<(String, String)>,
}

/// What adopting a survey does.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Plan {
    pub adopted: Vec<Adopted>,
    /// Files set aside into the step's archive (relative paths).
    pub archive: Vec<String>,
    /// Sentences for the step's notes.
    pub notes: Vec<String>,
}

impl Plan {
    /// The folder moves, relative to the data folder.
    pub fn moves(&self) -> impl Iterator<Item = &(String, String)> {
        self.adopted.iter().filter_map(|a| a.moved.as_ref())
    }
}

impl Survey {
    /// Whether any generation before cortex.db is there.
    pub fn is_empty(&self) -> bool {
        self.yaml_models.is_empty() && self.listed.is_none() && self.problems.is_empty()
    }

    /// One line naming the generations found, for `status`.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if !self.yaml_models.is_empty() {
            parts.push(format!(
                "cortex.cpp nightly/beta model folders before #1327 (to 77414c64, Sept 2024): {} model(s)",
                self.yaml_models.len()
            ));
        }
        if let Some(listed) = &self.listed {
            parts.push(format!(
                "models/model.list (b8078af0 to 08b8841e, Sept 2024): {} model(s)",
                listed.len()
            ));
        }
        if !self.problems.is_empty() {
            parts.push(format!(
                "{} entr(y/ies) that cannot be adopted",
                self.problems.len()
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// What adopting it means, given the model ids cortex.db has already.
    /// `Err` when the folder mixes layouts in a way no build could have
    /// written, or a folder would land on one that exists.
    pub fn plan(
        &self,
        dir: &DataDir,
        step: &str,
        existing: &BTreeSet<String>,
    ) -> Result<Plan, MigrateError> {
        let root = dir.root();
        let refuse = |found: String| MigrateError::UnknownLayout {
            root: root.to_path_buf(),
            found,
        };
        let mut plan = Plan {
            notes: self.problems.clone(),
            ..Plan::default()
        };
        let mut ids: BTreeMap<&str, String> = BTreeMap::new();
        for m in self.listed.iter().flatten() {
            ids.insert(&m.id, format!("models/model.list line {}", m.line));
        }
        for m in &self.yaml_models {
            if let Some(line) = ids.get(m.id.as_str()) {
                return Err(refuse(format!(
                    "model {} is both in {line} and in models/{}.yaml, which no cortex.cpp build \
                     wrote together; move one of them out of models/ and run again",
                    m.id, m.id
                )));
            }
        }
        for m in &self.yaml_models {
            let from = format!("models/{}", m.id);
            if existing.contains(&m.id) {
                plan.notes.push(format!(
                    "model {}: cortex.db has a model of this id already; {from}/ and {from}.yaml \
                     were left as they are",
                    m.id
                ));
                continue;
            }
            let (to, yml, author, note) = match m.pull {
                Pull::Cortexso => {
                    let to = format!("models/cortex.so/{}/{UNKNOWN_BRANCH}", m.id);
                    let yml = format!("{to}/model.yml");
                    let note = format!(
                        "model {}: cortexso pull before #1327, its branch is not recorded: id kept, \
                         folder {from}/ -> {to}/",
                        m.id
                    );
                    (to, yml, "cortexso", note)
                }
                Pull::HuggingFace => {
                    let to = format!("models/huggingface.co/{UNKNOWN_AUTHOR}/{}", m.id);
                    let yml = format!("{to}/model.yml");
                    let note = format!(
                        "model {}: direct Hugging Face pull before #1327, its author is not \
                         recorded: id kept, folder {from}/ -> {to}/",
                        m.id
                    );
                    (to, yml, "", note)
                }
            };
            if root.join(&to).exists() {
                return Err(refuse(format!(
                    "{from}/ would move to {to}/, which exists already; move one of them away and \
                     run again"
                )));
            }
            plan.archive.push(format!("{from}.yaml"));
            plan.adopted.push(Adopted {
                row: Row {
                    id: m.id.clone(),
                    author: author.into(),
                    branch: String::new(),
                    yml,
                    alias: m.id.clone(),
                },
                yml_now: format!("{from}/model.yml"),
                moved: Some((from, to)),
            });
            plan.notes.push(note);
        }
        if let Some(listed) = &self.listed {
            for m in listed {
                if existing.contains(&m.id) {
                    plan.notes.push(format!(
                        "models/model.list line {}: cortex.db has model {} already; the line was \
                         not adopted",
                        m.line, m.id
                    ));
                    continue;
                }
                let yml = match dir.locate(&m.yml) {
                    Located::Inside { rel, .. } => rel,
                    Located::Outside { .. } => m.yml.clone(),
                };
                plan.adopted.push(Adopted {
                    row: Row {
                        id: m.id.clone(),
                        author: m.author.clone(),
                        branch: m.branch.clone(),
                        yml: yml.clone(),
                        alias: m.alias.clone(),
                    },
                    yml_now: yml,
                    moved: None,
                });
            }
            plan.archive.push("models/model.list".into());
        }
        for from in &plan.archive {
            let to = archived(step, from);
            if root.join(&to).exists() {
                return Err(refuse(format!(
                    "{to} exists already, so {from} cannot be set aside; move it away and run \
                     again"
                )));
            }
        }
        Ok(plan)
    }
}

/// Where `rel` is set aside by `step`.
pub fn archived(step: &str, rel: &str) -> String {
    let mut p = crate::toolkit::StateDir::archive_rel(step);
    p.push(rel);
    slashed(&p)
}

/// Looks for the generations before cortex.db in the data folder at `root`.
/// An empty folder or one without `models/` has none.
pub fn survey(root: &Path) -> Result<Survey, MigrateError> {
    let models = root.join("models");
    let mut survey = Survey::default();
    if !models.is_dir() {
        return Ok(survey);
    }
    let io = |op: &'static str, p: &Path, e| MigrateError::io(op, p, e);
    let mut yamls = Vec::new();
    for entry in std::fs::read_dir(&models).map_err(|e| io("read folder", &models, e))? {
        let entry = entry.map_err(|e| io("read folder", &models, e))?;
        let path = entry.path();
        if path.extension().is_none_or(|e| e != "yaml") || !path.is_file() {
            continue;
        }
        match path.file_stem().and_then(|s| s.to_str()) {
            Some(id) => yamls.push(id.to_owned()),
            None => survey.problems.push(format!(
                "{}: its name is not UTF-8, so it names no model id Cortex can use; left as it is",
                path.display()
            )),
        }
    }
    yamls.sort();
    for id in yamls {
        match yaml_model(&models, &id) {
            Ok(m) => survey.yaml_models.push(m),
            Err(why) => survey.problems.push(why),
        }
    }
    let list = models.join("model.list");
    if list.is_file() {
        let text = std::fs::read(&list).map_err(|e| io("read", &list, e))?;
        let text = String::from_utf8_lossy(&text);
        survey.listed = Some(read_model_list(root, &text, &mut survey.problems));
    }
    Ok(survey)
}

/// The model of `models/<id>.yaml`, or why it cannot be adopted.
fn yaml_model(models: &Path, id: &str) -> Result<YamlModel, String> {
    let yaml = models.join(format!("{id}.yaml"));
    let text = std::fs::read_to_string(&yaml)
        .map_err(|e| format!("models/{id}.yaml cannot be read ({e}); left as it is"))?;
    serde_yaml::from_str::<serde_yaml::Value>(&text)
        .map_err(|e| format!("models/{id}.yaml is not valid YAML ({e}); left as it is"))?;
    let folder = models.join(id);
    if !folder.is_dir() {
        return Err(format!(
            "models/{id}.yaml has no folder models/{id}/ beside it (no build wrote one without \
             the other); left as it is"
        ));
    }
    if folder.join(id).is_file() {
        return Ok(YamlModel {
            id: id.into(),
            pull: Pull::HuggingFace,
        });
    }
    if folder.join("model.yml").is_file() {
        return Ok(YamlModel {
            id: id.into(),
            pull: Pull::Cortexso,
        });
    }
    Err(format!(
        "models/{id}/ holds neither model.yml nor the weights file {id} (an unfinished \
         pull?); models/{id}.yaml and the folder were left as they are"
    ))
}

/// The valid lines of a `model.list`; each invalid one becomes a problem
/// naming its line number.
fn read_model_list(root: &Path, text: &str, problems: &mut Vec<String>) -> Vec<ListedModel> {
    let mut out: Vec<ListedModel> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let n = n + 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        let at = format!("models/model.list line {n}");
        if fields.len() != 6 {
            problems.push(format!(
                "{at}: {} field(s), where cortex.cpp wrote 6 (model_id author_repo_id \
                 branch_name path_to_model_yaml model_alias status): `{line}`; not adopted",
                fields.len()
            ));
            continue;
        }
        let (id, yml) = (fields[0], fields[3]);
        let abs = if Path::new(yml).is_absolute() {
            Path::new(yml).to_path_buf()
        } else {
            root.join(yml)
        };
        if !abs.is_file() {
            problems.push(format!(
                "{at}: model {id}: its yml {yml} does not exist; not adopted"
            ));
            continue;
        }
        if let Some(first) = out.iter().find(|m| m.id == id) {
            problems.push(format!(
                "{at}: model {id} is listed already on line {}; not adopted twice",
                first.line
            ));
            continue;
        }
        out.push(ListedModel {
            line: n,
            id: id.into(),
            author: fields[1].into(),
            branch: fields[2].into(),
            yml: yml.into(),
            alias: fields[4].into(),
        });
    }
    out
}

/// A relative path with `/` separators, as the journal and the rows store
/// them.
pub fn slashed(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
