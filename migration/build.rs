//! Embeds the golden schema snapshots (`snapshots/<backend>/<step>.schema`)
//! so that `verify` can compare a live database with them at run time, and
//! gives every step file (`src/m<date>_<n>_<name>.rs`) its source text, of
//! which its checksum is made: nobody keeps a definition string by hand.

use std::fmt::Write;
use std::path::Path;

use sha2::{Digest, Sha256};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("snapshots");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut entries = Vec::new();
    if let Ok(backends) = std::fs::read_dir(&root) {
        for backend in backends.flatten() {
            println!("cargo:rerun-if-changed={}", backend.path().display());
            let Ok(files) = std::fs::read_dir(backend.path()) else {
                continue;
            };
            for file in files.flatten() {
                let path = file.path();
                if path.extension().and_then(|e| e.to_str()) != Some("schema") {
                    continue;
                }
                let (Some(b), Some(step)) = (
                    backend.file_name().to_str().map(str::to_owned),
                    path.file_stem().and_then(|s| s.to_str()).map(str::to_owned),
                ) else {
                    continue;
                };
                entries.push((b, step, path.display().to_string()));
            }
        }
    }
    entries.sort();
    let mut out = String::from("pub(crate) static GOLDEN: &[(&str, &str, &str)] = &[\n");
    for (b, s, p) in entries {
        let _ = writeln!(out, "    ({b:?}, {s:?}, include_str!({p:?})),");
    }
    out.push_str("];\n");
    write_out("golden.rs", &out);
    write_out("step_sources.rs", &step_sources());
}

fn write_out(name: &str, text: &str) {
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join(name);
    if let Err(e) = std::fs::write(&dest, text) {
        panic!("cannot write {}: {e}", dest.display());
    }
}

/// Whether a file name is a step's: `m` + 8 digits + `_` + 6 digits + `_`
/// + a name, `.rs`.
fn step_module(file: &str) -> Option<&str> {
    let stem = file.strip_suffix(".rs")?;
    let b = stem.as_bytes();
    let ok = b.len() > 17
        && b[0] == b'm'
        && b[1..9].iter().all(u8::is_ascii_digit)
        && b[9] == b'_'
        && b[10..16].iter().all(u8::is_ascii_digit)
        && b[16] == b'_'
        && stem[17..]
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    ok.then_some(stem)
}

/// `StepSource` for the `Migration` of every step file.
fn step_sources() -> String {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    println!("cargo:rerun-if-changed={}", src.display());
    let mut steps = Vec::new();
    if let Ok(files) = std::fs::read_dir(&src) {
        for file in files.flatten() {
            let name = file.file_name().to_string_lossy().into_owned();
            if let Some(module) = step_module(&name) {
                steps.push((module.to_owned(), file.path().display().to_string()));
            }
        }
    }
    steps.sort();
    let mut out = String::new();
    // A digest of every step file as built: the boot's fast path keeps it
    // in the fingerprint of the last full verification, so data verified
    // by a binary whose steps differ in any byte takes the full path once.
    let mut digest = Sha256::new();
    for (module, path) in &steps {
        let text = std::fs::read(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
        digest.update(module.as_bytes());
        digest.update(b"\0");
        digest.update((text.len() as u64).to_le_bytes());
        digest.update(&text);
    }
    let _ = writeln!(
        out,
        "/// A digest (SHA-256) of every step file this binary was built from.\n\
         pub const STEPS_DIGEST: &str = \"{:x}\";\n",
        digest.finalize()
    );
    for (module, path) in steps {
        let _ = writeln!(
            out,
            "impl crate::toolkit::StepSource for crate::{module}::Migration {{\n    \
             fn source(&self) -> &'static str {{\n        include_str!({path:?})\n    }}\n\n    \
             fn superseded_checksums(&self) -> &'static [&'static str] {{\n        \
             crate::superseded::checksums({module:?})\n    }}\n}}\n"
        );
    }
    out
}
