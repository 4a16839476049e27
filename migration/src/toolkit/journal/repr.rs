//! How paths look in the journal (JSON): text when they are UTF-8, raw
//! bytes otherwise, so that a non-UTF-8 file name survives a crash.

/// Paths as JSON: a string when they are UTF-8, otherwise their raw bytes,
/// so that a non-UTF-8 file name survives the journal.
pub(super) mod path_repr {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::path::PathBuf;

    #[derive(Serialize, Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Bytes { bytes: Vec<u8> },
    }

    pub fn serialize<S: Serializer>(p: &std::path::Path, s: S) -> Result<S::Ok, S::Error> {
        match p.to_str() {
            Some(t) => Repr::Text(t.to_owned()).serialize(s),
            None => {
                #[cfg(unix)]
                {
                    use std::os::unix::ffi::OsStrExt;
                    Repr::Bytes {
                        bytes: p.as_os_str().as_bytes().to_vec(),
                    }
                    .serialize(s)
                }
                #[cfg(not(unix))]
                {
                    Repr::Text(p.to_string_lossy().into_owned()).serialize(s)
                }
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PathBuf, D::Error> {
        Ok(match Repr::deserialize(d)? {
            Repr::Text(t) => PathBuf::from(t),
            Repr::Bytes { bytes } => {
                #[cfg(unix)]
                {
                    use std::os::unix::ffi::OsStringExt;
                    PathBuf::from(std::ffi::OsString::from_vec(bytes))
                }
                #[cfg(not(unix))]
                {
                    PathBuf::from(String::from_utf8_lossy(&bytes).into_owned())
                }
            }
        })
    }
}
