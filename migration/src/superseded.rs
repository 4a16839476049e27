//! Checksums the steps were recorded with by earlier definitions that do
//! the same thing. None of these steps changed what it does: a history row
//! that carries one of these values is the same step, accepted as
//! superseded (`verify` says so), never silently.
//!
//! - Before checksums came from their source text, the first scheme hashed
//!   the SQL of a step's ops on its backend plus a hand-kept definition
//!   text, so a step has up to one value per backend here.
//! - `m20261126_000001_relative_model_paths`,
//!   `m20261126_000002_rename_legacy_engines` and
//!   `m20261126_000003_backfill_weights_bytes` once read every model row at
//!   once and remembered each `model.yml` path they had seen; they now go
//!   a page of rows at a time and remember only the paths not yet
//!   written (a file once rewritten reads as changed to a later row that
//!   names it), so that memory does not grow with the number of models.
//!   The same rows are
//!   read in the same order, and the same values, files and notes come
//!   out; only the grouping and order of the stored undo statements
//!   differ, which `down` replays to the same end.
//! - `m20261126_000001_relative_model_paths` and
//!   `m20261126_000003_backfill_weights_bytes` once located each
//!   `model.yml` (and weights file) part by part before opening it; they
//!   now open it below the data folder in one call that refuses any
//!   symlink on the way where the platform has one, and the backfill reads
//!   a run of rows on the machine's cores. The same paths are accepted and
//!   refused, the same files read, and the same values, files and notes
//!   come out in the same order.
//! - `m20261126_000001_relative_model_paths` once located and read each
//!   `model.yml` on the step's own thread; it now does so for a run of
//!   rows on the machine's cores, as the backfill does, and takes what was
//!   found in the rows' order: the same paths are changed, the same files
//!   rewritten, and the same notes come out in the same order.
//! - That definition (`7d7af318…`) forgot a written `model.yml` as soon as
//!   its batch was written, though a run of rows read before that write
//!   was still being taken: a later row of the run naming the same file
//!   took its old text and wrote the same new text again, and the note
//!   counted the file twice. It now forgets written files only when the
//!   next run is read. The rows and files it leaves are the same, and
//!   `down` puts them back the same way. `m20261126_000002_rename_legacy_engines`,
//!   which reads each row as it takes it, forgets them when it reads the
//!   next page: a row of the page that names a file written since reads
//!   its new name, which it would leave as it is anyway.
//!
//! Two first definitions are deliberately absent, because what they did
//! differs: `m20261126_000002_rename_legacy_engines` (it moved engine
//! folders; repaired by `m20261203_000001_engine_folders_by_repository`)
//! and `m20250110_000001_cortex_v3` (its down left catalogue rows; its
//! record is superseded by `m20261203_000002_catalogue_rows_kept_aside`).
//! Both steps recognize those checksums themselves.

/// The superseded checksums of step `name`.
pub(crate) fn checksums(name: &str) -> &'static [&'static str] {
    match name {
        "m20240913_000001_cortex_v0" => &[
            "92a316a9fb85cea39f3a273d15d7a910331b715684bfa1966f5437eaa2340fbd",
            "b444766ccdb0f6af1a53f17d94a5f393628d78853c07bc73dc78ba3e33a50760",
        ],
        "m20241010_000001_cortex_v1" => &[
            "9c1a0b85f5e3f6034e9341c0f696cbe5901db52b9754c1229e40adc1761d01f9",
            "10f6028702e876f865bdceb53b28f455223eba1cda84ba343746774ed7de7579",
            "84bc548623c8e2a5911594546679b85d1948bdbf70dfa382df6223ad302916e5",
        ],
        "m20241205_000001_cortex_v2" => &[
            "83196e3c6e2a26c236b2e67c1bd53b98ed1c536ecb73015fcc0be0a1aa24364a",
            "9dccca09da6041114a2ee01304c3e3d4bea1b294949eba20743556ee16dffd25",
        ],
        "m20261126_000001_relative_model_paths" => &[
            "8f23854f0a44a8525f4c436a306becdc5bbf5c0f38b72e560d627fec544ab828",
            // Every row at once.
            "4612c4a7c75ca31be003924364cd082c372736159c3464e7e344cc3cf83bf58b",
            // Located part by part.
            "06c8aca074e16f136908cbbb417c8436842106b8c1055fafa4d1636bd5b60e89",
            // Each row read on the step's own thread.
            "1f322e86da757e6e7413705ce75ae0e8f414b0f4fe6b1410022a50d76543a775",
            // Runs of rows read ahead could take a row whose `model.yml`
            // was written after the run was read: the same file written
            // again with the same text, and counted twice in the note; the
            // rows and files it leaves are the same.
            "7d7af318b537959c4a6922b41d8fd1176ce0a8454012bfc9f4a8834d6a6bb7e5",
        ],
        "m20261126_000002_rename_legacy_engines" => &[
            "8e7eab9fc1782de55f58d61cd733692f90b4db1aaa639a596b144d36fdf8cd32",
            // Every row at once.
            "70f54acf980be068763fa66f8f577aa9359760570b28ef3d68a8ed7e277917eb",
            // Forgot a written file when its batch was written, not when
            // the next page is read.
            "9912e36e3970e667ba5bcd2912f6d751fe39b2147649ac46f2b2dc12e137666d",
        ],
        "m20261126_000003_backfill_weights_bytes" => &[
            "a95f8f1cc6e3dd031e84a8c29abb3236a45cc31828e9f1d55ca5a2f288597a2d",
            "a5b66de286284d0369faf93f88edecd3d9a2f6a81596d6486802072e88e9279d",
            "1dbee2fcd4df3c78808de43c8c31977e331c8cb64c616afef43398fdf2b65ba7",
            // Every row at once.
            "ed1efc84db405996bec399d770aacf795932d24c61c4854a6216d6cc015cf91e",
            // Located part by part, one row at a time.
            "b690b2e76caa75fa2417cc93ae67d5926df0b70e9a8a78896d741158a907d296",
        ],
        "m20261203_000001_engine_folders_by_repository" => {
            &["fbcd056a46c472deab69fa8cbab94a8a2ecb1eec61b7a28b812652aa9a7801ab"]
        }
        _ => &[],
    }
}
