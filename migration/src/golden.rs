//! The golden schema snapshots, one per step and backend, embedded from
//! `migration/snapshots/` at build time. The test suite checks that
//! migrating from empty to each step produces exactly its snapshot, and
//! `verify` compares a live database with the snapshot of its last step.

include!(concat!(env!("OUT_DIR"), "/golden.rs"));

/// The folder (in the source tree) that holds the snapshots of `backend`.
pub fn dir(backend: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("snapshots")
        .join(backend)
}

/// The golden snapshot of the schema right after `step` on `backend`
/// (`sqlite`, `postgres`, `mysql`).
pub fn golden(backend: &str, step: &str) -> Option<&'static str> {
    GOLDEN
        .iter()
        .find(|(b, s, _)| *b == backend && *s == step)
        .map(|(_, _, text)| *text)
}

/// A line diff of two snapshots, `-` for expected lines missing from the
/// live schema and `+` for lines it has in excess; empty when equal.
pub fn diff(expected: &str, live: &str) -> Vec<String> {
    let exp: Vec<&str> = expected.lines().collect();
    let got: Vec<&str> = live.lines().collect();
    let mut out = Vec::new();
    let table_of = |lines: &[&str], line: &str| -> String {
        let mut current = "";
        for l in lines {
            if l.starts_with("table ") {
                current = l;
            }
            if *l == line {
                break;
            }
        }
        current.to_owned()
    };
    for l in &exp {
        if !got.contains(l) {
            let t = table_of(&exp, l);
            out.push(if l.starts_with("table ") {
                format!("- {l}")
            } else {
                format!("- {l}  [{t}]")
            });
        }
    }
    for l in &got {
        if !exp.contains(l) {
            let t = table_of(&got, l);
            out.push(if l.starts_with("table ") {
                format!("+ {l}")
            } else {
                format!("+ {l}  [{t}]")
            });
        }
    }
    out
}
