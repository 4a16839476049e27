//! Every step's checksum is the one written down here, so that no change
//! to a step's source goes unnoticed: a data folder migrated by the
//! released binary carries the old checksum, and `up` and `verify` call a
//! step whose checksum is neither its own nor superseded on record
//! "changed since it was applied". Changing a step means one of two things,
//! and this test says which to do:
//! - it still does the same thing (same rows, files and notes): add the
//!   checksum written here to its list in `migration/src/superseded.rs`,
//!   saying why in that file's doc, then write the new one here;
//! - it does something else: it is a new step, not an edit.

use migration::Migrator;
use migration::toolkit::StepList;
use migration::toolkit::step::checksum;

/// (step, checksum of its source as it stands).
const CHECKSUMS: [(&str, &str); 11] = [
    (
        "m20240913_000001_cortex_v0",
        "1caf1845184020a4fb53bc3e1098f371ebedbcd053f1c38756d860f3bacf6311",
    ),
    (
        "m20241010_000001_cortex_v1",
        "1b2e138feefc9499f5777a4ff7102d5820ddf5a4bfeb3593cf8b1a2efaeb01c4",
    ),
    (
        "m20241205_000001_cortex_v2",
        "e7dd660383fc87768a05c4f032fb97101982f30d6c63ccbcfe46f2f079233b65",
    ),
    (
        "m20250110_000001_cortex_v3",
        "e2b8a0e6afa973348cc516b3a17f7ed87492b3361bdeb23bf0af78595d10d2db",
    ),
    (
        "m20261126_000001_relative_model_paths",
        "c0a01662370eae73c0a00599596a8c7d8fd4f7b0d05f591805addf34922a36e3",
    ),
    (
        "m20261126_000002_rename_legacy_engines",
        "f1551fa6af35d1c0abea4b6371fc4d48bc776cfc370ec8152e3571f19abc9bbe",
    ),
    (
        "m20261126_000003_backfill_weights_bytes",
        "2f788013717bef520df557f1b225c48e20f95e7bb7f4ca5bf7a876df821c1dba",
    ),
    (
        "m20261203_000001_engine_folders_by_repository",
        "80ae084c4113e2cd85a0adb413f1cef49622972a6993f1f59f25b88d280b5ae0",
    ),
    (
        "m20261203_000002_catalogue_rows_kept_aside",
        "5ebb35e47a1d8be50e0fbb7d7b24971a2bcdecb7ac56011490b32623cf3ff505",
    ),
    (
        "m20261203_000003_models_before_cortex_db",
        "717b99a34abd0beb4b79812bca5e307cc960a310a2cc0830c6f700379caa395b",
    ),
    (
        "m20261203_000004_cortexrc_server_address",
        "56d6ff7f46f772a77a5ccc8bbb249859b65fa0623570469da40479ca63e7d1cd",
    ),
];

#[test]
fn every_step_has_the_checksum_written_down_for_it() {
    let steps = Migrator::steps();
    let names: Vec<&str> = steps.iter().map(|s| s.name()).collect();
    let listed: Vec<&str> = CHECKSUMS.iter().map(|(name, _)| *name).collect();
    assert_eq!(
        names, listed,
        "the steps changed: a new step gets its checksum written here"
    );
    for (step, (name, written)) in steps.iter().zip(CHECKSUMS) {
        let now = checksum(step.as_ref());
        assert_eq!(
            now, written,
            "{name}'s source changed (checksum {now}, written down {written}). \
             If it still does the same thing, add {written} to its list in \
             migration/src/superseded.rs (saying why) and write {now} here; \
             if it does something else, it is a new step"
        );
    }
}

#[test]
fn no_step_supersedes_its_own_checksum() {
    for step in Migrator::steps() {
        let now = checksum(step.as_ref());
        assert!(
            !step.superseded_checksums().contains(&now.as_str()),
            "{} lists its own checksum as superseded",
            step.name()
        );
    }
}
