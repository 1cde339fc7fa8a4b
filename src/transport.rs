//! What runs under the generated client on every request: auth and version headers,
//! per-attempt timeout, and a bounded read of the body that remembers the status.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::StatusCode;
use reqwest::header::{HeaderName, HeaderValue, USER_AGENT};
use secrecy::{ExposeSecret, SecretString};

use crate::generated;

/// The header the Console API reads the key from.
pub(crate) const API_KEY_HEADER: HeaderName = HeaderName::from_static("statsig-api-key");
/// The header that pins the Console API's behaviour to the version this crate was written for.
pub(crate) const API_VERSION_HEADER: HeaderName = HeaderName::from_static("statsig-api-version");
/// The API version this crate speaks; the spec's `info.version`.
pub const API_VERSION: &str = "20240601";

/// Settings shared by a [`crate::Client`] and all its clones.
pub(crate) struct Shared {
    pub(crate) api_key: SecretString,
    pub(crate) api_key_header: HeaderValue,
    pub(crate) user_agent: HeaderValue,
    pub(crate) timeout: Duration,
    pub(crate) call_timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) retry: crate::RetryPolicy,
    pub(crate) limiter: Option<Arc<crate::reliability::Limiter>>,
}

impl Shared {
    /// Replaces every occurrence of the key in server-provided text.
    pub(crate) fn redact(&self, text: String) -> String {
        let key = self.api_key.expose_secret();
        // Short strings would match ordinary text; real Console keys are long.
        if key.len() >= 8 && text.contains(key) {
            text.replace(key, "[REDACTED]")
        } else {
            text
        }
    }
}

/// What the transport saw of the response, kept for error reporting.
#[derive(Clone)]
pub(crate) struct ResponseRecord {
    pub(crate) status: StatusCode,
    /// `Retry-After`, for 429 and 503 answers.
    pub(crate) retry_after: Option<HeaderValue>,
    /// The request id the server gave, for the tracing span.
    pub(crate) request_id: Option<HeaderValue>,
    pub(crate) body: Bytes,
    pub(crate) truncated: bool,
}

/// Per-call state the facade attaches to the generated client (progenitor's "inner" value).
///
/// It is public only because the generated client's constructor names it; it has no public
/// constructor, so the only way to get a generated client is [`crate::Client::raw`].
#[derive(Clone)]
pub struct CallContext {
    pub(crate) shared: Arc<Shared>,
    attempt_timeout: Duration,
    /// Bytes to send instead of the body the generated code serialized (see the facade).
    body: Option<Bytes>,
    record: Arc<Mutex<Option<ResponseRecord>>>,
}

impl std::fmt::Debug for CallContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext").finish_non_exhaustive()
    }
}

impl CallContext {
    pub(crate) fn new(shared: Arc<Shared>, attempt_timeout: Duration, body: Option<Bytes>) -> Self {
        Self {
            shared,
            attempt_timeout,
            body,
            record: Arc::new(Mutex::new(None)),
        }
    }

    pub(crate) fn take_record(&self) -> Option<ResponseRecord> {
        self.record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }

    fn store_record(&self, record: ResponseRecord) {
        *self.record.lock().unwrap_or_else(PoisonError::into_inner) = Some(record);
    }

    fn decorate(&self, request: &mut reqwest::Request) {
        let headers = request.headers_mut();
        headers.insert(API_KEY_HEADER, self.shared.api_key_header.clone());
        headers.insert(API_VERSION_HEADER, HeaderValue::from_static(API_VERSION));
        headers.insert(USER_AGENT, self.shared.user_agent.clone());
        *request.timeout_mut() = Some(self.attempt_timeout);
        if let Some(body) = &self.body {
            *request.body_mut() = Some(reqwest::Body::from(body.clone()));
        }
    }

    /// Reads the whole body (up to the limit) so that errors can quote it and keep the
    /// status, then hands the generated code an equivalent in-memory response.
    async fn buffer(&self, mut response: reqwest::Response) -> reqwest::Result<reqwest::Response> {
        let status = response.status();
        let version = response.version();
        // The status alone first, so a failure while reading the body still reports it.
        self.store_record(ResponseRecord {
            status,
            retry_after: None,
            request_id: None,
            body: Bytes::new(),
            truncated: false,
        });
        let limit = self.shared.max_response_bytes;
        let (body, truncated) = read_body(&mut response, limit).await?;
        tracing::trace!(
            status = status.as_u16(),
            truncated,
            body = %self.shared.redact(String::from_utf8_lossy(&body).into_owned()),
            "response body"
        );
        let headers = std::mem::take(response.headers_mut());
        self.store_record(ResponseRecord {
            status,
            retry_after: headers.get(reqwest::header::RETRY_AFTER).cloned(),
            request_id: headers.get(crate::client::REQUEST_ID).cloned(),
            body: body.clone(),
            truncated,
        });
        let mut rebuilt = http::Response::new(body);
        *rebuilt.status_mut() = status;
        *rebuilt.headers_mut() = headers;
        *rebuilt.version_mut() = version;
        Ok(reqwest::Response::from(rebuilt))
    }
}

/// The body, up to `limit` bytes (and whether it was longer). A body that arrives in one
/// chunk, the usual case for small answers, is kept without copying.
async fn read_body(
    response: &mut reqwest::Response,
    limit: usize,
) -> reqwest::Result<(Bytes, bool)> {
    let Some(first) = response.chunk().await? else {
        return Ok((Bytes::new(), false));
    };
    if first.len() > limit {
        return Ok((first.slice(..limit), true));
    }
    let Some(second) = response.chunk().await? else {
        return Ok((first, false));
    };
    let expected = response.content_length().unwrap_or(0);
    let mut body = Vec::with_capacity(usize::try_from(expected).unwrap_or(limit).min(limit));
    body.extend_from_slice(&first);
    let mut next = Some(second);
    while let Some(chunk) = next {
        let room = limit - body.len();
        if chunk.len() > room {
            body.extend_from_slice(&chunk[..room]);
            return Ok((Bytes::from(body), true));
        }
        body.extend_from_slice(&chunk);
        next = response.chunk().await?;
    }
    Ok((Bytes::from(body), false))
}

impl ClientHooks<CallContext> for generated::Client {
    async fn exec(
        &self,
        mut request: reqwest::Request,
        _info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let context = self.inner();
        context.decorate(&mut request);
        if tracing::enabled!(tracing::Level::TRACE) {
            let body = request
                .body()
                .and_then(reqwest::Body::as_bytes)
                .unwrap_or_default();
            tracing::trace!(
                method = %request.method(),
                url = %request.url(),
                body = %context.shared.redact(String::from_utf8_lossy(body).into_owned()),
                "request"
            );
        }
        let response = self.client().execute(request).await?;
        context.buffer(response).await
    }
}
