//! Reading and editing `model.yml` files the way a careful person would:
//! values are read with a YAML parser, but changes are made to the lines
//! that hold them, so comments, key order, quoting and everything else in
//! the file stay byte for byte. Every edit is checked by parsing the result
//! again; anything that cannot be edited that way is reported, not forced.

use std::sync::OnceLock;

use serde_yaml::Value;

use super::plain_yml;
use crate::toolkit::{LineEdit, apply_line_edits};

/// A parsed `model.yml`, with its text.
///
/// A file in the shape cortex.cpp writes ([`plain_yml`]) is parsed only
/// when something asks for more than its plain `engine:` name: the engine
/// renames read and edit that one line in thousands of files.
#[derive(Debug, Clone)]
pub struct ModelYml {
    text: String,
    value: OnceLock<Result<Value, String>>,
    /// For a file in cortex.cpp's shape, its `engine:` as far as the shape
    /// tells it: `Some(None)` for no such key, `None` for ask the parser.
    plain_engine: Option<Option<String>>,
}

impl ModelYml {
    /// Parses the text; `Err` says why it is not a usable `model.yml`.
    pub fn parse(text: &str) -> Result<ModelYml, String> {
        ModelYml::parse_owned(text.to_owned())
    }

    /// [`ModelYml::parse`] of a text read for it, kept without a copy.
    pub fn parse_owned(text: String) -> Result<ModelYml, String> {
        if let Some(entries) = plain_yml::entries(&text) {
            let plain_engine =
                plain_yml::plain_name(&entries, "engine").map(|e| e.map(str::to_owned));
            return Ok(ModelYml {
                text,
                value: OnceLock::new(),
                plain_engine,
            });
        }
        let value = parse_mapping(&text)?;
        Ok(ModelYml {
            text,
            value: OnceLock::from(Ok(value)),
            plain_engine: None,
        })
    }

    /// The parsed document. A file in cortex.cpp's shape is parsed here,
    /// the first time it is asked for (the shape makes it a mapping).
    fn value(&self) -> Result<&Value, String> {
        self.value
            .get_or_init(|| parse_mapping(&self.text))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The `files:` entries (empty if there is no such key).
    pub fn files(&self) -> Result<Vec<String>, String> {
        files_of(self.value()?)
    }

    /// The `files:` entries read straight from the lines, without parsing
    /// the whole document, for the plain block list cortex.cpp writes;
    /// `None` for anything less plain (the caller then parses).
    pub fn quick_files(text: &str) -> Option<Vec<String>> {
        let lines: Vec<&str> = text.lines().collect();
        let Some(start) = lines.iter().position(|l| key_of(l) == Some("files")) else {
            return Some(Vec::new());
        };
        let value = value_part(lines[start]);
        if !value.is_empty() && !value.starts_with('#') {
            return None;
        }
        let mut out = Vec::new();
        for line in lines.iter().skip(start + 1) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if !trimmed.starts_with("- ") {
                if line.starts_with(char::is_whitespace) || trimmed.starts_with('-') {
                    return None;
                }
                break;
            }
            let (scalar, _) = split_scalar(trimmed[2..].trim_start());
            let plain = !scalar.is_empty()
                && !scalar
                    .starts_with(['"', '\'', '[', '{', '|', '>', '&', '*', '!', '%', '@', '`'])
                && !scalar.contains(": ");
            if plain {
                out.push(scalar.to_owned());
            } else {
                out.push(unquote(scalar)?);
            }
        }
        Some(out)
    }

    /// The `engine:` value, if it is a string.
    pub fn engine(&self) -> Option<&str> {
        if let Some(known) = &self.plain_engine {
            return known.as_deref();
        }
        self.value().ok()?.get("engine").and_then(Value::as_str)
    }

    /// Line edits that change each `files:` entry for which `f` returns a new
    /// value, with the text they give; `None` when nothing changes. Only
    /// block-style lists (`files:` then `- path` lines, as cortex.cpp writes
    /// them) are edited.
    pub fn edit_files(
        &self,
        f: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<(Vec<LineEdit>, String)>, String> {
        let lines: Vec<&str> = self.text.lines().collect();
        let Some(start) = lines.iter().position(|l| key_of(l) == Some("files")) else {
            return Ok(None);
        };
        let value = value_part(lines[start]);
        if !value.is_empty() && !value.starts_with('#') {
            return Err("`files:` is not a block list; left as it was".into());
        }
        let mut edits = Vec::new();
        for (i, line) in lines.iter().enumerate().skip(start + 1) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if !trimmed.starts_with('-') {
                if line.starts_with(char::is_whitespace) {
                    continue;
                }
                break;
            }
            let indent = line.len() - trimmed.len();
            let after_dash = &trimmed[1..];
            let gap = after_dash.len() - after_dash.trim_start().len();
            let (scalar, rest) = split_scalar(after_dash.trim_start());
            let Some(current) = unquote(scalar) else {
                continue;
            };
            if let Some(new) = f(&current) {
                let quoted = requote(scalar, &new);
                let after = format!(
                    "{}-{}{}{}",
                    &line[..indent],
                    &after_dash[..gap],
                    quoted,
                    rest
                );
                edits.push(LineEdit {
                    line: i,
                    before: (*line).to_owned(),
                    after,
                });
            }
        }
        let expected: Vec<String> = self
            .files()?
            .iter()
            .map(|e| f(e).unwrap_or_else(|| e.clone()))
            .collect();
        if edits.is_empty() {
            return Ok(None);
        }
        let text = self.check(&edits, |v| {
            let got = files_of(v).ok();
            got.as_ref() == Some(&expected)
        })?;
        Ok(Some((edits, text)))
    }

    /// The line edit that sets the top-level `engine:` to `new`, if it is a
    /// plain one-line value.
    pub fn edit_engine(&self, new: &str) -> Result<Option<LineEdit>, String> {
        if self.engine() == Some(new) {
            return Ok(None);
        }
        let Some((i, line)) = self
            .text
            .lines()
            .enumerate()
            .find(|(_, l)| key_of(l) == Some("engine"))
        else {
            return Ok(None);
        };
        let value = value_part(line);
        let (scalar, rest) = split_scalar(value);
        if !plain_yml::is_plain_name(scalar) && unquote(scalar).is_none() {
            return Err("`engine:` is not a plain value; left as it was".into());
        }
        let prefix = &line[..line.len() - value.len()];
        let edit = LineEdit {
            line: i,
            before: line.to_owned(),
            after: format!("{prefix}{}{rest}", requote(scalar, new)),
        };
        // A plain name for a plain name on a plain `engine:` line cannot
        // change the document's structure: no need to parse it again.
        if !(plain_yml::is_plain_name(scalar) && plain_yml::is_plain_name(new)) {
            self.check(std::slice::from_ref(&edit), |v| {
                v.get("engine").and_then(Value::as_str) == Some(new)
            })?;
        }
        Ok(Some(edit))
    }

    /// Applies `edits` (not none) to the text, parses the result and checks
    /// that only what `ok` looks at changed; returns the new text.
    fn check(&self, edits: &[LineEdit], ok: impl Fn(&Value) -> bool) -> Result<String, String> {
        let new = apply_line_edits(&self.text, edits)?;
        let value: Value = serde_yaml::from_str(&new)
            .map_err(|e| format!("the edit would break the YAML ({e})"))?;
        if !ok(&value) {
            return Err("the edit would not give the intended value; left as it was".into());
        }
        let (Value::Mapping(before), Value::Mapping(after)) = (self.value()?, &value) else {
            return Err("not a YAML mapping".into());
        };
        let changed = before
            .iter()
            .filter(|(k, v)| after.get(*k) != Some(*v))
            .count();
        if changed > 1 || before.len() != after.len() {
            return Err("the edit would change other keys; left as it was".into());
        }
        Ok(new)
    }

    /// The text with `edits` applied.
    pub fn apply(&self, edits: &[LineEdit]) -> Result<String, String> {
        apply_line_edits(&self.text, edits)
    }
}

/// Parses `text` as a YAML mapping.
fn parse_mapping(text: &str) -> Result<Value, String> {
    let value: Value = serde_yaml::from_str(text).map_err(|e| format!("not valid YAML ({e})"))?;
    if !matches!(value, Value::Mapping(_)) {
        return Err("not a YAML mapping".into());
    }
    Ok(value)
}

/// The `files:` entries of a parsed document (empty if there is no such
/// key).
fn files_of(value: &Value) -> Result<Vec<String>, String> {
    match value.get("files") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(format!("a `files:` entry is not a path ({other:?})")),
            })
            .collect(),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(_) => Err("`files:` is neither a list nor a path".into()),
    }
}

/// The key of a top-level `key: value` line.
fn key_of(line: &str) -> Option<&str> {
    if line.starts_with(char::is_whitespace) || line.starts_with('#') || line.starts_with('-') {
        return None;
    }
    let (k, _) = line.split_once(':')?;
    Some(k.trim())
}

/// What follows `key:` on its line (trimmed at the start).
fn value_part(line: &str) -> &str {
    line.split_once(':')
        .map(|(_, v)| v)
        .unwrap_or("")
        .trim_start()
}

/// Splits `scalar  # comment` into the scalar and the rest (spaces and
/// comment kept).
fn split_scalar(s: &str) -> (&str, &str) {
    let bytes = s.as_bytes();
    let quote = match bytes.first() {
        Some(b'"') => Some(b'"'),
        Some(b'\'') => Some(b'\''),
        _ => None,
    };
    if let Some(q) = quote {
        let mut i = 1;
        while i < bytes.len() {
            if bytes[i] == b'\\' && q == b'"' {
                i += 2;
                continue;
            }
            if bytes[i] == q {
                if q == b'\'' && bytes.get(i + 1) == Some(&b'\'') {
                    i += 2;
                    continue;
                }
                return (&s[..=i], &s[i + 1..]);
            }
            i += 1;
        }
        return (s, "");
    }
    let mut end = s.len();
    for (i, c) in s.char_indices() {
        if c == '#' && i > 0 && s[..i].ends_with(char::is_whitespace) {
            end = i;
            break;
        }
    }
    let scalar = s[..end].trim_end();
    (scalar, &s[scalar.len()..])
}

/// The value of a plain or quoted one-line scalar.
fn unquote(scalar: &str) -> Option<String> {
    if scalar.is_empty() || scalar.starts_with(['[', '{', '|', '>', '&', '*', '!']) {
        return None;
    }
    match serde_yaml::from_str::<Value>(scalar) {
        Ok(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// `value` written the way `like` was written (plain, single or double
/// quotes), falling back to double quotes when plain would not read back.
fn requote(like: &str, value: &str) -> String {
    // A plain name reads back as itself without asking the parser.
    let plain_ok = !like.starts_with(['"', '\''])
        && (plain_yml::is_plain_name(value)
            || matches!(serde_yaml::from_str::<Value>(value), Ok(Value::String(ref s)) if s == value)
                && !value.contains(" #")
                && !value.contains(": "));
    if plain_ok {
        return value.to_owned();
    }
    if like.starts_with('\'') && !value.contains('\n') {
        return format!("'{}'", value.replace('\'', "''"));
    }
    serde_json::to_string(value).unwrap_or_else(|_| format!("\"{value}\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    const YML: &str = "# BEGIN GENERAL GGUF METADATA\n\
id: tinyllama # Model ID\n\
name: tinyllama\n\
files:             # Can be relative OR absolute local file path\n  \
- /home/u/cortexcpp/models/cortex.so/tinyllama/1b/model.gguf\n  \
- \"/home/u/cortexcpp/models/x y.gguf\"  # quoted\n\
# END GENERAL GGUF METADATA\n\
engine: cortex.llamacpp # engine to run model\n\
prompt_template: \"<|user|>\\n{prompt}\"\n";

    #[test]
    fn files_entries_are_edited_in_place() {
        let y = ModelYml::parse(YML).unwrap();
        let (edits, new) = y
            .edit_files(|p| p.strip_prefix("/home/u/cortexcpp/").map(str::to_owned))
            .unwrap()
            .unwrap();
        assert_eq!(edits.len(), 2);
        assert_eq!(y.apply(&edits).unwrap(), new);
        assert!(
            new.contains("  - models/cortex.so/tinyllama/1b/model.gguf\n"),
            "{new}"
        );
        assert!(new.contains("  - \"models/x y.gguf\"  # quoted\n"), "{new}");
        assert!(
            new.contains("files:             # Can be relative"),
            "{new}"
        );
        assert_eq!(new.len(), YML.len() - 2 * "/home/u/cortexcpp/".len());
    }

    #[test]
    fn engine_is_edited_keeping_the_comment() {
        let y = ModelYml::parse(YML).unwrap();
        let e = y.edit_engine("llama-cpp").unwrap().unwrap();
        assert_eq!(e.after, "engine: llama-cpp # engine to run model");
        assert!(y.edit_engine("cortex.llamacpp").unwrap().is_none());
    }

    #[test]
    fn quick_files_agree_with_the_parser_or_step_aside() {
        let y = ModelYml::parse(YML).unwrap();
        assert_eq!(ModelYml::quick_files(YML), Some(y.files().unwrap()));
        assert_eq!(ModelYml::quick_files("files: [a]\n"), None);
        assert_eq!(ModelYml::quick_files("files:\n  - [unclosed\n"), None);
        assert_eq!(ModelYml::quick_files("id: x\n"), Some(vec![]));
    }

    #[test]
    fn flow_style_files_are_refused() {
        let y = ModelYml::parse("files: [/a/b.gguf]\n").unwrap();
        assert!(y.edit_files(|_| Some("b".into())).is_err());
    }

    #[test]
    fn invalid_yaml_is_reported() {
        assert!(ModelYml::parse("files:\n  - [unclosed\n").is_err());
        assert!(ModelYml::parse("- a\n- b\n").is_err());
    }
}
