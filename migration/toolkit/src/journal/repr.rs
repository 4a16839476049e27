//! How paths look in the journal (JSON): text when they are valid Unicode,
//! otherwise as the OS spells them (bytes on unix, UTF-16 units on
//! Windows), so that such a file name survives a crash.

/// Paths as JSON: a string when they are valid Unicode, otherwise their raw
/// bytes (unix) or UTF-16 units (Windows), so that such a file name
/// survives the journal.
pub(super) mod path_repr {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::path::PathBuf;

    use crate::platform::{self, RawName};

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Bytes { bytes: Vec<u8> },
        Wide { wide: Vec<u16> },
    }

    pub fn serialize<S: Serializer>(p: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
        match p.to_str() {
            Some(t) => Repr::Text(t.to_owned()).serialize(s),
            None => match platform::raw_name(p.as_os_str()) {
                RawName::Bytes(bytes) => Repr::Bytes { bytes }.serialize(s),
                RawName::Wide(wide) => Repr::Wide { wide }.serialize(s),
            },
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        Ok(match Repr::deserialize(d)? {
            Repr::Text(t) => PathBuf::from(t),
            Repr::Bytes { bytes } => platform::from_raw_name(RawName::Bytes(bytes)).into(),
            Repr::Wide { wide } => platform::from_raw_name(RawName::Wide(wide)).into(),
        })
    }
}
