//! Sample data: writes a home with a cortex.cpp-shaped data folder at any
//! cortex.cpp schema version (its exact DDL, rows, model.yml files,
//! weights, engines, logs and `.cortexrc`), for people to try the migrator
//! on and for the integration tests to start from what real users have.

mod content;
pub mod db;
pub mod ddl;
mod files;

use std::path::{Path, PathBuf};

use migration::toolkit::MigrateError;

use crate::connect::{DB_FILE, open_sqlite_file};
use crate::error::{Error, Result};

pub use content::{
    CATALOGUE, Content, DOWNLOADED, EngineNames, FILE_IDS, IMPORTED, IMPORTED_COPY, LLAMA32,
    LLAMACPP_VARIANT, LLAMACPP_VERSION, ONNX_VARIANT, ONNX_VERSION, PHI3, Row, TINYLLAMA,
    generated_id,
};

/// The newest cortex.cpp schema version a sample can be at.
pub const LATEST: u8 = 3;

/// What to write. `SampleSpec::new(v)` is what most real installs at `v`
/// look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleSpec {
    /// cortex.cpp schema version, 0..=`LATEST`.
    pub version: u8,
    /// Started at v0 and upgraded by cortex.cpp (true), or a fresh install
    /// of `version` (false). They differ in `sqlite_master` text: an
    /// upgrade appends `ADD COLUMN`s to the original `CREATE TABLE`.
    pub upgraded: bool,
    /// `models.engine` and model.yml files use `cortex.llamacpp` /
    /// `cortex.onnx` instead of `llama-cpp` / `onnxruntime`. Engine folders
    /// on disk and local `engines` rows are named by repository
    /// (`cortex.llamacpp`) either way, as cortex.cpp's `NormalizeEngine`
    /// and `DownloadEngine` do.
    pub legacy_engine_names: bool,
    /// Extra generated models (`gen-model-N:main`) beyond the standard set.
    pub models: usize,
}

impl SampleSpec {
    /// An upgraded install at `version` with legacy engine names (it
    /// started at v0, when cortex.cpp used them) and the standard models.
    pub fn new(version: u8) -> Self {
        SampleSpec {
            version,
            upgraded: true,
            legacy_engine_names: true,
            models: 0,
        }
    }

    /// A fresh install of `version`: v1+ ones use the new engine names,
    /// v0 ones the legacy names.
    pub fn fresh_install(version: u8) -> Self {
        SampleSpec {
            version,
            upgraded: false,
            legacy_engine_names: version == 0,
            models: 0,
        }
    }
}

/// Where a sample lives: `home/.cortexrc`, the data folder `home/cortexcpp`
/// (cortex.cpp's pre-XDG default) and `home/outside` for the imported
/// model's weights, which live outside the data folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleHome {
    pub home: PathBuf,
    pub data: PathBuf,
    pub outside: PathBuf,
}

impl SampleHome {
    /// The layout under `home` (nothing is read or written).
    pub fn new(home: PathBuf) -> Self {
        SampleHome {
            data: home.join("cortexcpp"),
            outside: home.join("outside"),
            home,
        }
    }
}

/// Writes the sample `spec` describes into `home`, which must be empty or
/// not exist (so that no real `.cortexrc` or `cortex.db` is overwritten),
/// and returns its layout with `home` made absolute: the sample's
/// `.cortexrc` and some of its rows hold absolute paths, as real ones do.
/// If writing fails, what was written stays; remove `home` to try again.
pub async fn write(spec: &SampleSpec, home: &Path) -> Result<SampleHome> {
    if ddl::upgrade(spec.version).is_none() {
        return Err(no_such_version(spec.version));
    }
    let home = prepare(home)?;
    let content = Content::new(&home, spec);
    // Files first, then the database: the sample is not a migration, so
    // nothing needs them to appear together.
    content.write_disk(&home, spec.version)?;
    let conn = open_sqlite_file(&home.data.join(DB_FILE), true).await?;
    let installed = db::install(&conn, &content.rows(), spec).await;
    let closed = conn
        .close()
        .await
        .map_err(|e| MigrateError::db("closing the sample database", e).into());
    installed.and(closed)?;
    Ok(home)
}

/// Refuses a `home` that has anything in it, creates it, and makes it
/// absolute.
fn prepare(home: &Path) -> Result<SampleHome> {
    match std::fs::read_dir(home) {
        Ok(mut entries) => match entries.next() {
            None => {}
            Some(Ok(_)) => {
                return Err(Error::SampleHomeNotEmpty {
                    path: home.to_path_buf(),
                });
            }
            Some(Err(e)) => return Err(MigrateError::io("read folder", home, e).into()),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(MigrateError::io("read folder", home, e).into()),
    }
    files::mkdir(home)?;
    let home = home
        .canonicalize()
        .map_err(|e| MigrateError::io("resolve", home, e))?;
    Ok(SampleHome::new(home))
}

/// The error for a schema version cortex.cpp never had.
fn no_such_version(version: u8) -> Error {
    Error::Usage(format!(
        "cortex.cpp has no schema version {version}; a sample can be at 0 to {LATEST}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn write_refuses_a_home_that_holds_a_cortex_db() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir_all(home.join("cortexcpp")).unwrap();
        std::fs::write(home.join("cortexcpp").join(DB_FILE), b"real data").unwrap();
        let err = write(&SampleSpec::new(3), &home).await.unwrap_err();
        assert!(
            matches!(&err, Error::SampleHomeNotEmpty { path } if *path == home),
            "{err:?}"
        );
        assert_eq!(
            std::fs::read(home.join("cortexcpp").join(DB_FILE)).unwrap(),
            b"real data"
        );
        assert!(!home.join(".cortexrc").exists());
    }

    #[tokio::test]
    async fn write_refuses_an_unknown_version_before_touching_the_disk() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let err = write(&SampleSpec::new(LATEST + 1), &home)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Usage(_)), "{err:?}");
        assert!(!home.exists());
    }

    #[tokio::test]
    async fn write_fills_an_empty_home_and_returns_it_absolute() {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        std::fs::create_dir(&home).unwrap();
        let written = write(&SampleSpec::fresh_install(LATEST), &home)
            .await
            .unwrap();
        assert_eq!(written, SampleHome::new(home.canonicalize().unwrap()));
        assert!(written.data.join(DB_FILE).is_file());
        assert!(written.home.join(".cortexrc").is_file());
        assert!(written.outside.join("my-imported.gguf").is_file());
    }
}
