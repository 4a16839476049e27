//! How a step came to be applied: the [`Origin`] this binary writes into
//! `cortex_migrate_steps.origin`, and what it reads back from there
//! ([`StoredOrigin`]), where a newer cortex-migrate may have written an
//! origin this one does not know.

use std::str::FromStr;

/// How a step came to be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    /// Run by cortex-migrate.
    Ran,
    /// Recorded as applied because cortex.cpp had already made that schema.
    Adopted,
}

impl Origin {
    /// Every origin this binary writes.
    pub const ALL: [Origin; 2] = [Origin::Ran, Origin::Adopted];

    /// The text stored for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Ran => "ran",
            Origin::Adopted => "adopted",
        }
    }
}

/// Stored text that is none of [`Origin::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{value}` is not an origin this cortex-migrate knows ({}); a newer cortex-migrate may have written it",
    Origin::ALL.map(Origin::as_str).join(", ")
)]
pub struct UnknownOrigin {
    pub value: String,
}

impl FromStr for Origin {
    type Err = UnknownOrigin;

    /// The origin whose stored text is exactly `text`.
    fn from_str(text: &str) -> Result<Origin, UnknownOrigin> {
        Origin::ALL
            .into_iter()
            .find(|o| o.as_str() == text)
            .ok_or_else(|| UnknownOrigin {
                value: text.to_owned(),
            })
    }
}

/// A step's origin as read back. Text this binary does not know is kept as
/// stored, not refused: a newer cortex-migrate may write origins this one
/// has never heard of, and `status`, and `down` with the undo that newer
/// binary stored, must still work on its data. It serializes as the stored
/// text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum StoredOrigin {
    /// One this binary writes.
    Known(Origin),
    /// Anything else, as stored.
    Unknown(String),
}

impl StoredOrigin {
    /// Reads the stored text; an origin this binary does not know is kept.
    pub fn parse(text: &str) -> StoredOrigin {
        text.parse().map_or_else(
            |e: UnknownOrigin| StoredOrigin::Unknown(e.value),
            StoredOrigin::Known,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stored_text_of_each_origin_parses_back_to_it() {
        assert_eq!("ran".parse(), Ok(Origin::Ran));
        assert_eq!("adopted".parse(), Ok(Origin::Adopted));
        for o in Origin::ALL {
            assert_eq!(o.as_str().parse(), Ok(o));
            assert_eq!(StoredOrigin::parse(o.as_str()), StoredOrigin::Known(o));
        }
    }

    #[test]
    fn an_unknown_origin_is_an_error_naming_it_and_is_kept_when_read() {
        for text in ["squashed", "Ran", " ran", ""] {
            let e = text.parse::<Origin>().unwrap_err();
            assert_eq!(e.value, text);
            assert!(
                e.to_string().starts_with(&format!("`{text}` is not")),
                "{e}"
            );
            assert!(e.to_string().contains("(ran, adopted)"), "{e}");
            assert_eq!(
                StoredOrigin::parse(text),
                StoredOrigin::Unknown(text.to_owned())
            );
        }
    }

    #[test]
    fn a_stored_origin_serializes_as_its_text() {
        let json = |o: StoredOrigin| serde_json::to_value(o).unwrap();
        assert_eq!(json(StoredOrigin::Known(Origin::Ran)), "ran");
        assert_eq!(json(StoredOrigin::Known(Origin::Adopted)), "adopted");
        assert_eq!(json(StoredOrigin::Unknown("squashed".into())), "squashed");
    }
}
