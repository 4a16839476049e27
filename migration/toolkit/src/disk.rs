//! The one door through which the journal, the folder steps and
//! `atomic_fs` change the disk: creating, writing and truncating files,
//! fsyncing files, folders and filesystems, renaming, hard-linking,
//! copying and removing. Each function is the std call (or `platform`'s,
//! where the OS differs) and nothing more, so the default build pays
//! nothing for the door.
//!
//! With the `fault-injection` feature, `CORTEX_MIGRATE_FS_LOG=FOLDER` also
//! makes every call log what it did, and what undoes it, to `FOLDER/log`
//! (the `record` module): the power-loss tests read that log to work out
//! which changes a power cut at a boundary may still take away, because
//! nothing fsynced them yet.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::error::Result;
use crate::platform;

#[cfg(feature = "fault-injection")]
pub(crate) mod record;

/// Runs `$plain` (the std call), or, when a test armed the recorder, the
/// recorder's logged version of it.
macro_rules! door {
    ($rec:ident => $logged:expr, $plain:expr) => {{
        #[cfg(feature = "fault-injection")]
        if let Some($rec) = record::armed() {
            return $logged;
        }
        $plain
    }};
}

/// Creates folder `path` (its parent must exist).
pub fn create_dir(path: &Path) -> io::Result<()> {
    door!(r => r.create_dir(path), fs::create_dir(path))
}

/// Creates folder `path` and every missing folder above it.
pub fn create_dir_all(path: &Path) -> io::Result<()> {
    door!(r => r.create_dir_all(path), fs::create_dir_all(path))
}

/// Removes the empty folder `path`.
pub fn remove_dir(path: &Path) -> io::Result<()> {
    door!(r => r.remove_dir(path), fs::remove_dir(path))
}

/// Removes the file (or symlink) `path`.
pub fn remove_file(path: &Path) -> io::Result<()> {
    door!(r => r.remove_file(path), fs::remove_file(path))
}

/// Removes the folder `path` and everything in it.
pub fn remove_dir_all(path: &Path) -> io::Result<()> {
    door!(r => r.remove_dir_all(path), fs::remove_dir_all(path))
}

/// Renames `from` to `to` atomically, replacing a file at `to`
/// ([`platform::rename`]).
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    door!(r => r.rename(from, to), platform::rename(from, to))
}

/// Puts the finished temporary file `tmp` in place of `to`
/// ([`platform::persist`]).
pub fn persist(tmp: tempfile::NamedTempFile, to: &Path) -> io::Result<()> {
    door!(r => r.persist(tmp, to), platform::persist(tmp, to))
}

/// Gives the file at `from` a second name, `to`.
pub fn hard_link(from: &Path, to: &Path) -> io::Result<()> {
    door!(r => r.hard_link(from, to), fs::hard_link(from, to))
}

/// Copies the file `from` to `to` (created or truncated); its length.
pub fn copy(from: &Path, to: &Path) -> io::Result<u64> {
    door!(r => r.copy(from, to), fs::copy(from, to))
}

/// Creates the symlink `link` to `target`, of the kind `kind` is
/// ([`platform::copy_symlink`]).
pub fn copy_symlink(kind: &fs::FileType, target: &Path, link: &Path) -> io::Result<()> {
    door!(
        r => r.copy_symlink(kind, target, link),
        platform::copy_symlink(kind, target, link)
    )
}

/// Creates the new file `path` (it must not exist), open for writing;
/// `append` for a log that only grows.
pub fn create_new(path: &Path, append: bool) -> io::Result<File> {
    door!(r => r.create_new(path, append), new_file(path, append))
}

fn new_file(path: &Path, append: bool) -> io::Result<File> {
    let mut o = OpenOptions::new();
    if append {
        o.append(true);
    } else {
        o.write(true);
    }
    o.create_new(true).open(path)
}

/// Creates `path`, or empties it if it exists, open for writing.
pub fn create_truncated(path: &Path) -> io::Result<File> {
    door!(
        r => r.create_truncated(path),
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
    )
}

/// A new temporary file from `builder` in `dir`.
pub fn temp_file_in(
    builder: &tempfile::Builder<'_, '_>,
    dir: &Path,
) -> io::Result<tempfile::NamedTempFile> {
    door!(r => r.temp_file_in(builder, dir), builder.tempfile_in(dir))
}

/// Writes all of `bytes` at the end of `file`, which is at `path` (every
/// write of the library appends, to a new file or a log).
// `path` names the file for the log only.
#[cfg_attr(not(feature = "fault-injection"), allow(unused_variables))]
pub fn write_all(file: &mut File, path: &Path, bytes: &[u8]) -> io::Result<()> {
    door!(r => r.write_all(file, path, bytes), file.write_all(bytes))
}

/// Flushes `file` (at `path`), content and metadata
/// ([`platform::sync_file`]).
// `path` names the file for the log only.
#[cfg_attr(not(feature = "fault-injection"), allow(unused_variables))]
pub fn sync_file(file: &File, path: &Path) -> io::Result<()> {
    door!(r => r.sync_file(file, path, false), platform::sync_file(file))
}

/// Flushes `file`'s content (at `path`) ([`platform::sync_file_data`]).
// `path` names the file for the log only.
#[cfg_attr(not(feature = "fault-injection"), allow(unused_variables))]
pub fn sync_file_data(file: &File, path: &Path) -> io::Result<()> {
    door!(r => r.sync_file(file, path, true), platform::sync_file_data(file))
}

/// Flushes the file at `path` ([`platform::sync_path`]).
pub fn sync_path(path: &Path) -> io::Result<()> {
    door!(r => r.sync_path(path), platform::sync_path(path))
}

/// Makes the entries of folder `dir` durable ([`platform::sync_dir`]).
pub fn sync_dir(dir: &Path) -> Result<()> {
    door!(r => r.sync_dir(dir), platform::sync_dir(dir))
}

/// Makes every write on the filesystem of `path` durable
/// ([`platform::sync_filesystem`]).
pub fn sync_filesystem(path: &Path) -> Result<()> {
    door!(r => r.sync_filesystem(path), platform::sync_filesystem(path))
}

/// Sets the permissions of `path` (metadata only: the digest of a state
/// ignores them, so they are not logged).
pub fn set_permissions(path: &Path, perms: fs::Permissions) -> io::Result<()> {
    fs::set_permissions(path, perms)
}
