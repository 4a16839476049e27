//! The rules of the builds before cortex.db (September 2024 nightlies and
//! betas): how they found their models, for checking a data folder after
//! `down` (or before `up`) as those builds would read it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The ids of the models the builds before cortex.db find in `data`,
/// panicking on anything they would not find:
/// - every `models/*.yaml` is a model whose id is the file stem; it must
///   parse and its `files:` must exist (`ModelService::GetDownloadedModel`,
///   `engine/services/model_service.cc`, and `YamlHandler::ReadYamlFile`,
///   `engine/config/yaml_config.cc`, at 77414c64~1);
/// - every line of `models/model.list` has six fields, the fourth an
///   existing yml (`ModelListUtils::LoadModelList`,
///   `engine/utils/modellist_utils.cc` at 08b8841e~1).
pub fn models_before_db(data: &Path) -> BTreeSet<String> {
    let models = data.join("models");
    let mut ids = BTreeSet::new();
    for e in std::fs::read_dir(&models).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "yaml") {
            let v: serde_yaml::Value =
                serde_yaml::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
            for f in v["files"].as_sequence().unwrap() {
                let f = PathBuf::from(f.as_str().unwrap());
                assert!(f.is_file(), "{}: {} is missing", p.display(), f.display());
            }
            ids.insert(p.file_stem().unwrap().to_string_lossy().into_owned());
        }
    }
    if let Ok(list) = std::fs::read_to_string(models.join("model.list")) {
        for line in list.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 6, "{line}");
            assert!(Path::new(fields[3]).is_file(), "{line}");
            ids.insert(fields[0].to_owned());
        }
    }
    ids
}
