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
        let key = text.lines().next().unwrap_or_default().trim().to_string();
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
    if is_json {
        let mut deserializer = serde_json::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
            refused(
                "JSON",
                error.path().to_string(),
                error.into_inner().to_string(),
            )
        })
    } else {
        let deserializer = serde_norway::Deserializer::from_str(&text);
        serde_path_to_error::deserialize(deserializer).map_err(|error| {
            refused(
                "YAML",
                error.path().to_string(),
                error.into_inner().to_string(),
            )
        })
    }
}

/// An id of a line: `None` for blank lines and `#` comments.
fn id_of(line: &str) -> Option<String> {
    let line = line.trim();
    (!line.is_empty() && !line.starts_with('#')).then(|| line.to_string())
}

/// The ids of `--ids ID,ID,...`.
pub fn listed_ids(ids: Vec<String>) -> Result<Vec<String>, Failure> {
    let ids: Vec<String> = ids.iter().filter_map(|id| id_of(id)).collect();
    if ids.is_empty() {
        return Err(Failure::usage("--ids lists no ids"));
    }
    Ok(ids)
}

/// The ids of an ids file, read a line at a time as the update asks for them.
///
/// A regular file is read once beforehand to count its ids and check it can be read whole
/// (so progress has a total and a bad line is refused before anything is sent), then streamed.
/// Standard input is streamed once; a read error there ends the ids, and is kept for
/// [`IdsFile::read_error`].
pub struct IdsFile {
    lines: io::Lines<BufReader<Box<dyn Read + Send>>>,
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
            for (number, line) in BufReader::new(open(path)?).lines().enumerate() {
                let line = line.map_err(|error| {
                    Failure::usage(format!(
                        "cannot read {} at line {}: {error}",
                        path.display(),
                        number + 1
                    ))
                })?;
                count += u64::from(id_of(&line).is_some());
            }
            if count == 0 {
                return Err(Failure::usage(format!("{} holds no ids", path.display())));
            }
            Some(count)
        };
        Ok(Self {
            lines: BufReader::new(open(path)?).lines(),
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
            match self.lines.next()? {
                Ok(line) => {
                    if let Some(id) = id_of(&line) {
                        if let Some(remaining) = &mut self.remaining {
                            *remaining = remaining.saturating_sub(1);
                        }
                        return Some(id);
                    }
                }
                Err(error) => {
                    *self
                        .read_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner) =
                        Some(format!("cannot read {}: {error}", self.source.display()));
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
