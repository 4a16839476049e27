//! Opening a path below a folder in one call that refuses every symlink
//! on the way, where the OS has such a call: what lets a step read
//! thousands of `model.yml` files without first reading each folder of
//! each path to prove it is no link (see `paths.rs`).
//!
//! - Linux 5.6 and later: `openat2(2)` below a handle on the folder with
//!   `RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH`: the kernel refuses the open
//!   (`ELOOP`, `EXDEV`) if any part of the path, the last included, is a
//!   symlink or climbs out. A kernel without it (`ENOSYS`), or a sandbox
//!   that forbids it (`EPERM`), turns the fast way off for the process.
//! - Elsewhere (macOS, Windows): no fast way; [`Beneath::open`] answers
//!   `None` and the caller checks the path part by part, as it always
//!   could.
//!
//! `None` never means "refused": it means "not opened this way", and the
//! caller's slower check decides, so a fast open can only say yes where the
//! slow check says yes.

use std::fs::File;
use std::path::Path;

/// What [`Beneath::open`] opens the file for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenFor {
    /// Reading its bytes.
    Read,
    /// Its metadata only (Linux: `O_PATH`, which needs no read permission).
    Metadata,
}

/// A handle on a folder that paths below it are opened through.
#[derive(Debug)]
pub struct Beneath {
    #[cfg(target_os = "linux")]
    dir: Option<File>,
}

impl Beneath {
    /// A handle on `folder` (the folder itself may be reached through a
    /// symlink; only the paths below it are held to having none). Never
    /// fails: without a handle every [`open`](Self::open) answers `None`.
    pub fn new(folder: &Path) -> Beneath {
        #[cfg(target_os = "linux")]
        {
            use std::os::unix::fs::OpenOptionsExt;
            let dir = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY)
                .open(folder)
                .ok();
            Beneath { dir }
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = folder;
            Beneath {}
        }
    }

    /// Opens `rel` (relative, no `..`) below the folder when no part of it
    /// is a symlink; `None` when it was not opened so, for whatever reason
    /// (missing, a symlink on the way, no permission, no such call here).
    pub fn open(&self, rel: &Path, purpose: OpenFor) -> Option<File> {
        #[cfg(target_os = "linux")]
        {
            linux::open(self.dir.as_ref()?, rel, purpose)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = (rel, purpose);
            None
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::CString;
    use std::fs::File;
    use std::os::fd::{AsRawFd, FromRawFd};
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::OpenFor;

    /// Set once the kernel said it has no `openat2` for this process.
    static UNAVAILABLE: AtomicBool = AtomicBool::new(false);

    pub(super) fn open(dir: &File, rel: &Path, purpose: OpenFor) -> Option<File> {
        if UNAVAILABLE.load(Ordering::Relaxed) || rel.is_absolute() {
            return None;
        }
        let path = CString::new(rel.as_os_str().as_bytes()).ok()?;
        let access = match purpose {
            OpenFor::Read => libc::O_RDONLY | libc::O_NOCTTY,
            OpenFor::Metadata => libc::O_PATH,
        };
        // SAFETY: `open_how` is plain integers; all zero is its "nothing
        // asked" value, and the fields set below are the ones the kernel
        // reads.
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = u64::try_from(access | libc::O_CLOEXEC).ok()?;
        how.resolve = libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_BENEATH;
        // SAFETY: a folder handle kept open by `dir`, a NUL-terminated path
        // and a pointer to `how` with its true size, all alive through the
        // call; the kernel returns a new descriptor or -1.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir.as_raw_fd(),
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if fd < 0 {
            let e = std::io::Error::last_os_error().raw_os_error();
            if matches!(e, Some(libc::ENOSYS) | Some(libc::EPERM)) {
                UNAVAILABLE.store(true, Ordering::Relaxed);
            }
            return None;
        }
        let fd = i32::try_from(fd).ok()?;
        // SAFETY: `fd` is a descriptor the call above just opened and that
        // nothing else owns.
        Some(unsafe { File::from_raw_fd(fd) })
    }
}
