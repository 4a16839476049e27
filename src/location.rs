//! Finding the data folder the way Cortex does: an explicit `--data-dir`,
//! then `CORTEX_DATA_DIR`, then `dataFolderPath` in the `.cortexrc` of the
//! build's variant (stable, beta, nightly), then the default folder
//! (`~/cortexcpp`, `~/cortexcpp-beta`, `~/cortexcpp-nightly`; on Linux also
//! under `$XDG_DATA_HOME`, where newer builds put it).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The environment variable that names the data folder.
pub const DATA_DIR_ENV: &str = migration::toolkit::DATA_DIR_ENV;
/// The environment variable that names the Cortex build variant.
pub const VARIANT_ENV: &str = "CORTEX_VARIANT";

/// The Cortex build whose data to use: each has its own config and folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    #[default]
    Stable,
    Beta,
    Nightly,
}

impl Variant {
    /// `""`, `"-beta"` or `"-nightly"`, as cortex.cpp appends to its names.
    pub fn suffix(self) -> &'static str {
        match self {
            Variant::Stable => "",
            Variant::Beta => "-beta",
            Variant::Nightly => "-nightly",
        }
    }

    /// Reads `CORTEX_VARIANT` (`prod`/`stable`, `beta`, `nightly`).
    pub fn from_env() -> Result<Option<Variant>> {
        match std::env::var(VARIANT_ENV) {
            Err(_) => Ok(None),
            Ok(v) => match v.trim().to_lowercase().as_str() {
                "" => Ok(None),
                "prod" | "stable" => Ok(Some(Variant::Stable)),
                "beta" => Ok(Some(Variant::Beta)),
                "nightly" => Ok(Some(Variant::Nightly)),
                other => Err(Error::Usage(format!(
                    "{VARIANT_ENV}={other} is not a Cortex variant; use stable, beta or nightly"
                ))),
            },
        }
    }
}

/// How the data folder was found.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Source {
    /// `--data-dir`.
    Flag,
    /// `CORTEX_DATA_DIR`.
    Env,
    /// `dataFolderPath` in this `.cortexrc`.
    Cortexrc { path: PathBuf },
    /// The default folder of the variant.
    Default,
}

/// A located data folder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Located {
    pub data_dir: PathBuf,
    pub source: Source,
    /// The `.cortexrc` that applies, if one exists.
    pub cortexrc: Option<PathBuf>,
}

impl Located {
    /// The `.cortexrc` that belongs to the data folder, the one config file
    /// outside it a step may change: the one the folder was found through;
    /// or the variant's, when its `dataFolderPath` names this folder, or
    /// names none and this is the default folder (cortex.cpp's
    /// `GetCortexDataPath` then falls back to the default,
    /// `engine/utils/file_manager_utils.cc` at v1.0.12).
    pub fn config_file(&self) -> Option<PathBuf> {
        if let Source::Cortexrc { path } = &self.source {
            return Some(path.clone());
        }
        let rc = self.cortexrc.as_ref()?;
        match read_cortexrc(rc).ok()?.data_folder_path {
            Some(d) => same_folder(&d, &self.data_dir).then(|| rc.clone()),
            None => (self.source == Source::Default).then(|| rc.clone()),
        }
    }
}

/// Whether two paths name the same folder (symlinks resolved where they
/// exist).
fn same_folder(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// What the search looks at; `from_env` fills it from the process.
#[derive(Debug, Clone, Default)]
pub struct Search {
    pub explicit: Option<PathBuf>,
    /// A config file named explicitly (cortex.cpp's `--config_file_path`,
    /// which Jan passes as `<Jan data folder>/.janrc`): the only candidate.
    pub config_file: Option<PathBuf>,
    pub env: Option<PathBuf>,
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub xdg_data_home: Option<PathBuf>,
    pub variant: Variant,
}

impl Search {
    /// The search as this process sees it.
    pub fn from_env(explicit: Option<PathBuf>, variant: Variant) -> Search {
        let var = |k: &str| {
            std::env::var_os(k)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Search {
            explicit,
            config_file: None,
            env: var(DATA_DIR_ENV),
            home: var("HOME").or_else(|| var("USERPROFILE")),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            xdg_data_home: var("XDG_DATA_HOME"),
            variant,
        }
    }

    /// The `.cortexrc` files that may apply, most specific first.
    pub fn cortexrc_candidates(&self) -> Vec<PathBuf> {
        if let Some(c) = &self.config_file {
            return vec![c.clone()];
        }
        let name = format!(".cortexrc{}", self.variant.suffix());
        let mut out = Vec::new();
        if cfg!(target_os = "linux") {
            let config = self
                .xdg_config_home
                .clone()
                .or_else(|| self.home.as_ref().map(|h| h.join(".config")));
            if let Some(c) = config {
                out.push(c.join("cortexcpp").join(&name));
            }
        }
        if let Some(h) = &self.home {
            out.push(h.join(&name));
        }
        out
    }

    /// The default data folders of the variant, most specific first.
    pub fn default_candidates(&self) -> Vec<PathBuf> {
        let name = format!("cortexcpp{}", self.variant.suffix());
        let mut out = Vec::new();
        if cfg!(target_os = "linux") {
            let data = self
                .xdg_data_home
                .clone()
                .or_else(|| self.home.as_ref().map(|h| h.join(".local/share")));
            if let Some(d) = data {
                out.push(d.join(&name));
            }
        }
        if let Some(h) = &self.home {
            out.push(h.join(&name));
        }
        out
    }

    /// Finds the data folder.
    pub fn locate(&self) -> Result<Located> {
        if let Some(c) = self.config_file.as_ref().filter(|c| !c.is_file()) {
            return Err(Error::Usage(format!(
                "the config file {} does not exist; give the file Cortex was started with \
                 (--config_file_path)",
                c.display()
            )));
        }
        let cortexrc = self.cortexrc_candidates().into_iter().find(|p| p.is_file());
        if let Some(d) = &self.explicit {
            return Ok(Located {
                data_dir: d.clone(),
                source: Source::Flag,
                cortexrc,
            });
        }
        if let Some(d) = &self.env {
            return Ok(Located {
                data_dir: d.clone(),
                source: Source::Env,
                cortexrc,
            });
        }
        if let Some(rc) = &cortexrc
            && let Some(d) = read_cortexrc(rc)?.data_folder_path
        {
            return Ok(Located {
                data_dir: d,
                source: Source::Cortexrc { path: rc.clone() },
                cortexrc,
            });
        }
        let defaults = self.default_candidates();
        let data_dir = defaults
            .iter()
            .find(|p| p.join(crate::connect::DB_FILE).exists())
            .or_else(|| defaults.iter().find(|p| p.is_dir()))
            .or(defaults.last())
            .cloned()
            .ok_or_else(|| {
                Error::Usage(
                    "cannot find the Cortex data folder: no HOME is set; pass --data-dir".into(),
                )
            })?;
        Ok(Located {
            data_dir,
            source: Source::Default,
            cortexrc,
        })
    }
}

/// What cortex-migrate reads from `.cortexrc`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cortexrc {
    pub data_folder_path: Option<PathBuf>,
    pub log_folder_path: Option<PathBuf>,
}

/// Reads a `.cortexrc` (YAML, possibly with a UTF-8 byte order mark, as
/// newer cortex.cpp builds write it).
pub fn read_cortexrc(path: &Path) -> Result<Cortexrc> {
    let bytes = std::fs::read(path).map_err(|e| Error::Config {
        path: path.to_path_buf(),
        reason: format!("cannot read it ({e})"),
    })?;
    parse_cortexrc(path, &bytes)
}

/// Parses the bytes of a `.cortexrc`.
pub fn parse_cortexrc(path: &Path, bytes: &[u8]) -> Result<Cortexrc> {
    let bad = |reason: String| Error::Config {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = bytes
        .strip_prefix(b"\xEF\xBB\xBF".as_slice())
        .unwrap_or(bytes);
    let text =
        std::str::from_utf8(bytes).map_err(|e| bad(format!("it is not UTF-8 text ({e})")))?;
    let value: serde_yaml::Value =
        serde_yaml::from_str(text).map_err(|e| bad(format!("it is not valid YAML ({e})")))?;
    let map = match value {
        serde_yaml::Value::Mapping(m) => m,
        serde_yaml::Value::Null => return Ok(Cortexrc::default()),
        _ => return Err(bad("it is YAML but not a mapping of keys to values".into())),
    };
    let path_key = |key: &str| -> Result<Option<PathBuf>> {
        match map.get(key) {
            None | Some(serde_yaml::Value::Null) => Ok(None),
            Some(serde_yaml::Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(serde_yaml::Value::String(s)) => Ok(Some(PathBuf::from(s))),
            Some(other) => Err(bad(format!(
                "`{key}` should be a path, found {}",
                serde_yaml::to_string(other).unwrap_or_default().trim()
            ))),
        }
    };
    Ok(Cortexrc {
        data_folder_path: path_key("dataFolderPath")?,
        log_folder_path: path_key("logFolderPath")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(home: &Path) -> Search {
        Search {
            home: Some(home.to_path_buf()),
            xdg_config_home: Some(home.join(".config")),
            xdg_data_home: Some(home.join(".local/share")),
            ..Search::default()
        }
    }

    #[test]
    fn explicit_flag_wins() {
        let t = tempfile::tempdir().unwrap();
        let mut s = search(t.path());
        s.explicit = Some(t.path().join("x"));
        s.env = Some(t.path().join("y"));
        assert_eq!(s.locate().unwrap().source, Source::Flag);
    }

    #[test]
    fn cortexrc_in_home_gives_the_folder_and_handles_bom() {
        let t = tempfile::tempdir().unwrap();
        let data = t.path().join("elsewhere/cortexcpp");
        std::fs::write(
            t.path().join(".cortexrc-nightly"),
            format!(
                "\u{feff}logFolderPath: /l\ndataFolderPath: {}\napiServerPort: \"39281\"\n",
                data.display()
            ),
        )
        .unwrap();
        let mut s = search(t.path());
        s.variant = Variant::Nightly;
        let l = s.locate().unwrap();
        assert_eq!(l.data_dir, data);
        assert!(matches!(l.source, Source::Cortexrc { .. }));
        s.variant = Variant::Stable;
        assert_eq!(s.locate().unwrap().source, Source::Default);
    }

    #[test]
    fn malformed_cortexrc_names_the_file() {
        let t = tempfile::tempdir().unwrap();
        let rc = t.path().join(".cortexrc");
        std::fs::write(&rc, "dataFolderPath: [unclosed\n").unwrap();
        let err = search(t.path()).locate().unwrap_err();
        assert!(err.to_string().contains(".cortexrc"), "{err}");
        assert!(err.to_string().contains("not valid YAML"), "{err}");
        std::fs::write(&rc, "dataFolderPath: 42\n").unwrap();
        let err = search(t.path()).locate().unwrap_err();
        assert!(err.to_string().contains("should be a path"), "{err}");
    }

    #[test]
    fn default_prefers_a_folder_with_a_database() {
        let t = tempfile::tempdir().unwrap();
        let legacy = t.path().join("cortexcpp-beta");
        std::fs::create_dir_all(&legacy).unwrap();
        std::fs::write(legacy.join("cortex.db"), b"").unwrap();
        let mut s = search(t.path());
        s.variant = Variant::Beta;
        assert_eq!(s.locate().unwrap().data_dir, legacy);
    }
}
