//! The long parts of a backup's manifest while its run goes, kept out of
//! memory. The kept files, moves and creations of a run over thousands of
//! models are appended, as they are observed (16 KiB at a time), to
//! unnamed scratch files in the backup's folder, each entry already
//! written as it stands in the manifest (pretty JSON, indented as an item
//! of a list of the top-level object), so that writing the manifest again
//! after each step copies their bytes instead of reading and writing every
//! entry anew. The rows the run left are held as 64-bit numbers and
//! written as the hex strings the manifest has always had. The manifest on disk is the same document,
//! byte for byte, that a manifest held whole in memory would be.
//!
//! The scratch files need no sync: the manifest written from them is
//! synced, and it is all that a restore or a later run reads. Unnamed (see
//! [`tempfile::tempfile_in`]), they go with their handle, even when the
//! process is killed; where the system cannot make a file without a name,
//! tempfile names it for an instant, and what a kill in that instant
//! leaves is a hidden file that nothing lists or restores and
//! [`super::clear_leftovers`] removes.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::marker::PhantomData;
use std::path::Path;

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};

use super::{MigrateError, Result};

/// How far serde_json's pretty printer indents a list that is a field of
/// the top-level object, and each item of it.
pub(super) const FIELD_INDENT: &[u8] = b"  ";
const ITEM_INDENT: &[u8] = b"    ";

/// A list of the manifest, entries of type `T`, kept in a scratch file.
#[derive(Debug)]
pub(super) struct Spill<T> {
    /// Made with the first entry: most runs keep few files or none.
    file: Option<File>,
    /// Entries pushed, each whole: in the file, then in `pending`.
    count: u64,
    /// Bytes of the entries in the file: where the next ones go, and what
    /// a write that failed half way is cut back to.
    bytes: u64,
    /// Entries pushed since the last write to the file, as they will stand
    /// in it: written once they fill [`PENDING`] (a write per entry was
    /// two system calls per kept file).
    pending: Vec<u8>,
    /// After [`Spill::close`]: the entries are gone with the file.
    closed: bool,
    entries: PhantomData<T>,
}

/// The bytes of entries a [`Spill`] holds before it writes them.
const PENDING: usize = 16 << 10;

impl<T: Serialize> Spill<T> {
    pub(super) fn new() -> Spill<T> {
        Spill {
            file: None,
            count: 0,
            bytes: 0,
            pending: Vec::new(),
            closed: false,
            entries: PhantomData,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Entries pushed so far.
    pub(super) fn len(&self) -> u64 {
        self.count
    }

    /// Appends `entry`; the scratch file is made in `folder` (the
    /// backup's) with the first one.
    pub(super) fn push(&mut self, entry: &T, folder: &Path) -> Result<()> {
        if self.closed {
            return Err(MigrateError::Refused(format!(
                "the run of the backup in {} has finished; it records nothing more",
                folder.display()
            )));
        }
        // The entry as the list's body holds it: after the one before it
        // and its comma, on lines of its own, indented as an item.
        let mark = self.pending.len();
        if self.count > 0 {
            self.pending.extend_from_slice(b",\n");
        }
        self.pending.extend_from_slice(ITEM_INDENT);
        if let Err(e) =
            serde_json::to_writer_pretty(Indented::new(&mut self.pending, ITEM_INDENT), entry)
        {
            self.pending.truncate(mark);
            return Err(MigrateError::Encode {
                what: "an entry of the backup manifest",
                detail: e.to_string(),
            });
        }
        self.count += 1;
        if self.pending.len() >= PENDING {
            self.write_pending(folder)?;
        }
        Ok(())
    }

    /// Writes the pending entries to the scratch file, made in `folder`
    /// (the backup's) the first time.
    fn write_pending(&mut self, folder: &Path) -> Result<()> {
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(
                tempfile::tempfile_in(folder)
                    .map_err(|e| MigrateError::io("create a scratch file in", folder, e))?,
            ),
        };
        // Written at `bytes`, not wherever the last copy of the list left
        // the file's position.
        let written = file
            .seek(SeekFrom::Start(self.bytes))
            .and_then(|_| file.write_all(&self.pending));
        if let Err(e) = written {
            // A torn entry would make the list unreadable JSON.
            let _ = file.set_len(self.bytes);
            return Err(MigrateError::io("write a scratch file in", folder, e));
        }
        self.bytes += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    /// Removes the scratch file (the run ended). Its entries cannot be
    /// written out any more: a later write of the manifest fails rather
    /// than list none.
    pub(super) fn close(&mut self) {
        self.file = None;
        self.closed = true;
        self.pending = Vec::new();
    }

    /// Writes the list, as pretty JSON at the place of a field of the
    /// top-level object, to `w`: the scratch file's bytes, copied.
    pub(super) fn write_list(&self, w: &mut dyn Write) -> std::io::Result<()> {
        if self.count == 0 {
            return w.write_all(b"[]");
        }
        if self.closed {
            return Err(std::io::Error::other(
                "the run's list was removed when it finished",
            ));
        }
        w.write_all(b"[\n")?;
        if let Some(f) = &self.file {
            // Read through a shared handle: the position it moves is the
            // file's, which `push` does not rely on.
            let mut file: &File = f;
            file.seek(SeekFrom::Start(0))?;
            let copied = std::io::copy(&mut file.take(self.bytes), w)?;
            if copied != self.bytes {
                return Err(std::io::Error::other("the run's list ended early"));
            }
        }
        w.write_all(&self.pending)?;
        w.write_all(b"\n")?;
        w.write_all(FIELD_INDENT)?;
        w.write_all(b"]")
    }
}

/// A writer that indents every line but the first by `pad`: pretty JSON
/// written at the top level comes out as it stands nested that much deeper
/// (a JSON string holds no raw line break, so every `\n` is the
/// printer's own).
pub(super) struct Indented<W> {
    inner: W,
    pad: &'static [u8],
}

impl<W: Write> Indented<W> {
    pub(super) fn new(inner: W, pad: &'static [u8]) -> Indented<W> {
        Indented { inner, pad }
    }
}

impl<W: Write> Write for Indented<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut lines = buf.split(|&b| b == b'\n');
        if let Some(first) = lines.next() {
            self.inner.write_all(first)?;
        }
        for line in lines {
            self.inner.write_all(b"\n")?;
            self.inner.write_all(self.pad)?;
            self.inner.write_all(line)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The short hash of each row the run left, by table (see
/// [`super::Manifest::rows_after`]): 64 bits each, 8 bytes where a
/// `String` of its 16 hex digits takes some 50 (24 in place, 16 on the
/// heap and the allocator's own), sorted as those strings sort.
pub(super) type RowHashes = BTreeMap<String, Vec<u64>>;

/// A row hash as written in a manifest, read back: `None` for a string
/// that [`Hex`] never writes, so that comparing numbers is comparing the
/// strings.
pub(super) fn parse_row_hash(s: &str) -> Option<u64> {
    let hex = s.len() == 16 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    hex.then(|| u64::from_str_radix(s, 16).ok()).flatten()
}

/// [`RowHashes`] serialized as the manifest's `rows_after`: a map from
/// table to the list of its rows' hashes in hex.
pub(super) struct HexRows<'a>(pub(super) &'a RowHashes);

impl Serialize for HexRows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (table, rows) in self.0 {
            map.serialize_entry(table, &HexList(rows))?;
        }
        map.end()
    }
}

struct HexList<'a>(&'a [u64]);

impl Serialize for HexList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for h in self.0 {
            seq.serialize_element(&Hex(*h))?;
        }
        seq.end()
    }
}

/// How a row hash is written: 16 lowercase hex digits.
struct Hex(u64);

impl std::fmt::Display for Hex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for Hex {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        // No String per hash: the digits go straight to the writer.
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The list as the field `list` of a top-level object, pretty.
    fn as_field<T: Serialize>(spill: &Spill<T>) -> std::io::Result<String> {
        let mut out = b"{\n  \"list\": ".to_vec();
        spill.write_list(&mut out)?;
        out.extend_from_slice(b"\n}");
        Ok(String::from_utf8(out).unwrap())
    }

    fn field<T: Serialize>(list: &[T]) -> String {
        #[derive(Serialize)]
        struct Field<'a, T> {
            list: &'a [T],
        }
        serde_json::to_string_pretty(&Field { list }).unwrap()
    }

    #[test]
    fn a_spilled_list_writes_as_the_list_itself() {
        let dir = tempfile::tempdir().unwrap();
        let mut spill = Spill::<Vec<String>>::new();
        // Enough for several writes to the scratch file, with entries
        // held between them.
        let items: Vec<Vec<String>> = (0..2_000)
            .map(|i| vec![format!("models/m{i}/model.yml"), "ünï \"q\"\n\u{0}".into()])
            .collect();
        assert_eq!(as_field(&spill).unwrap(), field::<Vec<String>>(&[]));
        let mut part_written = false;
        for (n, item) in items.iter().enumerate() {
            spill.push(item, dir.path()).unwrap();
            part_written |= spill.bytes > 0 && !spill.pending.is_empty();
            if n % 100 == 0 {
                // Read back in the middle: the next push still appends.
                assert_eq!(as_field(&spill).unwrap(), field(&items[..=n]));
            }
        }
        assert!(part_written, "the list never went to the scratch file");
        assert_eq!(spill.len(), 2_000);
        assert_eq!(as_field(&spill).unwrap(), field(&items));
        // Objects, with an empty list and an empty object inside, and plain
        // strings.
        let mut maps = Spill::<BTreeMap<String, Vec<u8>>>::new();
        let map: BTreeMap<String, Vec<u8>> =
            [("a".to_owned(), vec![1, 2]), ("b".to_owned(), vec![])].into();
        maps.push(&map, dir.path()).unwrap();
        maps.push(&BTreeMap::new(), dir.path()).unwrap();
        assert_eq!(as_field(&maps).unwrap(), field(&[map, BTreeMap::new()]));
        let mut names = Spill::<String>::new();
        names.push(&"x".to_owned(), dir.path()).unwrap();
        names.push(&"y\n".to_owned(), dir.path()).unwrap();
        assert_eq!(as_field(&names).unwrap(), field(&["x", "y\n"]));
        // Nothing named in the folder (an unnamed file where the system
        // has them).
        #[cfg(target_os = "linux")]
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        spill.close();
        assert!(as_field(&spill).is_err());
        assert!(spill.push(&items[0], dir.path()).is_err());
    }

    #[test]
    fn row_hashes_write_as_the_hex_strings_they_were() {
        let mut rows = RowHashes::new();
        rows.insert("a".into(), vec![0, 0xab, u64::MAX, 0x0123_4567_89ab_cdef]);
        rows.insert("b".into(), Vec::new());
        let strings: BTreeMap<String, Vec<String>> = rows
            .iter()
            .map(|(t, v)| (t.clone(), v.iter().map(|h| Hex(*h).to_string()).collect()))
            .collect();
        assert_eq!(strings["a"][1], "00000000000000ab");
        assert_eq!(
            serde_json::to_string_pretty(&HexRows(&rows)).unwrap(),
            serde_json::to_string_pretty(&strings).unwrap()
        );
        for s in &strings["a"] {
            assert_eq!(
                parse_row_hash(s).map(|h| Hex(h).to_string()).as_ref(),
                Some(s)
            );
        }
        for odd in [
            "",
            "ab",
            "00000000000000AB",
            "+000000000000000",
            "000000000000000ab",
        ] {
            assert_eq!(parse_row_hash(odd), None, "{odd}");
        }
    }
}

