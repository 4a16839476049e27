//! A move between two filesystems inside the data folder (a folder of it
//! that is a mount point, here a small tmpfs) is a copy that is verified
//! before the source goes, and the source goes only once the step commits;
//! a full filesystem fails the step cleanly. Needs the right to mount
//! (root); elsewhere the tests say why they skip, and under `CI=true` they
//! fail instead.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use migration::toolkit::journal::{Journal, PendingJournal};
use migration::toolkit::{DataDir, Direction, MigrateError};

/// A tmpfs mounted on `path` for the life of the value.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let mounted = common::succeeds(
            Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(path),
        );
        common::require("a tmpfs mounted as a second filesystem (root)", mounted)
            .then(|| Tmpfs(path.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn setup() -> (tempfile::TempDir, DataDir) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("data");
    std::fs::create_dir_all(root.join("models/a")).unwrap();
    let weights: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("models/a/model.gguf"), &weights).unwrap();
    std::fs::write(root.join("models/a/model.yml"), b"id: a\n").unwrap();
    let dir = DataDir::new(&root).unwrap();
    (t, dir)
}

#[test]
fn a_move_to_another_filesystem_is_a_verified_copy_whose_source_goes_at_commit() {
    let (_t, dir) = setup();
    let Some(_mnt) = Tmpfs::mount(&dir.root().join("big"), "64m") else {
        return;
    };
    let before = common::tree(&dir.root().join("models"));

    let mut j = Journal::begin(&dir, "m_test", Direction::Up).unwrap();
    j.move_path(Path::new("models/a"), Path::new("big/a"))
        .unwrap();
    // Until the commit both exist: the copy, and the source it came from.
    assert!(dir.root().join("models/a/model.gguf").exists());
    assert_eq!(
        common::tree(&dir.root().join("big/a")),
        common::tree(&dir.root().join("models/a"))
    );
    j.finalize().unwrap();
    assert!(!dir.root().join("models/a").exists());
    let mut moved = common::tree(&dir.root().join("big"));
    moved.retain(|k, _| k.starts_with('a'));
    let expected: std::collections::BTreeMap<String, String> = before.into_iter().collect();
    assert_eq!(moved, expected);
}

#[test]
fn a_cross_filesystem_move_rolls_back_by_dropping_the_copy() {
    let (_t, dir) = setup();
    let Some(_mnt) = Tmpfs::mount(&dir.root().join("big"), "64m") else {
        return;
    };
    let before = common::tree(dir.root());
    let mut j = Journal::begin(&dir, "m_test", Direction::Up).unwrap();
    j.move_path(Path::new("models/a"), Path::new("big/a"))
        .unwrap();
    drop(j); // dies before the commit
    PendingJournal::load(&dir)
        .unwrap()
        .unwrap()
        .roll_back()
        .unwrap();
    assert_eq!(common::tree(dir.root()), before);
}

#[test]
fn a_full_filesystem_fails_the_move_cleanly() {
    let (_t, dir) = setup();
    let Some(_mnt) = Tmpfs::mount(&dir.root().join("big"), "1m") else {
        return;
    };
    let before = common::tree(dir.root());
    let mut j = Journal::begin(&dir, "m_test", Direction::Up).unwrap();
    let err = j
        .move_path(Path::new("models/a"), Path::new("big/a"))
        .unwrap_err();
    assert!(matches!(err, MigrateError::NoSpace { .. }), "{err}");
    assert!(err.to_string().contains("no space left"), "{err}");
    j.rollback().unwrap();
    assert_eq!(common::tree(dir.root()), before);
}
