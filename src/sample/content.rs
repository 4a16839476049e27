//! The standard data set of a sample: the models, hardware, engines and
//! uploaded files a Cortex install holds, each row tagged with the schema
//! version whose columns it needs, computed once so that the database and
//! the files on disk agree.

use std::path::PathBuf;

use sea_orm::Value;

use super::files::{UPLOADS, upload_bytes, weights};
use super::{SampleHome, SampleSpec};

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
/// Imported with `--option copy`: the weights were copied beside the yml.
pub const IMPORTED_COPY: &str = "my-imported-copy";
/// The catalogue (`downloadable`) row: no files on disk, empty yml path.
pub const CATALOGUE: &str = "qwen2.5:7b";
/// The models of the standard set that have files on disk.
pub const DOWNLOADED: [&str; 5] = [TINYLLAMA, LLAMA32, PHI3, IMPORTED, IMPORTED_COPY];

/// Ids of the uploaded files (v3).
pub const FILE_IDS: [&str; 2] = [
    "file-01JH2X7Q9V3M8K5N4P2R6T1W0Y",
    "file-01JH2Y4D6F8G0H2J4K6M8N0P2Q",
];

/// The id of the `n`th generated model (1-based).
pub fn generated_id(n: usize) -> String {
    format!("gen-model-{n}:main")
}

/// Engine names as cortex.cpp wrote them into `models.engine` and model.yml
/// files.
#[derive(Debug, Clone, Copy)]
pub struct EngineNames {
    pub llama: &'static str,
    pub onnx: &'static str,
}

impl EngineNames {
    /// The names before cortex.cpp renamed its engines (`legacy`), or after.
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
pub(crate) struct Cell {
    pub(crate) col: &'static str,
    pub(crate) since: u8,
    pub(crate) val: Value,
}

/// One row of the sample, with the schema version from which cortex.cpp
/// could write it. The first cell is the key that later versions'
/// backfills update by.
pub struct Row {
    pub(crate) table: &'static str,
    pub(crate) since: u8,
    pub(crate) cells: Vec<Cell>,
}

fn cell(col: &'static str, since: u8, val: impl Into<Value>) -> Cell {
    Cell {
        col,
        since,
        val: val.into(),
    }
}

/// One model as the sample lays it down.
pub(crate) struct Model {
    pub(crate) id: String,
    /// `id:` in model.yml (cortexso writes the bare model name).
    pub(crate) short: String,
    pub(crate) author: String,
    pub(crate) branch: String,
    /// The `path_to_model_yaml` value.
    pub(crate) db_path: String,
    /// Where model.yml is, if the model was downloaded.
    pub(crate) yml: Option<PathBuf>,
    /// The `files:` entry in model.yml.
    pub(crate) files_entry: String,
    /// Where the weights are.
    pub(crate) weights: Option<PathBuf>,
    pub(crate) format: &'static str,
    pub(crate) source: String,
    pub(crate) status: &'static str,
    pub(crate) engine: &'static str,
    pub(crate) metadata: String,
    /// First schema version at which such a row exists.
    pub(crate) since: u8,
    pub(crate) stop: &'static str,
    pub(crate) prompt_template: &'static str,
    pub(crate) ctx_len: u32,
    pub(crate) ngl: u32,
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

    /// The model as pulled before cortex.cpp switched to relative paths
    /// (#1368): the row and model.yml both hold absolute paths.
    fn with_absolute_paths(mut self) -> Self {
        if let Some(yml) = &self.yml {
            self.db_path = yml.display().to_string();
        }
        if let Some(weights) = &self.weights {
            self.files_entry = weights.display().to_string();
        }
        self
    }
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

/// Everything a sample writes, computed up front so that the database and
/// the files agree. Paths in it are under the `SampleHome` it was made for.
pub struct Content {
    pub(crate) models: Vec<Model>,
}

impl Content {
    /// The standard set (plus `spec.models` generated models) laid out
    /// under `home`, with the engine names `spec` asks for.
    pub fn new(home: &SampleHome, spec: &SampleSpec) -> Self {
        let (data, outside) = (&home.data, &home.outside);
        let names = EngineNames::new(spec.legacy_engine_names);
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

        // (1) pulled before the switch to relative paths.
        models.push(
            cortexso(
                TINYLLAMA,
                "tinyllama",
                "1b",
                names.llama,
                "</s>",
                "<|system|>\n{system_message}</s>\n<|user|>\n{prompt}</s>\n<|assistant|>\n",
                2048,
                33,
            )
            .with_absolute_paths(),
        );

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

        // (4) `cortex models import` (`ImportModel`,
        // engine/controllers/models.cc, v1.0.2 to v1.0.9): the yml goes to
        // models/imported/<id>.yml and files: holds an absolute path.
        let imported = |id: &str, weights: PathBuf, branch: &str| {
            let db_path = format!("models/imported/{id}.yml");
            Model {
                id: id.into(),
                short: id.into(),
                author: String::new(),
                branch: branch.into(),
                yml: Some(data.join(&db_path)),
                db_path,
                files_entry: weights.display().to_string(),
                weights: Some(weights),
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
            }
        };
        // The default "symlink" option (which makes no symlink): files:
        // names the user's own file, outside the data folder; branch_name
        // "imported".
        models.push(imported(
            IMPORTED,
            outside.join("my-imported.gguf"),
            "imported",
        ));
        // `--option copy`: the gguf is copied to models/imported/<file
        // name>, and files: names that copy, inside the data folder;
        // branch_name "".
        models.push(imported(
            IMPORTED_COPY,
            data.join(format!("models/imported/{IMPORTED_COPY}.gguf")),
            "",
        ));

        // (5) the hub catalogue sync writes `downloadable` rows, always with
        // the new engine name. It came with model sources (cortex.cpp
        // f473b0b2, #1777, first tag v1.0.5), after the schema-3 migration:
        // the schema-1 and -2 builds' `Models::StringToStatus` throws on
        // that status (engine/database/models.cc at 0fa83b2e), so there is
        // no such row before v3.
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
            since: 3,
            stop: "<|im_end|>",
            prompt_template: "",
            ctx_len: 32768,
            ngl: 29,
        });

        for n in 1..=spec.models {
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
        Content { models }
    }

    /// Every row of the sample, across all versions.
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
        // so that two samples written a second apart have equal rows.
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
        // Local rows carry the repository name whatever the models say:
        // cortex.cpp's DownloadEngine(ne, ...) writes UpsertEngine(engine,
        // kLocal, ...) with the normalized name (engine_service.cc, v1.0.9).
        rows.push(engine(
            "cortex.llamacpp",
            "local",
            "",
            "",
            LLAMACPP_VERSION,
            LLAMACPP_VARIANT,
            String::new(),
            "2024-11-05 08:12:44",
        ));
        rows.push(engine(
            "cortex.onnx",
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
}
