//! Lines on standard output and standard error that survive a closed reader.
//!
//! `println!` panics when its stream is gone (`statsig-console … | head -1`, `| grep -q`, a CI
//! step that stopped reading): an update that was applied would end with a panic and exit 101.
//! What the command did does not change because nobody reads its report, so a failed write is
//! dropped here and the exit code stays the outcome's.

use std::fmt::Display;
use std::io::Write;

/// Writes `text` and a newline to standard output, ignoring a closed or failing stream.
pub fn out(text: impl Display) {
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

/// Writes `text` and a newline to standard error, ignoring a closed or failing stream.
pub fn err(text: impl Display) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

/// `1 request`, `2 requests`: the count with the word that fits it.
pub fn counted(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}
