//! Reading the data without changing it, as the command line and the C ABI
//! show it: `status` (the steps, and the data of builds from before
//! cortex.db found in the folder) and `verify` of a place. No lock is taken.

use std::path::{Path, PathBuf};

use migration::Migrator;
use migration::toolkit::{DataDir, Options, Runner, Status, StepList};
use sea_orm::DatabaseConnection;

use crate::connect::{self, Place};
use crate::error::{Error, Result};
use crate::verify::Verification;

/// What `status` shows: the runner's status and, in one line, the data of
/// builds from before cortex.db found in the data folder.
#[derive(Debug, Clone, serde::Serialize)]
pub struct StatusOf {
    #[serde(flatten)]
    pub status: Status,
    pub found: Option<String>,
}

/// The status of `place`. A data folder without cortex.db has one only if
/// it holds the data of a build from before cortex.db: then it is the
/// status of an empty database over that folder.
pub async fn status(place: &Place, config_file: Option<&Path>) -> Result<StatusOf> {
    let found = found_generations(place)?;
    let (db, place) = if place.db_exists() {
        (connect::open(place, false).await?, place.clone())
    } else if found.is_some() {
        // A data folder from before cortex.db: its status is that of an
        // empty database, with what was found.
        (empty_database().await?, without_database(place))
    } else {
        return Err(Error::NoDatabase {
            folder: place.data_dir().map(PathBuf::from).unwrap_or_default(),
        });
    };
    let options = Options {
        data_dir: place.data_dir().map(PathBuf::from),
        config_file: config_file.map(PathBuf::from),
        ..Options::default()
    };
    let status = match Runner::new(&db, Migrator::steps(), options).await {
        Ok(r) => r.status().await,
        Err(e) => Err(e),
    };
    close(db).await;
    Ok(StatusOf {
        status: status?,
        found,
    })
}

/// `verify` of `place`: every check, whatever it finds (`Verification::ok`
/// says whether there is drift). `engine_path`: where Cortex loads engines
/// when it runs with `ENGINE_PATH` (else the data folder).
pub async fn verify(place: &Place, engine_path: Option<&Path>) -> Result<Verification> {
    let db = connect::open(place, false).await?;
    let verified = match place.data_dir().map(DataDir::new).transpose() {
        Ok(dir) => {
            crate::verify::verify_with_engine_path(
                &db,
                &Migrator::steps(),
                dir.as_ref(),
                engine_path,
            )
            .await
        }
        Err(e) => Err(e.into()),
    };
    close(db).await;
    verified
}

/// Lets go of the database before returning to a caller that may open it
/// next; a failure to close loses nothing (the reading is done).
async fn close(db: DatabaseConnection) {
    let _ = db.close().await;
}

/// One line naming the data of builds before cortex.db in the data folder,
/// if there is any.
pub fn found_generations(place: &Place) -> Result<Option<String>> {
    let Some(dir) = place.data_dir().filter(|d| d.is_dir()) else {
        return Ok(None);
    };
    Ok(migration::cortex::before_db::survey(dir)?.describe())
}

/// An empty in-memory database, for `plan` and `status` where there is no
/// cortex.db yet.
pub async fn empty_database() -> Result<DatabaseConnection> {
    sea_orm::Database::connect("sqlite::memory:")
        .await
        .map_err(|e| Error::Connect {
            target: "an empty in-memory database".into(),
            reason: e.to_string(),
        })
}

/// `place` as an empty in-memory database over the same data folder (if
/// the folder exists).
pub fn without_database(place: &Place) -> Place {
    Place::Url {
        url: "sqlite::memory:".into(),
        data_dir: place.data_dir().filter(|d| d.is_dir()).map(PathBuf::from),
    }
}
