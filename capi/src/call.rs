//! What every call of the ABI does around its work: reads its C strings,
//! runs the work on a runtime of its own with panics caught, and hands the
//! answer back as strings the caller frees with `cortex_migrate_string_free`.

use std::ffi::{CStr, CString, c_char};
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::PathBuf;

use migrate::connect::Place;
use migrate::error::exit;

use crate::CortexMigrateCode;

/// A call that did not succeed: its code, its one-line message, and for
/// `verify` with drift, the answer all the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Failure {
    pub code: CortexMigrateCode,
    pub message: String,
    pub value: Option<String>,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            code: CortexMigrateCode::Usage,
            message: message.into(),
            value: None,
        }
    }
}

impl From<migrate::Error> for Failure {
    fn from(e: migrate::Error) -> Failure {
        Failure {
            code: CortexMigrateCode::from_exit(e.exit_code()),
            message: e.to_string(),
            value: None,
        }
    }
}

impl CortexMigrateCode {
    /// The code of an exit code of the `cortex-migrate` binary.
    pub(crate) fn from_exit(code: i32) -> CortexMigrateCode {
        match code {
            exit::OK => CortexMigrateCode::Ok,
            exit::USAGE => CortexMigrateCode::Usage,
            exit::BAD_DATA => CortexMigrateCode::BadData,
            exit::DRIFT => CortexMigrateCode::Drift,
            exit::LOCKED => CortexMigrateCode::Locked,
            _ => CortexMigrateCode::Failed,
        }
    }
}

/// Runs `work` with its panics caught: a panic becomes `Failed` with its
/// message, and never unwinds into the caller's C or C++ frames.
pub(crate) fn guarded<T>(work: impl FnOnce() -> Result<T, Failure>) -> Result<T, Failure> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|panic| {
        let detail = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_owned());
        Err(Failure {
            code: CortexMigrateCode::Failed,
            message: format!(
                "internal error in cortex-migrate (a panic: {detail}); an interrupted step is finished or undone at the next start"
            ),
            value: None,
        })
    })
}

/// Runs `future` to its end on a current-thread runtime made for this call,
/// on the calling thread; blocking work it spawns runs on threads of that
/// runtime, all joined before this returns.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output, Failure> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(Failure::usage(
            "cortex_migrate_* was called from inside an async runtime or from a progress callback; \
             call it from a plain thread",
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure {
            code: CortexMigrateCode::Failed,
            message: format!("cannot start the async runtime: {e}"),
            value: None,
        })?;
    Ok(runtime.block_on(future))
}

/// The text of a C string argument; `None` for NULL or "".
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that stays valid for
/// the call.
pub(crate) unsafe fn text(p: *const c_char, what: &str) -> Result<Option<String>, Failure> {
    // SAFETY: the caller's promise, passed on from the exported function.
    let Some(bytes) = (unsafe { bytes(p) }) else {
        return Ok(None);
    };
    String::from_utf8(bytes.to_vec())
        .map(Some)
        .map_err(|_| Failure::usage(format!("{what} is not UTF-8")))
}

/// A path argument; `None` for NULL or "". On Unix any bytes; elsewhere
/// UTF-8.
///
/// # Safety
/// As `text`.
pub(crate) unsafe fn path(p: *const c_char, what: &str) -> Result<Option<PathBuf>, Failure> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        // Any bytes make a Unix path: nothing to refuse.
        let _ = what;
        // SAFETY: the caller's promise, passed on from the exported function.
        let bytes = unsafe { bytes(p) };
        Ok(bytes.map(|b| PathBuf::from(std::ffi::OsStr::from_bytes(b))))
    }
    #[cfg(not(unix))]
    {
        // SAFETY: the caller's promise, passed on from the exported function.
        Ok(unsafe { text(p, what) }?.map(PathBuf::from))
    }
}

/// # Safety
/// As `text`.
unsafe fn bytes<'a>(p: *const c_char) -> Option<&'a [u8]> {
    if p.is_null() {
        return None;
    }
    // SAFETY: `p` is not NULL and, as the caller promised, NUL-terminated
    // and valid for the call.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    (!bytes.is_empty()).then_some(bytes)
}

/// Where the data is: a database URL (with the data folder, if given, for
/// the folder steps), else the data folder's cortex.db.
pub(crate) fn place(folder: Option<PathBuf>, url: Option<String>) -> Result<Place, Failure> {
    match (folder, url) {
        (data_dir, Some(url)) => Ok(Place::Url { url, data_dir }),
        (Some(folder), None) => Ok(Place::Folder(folder)),
        (None, None) => Err(Failure::usage(
            "neither a data folder nor a database URL was given",
        )),
    }
}

/// A path as the bytes of a C string (lossy only off Unix, for a path that
/// is not Unicode, which no argument of this ABI can make).
pub(crate) fn path_text(path: PathBuf) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStringExt;
        path.into_os_string().into_vec()
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().into_owned().into_bytes()
    }
}

/// A string handed to the caller, who frees it with
/// `cortex_migrate_string_free`. A NUL inside (which no message, path or
/// JSON made here holds) would end the C string early, so it is dropped.
pub(crate) fn give(text: impl Into<Vec<u8>>) -> *mut c_char {
    let mut bytes: Vec<u8> = text.into();
    bytes.retain(|&b| b != 0);
    CString::new(bytes).map_or(std::ptr::null_mut(), CString::into_raw)
}

/// Sets `*out` to NULL, if the caller gave somewhere to write.
///
/// # Safety
/// `out` is NULL or valid for a write of a pointer.
pub(crate) unsafe fn clear(out: *mut *mut c_char) {
    if !out.is_null() {
        // SAFETY: not NULL, and valid for a write as the caller promised.
        unsafe { out.write(std::ptr::null_mut()) };
    }
}

/// Hands `text` to the caller through `out`; if `out` is NULL the caller
/// does not want it, and it is not made.
///
/// # Safety
/// As `clear`.
pub(crate) unsafe fn put(out: *mut *mut c_char, text: impl Into<Vec<u8>>) {
    if !out.is_null() {
        // SAFETY: not NULL, and valid for a write as the caller promised.
        unsafe { out.write(give(text)) };
    }
}

/// Writes a call's answer to its out-parameters and returns its code.
///
/// # Safety
/// Each of `value_out` and `error_out` is NULL or valid for a write of a
/// pointer.
pub(crate) unsafe fn answer(
    result: Result<impl Into<Vec<u8>>, Failure>,
    value_out: *mut *mut c_char,
    error_out: *mut *mut c_char,
) -> CortexMigrateCode {
    match result {
        Ok(value) => {
            // SAFETY: passed on from the caller.
            unsafe { put(value_out, value) };
            CortexMigrateCode::Ok
        }
        Err(failure) => {
            if let Some(value) = failure.value {
                // SAFETY: passed on from the caller.
                unsafe { put(value_out, value) };
            }
            // SAFETY: passed on from the caller.
            unsafe { put(error_out, failure.message) };
            failure.code
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_exit_codes_of_the_binary() {
        for (code, exit) in [
            (CortexMigrateCode::Ok, exit::OK),
            (CortexMigrateCode::Failed, exit::FAILED),
            (CortexMigrateCode::Usage, exit::USAGE),
            (CortexMigrateCode::BadData, exit::BAD_DATA),
            (CortexMigrateCode::Drift, exit::DRIFT),
            (CortexMigrateCode::Locked, exit::LOCKED),
        ] {
            assert_eq!(code as i32, exit);
            assert_eq!(CortexMigrateCode::from_exit(exit), code);
        }
        assert_eq!(CortexMigrateCode::from_exit(99), CortexMigrateCode::Failed);
    }

    #[test]
    fn a_panic_becomes_a_failure_with_its_message() {
        let got: Result<(), Failure> = guarded(|| panic!("boom at step 3"));
        let failure = got.unwrap_err();
        assert_eq!(failure.code, CortexMigrateCode::Failed);
        assert!(failure.message.contains("boom at step 3"), "{failure:?}");
    }

    #[test]
    fn a_call_from_inside_a_runtime_is_refused_not_a_panic() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let inner = rt.block_on(async { block_on(async { 1 }) });
        assert_eq!(inner.unwrap_err().code, CortexMigrateCode::Usage);
        assert_eq!(block_on(async { 2 }).unwrap(), 2);
    }

    #[test]
    fn empty_and_null_strings_are_absent() {
        // SAFETY: NULL and a NUL-terminated literal.
        unsafe {
            assert_eq!(text(std::ptr::null(), "x").unwrap(), None);
            assert_eq!(text(c"".as_ptr(), "x").unwrap(), None);
            assert_eq!(text(c"abc".as_ptr(), "x").unwrap().as_deref(), Some("abc"));
            assert_eq!(
                text(c"\xff".as_ptr(), "the URL").unwrap_err().message,
                "the URL is not UTF-8"
            );
        }
        assert_eq!(
            place(None, None).unwrap_err().code,
            CortexMigrateCode::Usage
        );
    }
}
