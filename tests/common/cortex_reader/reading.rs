//! The cortex.cpp reader's walk over a data folder: it opens `cortex.db`
//! read-only, checks `schema_version`, reads the `models` rows and finds
//! each model's yml and weight files, looks into the engine folder of each
//! local `engines` row and of the `.cortexrc` default, and reports, as
//! [`Problem`]s, what the release would not find.

use std::fmt;
use std::path::{Path, PathBuf};

use std::str::FromStr;

use entity::{engines, models, schema_version};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, Database, DatabaseConnection, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait,
};

use super::{
    ENGINE_LIBRARY, Release, VERSION_TXT, default_engine, engine_dir, model_files, parse_cortexrc,
    scalar, to_absolute_cortex_data_path,
};

/// What a problem is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Subject {
    /// cortex.db as a whole.
    Database,
    /// `.cortexrc`.
    Config,
    /// A `models` row, by `model_id`.
    Model(String),
    /// A local `engines` row: (engine_name, variant, version).
    EngineRow(String, String, String),
    /// The default llama.cpp engine of `.cortexrc`.
    DefaultEngine,
}

/// What cortex.cpp would not find, or would refuse.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// `schema_version` is not the release's `SCHEMA_VERSION` (-1: no
    /// table), so the release would migrate the database itself first.
    SchemaVersion { found: i64, expected: i64 },
    /// cortex.db cannot be opened.
    DatabaseUnreadable(String),
    /// `LoadModelList` fails, so no model is found at all.
    ModelListFails(String),
    /// The yml is not a file.
    YmlMissing,
    /// The yml does not parse as cortex.cpp parses it.
    YmlUnreadable(String),
    /// A `files:` entry (as written) resolves to nothing.
    WeightsMissing(String),
    /// The engine variant's folder does not exist.
    EngineFolderMissing,
    /// The folder exists without the library.
    EngineLibraryMissing,
    /// The folder exists without a readable `version.txt`.
    VersionTxtMissing(String),
    /// `llamacppVariant` or `llamacppVersion` is missing or empty.
    DefaultEngineNotSet,
    /// `.cortexrc` is missing or does not parse.
    ConfigUnreadable(String),
    /// `dataFolderPath` names another folder than the one read.
    DataFolderElsewhere,
}

/// One thing the release would not find: what, about whom, and the path
/// it looked at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    pub subject: Subject,
    pub path: PathBuf,
    pub kind: Kind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subject {
            Subject::Database => write!(f, "cortex.db")?,
            Subject::Config => write!(f, ".cortexrc")?,
            Subject::Model(id) => write!(f, "model {id}")?,
            Subject::EngineRow(name, variant, version) => {
                write!(f, "engines row {name} {variant} {version}")?
            }
            Subject::DefaultEngine => write!(f, "default engine (.cortexrc)")?,
        }
        write!(f, ": {:?} at {}", self.kind, self.path.display())
    }
}

/// A model row as the release reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSeen {
    pub id: String,
    /// Whether the release reads this row's yml at all.
    pub read: bool,
    /// Where it looks for the yml.
    pub yml: PathBuf,
    /// Where it looks for each `files:` entry (empty if the yml was not
    /// read or did not parse).
    pub weights: Vec<PathBuf>,
    /// Whether it found the yml, parsed it and found every weight file
    /// (false for a row it does not read).
    pub found: bool,
}

/// What the release finds in a data folder.
#[derive(Debug, Clone)]
pub struct Reading {
    pub release: Release,
    /// Every model row, in `model_id` order.
    pub models: Vec<ModelSeen>,
    /// The engine folders it looked into (local rows, then the default).
    pub engine_dirs: Vec<PathBuf>,
    /// Everything it would not find, sorted.
    pub problems: Vec<Problem>,
}

/// Reads the data folder `data` (its `cortex.db`, read-only) and the
/// config `cortexrc` (not read if `None`) as `release` does.
pub async fn read(data: &Path, cortexrc: Option<&Path>, release: Release) -> Reading {
    read_with_engine_path(data, cortexrc, release, None).await
}

/// [`read`] with `ENGINE_PATH` set to `engine_path`: engines are loaded
/// from `<engine_path>/engines` instead of the data folder's
/// (`GetEnginesContainerPath`, `engine/utils/file_manager_utils.cc` at
/// v1.0.12; Jan sets it to the engines it ships).
pub async fn read_with_engine_path(
    data: &Path,
    cortexrc: Option<&Path>,
    release: Release,
    engine_path: Option<&Path>,
) -> Reading {
    let engines_root = engine_path.unwrap_or(data);
    let mut reading = Reading {
        release,
        models: Vec::new(),
        engine_dirs: Vec::new(),
        problems: Vec::new(),
    };
    let out = &mut reading.problems;
    let db_path = data.join("cortex.db");
    let url = format!("sqlite://{}?mode=ro", db_path.display());
    let db = match Database::connect(url).await {
        Ok(db) => Some(db),
        Err(e) => {
            push(
                out,
                Subject::Database,
                &db_path,
                Kind::DatabaseUnreadable(e.to_string()),
            );
            None
        }
    };
    if let Some(db) = &db {
        if let Some(expected) = release.schema_version() {
            let found = schema_version(db).await;
            if found != expected {
                push(
                    out,
                    Subject::Database,
                    &db_path,
                    Kind::SchemaVersion { found, expected },
                );
            }
        }
        match model_rows(db, release).await {
            Ok(rows) => {
                for row in rows {
                    reading.models.push(read_model(data, release, &row, out));
                }
            }
            Err(e) => push(out, Subject::Database, &db_path, Kind::ModelListFails(e)),
        }
        if release.has_engines_table() {
            for (name, variant, version) in local_engines(db).await {
                let dir = engine_dir(engines_root, &name, &variant, &version);
                check_engine_dir(&dir, Subject::EngineRow(name, variant, version), out);
                reading.engine_dirs.push(dir);
            }
        }
    }
    if let Some(rc) = cortexrc
        && let Some(dir) = read_config(data, engines_root, rc, out)
    {
        reading.engine_dirs.push(dir);
    }
    if let Some(db) = db {
        db.close().await.expect("closing cortex.db");
    }
    reading.problems.sort();
    reading
}

fn push(out: &mut Vec<Problem>, subject: Subject, path: &Path, kind: Kind) {
    out.push(Problem {
        subject,
        path: path.to_path_buf(),
        kind,
    });
}

/// One `models` row as `LoadModelList` returns it (NULL as "").
struct ModelRow {
    id: String,
    yml: String,
    status: String,
}

/// `SELECT version FROM schema_version LIMIT 1`, -1 without a row or table
/// (`GetSchemaVersion`, `engine/migrations/migration_manager.cc` at v1.0.5).
async fn schema_version(db: &DatabaseConnection) -> i64 {
    match schema_version::Entity::find().one(db).await {
        Ok(Some(row)) => row.version,
        _ => -1,
    }
}

/// The `models` rows with the release's columns, failing as
/// `LoadModelList` does on a missing column or an unknown status.
async fn model_rows(db: &DatabaseConnection, release: Release) -> Result<Vec<ModelRow>, String> {
    // Exactly the release's columns, through the entity's: an older schema
    // lacks the entity's later ones, and a column the release selects but
    // the table lacks must fail here as it fails there. The rows are read
    // as text whatever the column count, so the statement runs as is.
    let mut select = models::Entity::find().select_only();
    for c in release.model_columns() {
        select = select.column(models::Column::from_str(c).expect("an entity column"));
    }
    let query = select
        .order_by_asc(models::Column::ModelId)
        .build(DbBackend::Sqlite);
    let rows = db.query_all_raw(query).await;
    let rows = match rows {
        Ok(rows) => rows,
        // A release without migrations creates the table it misses.
        Err(e) if release.schema_version().is_none() && e.to_string().contains("no such table") => {
            return Ok(Vec::new());
        }
        Err(e) => return Err(e.to_string()),
    };
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        // Every `models` column is TEXT; NULL reads as "" (SQLiteCpp's
        // getString).
        let text = |c: &str| {
            r.try_get::<Option<String>>("", c)
                .map(Option::unwrap_or_default)
                .map_err(|e| e.to_string())
        };
        let status = match release.known_statuses() {
            None => String::new(),
            Some(known) => {
                let status = text("status")?;
                if !known.contains(&status.as_str()) {
                    return Err(format!(
                        "model {}: status {status:?} is not one of {known:?} (Invalid status string)",
                        text("model_id")?
                    ));
                }
                status
            }
        };
        out.push(ModelRow {
            id: text("model_id")?,
            yml: text("path_to_model_yaml")?,
            status,
        });
    }
    Ok(out)
}

/// Finds one model's yml and weights, reporting what is missing.
fn read_model(data: &Path, release: Release, row: &ModelRow, out: &mut Vec<Problem>) -> ModelSeen {
    let yml = to_absolute_cortex_data_path(data, &row.yml);
    let mut seen = ModelSeen {
        id: row.id.clone(),
        read: release.reads_yml_of(&row.status),
        yml: yml.clone(),
        weights: Vec::new(),
        found: false,
    };
    if !seen.read {
        return seen;
    }
    let subject = || Subject::Model(row.id.clone());
    if !yml.is_file() {
        push(out, subject(), &yml, Kind::YmlMissing);
        return seen;
    }
    let parsed = std::fs::read_to_string(&yml)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_yaml::from_str::<serde_yaml::Value>(&t).map_err(|e| e.to_string()))
        .and_then(|v| model_files(&yml, &v).map(|f| (v, f)));
    let files = match parsed {
        Ok((_, files)) => files,
        Err(e) => {
            push(out, subject(), &yml, Kind::YmlUnreadable(e));
            return seen;
        }
    };
    seen.found = true;
    for entry in files {
        let path = to_absolute_cortex_data_path(data, &entry);
        if !path.exists() {
            seen.found = false;
            push(out, subject(), &path, Kind::WeightsMissing(entry));
        }
        seen.weights.push(path);
    }
    seen
}

/// The local `engines` rows (`type` is not `remote`; `DownloadEngine`
/// writes `kLocal` rows, `engine/services/engine_service.cc` at v1.0.9).
async fn local_engines(db: &DatabaseConnection) -> Vec<(String, String, String)> {
    type Cell = Option<String>;
    let rows: Result<Vec<(Cell, Cell, Cell)>, _> = engines::Entity::find()
        .select_only()
        .column(engines::Column::EngineName)
        .column(engines::Column::Variant)
        .column(engines::Column::Version)
        .filter(
            Condition::any()
                .add(engines::Column::Type.is_null())
                .add(engines::Column::Type.ne("remote")),
        )
        .order_by_asc(engines::Column::Id)
        .into_tuple()
        .all(db)
        .await;
    match rows {
        Ok(rows) => rows
            .into_iter()
            .map(|(n, a, v)| {
                (
                    n.unwrap_or_default(),
                    a.unwrap_or_default(),
                    v.unwrap_or_default(),
                )
            })
            .collect(),
        // A database without the table (a cortex.cpp v1 migration that did
        // not run) has no rows to check; schema_version says why.
        Err(e) if e.to_string().contains("no such table") => Vec::new(),
        Err(e) => panic!("reading engines: {e}"),
    }
}

/// Checks that an engine variant folder holds the library and a readable
/// `version.txt` (`name` and `version`, as `GetInstalledEngineVariants`
/// reads them).
fn check_engine_dir(dir: &Path, subject: Subject, out: &mut Vec<Problem>) {
    if !dir.is_dir() {
        push(out, subject, dir, Kind::EngineFolderMissing);
        return;
    }
    let library = dir.join(ENGINE_LIBRARY);
    if !library.is_file() {
        push(out, subject.clone(), &library, Kind::EngineLibraryMissing);
    }
    let txt = dir.join(VERSION_TXT);
    let version_txt = std::fs::read_to_string(&txt)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_yaml::from_str::<serde_yaml::Value>(&t).map_err(|e| e.to_string()))
        .and_then(|v| match (scalar(&v["name"]), scalar(&v["version"])) {
            (Some(_), Some(_)) => Ok(()),
            _ => Err("no name and version".to_owned()),
        });
    if let Err(e) = version_txt {
        push(out, subject, &txt, Kind::VersionTxtMissing(e));
    }
}

/// Reads `.cortexrc`: its `dataFolderPath` must be `data` (cortex.cpp's
/// `GetCortexDataPath` reads the data folder from it,
/// `engine/utils/file_manager_utils.cc` at v1.0.5), and its default engine
/// must be installed. Returns the default engine's folder.
fn read_config(
    data: &Path,
    engines_root: &Path,
    rc: &Path,
    out: &mut Vec<Problem>,
) -> Option<PathBuf> {
    let text = match std::fs::read_to_string(rc) {
        Ok(t) => t,
        Err(e) => {
            push(
                out,
                Subject::Config,
                rc,
                Kind::ConfigUnreadable(e.to_string()),
            );
            return None;
        }
    };
    let config = match parse_cortexrc(&text) {
        Ok(c) => c,
        Err(e) => {
            push(out, Subject::Config, rc, Kind::ConfigUnreadable(e));
            return None;
        }
    };
    if let Some(folder) = scalar(&config["dataFolderPath"]).filter(|f| !f.is_empty())
        && Path::new(&folder) != data
    {
        push(out, Subject::Config, rc, Kind::DataFolderElsewhere);
    }
    match default_engine(&text) {
        Ok(Some((variant, version))) => {
            let dir = engine_dir(engines_root, "llama-cpp", &variant, &version);
            check_engine_dir(&dir, Subject::DefaultEngine, out);
            Some(dir)
        }
        Ok(None) => {
            push(out, Subject::DefaultEngine, rc, Kind::DefaultEngineNotSet);
            None
        }
        Err(e) => {
            push(out, Subject::Config, rc, Kind::ConfigUnreadable(e));
            None
        }
    }
}
