//! The caller's progress callback as a `ProgressSink`: each event as the
//! JSON object of a `--progress json` line, one call at a time, and none
//! after the call of the ABI that it was given to has returned.

use std::ffi::{CString, c_char, c_void};
use std::sync::{Arc, Mutex, PoisonError};

use migrate::render;
use migrate::toolkit::ProgressSink;

use crate::CortexMigrateProgress;

/// The callback and the caller's pointer for it.
struct Callback {
    f: unsafe extern "C" fn(event_json: *const c_char, user_data: *mut c_void),
    user_data: *mut c_void,
}

// SAFETY: the header's contract for `CortexMigrateProgress`: the callback
// and `user_data` may be used from any thread while the call runs. The
// mutex around them makes those uses one at a time, and `Listener::close`
// ends them before the call returns.
unsafe impl Send for Callback {}

/// Where the events of one call go.
#[derive(Clone)]
pub(crate) struct Listener(Arc<Mutex<Option<Callback>>>);

impl Listener {
    pub fn new(f: CortexMigrateProgress, user_data: *mut c_void) -> Listener {
        Listener(Arc::new(Mutex::new(f.map(|f| Callback { f, user_data }))))
    }

    /// A sink that hands every runner event to the callback.
    pub fn sink(&self) -> ProgressSink {
        let me = self.clone();
        ProgressSink::new(move |event| {
            if let Some(line) = render::event_line(event) {
                me.send(&line);
            }
        })
    }

    /// Hands the last line of a call to the callback: `result` with the
    /// report, or `error` with the code and message.
    pub fn finish(&self, kind: &str, fields: serde_json::Value) {
        self.send(&render::stream_line(kind, fields));
    }

    /// No event reaches the callback after this.
    pub fn close(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    fn send(&self, line: &serde_json::Value) {
        // Held across the call: the callback is never entered twice at once.
        let callback = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(cb) = callback.as_ref() else {
            return;
        };
        // JSON text never holds a raw NUL (serde_json escapes it).
        let Ok(text) = CString::new(line.to_string()) else {
            return;
        };
        // SAFETY: the caller gave this function and pointer for this call,
        // which has not returned (`close` has not run); `text` outlives the
        // call, and the callback must not keep it (the header says so).
        unsafe { (cb.f)(text.as_ptr(), cb.user_data) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    unsafe extern "C" fn record(event_json: *const c_char, user_data: *mut c_void) {
        // SAFETY: the test passes a `Vec<String>` and the listener a C
        // string valid for the call.
        let (seen, text) = unsafe {
            (
                &mut *user_data.cast::<Vec<String>>(),
                std::ffi::CStr::from_ptr(event_json),
            )
        };
        seen.push(text.to_string_lossy().into_owned());
    }

    #[test]
    fn events_reach_the_callback_as_stream_lines_until_closed() {
        let mut seen: Vec<String> = Vec::new();
        let listener = Listener::new(Some(record), (&raw mut seen).cast());
        listener.sink().emit(migrate::toolkit::Event::Note {
            step: String::new(),
            message: "waiting for the lock".into(),
        });
        listener.finish("result", serde_json::json!({ "steps": [] }));
        listener.close();
        listener.finish("result", serde_json::json!({}));
        assert_eq!(
            seen,
            [
                r#"{"event":"note","message":"waiting for the lock","step":"","v":1}"#,
                r#"{"event":"result","steps":[],"v":1}"#,
            ]
        );
    }
}
