//! The data folder and the rule that keeps the migrator inside it: every path
//! read from the database, a `model.yml` or `.cortexrc` is classified here
//! before anything touches it (`..` that climbs out, absolute paths
//! elsewhere and symlinks that lead out are never followed for writing).

use std::path::{Component, Path, PathBuf};

use super::error::{MigrateError, Result};

/// Name of the folder, inside the data folder, that holds the migrator's own
/// state: the journal, the trash of a running step, the lock and backups.
pub const STATE_DIR: &str = ".cortex-migrate";

/// A Cortex data folder (`~/cortexcpp` and its variants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDir {
    /// The folder as it was given (made absolute, not resolved).
    root: PathBuf,
    /// The same folder with every symlink resolved.
    canonical: PathBuf,
}

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
        Ok(DataDir { root, canonical })
    }

    /// The data folder as given.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The data folder with symlinks resolved.
    pub fn canonical(&self) -> &Path {
        &self.canonical
    }

    /// The migrator's own state folder inside the data folder.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(STATE_DIR)
    }

    /// `root/rel` for a relative path the migrator itself chose.
    pub fn join(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Classifies a path as stored by Cortex (absolute or relative to the data
    /// folder). Symlinks along the part of the path that exists must stay
    /// inside the folder.
    pub fn locate(&self, stored: &str) -> Located {
        let given = Path::new(stored);
        let joined = if given.is_absolute() {
            given.to_path_buf()
        } else {
            self.root.join(given)
        };
        let Some(normal) = normalize(&joined) else {
            return Located::Outside {
                path: given.to_path_buf(),
                reason: "it climbs out of the data folder with `..`",
            };
        };
        let rel_path = match normal
            .strip_prefix(&self.root)
            .or_else(|_| normal.strip_prefix(&self.canonical))
        {
            Ok(rel) => rel.to_path_buf(),
            Err(_) => {
                return Located::Outside {
                    path: given.to_path_buf(),
                    reason: if given.is_absolute() {
                        "it is an absolute path outside the data folder"
                    } else {
                        "it climbs out of the data folder with `..`"
                    },
                };
            }
        };
        if rel_path.as_os_str().is_empty() {
            return Located::Outside {
                path: given.to_path_buf(),
                reason: "it is the data folder itself",
            };
        }
        let abs = self.root.join(&rel_path);
        if let Err(reason) = self.check_links(&abs) {
            return Located::Outside {
                path: given.to_path_buf(),
                reason,
            };
        }
        let rel = rel_path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        Located::Inside { abs, rel }
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

    /// Resolves the longest existing prefix of `abs` (every symlink on the
    /// way, and the last component if it exists) and checks it stays inside.
    fn check_links(&self, abs: &Path) -> std::result::Result<(), &'static str> {
        let mut probe = abs.to_path_buf();
        loop {
            match std::fs::symlink_metadata(&probe) {
                Ok(_) => break,
                Err(_) => {
                    if !probe.pop() {
                        return Ok(());
                    }
                }
            }
        }
        match std::fs::canonicalize(&probe) {
            Ok(real) if real.starts_with(&self.canonical) => Ok(()),
            Ok(_) => Err("a symlink on its way leads outside the data folder"),
            Err(e) if super::platform::is_symlink_loop(&e) => Err("it runs into a symlink loop"),
            Err(_) => Err("a symlink on its way is broken or unreadable"),
        }
    }
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
    fn symlink_inside_is_inside() {
        let (_t, d) = dir();
        std::os::unix::fs::symlink(d.root().join("models/a"), d.root().join("models/b")).unwrap();
        assert!(matches!(
            d.locate("models/b/x.gguf"),
            Located::Inside { .. }
        ));
    }
}
