//! The recorder on its own: stamps, and the manifest it writes through its
//! scratch files against the one a manifest held whole would be.

use super::*;
use crate::journal::Content;
use sea_orm_migration::sea_orm::{Database, DatabaseConnection};

#[test]
fn stamps_sort_like_time() {
    assert_eq!(super::stamp(0), "19700101-000000");
    assert_eq!(super::stamp(1_795_654_443), "20261126-005403");
    assert_eq!(super::stamp(u64::MAX), u64::MAX.to_string());
}

/// A rewrite of `models/m{i}/model.yml` whose old version (`old/{n}`
/// in the data folder, as the journal keeps it; a new `n` each time,
/// as the journal's are) is `bytes`.
fn rewrite(root: &Path, i: usize, bytes: &[u8]) -> FileOp {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let old = PathBuf::from(format!("old/{n}"));
    fs::create_dir_all(root.join("old")).unwrap();
    fs::write(root.join(&old), bytes).unwrap();
    FileOp::Rewrite {
        path: PathBuf::from(format!("models/m{i}/model.yml")),
        old,
        tmp: PathBuf::from(format!("models/m{i}/.model.yml.tmp")),
    }
}

/// A data folder in a new temporary folder whose `cortex.db` holds `sql`.
async fn data_folder_with(sql: &str) -> (tempfile::TempDir, DatabaseConnection) {
    let tmp = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", tmp.path().join(DB_FILE).display());
    let db = Database::connect(url).await.unwrap();
    db.execute_unprepared(sql).await.unwrap();
    (tmp, db)
}

fn manifest_text(folder: &Path) -> String {
    String::from_utf8(fs::read(folder.join("manifest.json")).unwrap()).unwrap()
}

/// A short field that holds what the manifest writer marks a list's
/// place with is refused when the manifest is written again, not written
/// with the list in the wrong place; the manifest on disk stays the last
/// good one.
#[tokio::test]
async fn a_short_field_holding_a_lists_mark_is_refused() {
    let (tmp, db) = data_folder_with("CREATE TABLE models (id TEXT PRIMARY KEY);").await;
    let root = tmp.path();
    let dir = DataDir::new(root).unwrap();
    let rec = Recorder::start(&db, &dir, "\u{0}files", None)
        .await
        .unwrap();
    let folder = backups_dir(&dir).join(rec.id());
    let before = manifest_text(&folder);
    rec.observe(&rewrite(root, 0, b"id: m0\n"), &dir).unwrap();
    let err = rec.before_commit().unwrap_err();
    assert!(
        err.to_string().contains("not marked once"),
        "{err}"
    );
    assert_eq!(manifest_text(&folder), before);
    db.close().await.unwrap();
}

/// A run that keeps several files, creates one and moves one: the
/// manifest written at each save from the scratch files is, byte for
/// byte, what writing a `Manifest` that held every list in memory
/// wrote (the recorder before the scratch files), and nothing of the
/// scratch files is left in the backup.
#[tokio::test]
async fn the_manifest_written_from_the_scratch_files_is_the_one_held_whole() {
    let (tmp, db) = data_folder_with(
        "CREATE TABLE models (id TEXT PRIMARY KEY, n INTEGER);
         INSERT INTO models VALUES ('a', 1), ('b', 2), ('c', NULL);",
    )
    .await;
    let root = tmp.path();
    let dir = DataDir::new(root).unwrap();
    let rec = Recorder::start(&db, &dir, "test", Some("v1".into()))
        .await
        .unwrap();
    let folder = backups_dir(&dir).join(rec.id());
    let old = |i: usize| format!("id: m{i}\n").repeat(i + 1).into_bytes();
    let kept = |i: usize| FileEntry {
        path: format!("models/m{i}/model.yml"),
        bytes: old(i).len() as u64,
        sha256: format!("{:x}", sha2::Sha256::digest(old(i))),
        stored: stored_name(path_key(&format!("models/m{i}/model.yml"))),
    };

    for i in 0..4 {
        rec.observe(&rewrite(root, i, &old(i)), &dir).unwrap();
    }
    // Seen already: its first old version is the one kept.
    rec.observe(&rewrite(root, 0, b"newer"), &dir).unwrap();
    rec.before_commit().unwrap();
    let mid_text = manifest_text(&folder);
    let mid: Manifest = serde_json::from_str(&mid_text).unwrap();
    assert_eq!(mid.files, (0..4).map(kept).collect::<Vec<_>>());
    let mid_whole = Manifest {
        files: (0..4).map(kept).collect(),
        ..mid.clone()
    };
    assert_eq!(mid.moves.len() + mid.created.len(), 0);
    assert_eq!(mid_text, serde_json::to_string_pretty(&mid_whole).unwrap());
    rec.step_done("s1").unwrap();

    for i in 4..7 {
        rec.observe(&rewrite(root, i, &old(i)), &dir).unwrap();
    }
    let created = FileOp::Create {
        path: PathBuf::from("models/new.yml"),
        new: Content(b"x".to_vec()),
    };
    rec.observe(&created, &dir).unwrap();
    rec.observe(&created, &dir).unwrap();
    let moved = FileOp::Rename {
        from: PathBuf::from("engines/a"),
        to: PathBuf::from("engines/b"),
    };
    rec.observe(&moved, &dir).unwrap();
    rec.before_commit().unwrap();
    rec.step_done("s2").unwrap();
    rec.note_rows(&db).await.unwrap();
    rec.finish().unwrap();

    let text = manifest_text(&folder);
    let got: Manifest = serde_json::from_str(&text).unwrap();
    // The rows' hashes as the recorder computed them before: 64 bits
    // of SHA-256 in hex, sorted as strings.
    let mut rows: Vec<String> = ["'a'|1", "'b'|2", "'c'|NULL"]
        .iter()
        .map(|t| {
            let h = sha2::Sha256::digest(t.as_bytes());
            h[..8].iter().map(|b| format!("{b:02x}")).collect()
        })
        .collect();
    rows.sort();
    let whole = Manifest {
        id: rec.id(),
        created_at: got.created_at,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        reason: "test".into(),
        data_version: Some("v1".into()),
        database: got.database.clone(),
        files: (0..7).map(kept).collect(),
        moves: vec![MoveEntry {
            from: "engines/a".into(),
            to: "engines/b".into(),
        }],
        created: vec!["models/new.yml".into()],
        steps: vec!["s1".into(), "s2".into()],
        complete: true,
        change_counter: got.change_counter,
        rows_after: Some([("models".to_owned(), rows)].into()),
    };
    assert!(got.change_counter.is_some());
    assert_eq!(
        text,
        String::from_utf8(serde_json::to_vec_pretty(&whole).unwrap()).unwrap()
    );
    for i in 0..7 {
        let name = stored_name(path_key(&format!("models/m{i}/model.yml")));
        let stored = fs::read(folder.join(FILES_DIR).join(name)).unwrap();
        assert_eq!(stored, old(i));
    }
    let mut names: Vec<String> = fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [DB_FILE, FILES_DIR, "manifest.json"]);
    // Finished: nothing more is recorded, and a save cannot list less.
    assert!(rec.observe(&rewrite(root, 9, b"late"), &dir).is_err());
    assert!(rec.before_commit().is_err());
    assert_eq!(manifest_text(&folder), text);
    db.close().await.unwrap();
}

/// A step that changed no file leaves the manifest file as it was before
/// its commit (not written again); one that did has it written, listing
/// the file, before its commit.
#[cfg(unix)]
#[tokio::test]
async fn the_manifest_is_written_before_a_commit_only_when_there_is_more_to_say() {
    use std::os::unix::fs::MetadataExt;
    let (tmp, db) = data_folder_with("CREATE TABLE models (id TEXT PRIMARY KEY);").await;
    let root = tmp.path();
    let dir = DataDir::new(root).unwrap();
    let rec = Recorder::start(&db, &dir, "test", None).await.unwrap();
    let folder = backups_dir(&dir).join(rec.id());
    let inode = || fs::metadata(folder.join("manifest.json")).unwrap().ino();

    rec.before_commit().unwrap();
    rec.step_done("s1").unwrap();
    let after_s1 = inode();
    rec.before_commit().unwrap();
    assert_eq!(inode(), after_s1, "nothing new: not written again");

    rec.observe(&rewrite(root, 0, b"id: m0\n"), &dir).unwrap();
    rec.before_commit().unwrap();
    assert_ne!(inode(), after_s1);
    let m: Manifest = serde_json::from_str(&manifest_text(&folder)).unwrap();
    assert_eq!(m.files.len(), 1);
    assert_eq!(m.steps, ["s1"]);
    db.close().await.unwrap();
}

/// A batch observed at once keeps and lists what observing it one
/// operation at a time does, in the batch's order: a path named twice in
/// the batch, or kept in an earlier batch, keeps its first old version, and
/// a file the run created is not kept.
#[tokio::test]
async fn a_batch_observed_at_once_is_kept_as_one_observed_op_by_op() {
    let (tmp, db) = data_folder_with("CREATE TABLE models (id TEXT PRIMARY KEY);").await;
    let root = tmp.path();
    let dir = DataDir::new(root).unwrap();
    let old = |i: usize| format!("id: m{i}\nold: true\n").repeat(i + 1).into_bytes();
    let listed = |rec: &Recorder| -> Vec<FileEntry> {
        rec.before_commit().unwrap();
        let folder = backups_dir(&dir).join(rec.id());
        serde_json::from_str::<Manifest>(&manifest_text(&folder))
            .unwrap()
            .files
    };
    // The same operations, each batch built twice (the journal's kept old
    // versions are files of their own each time).
    let batches = |root: &Path| -> Vec<Vec<FileOp>> {
        vec![
            (0..40)
                .map(|i| rewrite(root, i, &old(i)))
                .chain([rewrite(root, 3, b"a second version of m3")])
                .collect(),
            vec![
                rewrite(root, 7, b"m7 again, a later batch"),
                rewrite(root, 99, b"created by the run"),
                rewrite(root, 41, &old(41)),
            ],
        ]
    };
    let created = FileOp::Create {
        path: PathBuf::from("models/m99/model.yml"),
        new: Content(b"x".to_vec()),
    };

    let one_by_one = Recorder::start(&db, &dir, "test", None).await.unwrap();
    one_by_one.observe(&created, &dir).unwrap();
    for batch in batches(root) {
        for op in &batch {
            one_by_one.observe(op, &dir).unwrap();
        }
    }
    let expected = listed(&one_by_one);
    one_by_one.finish().unwrap();
    assert_eq!(expected.len(), 41, "{expected:?}");

    let at_once = Recorder::start(&db, &dir, "test", None).await.unwrap();
    at_once.observe(&created, &dir).unwrap();
    for batch in batches(root) {
        at_once.observe_many(&batch, &dir).unwrap();
    }
    assert_eq!(listed(&at_once), expected);
    let folder = backups_dir(&dir).join(at_once.id());
    for i in (0..42).filter(|i| *i != 40) {
        let name = stored_name(path_key(&format!("models/m{i}/model.yml")));
        assert_eq!(
            fs::read(folder.join(FILES_DIR).join(name)).unwrap(),
            old(i),
            "m{i}"
        );
    }
    at_once.finish().unwrap();
    db.close().await.unwrap();
}

/// A copy hashed on a thread of its own while it is written: the hash and
/// the length are those of the bytes on disk, whatever the chunks' sizes
/// (more chunks than wait to be hashed at once, so chunks are handed back
/// and filled again).
#[test]
fn a_hashed_file_hashes_what_it_wrote() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("copy");
    let bytes: Vec<u8> = (0..3_500_000u32)
        .map(|i| i.wrapping_mul(2_654_435_761) as u8)
        .collect();
    let mut out = HashedFile::create(&path).unwrap();
    let mut at = 0;
    for size in [1usize, 0, 1 << 20, 7, 65_536, 1 << 20, 3].iter().cycle() {
        let end = (at + size).min(bytes.len());
        out.write(&bytes[at..end]).unwrap();
        at = end;
        if at == bytes.len() {
            break;
        }
    }
    let (file, len, sha256) = out.finish().unwrap();
    drop(file);
    assert_eq!(len, bytes.len() as u64);
    assert_eq!(sha256, format!("{:x}", sha2::Sha256::digest(&bytes)));
    assert_eq!(fs::read(&path).unwrap(), bytes);
    // The path must be new.
    assert!(HashedFile::create(&path).is_err());
}
