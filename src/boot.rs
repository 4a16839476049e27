//! The call a Cortex server (or Jan, which embeds it) makes at every start:
//! recover an interrupted step, take the lock, back up if anything is
//! pending, run the pending steps, verify the schema against the golden
//! snapshot of the last step, release the lock and hand back a ready
//! connection. With the `check` policy (cloud replicas) it never migrates:
//! it fails fast, naming the pending steps.
//!
//! When nothing is pending it costs little more than opening the database:
//! a shared lock, one look for a journal, and one statement reading the
//! schema cookie, the applied steps and their checksums, compared with
//! what was recorded (with this binary's steps) the last time the schema
//! was fully verified.
//!
//! In cortex.cpp it belongs where `main` runs its own `MigrationManager`
//! (`engine/main.cc`), before anything opens `cortex::db::Database` (the
//! hardware rows `RunServer` writes first): while a step runs, a
//! connection of Cortex's own would get `database is locked` at once (it
//! sets no busy timeout), and what it wrote between two steps would miss
//! the steps before (`tests/concurrent_cortex.rs`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use migration::Migrator;
use migration::toolkit::DataDir;
use migration::toolkit::FolderLock;
use migration::toolkit::STEPS_TABLE;
use migration::toolkit::StateDir;
use migration::toolkit::StepList;
use migration::toolkit::{DEFAULT_KEEP_BACKUPS, Options, Report, Runner, Target};
use migration::toolkit::{MigrateError, ProgressSink, replace_durably};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};

use crate::connect::{self, Place};
use crate::error::{Error, Result};
use crate::verify;

/// What a start may do to the data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Migrate what is pending (the embedded default).
    #[default]
    Migrate,
    /// Never migrate: fail, naming the pending steps, if the data is behind
    /// (cloud replicas; the deploy runs `cortex-migrate up`).
    Check,
}

/// What to do with data that a newer binary migrated (steps this one does
/// not know).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NewerData {
    /// Refuse to start, naming the unknown steps and both versions.
    #[default]
    Refuse,
    /// Step the data down to the last step this binary knows, with the
    /// recipes the newer binary stored (archived data is kept).
    StepDown,
}

/// How to start.
#[derive(Clone)]
pub struct Boot {
    pub place: Place,
    pub policy: Policy,
    pub newer_data: NewerData,
    pub progress: ProgressSink,
    pub lock_timeout: Option<Duration>,
    pub keep_backups: usize,
    /// The `.cortexrc` that belongs to the data folder, the one file
    /// outside it a step may change; `locate` fills it.
    pub config_file: Option<PathBuf>,
}

/// A started database.
pub struct Booted {
    pub db: DatabaseConnection,
    /// What was migrated, if anything was.
    pub report: Option<Report>,
}

impl std::fmt::Debug for Booted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Booted")
            .field("report", &self.report)
            .finish()
    }
}

impl Boot {
    /// A Cortex data folder (the one holding `cortex.db`), migrate policy.
    pub fn data_folder(dir: impl Into<PathBuf>) -> Boot {
        Boot::at(Place::Folder(dir.into()))
    }

    /// The data folder found the way Cortex finds it (`CORTEX_DATA_DIR`,
    /// then `dataFolderPath` in the variant's `.cortexrc`, then the default
    /// folder), migrate policy.
    pub fn locate(variant: crate::location::Variant) -> Result<Boot> {
        Boot::locate_with(crate::location::Search::from_env(None, variant))
    }

    /// The data folder found by `search`, e.g. with the config file Cortex
    /// was started with (`search.config_file`, Jan's `.janrc`) or an
    /// explicit folder, migrate policy; the config file found is the one
    /// the steps may change.
    pub fn locate_with(search: crate::location::Search) -> Result<Boot> {
        let located = search.locate()?;
        let config = located.config_file();
        let boot = Boot::data_folder(located.data_dir);
        Ok(match config {
            Some(c) => boot.config_file(c),
            None => boot,
        })
    }

    /// A database URL (PostgreSQL, MySQL, SQLite), migrate policy.
    pub fn url(url: impl Into<String>, data_dir: Option<PathBuf>) -> Boot {
        Boot::at(Place::Url {
            url: url.into(),
            data_dir,
        })
    }

    fn at(place: Place) -> Boot {
        Boot {
            place,
            policy: Policy::Migrate,
            newer_data: NewerData::Refuse,
            progress: ProgressSink::default(),
            lock_timeout: Some(Duration::from_secs(600)),
            keep_backups: DEFAULT_KEEP_BACKUPS,
            config_file: None,
        }
    }

    /// Names the `.cortexrc` that belongs to the data folder.
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Boot {
        self.config_file = Some(path.into());
        self
    }

    /// Sets the policy.
    pub fn policy(mut self, policy: Policy) -> Boot {
        self.policy = policy;
        self
    }

    /// Sets what to do with data from a newer binary.
    pub fn newer_data(mut self, newer: NewerData) -> Boot {
        self.newer_data = newer;
        self
    }

    /// Sets where progress events go.
    pub fn progress(mut self, progress: ProgressSink) -> Boot {
        self.progress = progress;
        self
    }

    /// Starts: see the module doc.
    pub async fn open(self) -> Result<Booted> {
        // (`open_waiting` settles a folder's own restore before it opens
        // the file; a URL's data folder is settled here.)
        if let Place::Url {
            data_dir: Some(dir),
            ..
        } = &self.place
            && dir.is_dir()
        {
            connect::recover_interrupted_restore(dir, self.lock_timeout).await?;
        }
        let create = self.policy == Policy::Migrate;
        let db = connect::open_waiting(&self.place, create, self.lock_timeout).await?;
        if let Some(dir) = self.place.data_dir()
            && db.get_database_backend() == DbBackend::Sqlite
            && fast_path_ok(&db, dir).await?
        {
            return Ok(Booted { db, report: None });
        }
        let report = self.slow_path(&db).await?;
        Ok(Booted { db, report })
    }

    fn folder(&self) -> Result<Option<DataDir>> {
        match self.place.data_dir() {
            Some(d) if d.is_dir() => Ok(Some(DataDir::new(d)?)),
            _ => Ok(None),
        }
    }

    async fn slow_path(&self, db: &DatabaseConnection) -> Result<Option<Report>> {
        let opts = Options {
            data_dir: self.place.data_dir().map(Path::to_path_buf),
            progress: self.progress.clone(),
            lock_timeout: self.lock_timeout,
            keep_backups: self.keep_backups,
            config_file: self.config_file.clone(),
        };
        let steps = Migrator::steps();
        let mut r = Runner::new(db, Migrator::steps(), opts).await?;
        let report = match self.policy {
            Policy::Check => {
                let st = r.status().await?;
                if !st.unknown_applied.is_empty() {
                    return Err(MigrateError::UnknownAppliedSteps {
                        unknown: st.unknown_applied.clone(),
                        data_version: st.data_version.clone().unwrap_or_default(),
                        known_last: st.app_version.clone().unwrap_or_default(),
                    }
                    .into());
                }
                let behind: Vec<String> = st
                    .steps
                    .iter()
                    .filter(|s| s.state != migration::toolkit::StepState::Applied)
                    .map(|s| s.name.clone())
                    .collect();
                if !behind.is_empty() || st.interrupted.is_some() {
                    return Err(Error::Behind {
                        pending: behind,
                        interrupted: st.interrupted.map(|i| i.step),
                    });
                }
                None
            }
            Policy::Migrate => {
                // With the default `Refuse`, `up` itself refuses steps it
                // does not know: the status is read only to step down.
                if self.newer_data == NewerData::StepDown
                    && !r.status().await?.unknown_applied.is_empty()
                {
                    let known = r.known_last().map(Target::To).unwrap_or(Target::Nothing);
                    let mut down = r.down(known).await?;
                    let up = r.up(Target::All).await?;
                    down.steps.extend(up.steps);
                    Some(down)
                } else {
                    Some(r.up(Target::All).await?)
                }
            }
        };
        let dir = self.folder()?;
        let schema_problems = verify::verify_schema(db, &steps, dir.as_ref())
            .await?
            .problems();
        if !schema_problems.is_empty() {
            return Err(Error::Drift(format!(
                "the database does not match its migrations: {}",
                schema_problems.join("; ")
            )));
        }
        if let Some(d) = &dir
            && db.get_database_backend() == DbBackend::Sqlite
        {
            remember_verified(db, d).await?;
        }
        Ok(report)
    }
}

/// What the fast path compares with the last full verification, as text:
/// this binary's steps (`STEPS_DIGEST`, a digest of every step file as
/// built), the schema cookie (`PRAGMA schema_version`: SQLite bumps it on
/// every change of the schema, by anyone), and every applied step with the
/// checksum it was applied with. One statement reads them; no hash is
/// computed at run time (the text is compared whole). `None` where it
/// cannot be read (no history yet), which sends the boot down the full
/// path.
async fn fingerprint(db: &DatabaseConnection) -> Option<String> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Sqlite,
            format!(
                "SELECT (SELECT schema_version FROM pragma_schema_version) AS cookie, \
                 group_concat(m.version || ':' || COALESCE(s.checksum, ''), ' ') AS history \
                 FROM seaql_migrations m LEFT JOIN {STEPS_TABLE} s ON s.version = m.version"
            ),
        ))
        .await
        .ok()??;
    let cookie: i64 = row.try_get("", "cookie").ok()?;
    let history: Option<String> = row.try_get("", "history").ok()?;
    Some(format!(
        "steps {}\nschema {cookie}\napplied {}\n",
        migration::STEPS_DIGEST,
        history.unwrap_or_default()
    ))
}

/// The versions in a fingerprint's `applied` line.
fn applied_versions(fingerprint: &str) -> Vec<String> {
    fingerprint
        .lines()
        .find_map(|l| l.strip_prefix("applied "))
        .unwrap_or_default()
        .split(' ')
        .filter_map(|entry| entry.split(':').next())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The fast path: nothing pending and the schema as it was at its last
/// full verification, by this binary's steps. Per start: a shared lock on
/// the folder (no migrator runs), one look for a journal (no step was left
/// half done), one small file read and one statement.
async fn fast_path_ok(db: &DatabaseConnection, dir: &Path) -> Result<bool> {
    let state = StateDir::in_folder(dir);
    let Some(_shared) = FolderLock::try_shared_in(&state)? else {
        return Ok(false);
    };
    if state.has_journal() {
        return Ok(false);
    }
    let Ok(remembered) = std::fs::read_to_string(state.verified_schema()) else {
        return Ok(false);
    };
    Ok(fingerprint(db).await.is_some_and(|f| f == remembered))
}

/// Records the fingerprint of a schema that was just fully verified.
async fn remember_verified(db: &DatabaseConnection, dir: &DataDir) -> Result<()> {
    let Some(f) = fingerprint(db).await else {
        return Ok(());
    };
    let mut got = applied_versions(&f);
    // Only a folder with nothing pending: every known step applied,
    // nothing unknown.
    got.sort();
    let mut want: Vec<String> = Migrator::steps()
        .iter()
        .map(|s| s.name().to_owned())
        .collect();
    want.sort();
    if got != want {
        return Ok(());
    }
    let state = StateDir::of(dir);
    let path = state.verified_schema();
    if std::fs::read_to_string(&path).is_ok_and(|t| t == f) {
        return Ok(());
    }
    state.ensure()?;
    // Boots started together all get here after the runner has let go of
    // the lock: each writes through a temp file of its own and renames it
    // over the file (the last rename wins; they all write the same text).
    replace_durably(&path, f.as_bytes())?;
    Ok(())
}

/// Opens a Cortex data folder the way a server does at start, with the
/// migrate policy: shorthand for `Boot::data_folder(dir).open()`.
pub async fn open(dir: impl Into<PathBuf>) -> Result<DatabaseConnection> {
    Ok(Boot::data_folder(dir).open().await?.db)
}
