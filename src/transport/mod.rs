//! What runs under the generated client on every call, for the facade and [`crate::raw`]
//! alike: the vendor's headers, the rate limiter, every attempt with its timeout, the bounded
//! body read, the retry decision and its wait, and the call's tracing span.
//!
//! progenitor's generated `send()` builds and serializes the request once, then calls the
//! `pre` hook and `exec`. `pre` waits for the first attempt's rate-limit slot, since only
//! it can end a call with an error of its own when the deadline passes first. `exec` sends
//! the request, and for each retry the same request again, rebuilt from its parts (see
//! [`resend`]: the body is the serialized bytes, shared, not serialized again).

mod resend;

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use progenitor_client::{ClientHooks, ClientInfo, OperationInfo};
use reqwest::ResponseBuilderExt as _;
use reqwest::header::{HeaderName, RETRY_AFTER};
use tokio::time::Instant;
use tracing::Instrument;

use self::resend::Resend;
use crate::config::ClientConfig;
use crate::error::LastResponse;
use crate::generated;
use crate::operations::{Idempotency, Operation};
use crate::reliability::{
    AttemptOutcome, Limiter, Permit, RetryCounts, RetryDecision, Throttling, decide,
    parse_retry_after,
};

/// The response header whose value the tracing span records as `request_id`. A `HeaderName`
/// rather than a `&str`, which the lookup would parse again on every response.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// What `pre` answers when the deadline passes before a rate-limit slot is free.
const NO_SLOT_BEFORE_DEADLINE: &str =
    "the call's deadline passed while waiting for a rate-limit slot; nothing was sent";

// A scoped thread-local rather than tokio's `task_local!`: that one moves its value into the
// thread-local and back out on every poll (two copies of the record per poll, most of the
// facade's extra copying), where a scoped one points at the record for the poll's duration.
scoped_tls::scoped_thread_local! {
    /// The record of the facade call being polled on this thread (see [`CallRecord`]).
    static CALL_RECORD: RefCell<CallRecord>
}

/// What the transport records for a facade call, and what the call asks of it beyond a plain
/// request. The call's future holds it, and the hooks reach it while that future is polled:
/// the generated code between the facade and the hooks has no room for it.
#[derive(Debug, Default)]
pub(crate) struct CallRecord {
    /// The last response read for the call. progenitor drops the status of a body that does
    /// not decode, so the facade builds its error from this.
    pub(crate) last_response: Option<LastResponse>,
    /// A rate-limit slot the caller already holds for the first attempt. Large updates pace
    /// themselves this way, so that the call's deadline does not run while they wait.
    reserved_slot: Option<Permit>,
    /// A success answer's body is read to its end and dropped instead of decoded.
    discard_success_body: bool,
    /// Set when a success answer was discarded as asked; the generated call then ends with
    /// `ANSWER_DISCARDED`, and the facade reads this instead.
    pub(crate) answer_discarded: bool,
    /// The call is only to say where it would go: `pre` records that and sends nothing.
    describe_only: bool,
    /// Where the call would go, when `describe_only` asked. Boxed: every call's future holds
    /// the record, and only dry runs fill this.
    pub(crate) described: Option<Box<RequestTarget>>,
}

/// The method and exact URL of a request, as the generated client builds it for sending
/// (path parameters percent-encoded): what a dry run shows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestTarget {
    /// The HTTP method.
    pub method: reqwest::Method,
    /// The URL, exactly as it would go on the wire.
    pub url: reqwest::Url,
}

impl std::fmt::Display for RequestTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.url)
    }
}

impl CallRecord {
    /// A call whose first attempt uses `reserved_slot` and whose success answer is only
    /// checked for its status, not decoded (or decoded, with `discard_success_body` false).
    pub(crate) fn paced(reserved_slot: Option<Permit>, discard_success_body: bool) -> Self {
        Self {
            reserved_slot,
            discard_success_body,
            ..Self::default()
        }
    }

    /// A call that only records where it would go ([`CallRecord::described`]), sending
    /// nothing and taking no rate-limit slot.
    pub(crate) fn describing() -> Self {
        Self {
            describe_only: true,
            ..Self::default()
        }
    }
}

/// What the `pre` hook ends a call with that was only to be described.
const DESCRIBED_ONLY: &str = "the call was only described, not sent";

/// What the `post` hook ends a call with whose success answer was discarded on request.
const ANSWER_DISCARDED: &str = "the success answer was discarded as the caller asked";

/// Runs a facade call: `call`, a call of the generated client, with a record of the last
/// response the transport read for it, then `finish` of its output and that record. A call
/// `refused` before sending completes with the refusal, and `call` is never polled.
///
/// A hand-written future rather than an `async` block or `fn`: those would hold their captured
/// arguments beside the futures they await, so the generated call's future (most of a call's
/// size, and allocated with every call spawned) would be stored twice.
pub(crate) fn record_call<F, Finish, T, E>(
    record: CallRecord,
    call: F,
    refused: Option<E>,
    finish: Finish,
) -> RecordedCall<F, Finish, E>
where
    F: Future,
    Finish: Fn(F::Output, CallRecord) -> Result<T, E>,
{
    RecordedCall {
        call,
        record: RefCell::new(record),
        may_send: refused.is_none(),
        // Boxed: refusals are rare, and every call's future would otherwise hold room for one.
        refused: refused.map(Box::new),
        finish,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`record_call`].
    pub(crate) struct RecordedCall<F: Future, Finish, E> {
        #[pin]
        call: F,
        record: RefCell<CallRecord>,
        may_send: bool,
        refused: Option<Box<E>>,
        finish: Finish,
    }
}

impl<F, Finish, T, E> Future for RecordedCall<F, Finish, E>
where
    F: Future,
    Finish: Fn(F::Output, CallRecord) -> Result<T, E>,
{
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if !*this.may_send {
            // Polled again after the refusal: still nothing to send.
            return this
                .refused
                .take()
                .map_or(Poll::Pending, |refusal| Poll::Ready(Err(*refusal)));
        }
        let output =
            std::task::ready!(CALL_RECORD.set(this.record, || this.call.as_mut().poll(cx)));
        Poll::Ready((this.finish)(output, this.record.take()))
    }
}

/// Runs `f` on the record of the facade call being polled, if one is: calls through
/// `Client::raw()` have none, and nothing reads a record for them.
fn with_call_record<T>(f: impl FnOnce(&mut CallRecord) -> T) -> Option<T> {
    if !CALL_RECORD.is_set() {
        return None;
    }
    // A hook never runs inside another hook's use of the record, so it is never borrowed here.
    CALL_RECORD.with(|cell| cell.try_borrow_mut().ok().map(|mut record| f(&mut record)))
}

/// Records `response` for the facade call being polled; `false` outside one.
fn record_last_response(response: Option<LastResponse>) -> bool {
    with_call_record(|record| record.last_response = response).is_some()
}

/// What `pre` is to do for the facade call being polled: send it, with the rate-limit slot
/// it reserved if it did, or only describe it (`None`: the target is recorded).
fn prepare(request: &reqwest::Request) -> Option<Option<Permit>> {
    with_call_record(|record| {
        if record.describe_only {
            record.described = Some(Box::new(RequestTarget {
                method: request.method().clone(),
                url: request.url().clone(),
            }));
            return None;
        }
        Some(record.reserved_slot.take())
    })
    .unwrap_or(Some(None))
}

/// Whether the facade call being polled asked for success bodies to be discarded.
fn discards_success_body() -> bool {
    with_call_record(|record| record.discard_success_body).unwrap_or(false)
}

/// Marks the success answer of the call being polled as discarded, when it asked for that;
/// `false` otherwise.
fn mark_answer_discarded() -> bool {
    with_call_record(|record| {
        record.answer_discarded = record.discard_success_body;
        record.answer_discarded
    })
    .unwrap_or(false)
}

impl ClientHooks<ClientConfig> for generated::Client {
    async fn pre<E>(
        &self,
        request: &mut reqwest::Request,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        let config = self.inner();
        let Some(reserved_slot) = prepare(request) else {
            return Err(progenitor_client::Error::Custom(DESCRIBED_ONLY.to_string()));
        };
        if let Some(limiter) = &config.limiter {
            let permit = match reserved_slot.or_else(|| limiter.try_acquire_now()) {
                Some(permit) => permit,
                None => {
                    let started = Instant::now();
                    let deadline = started + config.call_timeout;
                    let Some(permit) = limiter.acquire_until(deadline).await else {
                        return Err(progenitor_client::Error::Custom(
                            NO_SLOT_BEFORE_DEADLINE.to_string(),
                        ));
                    };
                    // The wait used part of the call's deadline: what is left travels to
                    // `exec` as the request's timeout. Without a wait `exec` starts the
                    // deadline itself, and the request carries no timeout of its own (setting
                    // one allocates reqwest's per-request settings, on every call).
                    *request.timeout_mut() =
                        Some(deadline.saturating_duration_since(Instant::now()));
                    permit
                }
            };
            permit.hand_over();
        }
        // The HTTP client this crate builds sends them as its default headers.
        if !config.http_built_here {
            request.headers_mut().extend(config.vendor_headers());
        }
        Ok(())
    }

    async fn post<E>(
        &self,
        result: &reqwest::Result<reqwest::Response>,
        _info: &OperationInfo,
    ) -> Result<(), progenitor_client::Error<E>> {
        // The one way a hook can keep the generated code from decoding an answer: end the call
        // here. The facade reads `CallRecord::answer_discarded`, not this error.
        if let Ok(response) = result
            && response.status().is_success()
            && mark_answer_discarded()
        {
            return Err(progenitor_client::Error::Custom(
                ANSWER_DISCARDED.to_string(),
            ));
        }
        Ok(())
    }

    // Not an `async fn`: its arguments would stay in every call's future beside what it works
    // on. The first attempt starts here, before the future exists, so that the future holds
    // the attempt in flight and never the request (see `begin_call` for why nothing in the
    // future borrows a request).
    fn exec(
        &self,
        request: reqwest::Request,
        info: &OperationInfo,
    ) -> impl Future<Output = reqwest::Result<reqwest::Response>> {
        let config = self.inner();
        // The slot `pre` handed over is claimed first, before any await, so it cannot leak.
        let mut permit = config
            .limiter
            .as_ref()
            .and_then(|_| Limiter::claim_handed_over());
        // With a limiter, a throttled call's retries wait for the limiter's probes; without
        // one, each waits its own backoff.
        let throttling = if config.limiter.is_some() {
            Throttling::Paced
        } else {
            Throttling::Unpaced
        };
        let started = Instant::now();
        let (mut request, call) = begin_call(config, info, request, started);
        let mut counts = RetryCounts::default();
        // What retries resend, kept before the first attempt when a retry may follow it. An
        // HTTP client passed in may follow redirects: its retries keep the first URL.
        let mut resend = counts
            .may_retry(&config.retry)
            .then(|| Resend::of(&mut request, !config.http_built_here))
            .flatten();
        let mut attempt: u32 = 1;
        // The first attempt starts with the call: one clock read serves both.
        let mut sent_at = started;
        let mut sending = start_attempt(self, config, request, &call, attempt, sent_at);
        async move {
            loop {
                let (result, retry_after) = answer(config, &call.span, &mut sending).await;
                let outcome = observe(&call.span, started, &result, retry_after);
                if let Some(limiter) = &config.limiter {
                    limiter.observe(outcome, sent_at);
                }
                // The attempt keeps its place in the windows from now on, whatever its answer.
                drop(permit.take());
                counts.record(outcome);
                let wait =
                    match decide(&config.retry, call.idempotency, outcome, counts, throttling) {
                        RetryDecision::Return => return result,
                        RetryDecision::Retry(wait) => wait.duration(),
                    };
                if !resend
                    .as_mut()
                    .is_some_and(|resend| resend.learn_url(&result))
                {
                    return result;
                }
                // A retry that cannot start before the deadline is not made: the last answer
                // says more than a deadline error would.
                let retry_at = Instant::now() + wait;
                if retry_at >= call.deadline {
                    return result;
                }
                tracing::debug!(parent: &call.span, attempt, ?outcome, wait_ms = wait.as_millis() as u64, "retrying");
                // Boxed: the timer and limiter wait are rare, and every call's future would
                // otherwise carry their state.
                match Box::pin(wait_for_retry(config, retry_at, call.deadline)).await {
                    Ok(next_permit) => permit = next_permit,
                    Err(()) => return result,
                }
                // Built only now, so that the call's future never holds a request while it
                // waits.
                let Some(request) = resend.as_ref().and_then(Resend::request) else {
                    return result;
                };
                attempt += 1;
                sent_at = Instant::now();
                sending = start_attempt(self, config, request, &call, attempt, sent_at);
            }
        }
    }
}

/// What `exec` knows of a call before its first attempt.
struct Call {
    span: tracing::Span,
    idempotency: Idempotency,
    deadline: Instant,
}

/// Describes the call `request` starts, and hands the request back.
///
/// A function of its own, taking the request by value, so that `exec` never borrows its
/// request: a borrowed local keeps its place in every call's future across every await, even
/// after it was moved (rustc's generator layout is conservative about borrowed locals).
fn begin_call(
    config: &ClientConfig,
    info: &OperationInfo,
    request: reqwest::Request,
    started: Instant,
) -> (reqwest::Request, Call) {
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
    // `pre` leaves a timeout on the request only when its wait for the limiter used part of
    // the call's deadline; otherwise the deadline starts now.
    let deadline = started + request.timeout().copied().unwrap_or(config.call_timeout);
    let call = Call {
        span,
        idempotency: operation.map_or(Idempotency::NotIdempotent, |o| o.idempotency),
        deadline,
    };
    (request, call)
}

/// Waits for an attempt's response and reads its body (see [`buffer_body`]): the answer and
/// its `Retry-After`. An `async fn` of its own so that `exec`'s future holds one of these at a
/// time, not also the finished send's result beside the body read (rustc keeps a `match`
/// scrutinee's room for the whole `match`).
async fn answer(
    config: &ClientConfig,
    span: &tracing::Span,
    sending: &mut (impl Future<Output = reqwest::Result<reqwest::Response>> + Unpin),
) -> (
    reqwest::Result<reqwest::Response>,
    Option<std::time::Duration>,
) {
    let response = match sending.await {
        Ok(response) => response,
        Err(error) => return (Err(error), None),
    };
    match buffer_body(config, span, response).await {
        Ok((response, retry_after)) => (Ok(response), retry_after),
        Err(error) => (Err(error), None),
    }
}

/// Starts attempt number `attempt` at `now`: records the number on the call's span, sends
/// `request` and returns its response future. Takes the request by value for the reason given
/// at [`begin_call`]. The future is `Unpin` (reqwest boxes its own), so the call's future
/// keeps one in place and awaits it by reference, without moving it into each wait for an
/// answer.
fn start_attempt(
    client: &generated::Client,
    config: &ClientConfig,
    mut request: reqwest::Request,
    call: &Call,
    attempt: u32,
    now: Instant,
) -> impl Future<Output = reqwest::Result<reqwest::Response>> + Unpin + use<> {
    call.span.record("attempt", attempt);
    set_attempt_timeout(config, &mut request, call.deadline, now);
    trace_request(config, &request);
    let _ = record_last_response(None);
    client
        .client()
        .execute(request)
        .instrument(call.span.clone())
}

/// Gives the attempt its timeout: the configured one, shortened to what is left of the
/// deadline. When the HTTP client applies the configured timeout itself (the one this crate
/// builds does) and it fits, the request carries none: a per-request timeout costs reqwest an
/// allocation of per-request settings on every attempt.
fn set_attempt_timeout(
    config: &ClientConfig,
    request: &mut reqwest::Request,
    deadline: Instant,
    now: Instant,
) {
    let timeout = config.timeout.min(deadline.saturating_duration_since(now));
    if config.http_built_here && timeout == config.timeout {
        if request.timeout().is_some() {
            *request.timeout_mut() = None;
        }
    } else {
        *request.timeout_mut() = Some(timeout);
    }
}

/// Records an attempt's result on the call's span and says what it came to.
fn observe(
    span: &tracing::Span,
    started: Instant,
    result: &reqwest::Result<reqwest::Response>,
    retry_after: Option<std::time::Duration>,
) -> AttemptOutcome {
    // Without a subscriber that wants the span, the clock read is skipped.
    if !span.is_disabled() {
        span.record("duration_ms", started.elapsed().as_millis() as u64);
    }
    match result {
        Ok(response) => {
            span.record("status", response.status().as_u16());
            AttemptOutcome::Answered {
                status: response.status(),
                retry_after,
            }
        }
        Err(error) if error.is_connect() => AttemptOutcome::ConnectFailed,
        Err(_) => AttemptOutcome::NoAnswer,
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
/// generated code then decodes the buffered copy. Also returns the answer's `Retry-After`,
/// read here once for the retry decision and the call record.
///
/// A `200 OK` whose declared length fits the limit is the exception: it goes to the generated
/// code unread, which reads it with the same bound (hyper stops at `Content-Length`) and the
/// same attempt timeout, and whose decode error carries the body should it not decode. No
/// retry follows a `200` in any case, and handing it on saves copying it into a new response.
/// The one difference: a connection lost in the middle of such a body ends the call with a
/// transport error rather than a retry, as the change was made either way.
///
/// Not an `async fn`, for the reason given at `exec`.
fn buffer_body<'a>(
    config: &'a ClientConfig,
    span: &'a tracing::Span,
    mut response: reqwest::Response,
) -> impl Future<Output = reqwest::Result<(reqwest::Response, Option<std::time::Duration>)>> + 'a {
    let status = response.status();
    // The status alone first, so a failure while reading the body still reports it.
    let facade_call = record_last_response(Some(LastResponse {
        status,
        retry_after: None,
        body: Bytes::new(),
        truncated: false,
    }));
    if let Some(id) = response
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
    {
        span.record("request_id", id);
    }
    // A success answer the caller discards is read to its end, so the connection can be
    // reused, and not kept: its size does not matter, and `max_response_bytes` does not apply.
    let keep_body = !(status.is_success() && discards_success_body());
    let hand_on_unread = keep_body
        && status == reqwest::StatusCode::OK
        && response
            .content_length()
            .is_some_and(|length| length <= config.max_response_bytes as u64)
        && !tracing::enabled!(tracing::Level::TRACE);
    if hand_on_unread && facade_call {
        // A facade call returns only the decoded body; see `rebuild_response`.
        *response.headers_mut() = reqwest::header::HeaderMap::new();
    }
    async move {
        if hand_on_unread {
            return Ok((response, None));
        }
        let read = if keep_body {
            read_body(&mut response, config.max_response_bytes).await
        } else {
            drain_body(&mut response).await
        };
        // reqwest's body errors carry no URL, and a retry takes it from the error.
        let (body, truncated) = read.map_err(|error| error.with_url(response.url().clone()))?;
        tracing::trace!(
            status = status.as_u16(),
            truncated,
            body = %config.api_key.redact(String::from_utf8_lossy(&body).into_owned()),
            "response body"
        );
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(parse_retry_after);
        Ok((
            rebuild_response(response, body, truncated, retry_after),
            retry_after,
        ))
    }
}

/// Records the buffered body as the call's last response, and puts it back into a response of
/// the same status, version and URL for the generated code to decode (reqwest has no way to cap a
/// body it hands on). The headers go with it for calls through [`crate::raw`], which return
/// them; a facade call returns only the decoded body, so its response goes without them and
/// the generated code has none to copy.
fn rebuild_response(
    mut response: reqwest::Response,
    body: Bytes,
    truncated: bool,
    retry_after: Option<std::time::Duration>,
) -> reqwest::Response {
    let status = response.status();
    let recorded = record_last_response(Some(LastResponse {
        status,
        retry_after,
        body: body.clone(),
        truncated,
    }));
    // With the URL it came from (reqwest's conversion would otherwise parse a placeholder):
    // calls through `crate::raw` return it, and a retry takes it (see `Resend::learn_url`).
    let mut rebuilt = http::Response::builder()
        .url(response.url().clone())
        .body(())
        .unwrap_or_default()
        .map(|()| body);
    *rebuilt.status_mut() = status;
    *rebuilt.version_mut() = response.version();
    if !recorded {
        *rebuilt.headers_mut() = std::mem::take(response.headers_mut());
    }
    reqwest::Response::from(rebuilt)
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

/// Reads a body to its end without keeping it: an empty body, not truncated.
async fn drain_body(response: &mut reqwest::Response) -> reqwest::Result<(Bytes, bool)> {
    while response.chunk().await?.is_some() {}
    Ok((Bytes::new(), false))
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
