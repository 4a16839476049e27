//! A small lexer of Rust source for `tests/module_layers.rs`: identifiers,
//! `::` and punctuation, with comments, strings, raw strings, char literals
//! and lifetimes dropped; `#[cfg(test)]` modules left out; and the module
//! paths that follow `crate::`, `super::` (as many as lead to the crate
//! root) or any other prefix.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Ident(String),
    /// `::`
    Path,
    Punct(char),
}

pub fn lex(src: &str) -> Vec<Tok> {
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

pub fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

/// Drops every `#[cfg(test)] mod NAME { ... }` block; returns the tokens
/// left and the names of test modules declared as files (`mod NAME;`).
pub fn without_test_modules(toks: Vec<Tok>) -> (Vec<Tok>, Vec<String>) {
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
pub fn after(toks: &[Tok], prefixes: &[&str]) -> Vec<String> {
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
pub fn crate_refs(toks: &[Tok], depth: usize) -> Vec<String> {
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
