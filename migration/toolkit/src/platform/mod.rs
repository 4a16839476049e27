//! Everything that differs between Linux, macOS and Windows, in one place:
//! flushing a file or a folder entry to stable storage, renaming over a
//! file (a temporary file from tempfile too), telling filesystems apart,
//! flushing a whole filesystem, killing this process for fault injection,
//! and the OS facts the rest needs (symlink loops, raw file names, the host
//! name, the permissions of a new file). No other module of the library
//! calls `libc`, `windows-sys` or `std::os::{unix,windows}`.
//!
//! What each platform gives (only Linux is built and tested here):
//! - Linux: `fsync` of the file, then of its folder; `rename(2)`; a batch is
//!   made durable by one `syncfs(2)` of each filesystem it wrote to.
//! - macOS: `fsync` leaves the data in the drive's cache, so files and
//!   folders are flushed with `fcntl(F_FULLFSYNC)`, falling back to `fsync`
//!   where the filesystem refuses it (as SQLite does). `sync(2)` may return
//!   before the writes are done (sync(2), BUGS), so a batch is fsynced file
//!   by file ([`WHOLE_FILESYSTEM_SYNC`] is false).
//! - Windows: a folder cannot be fsynced; a rename is made durable by
//!   `MoveFileExW(MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)`, whose
//!   documentation says it does not return "until the file is actually moved
//!   on the disk". Files are flushed with `FlushFileBuffers` (std's
//!   `sync_all`), which needs a handle open for writing. A whole volume can
//!   only be flushed by an administrator, so a batch is flushed file by file.
//!   A rename fails while another program holds the target open without
//!   `FILE_SHARE_DELETE` (Cortex itself, a virus scanner): it is retried for
//!   about a second, then the step fails and rolls back.
//!
//! The parts, each for every platform: `sync` (flushing files, folders and
//! whole filesystems), `rename` (putting a file in place atomically),
//! `clone` (a reflink copy where the filesystem has them),
//! `filesystem` (which filesystem holds a path, symlinks), `names` (file
//! names as the OS spells them, the host name), `beneath` (opening a path
//! below a folder in one call that refuses any symlink on the way: Linux
//! `openat2`; elsewhere none, and the caller checks part by part); killing this process (for
//! the crash tests, only with the `fault-injection` feature) is here. The rest of the library calls them as `platform::<function>`.

mod beneath;
mod clone;
mod filesystem;
mod names;
mod rename;
mod sync;

pub use beneath::{Beneath, OpenFor};
pub use clone::clone_file;
pub use filesystem::{copy_symlink, filesystem_id, filesystem_of, is_symlink_loop};
pub use names::{RawName, from_raw_name, host_name, raw_name};
pub use rename::{created_file_permissions, persist, rename};
pub use sync::{
    WHOLE_FILESYSTEM_SYNC, sync_dir, sync_file, sync_file_data, sync_filesystem, sync_path,
};

/// Ends this process at once, as an OOM kill would: no destructor, no
/// flush, no rollback by us. (Not as a power cut would: the kernel still
/// writes out everything the process wrote.) Unix: SIGKILL; Windows:
/// `TerminateProcess`; `abort` if that returns. Only in a build with the
/// `fault-injection` feature.
#[cfg(feature = "fault-injection")]
pub fn kill_self() -> ! {
    #[cfg(unix)]
    {
        // SAFETY: kill(2) on our own pid has no memory-safety concerns.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
    #[cfg(windows)]
    {
        use windows_sys::Win32::System::Threading::{GetCurrentProcess, TerminateProcess};
        // SAFETY: GetCurrentProcess returns a pseudo-handle that needs no
        // closing; TerminateProcess on it ends this process.
        unsafe {
            TerminateProcess(GetCurrentProcess(), 1);
        }
    }
    std::process::abort()
}
