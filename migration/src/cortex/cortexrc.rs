//! The server address keys of `.cortexrc`, as the builds before and after
//! cortex.cpp 24166e4f ("chore: update cortexrc fields", 9 Sept 2024) name
//! them, edited line by line (every other byte of the file stays) and
//! checked by parsing.
//!
//! What cortex.cpp reads (`engine/utils/config_yaml_utils.h` and
//! `engine/utils/file_manager_utils.h` at each commit):
//! - builds from 703368b6 (6 Sept 2024) to 24166e4f~1 read `host` and
//!   `port` with `node["k"].as<std::string>()`: a missing key throws
//!   `TypedBadConversion`, which nothing catches, so the build terminates;
//! - from 24166e4f they read `apiServerHost` and `apiServerPort` the same
//!   way and no build reads `host`/`port` again;
//! - from 1d1104e3 (25 Sept 2024, so every release from v1.0.0 to v1.0.12)
//!   `FromYaml` defaults every missing key and rewrites the whole file with
//!   the keys it knows: a file with `host`/`port` only gets the defaults
//!   (`apiServerPort` 3928, 39281 from d67029b6) and the user's own
//!   address is lost, and a rewrite drops `host`/`port`.
//!
//! So going up, a file that has `host`/`port` without their new names gets
//! `apiServerHost`/`apiServerPort` with the same values, appended; going
//! down, the file's bytes come back (the stored undo), and a file a newer
//! build has rewritten since, without `host`/`port`, gets them back from
//! the new keys, so the old build can start.

use serde_yaml::Value;

/// (old key, new key), in the order the lines are appended.
pub const RENAMED: [(&str, &str); 2] = [("host", "apiServerHost"), ("port", "apiServerPort")];

/// The UTF-8 byte order mark cortex.cpp writes from 719de33b.
const BOM: &str = "\u{feff}";

/// The scalar text of a top-level `key:` line (as written: quotes kept).
fn value_text(text: &str, key: &str) -> Option<String> {
    text.trim_start_matches(BOM).lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        if line.starts_with(char::is_whitespace) || k.trim() != key {
            return None;
        }
        let v = without_comment(v.trim());
        (!v.is_empty() && !v.starts_with('#')).then(|| v.to_owned())
    })
}

/// A one-line scalar without the comment that may follow it (quotes kept).
fn without_comment(v: &str) -> &str {
    match v.chars().next() {
        Some(q @ ('"' | '\'')) => v[1..].find(q).map_or(v, |end| &v[..end + 2]),
        _ => v.split(" #").next().unwrap_or(v).trim_end(),
    }
}

fn parse(text: &str) -> Result<serde_yaml::Mapping, String> {
    match serde_yaml::from_str::<Value>(text.trim_start_matches(BOM)) {
        Ok(Value::Mapping(m)) => Ok(m),
        Ok(Value::Null) => Ok(serde_yaml::Mapping::new()),
        Ok(_) => Err("not a YAML mapping".into()),
        Err(e) => Err(format!("not valid YAML ({e})")),
    }
}

/// Appends `key: value` lines after the last line, keeping its ending.
fn append(text: &str, lines: &[(&str, String)]) -> String {
    let block: String = lines
        .iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("\n");
    if text.ends_with('\n') || text.trim_start_matches(BOM).is_empty() {
        format!("{text}{block}\n")
    } else {
        format!("{text}\n{block}")
    }
}

/// Checks that `new` parses, holds every key of `old` with the same value
/// and adds exactly the `(from, to)` keys, each `to` with the value of its
/// `from`.
fn check(old: &str, new: &str, carried: &[(&str, &str)]) -> Result<(), String> {
    let (before, after) = (
        parse(old)?,
        parse(new).map_err(|e| format!("the edit would give {e}"))?,
    );
    for (k, v) in &before {
        if after.get(k) != Some(v) {
            return Err(format!("the edit would change {k:?}"));
        }
    }
    for (from, to) in carried {
        let want = before.get(*from);
        if want.is_none() || after.get(*to) != want {
            return Err(format!(
                "the edit would not set {to} to the value of {from}"
            ));
        }
    }
    if after.len() != before.len() + carried.len() {
        return Err("the edit would change the number of keys".into());
    }
    Ok(())
}

/// Appends `to: <value of from>` for each `(from, to)` pair whose `to` is
/// missing and whose `from` has a value; `None` when no pair needs it.
fn carry(text: &str, pairs: &[(&'static str, &'static str)]) -> Result<Option<String>, String> {
    let map = parse(text)?;
    let mut carried: Vec<(&str, &str)> = Vec::new();
    let mut lines: Vec<(&str, String)> = Vec::new();
    for &(from, to) in pairs {
        if let (false, Some(v)) = (map.contains_key(to), value_text(text, from)) {
            carried.push((from, to));
            lines.push((to, v));
        }
    }
    if carried.is_empty() {
        return Ok(None);
    }
    let new = append(text, &lines);
    check(text, &new, &carried)?;
    Ok(Some(new))
}

/// The text going up: `None` when there is nothing to carry over.
pub fn up(text: &str) -> Result<Option<String>, String> {
    carry(text, &RENAMED)
}

/// Going down, for a file that `up` changed and a newer build has
/// rewritten since (dropping `host`/`port`): the old keys appended from the
/// new ones, so a build before 24166e4f can start. `None` when the old keys
/// are there.
pub fn old_keys_back(text: &str) -> Result<Option<String>, String> {
    carry(text, &RENAMED.map(|(old, new)| (new, old)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What builds 703368b6 to 24166e4f~1 write (no newline at the end).
    const R1: &str = "dataFolderPath: /home/u/cortexcpp\nhost: 127.0.0.1\nport: 3928";

    #[test]
    fn up_carries_host_and_port_over_as_appended_lines() {
        let new = up(R1).unwrap().unwrap();
        assert_eq!(
            new,
            format!("{R1}\napiServerHost: 127.0.0.1\napiServerPort: 3928")
        );
        assert_eq!(up(&new).unwrap(), None, "once is enough");
        let with_newline = format!("{R1}\n");
        assert_eq!(
            up(&with_newline).unwrap().unwrap(),
            format!("{with_newline}apiServerHost: 127.0.0.1\napiServerPort: 3928\n")
        );
    }

    #[test]
    fn a_port_the_user_set_is_theirs() {
        let text = "host: 0.0.0.0\nport: \"8080\" # mine\n";
        let new = up(text).unwrap().unwrap();
        assert!(
            new.ends_with("apiServerHost: 0.0.0.0\napiServerPort: \"8080\"\n"),
            "{new}"
        );
    }

    #[test]
    fn a_file_with_the_new_keys_is_left_alone_going_up() {
        let text = "\u{feff}apiServerHost: 127.0.0.1\napiServerPort: 39281\n";
        assert_eq!(up(text).unwrap(), None);
    }

    #[test]
    fn a_rewrite_by_a_newer_build_gets_the_old_keys_back() {
        let rewritten =
            "logFolderPath: /home/u/cortexcpp\napiServerHost: 127.0.0.1\napiServerPort: 3928";
        let t = old_keys_back(rewritten).unwrap().unwrap();
        assert!(t.ends_with("\nhost: 127.0.0.1\nport: 3928"), "{t}");
        assert_eq!(old_keys_back(&t).unwrap(), None);
    }

    #[test]
    fn broken_yaml_is_reported_not_touched() {
        assert!(up("host: [unclosed").is_err());
        assert!(old_keys_back("host: [unclosed").is_err());
    }
}
