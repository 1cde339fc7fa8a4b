//! The one error type every call returns, and how a call's outcome becomes one.

use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;

use crate::secret::ApiKey;

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

    /// The call's overall deadline ([`crate::ClientBuilder::call_timeout`]) passed while it
    /// waited for a rate-limit slot, before anything was sent. (When the deadline cuts a call
    /// short after an attempt, that attempt's error is returned instead: it says more.)
    #[error(
        "the call did not finish within its {} s deadline ({} made)",
        limit.as_secs_f64(),
        counted(u64::from(*attempts), "attempt", "attempts")
    )]
    DeadlineExceeded {
        /// The deadline.
        limit: Duration,
        /// How many attempts were sent (0: the deadline passed while waiting for the first).
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

    /// A large update's stop signal (`stop_when` on [`crate::ApplyOverrides`] or
    /// [`crate::AddUserIds`]) fired: no request was sent after it, and the requests already in
    /// flight were let finish. Wrapped in [`Error::PartiallyApplied`] when some were applied.
    #[error("the update was stopped on request: no request was sent after the stop signal")]
    Stopped,

    /// A large update ([`crate::Client::apply_overrides`], [`crate::Client::add_user_ids`])
    /// stopped at a request that failed after its retries, after earlier requests were
    /// applied. Nothing was sent after the failure. The Console merges overrides additively,
    /// so running the same update again is safe and completes it.
    ///
    /// [`Error::status`], [`Error::server_message`] and the other accessors answer for the
    /// failed request, as they would for a single call.
    #[error(
        "{cause}; {} of the update {} applied ({} ids, {} conditional overrides) and nothing \
         was sent after that: running the same update again is safe (the Console merges \
         overrides)",
        counted(*applied_requests, "request", "requests"),
        if *applied_requests == 1 { "was" } else { "were" },
        applied_ids,
        applied_overrides
    )]
    PartiallyApplied {
        /// The error of the request that failed.
        cause: Box<Error>,
        /// How many requests were applied.
        applied_requests: u64,
        /// How many user ids those requests carried.
        applied_ids: u64,
        /// How many conditional overrides those requests carried.
        applied_overrides: u64,
    },
}

/// `1 request`, `2 requests`.
pub(crate) fn counted(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
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
            | Error::DeadlineExceeded { .. }
            | Error::Stopped => None,
            Error::BadRequest { .. } => Some(StatusCode::BAD_REQUEST),
            Error::Unauthorized { .. } => Some(StatusCode::UNAUTHORIZED),
            Error::NotFound { .. } => Some(StatusCode::NOT_FOUND),
            Error::RateLimited { .. } => Some(StatusCode::TOO_MANY_REQUESTS),
            Error::Api { status, .. }
            | Error::Decode { status, .. }
            | Error::ResponseTooLarge { status, .. } => Some(*status),
            Error::Transport { status, .. } => *status,
            Error::PartiallyApplied { cause, .. } => cause.status(),
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
            Error::PartiallyApplied { cause, .. } => cause.server_message(),
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
            Error::PartiallyApplied { cause, .. } => cause.body_excerpt(),
            _ => None,
        }
    }

    /// How long the server asked to wait before retrying (`Retry-After`), when it said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } | Error::Api { retry_after, .. } => *retry_after,
            Error::PartiallyApplied { cause, .. } => cause.retry_after(),
            _ => None,
        }
    }

    /// Whether the request may have reached the application and been acted on.
    ///
    /// `true` when it was sent and no answer proves it was refused: a timeout or a broken
    /// connection after sending, a 5xx, a 3xx, or a success whose body could not be read.
    /// `false` when nothing was sent (configuration, input checks, a connection that was never
    /// made, the deadline passing before the first attempt, a large update stopped before
    /// anything more was sent) and for 4xx answers such as
    /// 400/401/404/429, which refuse the request. Before repeating a non-idempotent call such
    /// as Create Team after an error, check first when this is `true`.
    pub fn may_have_taken_effect(&self) -> bool {
        match self {
            Error::InvalidConfig { .. }
            | Error::InvalidInput { .. }
            | Error::DeadlineExceeded { .. }
            | Error::Stopped
            | Error::BadRequest { .. }
            | Error::Unauthorized { .. }
            | Error::NotFound { .. }
            | Error::RateLimited { .. } => false,
            Error::Transport { connect_failed, .. } => !connect_failed,
            Error::Api { status, .. }
            | Error::Decode { status, .. }
            | Error::ResponseTooLarge { status, .. } => !status.is_client_error(),
            Error::PartiallyApplied { .. } => true,
        }
    }

    /// The error of the request that failed: this error itself, or for
    /// [`Error::PartiallyApplied`] its cause.
    pub fn cause(&self) -> &Error {
        match self {
            Error::PartiallyApplied { cause, .. } => cause,
            other => other,
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

/// The last response a call received, as the transport read it: what an error is made of.
#[derive(Debug, Clone)]
pub(crate) struct LastResponse {
    pub(crate) status: StatusCode,
    /// `Retry-After`, parsed.
    pub(crate) retry_after: Option<Duration>,
    /// The body, up to the configured limit.
    pub(crate) body: Bytes,
    /// True when the body was longer than the limit.
    pub(crate) truncated: bool,
}

/// What is needed beside the generated client's error to report it.
pub(crate) struct ErrorContext<'a> {
    pub(crate) api_key: &'a ApiKey,
    pub(crate) max_response_bytes: usize,
    pub(crate) call_timeout: Duration,
}

/// Turns the generated client's error into this crate's, with the last response the transport
/// recorded: progenitor keeps no status when a body does not decode.
pub(crate) fn from_generated<E: std::fmt::Debug>(
    error: progenitor_client::Error<E>,
    last: Option<LastResponse>,
    context: &ErrorContext<'_>,
) -> Error {
    use progenitor_client::Error as Generated;
    let redact = |text: String| context.api_key.redact(text);
    match (error, last) {
        (Generated::InvalidRequest(message), _) => Error::invalid_input("request", message),
        // The transport's hooks make two custom errors: `pre`'s (no rate-limit slot before the
        // deadline) and `post`'s (a success answer discarded on request, which the facade reads
        // from its call record before it ever maps an error). Only the first reaches here.
        (Generated::Custom(_), _) => Error::DeadlineExceeded {
            limit: context.call_timeout,
            attempts: 0,
        },
        (
            Generated::CommunicationError(source)
            | Generated::ResponseBodyError(source)
            | Generated::InvalidUpgrade(source),
            last,
        ) => Error::Transport {
            status: last.map(|response| response.status),
            timed_out: source.is_timeout(),
            connect_failed: source.is_connect(),
            source,
        },
        (_, Some(last)) if last.truncated => Error::ResponseTooLarge {
            status: last.status,
            limit_bytes: context.max_response_bytes,
            body_excerpt: redact(excerpt(&last.body)),
        },
        (Generated::InvalidResponsePayload(body, source), Some(last))
            if last.status.is_success() =>
        {
            Error::Decode {
                status: last.status,
                source,
                body_excerpt: redact(excerpt(&body)),
            }
        }
        (_, Some(last)) => from_response(&last, context.api_key),
        (other, None) => Error::invalid_input("request", redact(other.to_string())),
    }
}

/// The `{status, message}` body the Console API sends with errors; read leniently.
#[derive(serde::Deserialize)]
struct ErrorBody {
    message: String,
}

/// The error for a non-success answer, by status.
fn from_response(response: &LastResponse, api_key: &ApiKey) -> Error {
    let body_excerpt = api_key.redact(excerpt(&response.body));
    let server_message = serde_json::from_slice::<ErrorBody>(&response.body)
        .ok()
        .map(|body| api_key.redact(body.message));
    let message = || {
        server_message
            .clone()
            .unwrap_or_else(|| body_excerpt.clone())
    };
    match response.status {
        StatusCode::BAD_REQUEST => Error::BadRequest {
            message: message(),
            body_excerpt,
        },
        StatusCode::UNAUTHORIZED => Error::Unauthorized {
            message: message(),
            body_excerpt,
        },
        StatusCode::NOT_FOUND => Error::NotFound {
            message: message(),
            body_excerpt,
        },
        StatusCode::TOO_MANY_REQUESTS => Error::RateLimited {
            message: message(),
            retry_after: response.retry_after,
            body_excerpt,
        },
        status => Error::Api {
            status,
            message: server_message,
            retry_after: response.retry_after,
            body_excerpt,
        },
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

    fn transport_error(connect: bool) -> reqwest::Error {
        // A real reqwest error of each kind, made on loopback: a closed port refuses the
        // connection; a listener that accepts and closes gives a body-less reset after sending.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            if connect {
                drop(listener);
            } else {
                tokio::spawn(async move {
                    let (socket, _) = listener.accept().await.unwrap();
                    drop(socket);
                });
            }
            reqwest::Client::new()
                .post(format!("http://{address}/"))
                .body("x")
                .send()
                .await
                .unwrap_err()
        })
    }

    #[test]
    fn may_have_taken_effect_for_every_variant() {
        let excerpt = String::new;
        let status = |code| StatusCode::from_u16(code).unwrap();
        let decode_error = serde_json::from_str::<u8>("x").unwrap_err();
        let cases: Vec<(Error, bool)> = vec![
            (Error::invalid_config("no key"), false),
            (Error::invalid_input("name", "blank"), false),
            (
                Error::DeadlineExceeded {
                    limit: Duration::from_secs(1),
                    attempts: 0,
                },
                false,
            ),
            (
                Error::BadRequest {
                    message: "m".into(),
                    body_excerpt: excerpt(),
                },
                false,
            ),
            (
                Error::Unauthorized {
                    message: "m".into(),
                    body_excerpt: excerpt(),
                },
                false,
            ),
            (
                Error::NotFound {
                    message: "m".into(),
                    body_excerpt: excerpt(),
                },
                false,
            ),
            (
                Error::RateLimited {
                    message: "m".into(),
                    retry_after: None,
                    body_excerpt: excerpt(),
                },
                false,
            ),
            (
                Error::Api {
                    status: status(500),
                    message: None,
                    retry_after: None,
                    body_excerpt: excerpt(),
                },
                true,
            ),
            (
                Error::Api {
                    status: status(503),
                    message: None,
                    retry_after: None,
                    body_excerpt: excerpt(),
                },
                true,
            ),
            (
                Error::Api {
                    status: status(302),
                    message: None,
                    retry_after: None,
                    body_excerpt: excerpt(),
                },
                true,
            ),
            (
                Error::Api {
                    status: status(409),
                    message: None,
                    retry_after: None,
                    body_excerpt: excerpt(),
                },
                false,
            ),
            (
                Error::Decode {
                    status: status(200),
                    source: decode_error,
                    body_excerpt: excerpt(),
                },
                true,
            ),
            (
                Error::ResponseTooLarge {
                    status: status(200),
                    limit_bytes: 1,
                    body_excerpt: excerpt(),
                },
                true,
            ),
            (
                Error::ResponseTooLarge {
                    status: status(400),
                    limit_bytes: 1,
                    body_excerpt: excerpt(),
                },
                false,
            ),
            (
                Error::Transport {
                    status: None,
                    timed_out: false,
                    connect_failed: true,
                    source: transport_error(true),
                },
                false,
            ),
            (
                Error::Transport {
                    status: None,
                    timed_out: false,
                    connect_failed: false,
                    source: transport_error(false),
                },
                true,
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(error.may_have_taken_effect(), expected, "{error:?}");
        }
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
