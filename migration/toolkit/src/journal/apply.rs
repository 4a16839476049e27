//! What each journaled file operation means: doing it (`redo`), undoing it
//! (`undo`), and making it final after the commit. Every one of them looks
//! at the disk first, so each can run any number of times: a recovery may
//! repeat what a dead process had half done.

use std::path::Path;

use super::index::OpSource;
use super::{FileOp, Observer, work_dir};
use crate::atomic_fs::{self, exists, remove_any, sync_dir};
use crate::disk;
use crate::error::{MigrateError, Result};
use crate::fault;
use crate::paths::DataDir;
use crate::state_dir::StateDir;

/// Keeps the current version of `path` at `old`: a hard link (no bytes
/// copied), or a copy when they are on different filesystems. With `sync`,
/// the new name (and a copy's bytes) is made durable before the caller
/// renames anything over `path`: otherwise a power cut could keep that
/// rename and lose the only name of the old version.
pub(super) fn keep_old(path: &Path, old: &Path, sync: bool) -> Result<()> {
    match disk::hard_link(path, old) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(_) => {
            disk::copy(path, old)
                .map_err(|e| MigrateError::io("keep the old version of", path, e))?;
            if sync {
                disk::sync_path(old).map_err(|e| MigrateError::io("sync", old, e))?;
            }
        }
    }
    if sync {
        atomic_fs::sync_parent(old)?;
    }
    Ok(())
}

/// Does one announced rewrite: keeps the old version, writes the new one
/// beside the file (with `perms`, the permissions the check read of it),
/// renames it over the file.
pub(super) fn rewrite_file(
    dir: &DataDir,
    op: &FileOp,
    content: &[u8],
    sync: bool,
    perms: std::fs::Permissions,
) -> Result<()> {
    stage_rewrite(dir, op, content, sync, perms)?;
    finish_rewrite(dir, op, sync)
}

/// The first half of a rewrite: the old version kept, the new one written
/// beside the file with `perms`. A batch makes every staged rewrite
/// durable before any [`finish_rewrite`], so that no rename can outlive a
/// power cut that its new bytes or the kept old version did not.
pub(super) fn stage_rewrite(
    dir: &DataDir,
    op: &FileOp,
    content: &[u8],
    sync: bool,
    perms: std::fs::Permissions,
) -> Result<()> {
    let FileOp::Rewrite { path, old, tmp } = op else {
        return Ok(());
    };
    let root = dir.root();
    let (p, o, t) = (root.join(path), root.join(old), root.join(tmp));
    keep_old(&p, &o, sync)?;
    atomic_fs::write_beside_with(&t, content, sync, Some(perms))
}

/// The second half of a rewrite: the new version renamed over the file.
pub(super) fn finish_rewrite(dir: &DataDir, op: &FileOp, sync: bool) -> Result<()> {
    let FileOp::Rewrite { path, tmp, .. } = op else {
        return Ok(());
    };
    let root = dir.root();
    atomic_fs::put_in_place(&root.join(tmp), &root.join(path), sync)
}

/// The first half of a rewrite in a batch ([`stage_rewrite`] with its
/// fault points), the new version given `perms`, the permissions the
/// batch's check read of the file. Where the batch syncs whole
/// filesystems, `sync` is false: it syncs once before any
/// [`finish_rewrite`]. Run by the batch's threads.
pub(super) fn stage_in_batch(
    dir: &DataDir,
    op: &FileOp,
    content: &[u8],
    sync: bool,
    perms: std::fs::Permissions,
) -> Result<()> {
    let FileOp::Rewrite { path, old, tmp } = op else {
        return Ok(());
    };
    let root = dir.root();
    let (p, o, t) = (root.join(path), root.join(old), root.join(tmp));
    keep_old(&p, &o, sync)?;
    fault::point("rewrite batch: old version kept")?;
    atomic_fs::write_beside_with(&t, content, sync, Some(perms))?;
    fault::point("rewrite batch: new version written beside")
}

/// One whole rewrite of a batch where no whole filesystem can be synced
/// ([`rewrite_file`] with its fault points, each file flushed on its own).
/// Run by the batch's threads.
pub(super) fn rewrite_in_batch(
    dir: &DataDir,
    op: &FileOp,
    content: &[u8],
    perms: std::fs::Permissions,
) -> Result<()> {
    stage_in_batch(dir, op, content, true, perms)?;
    finish_rewrite(dir, op, true)?;
    fault::point("rewrite batch: file replaced")
}

pub(super) fn finalize_ops(dir: &DataDir, ops: &dyn OpSource, journal: &Path) -> Result<()> {
    fault::point("journal: finalize begins")?;
    ops.oldest_first(&mut |op| {
        match op {
            FileOp::Delete { trash, .. } => remove_any(&dir.root().join(trash))?,
            FileOp::CopyMove { from, to } if exists(&dir.root().join(to)) => {
                remove_any(&dir.root().join(from))?;
            }
            _ => {}
        }
        fault::point("journal: operation finalized")
    })?;
    atomic_fs::remove_wide_folder(&work_dir(dir))?;
    remove_any(journal)?;
    sync_dir(StateDir::of(dir).path())?;
    fault::point("journal: finalized")?;
    Ok(())
}

pub(super) fn rollback_ops(dir: &DataDir, ops: &dyn OpSource, journal: &Path) -> Result<()> {
    fault::point("journal: rollback begins")?;
    ops.newest_first(&mut |op| {
        undo(dir, op)?;
        fault::point("journal: operation undone")
    })?;
    atomic_fs::remove_wide_folder(&work_dir(dir))?;
    remove_any(journal)?;
    sync_dir(StateDir::of(dir).path())?;
    fault::point("journal: rolled back")?;
    Ok(())
}

/// Does `op` if it is not done yet, and fsyncs what it changed.
pub(super) fn redo(dir: &DataDir, op: &FileOp, observer: &dyn Observer) -> Result<()> {
    let root = dir.root();
    match op {
        FileOp::CreateDir { path } => {
            let p = root.join(path);
            if !exists(&p) {
                disk::create_dir(&p).map_err(|e| MigrateError::io("create folder", &p, e))?;
                atomic_fs::sync_parent(&p)?;
            }
        }
        FileOp::Rename { from, to } => {
            let (f, t) = (root.join(from), root.join(to));
            match (exists(&f), exists(&t)) {
                (true, false) => {
                    disk::rename(&f, &t).map_err(|e| MigrateError::io("move", &f, e))?;
                    atomic_fs::sync_parent(&f)?;
                    atomic_fs::sync_parent(&t)?;
                }
                (false, true) => {}
                (true, true) => {
                    return Err(MigrateError::Refused(format!(
                        "both {} and {} exist; the move cannot be completed safely",
                        f.display(),
                        t.display()
                    )));
                }
                (false, false) => {
                    return Err(MigrateError::io(
                        "move",
                        &f,
                        std::io::Error::from(std::io::ErrorKind::NotFound),
                    ));
                }
            }
        }
        FileOp::CopyMove { from, to } | FileOp::Copy { from, to } => {
            let (f, t) = (root.join(from), root.join(to));
            if !exists(&t) {
                let partial = atomic_fs::with_suffix(&t, ".cortex-migrate-partial");
                remove_any(&partial)?;
                let total = atomic_fs::tree_size(&f)?;
                let mut report = |done: u64| observer.bytes_copied(done, total);
                atomic_fs::copy_verified(&f, &partial, &mut report)?;
                disk::rename(&partial, &t).map_err(|e| MigrateError::io("move", &partial, e))?;
                atomic_fs::sync_parent(&t)?;
            }
        }
        FileOp::Rewrite { path, old, tmp } => {
            // Completing an announced rewrite needs its new bytes, which
            // only exist as `tmp`: renamed if it is there; if it is not, the
            // rename already happened (a step commits only after every
            // rewrite is done).
            let (p, o, t) = (root.join(path), root.join(old), root.join(tmp));
            if exists(&t) {
                if !exists(&o) {
                    keep_old(&p, &o, true)?;
                }
                disk::rename(&t, &p).map_err(|e| MigrateError::io("replace", &p, e))?;
                atomic_fs::sync_parent(&p)?;
            }
        }
        FileOp::Create { path, new } => {
            let p = root.join(path);
            if !exists(&p) {
                atomic_fs::write_new(&p, &new.0)?;
            } else if atomic_fs::read(&p)? != new.0 {
                atomic_fs::write_atomic(&p, &new.0)?;
            }
        }
        FileOp::Delete { path, trash } => {
            let (p, t) = (root.join(path), root.join(trash));
            if exists(&p) && !exists(&t) {
                disk::rename(&p, &t)
                    .map_err(|e| MigrateError::io("delete (move to trash)", &p, e))?;
                atomic_fs::sync_parent(&p)?;
                atomic_fs::sync_parent(&t)?;
            }
        }
    }
    Ok(())
}

/// Undoes `op` if it was done.
fn undo(dir: &DataDir, op: &FileOp) -> Result<()> {
    let root = dir.root();
    match op {
        FileOp::CreateDir { path } => {
            let p = root.join(path);
            if exists(&p) {
                match disk::remove_dir(&p) {
                    Ok(()) => atomic_fs::sync_parent(&p)?,
                    Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {
                        tracing::warn!(path = %p.display(), "folder created by the step is not empty; left in place");
                    }
                    Err(e) => return Err(MigrateError::io("remove folder", &p, e)),
                }
            }
        }
        FileOp::Rename { from, to } => {
            let (f, t) = (root.join(from), root.join(to));
            if !exists(&f) && exists(&t) {
                disk::rename(&t, &f).map_err(|e| MigrateError::io("move back", &t, e))?;
                atomic_fs::sync_parent(&f)?;
                atomic_fs::sync_parent(&t)?;
            }
        }
        FileOp::CopyMove { from, to } => {
            let (f, t) = (root.join(from), root.join(to));
            remove_any(&atomic_fs::with_suffix(&t, ".cortex-migrate-partial"))?;
            if exists(&f) {
                remove_any(&t)?;
                atomic_fs::sync_parent(&t)?;
            }
        }
        FileOp::Copy { to, .. } => {
            let t = root.join(to);
            remove_any(&atomic_fs::with_suffix(&t, ".cortex-migrate-partial"))?;
            remove_any(&t)?;
            atomic_fs::sync_parent(&t)?;
        }
        FileOp::Rewrite { path, old, tmp } => {
            let (p, o, t) = (root.join(path), root.join(old), root.join(tmp));
            remove_any(&t)?;
            if exists(&o) {
                // Renaming a hard link over the same file is a no-op that
                // leaves both names: the kept one goes either way.
                disk::rename(&o, &p).map_err(|e| MigrateError::io("restore", &p, e))?;
                remove_any(&o)?;
                atomic_fs::sync_parent(&p)?;
            }
        }
        FileOp::Create { path, .. } => {
            let p = root.join(path);
            remove_any(&p)?;
            atomic_fs::sync_parent(&p)?;
        }
        FileOp::Delete { path, trash } => {
            let (p, t) = (root.join(path), root.join(trash));
            if exists(&t) && !exists(&p) {
                disk::rename(&t, &p).map_err(|e| MigrateError::io("restore from trash", &t, e))?;
                atomic_fs::sync_parent(&p)?;
                atomic_fs::sync_parent(&t)?;
            }
        }
    }
    Ok(())
}
