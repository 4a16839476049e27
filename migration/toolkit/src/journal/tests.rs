//! The journal on its own: rollback, finalize, recovery forward and back,
//! torn and damaged records, read-only files, non-UTF-8 names, a batch's
//! permissions.

use super::*;
use std::fs::OpenOptions;
use std::io::Write;

fn setup() -> (tempfile::TempDir, DataDir) {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("data");
    fs::create_dir_all(root.join("models/a")).unwrap();
    fs::write(
        root.join("models/a/model.yml"),
        b"engine: cortex.llamacpp\n",
    )
    .unwrap();
    fs::write(root.join("models/a/w.gguf"), b"weights").unwrap();
    let d = DataDir::new(&root).unwrap();
    (t, d)
}

fn snapshot(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    fn walk(base: &Path, p: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
        for e in fs::read_dir(p).unwrap() {
            let e = e.unwrap();
            let path = e.path();
            if path.file_name().unwrap() == crate::state_dir::NAME {
                continue;
            }
            let rel = path.strip_prefix(base).unwrap().to_path_buf();
            if path.is_dir() {
                out.push((rel, b"<dir>".to_vec()));
                walk(base, &path, out);
            } else {
                out.push((rel, fs::read(&path).unwrap()));
            }
        }
    }
    walk(root, root, &mut out);
    out.sort();
    out
}

fn do_ops(j: &mut Journal) {
    j.create_dir_all(Path::new("models/b/c")).unwrap();
    j.move_path(Path::new("models/a/w.gguf"), Path::new("models/b/c/w.gguf"))
        .unwrap();
    j.rewrite(Path::new("models/a/model.yml"), b"engine: llama-cpp\n")
        .unwrap();
    j.create_file(Path::new("models/b/new.txt"), b"hello")
        .unwrap();
    j.delete(Path::new("models/a")).unwrap();
}

#[test]
fn rollback_restores_every_byte() {
    let (_t, d) = setup();
    let before = snapshot(d.root());
    let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
    do_ops(&mut j);
    assert_ne!(snapshot(d.root()), before);
    j.rollback().unwrap();
    assert_eq!(snapshot(d.root()), before);
    assert!(!journal_path(&d).exists());
}

#[test]
fn finalize_keeps_changes_and_empties_trash() {
    let (_t, d) = setup();
    let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
    do_ops(&mut j);
    let during = snapshot(d.root());
    j.finalize().unwrap();
    assert_eq!(snapshot(d.root()), during);
    assert!(!d.root().join("models/a").exists());
    assert!(!work_dir(&d).exists());
    assert_eq!(
        fs::read(d.root().join("models/b/c/w.gguf")).unwrap(),
        b"weights"
    );
}

#[test]
fn pending_journal_rolls_back_and_forward() {
    let (_t, d) = setup();
    let before = snapshot(d.root());
    let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
    do_ops(&mut j);
    let after = snapshot(d.root());
    drop(j); // the process "dies"
    let p = PendingJournal::load(&d).unwrap().unwrap();
    assert_eq!(p.step, "s");
    assert_eq!(p.ops.len(), 6, "{:?}", p.ops);
    p.roll_back().unwrap();
    assert_eq!(snapshot(d.root()), before);

    let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
    do_ops(&mut j);
    drop(j);
    PendingJournal::load(&d)
        .unwrap()
        .unwrap()
        .roll_forward()
        .unwrap();
    assert_eq!(snapshot(d.root()), after);
}

#[test]
fn torn_last_line_is_ignored_but_damage_elsewhere_is_refused() {
    let (_t, d) = setup();
    let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
    j.create_dir(Path::new("models/x")).unwrap();
    drop(j);
    let path = journal_path(&d);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(br#"{"record":"op","id":2,"op":"del"#).unwrap();
    let p = PendingJournal::load(&d).unwrap().unwrap();
    assert_eq!(p.ops.len(), 1);

    let text = fs::read_to_string(&path).unwrap();
    let broken = text.replacen("create_dir", "create_d!r", 1) + "\n{}\n";
    fs::write(&path, broken).unwrap();
    let err = PendingJournal::load(&d).unwrap_err();
    assert!(
        matches!(err, MigrateError::JournalCorrupt { line: 2, .. }),
        "{err}"
    );
}

#[test]
fn read_only_file_is_refused_not_forced() {
    let (_t, d) = setup();
    let p = d.root().join("models/a/model.yml");
    let mut perms = fs::metadata(&p).unwrap().permissions();
    perms.set_readonly(true);
    fs::set_permissions(&p, perms).unwrap();
    let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
    let err = j
        .rewrite(Path::new("models/a/model.yml"), b"x")
        .unwrap_err();
    assert!(matches!(err, MigrateError::ReadOnly { .. }));
    j.rollback().unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"engine: cortex.llamacpp\n");
}

#[cfg(unix)]
#[test]
fn non_utf8_names_survive_the_journal() {
    use std::os::unix::ffi::OsStrExt;
    let (_t, d) = setup();
    let name = std::ffi::OsStr::from_bytes(b"w\xff.gguf");
    fs::write(d.root().join("models/a").join(name), b"x").unwrap();
    let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
    j.move_path(
        &Path::new("models/a").join(name),
        &Path::new("models").join(name),
    )
    .unwrap();
    drop(j);
    let p = PendingJournal::load(&d).unwrap().unwrap();
    p.roll_back().unwrap();
    assert!(d.root().join("models/a").join(name).exists());
}

/// More rewrites than `BATCH_SYNC_THRESHOLD`: written by threads and made
/// durable by one sync per filesystem, then kept or undone like any other.
#[test]
fn a_large_rewrite_batch_is_kept_by_finalize_and_undone_by_rollback() {
    let n = BATCH_SYNC_THRESHOLD + 8;
    let (_t, d) = setup();
    for i in 0..n {
        let dir = d.root().join(format!("models/m{i}"));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("model.yml"), format!("name: m{i}\n")).unwrap();
    }
    let items = || -> Vec<(PathBuf, Vec<u8>)> {
        (0..n)
            .map(|i| {
                (
                    PathBuf::from(format!("models/m{i}/model.yml")),
                    format!("name: m{i}\nengine: llama-cpp\n").into_bytes(),
                )
            })
            .collect()
    };
    let before = snapshot(d.root());

    let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
    j.rewrite_many(items()).unwrap();
    j.rollback().unwrap();
    assert_eq!(snapshot(d.root()), before);

    let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
    j.rewrite_many(items()).unwrap();
    j.finalize().unwrap();
    for (rel, content) in items() {
        assert_eq!(fs::read(d.root().join(&rel)).unwrap(), content, "{rel:?}");
    }
    assert!(!journal_path(&d).exists());
    assert!(!work_dir(&d).exists());
}

/// A batch's new files get the permissions its check read of each old
/// one, whatever the process's umask would give a new file, in a batch
/// written file by file and in one shared out over threads; and a file
/// reached through a symlink is judged by the file it leads to.
#[cfg(unix)]
#[test]
fn a_rewrite_batch_keeps_each_files_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let (_t, d) = setup();
    let modes = [0o600, 0o640, 0o664, 0o666, 0o755];
    let mut items: Vec<(PathBuf, Vec<u8>)> = Vec::new();
    for (batch, n) in [("small", modes.len()), ("large", BATCH_SYNC_THRESHOLD + 8)] {
        for i in 0..n {
            let dir = d.root().join(format!("models/{batch}{i}"));
            fs::create_dir_all(&dir).unwrap();
            let path = dir.join("model.yml");
            fs::write(&path, format!("name: m{i}\n")).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(modes[i % modes.len()]))
                .unwrap();
        }
        items = (0..n)
            .map(|i| {
                (
                    PathBuf::from(format!("models/{batch}{i}/model.yml")),
                    format!("name: m{i}\nengine: llama-cpp\n").into_bytes(),
                )
            })
            .collect();
        let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
        j.rewrite_many(items.clone()).unwrap();
        j.finalize().unwrap();
        for (i, (rel, content)) in items.iter().enumerate() {
            let path = d.root().join(rel);
            assert_eq!(fs::read(&path).unwrap(), *content, "{rel:?}");
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, modes[i % modes.len()], "{rel:?}");
        }
    }

    // A symlink to a read-only file is refused as the file would be.
    let target = d.root().join("models/large0/frozen.yml");
    fs::write(&target, "name: frozen\n").unwrap();
    fs::set_permissions(&target, fs::Permissions::from_mode(0o444)).unwrap();
    std::os::unix::fs::symlink(&target, d.root().join("models/large1/linked.yml")).unwrap();
    let mut batch = items;
    batch.push((PathBuf::from("models/large1/linked.yml"), b"name: x\n".to_vec()));
    let before = snapshot(d.root());
    let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
    match j.rewrite_many(batch) {
        Err(MigrateError::ReadOnly { path }) => assert!(path.ends_with("linked.yml"), "{path:?}"),
        other => panic!("a symlink to a read-only file was rewritten: {other:?}"),
    }
    j.rollback().unwrap();
    assert_eq!(snapshot(d.root()), before);
}

/// A data folder with `n` files for a step of more than one chunk of
/// operations: `many/<i>.yml` to rewrite (i not a multiple of 7) and
/// `gone<i>` to delete (every 11th).
fn many_files(d: &DataDir, n: usize) {
    fs::create_dir(d.root().join("many")).unwrap();
    for i in 0..n {
        if i % 7 != 0 {
            fs::write(d.root().join(format!("many/{i}.yml")), format!("old {i}\n")).unwrap();
        }
        if i % 11 == 4 {
            fs::write(d.root().join(format!("gone{i}")), format!("gone {i}")).unwrap();
        }
    }
}

/// Creates, deletes and rewrites (as one batch) the files of
/// [`many_files`]: each operation is read back from the journal file, in
/// order, by rollback and by finalize.
fn many_ops(j: &mut Journal, n: usize) {
    let mut batch = Vec::new();
    for i in 0..n {
        let rel = PathBuf::from(format!("many/{i}.yml"));
        if i % 7 == 0 {
            j.create_file(&rel, format!("created {i}\n").as_bytes())
                .unwrap();
        } else {
            batch.push((rel, format!("new {i}\n").into_bytes()));
        }
        if i % 11 == 4 {
            j.delete(Path::new(&format!("gone{i}"))).unwrap();
        }
    }
    j.rewrite_many(batch).unwrap();
}

#[test]
fn many_chunks_roll_back_and_finalize() {
    for n in [index::CHUNK - 2, index::CHUNK, 2 * index::CHUNK + 7] {
        let (_t, d) = setup();
        many_files(&d, n);
        let before = snapshot(d.root());
        let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
        many_ops(&mut j, n);
        assert!(j.announced() > n, "{n}: {}", j.announced());
        j.rollback().unwrap();
        assert_eq!(snapshot(d.root()), before, "{n} ops rolled back");
        assert!(!journal_path(&d).exists());

        let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
        many_ops(&mut j, n);
        let during = snapshot(d.root());
        j.finalize().unwrap();
        assert_eq!(snapshot(d.root()), during, "{n} ops finalized");
        assert!(!work_dir(&d).exists());
        for i in 0..n {
            let text = fs::read_to_string(d.root().join(format!("many/{i}.yml"))).unwrap();
            let want = if i % 7 == 0 { "created" } else { "new" };
            assert_eq!(text, format!("{want} {i}\n"), "{n} ops: file {i}");
            assert!(!d.root().join(format!("gone{i}")).exists(), "{n}: {i}");
        }
    }
}

#[test]
fn a_damaged_chunk_is_refused_by_name() {
    let (_t, d) = setup();
    many_files(&d, index::CHUNK + 10);
    let mut j = Journal::begin(&d, "s", Direction::Up).unwrap();
    many_ops(&mut j, index::CHUNK + 10);
    // Damage the first record of the second chunk (the journal file is
    // the only place it is kept).
    let path = journal_path(&d);
    let text = fs::read_to_string(&path).unwrap();
    let (offset, _) = j.index.chunk_starts[1];
    let mut bytes = text.into_bytes();
    bytes[offset as usize] = b'#';
    fs::write(&path, bytes).unwrap();
    let err = j.rollback().unwrap_err().to_string();
    assert!(err.contains("cannot be read"), "{err}");
    assert!(err.contains("journal"), "{err}");
}
