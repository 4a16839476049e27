//! What a Cortex install holds besides its schema: the rows cortex.cpp
//! writes into each table (tagged with the schema version whose columns
//! they need), and the files it leaves in the data folder (model.yml in
//! cortex.cpp's writer layout, weights, engines, logs, uploads, .cortexrc).

use std::path::{Path, PathBuf};

use sea_orm::Value;
use sha2::{Digest, Sha256};

/// The variant and version every engine folder and `.cortexrc` agree on.
pub const LLAMACPP_VARIANT: &str = "linux-amd64-avx2-cuda-12-0";
pub const LLAMACPP_VERSION: &str = "v0.1.49";
pub const ONNX_VARIANT: &str = "linux-amd64-avx2";
pub const ONNX_VERSION: &str = "v0.1.7";

/// The standard set of models, by id.
pub const TINYLLAMA: &str = "tinyllama:1b";
pub const LLAMA32: &str = "llama3.2:3b-gguf-q4-km";
pub const PHI3: &str = "phi-3:onnx";
pub const IMPORTED: &str = "my-imported";
/// The catalogue (`downloadable`) row: no files on disk, empty yml path.
pub const CATALOGUE: &str = "qwen2.5:7b";
/// The models of the standard set that have files on disk.
pub const DOWNLOADED: [&str; 4] = [TINYLLAMA, LLAMA32, PHI3, IMPORTED];

/// Ids of the uploaded files (v3).
pub const FILE_IDS: [&str; 2] = [
    "file-01JH2X7Q9V3M8K5N4P2R6T1W0Y",
    "file-01JH2Y4D6F8G0H2J4K6M8N0P2Q",
];

/// The id of the `n`th generated model (1-based).
pub fn generated_id(n: usize) -> String {
    format!("gen-model-{n}:main")
}

/// Engine names as cortex.cpp wrote them into rows and model.yml files.
#[derive(Debug, Clone, Copy)]
pub struct EngineNames {
    pub llama: &'static str,
    pub onnx: &'static str,
}

impl EngineNames {
    pub fn new(legacy: bool) -> Self {
        if legacy {
            EngineNames {
                llama: "cortex.llamacpp",
                onnx: "cortex.onnx",
            }
        } else {
            EngineNames {
                llama: "llama-cpp",
                onnx: "onnxruntime",
            }
        }
    }
}

/// One cell of a row, with the schema version that added its column.
pub struct Cell {
    pub col: &'static str,
    pub since: u8,
    pub val: Value,
}

/// One row, with the schema version from which cortex.cpp could write it.
/// The first cell is the key that later versions' backfills update by.
pub struct Row {
    pub table: &'static str,
    pub since: u8,
    pub cells: Vec<Cell>,
}

fn cell(col: &'static str, since: u8, val: impl Into<Value>) -> Cell {
    Cell {
        col,
        since,
        val: val.into(),
    }
}

/// One model as the fixture lays it down.
pub struct Model {
    pub id: String,
    /// `id:` in model.yml (cortexso writes the bare model name).
    pub short: String,
    pub author: String,
    pub branch: String,
    /// The `path_to_model_yaml` value.
    pub db_path: String,
    /// Where model.yml is, if the model was downloaded.
    pub yml: Option<PathBuf>,
    /// The `files:` entry in model.yml.
    pub files_entry: String,
    /// Where the weights are.
    pub weights: Option<PathBuf>,
    pub format: &'static str,
    pub source: String,
    pub status: &'static str,
    pub engine: &'static str,
    pub metadata: String,
    /// First schema version at which such a row exists.
    pub since: u8,
    pub stop: &'static str,
    pub prompt_template: &'static str,
    pub ctx_len: u32,
    pub ngl: u32,
}

impl Model {
    fn row(&self) -> Row {
        Row {
            table: "models",
            since: self.since,
            cells: vec![
                cell("model_id", 0, self.id.clone()),
                cell("author_repo_id", 0, self.author.clone()),
                cell("branch_name", 0, self.branch.clone()),
                cell("path_to_model_yaml", 0, self.db_path.clone()),
                cell("model_alias", 0, self.id.clone()),
                cell("model_format", 1, self.format),
                cell("model_source", 1, self.source.clone()),
                cell("status", 1, self.status),
                cell("engine", 1, self.engine),
                cell("metadata", 2, self.metadata.clone()),
            ],
        }
    }

    /// model.yml exactly as `YamlHandler::WriteYamlFile` lays it out.
    pub fn yml_text(&self, size: usize) -> String {
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
pub fn weights(seed: &str) -> Vec<u8> {
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

fn cortexso_metadata(name: &str, size: usize) -> String {
    serde_json::json!({
        "_id": format!("66b2f{:019x}", size),
        "author": "cortexso",
        "id": format!("cortexso/{name}"),
        "lastModified": "2024-11-12T20:11:22.000Z",
        "likes": 0,
        "downloads": 1289,
        "private": false,
        "tags": ["gguf", "cortex.cpp", "text-generation"],
        "size": size,
        "description": format!("## Overview\n\n{name}, packaged for Cortex.\n"),
    })
    .to_string()
}

/// Everything a fixture writes, computed up front so that the database and
/// the files agree.
pub struct Content {
    pub names: EngineNames,
    pub models: Vec<Model>,
}

impl Content {
    pub fn new(data: &Path, outside: &Path, legacy: bool, extra: usize) -> Self {
        let names = EngineNames::new(legacy);
        let mut models = Vec::new();
        let cortexso = |id: &str,
                        name: &str,
                        branch: &str,
                        engine: &'static str,
                        stop: &'static str,
                        prompt_template: &'static str,
                        ctx_len: u32,
                        ngl: u32| {
            let rel_dir = format!("models/cortex.so/{name}/{branch}");
            let weights = data.join(&rel_dir).join("model.gguf");
            Model {
                id: id.to_owned(),
                short: name.to_owned(),
                author: "cortexso".into(),
                branch: branch.to_owned(),
                db_path: format!("{rel_dir}/model.yml"),
                yml: Some(data.join(&rel_dir).join("model.yml")),
                files_entry: format!("{rel_dir}/model.gguf"),
                metadata: cortexso_metadata(name, self::weights(id).len()),
                weights: Some(weights),
                format: "cortexso",
                source: format!("https://huggingface.co/cortexso/{name}"),
                status: "downloaded",
                engine,
                since: 0,
                stop,
                prompt_template,
                ctx_len,
                ngl,
            }
        };

        // (1) pulled before cortex.cpp switched to relative paths (#1368):
        // the row and model.yml both hold absolute paths.
        let mut tiny = cortexso(
            TINYLLAMA,
            "tinyllama",
            "1b",
            names.llama,
            "</s>",
            "<|system|>\n{system_message}</s>\n<|user|>\n{prompt}</s>\n<|assistant|>\n",
            2048,
            33,
        );
        let tiny_yml = tiny.yml.clone().expect("tinyllama has a model.yml");
        tiny.db_path = tiny_yml.display().to_string();
        tiny.files_entry = tiny
            .weights
            .as_ref()
            .expect("tinyllama has weights")
            .display()
            .to_string();
        models.push(tiny);

        // (2) and (3): pulled after the switch, relative to the data folder.
        models.push(cortexso(
            LLAMA32,
            "llama3.2",
            "3b-gguf-q4-km",
            names.llama,
            "<|eot_id|>",
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system_message}<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
            8192,
            29,
        ));
        models.push(cortexso(
            PHI3,
            "phi-3",
            "onnx",
            names.onnx,
            "<|end|>",
            "<|user|>\n{prompt}<|end|>\n<|assistant|>\n",
            4096,
            0,
        ));

        // (4) `cortex models import`: the yml path is relative, but files:
        // keeps the absolute path of the user's own file (issue #1496).
        let imported_weights = outside.join("my-imported.gguf");
        models.push(Model {
            id: IMPORTED.into(),
            short: IMPORTED.into(),
            author: String::new(),
            branch: String::new(),
            db_path: format!("models/imported/{IMPORTED}.yml"),
            yml: Some(data.join(format!("models/imported/{IMPORTED}.yml"))),
            files_entry: imported_weights.display().to_string(),
            weights: Some(imported_weights),
            format: "local",
            source: "imported".into(),
            status: "downloaded",
            engine: names.llama,
            metadata: String::new(),
            since: 0,
            stop: "</s>",
            prompt_template: "[INST] {system_message}\n{prompt} [/INST]",
            ctx_len: 4096,
            ngl: 33,
        });

        // (5) the hub catalogue sync writes `downloadable` rows; it needs
        // the status column, so there is no such row before v1, and it
        // always uses the new engine name.
        let qwen_meta = cortexso_metadata("qwen2.5", 4_683_073_184);
        models.push(Model {
            id: CATALOGUE.into(),
            short: "qwen2.5".into(),
            author: "cortexso".into(),
            branch: "7b".into(),
            db_path: String::new(),
            yml: None,
            files_entry: String::new(),
            weights: None,
            format: "cortexso",
            source: "https://huggingface.co/cortexso/qwen2.5".into(),
            status: "downloadable",
            engine: "llama-cpp",
            metadata: qwen_meta,
            since: 1,
            stop: "<|im_end|>",
            prompt_template: "",
            ctx_len: 32768,
            ngl: 29,
        });

        for n in 1..=extra {
            let id = generated_id(n);
            models.push(cortexso(
                &id,
                &format!("gen-model-{n}"),
                "main",
                names.llama,
                "</s>",
                "{system_message}\n{prompt}\n",
                2048,
                33,
            ));
        }
        Content { names, models }
    }

    /// Every row of the fixture, across all versions.
    pub fn rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = self.models.iter().map(Model::row).collect();

        // hardware_service writes GPUs only; ids are the driver's indexes.
        for (i, uuid) in [
            "GPU-8f2e4c1a-93b7-4d6e-b0a5-7c1d2e3f4a5b",
            "GPU-1c9d7e3b-52a4-4f8e-9b6c-0d1e2f3a4b5c",
        ]
        .into_iter()
        .enumerate()
        {
            let i = i as i64;
            rows.push(Row {
                table: "hardware",
                since: 0,
                cells: vec![
                    cell("uuid", 0, uuid),
                    cell("type", 0, "gpu"),
                    cell("hardware_id", 0, i),
                    cell("software_id", 0, i),
                    cell("activated", 0, 1 - i),
                    cell("priority", 2, i),
                ],
            });
        }

        // date_* are written explicitly (real rows get CURRENT_TIMESTAMP)
        // so that two fixtures built a second apart have equal rows.
        let engine = |name: &'static str,
                      ty: &'static str,
                      api_key: &'static str,
                      url: &'static str,
                      version: &'static str,
                      variant: &'static str,
                      metadata: String,
                      date: &'static str| Row {
            table: "engines",
            since: 1,
            cells: vec![
                cell("engine_name", 1, name),
                cell("type", 1, ty),
                cell("api_key", 1, api_key),
                cell("url", 1, url),
                cell("version", 1, version),
                cell("variant", 1, variant),
                cell("status", 1, "Default"),
                cell("metadata", 1, metadata),
                cell("date_created", 1, date),
                cell("date_updated", 1, date),
            ],
        };
        rows.push(engine(
            self.names.llama,
            "local",
            "",
            "",
            LLAMACPP_VERSION,
            LLAMACPP_VARIANT,
            String::new(),
            "2024-11-05 08:12:44",
        ));
        rows.push(engine(
            self.names.onnx,
            "local",
            "",
            "",
            ONNX_VERSION,
            ONNX_VARIANT,
            String::new(),
            "2024-11-05 08:13:02",
        ));
        rows.push(engine(
            "openai",
            "remote",
            "sk-test",
            "https://api.openai.com",
            "",
            "all-platforms",
            serde_json::json!({
                "get_models_url": "https://api.openai.com/v1/models",
                "header_template": "Authorization: Bearer {{api_key}}",
                "transform_req": {
                    "chat_completions": {
                        "url": "https://api.openai.com/v1/chat/completions",
                        "template": "{ {% set first = true %} {% for key, value in input_request %} {% if not first %},{% endif %} \"{{ key }}\": {{ tojson(value) }} {% set first = false %} {% endfor %} }"
                    }
                },
                "transform_resp": {
                    "chat_completions": { "template": "{{tojson(input_request)}}" }
                }
            })
            .to_string(),
            "2024-12-02 16:40:09",
        ));

        for (id, (name, created_at)) in FILE_IDS.iter().zip(UPLOADS) {
            // file.cc binds created_at and bytes with std::to_string; the
            // INTEGER affinity turns them back into integers, as here.
            rows.push(Row {
                table: "files",
                since: 3,
                cells: vec![
                    cell("id", 3, *id),
                    cell("object", 3, "file"),
                    cell("purpose", 3, "assistants"),
                    cell("filename", 3, name),
                    cell("created_at", 3, created_at.to_string()),
                    cell("bytes", 3, upload_bytes(name).len().to_string()),
                ],
            });
        }
        rows
    }

    /// Writes the data folder's files (not cortex.db) as an install at
    /// schema `version` has them, plus `.cortexrc` and the outside folder.
    pub fn write_disk(&self, home: &Path, data: &Path, outside: &Path, version: u8) {
        for dir in ["models", "engines", "logs"] {
            mkdir(&data.join(dir));
        }
        mkdir(outside);
        for m in &self.models {
            let (Some(yml), Some(w)) = (&m.yml, &m.weights) else {
                continue;
            };
            let content = weights(&m.id);
            write(w, &content);
            write(yml, m.yml_text(content.len()).as_bytes());
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
            );
            write(
                &dir.join("libengine.so"),
                &weights(&format!("{repo}/{variant}/{version}/libengine.so")),
            );
        }
        write(
            &data.join("engines/cortex.llamacpp/deps/libcudart.so.12"),
            &weights("deps/libcudart.so.12"),
        );

        write(
            &data.join("logs/cortex.log"),
            b"20241105 08:12:40.123456 UTC 48211 INFO  Host: 127.0.0.1 Port: 39281 - main.cc:218\n\
              20241105 08:12:40.127001 UTC 48211 INFO  Server started, listening at: 127.0.0.1:39281 - main.cc:242\n\
              20241105 08:12:44.002310 UTC 48230 INFO  Loaded engine: cortex.llamacpp - engine_service.cc:752\n",
        );
        write(
            &data.join("logs/cortex-cli.log"),
            b"20241105 08:12:39.871002 UTC 48207 INFO  Starting server ... - server_start_cmd.cc:99\n\
              20241105 08:12:41.301220 UTC 48207 INFO  Server started - server_start_cmd.cc:160\n",
        );

        if version >= 3 {
            for (name, _) in UPLOADS {
                write(&data.join("files").join(name), &upload_bytes(name));
            }
        }
        write(&home.join(".cortexrc"), &cortexrc(data, version));
    }
}

/// Uploaded files (v3): name and upload time.
const UPLOADS: [(&str, i64); 2] = [
    ("notes.txt", 1736467200),
    ("quarterly-report.pdf", 1736553600),
];

/// The content of an uploaded file.
pub fn upload_bytes(name: &str) -> Vec<u8> {
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
/// v0/v1 era have the short key set; the v2+ era writer adds proxy, SSL and
/// hub keys and prepends a UTF-8 BOM ("Workaround to save file as utf8 BOM").
pub fn cortexrc(data: &Path, version: u8) -> Vec<u8> {
    let data = data.display();
    let origins = "allowedOrigins:\n  - http://localhost:39281\n  - http://127.0.0.1:39281\n  - http://0.0.0.0:39281\n";
    if version < 2 {
        format!(
            "logFolderPath: {data}
logLlamaCppPath: ./logs/cortex.log
logTensorrtLLMPath: ./logs/cortex.log
logOnnxPath: ./logs/cortex.log
dataFolderPath: {data}
maxLogLines: 100000
apiServerHost: 127.0.0.1
apiServerPort: 39281
checkedForUpdateAt: 1730794360
latestRelease: v1.0.1
huggingFaceToken: \"\"
gitHubUserAgent: \"\"
gitHubToken: \"\"
llamacppVariant: {LLAMACPP_VARIANT}
llamacppVersion: {LLAMACPP_VERSION}
enableCors: true
{origins}"
        )
        .into_bytes()
    } else {
        let mut out = vec![0xEF, 0xBB, 0xBF];
        out.extend(
            format!(
                "logFolderPath: {data}
logLlamaCppPath: ./logs/cortex.log
logTensorrtLLMPath: ./logs/cortex.log
logOnnxPath: ./logs/cortex.log
dataFolderPath: {data}
maxLogLines: 100000
apiServerHost: 127.0.0.1
apiServerPort: 39281
checkedForUpdateAt: 1736467201
checkedForLlamacppUpdateAt: 1736467201
latestRelease: v1.0.7
latestLlamacppRelease: {LLAMACPP_VERSION}
huggingFaceToken: \"\"
gitHubUserAgent: \"\"
gitHubToken: \"\"
llamacppVariant: {LLAMACPP_VARIANT}
llamacppVersion: {LLAMACPP_VERSION}
enableCors: true
{origins}proxyUrl: \"\"
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
"
            )
            .bytes(),
        );
        out
    }
}

pub fn mkdir(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
}

pub fn write(path: &Path, content: &[u8]) {
    if let Some(parent) = path.parent() {
        mkdir(parent);
    }
    std::fs::write(path, content).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
