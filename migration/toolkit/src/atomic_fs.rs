//! Writes that survive a crash: temp file + fsync + rename + fsync of the
//! folder, and copies across filesystems that are verified before the source
//! may go. What each step means on each OS is `platform`'s.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::{MigrateError, Result};
use super::fault;
use super::platform;

/// fsyncs a folder so that renames and creations inside it are durable
/// (on Windows the renames are, see [`platform::sync_dir`]).
pub fn sync_dir(dir: &Path) -> Result<()> {
    platform::sync_dir(dir)
}

/// fsyncs the folder that holds `path`.
pub fn sync_parent(path: &Path) -> Result<()> {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => sync_dir(p),
        _ => Ok(()),
    }
}

/// Replaces `path` with `bytes` atomically: the file is either the old or the
/// new content after a crash, never a mix. Keeps the permissions of the file
/// it replaces. The journal's file operations write through this (and
/// [`replace_via`]); a file no journal tracks goes through
/// [`replace_durably`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| MigrateError::Refused(format!("{} has no parent folder", path.display())))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    replace_via(
        path,
        &dir.join(format!(".{name}.cortex-migrate-tmp")),
        bytes,
        true,
    )
}

/// Replaces (or creates) `path` with `bytes`, for a file no journal
/// tracks (a backup manifest, the verified schema of a boot): a temporary
/// file from tempfile beside it, named for this call alone (writers racing
/// on one file never share it) and removed if anything fails, is fsynced,
/// renamed over `path` ([`platform::persist`]), and the folder fsynced.
/// After a crash `path` is the old content or the new one. Keeps the
/// permissions of the file it replaces; a new file gets the ones a plain
/// create gives.
pub fn replace_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => (dir, name),
        _ => {
            return Err(MigrateError::Refused(format!(
                "{} is not a file in a folder",
                path.display()
            )));
        }
    };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let kept = fs::metadata(path).ok().map(|m| m.permissions());
    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    if kept.is_none()
        && let Some(perms) = platform::created_file_permissions()
    {
        builder.permissions(perms);
    }
    let mut tmp = builder
        .tempfile_in(dir)
        .map_err(|e| MigrateError::io("create a temporary file in", dir, e))?;
    tmp.write_all(bytes)
        .and_then(|()| match kept {
            Some(perms) => tmp.as_file().set_permissions(perms),
            None => Ok(()),
        })
        .and_then(|()| platform::sync_file(tmp.as_file()))
        .map_err(|e| MigrateError::io("write", tmp.path(), e))?;
    platform::persist(tmp, path).map_err(|e| MigrateError::io("replace", path, e))?;
    sync_dir(dir)
}

/// Replaces `path` with `bytes` through the temp file `tmp` beside it
/// ([`write_beside`], then a rename over `path`). With `sync` false the
/// fsyncs are left to the caller (a batch then syncs the filesystem once
/// with [`sync_filesystem`], where [`platform::WHOLE_FILESYSTEM_SYNC`]).
pub fn replace_via(path: &Path, tmp: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    write_beside(path, tmp, bytes, sync)?;
    platform::rename(tmp, path).map_err(|e| {
        let _ = fs::remove_file(tmp);
        MigrateError::io("replace", path, e)
    })?;
    if sync { sync_parent(path) } else { Ok(()) }
}

/// Writes `bytes` to `tmp` (a new file beside `path`) with the permissions
/// of `path`, ready to be renamed over it.
pub fn write_beside(path: &Path, tmp: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    let perms = fs::metadata(path).ok().map(|m| m.permissions());
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)
        .map_err(|e| MigrateError::io("create", tmp, e))?;
    let written = f.write_all(bytes).and_then(|_| {
        if sync {
            platform::sync_file(&f)
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        let _ = fs::remove_file(tmp);
        return Err(MigrateError::io("write", tmp, e));
    }
    if let Some(perms) = perms
        && f.metadata()
            .map(|m| m.permissions() != perms)
            .unwrap_or(true)
    {
        fs::set_permissions(tmp, perms)
            .map_err(|e| MigrateError::io("set permissions of", tmp, e))?;
    }
    Ok(())
}

/// Makes every write on the filesystem that holds `path` durable (Linux
/// `syncfs`); elsewhere see [`platform::sync_filesystem`].
pub fn sync_filesystem(path: &Path) -> Result<()> {
    platform::sync_filesystem(path)
}

/// [`sync_filesystem`] once for each filesystem that holds one of `paths`:
/// a batch that wrote under several mounts makes all of them durable.
pub fn sync_filesystems<'a>(paths: impl IntoIterator<Item = &'a Path>) -> Result<()> {
    let mut synced = std::collections::HashSet::new();
    for p in paths {
        match device(p)? {
            Some(d) if !synced.insert(d) => {}
            _ => sync_filesystem(p)?,
        }
    }
    Ok(())
}

/// Writes a new file (which must not exist) durably.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| MigrateError::io("create", path, e))?;
    f.write_all(bytes)
        .map_err(|e| MigrateError::io("write", path, e))?;
    platform::sync_file(&f).map_err(|e| MigrateError::io("sync", path, e))?;
    sync_parent(path)
}

/// Reads a whole file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| MigrateError::io("read", path, e))
}

/// Whether `a` and `b` (existing paths, or the folders that would hold them)
/// are on the same filesystem, so that a rename between them works. Where
/// that cannot be known the answer is no: the caller copies and verifies.
pub fn same_filesystem(a: &Path, b: &Path) -> Result<bool> {
    Ok(match (device(a)?, device(b)?) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    })
}

/// The filesystem that holds `p`, or would hold it (its nearest existing
/// ancestor's); `None` where the OS does not say.
fn device(p: &Path) -> Result<Option<u64>> {
    let mut probe = p.to_path_buf();
    loop {
        match platform::filesystem_id(&probe) {
            Ok(id) => return Ok(id),
            Err(e) => {
                if !probe.pop() {
                    return Err(MigrateError::io("inspect", p, e));
                }
            }
        }
    }
}

/// Total size in bytes of a file or a folder tree (symlinks not followed).
pub fn tree_size(path: &Path) -> Result<u64> {
    let meta = fs::symlink_metadata(path).map_err(|e| MigrateError::io("inspect", path, e))?;
    if !meta.is_dir() {
        return Ok(meta.len());
    }
    let mut total = 0;
    for entry in fs::read_dir(path).map_err(|e| MigrateError::io("list", path, e))? {
        let entry = entry.map_err(|e| MigrateError::io("list", path, e))?;
        total += tree_size(&entry.path())?;
    }
    Ok(total)
}

/// Copies a file or folder tree from `from` to `to` (which must not exist),
/// fsyncs it, then re-reads the copy and compares its SHA-256 with the
/// source's. `progress` is called with the bytes copied so far. Fault
/// points: after each file copied (a partial copy of a tree), after the
/// copy before its verification, after the verification.
pub fn copy_verified(from: &Path, to: &Path, progress: &mut dyn FnMut(u64)) -> Result<u64> {
    let mut done = 0u64;
    copy_tree(from, to, &mut done, progress)?;
    sync_parent(to)?;
    fault::point("copy: copied, not yet verified")?;
    verify_tree(from, to)?;
    fault::point("copy: verified")?;
    Ok(done)
}

fn copy_tree(from: &Path, to: &Path, done: &mut u64, progress: &mut dyn FnMut(u64)) -> Result<()> {
    let meta = fs::symlink_metadata(from).map_err(|e| MigrateError::io("inspect", from, e))?;
    if meta.file_type().is_symlink() {
        let target = fs::read_link(from).map_err(|e| MigrateError::io("read link", from, e))?;
        platform::copy_symlink(&meta.file_type(), &target, to)
            .map_err(|e| MigrateError::io("create link", to, e))?;
        return Ok(());
    }
    if meta.is_dir() {
        fs::create_dir(to).map_err(|e| MigrateError::io("create folder", to, e))?;
        for entry in fs::read_dir(from).map_err(|e| MigrateError::io("list", from, e))? {
            let entry = entry.map_err(|e| MigrateError::io("list", from, e))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()), done, progress)?;
        }
        fs::set_permissions(to, meta.permissions())
            .map_err(|e| MigrateError::io("set permissions of", to, e))?;
        return sync_dir(to);
    }
    let mut src = File::open(from).map_err(|e| MigrateError::io("open", from, e))?;
    let mut dst = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(|e| MigrateError::io("create", to, e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src
            .read(&mut buf)
            .map_err(|e| MigrateError::io("read", from, e))?;
        if n == 0 {
            break;
        }
        dst.write_all(&buf[..n])
            .map_err(|e| MigrateError::io("write", to, e))?;
        *done += n as u64;
        progress(*done);
    }
    platform::sync_file(&dst).map_err(|e| MigrateError::io("sync", to, e))?;
    fs::set_permissions(to, meta.permissions())
        .map_err(|e| MigrateError::io("set permissions of", to, e))?;
    fault::point("copy: file copied")
}

fn verify_tree(from: &Path, to: &Path) -> Result<()> {
    let meta = fs::symlink_metadata(from).map_err(|e| MigrateError::io("inspect", from, e))?;
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    if meta.is_dir() {
        for entry in fs::read_dir(from).map_err(|e| MigrateError::io("list", from, e))? {
            let entry = entry.map_err(|e| MigrateError::io("list", from, e))?;
            verify_tree(&entry.path(), &to.join(entry.file_name()))?;
        }
        return Ok(());
    }
    if hash_file(from)? != hash_file(to)? {
        return Err(MigrateError::Refused(format!(
            "the copy {} differs from its source {}; the source was kept",
            to.display(),
            from.display()
        )));
    }
    Ok(())
}

/// SHA-256 of a file's bytes (`{:x}` formats it as hex).
pub fn hash_file(path: &Path) -> Result<sha2::digest::Output<Sha256>> {
    let mut f = File::open(path).map_err(|e| MigrateError::io("open", path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| MigrateError::io("read", path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize())
}

/// Removes a file or a folder tree if it exists.
pub fn remove_any(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(MigrateError::io("inspect", path, e)),
        Ok(m) if m.is_dir() => {
            fs::remove_dir_all(path).map_err(|e| MigrateError::io("remove", path, e))
        }
        Ok(_) => fs::remove_file(path).map_err(|e| MigrateError::io("remove", path, e)),
    }
}

/// Whether a path exists, without following a final symlink.
pub fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// `path` with `suffix` appended to its file name.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::replace_durably;

    /// The names in a folder, sorted.
    fn names(dir: &std::path::Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replace_durably_writes_and_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("manifest.json");
        replace_durably(&p, b"one").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"one");
        replace_durably(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(names(d.path()), ["manifest.json"]);
    }

    #[test]
    fn replace_durably_gives_a_new_file_the_permissions_of_a_plain_create() {
        let d = tempfile::tempdir().unwrap();
        let plain = d.path().join("plain");
        fs::File::create(&plain).unwrap();
        let p = d.path().join("new");
        replace_durably(&p, b"x").unwrap();
        assert_eq!(
            fs::metadata(&p).unwrap().permissions(),
            fs::metadata(&plain).unwrap().permissions()
        );
    }

    /// Windows refuses to rename over a read-only file.
    #[cfg(unix)]
    #[test]
    fn replace_durably_keeps_the_permissions_of_the_file_it_replaces() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("kept");
        fs::write(&p, b"old").unwrap();
        let mut perms = fs::metadata(&p).unwrap().permissions();
        perms.set_readonly(true);
        fs::set_permissions(&p, perms.clone()).unwrap();
        replace_durably(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(fs::metadata(&p).unwrap().permissions(), perms);
    }

    #[test]
    fn replace_durably_in_a_missing_folder_names_the_folder() {
        let d = tempfile::tempdir().unwrap();
        let missing = d.path().join("missing");
        let e = replace_durably(&missing.join("f"), b"x").unwrap_err();
        assert!(e.to_string().contains(&*missing.to_string_lossy()), "{e}");
    }
}
