//! Writes that survive a crash: temp file + fsync + rename + fsync of the
//! folder, and copies across filesystems that are verified before the source
//! may go. What each step means on each OS is `platform`'s.

use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::disk;
use super::error::{MigrateError, Result};
use super::fault;
use super::platform;
use super::threads;

/// fsyncs a folder so that renames and creations inside it are durable
/// (on Windows the renames are, see [`platform::sync_dir`]).
pub fn sync_dir(dir: &Path) -> Result<()> {
    disk::sync_dir(dir)
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
    if path.parent().is_none() {
        return Err(MigrateError::Refused(format!(
            "{} has no parent folder",
            path.display()
        )));
    }
    replace_via(path, &beside(path, ".", ".cortex-migrate-tmp"), bytes, true)
}

/// The longest file name, in bytes, the filesystems Cortex runs on take:
/// ext4, XFS, APFS 255 bytes; NTFS 255 UTF-16 units, which are never more
/// than the name's UTF-8 bytes.
pub const NAME_MAX: usize = 255;

/// A path beside `path` for a temporary or hidden file of the migrator:
/// `{before}{name}{after}` in `path`'s folder, `name` being `path`'s file
/// name, cut at a character boundary when the whole would be longer than
/// [`NAME_MAX`] (Cortex names a file after a model id, which may be as
/// long as a file name may be). `after` carries what makes it unique.
pub fn beside(path: &Path, before: &str, after: &str) -> PathBuf {
    let name = path.file_name().unwrap_or_default();
    let room = NAME_MAX.saturating_sub(before.len() + after.len());
    let mut out = std::ffi::OsString::from(before);
    if name.len() <= room {
        out.push(name);
    } else {
        let lossy = name.to_string_lossy();
        let mut end = room.min(lossy.len());
        while !lossy.is_char_boundary(end) {
            end -= 1;
        }
        out.push(&lossy[..end]);
    }
    out.push(after);
    path.with_file_name(out)
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
    replace_durably_with(path, |w| w.write_all(bytes))
}

/// [`replace_durably`] for content that `write` writes a piece at a time
/// (through a buffer), so that a long document is never whole in memory.
pub fn replace_durably_with(
    path: &Path,
    write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
) -> Result<()> {
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
    let mut tmp = disk::temp_file_in(&builder, dir)
        .map_err(|e| MigrateError::io("create a temporary file in", dir, e))?;
    let tmp_path = tmp.path().to_path_buf();
    let written = {
        let mut out = std::io::BufWriter::with_capacity(
            1 << 16,
            DiskWriter {
                file: tmp.as_file_mut(),
                path: &tmp_path,
            },
        );
        write(&mut out).and_then(|()| std::io::Write::flush(&mut out))
    };
    written
        .and_then(|()| match kept {
            Some(perms) => tmp.as_file().set_permissions(perms),
            None => Ok(()),
        })
        .and_then(|()| disk::sync_file(tmp.as_file(), &tmp_path))
        .map_err(|e| MigrateError::io("write", &tmp_path, e))?;
    disk::persist(tmp, path).map_err(|e| MigrateError::io("replace", path, e))?;
    sync_dir(dir)
}

/// Writes through the disk door ([`disk::write_all`]), each buffer an
/// append.
struct DiskWriter<'a> {
    file: &'a mut fs::File,
    path: &'a Path,
}

impl std::io::Write for DiskWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        disk::write_all(self.file, self.path, buf).map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Replaces `path` with `bytes` through the temp file `tmp` beside it
/// ([`write_beside`], then a rename over `path`). With `sync` false the
/// fsyncs are left to the caller (a batch then syncs the filesystem once
/// with [`sync_filesystem`], where [`platform::WHOLE_FILESYSTEM_SYNC`]).
pub fn replace_via(path: &Path, tmp: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    write_beside(path, tmp, bytes, sync)?;
    put_in_place(tmp, path, sync)
}

/// Renames `tmp` (written by [`write_beside`]) over `path`; with `sync`,
/// fsyncs the folder.
pub fn put_in_place(tmp: &Path, path: &Path, sync: bool) -> Result<()> {
    disk::rename(tmp, path).map_err(|e| {
        let _ = disk::remove_file(tmp);
        MigrateError::io("replace", path, e)
    })?;
    if sync { sync_parent(path) } else { Ok(()) }
}

/// Writes `bytes` to `tmp` (a new file beside `path`) with the permissions
/// of `path`, ready to be renamed over it.
pub fn write_beside(path: &Path, tmp: &Path, bytes: &[u8], sync: bool) -> Result<()> {
    let perms = fs::metadata(path).ok().map(|m| m.permissions());
    write_beside_with(tmp, bytes, sync, perms)
}

/// [`write_beside`] for a caller that has read the permissions of the
/// file `tmp` will replace (`perms`; `None`: the new file keeps the
/// permissions it is created with).
pub fn write_beside_with(
    tmp: &Path,
    bytes: &[u8],
    sync: bool,
    perms: Option<fs::Permissions>,
) -> Result<()> {
    let mut f = disk::create_truncated(tmp).map_err(|e| MigrateError::io("create", tmp, e))?;
    let written = disk::write_all(&mut f, tmp, bytes).and_then(|_| {
        if sync {
            disk::sync_file(&f, tmp)
        } else {
            Ok(())
        }
    });
    if let Err(e) = written {
        let _ = disk::remove_file(tmp);
        return Err(MigrateError::io("write", tmp, e));
    }
    if let Some(perms) = perms
        && f.metadata()
            .map(|m| m.permissions() != perms)
            .unwrap_or(true)
    {
        disk::set_permissions(tmp, perms)
            .map_err(|e| MigrateError::io("set permissions of", tmp, e))?;
    }
    Ok(())
}

/// Makes every write on the filesystem that holds `path` durable (Linux
/// `syncfs`); elsewhere see [`platform::sync_filesystem`].
pub fn sync_filesystem(path: &Path) -> Result<()> {
    disk::sync_filesystem(path)
}

/// The first of `places` (each with the id of the filesystem that holds
/// it) for each filesystem, and every place whose filesystem is not known
/// (`None`): a batch that wrote under several mounts makes each of them
/// durable with one [`sync_filesystem`] of each.
pub fn one_of_each<'a>(places: impl Iterator<Item = (&'a Path, Option<u64>)>) -> Vec<&'a Path> {
    let mut seen = std::collections::HashSet::new();
    places
        .filter(|(_, d)| d.is_none_or(|d| seen.insert(d)))
        .map(|(p, _)| p)
        .collect()
}

/// Writes a new file (which must not exist) durably.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = disk::create_new(path, false).map_err(|e| MigrateError::io("create", path, e))?;
    disk::write_all(&mut f, path, bytes).map_err(|e| MigrateError::io("write", path, e))?;
    disk::sync_file(&f, path).map_err(|e| MigrateError::io("sync", path, e))?;
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
    Ok(match (filesystem_of_path(a)?, filesystem_of_path(b)?) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    })
}

/// The filesystem that holds `p`, or would hold it (its nearest existing
/// ancestor's); `None` where the OS does not say.
pub fn filesystem_of_path(p: &Path) -> Result<Option<u64>> {
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
        disk::copy_symlink(&meta.file_type(), &target, to)
            .map_err(|e| MigrateError::io("create link", to, e))?;
        return Ok(());
    }
    if meta.is_dir() {
        disk::create_dir(to).map_err(|e| MigrateError::io("create folder", to, e))?;
        for entry in fs::read_dir(from).map_err(|e| MigrateError::io("list", from, e))? {
            let entry = entry.map_err(|e| MigrateError::io("list", from, e))?;
            copy_tree(&entry.path(), &to.join(entry.file_name()), done, progress)?;
        }
        disk::set_permissions(to, meta.permissions())
            .map_err(|e| MigrateError::io("set permissions of", to, e))?;
        return sync_dir(to);
    }
    let mut src = File::open(from).map_err(|e| MigrateError::io("open", from, e))?;
    let mut dst = disk::create_new(to, false).map_err(|e| MigrateError::io("create", to, e))?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = src
            .read(&mut buf)
            .map_err(|e| MigrateError::io("read", from, e))?;
        if n == 0 {
            break;
        }
        disk::write_all(&mut dst, to, &buf[..n]).map_err(|e| MigrateError::io("write", to, e))?;
        *done += n as u64;
        progress(*done);
    }
    disk::sync_file(&dst, to).map_err(|e| MigrateError::io("sync", to, e))?;
    disk::set_permissions(to, meta.permissions())
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
    measure_file_with(path, &mut vec![0u8; 1 << 20]).map(|(_, h)| h)
}

/// The length and SHA-256 of a small file (a kept `model.yml`), read
/// through a buffer on the stack: no allocation and no `stat` per file, for
/// the thousands of them a batch keeps.
pub fn measure_file(path: &Path) -> Result<(u64, sha2::digest::Output<Sha256>)> {
    measure_file_with(path, &mut [0u8; 16 << 10])
}

fn measure_file_with(path: &Path, buf: &mut [u8]) -> Result<(u64, sha2::digest::Output<Sha256>)> {
    let mut f = File::open(path).map_err(|e| MigrateError::io("open", path, e))?;
    let mut h = Sha256::new();
    let mut len = 0u64;
    loop {
        let n = match f.read(buf) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(MigrateError::io("read", path, e)),
        };
        if n == 0 {
            break;
        }
        len += n as u64;
        h.update(&buf[..n]);
    }
    Ok((len, h.finalize()))
}

/// Removes a file or a folder tree if it exists.
pub fn remove_any(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(MigrateError::io("inspect", path, e)),
        Ok(m) => remove_entry(path, m.file_type()).map_err(|e| MigrateError::io("remove", path, e)),
    }
}

/// Removes `path`, known to be of kind `kind`: a folder with everything in
/// it, anything else (a file, a symlink, which is not followed) alone.
fn remove_entry(path: &Path, kind: fs::FileType) -> std::io::Result<()> {
    if kind.is_dir() {
        disk::remove_dir_all(path)
    } else {
        disk::remove_file(path)
    }
}

/// Entries [`remove_wide_folder`] removes at once.
const REMOVE_AT_ONCE: usize = 1024;

/// Removes the folder `path` and everything in it, like [`remove_any`],
/// its entries [`REMOVE_AT_ONCE`] at a time on the machine's cores: a
/// journal's work folder holds the kept old version of every file its step
/// rewrote, thousands of them. Whatever a listing changed underfoot did not
/// show is removed with the folder at the end.
pub fn remove_wide_folder(path: &Path) -> Result<()> {
    let listing = match fs::read_dir(path) {
        Ok(listing) => listing,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(MigrateError::io("read folder", path, e)),
    };
    // What each entry is comes with the listing on most filesystems: a
    // file goes in one call, without a stat first.
    let mut entries = listing.map(|e| e.map(|e| (e.path(), e.file_type().ok())));
    loop {
        let run = entries
            .by_ref()
            .take(REMOVE_AT_ONCE)
            .collect::<std::io::Result<Vec<(PathBuf, Option<fs::FileType>)>>>()
            .map_err(|e| MigrateError::io("read folder", path, e))?;
        if run.is_empty() {
            break;
        }
        threads::map(&run, |(p, kind)| match kind {
            // Gone since the listing: as `remove_any` of a missing path.
            Some(k) => match remove_entry(p, *k) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(MigrateError::io("remove", p, e))
                }
                _ => Ok(()),
            },
            None => remove_any(p),
        })?;
    }
    remove_any(path)
}

/// Whether a path exists, without following a final symlink.
pub fn exists(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

/// `path` with `suffix` appended to its file name (cut, when it would be
/// too long, as [`beside`] does).
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    beside(path, "", suffix)
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::path::Path;

    use super::{NAME_MAX, beside, remove_wide_folder, replace_durably, with_suffix};

    #[test]
    fn a_wide_folder_goes_whole_however_many_runs_it_takes() {
        let t = tempfile::tempdir().unwrap();
        let work = t.path().join("work");
        fs::create_dir_all(work.join("sub/deeper")).unwrap();
        fs::write(work.join("sub/deeper/f"), b"x").unwrap();
        for i in 0..2500 {
            fs::write(work.join(format!("{i}.old")), b"old").unwrap();
        }
        #[cfg(unix)]
        std::os::unix::fs::symlink(t.path(), work.join("link")).unwrap();
        remove_wide_folder(&work).unwrap();
        assert!(!work.exists());
        // A link inside is removed, not followed.
        assert!(t.path().exists());
        // Gone already: nothing to do.
        remove_wide_folder(&work).unwrap();
    }

    #[test]
    fn a_name_beside_the_longest_file_name_fits_and_cuts_at_a_character() {
        for c in ['a', 'é', '模', '🦙'] {
            let long = c.to_string().repeat(NAME_MAX / c.len_utf8());
            let path = Path::new("models/imported").join(&long);
            for made in [
                beside(&path, ".", ".cortex-migrate-12"),
                with_suffix(&path, ".cortex-migrate-partial"),
            ] {
                let name = made.file_name().unwrap().to_str().unwrap();
                assert!(name.len() <= NAME_MAX, "{} bytes: {name}", name.len());
                assert!(
                    name.ends_with("-12") || name.ends_with("-partial"),
                    "{name}"
                );
                assert_eq!(made.parent(), path.parent());
            }
        }
        // A name that fits is kept whole.
        assert_eq!(
            beside(Path::new("a/model.yml"), ".", ".cortex-migrate-3"),
            Path::new("a/.model.yml.cortex-migrate-3")
        );
    }

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
