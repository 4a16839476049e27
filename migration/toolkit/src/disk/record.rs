//! The recording door, for the power-loss tests (only with the
//! `fault-injection` feature, armed by `CORTEX_MIGRATE_FS_LOG=FOLDER`):
//! every call is done for real, then logged to `FOLDER/log` as one JSON
//! line with what a test needs to undo it (a removed or replaced file's
//! bytes are kept under `FOLDER/blobs/`), and every fsync is logged with
//! what it made durable. The fault points log themselves there too
//! ([`point`]), so the log, cut where a kill stopped the process, is the
//! history of the tree the kill left.
//!
//! A call and its line happen under one lock, which a kill at a fault point
//! takes first ([`hold_for_kill`]): no thread is ever caught between doing
//! and logging.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, OnceLock};

use serde_json::{Value, json};

use crate::error::Result;
use crate::platform;

/// The armed recorder.
pub(crate) struct Recorder {
    folder: PathBuf,
    state: Mutex<State>,
}

struct State {
    log: File,
    blobs: u64,
}

static RECORDER: OnceLock<Option<Recorder>> = OnceLock::new();

/// The recorder, when `CORTEX_MIGRATE_FS_LOG` names a folder it can log to.
pub(crate) fn armed() -> Option<&'static Recorder> {
    RECORDER
        .get_or_init(|| {
            let folder = PathBuf::from(std::env::var_os("CORTEX_MIGRATE_FS_LOG")?);
            fs::create_dir_all(folder.join("blobs")).ok()?;
            let log = OpenOptions::new()
                .create(true)
                .append(true)
                .open(folder.join("log"))
                .ok()?;
            Some(Recorder {
                folder,
                state: Mutex::new(State { log, blobs: 0 }),
            })
        })
        .as_ref()
}

/// Logs fault point `n` (`label`), when armed.
pub(crate) fn point(n: u64, label: &str) {
    if let Some(r) = armed() {
        let mut s = r.lock();
        s.line(json!({"op": "point", "n": n, "label": label}));
    }
}

/// Takes the recorder's lock for good before the process kills itself,
/// so that the kill falls between two logged calls.
pub(crate) fn hold_for_kill() {
    if let Some(r) = armed() {
        std::mem::forget(r.lock());
    }
}

fn text(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

impl State {
    fn line(&mut self, v: Value) {
        let mut bytes = v.to_string().into_bytes();
        bytes.push(b'\n');
        // The log is the test's business: a failed line shows as a log that
        // does not match the tree, never as a failed migration.
        let _ = self.log.write_all(&bytes);
    }
}

impl Recorder {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a copy of what is at `path` (file, folder tree or symlink) as
    /// the next blob; its name, or `None` if nothing is there.
    fn keep(&self, s: &mut State, path: &Path) -> io::Result<Option<String>> {
        if fs::symlink_metadata(path).is_err() {
            return Ok(None);
        }
        s.blobs += 1;
        let name = s.blobs.to_string();
        copy_any(path, &self.folder.join("blobs").join(&name))?;
        Ok(Some(name))
    }

    /// Does `act` and logs `v` if it worked, under the lock.
    fn logged<T>(&self, v: Value, act: impl FnOnce() -> io::Result<T>) -> io::Result<T> {
        let mut s = self.lock();
        let out = act()?;
        s.line(v);
        Ok(out)
    }

    /// Keeps what `path` holds, does `act`, and logs `v` with the blob.
    fn replacing<T>(
        &self,
        path: &Path,
        mut v: Value,
        act: impl FnOnce() -> io::Result<T>,
    ) -> io::Result<T> {
        let mut s = self.lock();
        let blob = self.keep(&mut s, path)?;
        let out = act()?;
        v["blob"] = json!(blob);
        s.line(v);
        Ok(out)
    }

    pub(crate) fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.logged(json!({"op": "mkdir", "path": text(path)}), || {
            fs::create_dir(path)
        })
    }

    pub(crate) fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let missing: Vec<&Path> = path
            .ancestors()
            .take_while(|p| !p.as_os_str().is_empty() && fs::symlink_metadata(p).is_err())
            .collect();
        for p in missing.into_iter().rev() {
            self.create_dir(p)?;
        }
        Ok(())
    }

    pub(crate) fn remove_dir(&self, path: &Path) -> io::Result<()> {
        self.logged(json!({"op": "rmdir", "path": text(path)}), || {
            fs::remove_dir(path)
        })
    }

    pub(crate) fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.replacing(path, json!({"op": "remove", "path": text(path)}), || {
            fs::remove_file(path)
        })
    }

    pub(crate) fn remove_dir_all(&self, path: &Path) -> io::Result<()> {
        self.replacing(path, json!({"op": "remove", "path": text(path)}), || {
            fs::remove_dir_all(path)
        })
    }

    pub(crate) fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let v = json!({"op": "rename", "from": text(from), "to": text(to)});
        self.replacing(to, v, || platform::rename(from, to))
    }

    pub(crate) fn persist(&self, tmp: tempfile::NamedTempFile, to: &Path) -> io::Result<()> {
        let v = json!({"op": "rename", "from": text(tmp.path()), "to": text(to)});
        self.replacing(to, v, || platform::persist(tmp, to))
    }

    pub(crate) fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let v = json!({"op": "link", "from": text(from), "to": text(to)});
        self.logged(v, || fs::hard_link(from, to))
    }

    pub(crate) fn copy_symlink(
        &self,
        kind: &fs::FileType,
        target: &Path,
        link: &Path,
    ) -> io::Result<()> {
        self.logged(json!({"op": "create", "path": text(link)}), || {
            platform::copy_symlink(kind, target, link)
        })
    }

    pub(crate) fn copy(&self, from: &Path, to: &Path) -> io::Result<u64> {
        let mut s = self.lock();
        let blob = self.keep(&mut s, to)?;
        let n = fs::copy(from, to)?;
        match blob {
            Some(b) => s.line(json!({"op": "truncate", "path": text(to), "blob": b})),
            None => s.line(json!({"op": "create", "path": text(to)})),
        }
        s.line(json!({"op": "write", "path": text(to), "from": 0, "to": n}));
        Ok(n)
    }

    pub(crate) fn create_new(&self, path: &Path, append: bool) -> io::Result<File> {
        self.logged(json!({"op": "create", "path": text(path)}), || {
            super::new_file(path, append)
        })
    }

    pub(crate) fn create_truncated(&self, path: &Path) -> io::Result<File> {
        let mut s = self.lock();
        let blob = self.keep(&mut s, path)?;
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)?;
        match blob {
            Some(b) => s.line(json!({"op": "truncate", "path": text(path), "blob": b})),
            None => s.line(json!({"op": "create", "path": text(path)})),
        }
        Ok(f)
    }

    pub(crate) fn temp_file_in(
        &self,
        builder: &tempfile::Builder<'_, '_>,
        dir: &Path,
    ) -> io::Result<tempfile::NamedTempFile> {
        let mut s = self.lock();
        let tmp = builder.tempfile_in(dir)?;
        s.line(json!({"op": "create", "path": text(tmp.path())}));
        Ok(tmp)
    }

    pub(crate) fn write_all(&self, file: &mut File, path: &Path, bytes: &[u8]) -> io::Result<()> {
        let mut s = self.lock();
        let from = file.metadata()?.len();
        file.write_all(bytes)?;
        let to = from + bytes.len() as u64;
        s.line(json!({"op": "write", "path": text(path), "from": from, "to": to}));
        Ok(())
    }

    pub(crate) fn sync_file(&self, file: &File, path: &Path, data_only: bool) -> io::Result<()> {
        self.logged(json!({"op": "fsync", "path": text(path)}), || {
            if data_only {
                platform::sync_file_data(file)
            } else {
                platform::sync_file(file)
            }
        })
    }

    pub(crate) fn sync_path(&self, path: &Path) -> io::Result<()> {
        self.logged(json!({"op": "fsync", "path": text(path)}), || {
            platform::sync_path(path)
        })
    }

    pub(crate) fn sync_dir(&self, dir: &Path) -> Result<()> {
        let mut s = self.lock();
        platform::sync_dir(dir)?;
        s.line(json!({"op": "fsync_dir", "path": text(dir)}));
        Ok(())
    }

    pub(crate) fn sync_filesystem(&self, path: &Path) -> Result<()> {
        let mut s = self.lock();
        platform::sync_filesystem(path)?;
        // Only where it waits for the writes does it make them durable.
        if platform::WHOLE_FILESYSTEM_SYNC {
            s.line(json!({"op": "syncfs", "path": text(path)}));
        }
        Ok(())
    }
}

/// Copies a file, a symlink or a folder tree, for a blob.
fn copy_any(from: &Path, to: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(from)?;
    if meta.file_type().is_symlink() {
        return platform::copy_symlink(&meta.file_type(), &fs::read_link(from)?, to);
    }
    if meta.is_dir() {
        fs::create_dir(to)?;
        for entry in fs::read_dir(from)? {
            let entry = entry?;
            copy_any(&entry.path(), &to.join(entry.file_name()))?;
        }
        return Ok(());
    }
    fs::copy(from, to).map(drop)
}
