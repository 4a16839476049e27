//! `models/model.list` as `modellist_utils::ModelListUtils`
//! (`engine/utils/modellist_utils.cc`, b8078af0 to 08b8841e^1) keeps it: one
//! model a line, six fields split by single spaces, `std::endl` after each,
//! the whole file rewritten on every change.

use std::path::{Path, PathBuf};

/// One line: `ModelEntry`'s fields in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub model_id: String,
    pub author_repo_id: String,
    pub branch_name: String,
    pub path_to_model_yaml: String,
    pub model_alias: String,
    /// `READY` or `RUNNING`; `AddModelEntry` always writes `READY`.
    pub status: String,
}

impl Entry {
    /// The line `SaveModelList` writes, without its newline.
    pub fn line(&self) -> String {
        [
            &self.model_id,
            &self.author_repo_id,
            &self.branch_name,
            &self.path_to_model_yaml,
            &self.model_alias,
            &self.status,
        ]
        .map(String::as_str)
        .join(" ")
    }
}

/// `kModelListPath`: `GetModelsContainerPath() / "model.list"`.
pub fn path(data: &Path) -> PathBuf {
    data.join("models").join("model.list")
}

/// `LoadModelList`: creates an empty file if there is none; lines that do
/// not split into six fields are skipped (and dropped at the next save).
pub fn load(data: &Path) -> Vec<Entry> {
    let path = path(data);
    if !path.exists() {
        super::hub::write(&path, b"");
        return vec![];
    }
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let [id, author, branch, yml, alias, status, ..] = f[..] else {
                return None;
            };
            // `status_str == "RUNNING" ? RUNNING : READY`
            let status = if status == "RUNNING" {
                "RUNNING"
            } else {
                "READY"
            };
            Some(Entry {
                model_id: id.to_owned(),
                author_repo_id: author.to_owned(),
                branch_name: branch.to_owned(),
                path_to_model_yaml: yml.to_owned(),
                model_alias: alias.to_owned(),
                status: status.to_owned(),
            })
        })
        .collect()
}

/// `IsUnique`: neither the id nor the alias is any entry's id or alias.
fn is_unique(entries: &[Entry], model_id: &str, alias: &str) -> bool {
    !entries.iter().any(|e| {
        e.model_id == model_id
            || e.model_alias == model_id
            || e.model_id == alias
            || e.model_alias == alias
    })
}

/// `AddModelEntry`: refuses an id or alias already listed (the fixture
/// panics where cortex.cpp printed "already exists"), shortens the alias
/// if asked, writes every entry back. Returns the entry as written.
pub fn add(data: &Path, mut entry: Entry, use_short_alias: bool) -> Entry {
    let mut entries = load(data);
    assert!(
        is_unique(&entries, &entry.model_id, &entry.model_alias),
        "model.list already has {} or {}: cortex.cpp would refuse it",
        entry.model_id,
        entry.model_alias
    );
    if use_short_alias {
        entry.model_alias = shortened_alias(&entry.model_id, &entries);
    }
    entry.status = "READY".to_owned();
    entries.push(entry.clone());
    let text: String = entries.iter().map(|e| e.line() + "\n").collect();
    super::hub::write(&path(data), text.as_bytes());
    entry
}

/// `GenerateShortenedAlias`: the first unique of the lowercased file stem,
/// `repo:stem`, `author:repo/stem` and `host:author/repo/stem`, else the
/// last of them with `-1`, `-2`, ...
pub fn shortened_alias(model_id: &str, entries: &[Entry]) -> String {
    let parts: Vec<&str> = model_id.split('/').collect();
    let last = parts[parts.len() - 1];
    let stem = last
        .rsplit_once('.')
        .map_or(last, |(s, _)| s)
        .to_lowercase();
    let n = parts.len();
    let mut candidates = vec![stem.clone()];
    if n >= 2 {
        candidates.push(format!("{}:{stem}", parts[n - 2]));
    }
    if n >= 3 {
        candidates.push(format!("{}:{}/{stem}", parts[n - 3], parts[n - 2]));
    }
    if n >= 4 {
        candidates.push(format!("{}:{}/{}/{stem}", parts[0], parts[1], parts[n - 2]));
    }
    if let Some(c) = candidates.iter().find(|c| is_unique(entries, model_id, c)) {
        return c.clone();
    }
    let base = candidates.last().expect("at least the stem").clone();
    (1..)
        .map(|i| format!("{base}-{i}"))
        .find(|c| is_unique(entries, model_id, c))
        .expect("some suffix is free")
}
