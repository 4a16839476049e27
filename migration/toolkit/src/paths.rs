//! The data folder and the rule that keeps the migrator inside it: every path
//! read from the database, a `model.yml` or `.cortexrc` is classified here
//! before anything touches it (`..` that climbs out, absolute paths
//! elsewhere and symlinks that lead out are never followed for writing).
//!
//! The data folder is what Cortex sees through it: its own top-level
//! folders (`models/`, `engines/`, ...) are inside wherever a symlink puts
//! them (cortex.cpp joins them to the data folder and follows the link:
//! `GetModelsContainerPath()` / `GetEnginesContainerPath()` in
//! `engine/utils/file_manager_utils.cc`, v1.0.9). And a stored absolute
//! path into an earlier place of a moved data folder is healed: when it does
//! not exist but its part from one of those top-level folders on does exist
//! here, it is that file. Stored paths may have been written on Windows
//! (`C:\Users\u\cortexcpp\models\...`); the healing reads both separators.

use std::path::{Component, Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::error::{MigrateError, Result};
use super::platform::{Beneath, OpenFor};

/// cortex.cpp's own folders at the top of the data folder
/// (`engine/utils/file_manager_utils.cc` and `engine/repositories/`, v1.0.9:
/// models, engines, logs, files, threads, assistants).
pub const CORTEX_FOLDERS: [&str; 6] = [
    "models",
    "engines",
    "files",
    "threads",
    "assistants",
    "logs",
];

/// A Cortex data folder (`~/cortexcpp` and its variants).
#[derive(Debug)]
pub struct DataDir {
    /// The folder as it was given (made absolute, not resolved).
    root: PathBuf,
    /// The same folder with every symlink resolved.
    canonical: PathBuf,
    /// Cortex's own top-level folders that are symlinks leading out of the
    /// folder: (name, resolved target). Inside, wherever they lead.
    linked: Vec<(&'static str, PathBuf)>,
    /// The folder below `root` that the last check found free of symlinks
    /// part by part (empty: none yet). A step locates thousands of paths
    /// that share their first folders (`models/cortex.so/<model>/...`);
    /// the parts this one shares are not read again. It lives as long as
    /// this value: a clone starts without it, and every step works on a
    /// clone of its own.
    checked: Mutex<PathBuf>,
    /// Handles on the folder and on the linked folders' targets, opened at
    /// the first [`open_healing`](Self::open_healing); like `checked`, a
    /// clone starts without them.
    beneath: OnceLock<BeneathHandles>,
}

/// The handles [`DataDir::open_healing`] opens paths through.
#[derive(Debug)]
struct BeneathHandles {
    root: Beneath,
    linked: Vec<(&'static str, Beneath)>,
}

impl Clone for DataDir {
    fn clone(&self) -> Self {
        DataDir {
            root: self.root.clone(),
            canonical: self.canonical.clone(),
            linked: self.linked.clone(),
            checked: Mutex::default(),
            beneath: OnceLock::new(),
        }
    }
}

impl PartialEq for DataDir {
    fn eq(&self, other: &Self) -> bool {
        (&self.root, &self.canonical, &self.linked)
            == (&other.root, &other.canonical, &other.linked)
    }
}

impl Eq for DataDir {}

/// Where a stored path points, once checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// Inside the data folder: its absolute form (under the folder as given)
    /// and its form relative to the folder, with `/` separators.
    Inside { abs: PathBuf, rel: String },
    /// Not the migrator's to touch, with the reason.
    Outside { path: PathBuf, reason: &'static str },
}

impl DataDir {
    /// Opens an existing data folder.
    pub fn new(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let root = if path.is_absolute() {
            path.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| MigrateError::io("find the current folder for", path, e))?
                .join(path)
        };
        let root = normalize(&root).unwrap_or(root);
        let meta =
            std::fs::metadata(&root).map_err(|e| MigrateError::io("open data folder", &root, e))?;
        if !meta.is_dir() {
            return Err(MigrateError::Refused(format!(
                "{} is not a folder; give the Cortex data folder (the one that holds cortex.db)",
                root.display()
            )));
        }
        let canonical = std::fs::canonicalize(&root)
            .map_err(|e| MigrateError::io("resolve data folder", &root, e))?;
        let mut linked = Vec::new();
        for name in CORTEX_FOLDERS {
            let top = root.join(name);
            let is_link = std::fs::symlink_metadata(&top).is_ok_and(|m| m.file_type().is_symlink());
            if !is_link {
                continue;
            }
            // A broken link is left to `locate`, which reports it.
            if let Ok(target) = std::fs::canonicalize(&top)
                && !target.starts_with(&canonical)
            {
                linked.push((name, target));
            }
        }
        Ok(DataDir {
            root,
            canonical,
            linked,
            checked: Mutex::default(),
            beneath: OnceLock::new(),
        })
    }

    /// The data folder as given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The data folder with symlinks resolved.
    pub fn canonical(&self) -> &Path {
        &self.canonical
    }

    /// `root/rel` for a relative path the migrator itself chose.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Cortex's top-level folders that a symlink puts elsewhere: (name,
    /// resolved target).
    pub fn linked_folders(&self) -> &[(&'static str, PathBuf)] {
        &self.linked
    }

    /// Classifies a path as stored by Cortex (absolute or relative to the data
    /// folder). Symlinks along the part of the path that exists must stay
    /// inside the folder (or inside a top-level folder a symlink moved). A
    /// moved data folder's old absolute paths are healed (see
    /// [`locate_healing`](Self::locate_healing)).
    pub fn locate(&self, stored: &str) -> Located {
        self.locate_healing(stored).0
    }

    /// [`locate`](Self::locate), and whether the path was healed: an
    /// absolute path that does not exist, into an earlier place of the data
    /// folder, whose part from one of Cortex's top-level folders on exists
    /// here.
    pub fn locate_healing(&self, stored: &str) -> (Located, bool) {
        let located = self.locate_as_stored(stored);
        let outside_absolute = matches!(located, Located::Outside { .. })
            && looks_absolute(stored)
            && std::fs::symlink_metadata(stored).is_err();
        if outside_absolute && let Some(tail) = self.heal(stored) {
            return (self.locate_as_stored(&tail), true);
        }
        (located, false)
    }

    /// The part of `stored` from one of Cortex's top-level folders on, as a
    /// relative path with `/`, when that file exists in this data folder.
    /// The first such folder name wins (the longest tail).
    fn heal(&self, stored: &str) -> Option<String> {
        let parts = split_any(stored);
        if parts.iter().any(|p| *p == ".." || *p == ".") {
            return None;
        }
        (0..parts.len())
            .filter(|&i| CORTEX_FOLDERS.contains(&parts[i]) && i + 1 < parts.len())
            .map(|i| parts[i..].join("/"))
            .find(|tail| std::fs::symlink_metadata(self.root.join(tail)).is_ok())
    }

    fn locate_as_stored(&self, stored: &str) -> Located {
        let (abs, rel_path) = match self.place(stored) {
            Ok(placed) => placed,
            Err(outside) => return outside,
        };
        if let Err(reason) = self.check_links(&abs) {
            return Located::Outside {
                path: PathBuf::from(stored),
                reason,
            };
        }
        Located::Inside {
            abs,
            rel: slashed(&rel_path),
        }
    }

    /// Where `stored` falls by its text alone, nothing read from disk: its
    /// absolute form under the folder as given and its form relative to
    /// the folder, or why it is outside. Symlinks are still to be checked.
    fn place(&self, stored: &str) -> std::result::Result<(PathBuf, PathBuf), Located> {
        let given = Path::new(stored);
        let outside = |reason| Located::Outside {
            path: given.to_path_buf(),
            reason,
        };
        if looks_absolute(stored) && !given.is_absolute() {
            return Err(outside("it is an absolute path in another platform's form"));
        }
        let joined = if given.is_absolute() {
            given.to_path_buf()
        } else {
            self.root.join(given)
        };
        let Some(normal) = normalize(&joined) else {
            return Err(outside("it climbs out of the data folder with `..`"));
        };
        let in_linked = || {
            self.linked.iter().find_map(|(name, target)| {
                normal
                    .strip_prefix(target)
                    .ok()
                    .map(|tail| Path::new(name).join(tail))
            })
        };
        let Some(rel_path) = normal
            .strip_prefix(&self.root)
            .or_else(|_| normal.strip_prefix(&self.canonical))
            .map(Path::to_path_buf)
            .ok()
            .or_else(in_linked)
        else {
            return Err(outside(if given.is_absolute() {
                "it is an absolute path outside the data folder"
            } else {
                "it climbs out of the data folder with `..`"
            }));
        };
        if rel_path.as_os_str().is_empty() {
            return Err(outside("it is the data folder itself"));
        }
        Ok((self.root.join(&rel_path), rel_path))
    }

    /// [`locate_healing`](Self::locate_healing), and the file opened for
    /// `purpose` when the platform could open it below the data folder (or
    /// below the target of a linked top-level folder) in one call that
    /// refuses any symlink on the way ([`platform::Beneath`]): such a path
    /// is inside by the rule [`locate`](Self::locate) applies part by part,
    /// which it is left to wherever the fast open says no. A step reading
    /// every model's `model.yml` so makes one call a file where checking
    /// each folder of the path first makes several.
    ///
    /// [`platform::Beneath`]: super::platform::Beneath
    pub fn open_healing(
        &self,
        stored: &str,
        purpose: OpenFor,
    ) -> (Located, bool, Option<std::fs::File>) {
        if let Ok((abs, rel_path)) = self.place(stored)
            && let Some(file) = self.open_beneath(&rel_path, purpose)
        {
            let rel = slashed(&rel_path);
            return (Located::Inside { abs, rel }, false, Some(file));
        }
        let (located, healed) = self.locate_healing(stored);
        (located, healed, None)
    }

    /// Opens `rel_path` below the folder, or below the target of the
    /// linked top-level folder it starts with, refusing any symlink on
    /// the way; `None` when not opened so.
    fn open_beneath(&self, rel_path: &Path, purpose: OpenFor) -> Option<std::fs::File> {
        let handles = self.beneath.get_or_init(|| BeneathHandles {
            root: Beneath::new(&self.root),
            linked: self
                .linked
                .iter()
                .map(|(name, target)| (*name, Beneath::new(target)))
                .collect(),
        });
        let mut parts = rel_path.components();
        match parts.next() {
            Some(Component::Normal(first)) => {
                match handles.linked.iter().find(|(name, _)| first == *name) {
                    Some((_, target)) => target.open(parts.as_path(), purpose),
                    None => handles.root.open(rel_path, purpose),
                }
            }
            _ => None,
        }
    }

    /// Like [`locate`](Self::locate) but for a path the migrator is about to
    /// change: anything outside is an error.
    pub fn require_inside(&self, path: &Path) -> Result<PathBuf> {
        match self.locate(&path.to_string_lossy()) {
            Located::Inside { abs, .. } => Ok(abs),
            Located::Outside { path, .. } => Err(MigrateError::OutsideDataFolder {
                path,
                root: self.root.clone(),
            }),
        }
    }

    /// Whether `path` (existing, with `meta` its own metadata, not
    /// followed) is the data folder as given followed by plain names none
    /// of which is a symlink. `false` when unsure. Folders the last check
    /// found so (`checked`) are not read again.
    fn no_link_below_root(&self, path: &Path, meta: &std::fs::Metadata) -> bool {
        if meta.file_type().is_symlink() {
            return false;
        }
        let Ok(rel) = path.strip_prefix(&self.root) else {
            return false;
        };
        let mut checked = self
            .checked
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut parts = rel.components().peekable();
        let mut at = self.root.clone();
        while let Some(c) = parts.next() {
            let Component::Normal(name) = c else {
                return false;
            };
            at.push(name);
            // The last part is `path` itself, read by the caller.
            if parts.peek().is_none() || checked.starts_with(&at) {
                continue;
            }
            match std::fs::symlink_metadata(&at) {
                Ok(m) if !m.file_type().is_symlink() => {}
                _ => return false,
            }
        }
        let deepest = if meta.is_dir() { Some(path) } else { path.parent() };
        if let Some(folder) = deepest {
            folder.clone_into(&mut checked);
        }
        true
    }

    /// Resolves the longest existing prefix of `abs` (every symlink on the
    /// way, and the last component if it exists) and checks it stays inside.
    fn check_links(&self, abs: &Path) -> std::result::Result<(), &'static str> {
        let mut probe = abs.to_path_buf();
        let meta = loop {
            match std::fs::symlink_metadata(&probe) {
                Ok(m) => break m,
                Err(_) => {
                    if !probe.pop() {
                        return Ok(());
                    }
                }
            }
        };
        // The common case, cheaply: below the folder as given, no part of
        // the path is a symlink, so it resolves to the resolved folder
        // followed by the same parts: inside. (`canonicalize` would read
        // every part of the path from `/`, thousands of times a step.)
        if self.no_link_below_root(&probe, &meta) {
            return Ok(());
        }
        match std::fs::canonicalize(&probe) {
            Ok(real) if real.starts_with(&self.canonical) => Ok(()),
            Ok(real) if self.linked.iter().any(|(_, t)| real.starts_with(t)) => Ok(()),
            Ok(_) => Err("a symlink on its way leads outside the data folder"),
            Err(e) if super::platform::is_symlink_loop(&e) => Err("it runs into a symlink loop"),
            Err(_) => Err("a symlink on its way is broken or unreadable"),
        }
    }
}

/// 128 bits of a relative path's SHA-256: what stands for the path where
/// a record of every path of a run over thousands of models would not fit
/// in memory (the name of a backup's kept file, a step's set of files
/// looked at). Two paths that share 128 bits are not to be met.
pub fn path_key(rel: &str) -> u128 {
    use sha2::Digest;
    let h = sha2::Sha256::digest(rel.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    u128::from_le_bytes(b)
}

/// Whether a stored path is absolute on any platform Cortex runs on: `/x`,
/// `\\server\share`, `\x` or `C:\x` / `C:/x` (a path written on Windows
/// and read here, or the other way round).
pub fn looks_absolute(stored: &str) -> bool {
    let b = stored.as_bytes();
    Path::new(stored).is_absolute()
        || b.first().is_some_and(|c| *c == b'/' || *c == b'\\')
        || (b.len() >= 3
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && (b[2] == b'\\' || b[2] == b'/'))
}

/// The names in a stored path, split at `/` and `\` alike (a drive or root
/// is dropped); empty names are skipped.
fn split_any(stored: &str) -> Vec<&str> {
    stored
        .split(['/', '\\'])
        .filter(|p| !(p.is_empty() || (p.len() == 2 && p.ends_with(':'))))
        .collect()
}

/// A relative path with `/` between its parts, whatever the platform's
/// separator.
fn slashed(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Lexical normalization: drops `.`, applies `..`; `None` if `..` would climb
/// above the root of the path.
pub fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    let mut depth = 0usize;
    for comp in path.components() {
        match comp {
            Component::Prefix(p) => out.push(p.as_os_str()),
            Component::RootDir => out.push(Component::RootDir.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return None;
                }
                out.pop();
                depth -= 1;
            }
            Component::Normal(c) => {
                out.push(c);
                depth += 1;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> (tempfile::TempDir, DataDir) {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("data/models/a")).unwrap();
        let d = DataDir::new(t.path().join("data")).unwrap();
        (t, d)
    }

    #[test]
    fn relative_inside_is_inside() {
        let (_t, d) = dir();
        match d.locate("models/a/model.yml") {
            Located::Inside { rel, abs } => {
                assert_eq!(rel, "models/a/model.yml");
                assert_eq!(abs, d.root().join("models/a/model.yml"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn absolute_inside_becomes_relative() {
        let (_t, d) = dir();
        let p = d.root().join("models/a/model.yml");
        assert!(
            matches!(d.locate(&p.to_string_lossy()), Located::Inside { rel, .. } if rel == "models/a/model.yml")
        );
    }

    #[test]
    fn dotdot_out_is_outside() {
        let (_t, d) = dir();
        assert!(matches!(d.locate("../etc/passwd"), Located::Outside { .. }));
        assert!(matches!(
            d.locate("models/../../x"),
            Located::Outside { .. }
        ));
        assert!(
            matches!(d.locate("models/../models/a"), Located::Inside { rel, .. } if rel == "models/a")
        );
    }

    #[test]
    fn absolute_elsewhere_is_outside() {
        let (_t, d) = dir();
        assert!(matches!(d.locate("/etc/passwd"), Located::Outside { .. }));
    }

    #[cfg(unix)]
    #[test]
    fn symlink_out_is_outside_and_loop_is_reported() {
        let (t, d) = dir();
        let outside = t.path().join("elsewhere");
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, d.root().join("models/link")).unwrap();
        assert!(matches!(
            d.locate("models/link/model.yml"),
            Located::Outside { .. }
        ));
        std::os::unix::fs::symlink(d.root().join("models/loop2"), d.root().join("models/loop1"))
            .unwrap();
        std::os::unix::fs::symlink(d.root().join("models/loop1"), d.root().join("models/loop2"))
            .unwrap();
        assert!(
            matches!(d.locate("models/loop1/x"), Located::Outside { reason, .. } if reason.contains("loop"))
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_folder_checked_before_does_not_hide_a_link_beside_it_or_from_a_clone() {
        let (t, d) = dir();
        std::fs::create_dir_all(d.root().join("models/a/b")).unwrap();
        std::fs::write(d.root().join("models/a/b/model.yml"), "").unwrap();
        assert!(matches!(
            d.locate("models/a/b/model.yml"),
            Located::Inside { .. }
        ));
        let outside = t.path().join("elsewhere");
        std::fs::create_dir_all(outside.join("x")).unwrap();
        std::os::unix::fs::symlink(&outside, d.root().join("models/a/link")).unwrap();
        assert!(matches!(
            d.locate("models/a/link/x/model.yml"),
            Located::Outside { .. }
        ));
        // The checked folder replaced by a link: a clone (what the next
        // step works on) reads every part again.
        std::fs::rename(d.root().join("models/a/b"), t.path().join("moved")).unwrap();
        std::os::unix::fs::symlink(&outside, d.root().join("models/a/b")).unwrap();
        assert!(matches!(
            d.clone().locate("models/a/b/x/model.yml"),
            Located::Outside { .. }
        ));
    }

    /// `open_healing` places every path where `locate_healing` does; it
    /// hands back a file only for a path with no symlink below the folder
    /// (or below a linked top-level folder's target), and that file is the
    /// one the path names.
    #[cfg(unix)]
    #[test]
    fn a_fast_open_says_yes_only_where_the_part_by_part_check_does() {
        use std::os::unix::fs::symlink;
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("data");
        let elsewhere = t.path().join("elsewhere");
        let outside = t.path().join("outside");
        for d in [
            root.join("models/a/b"),
            root.join("engines"),
            elsewhere.join("x"),
            outside.clone(),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(root.join("models/a/b/model.yml"), "id: plain\n").unwrap();
        std::fs::write(outside.join("model.yml"), "id: outside\n").unwrap();
        std::fs::write(elsewhere.join("x/model.yml"), "id: linked\n").unwrap();
        // Cortex's `files` folder moved elsewhere by a link: inside.
        symlink(&elsewhere, root.join("files")).unwrap();
        // A link inside that stays inside, one that leads out, a link as
        // the file itself.
        symlink(root.join("models/a"), root.join("models/inner")).unwrap();
        symlink(&outside, root.join("models/out")).unwrap();
        symlink(root.join("models/a/b/model.yml"), root.join("models/a/link.yml")).unwrap();
        let d = DataDir::new(&root).unwrap();
        let abs = root.join("models/a/b/model.yml");
        let cases: [(&str, Option<&str>); 9] = [
            ("models/a/b/model.yml", Some("id: plain\n")),
            (abs.to_str().unwrap(), Some("id: plain\n")),
            ("models/a/../a/b/model.yml", Some("id: plain\n")),
            ("files/x/model.yml", Some("id: linked\n")),
            ("models/inner/b/model.yml", None),
            ("models/a/link.yml", None),
            ("models/out/model.yml", None),
            ("models/a/b/missing.yml", None),
            ("../outside/model.yml", None),
        ];
        for (stored, fast) in cases {
            let slow = d.clone().locate_healing(stored);
            let (located, healed, file) = d.open_healing(stored, OpenFor::Read);
            assert_eq!((located, healed), slow, "{stored}");
            // Where the platform has no one-call open, none is made.
            let expected = fast.filter(|_| cfg!(target_os = "linux"));
            let text = file.map(|f| std::io::read_to_string(f).unwrap());
            assert_eq!(text.as_deref(), expected, "{stored}");
        }
        // Opened for its metadata: the file's own, not a link's.
        if let (_, _, Some(f)) = d.open_healing("models/a/b/model.yml", OpenFor::Metadata) {
            assert_eq!(f.metadata().unwrap().len(), "id: plain\n".len() as u64);
        }
    }

    #[test]
    fn an_old_absolute_path_of_a_moved_folder_is_healed() {
        let (_t, d) = dir();
        std::fs::write(d.root().join("models/a/model.yml"), "id: a\n").unwrap();
        let (loc, healed) = d.locate_healing("/home/u/old place/cortexcpp/models/a/model.yml");
        assert!(healed);
        assert!(matches!(loc, Located::Inside { rel, .. } if rel == "models/a/model.yml"));
        // The first top-level name whose tail exists wins.
        let (loc, healed) = d.locate_healing("/srv/models/cortexcpp/models/a/model.yml");
        assert!(healed);
        assert!(matches!(loc, Located::Inside { rel, .. } if rel == "models/a/model.yml"));
    }

    #[test]
    fn windows_written_paths_heal_with_either_separator() {
        let (_t, d) = dir();
        std::fs::write(d.root().join("models/a/model.gguf"), "gguf").unwrap();
        for stored in [
            "C:\\Users\\u\\cortexcpp\\models\\a\\model.gguf",
            "C:/Users/u/cortexcpp/models/a/model.gguf",
            "\\\\server\\share\\cortexcpp\\models\\a\\model.gguf",
        ] {
            assert!(looks_absolute(stored), "{stored}");
            let (loc, healed) = d.locate_healing(stored);
            assert!(healed, "{stored}");
            assert!(
                matches!(&loc, Located::Inside { rel, .. } if rel == "models/a/model.gguf"),
                "{stored}: {loc:?}"
            );
        }
        assert!(!looks_absolute("models\\a\\model.gguf"));
        assert!(!looks_absolute("models/a/model.gguf"));
    }

    #[test]
    fn a_path_that_exists_elsewhere_or_has_no_tail_here_is_not_healed() {
        let (t, d) = dir();
        // An imported model's weights: absolute, outside, and there.
        let gguf = t.path().join("my.gguf");
        std::fs::write(&gguf, "gguf").unwrap();
        let (loc, healed) = d.locate_healing(&gguf.to_string_lossy());
        assert!(!healed);
        assert!(matches!(loc, Located::Outside { .. }));
        // Gone, and no such file here either.
        let (loc, healed) = d.locate_healing("/old/cortexcpp/models/b/model.yml");
        assert!(!healed);
        assert!(matches!(loc, Located::Outside { .. }));
        // `..` in the tail is never healed into.
        let (_, healed) = d.locate_healing("/old/cortexcpp/models/x/../a");
        assert!(!healed);
    }

    #[test]
    fn a_top_level_folder_linked_elsewhere_is_inside() {
        let t = tempfile::tempdir().unwrap();
        let disk = t.path().join("other-disk/models");
        std::fs::create_dir_all(disk.join("cortex.so/x/main")).unwrap();
        std::fs::create_dir_all(t.path().join("data")).unwrap();
        std::os::unix::fs::symlink(&disk, t.path().join("data/models")).unwrap();
        let d = DataDir::new(t.path().join("data")).unwrap();
        assert_eq!(d.linked_folders().len(), 1);
        assert!(matches!(
            d.locate("models/cortex.so/x/main/model.yml"),
            Located::Inside { rel, .. } if rel == "models/cortex.so/x/main/model.yml"
        ));
        // The link target's own absolute path is the same file.
        let through_target = disk.join("cortex.so/x/main/model.yml");
        assert!(matches!(
            d.locate(&through_target.to_string_lossy()),
            Located::Inside { rel, .. } if rel == "models/cortex.so/x/main/model.yml"
        ));
        // A deeper symlink out of the linked folder is still refused.
        let away = t.path().join("away");
        std::fs::create_dir_all(&away).unwrap();
        std::os::unix::fs::symlink(&away, disk.join("cortex.so/x/out")).unwrap();
        assert!(matches!(
            d.locate("models/cortex.so/x/out/model.yml"),
            Located::Outside { .. }
        ));
    }

    #[test]
    fn symlink_inside_is_inside() {
        let (_t, d) = dir();
        std::os::unix::fs::symlink(d.root().join("models/a"), d.root().join("models/b")).unwrap();
        assert!(matches!(
            d.locate("models/b/x.gguf"),
            Located::Inside { .. }
        ));
    }
}
