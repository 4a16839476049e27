//! The SQL that cortex.cpp's own migrations (engine/migrations/v0..v3) ran,
//! copied byte for byte, and the order they ran it in, so that a sample has
//! the same `sqlite_master` text as a real install.

/// v0, as cortex.cpp's v1+ code (and the migrator's canonical form) has it.
pub const V0_SCHEMA_VERSION: &str =
    "CREATE TABLE IF NOT EXISTS schema_version ( version INTEGER PRIMARY KEY);";
pub const V0_MODELS: &str = "CREATE TABLE IF NOT EXISTS models (model_id TEXT PRIMARY KEY,author_repo_id TEXT,branch_name TEXT,path_to_model_yaml TEXT,model_alias TEXT);";
pub const V0_HARDWARE: &str = "CREATE TABLE IF NOT EXISTS hardware (uuid TEXT PRIMARY KEY, type TEXT NOT NULL, hardware_id INTEGER NOT NULL, software_id INTEGER NOT NULL, activated INTEGER NOT NULL CHECK (activated IN (0, 1)));";

/// v0 as the earliest builds made it (engine/migrations/v0/migration.h at
/// d244ed0): no key on `schema_version` nor on `hardware.uuid`.
pub const EARLY_V0_SCHEMA_VERSION: &str =
    "CREATE TABLE IF NOT EXISTS schema_version ( version INTEGER NOT NULL);";
pub const EARLY_V0_HARDWARE: &str = "CREATE TABLE IF NOT EXISTS hardware (uuid TEXT NOT NULL, type TEXT NOT NULL, hardware_id INTEGER NOT NULL, software_id INTEGER NOT NULL, activated INTEGER NOT NULL CHECK (activated IN (0, 1)));";

/// v1: `AddColumnIfNotExists` four times, then the engines table.
pub const V1_ADD_MODEL_FORMAT: &str = "ALTER TABLE models ADD COLUMN model_format TEXT";
pub const V1_ADD_MODEL_SOURCE: &str = "ALTER TABLE models ADD COLUMN model_source TEXT";
pub const V1_ADD_STATUS: &str = "ALTER TABLE models ADD COLUMN status TEXT";
pub const V1_ADD_ENGINE: &str = "ALTER TABLE models ADD COLUMN engine TEXT";
pub const V1_ENGINES: &str = "CREATE TABLE IF NOT EXISTS engines (id INTEGER PRIMARY KEY AUTOINCREMENT,engine_name TEXT,type TEXT,api_key TEXT,url TEXT,version TEXT,variant TEXT,status TEXT,metadata TEXT,date_created TEXT DEFAULT CURRENT_TIMESTAMP,date_updated TEXT DEFAULT CURRENT_TIMESTAMP,UNIQUE(engine_name, variant));";

/// v1+ code path taken when `models` does not exist yet.
pub const FRESH_MODELS: &str = "CREATE TABLE models (model_id TEXT PRIMARY KEY,author_repo_id TEXT,branch_name TEXT,path_to_model_yaml TEXT,model_alias TEXT,model_format TEXT,model_source TEXT,status TEXT,engine TEXT)";

pub const V2_ADD_METADATA: &str = "ALTER TABLE models ADD COLUMN metadata TEXT";
pub const V2_ADD_PRIORITY: &str = "ALTER TABLE hardware ADD COLUMN priority INTEGER";

pub const V3_FILES: &str = "CREATE TABLE files (id TEXT PRIMARY KEY,object TEXT,purpose TEXT,filename TEXT,created_at INTEGER,bytes INTEGER)";

/// The statements that take an existing v(`version`-1) database to
/// v`version`, in cortex.cpp's order; `None` past the last version.
/// cortex.cpp runs them one at a time outside any transaction, which is how
/// a crash leaves a database with only some of them applied. (Its
/// `CREATE TABLE IF NOT EXISTS` for tables that already exist are no-ops
/// and left out.)
pub fn upgrade(version: u8) -> Option<&'static [&'static str]> {
    match version {
        0 => Some(&[V0_SCHEMA_VERSION, V0_MODELS, V0_HARDWARE]),
        1 => Some(&[
            V1_ADD_MODEL_FORMAT,
            V1_ADD_MODEL_SOURCE,
            V1_ADD_STATUS,
            V1_ADD_ENGINE,
            V1_ENGINES,
        ]),
        2 => Some(&[V2_ADD_METADATA, V2_ADD_PRIORITY]),
        3 => Some(&[V3_FILES]),
        _ => None,
    }
}

/// The statements a fresh install of `version` runs on an empty file;
/// `None` past the last version.
pub fn fresh_install(version: u8) -> Option<Vec<&'static str>> {
    upgrade(version)?;
    // From v1 on, cortex.cpp creates `models` whole when it is missing,
    // and adds the later columns with ALTER only where it has no CREATE.
    let mut out = vec![V0_SCHEMA_VERSION];
    out.push(if version == 0 {
        V0_MODELS
    } else {
        FRESH_MODELS
    });
    out.push(V0_HARDWARE);
    if version >= 1 {
        out.push(V1_ENGINES);
    }
    if version >= 2 {
        out.extend([V2_ADD_METADATA, V2_ADD_PRIORITY]);
    }
    if version >= 3 {
        out.push(V3_FILES);
    }
    Some(out)
}
