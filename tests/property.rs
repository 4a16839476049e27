//! Property: for any cortex.cpp data folder (model ids with spaces,
//! unicode and names as long as a file name may be; cortex.so folders and
//! imported models; models with and without files, absolute and relative
//! paths, paths outside the folder, weights and model folders that are
//! symlinks, rows whose `model.yml` is missing, legacy and current engine
//! names, broken `model.yml` files; `hardware` and `files` rows), taken to
//! cortex.cpp's v3 by adoption:
//! - migrating up leaves every file outside the data folder as it was;
//! - migrating up and then back down returns every file, the schema and
//!   every row of every table (the history's and the archives' included)
//!   to where they started;
//! - going further down, to v0, loses nothing: every value of every row is
//!   still in its table or in one of its `cortex_archive_*` tables;
//! - migrating up again gives exactly what the first up gave: from v3
//!   every file and row (the history's included); from v0 every file, the
//!   schema and every row of Cortex's tables and the archives (the history
//!   says `ran` where it said `adopted`), and so does v3 on the way.
//!
//! `PROPTEST_CASES=N` runs N cases (default 24); under `CI=true` it runs at
//! least 256, whatever `PROPTEST_CASES` says.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cortex_migrate::sample::ddl;
use migration::Migrator;
use migration::toolkit::StepList;
use migration::toolkit::runner::{Options, Runner, Target};
use proptest::prelude::*;
use sea_orm::{ConnectionTrait, DatabaseConnection};

mod common;

use common as digest;

/// The most bytes a file name may have (ext4, XFS, APFS, and NTFS in
/// UTF-16 units, which a UTF-8 byte count never undercounts).
const NAME_MAX: usize = 255;

/// The fewest cases CI runs.
const CI_CASES: u32 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Engine {
    None,
    LegacyLlama,
    Llama,
    LegacyOnnx,
    Onnx,
}

impl Engine {
    fn name(self) -> Option<&'static str> {
        match self {
            Engine::None => None,
            Engine::LegacyLlama => Some("cortex.llamacpp"),
            Engine::Llama => Some("llama-cpp"),
            Engine::LegacyOnnx => Some("cortex.onnx"),
            Engine::Onnx => Some("onnxruntime"),
        }
    }
}

/// Where cortex.cpp put a model's yml.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// `models/cortex.so/<id>/main/model.yml` (a download).
    CortexSo,
    /// `models/imported/<id>.yml` (`Models::ImportModel`,
    /// engine/controllers/models.cc), weights where the user keeps them.
    Imported,
}

/// What of the model folder is a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    None,
    /// `model.gguf` is a symlink to a file outside the data folder.
    Weights,
    /// `models/cortex.so/<id>` is a symlink to a folder outside.
    FolderOutside,
    /// `models/cortex.so/<id>` is a symlink to a folder elsewhere inside.
    FolderInside,
}

#[derive(Debug, Clone)]
enum Yml {
    /// A catalogue row: no yml, an empty path, this status.
    Catalogue(Option<&'static str>),
    /// The row names a yml that is not there.
    Missing,
    Present(YmlSpec),
}

#[derive(Debug, Clone)]
struct ModelSpec {
    /// The id's own part (the case prefixes it with its index).
    name: Name,
    layout: Layout,
    yml: Yml,
    link: Link,
    engine: Engine,
    absolute_row_path: bool,
}

#[derive(Debug, Clone)]
struct YmlSpec {
    /// Weights inside the folder (and absolute or relative `files:`), or
    /// outside it (an imported model), or missing.
    weights: Weights,
    absolute_files_entry: bool,
    broken: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Weights {
    Inside,
    Outside,
    Missing,
}

/// A model id's own part: short, or as long as a file name may be.
#[derive(Debug, Clone)]
enum Name {
    Short(String),
    /// The id is this character repeated up to the longest file name the
    /// model's layout makes of it.
    Long(char),
}

impl Name {
    /// The model id for model `i`: unique, never blank at either end, and
    /// its file name (`<id>` or `<id>.yml`) at most [`NAME_MAX`] bytes.
    fn id(&self, i: usize, layout: Layout) -> String {
        let head = format!("m{i}-");
        match self {
            Name::Short(s) => format!("{head}{}-x", s.trim()),
            Name::Long(c) => {
                let budget = match layout {
                    Layout::CortexSo => NAME_MAX,
                    Layout::Imported => NAME_MAX - ".yml".len(),
                };
                let n = (budget - head.len()) / c.len_utf8();
                format!("{head}{}", c.to_string().repeat(n))
            }
        }
    }
}

fn engine() -> impl Strategy<Value = Engine> {
    prop_oneof![
        Just(Engine::None),
        Just(Engine::LegacyLlama),
        Just(Engine::Llama),
        Just(Engine::LegacyOnnx),
        Just(Engine::Onnx)
    ]
}

fn name() -> impl Strategy<Value = Name> {
    prop_oneof![
        3 => "[a-z0-9._-]{1,12}".prop_map(Name::Short),
        // Spaces and letters from beyond ASCII, as a user names an import.
        3 => "[a-zA-Z0-9 ._éüßñ模型лама🦙-]{1,24}".prop_map(Name::Short),
        2 => prop_oneof![Just('a'), Just('é'), Just('模'), Just('🦙')].prop_map(Name::Long),
    ]
}

fn model() -> impl Strategy<Value = ModelSpec> {
    let yml = (
        prop_oneof![
            Just(Weights::Inside),
            Just(Weights::Outside),
            Just(Weights::Missing)
        ],
        any::<bool>(),
        prop::bool::weighted(0.15),
    )
        .prop_map(|(weights, absolute_files_entry, broken)| YmlSpec {
            weights,
            absolute_files_entry,
            broken,
        });
    let yml = prop_oneof![
        1 => prop_oneof![
            Just(Some("downloadable")),
            Just(Some("downloaded")),
            Just(None)
        ]
        .prop_map(Yml::Catalogue),
        1 => Just(Yml::Missing),
        6 => yml.prop_map(Yml::Present),
    ];
    let layout = prop_oneof![3 => Just(Layout::CortexSo), 1 => Just(Layout::Imported)];
    let link = prop_oneof![
        5 => Just(Link::None),
        1 => Just(Link::Weights),
        1 => Just(Link::FolderOutside),
        1 => Just(Link::FolderInside)
    ];
    (name(), layout, yml, link, engine(), any::<bool>()).prop_map(
        |(name, layout, yml, link, engine, absolute_row_path)| ModelSpec {
            name,
            layout,
            yml,
            // An imported model has no folder of its own to link.
            link: if layout == Layout::Imported {
                Link::None
            } else {
                link
            },
            engine,
            absolute_row_path,
        },
    )
}

/// A `hardware` row (v0, `priority` from v2).
#[derive(Debug, Clone)]
struct HardwareSpec {
    uuid: String,
    gpu: bool,
    hardware_id: i64,
    activated: bool,
    priority: Option<i64>,
}

/// A `files` row (v3) and, when `on_disk`, its file under `files/`.
#[derive(Debug, Clone)]
struct FileSpec {
    filename: String,
    created_at: i64,
    bytes: i64,
    on_disk: bool,
}

fn hardware() -> impl Strategy<Value = HardwareSpec> {
    (
        "[a-f0-9-]{1,36}|[a-z é模]{1,12}",
        any::<bool>(),
        any::<i64>(),
        any::<bool>(),
        prop::option::of(any::<i64>()),
    )
        .prop_map(
            |(uuid, gpu, hardware_id, activated, priority)| HardwareSpec {
                uuid,
                gpu,
                hardware_id,
                activated,
                priority,
            },
        )
}

fn file() -> impl Strategy<Value = FileSpec> {
    (
        "[a-zA-Z0-9 ._éü模🦙-]{1,40}",
        any::<i64>(),
        any::<i64>(),
        any::<bool>(),
    )
        .prop_map(|(filename, created_at, bytes, on_disk)| FileSpec {
            filename,
            created_at,
            bytes,
            on_disk,
        })
}

#[derive(Debug, Clone)]
struct FolderSpec {
    models: Vec<ModelSpec>,
    hardware: Vec<HardwareSpec>,
    files: Vec<FileSpec>,
    /// Engine folders on disk: legacy or current names (never both, which
    /// the rename step refuses).
    legacy_llama_folder: bool,
    legacy_onnx_folder: bool,
}

fn folder() -> impl Strategy<Value = FolderSpec> {
    (
        prop::collection::vec(model(), 0..8),
        prop::collection::vec(hardware(), 0..3),
        prop::collection::vec(file(), 0..3),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(models, hardware, files, l, o)| FolderSpec {
            models,
            hardware,
            files,
            legacy_llama_folder: l,
            legacy_onnx_folder: o,
        })
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

fn symlink(target: &Path, link: &Path) {
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, link).unwrap();
    #[cfg(windows)]
    if target.is_dir() {
        std::os::windows::fs::symlink_dir(target, link).unwrap();
    } else {
        std::os::windows::fs::symlink_file(target, link).unwrap();
    }
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `s` as a YAML double-quoted scalar.
fn yaml_quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Lays out model `i`'s files; returns its row's `path_to_model_yaml`.
fn lay_out_model(i: usize, m: &ModelSpec, data: &Path, outside: &Path) -> String {
    let id = m.name.id(i, m.layout);
    let (yml_rel, dir_rel) = match m.layout {
        Layout::CortexSo => {
            let dir = format!("models/cortex.so/{id}/main");
            (format!("{dir}/model.yml"), dir)
        }
        Layout::Imported => (
            format!("models/imported/{id}.yml"),
            "models/imported".into(),
        ),
    };
    let row_path = if m.absolute_row_path {
        data.join(&yml_rel).display().to_string()
    } else {
        yml_rel.clone()
    };
    // The model's folder: a symlink to a folder elsewhere when asked.
    if matches!(m.link, Link::FolderOutside | Link::FolderInside) {
        let target = if m.link == Link::FolderOutside {
            outside.join(format!("folder-{i}"))
        } else {
            data.join(format!("models/linked/folder-{i}"))
        };
        std::fs::create_dir_all(target.join("main")).unwrap();
        symlink(&target, &data.join("models/cortex.so").join(&id));
    }
    let y = match &m.yml {
        Yml::Catalogue(_) => return String::new(),
        Yml::Missing => {
            std::fs::create_dir_all(data.join(&dir_rel)).unwrap();
            return row_path;
        }
        Yml::Present(y) => y,
    };
    let weights_rel = match m.layout {
        Layout::CortexSo => format!("{dir_rel}/model.gguf"),
        Layout::Imported => format!("{dir_rel}/{i}.gguf"),
    };
    let entry = match y.weights {
        Weights::Outside => {
            let p = outside.join(format!("model-{i}.gguf"));
            write(&p, format!("weights {i}").repeat(i + 1).as_bytes());
            p.display().to_string()
        }
        Weights::Inside | Weights::Missing => {
            if y.weights == Weights::Inside {
                let bytes = format!("weights {i}").repeat(i + 2);
                if m.link == Link::Weights {
                    let target = outside.join(format!("linked-{i}.gguf"));
                    write(&target, bytes.as_bytes());
                    symlink(&target, &data.join(&weights_rel));
                } else {
                    write(&data.join(&weights_rel), bytes.as_bytes());
                }
            }
            if y.absolute_files_entry {
                data.join(&weights_rel).display().to_string()
            } else {
                weights_rel
            }
        }
    };
    let engine_line = m
        .engine
        .name()
        .map(|e| format!("engine: {e} # engine to run model\n"))
        .unwrap_or_default();
    let files = if y.broken {
        "files: [unclosed\n".to_owned()
    } else {
        format!("files:             # Can be relative OR absolute local file path\n  - {entry}\n")
    };
    let text = format!(
        "# BEGIN GENERAL GGUF METADATA\nid: {q}\nmodel: {q}\nname: {q}\n{files}# END\n{engine_line}ctx_len: 2048\n",
        q = yaml_quoted(&id)
    );
    write(&data.join(&yml_rel), text.as_bytes());
    row_path
}

/// Lays the folder out: a cortex.cpp v3 database and the files its rows
/// point at.
async fn build(spec: &FolderSpec, home: &Path) -> (PathBuf, DatabaseConnection) {
    let data = home.join("cortexcpp");
    let outside = home.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::create_dir_all(&data).unwrap();
    let llama = if spec.legacy_llama_folder {
        "cortex.llamacpp"
    } else {
        "llama-cpp"
    };
    let onnx = if spec.legacy_onnx_folder {
        "cortex.onnx"
    } else {
        "onnxruntime"
    };
    write(
        &data
            .join("engines")
            .join(llama)
            .join("linux-amd64-avx2/v0.1.49/libengine.so"),
        b"llama engine",
    );
    write(
        &data
            .join("engines")
            .join(onnx)
            .join("linux-amd64-avx2/v0.1.7/libengine.so"),
        b"onnx engine",
    );

    let db = cortex_migrate::connect::open_sqlite_file(&data.join("cortex.db"), true)
        .await
        .unwrap();
    for v in 0..=3u8 {
        for sql in ddl::upgrade(v).unwrap() {
            db.execute_unprepared(sql).await.unwrap();
        }
    }
    db.execute_unprepared("DELETE FROM schema_version; INSERT INTO schema_version VALUES (3)")
        .await
        .unwrap();
    for (i, m) in spec.models.iter().enumerate() {
        let id = m.name.id(i, m.layout);
        let row_path = lay_out_model(i, m, &data, &outside);
        let status = match m.yml {
            Yml::Catalogue(status) => status.map(quote).unwrap_or_else(|| "NULL".into()),
            _ => quote("downloaded"),
        };
        let (author, branch, source) = match m.layout {
            Layout::CortexSo => ("'cortexso'", "'main'", "'cortexso'"),
            Layout::Imported => ("''", "'imported'", "'imported'"),
        };
        let engine = m.engine.name().map(quote).unwrap_or_else(|| "NULL".into());
        let metadata = if i % 2 == 0 {
            "NULL".into()
        } else {
            quote(&format!("{{\"n\":{i}}}"))
        };
        db.execute_unprepared(&format!(
            "INSERT INTO models (model_id, author_repo_id, branch_name, path_to_model_yaml, model_alias, \
             model_format, model_source, status, engine, metadata) \
             VALUES ({id}, {author}, {branch}, {}, {id}, 'gguf', {source}, {status}, {engine}, {metadata})",
            quote(&row_path),
            id = quote(&id),
        ))
        .await
        .unwrap();
    }
    for (n, h) in spec.hardware.iter().enumerate() {
        db.execute_unprepared(&format!(
            "INSERT INTO hardware (uuid, type, hardware_id, software_id, activated, priority) \
             VALUES ({}, {}, {}, {n}, {}, {})",
            quote(&format!("{n}-{}", h.uuid)),
            quote(if h.gpu { "gpu" } else { "cpu" }),
            h.hardware_id,
            i64::from(h.activated),
            h.priority
                .map(|p| p.to_string())
                .unwrap_or_else(|| "NULL".into())
        ))
        .await
        .unwrap();
    }
    for (n, f) in spec.files.iter().enumerate() {
        let id = format!("file-{n}");
        if f.on_disk {
            write(&data.join("files").join(&id), f.filename.as_bytes());
        }
        db.execute_unprepared(&format!(
            "INSERT INTO files (id, object, purpose, filename, created_at, bytes) \
             VALUES ({}, 'file', 'assistants', {}, {}, {})",
            quote(&id),
            quote(&f.filename),
            f.created_at,
            f.bytes
        ))
        .await
        .unwrap();
    }
    for (n, name) in [llama, onnx].iter().enumerate() {
        db.execute_unprepared(&format!(
            "INSERT INTO engines (engine_name, type, version, variant, status, date_created, date_updated) \
             VALUES ({}, 'local', 'v0.1', 'variant-{n}', 'Default', '2025-01-01 00:00:00', '2025-01-01 00:00:00')",
            quote(name)
        ))
        .await
        .unwrap();
    }
    (data, db)
}

/// Every file under the home but the database (its rows are compared on
/// their own), and the whole database: schema, every row of every table
/// (history and archives included) but for the clock.
#[derive(Debug, PartialEq, Eq)]
struct State {
    files: BTreeMap<String, String>,
    db: String,
}

async fn state(home: &Path, db: &DatabaseConnection) -> State {
    let mut files = digest::tree(home);
    files.retain(|k, _| !k.ends_with("cortex.db"));
    State {
        files,
        db: digest::whole_db_state(db).await,
    }
}

/// The history's tables: a step run again after a down is `ran` where it
/// was `adopted`.
const HISTORY: [&str; 3] = [
    "seaql_migrations",
    "cortex_migrate_steps",
    "cortex_migrate_undo",
];

/// What a state holds for the user: the files, the schema and every row
/// of every table (archives included) but the history's.
#[derive(Debug, PartialEq, Eq)]
struct Data<'a> {
    files: &'a BTreeMap<String, String>,
    schema: String,
    rows: BTreeMap<String, digest::TableRows>,
}

async fn user_data<'a>(state: &'a State, db: &DatabaseConnection) -> Data<'a> {
    let mut rows = digest::db_rows(db).await;
    rows.retain(|t, _| !HISTORY.contains(&t.as_str()));
    // Normalized: a table a step made again after a down is spelled the
    // way sea-query writes it, not the way cortex.cpp did.
    let schema = migration::toolkit::snapshot::sqlite_snapshot(db)
        .await
        .unwrap();
    Data {
        files: &state.files,
        schema,
        rows,
    }
}

/// The files of the home outside the data folder.
fn outside_files(s: &State) -> BTreeMap<&String, &String> {
    s.files
        .iter()
        .filter(|(k, _)| !k.starts_with("cortexcpp"))
        .collect()
}

/// Cortex's tables and the column that keys their rows.
const KEYED: [(&str, &str); 4] = [
    ("models", "model_id"),
    ("hardware", "uuid"),
    ("engines", "id"),
    ("files", "id"),
];

/// Every value of `before` that is in neither its table nor one of that
/// table's archives in `after`, matched by the row's key: what a down
/// lost.
fn lost(
    before: &BTreeMap<String, digest::TableRows>,
    after: &BTreeMap<String, digest::TableRows>,
) -> Vec<String> {
    let mut lost = Vec::new();
    for (table, key) in KEYED {
        let homes: Vec<&digest::TableRows> = after
            .iter()
            .filter(|(name, _)| {
                *name == table
                    || (name.starts_with("cortex_archive_") && name.ends_with(&format!("_{table}")))
            })
            .map(|(_, rows)| rows)
            .collect();
        for row in before.get(table).into_iter().flatten() {
            let Some(k) = row.iter().find(|(c, _)| c == key) else {
                lost.push(format!("{table}: a row without {key}: {row:?}"));
                continue;
            };
            for cell in row {
                let kept = homes
                    .iter()
                    .flat_map(|rows| rows.iter())
                    .any(|r| r.contains(k) && r.contains(cell));
                if !kept {
                    lost.push(format!("{table} {key}={}: {} = {}", k.1, cell.0, cell.1));
                }
            }
        }
    }
    lost
}

async fn run(db: &DatabaseConnection, data: &Path, up: bool, target: Target) {
    let mut r = Runner::new(
        db,
        Migrator::steps(),
        Options {
            data_dir: Some(data.to_path_buf()),
            // Backups are not what this checks; each would cost a case a
            // copy of the database.
            keep_backups: 0,
            ..Options::default()
        },
    )
    .await
    .unwrap();
    let report = if up {
        r.up(target).await
    } else {
        r.down(target).await
    };
    if let Err(e) = report {
        panic!("{}: {e}", if up { "up" } else { "down" });
    }
}

fn step(n: usize) -> String {
    Migrator::steps()[n].name().to_owned()
}

/// `PROPTEST_CASES`, else 24; under `CI=true` at least [`CI_CASES`].
fn cases() -> u32 {
    let asked = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    if common::in_ci() {
        asked.max(CI_CASES)
    } else {
        asked
    }
}

/// A temporary folder, in memory where the system has a RAM filesystem
/// (Linux's `/dev/shm`): a case fsyncs its journal and files a few hundred
/// times, which on a disk costs more than the rest of the case.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(t) = tempfile::tempdir_in(shm)
    {
        return t;
    }
    tempfile::tempdir().unwrap()
}

/// Builds the folder `spec` describes and checks every claim of this
/// file's doc on it.
fn check(spec: &FolderSpec) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let t = scratch();
        let home = t.path().canonicalize().unwrap().join("home");
        let (data, db) = build(spec, &home).await;
        let v0 = step(0);
        let v3 = step(3);
        run(&db, &data, true, Target::To(v3.clone())).await;
        let start = state(&home, &db).await;
        let start_data = user_data(&start, &db).await;

        run(&db, &data, true, Target::All).await;
        let migrated = state(&home, &db).await;
        let migrated_data = user_data(&migrated, &db).await;
        prop_assert_eq!(
            outside_files(&migrated),
            outside_files(&start),
            "up wrote outside the data folder"
        );

        run(&db, &data, false, Target::To(v3.clone())).await;
        prop_assert_eq!(
            &state(&home, &db).await,
            &start,
            "down did not return to the start"
        );
        run(&db, &data, true, Target::All).await;
        prop_assert_eq!(
            &state(&home, &db).await,
            &migrated,
            "up again differs from the first up"
        );

        run(&db, &data, false, Target::To(v0)).await;
        let lost = lost(&start_data.rows, &digest::db_rows(&db).await);
        prop_assert!(lost.is_empty(), "down to v0 lost {:#?}", lost);

        run(&db, &data, true, Target::To(v3)).await;
        let s = state(&home, &db).await;
        prop_assert_eq!(
            &user_data(&s, &db).await,
            &start_data,
            "up from v0 differs from the start"
        );
        run(&db, &data, true, Target::All).await;
        let s = state(&home, &db).await;
        prop_assert_eq!(
            &user_data(&s, &db).await,
            &migrated_data,
            "up from v0 to the last step differs from the first up"
        );
        Ok(())
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        // A failure is kept as a named test, not in a file the run writes
        // into the tree.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn up_then_down_returns_folder_schema_and_rows_to_the_start(spec in folder()) {
        check(&spec)?;
    }
}

/// Found by the property: a model id as long as a file name may be made
/// the temporary file of a `model.yml` rewrite too long to create
/// (`File name too long`), so the engine rename failed, and so did undoing
/// it, leaving a journal behind. cortex.cpp names an imported model's yml
/// after its id (`models/imported/<id>.yml`, `Models::ImportModel`,
/// engine/controllers/models.cc), so any id up to 251 bytes is one it
/// writes.
#[test]
fn a_model_id_as_long_as_a_file_name_migrates_up_and_down() {
    for (c, layout) in [
        ('a', Layout::Imported),
        ('模', Layout::Imported),
        ('a', Layout::CortexSo),
    ] {
        let spec = FolderSpec {
            models: vec![ModelSpec {
                name: Name::Long(c),
                layout,
                yml: Yml::Present(YmlSpec {
                    weights: Weights::Inside,
                    absolute_files_entry: false,
                    broken: false,
                }),
                link: Link::None,
                engine: Engine::LegacyLlama,
                absolute_row_path: false,
            }],
            hardware: vec![],
            files: vec![],
            legacy_llama_folder: false,
            legacy_onnx_folder: false,
        };
        if let Err(e) = check(&spec) {
            panic!("{c:?} {layout:?}: {e}");
        }
    }
}
