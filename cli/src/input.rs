//! What the commands read: the key, JSON or YAML documents, and ids files streamed a line at a
//! time.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use serde::de::DeserializeOwned;

use crate::report::Failure;

/// The environment variable the key is read from.
pub const API_KEY_ENV: &str = statsig_console::ENV_API_KEY;

/// The Console key: the first line of `--api-key-file`, else `STATSIG_CONSOLE_API_KEY`.
/// `None` when neither is given. Messages name the file, never its content.
pub fn api_key(file: Option<&Path>) -> Result<Option<String>, Failure> {
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|error| {
            Failure::usage(format!(
                "cannot read the key file {}: {error}",
                path.display()
            ))
        })?;
        let key = without_bom(&text)
            .lines()
            .next()
            .unwrap_or_default()
            .trim()
            .to_string();
        if key.is_empty() {
            return Err(Failure::usage(format!(
                "the key file {} is empty",
                path.display()
            )));
        }
        return Ok(Some(key));
    }
    Ok(std::env::var(API_KEY_ENV)
        .ok()
        .map(|key| key.trim().to_string())
        .filter(|key| !key.is_empty()))
}

/// Where a document or ids come from: a file, or standard input for `-`.
fn open(path: &Path) -> Result<Box<dyn Read + Send>, Failure> {
    if path == Path::new("-") {
        return Ok(Box::new(io::stdin()));
    }
    File::open(path)
        .map(|file| Box::new(file) as Box<dyn Read + Send>)
        .map_err(|error| Failure::usage(format!("cannot open {}: {error}", path.display())))
}

/// A JSON or YAML document: the format by extension (`.json`, `.yaml`, `.yml`), otherwise by
/// content (JSON when it starts with `{` or `[`). A document that does not match the type is
/// refused with the path of the field at fault.
pub fn document<T: DeserializeOwned>(path: &Path) -> Result<T, Failure> {
    let mut text = String::new();
    open(path)?
        .read_to_string(&mut text)
        .map_err(|error| Failure::usage(format!("cannot read {}: {error}", path.display())))?;
    // Editors and spreadsheets on Windows start UTF-8 files with a byte-order mark.
    let text = without_bom(&text);
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let is_json = match extension.as_deref() {
        Some("json") => true,
        Some("yaml" | "yml") => false,
        _ => text.trim_start().starts_with(['{', '[']),
    };
    let refused = |format: &str, field: String, error: String| {
        // serde_norway names the field itself; serde_json does not.
        let place = if field.is_empty() || field == "." || error.contains(&field) {
            String::new()
        } else {
            format!(" at `{field}`")
        };
        Failure::usage(format!(
            "{} is not a valid {format} document{place}: {error}",
            path.display()
        ))
    };
    let (format, parsed) = if is_json {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        (
            "JSON",
            path_and_error(serde_path_to_error::deserialize(&mut deserializer)),
        )
    } else {
        let deserializer = serde_norway::Deserializer::from_str(text);
        (
            "YAML",
            path_and_error(serde_path_to_error::deserialize(deserializer)),
        )
    };
    parsed.map_err(|(field, error)| refused(format, field, error))
}

/// A document's value, or the path of the field at fault and what is wrong there.
fn path_and_error<T, E: std::fmt::Display>(
    parsed: Result<T, serde_path_to_error::Error<E>>,
) -> Result<T, (String, String)> {
    parsed.map_err(|error| (error.path().to_string(), error.into_inner().to_string()))
}

/// The byte-order mark a UTF-8 file may start with.
const BOM: char = '\u{feff}';

/// `text` without the byte-order mark it may start with.
fn without_bom(text: &str) -> &str {
    text.strip_prefix(BOM).unwrap_or(text)
}

/// The first character of `id` that no real id holds: a control character, or an invisible
/// format character (zero-width space and joiners, bidirectional marks and overrides, a
/// byte-order mark, soft hyphen) that would make the id look right and match nobody.
fn unseen_character(id: &str) -> Option<char> {
    use unicode_general_category::{GeneralCategory, get_general_category};
    id.chars()
        .find(|c| c.is_control() || matches!(get_general_category(*c), GeneralCategory::Format))
}

/// An id of a line: `None` for blank lines and `#` comments; an error naming `place` for an
/// id with a character no real id holds.
fn id_of(line: &str, place: impl FnOnce() -> String) -> Result<Option<String>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    match unseen_character(line) {
        Some(c) => Err(format!(
            "{}: the id {:?} holds the invisible character U+{:04X}; nothing was sent",
            place(),
            line,
            u32::from(c)
        )),
        None => Ok(Some(line.to_string())),
    }
}

/// The ids of `--ids ID,ID,...`.
pub fn listed_ids(ids: Vec<String>) -> Result<Vec<String>, Failure> {
    let mut listed = Vec::new();
    for (index, id) in ids.iter().enumerate() {
        if let Some(id) =
            id_of(id, || format!("--ids, id {}", index + 1)).map_err(Failure::Usage)?
        {
            listed.push(id);
        }
    }
    if listed.is_empty() {
        return Err(Failure::usage("--ids lists no ids"));
    }
    Ok(listed)
}

/// The error of a line that could not be read: its number, and plainly when it is not UTF-8.
fn unreadable_line(path: &Path, number: usize, error: &io::Error) -> String {
    if error.kind() == io::ErrorKind::InvalidData {
        format!(
            "{} is not UTF-8 text: line {number} holds bytes that are not UTF-8; nothing was sent",
            path.display()
        )
    } else {
        format!("cannot read {} at line {number}: {error}", path.display())
    }
}

/// The ids of an ids file, read a line at a time as the update asks for them.
///
/// A regular file is read once beforehand to count its ids and check every line (so progress
/// has a total, and a line that is not UTF-8 or holds an id with an invisible character is
/// refused, by its number, before anything is sent), then streamed. Standard input is
/// streamed once; a bad line there ends the ids, and its error is kept for
/// [`IdsFile::read_error`]. A byte-order mark at the start is dropped.
pub struct IdsFile {
    lines: io::Lines<BufReader<Box<dyn Read + Send>>>,
    /// The number of the next line.
    line_number: usize,
    remaining: Option<u64>,
    read_error: Arc<Mutex<Option<String>>>,
    source: PathBuf,
}

impl IdsFile {
    pub fn open(path: &Path) -> Result<Self, Failure> {
        let is_stdin = path == Path::new("-");
        let remaining = if is_stdin {
            None
        } else {
            let mut count: u64 = 0;
            for (index, line) in BufReader::new(open(path)?).lines().enumerate() {
                let number = index + 1;
                let line =
                    line.map_err(|error| Failure::Usage(unreadable_line(path, number, &error)))?;
                let line = if number == 1 {
                    without_bom(&line)
                } else {
                    &line
                };
                let id = id_of(line, || format!("{} line {number}", path.display()))
                    .map_err(Failure::Usage)?;
                count += u64::from(id.is_some());
            }
            if count == 0 {
                return Err(Failure::usage(format!("{} holds no ids", path.display())));
            }
            Some(count)
        };
        Ok(Self {
            lines: BufReader::new(open(path)?).lines(),
            line_number: 1,
            remaining,
            read_error: Arc::default(),
            source: path.to_path_buf(),
        })
    }

    /// Where a read error, if one ends the ids early, will be kept.
    pub fn read_error(&self) -> Arc<Mutex<Option<String>>> {
        Arc::clone(&self.read_error)
    }

    /// The number of ids, when known before reading them.
    pub fn known_total(&self) -> Option<u64> {
        self.remaining
    }
}

impl Iterator for IdsFile {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        loop {
            let number = self.line_number;
            self.line_number += 1;
            let read = match self.lines.next()? {
                Ok(line) => {
                    let line = if number == 1 {
                        without_bom(&line)
                    } else {
                        &line
                    };
                    id_of(line, || format!("{} line {number}", self.source.display()))
                }
                Err(error) => Err(unreadable_line(&self.source, number, &error)),
            };
            match read {
                Ok(Some(id)) => {
                    if let Some(remaining) = &mut self.remaining {
                        *remaining = remaining.saturating_sub(1);
                    }
                    return Some(id);
                }
                Ok(None) => {}
                Err(message) => {
                    *self
                        .read_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) = Some(message);
                    return None;
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.remaining.and_then(|n| usize::try_from(n).ok()) {
            Some(n) => (n, Some(n)),
            None => (0, None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn ids_files_skip_blank_lines_and_comments_and_know_their_length() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "# QA accounts\nu1\n\n  u2  \n#u3\nu4").unwrap();
        let ids = IdsFile::open(file.path()).unwrap();
        assert_eq!(ids.size_hint(), (3, Some(3)));
        assert_eq!(ids.collect::<Vec<_>>(), vec!["u1", "u2", "u4"]);
    }

    #[test]
    fn a_byte_order_mark_is_dropped_and_invisible_characters_are_refused_by_line() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        write!(file, "\u{feff}u1\nu2\n").unwrap();
        assert_eq!(
            IdsFile::open(file.path()).unwrap().collect::<Vec<_>>(),
            ["u1", "u2"]
        );
        for (invisible, code) in [
            ("\u{200b}", "U+200B"),
            ("\u{feff}", "U+FEFF"),
            ("\u{200e}", "U+200E"),
            ("\u{202e}", "U+202E"),
            ("\u{7}", "U+0007"),
        ] {
            let mut file = tempfile::NamedTempFile::new().unwrap();
            write!(file, "u1\n# note\nu{invisible}2\n").unwrap();
            let Err(error) = IdsFile::open(file.path()) else {
                panic!("{code} accepted");
            };
            let message = error.to_string();
            assert!(message.contains("line 3"), "{message}");
            assert!(message.contains(code), "{message}");
        }
        let mut not_utf8 = tempfile::NamedTempFile::new().unwrap();
        not_utf8.write_all(b"u1\nu\xff2\n").unwrap();
        let Err(error) = IdsFile::open(not_utf8.path()) else {
            panic!("Latin-1 accepted");
        };
        assert!(
            error.to_string().contains("not UTF-8 text: line 2"),
            "{error}"
        );
        assert!(listed_ids(vec!["u1".into(), "u\u{2060}2".into()]).is_err());
        assert_eq!(
            listed_ids(vec!["über".into(), "用户".into()]).unwrap(),
            ["über", "用户"],
            "letters of every script are ids"
        );
    }

    #[test]
    fn documents_and_key_files_may_start_with_a_byte_order_mark() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("doc.json");
        std::fs::write(&json, "\u{feff}{\"entries\": []}").unwrap();
        let value: serde_json::Value = document(&json).unwrap();
        assert_eq!(value["entries"], serde_json::json!([]));
        let yaml = dir.path().join("doc.yaml");
        std::fs::write(&yaml, "\u{feff}entries: []\n").unwrap();
        let value: serde_json::Value = document(&yaml).unwrap();
        assert_eq!(value["entries"], serde_json::json!([]));
        let key = dir.path().join("key");
        std::fs::write(&key, "\u{feff}console-abc\r\n").unwrap();
        assert_eq!(api_key(Some(&key)).unwrap().as_deref(), Some("console-abc"));
    }

    #[test]
    fn documents_are_read_by_extension_or_content_and_name_the_field_at_fault() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Doc {
            entries: Vec<Entry>,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Entry {
            name: String,
        }
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("doc.yaml");
        std::fs::write(&yaml, "entries:\n  - name: a\n  - nom: b\n").unwrap();
        let error = document::<Doc>(&yaml).unwrap_err().to_string();
        assert!(error.contains("entries[1]"), "{error}");
        let json = dir.path().join("doc");
        std::fs::write(&json, r#"{"entries": [{"name": "a"}]}"#).unwrap();
        assert_eq!(document::<Doc>(&json).unwrap().entries.len(), 1);
    }
}
