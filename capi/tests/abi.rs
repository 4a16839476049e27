//! The C ABI called as C calls it, from Rust: wrong arguments get
//! `USAGE` and a message (and the callback hears the error), the check
//! policy refuses a folder that is behind without touching it, a database
//! URL comes back as given, and two threads booting one data folder at
//! once wait for each other on its lock: one migrates, the other finds
//! nothing pending.

use std::ffi::{CStr, CString, c_char, c_void};
use std::path::Path;

use cortex_migrate::{
    CortexMigrateCode, CortexMigrateNewerData, CortexMigratePolicy, cortex_migrate_open,
    cortex_migrate_string_free,
};
use migrate::sample::{self, SampleSpec};
use serde_json::Value;

/// What one call of `cortex_migrate_open` gave back.
#[derive(Debug)]
struct Opened {
    code: CortexMigrateCode,
    database: Option<String>,
    error: Option<String>,
    events: Vec<Value>,
}

unsafe extern "C" fn record(event_json: *const c_char, user_data: *mut c_void) {
    // SAFETY: `open` passes a `Vec<Value>` it owns for the call, and the
    // library a C string valid for this call.
    let (events, text) = unsafe {
        (
            &mut *user_data.cast::<Vec<Value>>(),
            CStr::from_ptr(event_json),
        )
    };
    events.push(serde_json::from_str(text.to_str().unwrap()).unwrap());
}

/// Takes a string the library handed out, and frees it.
fn take(s: *mut c_char) -> Option<String> {
    if s.is_null() {
        return None;
    }
    // SAFETY: a string from the library, not freed yet.
    let text = unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned();
    // SAFETY: freed once, here.
    unsafe { cortex_migrate_string_free(s) };
    Some(text)
}

fn c(text: Option<&str>) -> Option<CString> {
    text.map(|t| CString::new(t).unwrap())
}

fn ptr(s: &Option<CString>) -> *const c_char {
    s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr())
}

fn open(folder: Option<&Path>, url: Option<&str>, policy: i32) -> Opened {
    let folder = c(folder.map(|f| f.to_str().unwrap()));
    let url = c(url);
    let mut events: Vec<Value> = Vec::new();
    let mut database: *mut c_char = std::ptr::null_mut();
    let mut error: *mut c_char = std::ptr::null_mut();
    // SAFETY: C strings and out-pointers valid for the call; `record`
    // gets `events`, which outlives it.
    let code = unsafe {
        cortex_migrate_open(
            ptr(&folder),
            ptr(&url),
            std::ptr::null(),
            policy,
            CortexMigrateNewerData::Refuse as i32,
            Some(record),
            (&raw mut events).cast(),
            &mut database,
            &mut error,
        )
    };
    Opened {
        code,
        database: take(database),
        error: take(error),
        events,
    }
}

/// A sample home at cortex.cpp schema `version`, written on a runtime of
/// its own: the ABI refuses calls from inside one, so the tests call it
/// from plain threads.
fn cortex_home(version: u8) -> (tempfile::TempDir, sample::SampleHome) {
    let tmp = tempfile::tempdir().unwrap();
    let written = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(sample::write(
            &SampleSpec::new(version),
            &tmp.path().join("home"),
        ))
        .unwrap();
    (tmp, written)
}

fn last_event(o: &Opened) -> &Value {
    o.events.last().unwrap()
}

#[test]
fn wrong_arguments_get_usage_and_a_message() {
    let migrate = CortexMigratePolicy::Migrate as i32;
    let none = open(None, None, migrate);
    assert_eq!(none.code, CortexMigrateCode::Usage);
    assert_eq!(none.database, None);
    let message = none.error.unwrap();
    assert_eq!(
        message,
        "neither a data folder nor a database URL was given"
    );
    assert_eq!(
        none.events,
        [serde_json::json!({ "v": 1, "event": "error", "code": 2, "message": message })]
    );

    let tmp = tempfile::tempdir().unwrap();
    let bad_policy = open(Some(tmp.path()), None, 7);
    assert_eq!(bad_policy.code, CortexMigrateCode::Usage);
    assert!(
        bad_policy
            .error
            .unwrap()
            .contains("7 is not a CortexMigratePolicy")
    );
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
}

#[test]
fn check_policy_refuses_a_folder_that_is_behind_and_changes_nothing() {
    let (_tmp, home) = cortex_home(1);
    let db = std::fs::read(home.data.join("cortex.db")).unwrap();
    let checked = open(Some(&home.data), None, CortexMigratePolicy::Check as i32);
    assert_eq!(checked.code, CortexMigrateCode::Drift, "{checked:?}");
    let message = checked.error.clone().unwrap();
    assert!(
        message.contains("pending: ") && message.contains("m20241205_000001_cortex_v2"),
        "{message}"
    );
    assert_eq!(last_event(&checked)["event"], "error");
    assert_eq!(std::fs::read(home.data.join("cortex.db")).unwrap(), db);
    assert!(!home.data.join(".cortex-migrate/backups").exists());
}

#[test]
fn a_database_url_comes_back_as_given() {
    let (_tmp, home) = cortex_home(3);
    let url = format!(
        "sqlite://{}?mode=rwc",
        home.data.join("cortex.db").display()
    );
    let opened = open(
        Some(&home.data),
        Some(&url),
        CortexMigratePolicy::Migrate as i32,
    );
    assert_eq!(opened.code, CortexMigrateCode::Ok, "{opened:?}");
    assert_eq!(opened.database.as_deref(), Some(url.as_str()));
    let result = last_event(&opened);
    assert_eq!(result["event"], "result");
    assert!(!result["steps"].as_array().unwrap().is_empty(), "{result}");
}

#[test]
fn two_threads_booting_one_folder_take_turns() {
    let (_tmp, home) = cortex_home(1);
    let boots: Vec<Opened> = std::thread::scope(|s| {
        let threads: Vec<_> = (0..2)
            .map(|_| s.spawn(|| open(Some(&home.data), None, CortexMigratePolicy::Migrate as i32)))
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });
    for b in &boots {
        assert_eq!(b.code, CortexMigrateCode::Ok, "{b:?}");
        assert_eq!(last_event(b)["event"], "result");
    }
    let mut ran: Vec<usize> = boots
        .iter()
        .map(|b| last_event(b)["steps"].as_array().unwrap().len())
        .collect();
    ran.sort();
    assert_eq!(ran, [0, 9], "one boot migrated, the other found it done");
}
