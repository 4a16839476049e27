//! Down recipes: what undoes a step, written down when the step is applied
//! and kept with its bookkeeping row. A schema step's recipe is the SQL of
//! its `down`; a folder step's is the inverse of each change it made (SQL
//! that puts old values back, moves back, line edits back). A folder step's
//! `down` replays its recipe, and an older binary that does not know the
//! step at all can replay it too.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::error::MigrateError;
use super::history::STEPS_TABLE;
use super::step_context::Folder;

/// One action of a recipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum RecipeOp {
    /// A statement for the backend the step ran on.
    Sql { sql: String },
    /// Move a file or folder (paths relative to the data folder).
    Move { from: String, to: String },
    /// Replace whole lines of a text file (relative path), each only if it
    /// still reads `before`.
    EditLines { path: String, edits: Vec<LineEdit> },
}

/// One line of a text file, before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineEdit {
    /// 0-based line number.
    pub line: usize,
    pub before: String,
    pub after: String,
}

impl LineEdit {
    /// The edit that undoes this one.
    pub fn inverse(&self) -> LineEdit {
        LineEdit {
            line: self.line,
            before: self.after.clone(),
            after: self.before.clone(),
        }
    }
}

impl RecipeOp {
    /// One line for `plan` and logs.
    pub fn describe(&self) -> String {
        match self {
            RecipeOp::Sql { sql } => format!("sql   {sql}"),
            RecipeOp::Move { from, to } => format!("file  move {from} -> {to}"),
            RecipeOp::EditLines { path, edits } => {
                format!("file  edit {path} ({} line(s))", edits.len())
            }
        }
    }
}

/// What undoes a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recipe {
    pub format: u32,
    /// `false`: the step's `down` reads data to decide; there is no recipe,
    /// only the backup taken before the step.
    pub storable: bool,
    pub ops: Vec<RecipeOp>,
}

impl Recipe {
    pub const FORMAT: u32 = 1;

    pub fn new(ops: Vec<RecipeOp>) -> Recipe {
        Recipe {
            format: Self::FORMAT,
            storable: true,
            ops,
        }
    }

    pub fn not_storable() -> Recipe {
        Recipe {
            format: Self::FORMAT,
            storable: false,
            ops: Vec::new(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn from_json(step: &str, text: &str) -> Result<Recipe, MigrateError> {
        serde_json::from_str(text).map_err(|e| {
            MigrateError::Refused(format!(
                "the stored down recipe of {step} cannot be read: {e}"
            ))
        })
    }

    /// Whether replaying it touches files (needs the data folder).
    pub fn touches_files(&self) -> bool {
        self.ops.iter().any(|o| !matches!(o, RecipeOp::Sql { .. }))
    }
}

/// The recipe stored when `step` was applied, if any.
pub async fn load<C: ConnectionTrait>(
    conn: &C,
    step: &str,
) -> Result<Option<Recipe>, MigrateError> {
    let q = Query::select()
        .column(Alias::new("down_recipe"))
        .from(Alias::new(STEPS_TABLE))
        .and_where(Expr::col(Alias::new("version")).eq(step))
        .to_owned();
    let row = conn
        .query_one(&q)
        .await
        .map_err(|e| MigrateError::db(format!("reading the down recipe of {step}"), e))?;
    let text: Option<String> = match row {
        Some(r) => r
            .try_get("", "down_recipe")
            .map_err(|e| MigrateError::db(format!("reading the down recipe of {step}"), e))?,
        None => None,
    };
    text.map(|t| Recipe::from_json(step, &t)).transpose()
}

/// Applies line edits to a text; `Err` names the first edit whose line no
/// longer reads what it should (the file was changed since).
pub fn apply_line_edits(text: &str, edits: &[LineEdit]) -> Result<String, String> {
    let mut lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    for e in edits {
        let matches = |l: &String| l.trim_end_matches(['\n', '\r']) == e.before;
        let at = if lines.get(e.line).is_some_and(matches) {
            Some(e.line)
        } else {
            let found: Vec<usize> = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| matches(l))
                .map(|(i, _)| i)
                .collect();
            (found.len() == 1).then(|| found[0])
        };
        let Some(i) = at else {
            return Err(format!(
                "line {} no longer reads `{}`",
                e.line + 1,
                e.before
            ));
        };
        let ending = &lines[i][lines[i].trim_end_matches(['\n', '\r']).len()..];
        lines[i] = format!("{}{ending}", e.after);
    }
    Ok(lines.concat())
}

/// Replays a recipe inside the running step: SQL on the step's connection,
/// file operations through its journal. A file that changed or vanished
/// since the step ran is left alone and noted, never overwritten.
pub async fn replay(manager: &SchemaManager<'_>, step: &str, recipe: &Recipe) -> Result<(), DbErr> {
    if !recipe.storable {
        return Err(MigrateError::Refused(format!(
            "step {step} cannot be undone from a recipe (its down reads data to decide); \
             restore the backup taken before it instead"
        ))
        .into());
    }
    let folder = if recipe.touches_files() {
        Some(Folder::current()?)
    } else {
        None
    };
    let conn = manager.get_connection();
    let mut edits: Vec<(String, Vec<u8>)> = Vec::new();
    for op in &recipe.ops {
        match (op, &folder) {
            (RecipeOp::Sql { sql }, _) => super::schema_ops::exec(conn, sql.clone()).await?,
            (RecipeOp::Move { from, to }, Some(f)) => {
                // Edits gathered so far concern paths before this move.
                if !edits.is_empty() {
                    f.rewrite_many(std::mem::take(&mut edits)).await?;
                }
                let root = f.dir().root();
                if root.join(to).exists() && !root.join(from).exists() {
                    f.note(format!("{to} is already back in place"));
                } else if !root.join(from).exists() {
                    f.note(format!("{from} is gone; it cannot be moved back to {to}"));
                } else {
                    f.move_path(from, to).await?;
                }
            }
            (RecipeOp::EditLines { path, edits: lines }, Some(f)) => {
                let abs = f.dir().root().join(path);
                let Ok(text) = std::fs::read_to_string(&abs) else {
                    f.note(format!(
                        "{path} is gone or unreadable; its lines were not changed back"
                    ));
                    continue;
                };
                match apply_line_edits(&text, lines) {
                    Ok(new) => edits.push((path.clone(), new.into_bytes())),
                    Err(why) => f.note(format!(
                        "{path} changed since the step ran ({why}); left as it is"
                    )),
                }
            }
            (_, None) => {
                return Err(DbErr::Migration(
                    "recipe file operation without a data folder".into(),
                ));
            }
        }
    }
    if let (Some(f), false) = (&folder, edits.is_empty()) {
        f.rewrite_many(edits).await?;
    }
    Ok(())
}

/// The `down` of a folder step: replays what it recorded when it ran.
pub async fn replay_recorded(manager: &SchemaManager<'_>, step: &str) -> Result<(), DbErr> {
    let recipe = load(manager.get_connection(), step).await?.ok_or_else(|| {
        DbErr::from(MigrateError::Refused(format!(
            "step {step} has no recorded recipe to undo it (was it applied without cortex-migrate?)"
        )))
    })?;
    replay(manager, step, &recipe).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_edits_apply_and_invert_keeping_line_endings() {
        let text = "id: x\r\nengine: cortex.llamacpp # engine\r\nfiles:\n  - /a/b\n";
        let edits = vec![
            LineEdit {
                line: 1,
                before: "engine: cortex.llamacpp # engine".into(),
                after: "engine: llama-cpp # engine".into(),
            },
            LineEdit {
                line: 3,
                before: "  - /a/b".into(),
                after: "  - b".into(),
            },
        ];
        let new = apply_line_edits(text, &edits).unwrap();
        assert_eq!(
            new,
            "id: x\r\nengine: llama-cpp # engine\r\nfiles:\n  - b\n"
        );
        let inv: Vec<LineEdit> = edits.iter().map(LineEdit::inverse).collect();
        assert_eq!(apply_line_edits(&new, &inv).unwrap(), text);
    }

    #[test]
    fn a_changed_line_is_reported_not_overwritten() {
        let edits = vec![LineEdit {
            line: 0,
            before: "engine: a".into(),
            after: "engine: b".into(),
        }];
        assert!(apply_line_edits("engine: c\n", &edits).is_err());
        // Moved to another line: found by content.
        assert_eq!(
            apply_line_edits("x: 1\nengine: a\n", &edits).unwrap(),
            "x: 1\nengine: b\n"
        );
    }
}
