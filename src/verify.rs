//! `verify`: does the live data match what the applied steps promise? The
//! schema against the golden snapshot of the last applied step, the stored
//! checksums against this binary's steps, `schema_version` against the last
//! cortex.cpp step, and every path the database and the `files:` of each
//! model.yml hold, resolved the way cortex.cpp resolves them
//! (`ToAbsoluteCortexDataPath`: relative to the data folder, absolute as is;
//! `engine/utils/file_manager_utils.cc`, v1.0.9). Reads only.

mod engines;

use std::path::{Path, PathBuf};

use entity::{files, models, schema_version};
use migration::cortex::model_yml::ModelYml;
use migration::golden;
use migration::toolkit::PendingJournal;
use migration::toolkit::{AppliedStep, applied_steps};
use migration::toolkit::{DataDir, Located, looks_absolute};
use migration::toolkit::{Found, inspect_database};

use migration::toolkit::{ChecksumMatch, Step, checksum, compare_checksum};
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryOrder, QuerySelect, QueryTrait};
use serde::Serialize;

use crate::error::Result;

/// One check and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub name: &'static str,
    /// Empty when the check passed.
    pub problems: Vec<String>,
    /// What was checked, when it passed.
    pub detail: String,
}

/// The outcome of `verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verification {
    pub ok: bool,
    pub checks: Vec<Check>,
}

impl Verification {
    /// Every problem, one line each.
    pub fn problems(&self) -> Vec<String> {
        self.checks
            .iter()
            .flat_map(|c| c.problems.iter().cloned())
            .collect()
    }

    /// The error `verify` ends with when it found drift.
    pub fn drift(&self) -> Option<crate::error::Error> {
        let problems = self.problems();
        let first = problems.first()?;
        Some(crate::error::Error::Drift(format!(
            "verify found {} problem(s): {first}",
            problems.len()
        )))
    }
}

fn backend_name(b: DbBackend) -> &'static str {
    match b {
        DbBackend::Postgres => "postgres",
        DbBackend::MySql => "mysql",
        _ => "sqlite",
    }
}

/// The live schema of the Cortex tables, normalized as the golden
/// snapshots of its backend are; `None` for a backend that has none.
pub async fn live_schema<C: ConnectionTrait>(conn: &C) -> Result<Option<String>> {
    match migration::toolkit::schema_snapshot(conn).await {
        Ok(s) => Ok(Some(s)),
        // A backend SeaORM may add later: nothing to compare with.
        Err(sea_orm::DbErr::BackendNotSupported { .. }) => Ok(None),
        Err(e) => Err(migration::toolkit::MigrateError::db("reading the schema", e).into()),
    }
}

impl Verification {
    fn of(checks: Vec<Check>) -> Verification {
        Verification {
            ok: checks.iter().all(|c| c.problems.is_empty()),
            checks,
        }
    }
}

/// Runs every check.
pub async fn verify<C: ConnectionTrait>(
    conn: &C,
    steps: &[Box<dyn Step>],
    dir: Option<&DataDir>,
) -> Result<Verification> {
    verify_with_engine_path(conn, steps, dir, None).await
}

/// [`verify`] for a Cortex that runs with `ENGINE_PATH` (`engine_path`):
/// engines are looked for in `<engine_path>/engines`.
pub async fn verify_with_engine_path<C: ConnectionTrait>(
    conn: &C,
    steps: &[Box<dyn Step>],
    dir: Option<&DataDir>,
    engine_path: Option<&Path>,
) -> Result<Verification> {
    let (mut checks, applied) = schema_checks(conn, steps, dir).await?;
    checks.push(check_paths(conn, dir, &applied).await?);
    let has_engines = applied.iter().any(|a| a.version.ends_with("_cortex_v1"));
    if let (Some(root), true) = (engine_path.or(dir.map(DataDir::root)), has_engines) {
        checks.push(engines::check(conn, root).await?);
    }
    Ok(Verification::of(checks))
}

/// The checks of the database alone: an interrupted step, the history, the
/// schema and `schema_version` (every check but the paths). What a boot
/// needs before it hands out the connection.
pub async fn verify_schema<C: ConnectionTrait>(
    conn: &C,
    steps: &[Box<dyn Step>],
    dir: Option<&DataDir>,
) -> Result<Verification> {
    let (checks, _) = schema_checks(conn, steps, dir).await?;
    Ok(Verification::of(checks))
}

fn db_err(what: &'static str) -> impl Fn(sea_orm::DbErr) -> migration::toolkit::MigrateError {
    move |e| migration::toolkit::MigrateError::db(what, e)
}

async fn schema_checks<C: ConnectionTrait>(
    conn: &C,
    steps: &[Box<dyn Step>],
    dir: Option<&DataDir>,
) -> Result<(Vec<Check>, Vec<AppliedStep>)> {
    let backend = conn.get_database_backend();
    let mut checks = Vec::new();

    // An interrupted step makes every other answer provisional.
    let mut journal = Check {
        name: "journal",
        problems: Vec::new(),
        detail: "no interrupted step".into(),
    };
    if let Some(d) = dir
        && let Some(p) = PendingJournal::peek(d)?
    {
        journal.problems.push(format!(
            "step {} ({}) was interrupted; `cortex-migrate recover` finishes or undoes it",
            p.step, p.direction
        ));
    }
    checks.push(journal);

    let applied = applied_steps(conn)
        .await
        .map_err(db_err("reading the migration history"))?;
    let mut history = Check {
        name: "history",
        problems: Vec::new(),
        detail: format!(
            "{} applied step(s), checksums match this binary",
            applied.len()
        ),
    };
    if let Found::CortexCpp(c) = inspect_database(conn).await? {
        history.problems.push(format!(
            "the database is {} and not migrated yet; run `cortex-migrate up`",
            c.describe()
        ));
    }
    let mut superseded = 0usize;
    for a in &applied {
        match steps.iter().find(|s| s.name() == a.version) {
            None => history.problems.push(format!(
                "applied step {} is unknown to this binary (data from a newer cortex-migrate)",
                a.version
            )),
            Some(s) => {
                let Some(stored) = &a.checksum else {
                    continue;
                };
                let ours = checksum(s.as_ref());
                match compare_checksum(s.as_ref(), stored) {
                    ChecksumMatch::Current => {}
                    ChecksumMatch::Superseded => superseded += 1,
                    ChecksumMatch::Changed => history.problems.push(format!(
                        "step {} changed since it was applied (stored checksum {}, this binary's {})",
                        a.version,
                        // By characters: a tampered value is reported, never a panic.
                        stored.chars().take(12).collect::<String>(),
                        &ours[..12]
                    )),
                }
            }
        }
    }
    if superseded > 0 {
        history.detail.push_str(&format!(
            " ({superseded} recorded by an earlier definition of the same step, superseded explicitly)"
        ));
    }
    checks.push(history);

    let last = applied.last().map(|a| a.version.clone());
    let mut schema = Check {
        name: "schema",
        problems: Vec::new(),
        detail: String::new(),
    };
    match (&last, live_schema(conn).await?) {
        (Some(step), Some(live)) => match golden::golden(backend_name(backend), step) {
            Some(expected) => {
                let diff = golden::diff(expected, &live);
                if diff.is_empty() {
                    schema.detail = format!("matches the golden snapshot of {step}");
                } else {
                    schema.problems.extend(
                        diff.into_iter()
                            .map(|d| format!("schema differs from {step}: {d}")),
                    );
                }
            }
            None => schema.detail = format!("no golden snapshot for {step} (unknown step)"),
        },
        (None, Some(live)) if live.is_empty() => schema.detail = "empty database".into(),
        (None, Some(_)) => schema.detail = "no applied steps to compare with".into(),
        (_, None) => schema.detail = format!("no snapshot comparison on {}", backend_name(backend)),
    }
    checks.push(schema);

    // cortex.cpp reads `schema_version`: it must agree with the steps.
    let cortex_last = steps
        .iter()
        .filter(|s| applied.iter().any(|a| a.version == s.name()))
        .filter_map(|s| s.cortex_version())
        .max();
    let mut version = Check {
        name: "schema_version",
        problems: Vec::new(),
        detail: String::new(),
    };
    if let Some(v) = cortex_last {
        // The entity's query, decoded here rather than into its `i64`: the
        // column is INTEGER, 64-bit on SQLite and MySQL's driver widens it,
        // but PostgreSQL's `int4` decodes only as i32.
        let query = schema_version::Entity::find()
            .select_only()
            .column(schema_version::Column::Version)
            .build(backend);
        let rows = conn
            .query_all_raw(query)
            .await
            .map_err(db_err("reading schema_version"))?;
        let found: Vec<i64> = rows
            .iter()
            .filter_map(|r| {
                r.try_get::<i64>("", "version")
                    .or_else(|_| r.try_get::<i32>("", "version").map(i64::from))
                    .ok()
            })
            .collect();
        if found == [v] {
            version.detail = format!("says {v}, as cortex.cpp expects");
        } else {
            version.problems.push(format!(
                "schema_version holds {found:?} where the applied steps make it [{v}]"
            ));
        }
    } else {
        version.detail = "no cortex.cpp step applied".into();
    }
    checks.push(version);
    Ok((checks, applied))
}

/// Every path the database holds (model.yml files, uploaded files) and
/// every `files:` entry of those model.yml files must resolve as cortex.cpp
/// opens it.
async fn check_paths<C: ConnectionTrait>(
    conn: &C,
    dir: Option<&DataDir>,
    applied: &[AppliedStep],
) -> Result<Check> {
    let mut paths = Check {
        name: "paths",
        problems: Vec::new(),
        detail: String::new(),
    };
    match dir {
        None => paths.detail = "no data folder to check paths against".into(),
        Some(d) if applied.iter().any(|a| a.version.ends_with("_cortex_v0")) => {
            // Only the two columns every schema since v0 has: the entity's
            // other columns came with later steps. A key may be NULL in
            // SQLite (a TEXT primary key allows it).
            let rows: Vec<(Option<String>, Option<String>)> = models::Entity::find()
                .select_only()
                .column(models::Column::ModelId)
                .column(models::Column::PathToModelYaml)
                .order_by_asc(models::Column::ModelId)
                .into_tuple()
                .all(conn)
                .await
                .map_err(db_err("reading model paths"))?;
            let mut n = 0;
            for (id, p) in rows {
                let id = id.unwrap_or_default();
                let Some(p) = p else {
                    continue;
                };
                if p.trim().is_empty() {
                    continue;
                }
                n += 1;
                let what = format!("model {id}");
                match resolve(d, &what, &p, &p) {
                    Err(problem) => paths.problems.push(problem),
                    Ok(yml) => {
                        let (k, problems) = files_problems(d, &format!("{what} ({p}"), &yml);
                        n += k;
                        paths.problems.extend(problems);
                    }
                }
            }
            if applied.iter().any(|a| a.version.ends_with("_cortex_v3")) {
                // Only what the check needs: `created_at`, which cortex.cpp
                // binds as text, need not decode for a path to be checked.
                let rows: Vec<(Option<String>, Option<String>)> = files::Entity::find()
                    .select_only()
                    .column(files::Column::Id)
                    .column(files::Column::Filename)
                    .order_by_asc(files::Column::Id)
                    .into_tuple()
                    .all(conn)
                    .await
                    .map_err(db_err("reading file paths"))?;
                for (id, name) in rows {
                    let id = id.unwrap_or_default();
                    let Some(name) = name else {
                        continue;
                    };
                    n += 1;
                    let stored = format!("files/{name}");
                    paths
                        .problems
                        .extend(resolve(d, &format!("file {id}"), &stored, &name).err());
                }
            }
            paths.detail = format!(
                "{n} path(s) resolve as cortex.cpp opens them (data folder {})",
                d.root().display()
            );
        }
        Some(_) => paths.detail = "no Cortex tables yet".into(),
    }
    Ok(paths)
}

/// What to do about a path into an earlier place of a moved data folder.
const HEAL: &str = "the data folder was moved since; `cortex-migrate up` makes such paths \
     relative when it runs m20261126_000001_relative_model_paths (data already past it: \
     `cortex-migrate down --to cortex_v3`, then `cortex-migrate up`)";

/// Where the path `stored` of `what` (shown as `shown`) is, or what is
/// wrong with it: into an earlier place of a moved data folder, outside the
/// data folder, or missing; each with what to do.
fn resolve(
    d: &DataDir,
    what: &str,
    stored: &str,
    shown: &str,
) -> std::result::Result<PathBuf, String> {
    match d.locate_healing(stored) {
        (Located::Inside { abs, .. }, true) => Err(format!(
            "{what}: `{shown}` does not exist; the file is at {}: {HEAL}",
            abs.display()
        )),
        (Located::Inside { abs, .. }, false) if abs.exists() => Ok(abs),
        (Located::Inside { abs, .. }, false) => Err(format!(
            "{what}: {} does not exist; put the file back (a backup: `cortex-migrate backups \
             list`), or remove the model in Cortex",
            abs.display()
        )),
        (Located::Outside { reason, .. }, _) => Err(format!(
            "{what}: `{shown}`: {reason}; Cortex keeps this inside its data folder, so put the \
             file there and point the row at it, or remove the model in Cortex"
        )),
    }
}

/// The `files:` entries of the model.yml at `yml` (resolved already),
/// checked as cortex.cpp opens them: how many there are and what is wrong.
/// `what` names the model and its yml. An absolute path outside the data
/// folder that exists (an imported model's own file) is fine. A model.yml
/// that does not parse is left to the steps that note it.
fn files_problems(d: &DataDir, what: &str, yml: &Path) -> (usize, Vec<String>) {
    let Ok(text) = std::fs::read_to_string(yml) else {
        return (0, Vec::new());
    };
    let Ok(files) = ModelYml::parse_owned(text).and_then(|y| y.files()) else {
        return (0, Vec::new());
    };
    let problems = files
        .iter()
        .filter_map(|entry| {
            let what = format!("{what}, files:)");
            if looks_absolute(entry) {
                if std::path::Path::new(entry).exists() {
                    return None;
                }
                return match d.locate_healing(entry) {
                    (Located::Inside { abs, .. }, true) => Some(format!(
                        "{what}: `{entry}` does not exist; the file is at {}: {HEAL}",
                        abs.display()
                    )),
                    _ => Some(format!(
                        "{what}: `{entry}` does not exist; put the weights back there, or \
                         import the model again from where they are now"
                    )),
                };
            }
            resolve(d, &what, entry, entry).err()
        })
        .collect();
    (files.len(), problems)
}
