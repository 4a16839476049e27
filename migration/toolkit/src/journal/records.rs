//! What the journal writes, one JSON line each: the file operations it
//! announces ([`FileOp`]), their contents, and the records that mark them
//! done, committed or rolled back.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::*;

/// One file operation, with paths relative to the data folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum FileOp {
    /// A new folder.
    CreateDir {
        #[serde(with = "path_repr")]
        path: PathBuf,
    },
    /// A move within one filesystem: a rename, whatever the size.
    Rename {
        #[serde(with = "path_repr")]
        from: PathBuf,
        #[serde(with = "path_repr")]
        to: PathBuf,
    },
    /// A move across filesystems: copied and verified now, the source removed
    /// only once the step has committed.
    CopyMove {
        #[serde(with = "path_repr")]
        from: PathBuf,
        #[serde(with = "path_repr")]
        to: PathBuf,
    },
    /// A copy (a backup put back in place); the source stays.
    Copy {
        #[serde(with = "path_repr")]
        from: PathBuf,
        #[serde(with = "path_repr")]
        to: PathBuf,
    },
    /// New content for an existing (small, text) file: written to `tmp`
    /// beside it, then renamed over it. The old version is kept at `old` in
    /// the work folder (a hard link: no bytes copied; a copy across
    /// filesystems) until the step commits.
    Rewrite {
        #[serde(with = "path_repr")]
        path: PathBuf,
        #[serde(with = "path_repr")]
        old: PathBuf,
        #[serde(with = "path_repr")]
        tmp: PathBuf,
    },
    /// A new file with its content.
    Create {
        #[serde(with = "path_repr")]
        path: PathBuf,
        new: Content,
    },
    /// A deletion: a move into `trash` until the step commits.
    Delete {
        #[serde(with = "path_repr")]
        path: PathBuf,
        #[serde(with = "path_repr")]
        trash: PathBuf,
    },
}

impl FileOp {
    /// The same operation without the file contents it carries.
    pub(super) fn without_contents(&self) -> FileOp {
        match self {
            FileOp::Create { path, .. } => FileOp::Create {
                path: path.clone(),
                new: Content(Vec::new()),
            },
            other => other.clone(),
        }
    }

    /// One line for `plan` and logs.
    pub fn describe(&self) -> String {
        match self {
            FileOp::CreateDir { path } => format!("create folder {}", path.display()),
            FileOp::Rename { from, to } => format!("rename {} -> {}", from.display(), to.display()),
            FileOp::CopyMove { from, to } => {
                format!(
                    "copy {} -> {} (other filesystem), then remove the source",
                    from.display(),
                    to.display()
                )
            }
            FileOp::Copy { from, to } => format!("copy {} -> {}", from.display(), to.display()),
            FileOp::Rewrite { path, .. } => format!("rewrite {}", path.display()),
            FileOp::Create { path, .. } => format!("create {}", path.display()),
            FileOp::Delete { path, .. } => format!("delete {}", path.display()),
        }
    }
}

/// The bytes of a rewritten or created file, kept in the journal: text
/// when they are UTF-8 (readable when someone opens the journal), raw bytes
/// otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content(pub Vec<u8>);

impl Serialize for Content {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(t) => ContentRepr::Text(t.to_owned()).serialize(s),
            Err(_) => ContentRepr::Bytes {
                bytes: self.0.clone(),
            }
            .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Content {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        Ok(match ContentRepr::deserialize(d)? {
            ContentRepr::Text(t) => Content(t.into_bytes()),
            ContentRepr::Bytes { bytes } => Content(bytes),
        })
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum ContentRepr {
    Text(String),
    Bytes { bytes: Vec<u8> },
}

/// Up to this many rewrites in a batch are fsynced one by one; more are
/// made durable with one sync of the filesystem (on Linux; elsewhere they
/// are fsynced one by one too, see `platform::WHOLE_FILESYSTEM_SYNC`).
pub(super) const BATCH_SYNC_THRESHOLD: usize = 32;

/// Files larger than this are not rewritten through the journal (rewrites
/// are for `model.yml`, `.cortexrc` and the like).
pub const MAX_REWRITE: u64 = 8 << 20;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case")]
pub(super) enum Record {
    Begin {
        step: String,
        direction: Direction,
        pid: u32,
        started_at: u64,
    },
    Op {
        id: u64,
        #[serde(flatten)]
        op: FileOp,
    },
    /// The operation `id` is complete. Not fsynced on its own: the next
    /// record's fsync (or [`Journal::sync`] before the commit) carries it.
    Done { id: u64 },
    /// Everything is in place: recover forward. Written only by operations
    /// whose outcome no database row decides (a restore).
    Commit,
}
