//! The Console API key: checked once, sent as a sensitive header, redacted from server text.

use std::fmt;

use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

/// What replaces the key wherever a server echoes it.
const REDACTED: &str = "[REDACTED]";

/// A Console API key, ready to send. Its `Debug` never shows it.
#[derive(Clone)]
pub(crate) struct ApiKey {
    secret: SecretString,
    header: HeaderValue,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl ApiKey {
    /// Checks that `secret` can be a Console API key; the error says why not, without the key.
    pub(crate) fn new(secret: SecretString) -> Result<Self, String> {
        let key = secret.expose_secret();
        if key.trim().is_empty() {
            return Err("the API key is empty".to_string());
        }
        for (prefix, kind) in [
            ("client-", "client SDK key"),
            ("secret-", "server secret key"),
        ] {
            if key.starts_with(prefix) {
                return Err(format!(
                    "the API key is a Statsig {kind} (`{prefix}…`); the Console API needs a Console API key (`console-…`), created under Project Settings → Keys"
                ));
            }
        }
        let mut header = HeaderValue::try_from(key).map_err(|_| {
            "the API key contains characters that cannot be sent in an HTTP header".to_string()
        })?;
        header.set_sensitive(true);
        Ok(Self { secret, header })
    }

    /// The `STATSIG-API-KEY` header value, marked sensitive.
    pub(crate) fn header(&self) -> &HeaderValue {
        &self.header
    }

    /// Replaces every occurrence of the key in server-provided text.
    pub(crate) fn redact(&self, text: String) -> String {
        let key = self.secret.expose_secret();
        // Short strings would match ordinary text; real Console keys are long.
        if key.len() >= 8 && text.contains(key) {
            text.replace(key, REDACTED)
        } else {
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_keys_are_refused_with_the_kind_of_key_needed() {
        for key in ["client-abc123", "secret-abc123"] {
            let text = ApiKey::new(SecretString::from(key)).unwrap_err();
            assert!(text.contains("Console API key"), "{text}");
            assert!(!text.contains("abc123"), "the key leaked: {text}");
        }
        assert!(ApiKey::new(SecretString::from("  ")).is_err());
        assert!(ApiKey::new(SecretString::from("console-a\nb")).is_err());
    }

    #[test]
    fn echoed_keys_are_redacted_and_debug_hides_the_key() {
        let key = ApiKey::new(SecretString::from("console-0123456789")).unwrap();
        assert_eq!(
            key.redact("bad key console-0123456789!".to_string()),
            "bad key [REDACTED]!"
        );
        assert_eq!(format!("{key:?}"), "[REDACTED]");
        assert!(key.header().is_sensitive());
    }
}
