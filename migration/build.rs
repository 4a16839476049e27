//! Embeds the golden schema snapshots (`snapshots/<backend>/<step>.schema`)
//! so that `verify` can compare a live database with them at run time.

use std::fmt::Write;
use std::path::Path;

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
    let dest =
        Path::new(&std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("golden.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}
