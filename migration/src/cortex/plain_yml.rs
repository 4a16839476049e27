//! The shape cortex.cpp writes a `model.yml` in, recognized line by line,
//! so that a step over thousands of models need not run a YAML parser
//! over each one to learn one value.
//!
//! cortex.cpp writes every `model.yml` itself, one `key: value # comment`
//! line per key, with `files:` and `stop:` as block lists of `  - item`
//! lines and comment lines between (`YamlHandler::WriteYamlFile` in
//! `engine/config/yaml_config.cc` and `format_utils::WriteKeyValue` in
//! `engine/utils/format_utils.h`, both at v1.0.9, e435d548). Such a file is
//! recognized here only if every line is one of those, in a form this
//! module knows the YAML meaning of for certain: plain scalars that start
//! with no indicator, double-quoted ones with the common escapes, single-
//! quoted ones, all on one line; keys that are plain names, none twice.
//! Anything else (a flow list, an anchor, a block scalar, a continued line,
//! a tab, a document marker) is not recognized, and the caller parses the
//! file as before. So a file this module recognizes is always one that
//! the parser reads as a mapping with these keys: the tests hold the two
//! to that over generated files.

/// One top-level entry of a recognized file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    pub key: &'a str,
    /// The scalar as written (quotes included), or `None` for a key whose
    /// value is a block list, or nothing (null).
    pub scalar: Option<&'a str>,
}

/// The top-level entries of `text` if it is in the plain shape.
pub fn entries(text: &str) -> Option<Vec<Entry<'_>>> {
    // Lines end in `\n`, or `\r\n` as a Windows build of cortex.cpp
    // writes them (a text-mode `std::ofstream`); a `\r` anywhere else, a
    // tab or another control character is left to the parser.
    if has_unusual(text) {
        return None;
    }
    // Room for the keys cortex.cpp writes (some forty) without growing.
    let mut out: Vec<Entry<'_>> = Vec::with_capacity(48);
    // Inside a key with no value on its line: the indentation of its list
    // items once the first is seen.
    let mut list: Option<Option<usize>> = None;
    for line in split_at_byte(text, b'\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let trimmed = line.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if trimmed.len() != line.len() {
            let indent = line.len() - trimmed.len();
            let want = list.as_mut()?;
            if *want.get_or_insert(indent) != indent {
                return None;
            }
            let item = trimmed.strip_prefix("- ")?.trim_start_matches(' ');
            scalar_with_rest(item)?;
            continue;
        }
        let colon = line.bytes().position(|b| b == b':')?;
        let (key, rest) = (&line[..colon], &line[colon + 1..]);
        if !plain_key(key) || out.iter().any(|e| e.key == key) {
            return None;
        }
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        let value = rest.trim_start_matches(' ');
        if value.is_empty() || value.starts_with('#') {
            list = Some(None);
            out.push(Entry { key, scalar: None });
        } else {
            list = None;
            out.push(Entry {
                key,
                scalar: Some(scalar_with_rest(value)?),
            });
        }
    }
    (!out.is_empty()).then_some(out)
}

/// The parts of `text` between the ASCII byte `sep`, as `str::split`
/// gives them, found a byte at a time: lines of a few dozen bytes are
/// split faster so than by a searcher set up for each.
fn split_at_byte(text: &str, sep: u8) -> impl Iterator<Item = &str> {
    debug_assert!(sep.is_ascii());
    let mut rest = Some(text);
    std::iter::from_fn(move || {
        let t = rest?;
        match t.bytes().position(|b| b == sep) {
            // An ASCII byte is a character boundary on both sides.
            Some(i) => {
                rest = Some(&t[i + 1..]);
                Some(&t[..i])
            }
            None => {
                rest = None;
                Some(t)
            }
        }
    })
}

/// The string a recognized file gives `key`, when its scalar is a plain
/// name whose meaning is a string for certain (`llama-cpp`,
/// `cortex.llamacpp`): `Some(None)` when the key is absent, `None` when
/// only a parser can say.
pub fn plain_name<'a>(entries: &[Entry<'a>], key: &str) -> Option<Option<&'a str>> {
    let Some(entry) = entries.iter().find(|e| e.key == key) else {
        return Some(None);
    };
    let scalar = entry.scalar?;
    is_plain_name(scalar).then_some(Some(scalar))
}

/// A name that YAML reads as that very string: a letter first, then
/// letters, digits, `.`, `_`, `-`, and none of the words it reads as
/// something else.
pub fn is_plain_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !is_special_word(s)
}

/// Words YAML 1.1 or 1.2 resolves to a boolean or null.
fn is_special_word(s: &str) -> bool {
    const WORDS: [&str; 11] = [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "inf", "nan",
    ];
    WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

fn plain_key(key: &str) -> bool {
    // A YAML parser reads no implicit key over 1,024 characters.
    key.len() <= 128
        && key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-'))
        && !is_special_word(key)
}

/// The scalar at the start of `s` if it is one of the known forms and is
/// followed by nothing but spaces and a comment.
fn scalar_with_rest(s: &str) -> Option<&str> {
    let end = match s.as_bytes().first()? {
        b'"' => double_quoted_end(s)?,
        b'\'' => single_quoted_end(s)?,
        _ => plain_end(s)?,
    };
    let (scalar, rest) = s.split_at(end);
    let after = rest.trim_start_matches(' ');
    let rest_ok =
        rest.is_empty() || (rest.starts_with(' ') && (after.is_empty() || after.starts_with('#')));
    rest_ok.then_some(scalar)
}

/// Where a plain scalar ends (before ` #` or trailing spaces), if it
/// starts with no indicator and holds no `: ` and does not end in `:`.
fn plain_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let first = *b.first()?;
    let indicator = matches!(
        first,
        b'-' | b'?'
            | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    );
    let dash_value = first == b'-' && b.get(1).is_some_and(|&c| c != b' ');
    if indicator && !dash_value {
        return None;
    }
    // One pass: the scalar ends at the first ` #`; a `: ` before it
    // makes it no plain scalar.
    let mut end = b.len();
    for i in 1..b.len() {
        match b[i] {
            b'#' if b[i - 1] == b' ' => {
                end = i - 1;
                break;
            }
            b' ' if b[i - 1] == b':' => return None,
            _ => {}
        }
    }
    let scalar = s[..end].trim_end_matches(' ');
    if scalar.ends_with(':') {
        return None;
    }
    Some(scalar.len())
}

/// Whether `text` holds what [`entries`] leaves to the parser: a control
/// character other than a line break (C0, DEL or C1), a `\r` that does not
/// end a line, a line or paragraph separator or a byte order mark. A byte
/// at a time, the common all-printable-ASCII case in blocks the compiler
/// can check many bytes of at once.
fn has_unusual(text: &str) -> bool {
    let b = text.as_bytes();
    let plain = |c: u8| (0x20..0x7f).contains(&c) || c == b'\n';
    let all_plain = b
        .chunks(64)
        .all(|chunk| chunk.iter().fold(true, |ok, &c| ok & plain(c)));
    if all_plain {
        return false;
    }
    (0..b.len()).any(|i| match b[i] {
        b'\n' => false,
        b'\r' => !(i + 1 == b.len() || b[i + 1] == b'\n'),
        0x00..=0x1f | 0x7f => true,
        // U+0080 to U+009F.
        0xc2 => matches!(b.get(i + 1), Some(0x80..=0x9f)),
        // U+2028, U+2029.
        0xe2 => b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xa8 | 0xa9)),
        // U+FEFF.
        0xef => b.get(i + 1) == Some(&0xbb) && b.get(i + 2) == Some(&0xbf),
        _ => false,
    })
}

/// The end (past the closing quote) of a double-quoted scalar on one line
/// with only the escapes `\\ \" \/ \n \t \r`.
fn double_quoted_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if !matches!(b.get(i + 1), Some(b'\\' | b'"' | b'/' | b'n' | b't' | b'r')) {
                    return None;
                }
                i += 2;
            }
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

/// The end (past the closing quote) of a single-quoted scalar on one line.
fn single_quoted_end(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        if b[i] == b'\'' {
            if b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_yaml::Value;

    const CORTEX_WRITES: &str = "# BEGIN GENERAL GGUF METADATA\n\
id: tinyllama # Model ID unique between models (author / quantization)\n\
model: tinyllama:1b # Model ID\n\
version: 1\n\
files:             # Can be relative OR absolute local file path\n  \
- models/cortex.so/tinyllama/1b/model.gguf\n\
# END GENERAL GGUF METADATA\n\
\n\
stop:                # tokenizer.ggml.eos_token_id\n  \
- </s>\n\
top_p: 0.9 # Ranges: 0 to 1\n\
seed: -1\n\
engine: cortex.llamacpp # engine to run model\n\
prompt_template: \"<|system|>\\n{system_message}</s>\\n<|user|>\\n{prompt}</s>\\n<|assistant|>\\n\"\n";

    #[test]
    fn what_cortex_writes_is_recognized() {
        let e = entries(CORTEX_WRITES).unwrap();
        let keys: Vec<&str> = e.iter().map(|e| e.key).collect();
        assert_eq!(
            keys,
            [
                "id",
                "model",
                "version",
                "files",
                "stop",
                "top_p",
                "seed",
                "engine",
                "prompt_template"
            ]
        );
        assert_eq!(plain_name(&e, "engine"), Some(Some("cortex.llamacpp")));
        assert_eq!(plain_name(&e, "absent"), Some(None));
        assert_eq!(plain_name(&e, "top_p"), None);
        agrees_with_the_parser(CORTEX_WRITES);
        let windows = CORTEX_WRITES.replace('\n', "\r\n");
        assert_eq!(entries(&windows), Some(e));
        agrees_with_the_parser(&windows);
    }

    #[test]
    fn anything_less_plain_is_left_to_the_parser() {
        for text in [
            "files: [a, b]\n",
            "a: &x 1\nb: *x\n",
            "prompt: |\n  hi\n",
            "a: one\n  two\n",
            "a:\n\t- x\n",
            "---\na: 1\n",
            "a: 1\na: 2\n",
            "a: \"\\x41\"\n",
            "a: 'open\n",
            "a: b: c\n",
            "a:\n  - x\n   - y\n",
            "a: 1\n  - x\n",
            "a: 1\rb: 2\n",
            "a: x\r\r\n",
            "- a\n",
            "true: x\n",
            "a:b\n",
            "",
            "# only a comment\n",
        ] {
            assert_eq!(entries(text), None, "{text:?}");
        }
    }

    #[test]
    fn special_words_are_not_names() {
        for w in ["true", "NULL", "yes", "Off", "1.0", ".inf", "-x", "a b"] {
            assert!(!is_plain_name(w), "{w}");
        }
        for w in [
            "llama-cpp",
            "cortex.llamacpp",
            "onnxruntime",
            "tensorrt-llm",
        ] {
            assert!(is_plain_name(w), "{w}");
        }
    }

    /// Whatever this module recognizes, the parser reads as a mapping
    /// with the same keys, and a plain name as that string.
    fn agrees_with_the_parser(text: &str) {
        let Some(found) = entries(text) else {
            return;
        };
        let parsed: Value = serde_yaml::from_str(text)
            .unwrap_or_else(|e| panic!("recognized but not YAML ({e}):\n{text}"));
        let Value::Mapping(map) = &parsed else {
            panic!("recognized but not a mapping:\n{text}");
        };
        assert_eq!(map.len(), found.len(), "{text}");
        for e in &found {
            let v = map
                .get(e.key)
                .unwrap_or_else(|| panic!("key {} not read as a string key:\n{text}", e.key));
            if let Some(Some(name)) = plain_name(&found, e.key) {
                assert_eq!(v.as_str(), Some(name), "{text}");
            }
            if e.scalar.is_none() {
                assert!(
                    matches!(v, Value::Null | Value::Sequence(_)),
                    "{}: {v:?}\n{text}",
                    e.key
                );
            }
        }
    }

    /// A stretch of a file: mostly entries of the shape, with scalars made
    /// of the characters YAML gives a meaning to, so that the near misses
    /// are many; now and then a line of anything.
    fn stretch() -> impl Strategy<Value = String> {
        let tricky = "[a-z0-9:#'\"\\ \\-\\[\\]{}*&!|>%@?,~.]{0,10}";
        let key = prop_oneof![
            1 => Just("engine".to_string()),
            1 => Just("files".to_string()),
            6 => "[a-z_][a-z0-9_-]{0,6}",
            1 => "[ -~]{0,8}",
        ];
        let scalar = prop_oneof![
            3 => "[A-Za-z][A-Za-z0-9._-]{0,10}",
            3 => tricky,
            1 => "[ -~]{0,16}",
            2 => tricky.prop_map(|t| format!("\"{t}\"")),
            2 => tricky.prop_map(|t| format!("'{t}'")),
            1 => Just("true".to_string()),
            1 => Just("-1".to_string()),
            1 => Just("~".to_string()),
        ];
        let comment = prop_oneof![
            Just(String::new()),
            Just(" # note".to_string()),
            "[ #]{0,3}"
        ];
        let item = ("[ ]{1,3}", scalar.clone(), comment.clone())
            .prop_map(|(i, v, c)| format!("{i}- {v}{c}"));
        prop_oneof![
            6 => (key.clone(), scalar, comment.clone())
                .prop_map(|(k, v, c)| format!("{k}: {v}{c}")),
            3 => (key, comment, proptest::collection::vec(item, 0..4))
                .prop_map(|(k, c, items)| {
                    std::iter::once(format!("{k}:{c}")).chain(items).collect::<Vec<_>>().join("\n")
                }),
            1 => Just("# comment".to_string()),
            1 => Just(String::new()),
            1 => "[ -~\t]{0,20}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(6000))]
        #[test]
        fn recognized_files_read_the_same_as_parsed(
            lines in proptest::collection::vec(stretch(), 1..10),
            windows in proptest::bool::ANY,
        ) {
            let text = lines.join("\n");
            agrees_with_the_parser(&if windows { text.replace('\n', "\r\n") } else { text });
        }
    }
    /// What [`has_unusual`] and [`plain_end`] decide, as they were first
    /// written a character at a time.
    fn unusual_by_chars(text: &str) -> bool {
        let stray_cr = text
            .split('\n')
            .any(|l| l.strip_suffix('\r').unwrap_or(l).contains('\r'));
        stray_cr
            || text.chars().any(|c| {
                (c.is_control() && c != '\n' && c != '\r')
                    || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
            })
    }

    fn plain_end_by_chars(s: &str) -> Option<usize> {
        let first = s.chars().next()?;
        let indicator = "-?:,[]{}#&*!|>'\"%@`".contains(first);
        let dash_value = first == '-' && s[1..].starts_with(|c: char| c != ' ');
        if indicator && !dash_value {
            return None;
        }
        let end = s.find(" #").unwrap_or(s.len());
        let scalar = s[..end].trim_end_matches(' ');
        if scalar.contains(": ") || scalar.ends_with(':') {
            return None;
        }
        Some(scalar.len())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]
        #[test]
        fn byte_checks_decide_as_the_character_checks(
            s in "[a: #\\-?'\"\r\n\t\u{7f}\u{85}\u{9f}\u{a0}\u{2028}\u{2029}\u{feff}\u{e9}\u{2027}]{0,12}",
        ) {
            prop_assert_eq!(has_unusual(&s), unusual_by_chars(&s));
            prop_assert_eq!(plain_end(&s), plain_end_by_chars(&s));
            // Past the 64-byte blocks of the quick pass too.
            let long = format!("{}{s}", "x".repeat(70));
            prop_assert_eq!(has_unusual(&long), unusual_by_chars(&long));
        }
    }
}
