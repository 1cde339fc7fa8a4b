//! The fake's HTTP side: accept loop, routing, auth, rate limits, faults.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body::{Body, Frame};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::{Duration, Instant};

use crate::schema::Spec;

/// The header the Console API reads the key from.
const API_KEY_HEADER: header::HeaderName = header::HeaderName::from_static("statsig-api-key");
use crate::state::{Refusal, State};
use crate::{Fault, FaultAction, MockOperation, RecordedRequest};
use statsig_console::RateLimit;
use statsig_console::types::{
    CreateTeamResponse, ExperimentOverrides, ExperimentOverridesResponse, TeamCreate,
};

/// The largest request body the fake reads; bigger ones are refused with 413.
const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

pub(super) struct Shared {
    pub(super) spec: Spec,
    /// Each accepted key with the project whose quota it counts against.
    pub(super) api_keys: Vec<(String, String)>,
    pub(super) state: Mutex<State>,
    pub(super) journal: Mutex<Vec<RecordedRequest>>,
    pub(super) faults: Mutex<VecDeque<Fault>>,
    pub(super) limiter: Mutex<Limiter>,
    /// Whether a 429 says when to retry (`Retry-After`).
    pub(super) retry_after_on_429: bool,
    /// Attempts the rate limits rejected (answered 429) so far.
    pub(super) throttled: std::sync::atomic::AtomicUsize,
}

impl Shared {
    pub(super) fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }
}

/// The fake's data behind `mutex`, even after a panic while it was held: a test that panicked
/// mid-request must not turn every later request and assertion into a second panic.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Sliding-window logs of every attempt, per project: as the vendor counts, a rejected attempt
/// counts toward the windows too.
pub(super) struct Limiter {
    limits: RateLimit,
    history: HashMap<String, VecDeque<Instant>>,
}

impl Limiter {
    pub(super) fn new(limits: RateLimit) -> Self {
        Self {
            limits,
            history: HashMap::new(),
        }
    }

    pub(super) fn limits(&self) -> &RateLimit {
        &self.limits
    }

    pub(super) fn set_limits(&mut self, limits: RateLimit) {
        self.limits = limits;
    }

    /// Records an attempt on `project`'s windows, and admits it or says how long until a
    /// window would have room (for an attempt that waits and sends nothing in between).
    fn admit(&mut self, project: &str, now: Instant) -> Result<(), Duration> {
        let Some(longest) = self
            .limits
            .windows()
            .iter()
            .map(|(_, period)| *period)
            .max()
        else {
            return Ok(());
        };
        let log = self.history.entry(project.to_string()).or_default();
        while log
            .front()
            .is_some_and(|t| now.duration_since(*t) >= longest)
        {
            log.pop_front();
        }
        let mut wait = Duration::ZERO;
        for (limit, period) in self.limits.windows() {
            let in_window: Vec<&Instant> = log
                .iter()
                .filter(|t| now.duration_since(**t) < *period)
                .collect();
            if in_window.len() >= *limit as usize {
                // The window frees a slot when its oldest counted request ages out.
                let index = in_window.len() - *limit as usize;
                let frees_at = *in_window[index] + *period;
                wait = wait.max(frees_at.saturating_duration_since(now));
            }
        }
        log.push_back(now);
        if wait > Duration::ZERO {
            return Err(wait);
        }
        Ok(())
    }
}

pub(super) async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let shared = Arc::clone(&shared);
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |request| handle(Arc::clone(&shared), request));
                    // Errors here are the client going away or a scripted drop: nothing to do.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

/// A scripted drop: returning an error makes hyper close the connection without answering.
#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by a scripted fault")
    }
}

impl std::error::Error for DropConnection {}

/// A response body that is either whole or cut short with an error (which aborts the connection).
pub(super) struct MockBody {
    data: Option<Bytes>,
    /// When set, the body fails once this timer fires: the pause lets hyper flush the head and
    /// the partial data first, so the client sees a cut body rather than no answer.
    fail_after: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for MockBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        if let Some(timer) = self.fail_after.as_mut() {
            if timer.as_mut().poll(context).is_pending() {
                return Poll::Pending;
            }
            self.fail_after = None;
            return Poll::Ready(Some(Err(std::io::Error::other(
                "body truncated by a scripted fault",
            ))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.fail_after.is_none()
    }
}

fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response<MockBody> {
    let bytes = serde_json::to_vec(body)
        .map(Bytes::from)
        .unwrap_or_default();
    let mut response = Response::new(MockBody {
        data: Some(bytes),
        fail_after: None,
    });
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error_response(status: StatusCode, message: &str) -> Response<MockBody> {
    json_response(
        status,
        &json!({"status": status.as_u16(), "message": message}),
    )
}

/// The spec's operations, by path shape.
enum Route {
    Overrides { experiment_id: String },
    Teams,
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        let segments: Vec<&str> = path.split('/').collect();
        match segments.as_slice() {
            ["", "console", "v1", "experiments", id, "overrides"] => {
                let experiment_id = percent_encoding::percent_decode_str(id)
                    .decode_utf8()
                    .ok()?
                    .into_owned();
                Some(Route::Overrides { experiment_id })
            }
            ["", "console", "v1", "users", "teams"] => Some(Route::Teams),
            _ => None,
        }
    }

    /// The method the spec declares on the path; `'static`, so that its name is too (for
    /// the `Allow` header).
    fn method(&self) -> &'static Method {
        static PATCH: Method = Method::PATCH;
        static POST: Method = Method::POST;
        match self {
            Route::Overrides { .. } => &PATCH,
            Route::Teams => &POST,
        }
    }

    fn operation(&self) -> MockOperation {
        match self {
            Route::Overrides { .. } => MockOperation::PatchExperimentOverrides,
            Route::Teams => MockOperation::CreateTeam,
        }
    }

    /// The spec's `operationId`, whose request schema the body is checked against.
    fn operation_id(&self) -> &'static str {
        match self {
            Route::Overrides { .. } => "patchExperimentOverrides",
            Route::Teams => "createTeam",
        }
    }
}

async fn handle(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> Result<Response<MockBody>, DropConnection> {
    let (parts, body) = request.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_REQUEST_BYTES)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Invalid request: the body is too large or was cut off.",
            ));
        }
    };
    let mut recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = if *name == API_KEY_HEADER {
                    "[REDACTED]".to_string()
                } else {
                    String::from_utf8_lossy(value.as_bytes()).into_owned()
                };
                (name.as_str().to_string(), value)
            })
            .collect(),
        body: body.clone(),
        status: None,
    };
    let record = |recorded: RecordedRequest| {
        lock(&shared.journal).push(recorded);
    };

    let route = Route::parse(parts.uri.path());
    let operation = route.as_ref().map_or(MockOperation::Any, Route::operation);
    let fault = take_fault(&shared, operation, &parts.method, route.as_ref());

    let (delay, truncate) = match fault {
        Some(FaultAction::Respond {
            status,
            headers,
            body,
        }) => {
            let response = scripted_response(status, headers, body);
            recorded.status = Some(response.status().as_u16());
            record(recorded);
            return Ok(response);
        }
        Some(FaultAction::DropConnection) => {
            record(recorded);
            return Err(DropConnection);
        }
        Some(FaultAction::Delay(delay)) => (Some(delay), false),
        Some(FaultAction::TruncateBody) => (None, true),
        None => (None, false),
    };

    let mut response = answer(&shared, &parts, route, &body);
    recorded.status = Some(response.status().as_u16());
    record(recorded);
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    if truncate {
        let full = response.body_mut().data.take().unwrap_or_default();
        response.headers_mut().insert(
            header::CONTENT_LENGTH,
            header::HeaderValue::from(full.len()),
        );
        let body = response.body_mut();
        body.data = Some(full.slice(..full.len() / 2));
        body.fail_after = Some(Box::pin(tokio::time::sleep(Duration::from_millis(50))));
    }
    Ok(response)
}

fn take_fault(
    shared: &Shared,
    operation: MockOperation,
    method: &Method,
    route: Option<&Route>,
) -> Option<FaultAction> {
    let mut faults = lock(&shared.faults);
    let matches = |fault: &Fault| {
        fault.times > 0
            && (fault.operation == MockOperation::Any
                || (fault.operation == operation && route.is_some_and(|r| r.method() == method)))
    };
    let index = faults.iter().position(matches)?;
    let fault = &mut faults[index];
    if fault.after > 0 {
        fault.after -= 1;
        return None;
    }
    fault.times -= 1;
    let action = fault.action.clone();
    if fault.times == 0 {
        faults.remove(index);
    }
    Some(action)
}

fn scripted_response(
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
) -> Response<MockBody> {
    let mut response = Response::new(MockBody {
        data: Some(body),
        fail_after: None,
    });
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut has_content_type = false;
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::try_from(name.as_str()),
            header::HeaderValue::try_from(value.as_str()),
        ) {
            has_content_type |= name == header::CONTENT_TYPE;
            response.headers_mut().append(name, value);
        }
    }
    if !has_content_type {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("application/json"),
        );
    }
    response
}

fn answer(
    shared: &Shared,
    parts: &http::request::Parts,
    route: Option<Route>,
    body: &Bytes,
) -> Response<MockBody> {
    let Some(route) = route else {
        return error_response(
            StatusCode::NOT_FOUND,
            "Not Found. The requested resource could not be found.",
        );
    };
    if parts.method != *route.method() {
        let mut response = error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "Method {} is not allowed here; use {}.",
                parts.method,
                route.method()
            ),
        );
        response.headers_mut().insert(
            header::ALLOW,
            header::HeaderValue::from_static(route.method().as_str()),
        );
        return response;
    }
    let project = match authorize(shared, &parts.headers) {
        Ok(project) => project,
        Err(message) => return error_response(StatusCode::UNAUTHORIZED, &message),
    };
    let admitted = lock(&shared.limiter).admit(project, Instant::now());
    if let Err(wait) = admitted {
        shared
            .throttled
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = error_response(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many requests. Please retry after {seconds} seconds."),
        );
        if shared.retry_after_on_429 {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(seconds));
        }
        return response;
    }
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        });
    if !is_json {
        return invalid("Content-Type must be application/json");
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        Err(e) => return invalid(&format!("the body is not valid JSON ({e})")),
    };
    let checked = shared.spec.check(route.operation_id(), &value);
    if let Err(problem) = checked {
        return invalid(&problem);
    }
    match route {
        Route::Overrides { experiment_id } => perform(
            value,
            |update: &ExperimentOverrides| {
                shared.lock_state().patch_overrides(&experiment_id, update)
            },
            |data| ExperimentOverridesResponse {
                message: "Experiment overrides updated successfully.".into(),
                data,
            },
        ),
        Route::Teams => perform(
            value,
            |team: &TeamCreate| shared.lock_state().create_team(team),
            |data| CreateTeamResponse {
                message: "Team created successfully.".into(),
                data,
            },
        ),
    }
}

/// Decodes a schema-checked body into the generated request type, applies it to the state,
/// and answers 200 with the typed `{message, data}` envelope (or the refusal).
fn perform<Request, Data, Answer>(
    body: Value,
    apply: impl FnOnce(&Request) -> Result<Data, Refusal>,
    envelope: impl FnOnce(Data) -> Answer,
) -> Response<MockBody>
where
    Request: serde::de::DeserializeOwned,
    Answer: serde::Serialize,
{
    let request: Request = match serde_json::from_value(body) {
        Ok(request) => request,
        Err(e) => return invalid(&e.to_string()),
    };
    match apply(&request) {
        Ok(data) => json_response(StatusCode::OK, &envelope(data)),
        Err(refusal) => refusal_response(refusal),
    }
}

/// A 400 for a request whose shape breaks the spec (the prefix tells it from semantic refusals).
fn invalid(problem: &str) -> Response<MockBody> {
    error_response(
        StatusCode::BAD_REQUEST,
        &format!("Invalid request: {problem}."),
    )
}

fn refusal_response(refusal: Refusal) -> Response<MockBody> {
    match refusal {
        Refusal::NotFound(message) => error_response(StatusCode::NOT_FOUND, &message),
        Refusal::BadRequest(message) => error_response(StatusCode::BAD_REQUEST, &message),
    }
}

/// The project of the accepted key, or the vendor's 401 message.
fn authorize<'a>(shared: &'a Shared, headers: &http::HeaderMap) -> Result<&'a str, String> {
    let sent = headers
        .get(API_KEY_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let project = |key: &str| {
        shared
            .api_keys
            .iter()
            .find(|(accepted, _)| accepted == key)
            .map(|(_, project)| project.as_str())
    };
    match sent {
        Some(key) if !key.starts_with("client-") && !key.starts_with("secret-") && project(&key).is_some() => {
            Ok(project(&key).unwrap_or_default())
        }
        Some(key) => Err(format!(
            "This endpoint only accepts an active CONSOLE key, but an invalid key was sent. Key: {key}"
        )),
        None => Err(
            "This endpoint only accepts an active CONSOLE key, but no key was sent in the STATSIG-API-KEY header."
                .to_string(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_waits_for_the_oldest_request_in_the_full_window() {
        let mut limiter = Limiter::new(
            RateLimit::new()
                .window(2, Duration::from_secs(10))
                .window(5, Duration::from_secs(60)),
        );
        let start = Instant::now();
        assert!(limiter.admit("p", start).is_ok());
        assert!(limiter.admit("p", start + Duration::from_secs(1)).is_ok());
        assert_eq!(
            limiter.admit("p", start + Duration::from_secs(2)),
            Err(Duration::from_secs(8))
        );
        // The rejected attempt at 2 s counts too: at 10.5 s the window still holds two.
        assert_eq!(
            limiter.admit("p", start + Duration::from_millis(10_500)),
            Err(Duration::from_millis(500))
        );
        assert!(limiter.admit("p", start + Duration::from_secs(12)).is_ok());
        // Five attempts in the minute now: the long window binds until the first ages out.
        assert_eq!(
            limiter.admit("p", start + Duration::from_secs(21)),
            Err(Duration::from_secs(39))
        );
        assert!(
            limiter
                .admit("other project", start + Duration::from_secs(21))
                .is_ok()
        );
    }
}
