//! What runs under the generated client on every call, for the facade and [`crate::raw`]
//! alike: the vendor's headers, the rate limiter, every attempt with its timeout, the bounded
//! body read, the retry decision and its wait, and the call's tracing span.
//!
//! progenitor's generated `send()` builds and serializes the request once, then calls the
//! `pre` hook and `exec`. `pre` waits for the first attempt's rate-limit slot, since only
//! it can end a call with an error of its own when the deadline passes first. `exec` sends
//! the request, and for each retry a clone of it (`reqwest::Request::try_clone`: the body is
//! the serialized bytes, shared, not serialized again).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::header::{HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};
use tokio::time::Instant;
use tracing::Instrument;

use crate::config::ClientConfig;
use crate::error::LastResponse;
use crate::generated;
use crate::reliability::{
    AttemptOutcome, Idempotency, Operation, Permit, RetryDecision, decide, parse_retry_after,
};

/// The header the Console API reads the key from.
pub(crate) const API_KEY_HEADER: HeaderName = HeaderName::from_static("statsig-api-key");
/// The header that pins the Console API's behaviour to the version this crate was written for.
pub(crate) const API_VERSION_HEADER: HeaderName = HeaderName::from_static("statsig-api-version");
/// The API version this crate speaks; the spec's `info.version`.
pub const API_VERSION: &str = "20240601";
/// The response header whose value the tracing span records as `request_id`.
const REQUEST_ID: &str = "x-request-id";
/// What `pre` answers when the deadline passes before a rate-limit slot is free.
const NO_SLOT_BEFORE_DEADLINE: &str =
    "the call's deadline passed while waiting for a rate-limit slot; nothing was sent";

tokio::task_local! {
    /// The last response of the facade call running on this task. progenitor drops the status
    /// of a body that does not decode, so the facade reads it here to build its error.
    static LAST_RESPONSE: RefCell<Option<LastResponse>>;
}

/// Runs one call of the generated client and returns, with its result, the last response the
/// transport read for it. Not an `async fn`: each async layer would store the whole generated
/// call future again (measured: 4× its size with 64 calls in flight).
pub(crate) fn recording_last_response<F: Future>(
    call: F,
) -> impl Future<Output = (F::Output, Option<LastResponse>)> {
    LAST_RESPONSE.scope(RefCell::new(None), TakeLastResponse { call })
}

pin_project_lite::pin_project! {
    /// `call`, then the recorded last response. A hand-written future rather than an `async`
    /// block, which would hold `call` twice (once captured, once awaited).
    struct TakeLastResponse<F> {
        #[pin]
        call: F,
    }
}

impl<F: Future> Future for TakeLastResponse<F> {
    type Output = (F::Output, Option<LastResponse>);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let output = std::task::ready!(self.project().call.poll(cx));
        let last = LAST_RESPONSE
            .try_with(|cell| cell.borrow_mut().take())
            .ok()
            .flatten();
        Poll::Ready((output, last))
    }
}

fn record_last_response(response: Option<LastResponse>) {
    // Calls through `Client::raw()` run outside a recording scope; nothing reads it then.
    let _ = LAST_RESPONSE.try_with(|cell| *cell.borrow_mut() = response);
}

impl ClientHooks<ClientConfig> for generated::Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        let config = self.inner();
        let deadline = Instant::now() + config.call_timeout;
        if let Some(limiter) = &config.limiter {
            let Some(permit) = limiter.acquire_until(deadline).await else {
                return Err(progenitor_client::Error::Custom(
                    NO_SLOT_BEFORE_DEADLINE.to_string(),
                ));
            };
            permit.hand_over();
        }
        // What is left of the call's deadline travels to `exec` as the request's timeout;
        // `exec` then gives each attempt its own timeout within it.
        *request.timeout_mut() = Some(deadline.saturating_duration_since(Instant::now()));
        let headers = request.headers_mut();
        headers.insert(API_KEY_HEADER, config.api_key.header().clone());
        headers.insert(API_VERSION_HEADER, HeaderValue::from_static(API_VERSION));
        headers.insert(USER_AGENT, config.user_agent.clone());
        Ok(())
    }

    async fn exec(
        &self,
        mut request: reqwest::Request,
        info: &OperationInfo,
    ) -> reqwest::Result<reqwest::Response> {
        let config = self.inner();
        // The slot `pre` handed over is claimed first, before any await, so it cannot leak.
        let mut permit = config
            .limiter
            .as_ref()
            .map(|limiter| limiter.claim_handed_over());
        let operation = Operation::by_generated_name(info.operation_id);
        let span = tracing::info_span!(
            "statsig_console.call",
            operation_id = operation.map_or(info.operation_id, |o| o.operation_id),
            method = %request.method(),
            path_template = operation.map_or("", |o| o.path_template),
            attempt = tracing::field::Empty,
            status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
            request_id = tracing::field::Empty,
        );
        let idempotency = operation.map_or(Idempotency::NotIdempotent, |o| o.idempotency);
        let started = Instant::now();
        let deadline = started + request.timeout().copied().unwrap_or(config.call_timeout);
        // An attempt that may be retried is preceded by a copy of the request for the next one
        // (the URL and headers copied, the serialized body shared); a body that cannot be copied
        // (a stream) gets no retry. There is one send site, and the request is held here only:
        // each async layer holding a request of its own would add to every call's future.
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            span.record("attempt", attempt);
            let next_request = if attempt <= config.retry.max_retries {
                request.try_clone()
            } else {
                None
            };
            *request.timeout_mut() = Some(attempt_timeout(config, deadline));
            let result = send_once(self, config, request)
                .instrument(span.clone())
                .await;
            drop(permit.take());
            let outcome = observe(&span, started, &result);
            let wait = match decide(&config.retry, idempotency, outcome, attempt) {
                RetryDecision::Return => return result,
                RetryDecision::Retry(wait) => wait.duration(),
            };
            let Some(next_request) = next_request else {
                return result;
            };
            // A retry that cannot start before the deadline is not made: the last answer says
            // more than a deadline error would.
            let retry_at = Instant::now() + wait;
            if retry_at >= deadline {
                return result;
            }
            tracing::debug!(parent: &span, attempt, ?outcome, wait_ms = wait.as_millis() as u64, "retrying");
            // Boxed: the timer and limiter wait are rare, and every call's future would
            // otherwise carry their state.
            match Box::pin(wait_for_retry(config, retry_at, deadline)).await {
                Ok(next_permit) => permit = next_permit,
                Err(()) => return result,
            }
            request = next_request;
        }
    }
}

/// One attempt's timeout: the configured one, shortened to what is left of the deadline.
fn attempt_timeout(config: &ClientConfig, deadline: Instant) -> std::time::Duration {
    config
        .timeout
        .min(deadline.saturating_duration_since(Instant::now()))
}

/// Records an attempt's result on the call's span and says what it came to.
fn observe(
    span: &tracing::Span,
    started: Instant,
    result: &reqwest::Result<reqwest::Response>,
) -> AttemptOutcome {
    span.record("duration_ms", started.elapsed().as_millis() as u64);
    match result {
        Ok(response) => {
            span.record("status", response.status().as_u16());
            AttemptOutcome::Answered {
                status: response.status(),
                retry_after: response
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(parse_retry_after),
            }
        }
        Err(error) if error.is_connect() => AttemptOutcome::ConnectFailed,
        Err(_) => AttemptOutcome::NoAnswer,
    }
}

/// Sends one attempt and reads its body (see [`buffer_body`]).
async fn send_once(
    client: &generated::Client,
    config: &ClientConfig,
    request: reqwest::Request,
) -> reqwest::Result<reqwest::Response> {
    trace_request(config, &request);
    record_last_response(None);
    match client.client().execute(request).await {
        Ok(response) => buffer_body(config, response).await,
        Err(error) => Err(error),
    }
}

/// Sleeps until `retry_at`, then waits for a rate-limit slot until `deadline` (`Err` if none).
async fn wait_for_retry(
    config: &ClientConfig,
    retry_at: Instant,
    deadline: Instant,
) -> Result<Option<Permit>, ()> {
    tokio::time::sleep_until(retry_at).await;
    match &config.limiter {
        Some(limiter) => limiter.acquire_until(deadline).await.map(Some).ok_or(()),
        None => Ok(None),
    }
}

/// Reads the body up to the limit so that errors can quote it and keep the status; the
/// generated code then decodes the buffered copy.
async fn buffer_body(
    config: &ClientConfig,
    mut response: reqwest::Response,
) -> reqwest::Result<reqwest::Response> {
    let status = response.status();
    // The status alone first, so a failure while reading the body still reports it.
    record_last_response(Some(LastResponse {
        status,
        retry_after: None,
        body: Bytes::new(),
        truncated: false,
    }));
    if let Some(id) = response
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
    {
        tracing::Span::current().record("request_id", id);
    }
    let (body, truncated) = read_body(&mut response, config.max_response_bytes).await?;
    tracing::trace!(
        status = status.as_u16(),
        truncated,
        body = %config.api_key.redact(String::from_utf8_lossy(&body).into_owned()),
        "response body"
    );
    record_last_response(Some(LastResponse {
        status,
        retry_after: response
            .headers()
            .get(RETRY_AFTER)
            .and_then(parse_retry_after),
        body: body.clone(),
        truncated,
    }));
    // reqwest has no way to cap a body it hands on, so the buffered body goes back into a
    // response of the same status, headers and version for the generated code to decode.
    let version = response.version();
    let headers = std::mem::take(response.headers_mut());
    let mut rebuilt = http::Response::new(body);
    *rebuilt.status_mut() = status;
    *rebuilt.headers_mut() = headers;
    *rebuilt.version_mut() = version;
    Ok(reqwest::Response::from(rebuilt))
}

fn trace_request(config: &ClientConfig, request: &reqwest::Request) {
    if tracing::enabled!(tracing::Level::TRACE) {
        let body = request
            .body()
            .and_then(reqwest::Body::as_bytes)
            .unwrap_or_default();
        tracing::trace!(
            method = %request.method(),
            url = %request.url(),
            body = %config.api_key.redact(String::from_utf8_lossy(body).into_owned()),
            "request"
        );
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
