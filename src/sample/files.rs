//! The files of a sample besides cortex.db: model.yml in cortex.cpp's
//! writer layout, weights, engine folders, logs, uploads and `.cortexrc`,
//! byte for byte as an install at a given schema version has them.

use std::path::Path;

use migration::toolkit::MigrateError;
use sha2::{Digest, Sha256};

use super::SampleHome;
use super::content::{
    Content, LLAMACPP_VARIANT, LLAMACPP_VERSION, Model, ONNX_VARIANT, ONNX_VERSION,
};
use crate::error::Result;

/// Uploaded files (v3): name and upload time.
pub(super) const UPLOADS: [(&str, i64); 2] = [
    ("notes.txt", 1736467200),
    ("quarterly-report.pdf", 1736553600),
];

impl Content {
    /// Writes the data folder's files (not cortex.db) as an install at
    /// schema `version` has them, plus `.cortexrc` and the outside folder.
    /// Plain writes, not the migrator's durable ones: a sample that a crash
    /// cut short is simply written again into a new folder.
    pub fn write_disk(&self, home: &SampleHome, version: u8) -> Result<()> {
        let data = &home.data;
        for dir in ["models", "engines", "logs"] {
            mkdir(&data.join(dir))?;
        }
        mkdir(&home.outside)?;
        for m in &self.models {
            let (Some(yml), Some(w)) = (&m.yml, &m.weights) else {
                continue;
            };
            let content = weights(&m.id);
            write(w, &content)?;
            write(yml, m.yml_text(content.len()).as_bytes())?;
        }

        // Engine folders are named by repository (NormalizeEngine maps
        // llama-cpp -> cortex.llamacpp), whatever name the rows use.
        for (repo, variant, version) in [
            ("cortex.llamacpp", LLAMACPP_VARIANT, LLAMACPP_VERSION),
            ("cortex.onnx", ONNX_VARIANT, ONNX_VERSION),
        ] {
            let dir = data.join("engines").join(repo).join(variant).join(version);
            write(
                &dir.join("version.txt"),
                format!("name: {variant}\nversion: {version}\n").as_bytes(),
            )?;
            write(
                &dir.join("libengine.so"),
                &weights(&format!("{repo}/{variant}/{version}/libengine.so")),
            )?;
        }
        write(
            &data.join("engines/cortex.llamacpp/deps/libcudart.so.12"),
            &weights("deps/libcudart.so.12"),
        )?;

        write(
            &data.join("logs/cortex.log"),
            b"20241105 08:12:40.123456 UTC 48211 INFO  Host: 127.0.0.1 Port: 39281 - main.cc:218\n\
              20241105 08:12:40.127001 UTC 48211 INFO  Server started, listening at: 127.0.0.1:39281 - main.cc:242\n\
              20241105 08:12:44.002310 UTC 48230 INFO  Loaded engine: cortex.llamacpp - engine_service.cc:752\n",
        )?;
        write(
            &data.join("logs/cortex-cli.log"),
            b"20241105 08:12:39.871002 UTC 48207 INFO  Starting server ... - server_start_cmd.cc:99\n\
              20241105 08:12:41.301220 UTC 48207 INFO  Server started - server_start_cmd.cc:160\n",
        )?;

        if version >= 3 {
            for (name, _) in UPLOADS {
                write(&data.join("files").join(name), &upload_bytes(name))?;
            }
        }
        write(&home.home.join(".cortexrc"), &cortexrc(data, version))
    }
}

impl Model {
    /// model.yml exactly as `YamlHandler::WriteYamlFile` lays it out.
    fn yml_text(&self, size: usize) -> String {
        format!(
            "# BEGIN GENERAL GGUF METADATA
id: {short} # Model ID unique between models (author / quantization)
model: {id} # Model ID which is used for request construct - should be unique between models (author / quantization)
name: {short} # metadata.general.name
version: 1
files:             # Can be relative OR absolute local file path
  - {files}
# END GENERAL GGUF METADATA

# BEGIN INFERENCE PARAMETERS
# BEGIN REQUIRED
stop:                # tokenizer.ggml.eos_token_id
  - {stop}
# END REQUIRED

# BEGIN OPTIONAL
size: {size}
stream: true # Default true?
top_p: 0.9 # Ranges: 0 to 1
temperature: 0.7 # Ranges: 0 to 1
frequency_penalty: 0 # Ranges: 0 to 1
presence_penalty: 0 # Ranges: 0 to 1
max_tokens: {ctx} # Should be default to context length
seed: -1
dynatemp_range: 0
dynatemp_exponent: 1
top_k: 40
min_p: 0.05
tfs_z: 1
typ_p: 1
repeat_last_n: 64
repeat_penalty: 1
mirostat: false
mirostat_tau: 5
mirostat_eta: 0.1
penalize_nl: false
ignore_eos: false
n_probs: 0
min_keep: 0
# END OPTIONAL
# END INFERENCE PARAMETERS

# BEGIN MODEL LOAD PARAMETERS
# BEGIN REQUIRED
engine: {engine} # engine to run model
prompt_template: {prompt}
# END REQUIRED

# BEGIN OPTIONAL
ctx_len: {ctx} # llama.context_length | 0 or undefined = loaded from model
n_parallel: 1
ngl: {ngl} # Undefined = loaded from model
# END OPTIONAL
# END MODEL LOAD PARAMETERS
",
            short = self.short,
            id = self.id,
            files = self.files_entry,
            stop = self.stop,
            engine = self.engine,
            prompt = yaml_quoted(self.prompt_template),
            ctx = self.ctx_len,
            ngl = self.ngl,
        )
    }
}

/// A YAML double-quoted scalar, escaped the way yaml-cpp does for strings
/// with newlines.
fn yaml_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A few hundred bytes that start like a GGUF file and differ per `seed`,
/// so that a swapped or truncated file changes its digest.
pub(super) fn weights(seed: &str) -> Vec<u8> {
    let len = 256 + usize::from(Sha256::digest(seed.as_bytes())[0]) * 2;
    let mut out = b"GGUF".to_vec();
    out.extend(3u32.to_le_bytes());
    let mut i = 0u32;
    while out.len() < len {
        let block = Sha256::new()
            .chain_update(seed.as_bytes())
            .chain_update(i.to_le_bytes())
            .finalize();
        out.extend_from_slice(&block);
        i += 1;
    }
    out.truncate(len);
    out
}

/// The content of an uploaded file.
pub(super) fn upload_bytes(name: &str) -> Vec<u8> {
    match name {
        "notes.txt" => "Meeting notes\n".repeat(37).into_bytes(),
        _ => {
            let mut out = b"%PDF-1.4\n".to_vec();
            out.extend(weights(name).iter().cycle().take(1225));
            out
        }
    }
}

/// `.cortexrc` as cortex.cpp's `DumpYamlConfig` writes it. Installs of the
/// v0/v1 era have the short key set; the v2+ era writer adds update, proxy,
/// SSL and hub keys and prepends a UTF-8 BOM ("Workaround to save file as
/// utf8 BOM").
fn cortexrc(data: &Path, version: u8) -> Vec<u8> {
    let data = data.display();
    let (bom, updates, tail): (&[u8], String, &str) = if version < 2 {
        (
            b"",
            "checkedForUpdateAt: 1730794360\nlatestRelease: v1.0.1\n".to_owned(),
            "",
        )
    } else {
        (
            b"\xEF\xBB\xBF",
            format!(
                "checkedForUpdateAt: 1736467201
checkedForLlamacppUpdateAt: 1736467201
latestRelease: v1.0.7
latestLlamacppRelease: {LLAMACPP_VERSION}
"
            ),
            "proxyUrl: \"\"
verifyProxySsl: true
verifyProxyHostSsl: true
proxyUsername: \"\"
proxyPassword: \"\"
noProxy: example.com,::1,localhost,127.0.0.1
verifyPeerSsl: true
verifyHostSsl: true
sslCertPath: \"\"
sslKeyPath: \"\"
supportedEngines:
  - llama-cpp
  - onnxruntime
  - tensorrt-llm
checkedForSyncHubAt: 1736467201000
",
        )
    };
    let text = format!(
        "logFolderPath: {data}
logLlamaCppPath: ./logs/cortex.log
logTensorrtLLMPath: ./logs/cortex.log
logOnnxPath: ./logs/cortex.log
dataFolderPath: {data}
maxLogLines: 100000
apiServerHost: 127.0.0.1
apiServerPort: 39281
{updates}huggingFaceToken: \"\"
gitHubUserAgent: \"\"
gitHubToken: \"\"
llamacppVariant: {LLAMACPP_VARIANT}
llamacppVersion: {LLAMACPP_VERSION}
enableCors: true
allowedOrigins:
  - http://localhost:39281
  - http://127.0.0.1:39281
  - http://0.0.0.0:39281
{tail}"
    );
    [bom, text.as_bytes()].concat()
}

/// `create_dir_all`, with the error naming the folder.
pub(super) fn mkdir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| MigrateError::io("create folder", dir, e).into())
}

/// Writes `content` to `path`, creating its folder first.
fn write(path: &Path, content: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent() {
        mkdir(parent)?;
    }
    std::fs::write(path, content).map_err(|e| MigrateError::io("write", path, e).into())
}
