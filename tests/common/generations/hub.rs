//! What the builds downloaded or were given, as this fixture assumes it:
//! a cortexso branch's files (its `model.yml` in the hub's commented
//! layout), the GGUF metadata `GGUFHandler::ModelConfigFromMetadata`
//! (`engine/config/gguf_parser.cc`) turns into a config, and small weights
//! files that start like a GGUF file.
//!
//! The metadata values are plausible, not copied from real files: the
//! weights written are a GGUF v3 header with the few keys cortex.cpp reads
//! for a name, context length and layer count, then filler.

use std::path::Path;

use super::yaml::{ModelConfig, scalar};

/// A cortexso branch as the hub's tree API listed it (`GET
/// /api/models/cortexso/<name>/tree/<branch>`): the fixture's assumption,
/// since cortex.cpp downloads whatever the listing holds.
pub(super) const BRANCH_FILES: [&str; 5] = [
    ".gitattributes",
    "README.md",
    "metadata.yml",
    "model.gguf",
    "model.yml",
];

/// What `getDownloadTask` skips from 05d67be4 on (`engine/utils/cortexso_parser.h`).
pub(super) const SKIPPED_FROM_05D67BE4: [&str; 3] = [".gitattributes", ".gitignore", "README.md"];

/// The prompt templates `ModelConfigFromMetadata` maps known chat templates
/// to (`engine/config/gguf_parser.cc` at 6dcecef5 and 77414c64^1), and the
/// default it uses when a file has none.
const ZEPHYR: &str = "<|system|>\n{system_message}</s>\n<|user|>\n{prompt}</s>\n<|assistant|>\n";
const LLAMA_3: &str = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n\
                       {system_message}<|eot_id|><|start_header_id|>user<|end_header_id|>\
                       \n\n{prompt}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";
const NO_TEMPLATE: &str = "[INST] <<SYS>>\n{system_message}\n<</SYS>>\n{prompt}[/INST]";

/// A model family: what its GGUF metadata says and what its cortexso
/// `model.yml` says.
#[derive(Debug, Clone)]
pub(super) struct Family {
    /// `general.name` in the GGUF file (the cortexso name for hub files).
    pub general_name: String,
    pub architecture: &'static str,
    /// `<arch>.context_length`.
    pub context_length: u32,
    /// `<arch>.block_count`; cortex.cpp's `ngl` is one more.
    pub block_count: u32,
    /// The token `tokenizer.ggml.eos_token_id` points at.
    pub eos: &'static str,
    pub prompt_template: &'static str,
    /// `ctx_len` in the hub's `model.yml` (smaller than the file's).
    pub hub_ctx_len: u32,
}

impl Family {
    /// The family a Hugging Face file name belongs to, by name; any other
    /// file is a llama without a chat template named after its file.
    pub(super) fn of_file(file: &str) -> Family {
        let lower = file.to_lowercase();
        let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
        if lower.contains("tinyllama") {
            Family::tinyllama("tinyllama_tinyllama-1.1b-chat-v1.0")
        } else if lower.contains("llama-3.1") {
            Family::llama31("Meta Llama 3.1 8B Instruct")
        } else {
            Family {
                general_name: stem.to_owned(),
                architecture: "llama",
                context_length: 4096,
                block_count: 32,
                eos: "</s>",
                prompt_template: NO_TEMPLATE,
                hub_ctx_len: 4096,
            }
        }
    }

    /// The family of a cortexso model, by its name on the hub.
    pub(super) fn of_cortexso(name: &str) -> Family {
        match name {
            "tinyllama" => Family::tinyllama(name),
            n if n.starts_with("llama3") => Family::llama31(name),
            _ => Family {
                general_name: name.to_owned(),
                architecture: "llama",
                context_length: 32768,
                block_count: 32,
                eos: "</s>",
                prompt_template: "[INST] {prompt} [/INST]",
                hub_ctx_len: 4096,
            },
        }
    }

    fn tinyllama(general_name: &str) -> Family {
        Family {
            general_name: general_name.to_owned(),
            architecture: "llama",
            context_length: 2048,
            block_count: 22,
            eos: "</s>",
            prompt_template: ZEPHYR,
            hub_ctx_len: 2048,
        }
    }

    fn llama31(general_name: &str) -> Family {
        Family {
            general_name: general_name.to_owned(),
            architecture: "llama",
            context_length: 131072,
            block_count: 32,
            eos: "<|eot_id|>",
            prompt_template: LLAMA_3,
            hub_ctx_len: 8192,
        }
    }

    /// What `GGUFHandler::ModelConfigFromMetadata` makes of the file: the
    /// same fields at 6dcecef5 and 77414c64^1 (`general.name` with spaces
    /// made dashes as name, model and id; `general.quantization_version`,
    /// 2, as version; `ngl` one more than the block count).
    pub(super) fn gguf_config(&self) -> ModelConfig {
        let name = self.general_name.replace(' ', "-");
        let ctx = i32::try_from(self.context_length).expect("context length fits an int");
        ModelConfig {
            model: name.clone(),
            id: name.clone(),
            name,
            version: "2".to_owned(),
            engine: "cortex.llamacpp".to_owned(),
            prompt_template: self.prompt_template.to_owned(),
            top_p: Some(0.95),
            temperature: Some(0.7),
            frequency_penalty: Some(0.0),
            presence_penalty: Some(0.0),
            max_tokens: ctx,
            ngl: self.ngl(),
            ctx_len: ctx,
            stream: true,
            stop: vec![self.eos.to_owned()],
            files: vec![],
        }
    }

    /// What `YamlHandler::ModelConfigFromYaml` reads from the hub's
    /// `model.yml` (`hub_model_yml`), before the build sets `id` and
    /// `ReadYamlFile` adds `files`.
    pub(super) fn hub_config(&self) -> ModelConfig {
        let ctx = i32::try_from(self.hub_ctx_len).expect("context length fits an int");
        ModelConfig {
            name: self.general_name.clone(),
            model: self.general_name.clone(),
            version: "1".to_owned(),
            engine: "cortex.llamacpp".to_owned(),
            prompt_template: self.prompt_template.to_owned(),
            id: self.general_name.clone(),
            top_p: Some(0.95),
            temperature: Some(0.7),
            frequency_penalty: Some(0.0),
            presence_penalty: Some(0.0),
            max_tokens: ctx,
            ngl: self.ngl(),
            ctx_len: ctx,
            stream: true,
            stop: vec![self.eos.to_owned()],
            files: vec![],
        }
    }

    fn ngl(&self) -> i32 {
        i32::try_from(self.block_count + 1).expect("layer count fits an int")
    }

    /// The hub's `model.yml` for a cortexso branch: no `files` key, so a
    /// build's `ReadYamlFile` supplies `<folder>/model.gguf`.
    pub(super) fn hub_model_yml(&self) -> String {
        let n = &self.general_name;
        format!(
            "# BEGIN GENERAL GGUF METADATA\n\
             id: {n} # Model ID unique between models (author / quantization)\n\
             model: {n} # Model ID which is used for request construct - should be unique between models (author / quantization)\n\
             name: {n} # metadata.general.name\n\
             version: 1 # metadata.version\n\
             # END GENERAL GGUF METADATA\n\
             \n\
             # BEGIN INFERENCE PARAMETERS\n\
             # BEGIN REQUIRED\n\
             stop: # tokenizer.ggml.eos_token_id\n\
             \x20 - {eos}\n\
             # END REQUIRED\n\
             \n\
             # BEGIN OPTIONAL\n\
             stream: true # Default true?\n\
             top_p: 0.95 # Ranges: 0 to 1\n\
             temperature: 0.7 # Ranges: 0 to 1\n\
             frequency_penalty: 0 # Ranges: 0 to 1\n\
             presence_penalty: 0 # Ranges: 0 to 1\n\
             max_tokens: {ctx} # Should be default to context length\n\
             # END OPTIONAL\n\
             # END INFERENCE PARAMETERS\n\
             \n\
             # BEGIN MODEL LOAD PARAMETERS\n\
             # BEGIN REQUIRED\n\
             prompt_template: {template}\n\
             # END REQUIRED\n\
             \n\
             # BEGIN OPTIONAL\n\
             ctx_len: {ctx} # llama.context_length | 0 or undefined = loaded from model\n\
             ngl: {ngl} # Undefined = loaded from model\n\
             engine: cortex.llamacpp\n\
             # END OPTIONAL\n\
             # END MODEL LOAD PARAMETERS\n",
            eos = scalar(self.eos),
            ctx = self.hub_ctx_len,
            template = scalar(self.prompt_template),
            ngl = self.ngl(),
        )
    }

    /// A small weights file: a GGUF v3 header (no tensors) with
    /// `general.architecture`, `general.name`, `<arch>.context_length`,
    /// `<arch>.block_count` and `general.quantization_version`, then a few
    /// KiB of filler drawn from `label`, so each model's bytes differ and
    /// the same model always gets the same bytes.
    pub(super) fn weights(&self, label: &str) -> Vec<u8> {
        let arch = self.architecture;
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend(0u64.to_le_bytes());
        out.extend(5u64.to_le_bytes());
        gguf_string_kv(&mut out, "general.architecture", arch);
        gguf_string_kv(&mut out, "general.name", &self.general_name);
        gguf_u32_kv(
            &mut out,
            &format!("{arch}.context_length"),
            self.context_length,
        );
        gguf_u32_kv(&mut out, &format!("{arch}.block_count"), self.block_count);
        gguf_u32_kv(&mut out, "general.quantization_version", 2);
        let mut state = fnv1a(label.as_bytes()) | 1;
        let len = 3072 + usize::try_from(state % 2048).expect("small");
        while out.len() < len {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            out.push(state.to_le_bytes()[0]);
        }
        out
    }
}

const GGUF_UINT32: u32 = 4;
const GGUF_STRING: u32 = 8;

fn gguf_str(out: &mut Vec<u8>, s: &str) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s.as_bytes());
}

fn gguf_string_kv(out: &mut Vec<u8>, key: &str, value: &str) {
    gguf_str(out, key);
    out.extend(GGUF_STRING.to_le_bytes());
    gguf_str(out, value);
}

fn gguf_u32_kv(out: &mut Vec<u8>, key: &str, value: u32) {
    gguf_str(out, key);
    out.extend(GGUF_UINT32.to_le_bytes());
    out.extend(value.to_le_bytes());
}

/// FNV-1a, 64 bits: a stable seed from a label.
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The other files of a cortexso branch: small, as the hub served them.
pub(super) fn branch_file(family: &Family, file: &str) -> Vec<u8> {
    let name = &family.general_name;
    match file {
        ".gitattributes" => b"*.gguf filter=lfs diff=lfs merge=lfs -text\n".to_vec(),
        "README.md" => format!(
            "---\nlicense: other\n---\n\n## Overview\n\n{name}, quantized to GGUF for \
             Cortex.\n\n## Run\n\n```bash\ncortex run {name}\n```\n"
        )
        .into_bytes(),
        "metadata.yml" => format!("version: 1\nname: {name}\ndefault: gguf\n").into_bytes(),
        "model.yml" => family.hub_model_yml().into_bytes(),
        other => panic!("no fixture content for the hub file {other}"),
    }
}

/// Writes `bytes` to `path`, creating its folder.
pub(super) fn write(path: &Path, bytes: &[u8]) {
    let dir = path.parent().expect("a file path has a folder");
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}
