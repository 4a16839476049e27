//! The toolkit's modules form layers: reading every `.rs` file under
//! `migration/toolkit/src/`, each top-level module (a file or a folder
//! under `src/`) depends on the others it names through `crate::<m>` (or
//! `super::<m>` with as many `super`s as lead to the crate root), test
//! modules left out; that graph must have no cycle. And the crates built on the toolkit (`src/` and
//! `migration/src/`) should reach it only through the names its `lib.rs`
//! re-exports (`pub use`), not through its modules' paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

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
// A small lexer: identifiers and punctuation, comments and literals dropped.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

fn lex(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_string(&c, i + 1);
        } else if (ch == 'r' || ch == 'b')
            && let Some(end) = raw_string_end(&c, i)
        {
            i = end;
        } else if ch == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                // Past the quote, the backslash and the escaped character.
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
        } else if ch.is_alphabetic() || ch == '_' {
            let start = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // A byte string or byte char right after `b`.
            if word == "b" && i < c.len() && (c[i] == '"' || c[i] == '\'') {
                continue;
            }
            out.push(Tok::Ident(word));
        } else if ch == ':' && next == Some(':') {
            out.push(Tok::Path);
            i += 2;
        } else if ch.is_whitespace() || ch.is_ascii_digit() {
            i += 1;
        } else {
            out.push(Tok::Punct(ch));
            i += 1;
        }
    }
    out
}

/// The index after the closing quote of a string whose body starts at `i`.
fn skip_string(c: &[char], mut i: usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// The end of a raw string (`r"..."`, `r#"..."#`, `br#"..."#`) starting at
/// `i`, if one starts there.
fn raw_string_end(c: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if c[j] == 'b' {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    // Not the end of an identifier such as `for`.
    if i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if c.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < c.len() {
        if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    Some(j)
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

/// Drops every `#[cfg(test)] mod NAME { ... }` block; returns the tokens
/// left and the names of test modules declared as files (`mod NAME;`).
fn without_test_modules(toks: Vec<Tok>) -> (Vec<Tok>, Vec<String>) {
    let cfg_test = [
        Tok::Punct('#'),
        Tok::Punct('['),
        Tok::Ident("cfg".into()),
        Tok::Punct('('),
        Tok::Ident("test".into()),
        Tok::Punct(')'),
        Tok::Punct(']'),
    ];
    let mut out = Vec::new();
    let mut test_files = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if toks[i..].starts_with(&cfg_test) {
            let mut j = i + cfg_test.len();
            if ident(toks.get(j)) == Some("pub") {
                j += 1;
            }
            if ident(toks.get(j)) == Some("mod")
                && let Some(name) = ident(toks.get(j + 1))
            {
                match toks.get(j + 2) {
                    Some(Tok::Punct(';')) => {
                        test_files.push(name.to_owned());
                        i = j + 3;
                        continue;
                    }
                    Some(Tok::Punct('{')) => {
                        let mut depth = 0;
                        let mut k = j + 2;
                        while k < toks.len() {
                            match toks[k] {
                                Tok::Punct('{') => depth += 1,
                                Tok::Punct('}') => {
                                    depth -= 1;
                                    if depth == 0 {
                                        break;
                                    }
                                }
                                _ => {}
                            }
                            k += 1;
                        }
                        i = k + 1;
                        continue;
                    }
                    _ => {}
                }
            }
        }
        out.push(toks[i].clone());
        i += 1;
    }
    (out, test_files)
}

/// The first segments of the path that continues after a `::` at `i`:
/// `a` in `x::a::b`, and `a`, `b` in `x::{a::c, b}` (`self` left out).
fn first_segments(toks: &[Tok], i: usize) -> Vec<String> {
    match toks.get(i) {
        Some(Tok::Ident(s)) => vec![s.clone()],
        Some(Tok::Punct('{')) => {
            let mut out = Vec::new();
            let mut depth = 0;
            let mut expecting = true;
            for t in &toks[i..] {
                match t {
                    Tok::Punct('{') => {
                        depth += 1;
                        if depth == 1 {
                            expecting = true;
                        }
                    }
                    Tok::Punct('}') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    Tok::Punct(',') if depth == 1 => expecting = true,
                    Tok::Ident(s) if depth == 1 && expecting => {
                        expecting = false;
                        if s != "self" {
                            out.push(s.clone());
                        }
                    }
                    _ if depth == 1 => expecting = false,
                    _ => {}
                }
            }
            out
        }
        _ => Vec::new(),
    }
}

/// The segments that follow `prefix ::` anywhere in `toks`.
fn after(toks: &[Tok], prefixes: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if let Tok::Ident(s) = t
            && prefixes.contains(&s.as_str())
            && toks.get(i + 1) == Some(&Tok::Path)
        {
            out.extend(first_segments(toks, i + 2));
        }
    }
    out
}

/// The segments right under the crate root that `toks` names, in a file
/// `depth` modules below it: `crate::<m>`, and `super::<m>` with as many
/// `super`s as `depth` (one in `a.rs` or `a/mod.rs`, two in `a/b.rs`).
fn crate_refs(toks: &[Tok], depth: usize) -> Vec<String> {
    let mut out = after(toks, &["crate"]);
    let mut i = 0;
    while i < toks.len() {
        let mut supers = 0;
        while ident(toks.get(i + 2 * supers)) == Some("super")
            && toks.get(i + 2 * supers + 1) == Some(&Tok::Path)
        {
            supers += 1;
        }
        if supers == 0 {
            i += 1;
            continue;
        }
        if supers == depth {
            out.extend(first_segments(toks, i + 2 * supers));
        }
        i += 2 * supers;
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
