//! Stored undo: what undoes a step, written down when the step is applied
//! and kept with its history row (column `down_recipe`; a long one in
//! parts, see [`stored`]). A schema step's recipe is the SQL of
//! its `down`; a folder step's is the inverse of each change it made (SQL
//! that puts old values back, moves back, line edits back). A folder step's
//! `down` replays its recipe, and an older binary that does not know the
//! step at all can replay it too.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};

use super::error::MigrateError;
use super::history::STEPS_TABLE;

pub mod stored;
pub use stored::{Recipe, UndoLog};

/// One action of a recipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum UndoOp {
    /// A statement for the backend the step ran on.
    Sql { sql: String },
    /// Move a file or folder (paths relative to the data folder).
    Move { from: String, to: String },
    /// Replace whole lines of a text file (relative path), each only if it
    /// still reads `before`.
    EditLines { path: String, edits: Vec<LineEdit> },
    /// Remove a folder the step created (relative path), only if it is
    /// still empty.
    RemoveEmptyDir { path: String },
    /// Put a text file's earlier content back (a path relative to the data
    /// folder, or the absolute path of the config file), only if the file
    /// still holds exactly what the step wrote (`written`: its SHA-256).
    Replace {
        path: String,
        written: String,
        before: String,
    },
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

impl UndoOp {
    /// One line for `plan` and logs.
    pub fn describe(&self) -> String {
        match self {
            UndoOp::Sql { sql } => format!("sql   {sql}"),
            UndoOp::Move { from, to } => format!("file  move {from} -> {to}"),
            UndoOp::EditLines { path, edits } => {
                format!("file  edit {path} ({} line(s))", edits.len())
            }
            UndoOp::RemoveEmptyDir { path } => format!("file  remove folder {path} if empty"),
            UndoOp::Replace { path, .. } => format!("file  put back the earlier text of {path}"),
        }
    }
}

/// What undoes a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredUndo {
    pub format: u32,
    /// `false`: the step's `down` reads data to decide; there is no recipe,
    /// only the backup taken before the step.
    pub storable: bool,
    pub ops: Vec<UndoOp>,
}

impl StoredUndo {
    pub const FORMAT: u32 = 1;

    pub fn new(ops: Vec<UndoOp>) -> StoredUndo {
        StoredUndo {
            format: Self::FORMAT,
            storable: true,
            ops,
        }
    }

    pub fn not_storable() -> StoredUndo {
        StoredUndo {
            format: Self::FORMAT,
            storable: false,
            ops: Vec::new(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    pub fn from_json(step: &str, text: &str) -> Result<StoredUndo, MigrateError> {
        serde_json::from_str(text).map_err(|e| {
            MigrateError::Refused(format!(
                "the stored down recipe of {step} cannot be read: {e}"
            ))
        })
    }

    /// Whether replaying it touches files (needs the data folder).
    pub fn touches_files(&self) -> bool {
        self.ops.iter().any(|o| !matches!(o, UndoOp::Sql { .. }))
    }
}

/// The recipe stored when `step` was applied, if any.
pub async fn load<C: ConnectionTrait>(
    conn: &C,
    step: &str,
) -> Result<Option<StoredUndo>, MigrateError> {
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
    match text {
        Some(t) => stored::read(conn, step, &t).await.map(Some),
        None => Ok(None),
    }
}

/// Applies line edits to a text; `Err` names the first edit whose line no
/// longer reads what it should (the file was changed since).
pub fn apply_line_edits(text: &str, edits: &[LineEdit]) -> Result<String, String> {
    // Lines borrowed from the text but for the edited ones: an edit of one
    // line in a file of fifty copies one line.
    let mut lines: Vec<std::borrow::Cow<'_, str>> =
        text.split_inclusive('\n').map(Into::into).collect();
    for e in edits {
        let matches = |l: &str| l.trim_end_matches(['\n', '\r']) == e.before;
        let at = if lines.get(e.line).is_some_and(|l| matches(l)) {
            Some(e.line)
        } else {
            let mut found = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| matches(l))
                .map(|(i, _)| i);
            match (found.next(), found.next()) {
                (Some(i), None) => Some(i),
                _ => None,
            }
        };
        let Some(i) = at else {
            // `line` comes from a stored recipe: any number, even the
            // largest.
            return Err(format!(
                "line {} no longer reads `{}`",
                e.line.saturating_add(1),
                e.before
            ));
        };
        let line = &lines[i];
        let ending = &line[line.trim_end_matches(['\n', '\r']).len()..];
        lines[i] = format!("{}{ending}", e.after).into();
    }
    Ok(lines.concat())
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

    #[test]
    fn a_stored_edit_at_the_largest_line_number_is_reported_not_a_panic() {
        // A tampered recipe: the line number overflowed when shown.
        let edits = vec![LineEdit {
            line: usize::MAX,
            before: "engine: a".into(),
            after: "engine: b".into(),
        }];
        let err = apply_line_edits("engine: c\n", &edits).unwrap_err();
        assert_eq!(
            err,
            format!("line {} no longer reads `engine: a`", usize::MAX)
        );
    }
}
