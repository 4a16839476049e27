//! The C ABI from C: `tests/c/boot.c` is compiled with the system C
//! compiler (`CC`, else `cc`) against the committed header, linked with the
//! shared library cargo built from this crate for its tests, and run on
//! cortex.cpp-shaped data folders written by `cortex_migrate::sample`.
//! A cortex.cpp v1 folder is migrated with a callback that records every
//! event, and the rows and files are checked; a corrupt cortex.db gets its
//! error code and message, and not one byte of the home changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use migrate::sample::{self, SampleSpec, TINYLLAMA};
use sea_orm::{Database, EntityTrait};
use serde_json::Value;

const CRATE: &str = env!("CARGO_MANIFEST_DIR");

/// The codes of `CortexMigrateCode` the tests expect.
const OK: i64 = 0;
const BAD_DATA: i64 = 3;

/// The shared library, where cargo leaves it beside the test binaries:
/// cargo builds every crate type of the package's library before its
/// integration tests.
fn library() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap();
    let name = format!(
        "{}cortex_migrate{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    );
    let lib = deps.join(&name);
    assert!(
        lib.is_file(),
        "{} is missing: `cargo build -p cortex-migrate-capi` builds it",
        lib.display()
    );
    lib
}

fn compiler(var: &str, default: &str) -> Command {
    Command::new(std::env::var_os(var).unwrap_or_else(|| default.into()))
}

/// `boot.c` compiled and linked once for all tests of this file.
fn program() -> &'static Path {
    static PROGRAM: OnceLock<PathBuf> = OnceLock::new();
    PROGRAM.get_or_init(|| {
        let lib = library();
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cortex-migrate-boot");
        let built = compiler("CC", "cc")
            .args(["-std=c11", "-Wall", "-Wextra", "-pedantic", "-Werror"])
            .arg("-I")
            .arg(Path::new(CRATE).join("include"))
            .arg(Path::new(CRATE).join("tests/c/boot.c"))
            .arg(&lib)
            .arg(format!("-Wl,-rpath,{}", lib.parent().unwrap().display()))
            .arg("-o")
            .arg(&out)
            .output()
            .expect("running the C compiler (set CC to use another)");
        assert!(
            built.status.success(),
            "compiling tests/c/boot.c failed:\n{}",
            String::from_utf8_lossy(&built.stderr)
        );
        out
    })
}

/// One call's answer line: `what code text`, and `what error message`.
#[derive(Debug, Default)]
struct Answer {
    code: i64,
    text: String,
    error: Option<String>,
}

/// What the program printed.
#[derive(Debug, Default)]
struct Run {
    events: Vec<Value>,
    counted: usize,
    open: Answer,
    status: Answer,
    verify: Answer,
}

fn run(data: &Path) -> Run {
    let out = Command::new(program()).arg(data).output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut run = Run::default();
    for line in stdout.lines() {
        let (what, rest) = line.split_once(' ').unwrap();
        let answer = match what {
            "event" => {
                let event =
                    serde_json::from_str(rest).unwrap_or_else(|e| panic!("not JSON ({e}): {rest}"));
                run.events.push(event);
                continue;
            }
            "events" => {
                run.counted = rest.parse().unwrap();
                continue;
            }
            "open" => &mut run.open,
            "status" => &mut run.status,
            "verify" => &mut run.verify,
            other => panic!("unexpected line {other}: {line}"),
        };
        match rest.strip_prefix("error ") {
            Some(message) => answer.error = Some(message.to_owned()),
            None => {
                let (code, text) = rest.split_once(' ').unwrap();
                answer.code = code.parse().unwrap();
                answer.text = text.to_owned();
            }
        }
    }
    run
}

/// A sample home (`home/.cortexrc`, `home/cortexcpp`, `home/outside`) at
/// cortex.cpp schema `version`, as an install that started at v0 left it.
async fn cortex_home(version: u8) -> (tempfile::TempDir, sample::SampleHome) {
    let tmp = tempfile::tempdir().unwrap();
    let home = sample::write(&SampleSpec::new(version), &tmp.path().join("home"))
        .await
        .unwrap();
    (tmp, home)
}

/// Every file and folder under `dir`, with the bytes of each file.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
    let mut found = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let bytes = if meta.is_dir() {
                todo.push(path.clone());
                None
            } else if meta.is_symlink() {
                Some(
                    std::fs::read_link(&path)
                        .unwrap()
                        .into_os_string()
                        .into_encoded_bytes(),
                )
            } else {
                Some(std::fs::read(&path).unwrap())
            };
            found.insert(path.strip_prefix(dir).unwrap().to_path_buf(), bytes);
        }
    }
    found
}

fn of_kind<'a>(events: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    events.iter().filter(move |e| e["event"] == kind)
}

#[tokio::test]
async fn c_program_migrates_a_cortex_v1_folder_and_sees_every_event() {
    let (_tmp, home) = cortex_home(1).await;
    let run = run(&home.data);

    // The answer: the database to open.
    assert_eq!(run.open.code, OK, "{:?}", run.open.error);
    assert_eq!(run.open.error, None);
    assert_eq!(PathBuf::from(&run.open.text), home.data.join("cortex.db"));

    // The callback got every event, versioned, in order, then the result.
    assert_eq!(run.counted, run.events.len());
    assert!(run.events.iter().all(|e| e["v"] == 1), "{:?}", run.events);
    let (result, stream) = run.events.split_last().unwrap();
    assert_eq!(result["event"], "result", "{result}");
    assert_eq!(result["adopted"].as_array().unwrap().len(), 2, "{result}");
    let steps = result["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 9, "{result}");
    let started: Vec<&Value> = of_kind(stream, "step_started").collect();
    let finished: Vec<&Value> = of_kind(stream, "step_finished").collect();
    assert_eq!(started.len(), steps.len());
    assert_eq!(finished.len(), steps.len());
    for (i, (s, step)) in started.iter().zip(steps).enumerate() {
        assert_eq!(s["index"], i + 1, "{s}");
        assert_eq!(s["total"], steps.len(), "{s}");
        assert_eq!(s["step"], step["step"], "{s}");
        assert_eq!(s["direction"], "up", "{s}");
    }
    assert!(of_kind(stream, "rows").count() > 0, "{stream:?}");
    assert!(of_kind(stream, "note").count() > 0, "{stream:?}");

    // The rows.
    let db = Database::connect(format!(
        "sqlite://{}?mode=ro",
        home.data.join("cortex.db").display()
    ))
    .await
    .unwrap();
    let models = entity::models::Entity::find().all(&db).await.unwrap();
    let tiny = models.iter().find(|m| m.model_id == TINYLLAMA).unwrap();
    assert_eq!(tiny.engine.as_deref(), Some("llama-cpp"));
    assert_eq!(
        tiny.path_to_model_yaml.as_deref(),
        Some("models/cortex.so/tinyllama/1b/model.yml")
    );
    assert!(
        models
            .iter()
            .all(|m| m.weights_bytes.is_some_and(|b| b > 0)),
        "{models:?}"
    );
    let versions = entity::schema_version::Entity::find()
        .all(&db)
        .await
        .unwrap();
    assert_eq!(versions.iter().map(|v| v.version).collect::<Vec<_>>(), [3]);
    db.close().await.unwrap();

    // The files: the model.yml rewritten, the backup taken.
    let yml =
        std::fs::read_to_string(home.data.join("models/cortex.so/tinyllama/1b/model.yml")).unwrap();
    assert!(yml.contains("engine: llama-cpp"), "{yml}");
    assert!(!yml.contains(&home.data.display().to_string()), "{yml}");
    let backup = result["backup"].as_str().unwrap();
    let state = home.data.join(".cortex-migrate");
    assert!(
        state
            .join("backups")
            .join(backup)
            .join("manifest.json")
            .is_file(),
        "backup {backup}"
    );
    assert!(state.join("verified-schema").is_file());

    // status and verify, as JSON.
    assert_eq!(run.status.code, OK, "{:?}", run.status.error);
    let status: Value = serde_json::from_str(&run.status.text).unwrap();
    assert_eq!(status["pending"], serde_json::json!([]), "{status}");
    assert_eq!(status["data_version"], status["app_version"], "{status}");
    assert_eq!(run.verify.code, OK, "{:?}", run.verify.error);
    let verify: Value = serde_json::from_str(&run.verify.text).unwrap();
    assert_eq!(verify["ok"], true, "{verify}");
    let checks: Vec<&Value> = verify["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["name"])
        .collect();
    assert_eq!(
        checks,
        [
            "journal",
            "history",
            "schema",
            "schema_version",
            "paths",
            "engines"
        ],
        "{verify}"
    );
}

#[tokio::test]
async fn c_program_gets_bad_data_for_a_corrupt_database_and_nothing_changes() {
    let (_tmp, home) = cortex_home(3).await;
    let db = home.data.join("cortex.db");
    std::fs::write(
        &db,
        "This is not a database. cortex.db was overwritten by a bad sync.\n".repeat(64),
    )
    .unwrap();
    let before = tree(&home.home);

    let run = run(&home.data);

    assert_eq!(run.open.code, BAD_DATA, "{run:?}");
    assert_eq!(run.open.text, "-", "no database to open");
    let message = run.open.error.clone().unwrap();
    assert!(
        message.contains(&db.display().to_string()) && message.contains("not a SQLite database"),
        "{message}"
    );
    // The callback heard the same error, and nothing else.
    assert_eq!(run.counted, 1);
    assert_eq!(
        run.events,
        [serde_json::json!({ "v": 1, "event": "error", "code": BAD_DATA, "message": message })]
    );
    for answer in [&run.status, &run.verify] {
        assert_eq!(answer.code, BAD_DATA, "{answer:?}");
        assert_eq!(answer.text, "-");
        assert!(
            answer
                .error
                .as_deref()
                .is_some_and(|e| e.contains("not a SQLite database"))
        );
    }

    assert!(tree(&home.home) == before, "the home changed");
}

/// The header is also C++ (cortex.cpp includes it from C++).
#[test]
fn header_compiles_as_cpp() {
    let out = compiler("CXX", "c++")
        .args([
            "-x",
            "c++",
            "-std=c++17",
            "-fsyntax-only",
            "-Wall",
            "-Wextra",
            "-Werror",
        ])
        .arg("-I")
        .arg(Path::new(CRATE).join("include"))
        .arg(Path::new(CRATE).join("tests/c/boot.c"))
        .output()
        .expect("running the C++ compiler (set CXX to use another)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
