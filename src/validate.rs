//! Checks made before anything is sent, each naming the offending field.

use crate::Error;
use crate::types::{ExperimentOverrides, TeamCreate};

/// The vendor's cap on `overrides` and on each `userIDOverrides[].ids` (`maxItems` in the spec).
pub const MAX_OVERRIDE_ITEMS: usize = 1000;

/// An experiment id the client sends: not empty, and not a relative path segment.
pub fn experiment_id(id: &str) -> Result<(), Error> {
    match id {
        "" => Err(Error::invalid_input("experiment_id", "must not be empty")),
        "." | ".." => Err(Error::invalid_input(
            "experiment_id",
            format!("`{id}` is a relative path segment, not an experiment id"),
        )),
        _ => Ok(()),
    }
}

pub(crate) fn experiment_overrides(body: &ExperimentOverrides) -> Result<(), Error> {
    override_types(body)?;
    if body.overrides.len() > MAX_OVERRIDE_ITEMS {
        return Err(Error::invalid_input(
            "overrides",
            format!(
                "{} conditional overrides; the Console API accepts at most {MAX_OVERRIDE_ITEMS} per request \
                 (Client::apply_overrides splits larger updates)",
                body.overrides.len()
            ),
        ));
    }
    for (index, entry) in body.user_id_overrides.iter().enumerate() {
        if entry.ids.len() > MAX_OVERRIDE_ITEMS {
            return Err(Error::invalid_input(
                format!("userIDOverrides[{index}].ids"),
                format!(
                    "{} ids; the Console API accepts at most {MAX_OVERRIDE_ITEMS} per entry \
                     (Client::apply_overrides and Client::add_user_ids split larger updates)",
                    entry.ids.len()
                ),
            ));
        }
    }
    Ok(())
}

/// Every conditional override's type is one the Console accepts: what a large update checks
/// before its first request (its sizes are the splitter's business).
pub(crate) fn override_types(body: &ExperimentOverrides) -> Result<(), Error> {
    for (index, entry) in body.overrides.iter().enumerate() {
        if entry.type_.is_unknown() {
            return Err(Error::invalid_input(
                format!("overrides[{index}].type"),
                format!(
                    "{:?} is not an override type the Console accepts (gate, segment)",
                    entry.type_.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// A team Create Team sends: a name that is not blank, and members and admins that are email
/// addresses.
pub fn team_create(team: &TeamCreate) -> Result<(), Error> {
    if team.name.trim().is_empty() {
        return Err(Error::invalid_input("name", "must not be blank"));
    }
    for (field, emails) in [("members", &team.members), ("admins", &team.admins)] {
        for (index, email) in emails.iter().enumerate() {
            if !is_email_address(email) {
                return Err(Error::invalid_input(
                    format!("{field}[{index}]"),
                    format!("{email:?} is not an email address"),
                ));
            }
        }
    }
    Ok(())
}

/// A pragmatic address check: one `@`, a non-empty local part, a dotted domain, no spaces.
/// Full RFC 5322 is not the goal; catching user names and typos before the request is.
///
/// Byte loops rather than `str` searches: it runs for every member and admin of every team
/// created, and the usual address is ASCII.
pub(crate) fn is_email_address(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let blank = if text.is_ascii() {
        text.bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    } else {
        text.chars().any(|c| c.is_whitespace() || c.is_control())
    };
    !local.is_empty() && !blank && is_dotted_domain(domain.as_bytes())
}

/// At least two dot-separated labels, none empty, none starting or ending with `-`, no `@`.
fn is_dotted_domain(domain: &[u8]) -> bool {
    let mut labels = 0;
    for label in domain.split(|&b| b == b'.') {
        match (label.first(), label.last()) {
            (Some(&first), Some(&last))
                if first != b'-' && last != b'-' && !label.contains(&b'@') =>
            {
                labels += 1;
            }
            _ => return false,
        }
    }
    labels >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_check_accepts_addresses_and_refuses_the_rest() {
        for ok in [
            "ana@example.com",
            "a.b+tag@sub.example.co.uk",
            "x@a.io",
            "ána@bücher.example",
        ] {
            assert!(is_email_address(ok), "{ok}");
        }
        for bad in [
            "",
            "ana",
            "ana@",
            "@example.com",
            "ana@example",
            "a b@example.com",
            "a@@b.com",
            "a@b..com",
            "a@-b.com",
            "a@b-.com",
            "a@b.com.",
            "tab\t@example.com",
            "ana@exa mple.com",
            "ána@exam\u{a0}ple.com",
            "ana@example.com\u{7f}",
        ] {
            assert!(!is_email_address(bad), "{bad}");
        }
    }

    #[test]
    fn experiment_ids_that_are_path_segments_are_refused() {
        for bad in ["", ".", ".."] {
            assert!(
                matches!(experiment_id(bad), Err(Error::InvalidInput { .. })),
                "{bad:?}"
            );
        }
        for ok in ["checkout_flow", "a/b", "...", "é", "%2e%2e"] {
            assert!(experiment_id(ok).is_ok(), "{ok:?}");
        }
    }
}
