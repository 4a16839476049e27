//! The toolkit's modules form layers: reading every `.rs` file under
//! `migration/toolkit/src/`, each top-level module (a file or a folder
//! under `src/`) depends on the others it names through `crate::<m>` (or
//! `super::<m>` with as many `super`s as lead to the crate root), test
//! modules left out; that graph must have no cycle. And the crates built on the toolkit (`src/` and
//! `migration/src/`) should reach it only through the names its `lib.rs`
//! re-exports (`pub use`), not through its modules' paths. The lexer that
//! reads the sources is `tests/support/rust_lexer.rs`.

#[path = "support/rust_lexer.rs"]
mod rust_lexer;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rust_lexer::{Tok, after, crate_refs, ident, lex, without_test_modules};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn toolkit_src() -> PathBuf {
    root().join("migration/toolkit/src")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// The toolkit's module graph.

/// The top-level module a file under `src/` belongs to (`None`: lib.rs).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let mut parts = rel.components();
    let first = parts.next()?.as_os_str().to_string_lossy().into_owned();
    if parts.next().is_some() {
        Some(first)
    } else if first == "lib.rs" {
        None
    } else {
        Some(first.trim_end_matches(".rs").to_owned())
    }
}

/// How many modules below the crate root the code of `file` is.
fn depth(src: &Path, file: &Path) -> usize {
    let n = file.strip_prefix(src).map_or(0, |r| r.components().count());
    if file.file_name().is_some_and(|f| f == "mod.rs") {
        n - 1
    } else {
        n
    }
}

/// module -> the other top-level modules it references.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = toolkit_src();
    let files = rust_files(&src);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(&src, f)).collect();
    let mut lexed = Vec::new();
    let mut test_files: BTreeSet<PathBuf> = BTreeSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let (toks, tests) = without_test_modules(lex(&text));
        // `mod tests;` in `a/mod.rs` or `lib.rs` is `a/tests.rs`; in
        // `a.rs` it is `a/tests.rs` too.
        let dir = match f.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs") => f.parent().unwrap().to_path_buf(),
            _ => f.with_extension(""),
        };
        for t in tests {
            test_files.insert(dir.join(format!("{t}.rs")));
            test_files.insert(dir.join(&t).join("mod.rs"));
        }
        lexed.push((f.clone(), toks));
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for (f, toks) in &lexed {
        if test_files.contains(f) {
            continue;
        }
        let Some(module) = top_module(&src, f) else {
            continue;
        };
        for m in crate_refs(toks, depth(&src, f)) {
            if m != module && modules.contains(&m) {
                graph.entry(module.clone()).or_default().insert(m);
            }
        }
    }
    graph
}

/// A cycle of `graph`, if it has one, as the modules along it (the first
/// repeated at the end).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        marks: &mut BTreeMap<String, Mark>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(m.to_owned(), Mark::Open);
        stack.push(m.to_owned());
        for n in graph.get(m).into_iter().flatten() {
            match marks.get(n).copied().unwrap_or(Mark::New) {
                Mark::Open => {
                    let from = stack.iter().position(|s| s == n).unwrap();
                    let mut cycle = stack[from..].to_vec();
                    cycle.push(n.clone());
                    return Some(cycle);
                }
                Mark::New => {
                    if let Some(c) = visit(n, graph, marks, stack) {
                        return Some(c);
                    }
                }
                Mark::Done => {}
            }
        }
        stack.pop();
        marks.insert(m.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for m in graph.keys() {
        if marks.get(m).copied().unwrap_or(Mark::New) == Mark::New
            && let Some(c) = visit(m, graph, &mut marks, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

#[test]
fn the_lexer_drops_comments_strings_and_test_modules() {
    let src = r##"
        use crate::a::{self, B};
        // crate::commented::out
        /* crate::block /* nested */ crate::too */
        const S: &str = "crate::in_a_string";
        const R: &str = r#"crate::raw "quoted""#;
        const C: char = '"';
        fn f<'x>(_: &'x str) { crate::b::f(); super::{c, d::e}::g(); }
        #[cfg(test)]
        mod tests { use crate::only_tests; }
        #[cfg(test)]
        mod file_tests;
    "##;
    let (toks, files) = without_test_modules(lex(src));
    assert_eq!(crate_refs(&toks, 1), ["a", "b", "c", "d"]);
    assert_eq!(crate_refs(&toks, 2), ["a", "b"]);
    let nested = lex("use super::super::x; use super::y;");
    assert_eq!(crate_refs(&nested, 2), ["x"]);
    assert_eq!(crate_refs(&nested, 1), ["y"]);
    assert_eq!(files, ["file_tests"]);
    let mut g = BTreeMap::new();
    g.insert("x".to_owned(), BTreeSet::from(["y".to_owned()]));
    g.insert("y".to_owned(), BTreeSet::from(["z".to_owned()]));
    g.insert("z".to_owned(), BTreeSet::from(["x".to_owned()]));
    assert_eq!(find_cycle(&g).unwrap(), ["x", "y", "z", "x"]);
    g.insert("z".to_owned(), BTreeSet::new());
    assert_eq!(find_cycle(&g), None);
}

#[test]
fn the_toolkit_modules_have_no_cycle() {
    let graph = module_graph();
    assert!(
        graph.len() > 10,
        "too few modules found under {}: {graph:?}",
        toolkit_src().display()
    );
    for (m, uses) in &graph {
        let uses: Vec<&str> = uses.iter().map(String::as_str).collect();
        println!("{m:>16} -> {}", uses.join(", "));
    }
    if let Some(cycle) = find_cycle(&graph) {
        panic!("the toolkit's modules form a cycle: {}", cycle.join(" -> "));
    }
}

// ---------------------------------------------------------------------------
// The toolkit's public names, and who reaches past them.

/// The names the toolkit's `lib.rs` re-exports (`pub use`), crates
/// included.
fn exported_names() -> BTreeSet<String> {
    let text = std::fs::read_to_string(toolkit_src().join("lib.rs")).unwrap();
    let toks = lex(&text);
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i + 1 < toks.len() {
        // An inline `pub mod name { pub use ... }` is part of the front door
        // (`backups`); a `pub mod name;` declaration is not.
        if ident(toks.get(i)) == Some("pub")
            && ident(toks.get(i + 1)) == Some("mod")
            && toks.get(i + 3) == Some(&Tok::Punct('{'))
            && let Some(name) = ident(toks.get(i + 2))
        {
            out.insert(name.to_owned());
        }
        if ident(toks.get(i)) == Some("pub") && ident(toks.get(i + 1)) == Some("use") {
            let end = (i..toks.len())
                .find(|&k| toks[k] == Tok::Punct(';'))
                .unwrap_or(toks.len());
            out.extend(leaf_names(&toks[i + 2..end]));
            i = end;
        }
        i += 1;
    }
    out
}

/// The names a use tree brings into scope: the last segment of each path,
/// or its `as` alias.
fn leaf_names(tree: &[Tok]) -> Vec<String> {
    let mut out = Vec::new();
    let mut last: Option<String> = None;
    let mut i = 0;
    while i < tree.len() {
        match &tree[i] {
            Tok::Ident(s) if s == "as" => {
                last = ident(tree.get(i + 1)).map(str::to_owned);
                i += 1;
            }
            Tok::Ident(s) => last = Some(s.clone()),
            Tok::Path | Tok::Punct('{') => last = None,
            Tok::Punct(',') | Tok::Punct('}') => {
                out.extend(last.take());
            }
            _ => {}
        }
        i += 1;
    }
    out.extend(last);
    out
}

/// Where `src/` and `migration/src/` name the toolkit past its exports:
/// `file: toolkit::<module>`.
fn crossings() -> Vec<String> {
    let exported = exported_names();
    let mut out = BTreeSet::new();
    for dir in ["src", "migration/src"] {
        for f in rust_files(&root().join(dir)) {
            let text = std::fs::read_to_string(&f).unwrap();
            let (toks, _) = without_test_modules(lex(&text));
            let rel = f.strip_prefix(root()).unwrap().display().to_string();
            for name in after(&toks, &["toolkit", "migration_toolkit"]) {
                if !exported.contains(&name) {
                    out.insert(format!("{rel}: toolkit::{name}"));
                }
            }
        }
    }
    out.into_iter().collect()
}

#[test]
fn the_exported_names_are_read_from_lib_rs() {
    let names = exported_names();
    for n in [
        "Step",
        "StepContext",
        "Runner",
        "SeaOrmMigrator",
        "sea_orm_migration",
    ] {
        assert!(names.contains(n), "{n} is not among {names:?}");
    }
    assert!(!names.contains("runner"), "{names:?}");
}

/// `src/` and `migration/src/` reach the toolkit only through the names its
/// `lib.rs` exports (its modules are the crate's own, open to tests only).
#[test]
fn the_crates_above_use_only_what_the_toolkit_exports() {
    let crossed = crossings();
    for c in &crossed {
        println!("{c}");
    }
    assert!(
        crossed.is_empty(),
        "{} use(s) of the toolkit past its exports:\n{}",
        crossed.len(),
        crossed.join("\n")
    );
}
