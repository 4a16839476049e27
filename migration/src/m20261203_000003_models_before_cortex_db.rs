//! Models of the data folders cortex.cpp wrote before `cortex.db`: the
//! September 2024 nightly and beta builds kept them as `models/<id>/`
//! folders with a `models/<id>.yaml` beside each, then listed them in
//! `models/model.list`; cortex.cpp #1336 (08b8841e) replaced both with
//! `cortex.db` and carried nothing over, so no later build sees those
//! models. This step adopts them: each folder moves, by rename, into the
//! layout v1.0.x reads (`models/cortex.so/...`,
//! `models/huggingface.co/...`), each model gets the `models` row v1.0.12
//! would have written, its yml's absolute `files:` follow the move and
//! become relative, and the old `models/<id>.yaml` files and `model.list`
//! are set aside in the step's archive. Its `down` puts every file back
//! where it was, byte for byte, and deletes the rows.
//!
//! The layouts, the row shape and what becomes of a model whose branch or
//! author no file records, with the cortex.cpp files and commits they are
//! read from, are in [`crate::cortex::before_db`]. A folder that mixes the
//! layouts in a way no build wrote, or whose adoption would land on a
//! folder that exists, is refused and nothing changes; an entry that cannot
//! be adopted (an invalid `model.list` line, a yaml without its folder) is
//! named in the step's notes and left as it is.
//!
//! Engines are named as cortex.cpp names them today (`llama-cpp`, see
//! `m20261126_000002_rename_legacy_engines`), in the row and in the yml,
//! since that step has run before this one.

use std::collections::BTreeSet;
use std::path::Path;

use sea_orm_migration::prelude::*;

use crate::cortex::before_db::{self, Plan, slashed};
use crate::cortex::model_yml::ModelYml;
use crate::cortex::{self};
use crate::m20261126_000002_rename_legacy_engines::RENAMES;
use crate::toolkit::{DataDir, LinesEdited, Located, MigrateError, Step, StepContext, StepKind};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl Step for Migration {
    fn summary(&self) -> &'static str {
        "adopt the models of data folders written before cortex.db (Sept 2024 nightly/beta: models/<id>.yaml folders, models/model.list)"
    }

    fn kind(&self) -> StepKind {
        StepKind::Folder
    }

    /// Refuses, before the run starts, a folder that mixes the layouts in a
    /// way no build wrote or whose adoption would land on an existing
    /// folder (the same checks `up` makes, with no model in cortex.db yet).
    fn check_folder(&self, dir: &DataDir) -> Result<(), MigrateError> {
        before_db::survey(dir.root())?
            .plan(dir, self.name(), &BTreeSet::new())
            .map(|_| ())
    }

    async fn up(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        let folder = cx.folder()?;
        let dir = folder.dir().clone();
        let survey = before_db::survey(dir.root())?;
        if survey.is_empty() {
            return Ok(());
        }
        let conn = cx.manager().get_connection();
        let existing: BTreeSet<String> = cortex::model_rows(conn)
            .await?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let step = self.name();
        let plan = survey.plan(&dir, step, &existing)?;
        for note in &plan.notes {
            cx.note(note.clone());
        }

        // The ymls are edited where they are, before their folders move:
        // the undo moves the folders back first, then edits the lines back.
        let mut edited = Vec::new();
        let mut rows = Vec::new();
        let total = plan.adopted.len() as u64;
        for (n, a) in plan.adopted.iter().enumerate() {
            cx.rows_done(n as u64 + 1, total);
            let row = &a.row;
            let adopted = adopt_yml(&dir, &a.yml_now, a.moved.as_ref()).map_err(|reason| {
                MigrateError::Yaml {
                    path: dir.root().join(&a.yml_now),
                    reason: format!("model {}: {reason}", row.id),
                }
            })?;
            if let Some(e) = adopted.edit {
                edited.push(e);
            }
            let mut values = vec![
                ("model_id", Some(row.id.clone().into())),
                ("author_repo_id", Some(row.author.clone().into())),
                ("branch_name", Some(row.branch.clone().into())),
                ("path_to_model_yaml", Some(row.yml.clone().into())),
                ("model_alias", Some(row.alias.clone().into())),
                ("status", Some("downloaded".into())),
                ("engine", adopted.engine.map(Into::into)),
            ];
            if let Some(bytes) = adopted.weights_bytes {
                values.push(("weights_bytes", Some(Value::BigInt(Some(bytes)))));
            } else {
                cx.note(format!(
                    "model {}: a weights file is missing; weights_bytes left empty",
                    row.id
                ));
            }
            rows.push(values);
        }
        if !edited.is_empty() {
            folder.write_edited(edited).await?;
        }
        for (from, to) in plan.moves() {
            folder.move_path(from, to).await?;
        }
        for from in &plan.archive {
            folder
                .move_path(from, &before_db::archived(step, from))
                .await?;
        }
        cx.insert_rows("models", "model_id", &rows).await?;
        cx.note(adopted_summary(&plan));
        Ok(())
    }

    async fn down(&self, cx: &StepContext<'_>) -> Result<(), MigrateError> {
        cx.undo().await
    }
}

/// One line: how many models were adopted and from where.
fn adopted_summary(plan: &Plan) -> String {
    format!(
        "{} model(s) adopted, {} folder(s) moved, {} file(s) set aside",
        plan.adopted.len(),
        plan.moves().count(),
        plan.archive.len()
    )
}

/// What adopting one yml gives: its line edits (if any), its engine under
/// the current name, and the size of its weights (`None` if one is missing).
struct AdoptedYml {
    edit: Option<LinesEdited>,
    engine: Option<String>,
    weights_bytes: Option<i64>,
}

/// Reads the yml at `rel` (relative to the data folder, or absolute when
/// it lies outside), and makes the line edits that point its `files:` at
/// the folder's new place (`moved`: from, to), relative where inside the
/// data folder, and rename a legacy engine name.
fn adopt_yml(
    dir: &DataDir,
    rel: &str,
    moved: Option<&(String, String)>,
) -> Result<AdoptedYml, String> {
    let inside = !Path::new(rel).is_absolute();
    let abs = if inside {
        dir.join(rel)
    } else {
        Path::new(rel).to_path_buf()
    };
    let text = std::fs::read_to_string(&abs).map_err(|e| format!("cannot be read ({e})"))?;
    let yml = ModelYml::parse(&text)?;
    let old_engine = yml.engine().map(str::to_owned);
    let engine = old_engine.as_deref().map(|e| {
        RENAMES
            .iter()
            .find(|(old, _)| *old == e)
            .map_or(e, |(_, new)| *new)
            .to_owned()
    });

    // Where each `files:` entry is after the move, relative to the data
    // folder where it lies inside it.
    let new_place = |entry: &str| -> Option<String> {
        let Located::Inside { rel: at, .. } = dir.locate(entry) else {
            return None;
        };
        let at = match moved {
            Some((from, to)) => match at.strip_prefix(from.as_str()) {
                Some(rest) if rest.starts_with('/') => format!("{to}{rest}"),
                _ => at,
            },
            None => at,
        };
        (at != entry).then_some(at)
    };
    let mut edits = Vec::new();
    if inside && let Some((files, _)) = yml.edit_files(new_place)? {
        edits.extend(files);
    }
    if inside
        && let (Some(old), Some(new)) = (&old_engine, &engine)
        && old != new
        && let Some(e) = yml.edit_engine(new)?
    {
        edits.push(e);
    }

    let mut files = yml.files()?;
    if files.is_empty() {
        // `ReadYamlFile`'s stand-in (`engine/config/yaml_config.cc` at
        // 77414c64~1 and v1.0.9): `model.gguf` beside the yml for llama.cpp,
        // the yml's folder otherwise.
        let llama = matches!(engine.as_deref(), Some("llama-cpp" | "cortex.llamacpp"));
        let beside = abs.parent().unwrap_or(dir.root());
        let stand_in = if llama {
            beside.join("model.gguf")
        } else {
            beside.to_path_buf()
        };
        files.push(stand_in.display().to_string());
    }
    let mut weights = Some(0i64);
    for f in &files {
        let p = if Path::new(f).is_absolute() {
            Path::new(f).to_path_buf()
        } else {
            dir.join(f)
        };
        weights = match (weights, std::fs::metadata(&p)) {
            (Some(total), Ok(m)) => Some(total + m.len() as i64),
            _ => None,
        };
    }
    let edit = if edits.is_empty() {
        None
    } else {
        edits.sort_by_key(|e| e.line);
        let text = yml.apply(&edits)?;
        Some(LinesEdited {
            path: slashed(Path::new(rel)),
            text,
            edits,
        })
    };
    Ok(AdoptedYml {
        edit,
        engine,
        weights_bytes: weights,
    })
}
