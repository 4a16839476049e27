//! How September 2024 cortex.cpp builds wrote a model's yml: the
//! `config::ModelConfig` fields that `YamlHandler::UpdateModelConfig` puts
//! in its node, and the two `YamlHandler::WriteYamlFile`s of
//! `engine/config/yaml_config.cc` (yaml-cpp's own dump up to f5588991^, the
//! commented layout from f5588991 on), with yaml-cpp 0.8.0's scalar rules.

/// The `config::ModelConfig` fields these builds wrote for a llama.cpp
/// model (`engine/config/model_config.h`). A float is `None` where the C++
/// holds NaN, which `UpdateModelConfig` leaves out.
#[derive(Debug, Clone)]
pub(super) struct ModelConfig {
    pub name: String,
    pub model: String,
    pub version: String,
    pub engine: String,
    pub prompt_template: String,
    pub id: String,
    pub top_p: Option<f32>,
    pub temperature: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub presence_penalty: Option<f32>,
    pub max_tokens: i32,
    pub ngl: i32,
    pub ctx_len: i32,
    pub stream: bool,
    pub stop: Vec<String>,
    pub files: Vec<String>,
}

/// `WriteYamlFile` up to f5588991^ (efb426c5, 05d67be4): `outFile <<
/// yaml_node_`, yaml-cpp's block dump of the node `UpdateModelConfig`
/// built, in its insertion order, with no newline at the end. `created` is
/// the `std::time(nullptr)` it stamps. `tp` and `text_model` are written as
/// `0` and `false`: their `quiet_NaN()` defaults are an `int` and a `bool`,
/// which `std::isnan` never finds NaN. Empty strings (`os`, `gpu_arch`,
/// `object`, `owned_by`, ...) are left out.
pub(super) fn yaml_cpp_dump(c: &ModelConfig, created: i64) -> String {
    let mut lines = Vec::new();
    let mut text = |key: &str, value: &str| {
        if !value.is_empty() {
            lines.push(format!("{key}: {}", scalar(value)));
        }
    };
    text("name", &c.name);
    text("model", &c.model);
    text("version", &c.version);
    text("engine", &c.engine);
    text("prompt_template", &c.prompt_template);
    text("id", &c.id);
    for (key, value) in [
        ("top_p", c.top_p),
        ("temperature", c.temperature),
        ("frequency_penalty", c.frequency_penalty),
        ("presence_penalty", c.presence_penalty),
    ] {
        if let Some(v) = value {
            lines.push(format!("{key}: {}", float(v)));
        }
    }
    lines.push(format!("max_tokens: {}", c.max_tokens));
    lines.push(format!("ngl: {}", c.ngl));
    lines.push(format!("ctx_len: {}", c.ctx_len));
    lines.push("tp: 0".to_owned());
    lines.push(format!("stream: {}", c.stream));
    lines.push("text_model: false".to_owned());
    for (key, items) in [("stop", &c.stop), ("files", &c.files)] {
        if !items.is_empty() {
            lines.push(format!("{key}:"));
            lines.extend(items.iter().map(|i| format!("  - {}", scalar(i))));
        }
    }
    lines.push(format!("created: {created}"));
    lines.join("\n")
}

/// The sampling fields f5588991 added to `ModelConfig`, at the defaults
/// both the struct and `GGUFHandler::ModelConfigFromMetadata` give them
/// (`grammar` is empty, so never written).
const SAMPLING: [(&str, Sampling); 16] = [
    ("seed", Sampling::Int(-1)),
    ("dynatemp_range", Sampling::Float(0.0)),
    ("dynatemp_exponent", Sampling::Float(1.0)),
    ("top_k", Sampling::Int(40)),
    ("min_p", Sampling::Float(0.05)),
    ("tfs_z", Sampling::Float(1.0)),
    ("typ_p", Sampling::Float(1.0)),
    ("repeat_last_n", Sampling::Int(64)),
    ("repeat_penalty", Sampling::Float(1.0)),
    ("mirostat", Sampling::Bool(false)),
    ("mirostat_tau", Sampling::Float(5.0)),
    ("mirostat_eta", Sampling::Float(0.1)),
    ("penalize_nl", Sampling::Bool(false)),
    ("ignore_eos", Sampling::Bool(false)),
    ("n_probs", Sampling::Int(0)),
    ("min_keep", Sampling::Int(0)),
];

enum Sampling {
    Int(i32),
    Float(f32),
    Bool(bool),
}

/// `WriteYamlFile` from f5588991 to 08b8841e^1 (unchanged at 77414c64^1
/// and 77414c64): fixed sections and comments, each value written by
/// yaml-cpp as a lone scalar (`writeKeyValue` skips a key the node lacks),
/// a newline after every line. It never writes `created`, `tp`,
/// `text_model`, `os` or `owned_by`.
pub(super) fn commented(c: &ModelConfig) -> String {
    let mut out = String::from("# BEGIN GENERAL GGUF METADATA\n");
    let model = "Model ID which is used for request construct - should be unique \
                 between models (author / quantization)";
    for (key, value, comment) in [
        (
            "id",
            &c.id,
            "Model ID unique between models (author / quantization)",
        ),
        ("model", &c.model, model),
        ("name", &c.name, "metadata.general.name"),
        ("version", &c.version, "metadata.version"),
    ] {
        if !value.is_empty() {
            line(&mut out, key, &scalar(value), comment);
        }
    }
    if !c.files.is_empty() {
        out.push_str(
            "files:             # can be universal protocol (models://) OR absolute local \
             file path (file://) OR https remote URL (https://)\n",
        );
        items(&mut out, &c.files);
    }
    out.push_str("# END GENERAL GGUF METADATA\n\n");
    out.push_str("# BEGIN INFERENCE PARAMETERS\n# BEGIN REQUIRED\n");
    if !c.stop.is_empty() {
        out.push_str("stop:                # tokenizer.ggml.eos_token_id\n");
        items(&mut out, &c.stop);
    }
    out.push_str("# END REQUIRED\n\n# BEGIN OPTIONAL\n");
    line(&mut out, "stream", &c.stream.to_string(), "Default true?");
    for (key, value) in [
        ("top_p", c.top_p),
        ("temperature", c.temperature),
        ("frequency_penalty", c.frequency_penalty),
        ("presence_penalty", c.presence_penalty),
    ] {
        if let Some(v) = value {
            line(&mut out, key, &float(v), "Ranges: 0 to 1");
        }
    }
    let max_tokens = c.max_tokens.to_string();
    line(
        &mut out,
        "max_tokens",
        &max_tokens,
        "Should be default to context length",
    );
    for (key, value) in SAMPLING {
        let value = match value {
            Sampling::Int(i) => i.to_string(),
            Sampling::Float(f) => float(f),
            Sampling::Bool(b) => b.to_string(),
        };
        line(&mut out, key, &value, "");
    }
    out.push_str("# END OPTIONAL\n# END INFERENCE PARAMETERS\n\n");
    out.push_str("# BEGIN MODEL LOAD PARAMETERS\n# BEGIN REQUIRED\n");
    if !c.engine.is_empty() {
        line(
            &mut out,
            "engine",
            &scalar(&c.engine),
            "engine to run model",
        );
    }
    // Written without a presence check: a model without a template would
    // get `prompt_template: ` and whatever yaml-cpp makes of a missing node.
    assert!(
        !c.prompt_template.is_empty(),
        "every model these builders write has a prompt template"
    );
    line(&mut out, "prompt_template", &scalar(&c.prompt_template), "");
    out.push_str("# END REQUIRED\n\n# BEGIN OPTIONAL\n");
    let ctx_len = c.ctx_len.to_string();
    let ctx_comment = "llama.context_length | 0 or undefined = loaded from model";
    line(&mut out, "ctx_len", &ctx_len, ctx_comment);
    line(
        &mut out,
        "ngl",
        &c.ngl.to_string(),
        "Undefined = loaded from model",
    );
    out.push_str("# END OPTIONAL\n# END MODEL LOAD PARAMETERS\n");
    out
}

/// `writeKeyValue`: `key: value`, then ` # comment` if there is one.
fn line(out: &mut String, key: &str, value: &str, comment: &str) {
    out.push_str(&format!("{key}: {value}"));
    if !comment.is_empty() {
        out.push_str(&format!(" # {comment}"));
    }
    out.push('\n');
}

/// A sequence, one `  - item` line each (`outFile << "  - " << node`).
fn items(out: &mut String, items: &[String]) {
    for i in items {
        out.push_str(&format!("  - {}\n", scalar(i)));
    }
}

/// A float as yaml-cpp's `convert<float>::encode` writes it: a stream with
/// `precision(max_digits10)` (9), so `printf("%.9g")`: 0.95f is
/// `0.949999988`, 0.7f `0.699999988`, 0.0f `0`.
pub(super) fn float(v: f32) -> String {
    let v = f64::from(v);
    if v == 0.0 {
        return "0".to_owned();
    }
    let sci = format!("{v:.8e}");
    let (mantissa, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("{:e} exponent is an integer");
    if !(-4..9).contains(&exp) {
        let mantissa = trim_fraction(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exp.abs());
    }
    let decimals = usize::try_from(8 - exp).expect("exp < 9");
    trim_fraction(&format!("{v:.decimals$}")).to_owned()
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// A string as yaml-cpp 0.8.0's emitter writes it in block context: plain
/// when `IsValidPlainScalar` allows it, else double-quoted
/// (`ComputeStringFormat`, `WriteDoubleQuotedString` in
/// `src/emitterutils.cpp`).
pub(super) fn scalar(s: &str) -> String {
    if plain_ok(s) {
        s.to_owned()
    } else {
        double_quoted(s)
    }
}

fn blank_or_break(c: Option<&u8>) -> bool {
    matches!(c, Some(b' ' | b'\t' | b'\n' | b'\r'))
}

/// `IsValidPlainScalar` with `Exp::PlainScalar` and the block-context
/// disallowed set (`src/exp.h`).
fn plain_ok(s: &str) -> bool {
    if matches!(s, "" | "~" | "null" | "Null" | "NULL") {
        return false;
    }
    let b = s.as_bytes();
    let first = b[0];
    if blank_or_break(Some(&first)) || b",[]{}#&*!|>'\"%@`".contains(&first) {
        return false;
    }
    if b"-?:".contains(&first) && (b.len() == 1 || blank_or_break(b.get(1))) {
        return false;
    }
    if s.ends_with(' ') {
        return false;
    }
    b.iter().enumerate().all(|(i, &c)| {
        let next = b.get(i + 1);
        let end_scalar = c == b':' && (next.is_none() || blank_or_break(next));
        let comment = blank_or_break(Some(&c)) && next == Some(&b'#');
        let not_printable = (c < 0x20 && c != b' ') || c == 0x7f;
        let c1_control = c == 0xc2
            && matches!(next, Some(&n) if (0x80..=0x84).contains(&n) || (0x86..=0x9f).contains(&n));
        let bom = b[i..].starts_with(b"\xef\xbb\xbf");
        !(end_scalar || comment || not_printable || c1_control || bom || c == b'&')
    })
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (0x80..=0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            '\u{feff}' => out.push_str("\\ufeff"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
