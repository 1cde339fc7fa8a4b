//! The one error type every call returns.

use std::time::Duration;

use reqwest::StatusCode;

/// How many bytes of a response body an [`Error`] keeps for diagnosis.
pub const BODY_EXCERPT_LIMIT: usize = 512;

/// Everything that can go wrong when calling the Console API.
///
/// Variants that come from an HTTP response carry its status ([`Error::status`]), the
/// server's message where it sent one, and a bounded excerpt of the body. The API key
/// never appears in any of them: a server that echoes it has it replaced by `[REDACTED]`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client was configured wrongly; nothing was sent.
    #[error("invalid client configuration: {message}")]
    InvalidConfig {
        /// What is wrong with the configuration.
        message: String,
    },

    /// An argument failed a check made before sending; nothing was sent.
    #[error("invalid input in `{field}`: {reason}")]
    InvalidInput {
        /// The argument or field path at fault, for example `overrides[3].groupID`.
        field: String,
        /// Why it was refused.
        reason: String,
    },

    /// 400: the Console API refused the request's content.
    #[error("bad request (400): {message}")]
    BadRequest {
        /// The server's message, or the body excerpt when it sent no `{status, message}`.
        message: String,
        /// The start of the response body.
        body_excerpt: String,
    },

    /// 401: the key is missing, unknown, inactive or not a Console key.
    #[error("unauthorized (401): {message}")]
    Unauthorized {
        /// The server's message, or the body excerpt when it sent no `{status, message}`.
        message: String,
        /// The start of the response body.
        body_excerpt: String,
    },

    /// 404: the experiment (or path) does not exist.
    #[error("not found (404): {message}")]
    NotFound {
        /// The server's message, or the body excerpt when it sent no `{status, message}`.
        message: String,
        /// The start of the response body.
        body_excerpt: String,
    },

    /// 429: the project's mutation rate limit was hit.
    #[error("rate limited (429): {message}{}", retry_after_note(*.retry_after))]
    RateLimited {
        /// The server's message, or the body excerpt when it sent no `{status, message}`.
        message: String,
        /// How long the server asked to wait (`Retry-After`), when it said.
        retry_after: Option<Duration>,
        /// The start of the response body.
        body_excerpt: String,
    },

    /// Any other non-success status.
    #[error("the Console API answered {status}{}", message_note(message.as_deref(), body_excerpt))]
    Api {
        /// The HTTP status.
        status: StatusCode,
        /// The server's message, when the body was a `{status, message}` object.
        message: Option<String>,
        /// `Retry-After`, when the server sent one (typically with 503).
        retry_after: Option<Duration>,
        /// The start of the response body.
        body_excerpt: String,
    },

    /// The call's overall deadline ([`crate::ClientBuilder::call_timeout`]) passed before it
    /// could finish, counting every attempt, backoff and rate-limit wait.
    #[error("the call did not finish within its {} s deadline ({attempts} attempt(s) made)", limit.as_secs_f64())]
    DeadlineExceeded {
        /// The deadline.
        limit: Duration,
        /// How many attempts were sent.
        attempts: u32,
    },

    /// The request did not complete: connection refused or reset, DNS, TLS, timeout.
    #[error("transport error{}: {source}", status_note(*.status))]
    Transport {
        /// The status, when the failure came after the response head (while reading the body).
        status: Option<StatusCode>,
        /// True when the request or the body read ran past its timeout.
        timed_out: bool,
        /// True when no connection could be made, so the request provably never reached the server.
        connect_failed: bool,
        /// The underlying error.
        #[source]
        source: reqwest::Error,
    },

    /// The response had a success status but its body is not what the spec says.
    #[error("cannot decode the {status} response: {source}; body starts: {body_excerpt:?}")]
    Decode {
        /// The HTTP status.
        status: StatusCode,
        /// What serde found wrong.
        #[source]
        source: serde_json::Error,
        /// The start of the response body.
        body_excerpt: String,
    },

    /// The response body was larger than the client accepts.
    #[error(
        "the {status} response body exceeded the {limit_bytes}-byte limit; body starts: {body_excerpt:?}"
    )]
    ResponseTooLarge {
        /// The HTTP status.
        status: StatusCode,
        /// The configured limit.
        limit_bytes: usize,
        /// The start of the response body.
        body_excerpt: String,
    },
}

fn retry_after_note(retry_after: Option<Duration>) -> String {
    retry_after
        .map(|d| format!(" (retry after {} s)", d.as_secs_f64()))
        .unwrap_or_default()
}

fn message_note(message: Option<&str>, excerpt: &str) -> String {
    match message {
        Some(m) => format!(": {m}"),
        None if excerpt.is_empty() => String::new(),
        None => format!("; body starts: {excerpt:?}"),
    }
}

fn status_note(status: Option<StatusCode>) -> String {
    status
        .map(|s| format!(" after a {s} response head"))
        .unwrap_or_default()
}

impl Error {
    /// The HTTP status of the response this error came from, if there was one.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::InvalidConfig { .. }
            | Error::InvalidInput { .. }
            | Error::DeadlineExceeded { .. } => None,
            Error::BadRequest { .. } => Some(StatusCode::BAD_REQUEST),
            Error::Unauthorized { .. } => Some(StatusCode::UNAUTHORIZED),
            Error::NotFound { .. } => Some(StatusCode::NOT_FOUND),
            Error::RateLimited { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
            Error::Api { status, .. }
            | Error::Decode { status, .. }
            | Error::ResponseTooLarge { status, .. } => Some(*status),
            Error::Transport { status, .. } => *status,
        }
    }

    /// The server's message, when the response carried one.
    pub fn server_message(&self) -> Option<&str> {
        match self {
            Error::BadRequest { message, .. }
            | Error::Unauthorized { message, .. }
            | Error::NotFound { message, .. }
            | Error::RateLimited { message, .. } => Some(message),
            Error::Api { message, .. } => message.as_deref(),
            _ => None,
        }
    }

    /// The start of the response body, when there was a response.
    pub fn body_excerpt(&self) -> Option<&str> {
        match self {
            Error::BadRequest { body_excerpt, .. }
            | Error::Unauthorized { body_excerpt, .. }
            | Error::NotFound { body_excerpt, .. }
            | Error::RateLimited { body_excerpt, .. }
            | Error::Api { body_excerpt, .. }
            | Error::Decode { body_excerpt, .. }
            | Error::ResponseTooLarge { body_excerpt, .. } => Some(body_excerpt),
            _ => None,
        }
    }

    /// How long the server asked to wait before retrying (`Retry-After`), when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } | Error::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    pub(crate) fn invalid_input(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn invalid_config(message: impl Into<String>) -> Self {
        Error::InvalidConfig {
            message: message.into(),
        }
    }
}

/// At most [`BODY_EXCERPT_LIMIT`] bytes of `body` as text (invalid UTF-8 shown as U+FFFD),
/// cut on a character boundary and marked with `…` when cut.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let head = &body[..body.len().min(BODY_EXCERPT_LIMIT)];
    let mut text = String::from_utf8_lossy(head).into_owned();
    let mut cut = body.len() > BODY_EXCERPT_LIMIT;
    if text.len() > BODY_EXCERPT_LIMIT {
        // Replacement characters take three bytes each: cut again on a boundary.
        let mut end = BODY_EXCERPT_LIMIT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        cut = true;
    }
    if cut {
        // A multi-byte character split at the limit decodes as U+FFFD; drop that artefact.
        if body.len() > BODY_EXCERPT_LIMIT
            && text.ends_with('\u{FFFD}')
            && std::str::from_utf8(head).is_err()
        {
            text.pop();
        }
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_is_bounded_and_marks_the_cut() {
        let long = "é".repeat(1000);
        let text = excerpt(long.as_bytes());
        assert!(text.len() <= BODY_EXCERPT_LIMIT + '…'.len_utf8());
        assert!(text.ends_with('…'));
        assert!(!text.contains('\u{FFFD}'));
    }

    #[test]
    fn invalid_utf8_cannot_blow_the_bound() {
        let text = excerpt(&[0xff; 2000]);
        assert!(
            text.len() <= BODY_EXCERPT_LIMIT + '…'.len_utf8(),
            "{}",
            text.len()
        );
        let text = excerpt(&[0xff; 300]);
        assert!(
            text.len() <= BODY_EXCERPT_LIMIT + '…'.len_utf8(),
            "{}",
            text.len()
        );
    }

    #[test]
    fn short_bodies_are_kept_whole() {
        assert_eq!(excerpt(b"{\"status\":500}"), "{\"status\":500}");
        assert_eq!(excerpt(b""), "");
    }

    #[test]
    fn status_is_known_for_every_response_variant() {
        let e = Error::Unauthorized {
            message: "m".into(),
            body_excerpt: String::new(),
        };
        assert_eq!(e.status(), Some(StatusCode::UNAUTHORIZED));
        let e = Error::invalid_input("id", "empty");
        assert_eq!(e.status(), None);
    }
}
