//! The exit codes: this one table is what `--help` prints, what the JSON error document's
//! `exit_code` comes from, and what README's table must say (a test holds it to that).

/// One exit code and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub code: u8,
    pub meaning: &'static str,
}

pub const DONE: Exit = Exit {
    code: 0,
    meaning: "done",
};
pub const USAGE: Exit = Exit {
    code: 2,
    meaning: "usage error, or input refused before sending (no key, a bad file or id): nothing was sent",
};
pub const UNAUTHORIZED: Exit = Exit {
    code: 3,
    meaning: "unauthorized (401): the key is wrong, inactive or not a Console key",
};
pub const NOT_FOUND: Exit = Exit {
    code: 4,
    meaning: "not found (404): no such experiment",
};
pub const RATE_LIMITED_OR_DEADLINE: Exit = Exit {
    code: 5,
    meaning: "rate limited (429) or the deadline passed, after retries",
};
pub const PARTIALLY_APPLIED: Exit = Exit {
    code: 6,
    meaning: "partially applied: some requests were applied before one failed; re-running is safe",
};
/// 128 + SIGINT, as shells report a command that Ctrl-C ended.
pub const INTERRUPTED: Exit = Exit {
    code: 130,
    meaning: "interrupted (Ctrl-C): requests in flight finished, none was sent after; re-running is safe",
};
pub const OTHER: Exit = Exit {
    code: 1,
    meaning: "anything else",
};

/// Every exit code, in the order `--help` and README list them.
pub const ALL: [Exit; 8] = [
    DONE,
    USAGE,
    UNAUTHORIZED,
    NOT_FOUND,
    RATE_LIMITED_OR_DEADLINE,
    PARTIALLY_APPLIED,
    INTERRUPTED,
    OTHER,
];

/// What `--help` ends with.
pub fn help() -> String {
    let mut text = String::from("Exit codes:");
    for exit in ALL {
        text.push_str(&format!("\n  {:>3}  {}", exit.code, exit.meaning));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once() {
        let mut codes: Vec<u8> = ALL.iter().map(|exit| exit.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), ALL.len());
        // Short enough that `--help` never wraps a line of the table.
        assert!(ALL.iter().all(|exit| exit.meaning.len() <= 92));
    }
}
