//! What a power cut may leave, in the manner of the ALICE and CrashMonkey
//! studies: from the tree a kill left and the log the recording door wrote
//! (`CORTEX_MIGRATE_FS_LOG`, one JSON line per change to the disk and per
//! fsync), the changes no fsync had made durable yet, and the trees that
//! losing some of them gives.
//!
//! The model: a file's bytes are durable once that file is fsynced (whole
//! filesystem syncs count for everything); a name (a file created, renamed,
//! linked or removed, a folder made or removed) once its folder is fsynced,
//! both folders for a rename. A change that is not durable may be lost,
//! and then so is every later one on the same names (a rename of a file
//! whose creation is lost cannot have happened); one that a later durable
//! change on the same names depends on is taken as durable. Bytes appended
//! and not fsynced may be lost or torn (kept to a prefix), in order: bytes
//! after a lost or torn write are lost too.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// A change the log shows, with what undoes it.
#[derive(Debug, Clone)]
enum Change {
    /// A name: made, moved or removed.
    Name { names: Vec<PathBuf>, undo: NameUndo },
    /// Bytes appended to file `id`, from length `from` to `to`.
    Write { id: u64, from: u64, to: u64 },
    /// File `id` emptied; `blob` holds what it held.
    Truncate { id: u64, blob: PathBuf },
}

#[derive(Debug, Clone)]
enum NameUndo {
    /// A folder or file made: remove it.
    Remove(PathBuf),
    /// A folder removed (empty): make it again.
    MakeDir(PathBuf),
    /// Something removed: put `blob` back at `path`, with the files it
    /// held.
    PutBack {
        path: PathBuf,
        blob: PathBuf,
        ids: Vec<(PathBuf, u64)>,
    },
    /// A rename: move `to` back to `from`, put `blob` (what `to` held)
    /// back at `to`.
    Rename {
        from: PathBuf,
        to: PathBuf,
        blob: Option<PathBuf>,
        ids: Vec<(PathBuf, u64)>,
    },
}

/// The changes of a log that were not durable when it ends.
pub struct Pending {
    changes: Vec<Change>,
    /// Where each file is at the end of the log.
    ids: HashMap<PathBuf, u64>,
    /// How many changes the log shows, durable or not.
    pub logged: usize,
}

/// Where a file's pending bytes are cut: the index of the first write (or
/// truncate) lost, and whether that write is torn rather than lost.
type ByteCut = (usize, bool);

/// One way a power cut may have gone: which pending names are lost, and
/// where each file's pending bytes are cut.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cut {
    lost_names: BTreeSet<usize>,
    /// Per file id: (index of the first write or truncate lost, torn).
    cut_bytes: BTreeMap<u64, ByteCut>,
}

/// The boundaries a log shows: (number, label), in order.
pub fn boundaries(log: &Path) -> Vec<(u64, String)> {
    lines(log)
        .into_iter()
        .filter(|v| v["op"] == "point")
        .map(|v| {
            (
                v["n"].as_u64().expect("a point's number"),
                v["label"].as_str().expect("a point's label").to_owned(),
            )
        })
        .collect()
}

fn lines(log: &Path) -> Vec<serde_json::Value> {
    lines_until(log, None)
}

/// The log in folder `log` up to boundary `until` (all of it if `None`).
fn lines_until(log: &Path, until: Option<u64>) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(log.join("log"))
        .unwrap_or_else(|e| panic!("reading {}: {e}", log.display()));
    let mut out = Vec::new();
    for l in text.lines() {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("log line {l}: {e}"));
        let end = v["op"] == "point" && until.is_some_and(|n| v["n"].as_u64() == Some(n));
        out.push(v);
        if end {
            break;
        }
    }
    out
}

fn path(v: &serde_json::Value, key: &str) -> PathBuf {
    PathBuf::from(
        v[key]
            .as_str()
            .unwrap_or_else(|| panic!("log line without {key}: {v}")),
    )
}

fn related(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

fn parent(p: &Path) -> PathBuf {
    p.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Removes the ids of `p` and everything under it; what they were.
fn take_ids(ids: &mut HashMap<PathBuf, u64>, p: &Path) -> Vec<(PathBuf, u64)> {
    let gone: Vec<(PathBuf, u64)> = ids
        .iter()
        .filter(|(k, _)| k.starts_with(p))
        .map(|(k, v)| (k.clone(), *v))
        .collect();
    for (k, _) in &gone {
        ids.remove(k);
    }
    gone
}

/// Moves the ids under `from` to `to`.
fn move_ids(ids: &mut HashMap<PathBuf, u64>, from: &Path, to: &Path) {
    for (k, v) in take_ids(ids, from) {
        let rest = k.strip_prefix(from).expect("taken from under it");
        ids.insert(to.join(rest), v);
    }
}

impl Pending {
    /// Reads the log in folder `log` (blobs beside it) up to boundary
    /// `until` (all of it if `None`) and keeps the changes that no later
    /// fsync made durable.
    pub fn read(log: &Path, until: Option<u64>) -> Pending {
        Self::read_with(log, until, &mut |_, _| {})
    }

    /// The boundaries of the log in folder `log` at which some change is
    /// not durable yet (a few may turn out durable, once [`read`](Self::read)
    /// takes later changes on the same names into account): one pass over
    /// the log, not one a boundary.
    pub fn boundaries_with_pending(log: &Path) -> BTreeSet<u64> {
        let mut out = BTreeSet::new();
        Self::read_with(log, None, &mut |n, pending| {
            if pending > 0 {
                out.insert(n);
            }
        });
        out
    }

    /// [`read`](Self::read), calling `at_point` with each boundary's
    /// number and how many changes are not durable there.
    fn read_with(log: &Path, until: Option<u64>, at_point: &mut dyn FnMut(u64, usize)) -> Pending {
        let mut ids: HashMap<PathBuf, u64> = HashMap::new();
        let mut next_id = 0u64;
        let mut id_of = |ids: &mut HashMap<PathBuf, u64>, p: &Path| -> u64 {
            *ids.entry(p.to_path_buf()).or_insert_with(|| {
                next_id += 1;
                next_id
            })
        };
        // Each change, with the folders still to be fsynced before it is
        // durable (names) or whether it is (bytes).
        let mut changes: Vec<(Change, BTreeSet<PathBuf>, bool)> = Vec::new();
        let blob = |v: &serde_json::Value| -> Option<PathBuf> {
            v["blob"].as_str().map(|b| log.join("blobs").join(b))
        };
        let mut logged = 0;
        for v in lines_until(log, until) {
            let op = v["op"].as_str().expect("an op").to_owned();
            if op != "point" {
                logged += 1;
            }
            let name = |names: Vec<PathBuf>, undo: NameUndo| {
                let dirs = names.iter().map(|n| parent(n)).collect();
                (Change::Name { names, undo }, dirs, false)
            };
            match op.as_str() {
                "point" => at_point(
                    v["n"].as_u64().expect("a point's number"),
                    changes.iter().filter(|(_, _, durable)| !durable).count(),
                ),
                "mkdir" | "create" => {
                    let p = path(&v, "path");
                    take_ids(&mut ids, &p);
                    if op == "create" {
                        id_of(&mut ids, &p);
                    }
                    changes.push(name(vec![p.clone()], NameUndo::Remove(p)));
                }
                "link" => {
                    let (f, t) = (path(&v, "from"), path(&v, "to"));
                    let id = id_of(&mut ids, &f);
                    ids.insert(t.clone(), id);
                    changes.push(name(vec![t.clone()], NameUndo::Remove(t)));
                }
                "rmdir" => {
                    let p = path(&v, "path");
                    changes.push(name(vec![p.clone()], NameUndo::MakeDir(p)));
                }
                "remove" => {
                    let p = path(&v, "path");
                    let gone = take_ids(&mut ids, &p);
                    let blob = blob(&v).expect("a removal keeps what it removed");
                    changes.push(name(
                        vec![p.clone()],
                        NameUndo::PutBack {
                            path: p,
                            blob,
                            ids: gone,
                        },
                    ));
                }
                "rename" => {
                    let (f, t) = (path(&v, "from"), path(&v, "to"));
                    let replaced = take_ids(&mut ids, &t);
                    move_ids(&mut ids, &f, &t);
                    changes.push(name(
                        vec![f.clone(), t.clone()],
                        NameUndo::Rename {
                            from: f,
                            to: t,
                            blob: blob(&v),
                            ids: replaced,
                        },
                    ));
                }
                "write" => {
                    let id = id_of(&mut ids, &path(&v, "path"));
                    let from = v["from"].as_u64().expect("from");
                    let to = v["to"].as_u64().expect("to");
                    changes.push((Change::Write { id, from, to }, BTreeSet::new(), false));
                }
                "truncate" => {
                    let id = id_of(&mut ids, &path(&v, "path"));
                    let blob = blob(&v).expect("a truncate keeps what it held");
                    changes.push((Change::Truncate { id, blob }, BTreeSet::new(), false));
                }
                "fsync" => {
                    let id = id_of(&mut ids, &path(&v, "path"));
                    for (c, _, durable) in &mut changes {
                        if let Change::Write { id: i, .. } | Change::Truncate { id: i, .. } = c
                            && *i == id
                        {
                            *durable = true;
                        }
                    }
                }
                "fsync_dir" => {
                    let d = path(&v, "path");
                    for (c, dirs, durable) in &mut changes {
                        if matches!(c, Change::Name { .. }) {
                            dirs.remove(&d);
                            *durable |= dirs.is_empty();
                        }
                    }
                }
                "syncfs" => changes.iter_mut().for_each(|(_, _, d)| *d = true),
                other => panic!("unknown op {other} in the log"),
            }
        }
        // A name change that a later durable one on the same names depends
        // on is durable too (newest first, so that chains follow).
        for i in (0..changes.len()).rev() {
            if changes[i].2 {
                continue;
            }
            let Change::Name { names, .. } = &changes[i].0 else {
                continue;
            };
            let forced = changes[i + 1..].iter().any(|(c, _, durable)| {
                *durable
                    && matches!(c, Change::Name { names: later, .. }
                        if later.iter().any(|l| names.iter().any(|n| related(l, n))))
            });
            changes[i].2 = forced;
        }
        let changes = changes
            .into_iter()
            .filter(|(_, _, durable)| !durable)
            .map(|(c, _, _)| c)
            .collect();
        Pending {
            changes,
            ids,
            logged,
        }
    }

    /// How many changes were not durable.
    pub fn len(&self) -> usize {
        self.changes.len()
    }

    /// Every way this power cut may have gone (the one where nothing is
    /// lost, which a kill already tries, left out), when there are at most
    /// `limit`; otherwise `limit` of them: everything lost, then each
    /// change lost alone (in an order drawn from `seed`), then random ones
    /// drawn from `seed`.
    /// Also says whether they are a sample.
    pub fn cuts(&self, limit: usize, seed: u64) -> (Vec<Cut>, bool) {
        // Per file id, where its pending bytes may be cut.
        let mut byte_options: BTreeMap<u64, Vec<Option<ByteCut>>> = BTreeMap::new();
        let mut names = Vec::new();
        for (i, c) in self.changes.iter().enumerate() {
            match c {
                Change::Name { .. } => names.push(i),
                Change::Write { id, from, to } => {
                    let o = byte_options.entry(*id).or_insert_with(|| vec![None]);
                    o.push(Some((i, false)));
                    if to - from >= 2 {
                        o.push(Some((i, true)));
                    }
                }
                Change::Truncate { id, .. } => {
                    byte_options
                        .entry(*id)
                        .or_insert_with(|| vec![None])
                        .push(Some((i, false)));
                }
            }
        }
        let byte_options: Vec<(u64, Vec<Option<ByteCut>>)> = byte_options.into_iter().collect();
        let total = byte_options.iter().try_fold(
            1usize
                .checked_shl(names.len() as u32)
                .filter(|_| names.len() < 32),
            |n, (_, o)| n.map(|n| n.checked_mul(o.len())),
        );
        let total = total.flatten();
        let make = |pick: &mut dyn FnMut(usize) -> usize| -> Cut {
            let lost_names = names
                .iter()
                .copied()
                .filter(|_| pick(2) == 1)
                .collect::<BTreeSet<_>>();
            let cut_bytes = byte_options
                .iter()
                .filter_map(|(id, o)| o[pick(o.len())].map(|c| (*id, c)))
                .collect();
            Cut {
                lost_names,
                cut_bytes,
            }
        };
        let mut out = BTreeSet::new();
        let sampled = total.is_none_or(|t| t > limit);
        match total {
            Some(total) if total <= limit => {
                for k in 0..total {
                    let mut rest = k;
                    out.insert(make(&mut |n| {
                        let d = rest % n;
                        rest /= n;
                        d
                    }));
                }
            }
            _ => {
                // Everything lost, each lost alone, then random ones, up
                // to `limit`.
                let mut sample = vec![make(&mut |n| usize::from(n > 1))];
                for &i in &names {
                    sample.push(Cut {
                        lost_names: [i].into(),
                        cut_bytes: BTreeMap::new(),
                    });
                }
                for (id, o) in &byte_options {
                    for c in o.iter().flatten() {
                        sample.push(Cut {
                            lost_names: BTreeSet::new(),
                            cut_bytes: [(*id, *c)].into(),
                        });
                    }
                }
                let mut rng = SplitMix(seed);
                // The ones alone in a seeded order, so that no change is
                // always left out of the sample.
                for i in (2..sample.len()).rev() {
                    let j = 1 + (rng.next() % i as u64) as usize;
                    sample.swap(i, j);
                }
                for c in sample {
                    if out.len() < limit {
                        out.insert(c);
                    }
                }
                let mut tries = 0;
                while out.len() < limit && tries < limit * 4 {
                    tries += 1;
                    out.insert(make(&mut |n| (rng.next() % n as u64) as usize));
                }
            }
        }
        out.retain(|c| !c.lost_names.is_empty() || !c.cut_bytes.is_empty());
        (out.into_iter().collect(), sampled)
    }

    /// What `cut` loses, in words, for a failure message.
    pub fn describe(&self, cut: &Cut) -> String {
        let mut out = Vec::new();
        for &i in &cut.lost_names {
            if let Change::Name { undo, .. } = &self.changes[i] {
                out.push(match undo {
                    NameUndo::Remove(p) => format!("the new name {}", p.display()),
                    NameUndo::MakeDir(p) => format!("the removal of folder {}", p.display()),
                    NameUndo::PutBack { path, .. } => format!("the removal of {}", path.display()),
                    NameUndo::Rename { from, to, .. } => {
                        format!("the rename {} -> {}", from.display(), to.display())
                    }
                });
            }
        }
        for (id, (at, torn)) in &cut.cut_bytes {
            let path = self
                .ids
                .iter()
                .find(|(_, v)| *v == id)
                .map(|(k, _)| k.display().to_string())
                .unwrap_or_else(|| format!("file #{id} (gone)"));
            out.push(match &self.changes[*at] {
                Change::Write { from, to, .. } => format!(
                    "bytes {from}..{to} of {path}{}",
                    if *torn { " (torn in half)" } else { "" }
                ),
                _ => format!("the truncation of {path}"),
            });
        }
        format!("lost {}", out.join(", "))
    }

    /// Turns the tree the kill left (already copied back in place) into
    /// what `cut` leaves: the lost changes undone, newest first.
    pub fn apply(&self, cut: &Cut) {
        // The lost names, and every later pending one on the same names.
        let mut lost: BTreeSet<usize> = BTreeSet::new();
        for (i, c) in self.changes.iter().enumerate() {
            let Change::Name { names, .. } = c else {
                continue;
            };
            let follows = lost.iter().any(|&j| match &self.changes[j] {
                Change::Name { names: earlier, .. } => {
                    earlier.iter().any(|e| names.iter().any(|n| related(e, n)))
                }
                _ => false,
            });
            if cut.lost_names.contains(&i) || follows {
                lost.insert(i);
            }
        }
        let mut ids = self.ids.clone();
        let where_is = |ids: &HashMap<PathBuf, u64>, id: u64| {
            ids.iter().find(|(_, v)| **v == id).map(|(k, _)| k.clone())
        };
        for (i, c) in self.changes.iter().enumerate().rev() {
            match c {
                Change::Name { undo, .. } if lost.contains(&i) => undo_name(undo, &mut ids),
                Change::Write { id, from, to } => match cut.cut_bytes.get(id) {
                    Some(&(at, torn)) if at == i => {
                        let keep = if torn { from + (to - from) / 2 } else { *from };
                        if let Some(p) = where_is(&ids, *id) {
                            set_len(&p, keep);
                        }
                    }
                    _ => {}
                },
                Change::Truncate { id, blob } => {
                    if cut.cut_bytes.get(id).is_some_and(|&(at, _)| at == i)
                        && let Some(p) = where_is(&ids, *id)
                    {
                        std::fs::copy(blob, &p).expect("putting truncated bytes back");
                    }
                }
                _ => {}
            }
        }
    }
}

fn set_len(p: &Path, len: u64) {
    if let Ok(f) = std::fs::OpenOptions::new().write(true).open(p)
        && f.metadata().map(|m| m.len() > len).unwrap_or(false)
    {
        f.set_len(len).expect("cutting a file short");
    }
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

fn remove(p: &Path) {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).expect("removing a folder"),
        Ok(_) => std::fs::remove_file(p).expect("removing a file"),
        Err(_) => {}
    }
}

fn put_back(blob: &Path, at: &Path) {
    remove(at);
    if exists(&parent(at)) {
        super::copy_tree(blob, at);
    }
}

fn undo_name(undo: &NameUndo, ids: &mut HashMap<PathBuf, u64>) {
    match undo {
        NameUndo::Remove(p) => {
            remove(p);
            take_ids(ids, p);
        }
        NameUndo::MakeDir(p) => {
            if !exists(p) && exists(&parent(p)) {
                std::fs::create_dir(p).expect("making a folder again");
            }
        }
        NameUndo::PutBack { path, blob, ids: i } => {
            put_back(blob, path);
            ids.extend(i.iter().cloned());
        }
        NameUndo::Rename {
            from,
            to,
            blob,
            ids: replaced,
        } => {
            if exists(to) && !exists(from) && exists(&parent(from)) {
                std::fs::rename(to, from).expect("moving back");
                move_ids(ids, to, from);
            }
            if let Some(b) = blob {
                put_back(b, to);
                ids.extend(replaced.iter().cloned());
            }
        }
    }
}

/// Every file and folder under `dir`, the migrator's state included, with
/// its bytes' digest: two trees with the same fingerprint are the same
/// state to start from.
pub fn fingerprint(dir: &Path) -> String {
    fn walk(root: &Path, dir: &Path, h: &mut Sha256) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.expect("an entry").path())
            .collect();
        entries.sort();
        for p in entries {
            h.update(
                p.strip_prefix(root)
                    .expect("under root")
                    .as_os_str()
                    .as_encoded_bytes(),
            );
            let m = std::fs::symlink_metadata(&p).expect("stat");
            if m.file_type().is_symlink() {
                h.update(b"->");
                h.update(
                    std::fs::read_link(&p)
                        .expect("readlink")
                        .as_os_str()
                        .as_encoded_bytes(),
                );
            } else if m.is_dir() {
                h.update(b"/");
                walk(root, &p, h);
            } else {
                h.update(b"=");
                h.update(std::fs::read(&p).expect("read"));
            }
        }
    }
    let mut h = Sha256::new();
    walk(dir, dir, &mut h);
    format!("{:x}", h.finalize())
}

/// A small seeded generator (SplitMix64): the same seed gives the same
/// sample of power cuts.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
