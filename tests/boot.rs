//! The boot API: what Cortex calls at every start. It migrates a cortex.cpp
//! folder and hands back a ready connection, takes the fast path when
//! nothing is pending, refuses to migrate under the `check` policy, and
//! notices a schema that drifted.

mod common;

use std::sync::{Arc, Mutex};

use cortex_migrate::{Boot, Error, Policy};
use migration::toolkit::{Event, ProgressSink};
use sea_orm::{ConnectionTrait, EntityTrait};

fn backups(fx: &common::Fixture) -> usize {
    std::fs::read_dir(fx.data.join(".cortex-migrate/backups"))
        .map(|d| {
            d.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn boot_migrates_a_cortex_folder_and_hands_back_a_ready_connection() {
    let fx = common::cortex_folder(1).await;
    let booted = Boot::data_folder(&fx.data).open().await.unwrap();
    let report = booted.report.expect("a first boot migrates");
    assert_eq!(report.adopted.len(), 2);
    assert_eq!(report.steps.len(), 9);
    assert!(report.backup.is_some());
    let models = entity::models::Entity::find()
        .all(&booted.db)
        .await
        .unwrap();
    let tiny = models
        .iter()
        .find(|m| m.model_id == common::TINYLLAMA)
        .unwrap();
    assert_eq!(tiny.engine.as_deref(), Some("llama-cpp"));
    assert!(tiny.weights_bytes.unwrap() > 0);
    assert!(fx.data.join(".cortex-migrate/verified-schema").exists());
}

#[tokio::test]
async fn boot_with_nothing_pending_changes_nothing_and_takes_no_backup() {
    let fx = common::cortex_folder(2).await;
    Boot::data_folder(&fx.data).open().await.unwrap();
    let n = backups(&fx);
    let db_bytes = common::bytes(&fx.db_path());
    let files = common::tree(&fx.home);
    for _ in 0..3 {
        let b = Boot::data_folder(&fx.data).open().await.unwrap();
        assert!(b.report.is_none(), "migrated again: {:?}", b.report);
        drop(b);
    }
    assert_eq!(backups(&fx), n);
    assert_eq!(common::bytes(&fx.db_path()), db_bytes);
    assert_eq!(common::tree(&fx.home), files);
}

#[tokio::test]
async fn boot_reports_progress_events() {
    let fx = common::cortex_folder(3).await;
    let events: Arc<Mutex<Vec<Event>>> = Arc::default();
    let sink = {
        let events = Arc::clone(&events);
        ProgressSink::new(move |e| events.lock().unwrap().push(e.clone()))
    };
    Boot::data_folder(&fx.data)
        .progress(sink)
        .open()
        .await
        .unwrap();
    let events = events.lock().unwrap();
    let started = events
        .iter()
        .filter(|e| matches!(e, Event::StepStarted { .. }))
        .count();
    let finished = events
        .iter()
        .filter(|e| matches!(e, Event::StepFinished { .. }))
        .count();
    assert_eq!((started, finished), (7, 7), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Rows { done, total, .. } if done == total && *total > 0)),
        "no backfill progress: {events:?}"
    );
}

#[tokio::test]
async fn check_policy_refuses_to_migrate_and_names_the_pending_steps() {
    let fx = common::cortex_folder(1).await;
    let before = common::tree(&fx.home);
    let db_bytes = common::bytes(&fx.db_path());
    let err = Boot::data_folder(&fx.data)
        .policy(Policy::Check)
        .open()
        .await
        .unwrap_err();
    match &err {
        Error::Behind { pending, .. } => {
            assert_eq!(pending.len(), 11, "{pending:?}");
            assert!(
                err.to_string()
                    .contains("m20261126_000001_relative_model_paths"),
                "{err}"
            );
        }
        other => panic!("expected Behind, got {other}"),
    }
    assert_eq!(err.exit_code(), 4);
    assert_eq!(common::bytes(&fx.db_path()), db_bytes);
    assert_eq!(common::tree(&fx.home), before);
}

#[tokio::test]
async fn check_policy_opens_data_that_is_up_to_date() {
    let fx = common::cortex_folder(3).await;
    Boot::data_folder(&fx.data).open().await.unwrap();
    std::fs::remove_file(fx.data.join(".cortex-migrate/verified-schema")).unwrap();
    let b = Boot::data_folder(&fx.data)
        .policy(Policy::Check)
        .open()
        .await
        .unwrap();
    assert!(b.report.is_none());
}

#[tokio::test]
async fn check_policy_does_not_create_a_missing_database() {
    let fx = common::Fixture::empty();
    let err = Boot::data_folder(&fx.data)
        .policy(Policy::Check)
        .open()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no cortex.db"), "{err}");
    assert!(!fx.db_path().exists());
}

#[tokio::test]
async fn a_schema_changed_behind_the_migrator_is_reported_as_drift() {
    let fx = common::cortex_folder(3).await;
    let b = Boot::data_folder(&fx.data).open().await.unwrap();
    b.db.execute_unprepared("ALTER TABLE models ADD COLUMN nickname TEXT")
        .await
        .unwrap();
    drop(b);
    let err = Boot::data_folder(&fx.data).open().await.unwrap_err();
    assert!(matches!(err, Error::Drift(_)), "{err}");
    assert!(err.to_string().contains("nickname"), "{err}");
    assert_eq!(err.exit_code(), 4);
}

/// The fast path compares the applied steps' stored checksums, not only
/// the schema: a history rewritten without any change of schema (here a
/// checksum, as a binary with another definition of a step would leave
/// it) is verified again, and reported.
#[tokio::test]
async fn a_checksum_changed_behind_the_migrator_is_not_passed_by_the_fast_path() {
    let fx = common::cortex_folder(3).await;
    let b = Boot::data_folder(&fx.data).open().await.unwrap();
    b.db.execute_unprepared(
        "UPDATE cortex_migrate_steps SET checksum = 'edited' \
         WHERE version = 'm20261126_000001_relative_model_paths'",
    )
    .await
    .unwrap();
    drop(b);
    let err = Boot::data_folder(&fx.data).open().await.unwrap_err();
    assert!(matches!(err, Error::Drift(_)), "{err}");
    assert!(
        err.to_string()
            .contains("m20261126_000001_relative_model_paths"),
        "{err}"
    );
}

/// What the fast path remembers names this binary's steps (every step
/// file as built), the schema cookie and each applied step with its
/// checksum, so data verified by a binary whose steps differ in any byte
/// is verified again.
#[tokio::test]
async fn the_fast_path_remembers_this_binarys_steps_and_the_applied_checksums() {
    let fx = common::cortex_folder(1).await;
    Boot::data_folder(&fx.data).open().await.unwrap();
    let verified = fx.data.join(".cortex-migrate/verified-schema");
    let text = std::fs::read_to_string(&verified).unwrap();
    assert!(
        text.starts_with(&format!("steps {}\n", migration::STEPS_DIGEST)),
        "{text}"
    );
    assert!(text.contains("\nschema "), "{text}");
    let db = cortex_migrate::connect::open_sqlite_file(&fx.db_path(), false)
        .await
        .unwrap();
    for a in migration::toolkit::applied_steps(&db).await.unwrap() {
        let checksum = a
            .checksum
            .expect("every step applied by the runner has one");
        assert!(
            text.contains(&format!("{}:{checksum}", a.version)),
            "{} missing from {text}",
            a.version
        );
    }
    // Another binary's fingerprint (its steps differ) is not taken as
    // this one's: the boot verifies again and writes its own.
    std::fs::write(
        &verified,
        text.replacen(migration::STEPS_DIGEST, &"0".repeat(64), 1),
    )
    .unwrap();
    let b = Boot::data_folder(&fx.data).open().await.unwrap();
    assert!(
        b.report.is_some(),
        "the fast path passed another binary's steps"
    );
    assert_eq!(std::fs::read_to_string(&verified).unwrap(), text);
}

#[tokio::test]
async fn boot_creates_an_empty_data_folder_on_first_start() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("cortexcpp");
    let b = Boot::data_folder(&dir).open().await.unwrap();
    assert_eq!(b.report.unwrap().steps.len(), 11);
    assert!(dir.join("cortex.db").exists());
    let again = cortex_migrate::open(&dir).await.unwrap();
    assert_eq!(
        entity::models::Entity::find()
            .all(&again)
            .await
            .unwrap()
            .len(),
        0
    );
}

/// Makes the data look migrated by a newer binary: an applied step this
/// binary does not know, with the recipe that newer binary stored.
async fn from_a_newer_binary(fx: &common::Fixture) {
    let b = Boot::data_folder(&fx.data).open().await.unwrap();
    let recipe = r#"{"format":1,"storable":true,"ops":[{"op":"sql","sql":"ALTER TABLE \"extra\" RENAME TO \"cortex_archive_x_extra\""}]}"#;
    b.db.execute_unprepared(&format!(
        "CREATE TABLE extra (id INTEGER PRIMARY KEY, note TEXT);
         INSERT INTO extra VALUES (1, 'kept');
         INSERT INTO seaql_migrations VALUES ('m20991231_000001_from_the_future', 1);
         INSERT INTO cortex_migrate_steps VALUES ('m20991231_000001_from_the_future', 'x', 'ran', '9.9.9', 1, NULL, '{}');",
        recipe.replace('\'', "''")
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn data_from_a_newer_binary_is_refused_by_default() {
    let fx = common::cortex_folder(3).await;
    from_a_newer_binary(&fx).await;
    std::fs::remove_file(fx.data.join(".cortex-migrate/verified-schema")).unwrap();
    let err = Boot::data_folder(&fx.data).open().await.unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("m20991231_000001_from_the_future"), "{msg}");
    assert!(
        msg.contains("down --to m20261203_000004_cortexrc_server_address"),
        "{msg}"
    );
    assert_eq!(err.exit_code(), 3);
}

#[tokio::test]
async fn boot_can_step_newer_data_down_with_its_stored_recipe() {
    let fx = common::cortex_folder(3).await;
    from_a_newer_binary(&fx).await;
    let b = Boot::data_folder(&fx.data)
        .newer_data(cortex_migrate::NewerData::StepDown)
        .open()
        .await
        .unwrap();
    let report = b.report.unwrap();
    assert_eq!(report.steps[0].step, "m20991231_000001_from_the_future");
    let kept = common::db_rows_of(&b.db, &["cortex_archive_x_extra"]).await;
    assert_eq!(
        kept["cortex_archive_x_extra"].len(),
        1,
        "the newer step's data was not kept"
    );
    let applied = migration::toolkit::history::applied(&b.db).await.unwrap();
    assert!(
        applied
            .iter()
            .all(|a| a.version != "m20991231_000001_from_the_future")
    );
}

/// Cortex processes started together (or one process opening the folder
/// from several tasks) all boot: none fails while another records the
/// verified schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn boots_started_together_all_succeed() {
    let fx = common::cortex_folder(1).await;
    Boot::data_folder(&fx.data).open().await.unwrap();
    let verified = fx.data.join(".cortex-migrate/verified-schema");
    let fingerprint = std::fs::read_to_string(&verified).unwrap();
    for round in 0..10 {
        // Nothing pending, but no verified schema: every boot verifies and
        // records it.
        std::fs::remove_file(&verified).unwrap();
        let start = Arc::new(tokio::sync::Barrier::new(8));
        let boots: Vec<_> = (0..8)
            .map(|_| {
                let (data, start) = (fx.data.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    Boot::data_folder(&data).open().await.map(|b| b.report)
                })
            })
            .collect();
        for b in boots {
            let report = b.await.unwrap();
            assert!(
                matches!(&report, Ok(r) if r.as_ref().is_none_or(|r| r.steps.is_empty())),
                "round {round}: a boot failed or migrated: {report:?}"
            );
        }
        assert_eq!(std::fs::read_to_string(&verified).unwrap(), fingerprint);
    }
    let leftovers: Vec<_> = std::fs::read_dir(fx.data.join(".cortex-migrate"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

/// At Cortex's first start on a nightly folder from before cortex.db, the
/// boot adopts its models and carries the server address of its
/// `.cortexrc` (named by the caller, as `Boot::locate` names it) over.
#[tokio::test]
async fn boot_adopts_a_folder_from_before_cortex_db_and_its_cortexrc() {
    let fx = common::Fixture::empty();
    let models = common::generations::nightly_before_model_list(&fx.data);
    common::generations::cortexrc_before_24166e4f(&fx.cortexrc(), &fx.data);
    let booted = Boot::data_folder(&fx.data)
        .config_file(fx.cortexrc())
        .open()
        .await
        .unwrap();
    let rows = entity::models::Entity::find()
        .all(&booted.db)
        .await
        .unwrap();
    assert_eq!(rows.len(), models.len(), "{rows:?}");
    let rc = std::fs::read_to_string(fx.cortexrc()).unwrap();
    assert!(
        rc.ends_with("\napiServerHost: 127.0.0.1\napiServerPort: 3928"),
        "{rc}"
    );
}
