//! `cortex_migrate` for C and C++ (cortex.cpp): the boot API, `status` and
//! `verify` behind a C ABI, declared in `include/cortex_migrate.h`
//! (generated from this file by cbindgen; `tests/header.rs` fails when the
//! committed header differs).
//!
//! Every function blocks until it is done, on a tokio runtime of its own;
//! there is no global state. Any thread may call any function, and calls on
//! different data folders run side by side. Calls on one data folder wait
//! for each other on the folder's migration lock (as two `cortex-migrate`
//! processes do). Panics are caught; none crosses the ABI. Every string
//! handed out is the caller's, freed with `cortex_migrate_string_free`.

mod call;
mod progress;

use std::ffi::{c_char, c_int, c_void};

use migrate::connect::{DB_FILE, Place};
use migrate::{Boot, NewerData, Policy, inspect};

use call::Failure;
use progress::Listener;

/// The version of the event JSON the progress callback receives (its `"v"`
/// field); it changes only when a field changes meaning or goes away.
pub const CORTEX_MIGRATE_EVENTS_VERSION: u32 = 1;

const _: () = assert!(CORTEX_MIGRATE_EVENTS_VERSION == migrate::render::EVENTS_VERSION);

/// What a call came to: the exit codes of the `cortex-migrate` binary.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CortexMigrateCode {
    /// Done.
    Ok = 0,
    /// A step failed (the data is exactly at the step before it), or an
    /// internal error.
    Failed = 1,
    /// A wrong argument (neither a folder nor a URL, text that is not
    /// UTF-8, an unknown policy).
    Usage = 2,
    /// The data cannot be used as it is: not a database or corrupt, locked
    /// by a writer, read-only, unknown or contradictory schema, data from a
    /// newer binary, a damaged journal. Nothing was changed.
    BadData = 3,
    /// `verify` found drift, or the check policy found the data behind.
    Drift = 4,
    /// Another migrator held the data folder's lock for 10 minutes.
    Locked = 5,
}

/// What `cortex_migrate_open` may do to the data (its `policy`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CortexMigratePolicy {
    /// Migrate what is pending.
    Migrate = 0,
    /// Never migrate: `CORTEX_MIGRATE_CODE_DRIFT`, naming the pending
    /// steps, if the data is behind (cloud replicas).
    Check = 1,
}

/// What `cortex_migrate_open` does with data a newer binary migrated (its
/// `newer_data`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CortexMigrateNewerData {
    /// `CORTEX_MIGRATE_CODE_BAD_DATA`, naming the unknown steps and both
    /// versions.
    Refuse = 0,
    /// Step the data down to the last step this library knows, with the
    /// undo the newer binary stored (what it drops is archived).
    StepDown = 1,
}

/// Receives each progress event of `cortex_migrate_open` as one JSON
/// object, the same as a line of `cortex-migrate --progress json`:
/// `{"v":1,"event":"step_started","step":...,"direction":"up","index":1,"total":9}`
/// and so on (`step_started`, `step_finished`, `rows`, `bytes`, `note`,
/// `recovering`), then one `result` (the report: `adopted`, `backup`,
/// `recovered`, `steps`; empty when nothing was pending) or one `error`
/// (`code`, `message`). `event_json` is valid only during the call. Calls
/// come one at a time, all before `cortex_migrate_open` returns, but not
/// always on the thread that called it (a copy across filesystems reports
/// from a worker thread). The callback must not call this library, and
/// must not unwind (a C++ exception).
pub type CortexMigrateProgress =
    Option<unsafe extern "C" fn(event_json: *const c_char, user_data: *mut c_void)>;

/// Opens Cortex's data the way a server does at start: recovers an
/// interrupted step, takes the data folder's lock (waiting up to 10
/// minutes), backs up if anything is pending, runs the pending steps,
/// verifies the schema and lets everything go again.
///
/// `data_folder`: the folder holding `cortex.db`. `database_url`: a
/// PostgreSQL, MySQL or SQLite URL instead of `data_folder/cortex.db`
/// (`data_folder` is then the folder the folder steps work on, and may be
/// NULL). `config_file`: the `.cortexrc` that belongs to the data folder,
/// the one file outside it a step may change, or NULL. NULL and "" mean
/// not given. `policy`: a `CortexMigratePolicy`; `newer_data`: a
/// `CortexMigrateNewerData`. `progress` (may be NULL) gets the events, with
/// `user_data`.
///
/// On `CORTEX_MIGRATE_CODE_OK`, `*database_out` is the database to open:
/// the path of `cortex.db` in the data folder, or the URL as given;
/// otherwise `*error_out` is one line saying what happened and what to do.
/// Each is set to NULL first, and may be NULL if not wanted.
///
/// # Safety
/// Each string argument is NULL or a NUL-terminated string valid for the
/// call; `database_out` and `error_out` are NULL or valid for writing a
/// pointer; `progress` and `user_data` are as `CortexMigrateProgress` says.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn cortex_migrate_open(
    data_folder: *const c_char,
    database_url: *const c_char,
    config_file: *const c_char,
    policy: c_int,
    newer_data: c_int,
    progress: CortexMigrateProgress,
    user_data: *mut c_void,
    database_out: *mut *mut c_char,
    error_out: *mut *mut c_char,
) -> CortexMigrateCode {
    // SAFETY: the caller's promise for the out-parameters.
    unsafe {
        call::clear(database_out);
        call::clear(error_out);
    }
    let listener = Listener::new(progress, user_data);
    let result = call::guarded(|| {
        // SAFETY: the caller's promise for the string arguments.
        let (folder, url, config) = unsafe {
            (
                call::path(data_folder, "the data folder")?,
                call::text(database_url, "the database URL")?,
                call::path(config_file, "the config file")?,
            )
        };
        let place = call::place(folder, url)?;
        let boot = match place.clone() {
            Place::Folder(dir) => Boot::data_folder(dir),
            Place::Url { url, data_dir } => Boot::url(url, data_dir),
        }
        .policy(policy_of(policy)?)
        .newer_data(newer_data_of(newer_data)?)
        .progress(listener.sink());
        let boot = match config {
            Some(c) => boot.config_file(c),
            None => boot,
        };
        let report = call::block_on(async {
            let booted = boot.open().await?;
            // The caller opens the database next: this connection goes first.
            let _ = booted.db.close().await;
            Ok::<_, migrate::Error>(booted.report.unwrap_or_default())
        })??;
        listener.finish("result", json(&report)?);
        Ok(database_of(place))
    });
    if let Err(f) = &result {
        listener.finish(
            "error",
            serde_json::json!({ "code": f.code as i32, "message": f.message }),
        );
    }
    listener.close();
    // SAFETY: the caller's promise for the out-parameters.
    unsafe { call::answer(result, database_out, error_out) }
}

/// What `cortex-migrate status --json` prints, as one JSON string in
/// `*json_out`: the data version (last applied step), the app version (last
/// step this library knows), every step with its state, a cortex.cpp
/// database waiting to be adopted, an interrupted step, the lock holder.
/// Reads only; takes no lock. The arguments are those of
/// `cortex_migrate_open`.
///
/// # Safety
/// As `cortex_migrate_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cortex_migrate_status(
    data_folder: *const c_char,
    database_url: *const c_char,
    config_file: *const c_char,
    json_out: *mut *mut c_char,
    error_out: *mut *mut c_char,
) -> CortexMigrateCode {
    // SAFETY: the caller's promise for the out-parameters.
    unsafe {
        call::clear(json_out);
        call::clear(error_out);
    }
    let result = call::guarded(|| {
        // SAFETY: the caller's promise for the string arguments.
        let (place, config) = unsafe {
            (
                place_of(data_folder, database_url)?,
                call::path(config_file, "the config file")?,
            )
        };
        let status = call::block_on(inspect::status(&place, config.as_deref()))??;
        Ok(json(&status)?.to_string())
    });
    // SAFETY: the caller's promise for the out-parameters.
    unsafe { call::answer(result, json_out, error_out) }
}

/// What `cortex-migrate verify --json` prints, as one JSON string in
/// `*json_out`: each check (`journal`, `history`, `schema`,
/// `schema_version`, `paths`, `engines`) with its problems, and `ok`. With
/// drift the code is `CORTEX_MIGRATE_CODE_DRIFT` and both `*json_out` and
/// `*error_out` are set. Reads only. `engine_path`: where Cortex loads
/// engines when it runs with `ENGINE_PATH` (engines are looked for in
/// `engine_path/engines`), or NULL for the data folder. The other
/// arguments are those of `cortex_migrate_open`.
///
/// # Safety
/// As `cortex_migrate_open`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cortex_migrate_verify(
    data_folder: *const c_char,
    database_url: *const c_char,
    engine_path: *const c_char,
    json_out: *mut *mut c_char,
    error_out: *mut *mut c_char,
) -> CortexMigrateCode {
    // SAFETY: the caller's promise for the out-parameters.
    unsafe {
        call::clear(json_out);
        call::clear(error_out);
    }
    let result = call::guarded(|| {
        // SAFETY: the caller's promise for the string arguments.
        let (place, engine_path) = unsafe {
            (
                place_of(data_folder, database_url)?,
                call::path(engine_path, "the engine path")?,
            )
        };
        let verification = call::block_on(inspect::verify(&place, engine_path.as_deref()))??;
        let text = json(&verification)?.to_string();
        match verification.drift() {
            None => Ok(text),
            Some(drift) => Err(Failure {
                value: Some(text),
                ..Failure::from(drift)
            }),
        }
    });
    // SAFETY: the caller's promise for the out-parameters.
    unsafe { call::answer(result, json_out, error_out) }
}

/// Frees a string this library handed out. NULL is fine.
///
/// # Safety
/// `s` is NULL or a string from this library's out-parameters, not freed
/// before.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn cortex_migrate_string_free(s: *mut c_char) {
    if !s.is_null() {
        // SAFETY: made by `CString::into_raw` in `call::give`, and handed
        // back once, as the caller promised.
        drop(unsafe { std::ffi::CString::from_raw(s) });
    }
}

/// # Safety
/// As `call::text`, for both.
unsafe fn place_of(folder: *const c_char, url: *const c_char) -> Result<Place, Failure> {
    // SAFETY: passed on from the caller.
    let (folder, url) = unsafe {
        (
            call::path(folder, "the data folder")?,
            call::text(url, "the database URL")?,
        )
    };
    call::place(folder, url)
}

fn policy_of(value: c_int) -> Result<Policy, Failure> {
    match value {
        v if v == CortexMigratePolicy::Migrate as c_int => Ok(Policy::Migrate),
        v if v == CortexMigratePolicy::Check as c_int => Ok(Policy::Check),
        v => Err(Failure::usage(format!(
            "{v} is not a CortexMigratePolicy (0 migrate, 1 check)"
        ))),
    }
}

fn newer_data_of(value: c_int) -> Result<NewerData, Failure> {
    match value {
        v if v == CortexMigrateNewerData::Refuse as c_int => Ok(NewerData::Refuse),
        v if v == CortexMigrateNewerData::StepDown as c_int => Ok(NewerData::StepDown),
        v => Err(Failure::usage(format!(
            "{v} is not a CortexMigrateNewerData (0 refuse, 1 step down)"
        ))),
    }
}

/// The database the caller opens after a boot.
fn database_of(place: Place) -> Vec<u8> {
    match place {
        Place::Folder(dir) => call::path_text(dir.join(DB_FILE)),
        Place::Url { url, .. } => url.into_bytes(),
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<serde_json::Value, Failure> {
    serde_json::to_value(value).map_err(|e| Failure {
        code: CortexMigrateCode::Failed,
        message: format!("cannot encode the answer as JSON: {e}"),
        value: None,
    })
}
