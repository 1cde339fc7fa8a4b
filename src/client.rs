//! The facade: configuration, the two operations, and error mapping.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};

use crate::error::excerpt;
use crate::generated;
use crate::reliability::{Idempotency, Limiter, RateLimit, RetryPolicy};
use crate::transport::{CallContext, ResponseRecord, Shared};
use crate::types::{ExperimentOverrides, Team, TeamCreate};
use crate::{Error, validate};
use std::future::Future;
use tokio::time::Instant;
use tracing::Instrument;

/// The response header whose value the tracing span records as `request_id`.
pub(crate) const REQUEST_ID: &str = "x-request-id";

/// The production Console API.
pub const DEFAULT_BASE_URL: &str = "https://statsigapi.net";
/// Environment variable [`Client::from_env`] reads the Console API key from.
pub const ENV_API_KEY: &str = "STATSIG_CONSOLE_API_KEY";
/// Environment variable [`Client::from_env`] reads an optional base URL from.
pub const ENV_BASE_URL: &str = "STATSIG_CONSOLE_BASE_URL";
/// Default limit for one attempt, from sending the request to reading the last body byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default limit for establishing a connection (TCP and TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default overall deadline of one call, covering every attempt, backoff and rate-limit wait.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Default cap on a response body; larger bodies fail with [`Error::ResponseTooLarge`].
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// A client for the Statsig Console API.
///
/// Cheap to clone (an `Arc` and a connection pool handle); clones share connections and
/// settings. `Send + Sync`, so one client can serve a whole program.
///
/// ```no_run
/// # async fn run() -> Result<(), statsig_console::Error> {
/// use statsig_console::Client;
///
/// let client = Client::builder().api_key("console-...").build()?;
/// # let _ = client;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    base_url: Arc<str>,
    http: reqwest::Client,
    shared: Arc<Shared>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("api_key", &"[REDACTED]")
            .field("timeout", &self.shared.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts configuring a client. [`ClientBuilder::api_key`] is required.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from `STATSIG_CONSOLE_API_KEY` and, when set,
    /// `STATSIG_CONSOLE_BASE_URL`.
    pub fn from_env() -> Result<Client, Error> {
        let key = std::env::var(ENV_API_KEY).map_err(|_| {
            Error::invalid_config(format!(
                "{ENV_API_KEY} is not set (or not valid UTF-8); set it to a Console API key"
            ))
        })?;
        let mut builder = Client::builder().api_key(key);
        if let Ok(url) = std::env::var(ENV_BASE_URL) {
            builder = builder.base_url(url);
        }
        builder.build()
    }

    /// The base URL requests go to, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The generated (progenitor) client, for anything the facade does not wrap.
    ///
    /// It sends the same key and version headers and uses the same connection pool and
    /// per-attempt timeout, but returns progenitor's own error type and the full response
    /// envelope, and has no retries, rate limiting or input checks.
    pub fn raw(&self) -> generated::Client {
        self.raw_with_context(self.shared.timeout, None).0
    }

    fn raw_with_context(
        &self,
        attempt_timeout: Duration,
        body: Option<bytes::Bytes>,
    ) -> (generated::Client, CallContext) {
        let context = CallContext::new(Arc::clone(&self.shared), attempt_timeout, body);
        let raw =
            generated::Client::new_with_client(&self.base_url, self.http.clone(), context.clone());
        (raw, context)
    }

    /// Partially Update Experiment Overrides: `PATCH /console/v1/experiments/{id}/overrides`.
    ///
    /// Adds the given conditional and user-ID overrides to the experiment and returns all of
    /// the experiment's overrides after the update.
    ///
    /// ```no_run
    /// # async fn run(client: statsig_console::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use statsig_console::types::{ConditionalOverride, ExperimentOverrides, OverrideType, UserIdOverride};
    ///
    /// let update = ExperimentOverrides {
    ///     overrides: vec![ConditionalOverride::builder()
    ///         .type_(OverrideType::Gate)
    ///         .id("employees_only")
    ///         .group_id("Test")
    ///         .try_into()?],
    ///     user_id_overrides: vec![UserIdOverride::builder()
    ///         .group_id("Control")
    ///         .ids(vec!["user_1842".to_string()])
    ///         .try_into()?],
    /// };
    /// let all = client.patch_experiment_overrides("checkout_flow", &update).await?;
    /// println!("{} conditional overrides", all.overrides.len());
    /// # Ok(()) }
    /// ```
    pub async fn patch_experiment_overrides(
        &self,
        experiment_id: &str,
        overrides: &ExperimentOverrides,
    ) -> Result<ExperimentOverrides, Error> {
        validate::experiment_id(experiment_id)?;
        validate::experiment_overrides(overrides)?;
        // progenitor's builder takes the body by value, and cloning an update of 100 000 ids
        // costs more than sending it (measured, see README "Performance"). So the body is
        // serialized once, from the borrowed value with the generated type's own `Serialize`,
        // and the transport sends those bytes on every attempt; the builder gets an empty body.
        let body = serde_json::to_vec(overrides)
            .map(bytes::Bytes::from)
            .map_err(|e| Error::invalid_input("overrides", e.to_string()))?;
        self.call(&PATCH_EXPERIMENT_OVERRIDES, body, |raw| async move {
            raw.patch_experiment_overrides()
                .id(experiment_id)
                .body(ExperimentOverrides {
                    overrides: Vec::new(),
                    user_id_overrides: Vec::new(),
                })
                .send()
                .await
        })
        .await
        .map(|response| response.data)
    }

    /// Create Team: `POST /console/v1/users/teams`. Returns the created team.
    ///
    /// ```no_run
    /// # async fn run(client: statsig_console::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use statsig_console::types::{ChangeTeamConfigs, ReviewApproval, TeamCreate};
    ///
    /// let team: TeamCreate = TeamCreate::builder()
    ///     .name("Checkout")
    ///     .members(vec!["ana@example.com".to_string()])
    ///     .admins(vec!["ana@example.com".to_string()])
    ///     .default_gate_metrics(vec![])
    ///     .default_experiment_primary_metrics(vec![])
    ///     .default_experiment_secondary_metrics(vec![])
    ///     .default_holdout_metrics(vec![])
    ///     .change_team_configs(ChangeTeamConfigs::TeamOnly)
    ///     .review_approval(ReviewApproval::AdminOnly)
    ///     .default_target_applications(vec![])
    ///     .try_into()?;
    /// let created = client.create_team(&team).await?;
    /// println!("team {} has id {}", created.name, created.id);
    /// # Ok(()) }
    /// ```
    pub async fn create_team(&self, team: &TeamCreate) -> Result<Team, Error> {
        validate::team_create(team)?;
        // As for PATCH: serialize the borrowed team once instead of cloning it per attempt.
        // The builder gets a placeholder with the same name and no lists.
        let body = serde_json::to_vec(team)
            .map(bytes::Bytes::from)
            .map_err(|e| Error::invalid_input("team", e.to_string()))?;
        self.call(&CREATE_TEAM, body, |raw| async move {
            raw.create_team()
                .body(TeamCreate {
                    name: team.name.clone(),
                    description: None,
                    members: Vec::new(),
                    admins: Vec::new(),
                    default_gate_metrics: Vec::new(),
                    default_experiment_primary_metrics: Vec::new(),
                    default_experiment_secondary_metrics: Vec::new(),
                    default_holdout_metrics: Vec::new(),
                    change_team_configs: team.change_team_configs,
                    review_approval: team.review_approval,
                    default_target_applications: Vec::new(),
                    default_holdout_id: None,
                    require_reviews: None,
                    require_gate_templates: None,
                    require_experiment_templates: None,
                    require_dynamic_config_templates: None,
                })
                .send()
                .await
        })
        .await
        .map(|response| response.data)
    }

    /// Runs one operation: rate limit, attempts with their timeouts, retries, one span.
    /// `body` (the request, serialized once) replaces the body the generated code built.
    async fn call<T, F, Fut>(
        &self,
        operation: &Operation,
        body: bytes::Bytes,
        send: F,
    ) -> Result<T, Error>
    where
        F: Fn(generated::Client) -> Fut,
        Fut: Future<Output = RawResult<T>>,
    {
        let span = tracing::info_span!(
            "statsig_console.call",
            operation_id = operation.id,
            method = operation.method,
            path_template = operation.path_template,
            attempt = tracing::field::Empty,
            status = tracing::field::Empty,
            duration_ms = tracing::field::Empty,
            request_id = tracing::field::Empty,
        );
        let shared = &self.shared;
        let attempts = async {
            let started = Instant::now();
            let deadline = started + shared.call_timeout;
            let deadline_exceeded = |attempts| Error::DeadlineExceeded {
                limit: shared.call_timeout,
                attempts,
            };
            let mut attempt: u32 = 0;
            loop {
                let permit = match &shared.limiter {
                    // The common case, a free slot, needs no timer and no waiter registration.
                    Some(limiter) => match limiter.try_acquire_now() {
                        Some(permit) => Some(permit),
                        None => match tokio::time::timeout_at(deadline, limiter.acquire()).await {
                            Ok(permit) => Some(permit),
                            Err(_) => return Err(deadline_exceeded(attempt)),
                        },
                    },
                    None => None,
                };
                let remaining = deadline.saturating_duration_since(Instant::now());
                if remaining.is_zero() {
                    return Err(deadline_exceeded(attempt));
                }
                attempt += 1;
                let span = tracing::Span::current();
                span.record("attempt", attempt);
                let (raw, context) =
                    self.raw_with_context(shared.timeout.min(remaining), Some(body.clone()));
                let result = send(raw).await;
                drop(permit);
                let outcome = finish(&context, result, &span);
                span.record("duration_ms", started.elapsed().as_millis() as u64);
                let error = match outcome {
                    Ok(value) => return Ok(value),
                    Err(error) => error,
                };
                let Some(wait) = retry_wait(&shared.retry, operation, &error, attempt) else {
                    return Err(error);
                };
                if Instant::now() + wait >= deadline {
                    tracing::debug!(error = %error, "not retrying: the wait would pass the call's deadline");
                    return Err(error);
                }
                tracing::debug!(
                    error = %error,
                    wait_ms = wait.as_millis() as u64,
                    "retrying after a retryable failure"
                );
                tokio::time::sleep(wait).await;
            }
        };
        attempts.instrument(span).await
    }
}

type RawResult<T> = Result<
    progenitor_client::ResponseValue<T>,
    progenitor_client::Error<crate::types::ErrorResponse>,
>;

/// What the retry logic and the tracing span need to know about an operation.
struct Operation {
    id: &'static str,
    method: &'static str,
    path_template: &'static str,
    idempotency: Idempotency,
}

const PATCH_EXPERIMENT_OVERRIDES: Operation = Operation {
    id: "patchExperimentOverrides",
    method: "PATCH",
    path_template: "/console/v1/experiments/{id}/overrides",
    // Adding the same overrides again leaves the same state: the merge is idempotent.
    idempotency: Idempotency::Idempotent,
};

const CREATE_TEAM: Operation = Operation {
    id: "createTeam",
    method: "POST",
    path_template: "/console/v1/users/teams",
    // A second attempt after the first reached the server could create a second team.
    idempotency: Idempotency::NotIdempotent,
};

/// How long to wait before retrying after `error`, or `None` to give up.
fn retry_wait(
    policy: &RetryPolicy,
    operation: &Operation,
    error: &Error,
    attempt: u32,
) -> Option<Duration> {
    if attempt > policy.max_retries {
        return None;
    }
    let backoff = || policy.backoff(attempt);
    let server_asked = |retry_after: Option<Duration>| match retry_after {
        Some(wait) if wait > policy.max_retry_after => None,
        Some(wait) => Some(wait),
        None => Some(backoff()),
    };
    match (operation.idempotency, error) {
        // The request never left: safe for every operation.
        (
            _,
            Error::Transport {
                connect_failed: true,
                ..
            },
        ) => Some(backoff()),
        (Idempotency::NotIdempotent, _) => None,
        (Idempotency::Idempotent, Error::Transport { .. }) => Some(backoff()),
        (Idempotency::Idempotent, Error::RateLimited { retry_after, .. }) => {
            server_asked(*retry_after)
        }
        (
            Idempotency::Idempotent,
            Error::Api {
                status,
                retry_after,
                ..
            },
        ) => match status.as_u16() {
            503 => server_asked(*retry_after),
            500 | 502 | 504 => Some(backoff()),
            _ => None,
        },
        (Idempotency::Idempotent, _) => None,
    }
}

/// Turns the generated client's outcome into the facade's, using what the transport
/// recorded: progenitor loses the status when an error body does not decode.
fn finish<T>(
    context: &CallContext,
    result: RawResult<T>,
    span: &tracing::Span,
) -> Result<T, Error> {
    use progenitor_client::Error as Raw;
    let record = context.take_record();
    if let Some(record) = &record {
        span.record("status", record.status.as_u16());
        if let Some(id) = record.request_id.as_ref().and_then(|v| v.to_str().ok()) {
            span.record("request_id", id);
        }
    }
    let error = match result {
        Ok(value) => return Ok(value.into_inner()),
        Err(error) => error,
    };
    let shared = &context.shared;
    match (error, record) {
        (Raw::InvalidRequest(message), _) => Err(Error::invalid_input("request", message)),
        (
            Raw::CommunicationError(source)
            | Raw::ResponseBodyError(source)
            | Raw::InvalidUpgrade(source),
            record,
        ) => Err(Error::Transport {
            status: record.map(|r| r.status),
            timed_out: source.is_timeout(),
            connect_failed: source.is_connect(),
            source,
        }),
        (_, Some(record)) if record.truncated => Err(Error::ResponseTooLarge {
            status: record.status,
            limit_bytes: shared.max_response_bytes,
            body_excerpt: shared.redact(excerpt(&record.body)),
        }),
        (Raw::InvalidResponsePayload(body, source), Some(record)) if record.status.is_success() => {
            Err(Error::Decode {
                status: record.status,
                source,
                body_excerpt: shared.redact(excerpt(&body)),
            })
        }
        (_, Some(record)) => Err(error_from_response(shared, &record)),
        (other, None) => Err(Error::invalid_input("request", other.to_string())),
    }
}

/// The `{status, message}` body the Console API sends with errors; read leniently.
#[derive(serde::Deserialize)]
struct ErrorBody {
    message: String,
}

fn error_from_response(shared: &Shared, record: &ResponseRecord) -> Error {
    let body_excerpt = shared.redact(excerpt(&record.body));
    let server_message = serde_json::from_slice::<ErrorBody>(&record.body)
        .ok()
        .map(|body| shared.redact(body.message));
    let message = || {
        server_message
            .clone()
            .unwrap_or_else(|| body_excerpt.clone())
    };
    match record.status {
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
            retry_after: record.retry_after.as_ref().and_then(parse_retry_after),
            body_excerpt,
        },
        status => Error::Api {
            status,
            message: server_message,
            retry_after: record.retry_after.as_ref().and_then(parse_retry_after),
            body_excerpt,
        },
    }
}

/// `Retry-After` is either delay-seconds or an HTTP-date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &HeaderValue) -> Option<Duration> {
    let text = value.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(text).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// Configures a [`Client`]. Obtain one with [`Client::builder`].
#[derive(Default)]
pub struct ClientBuilder {
    api_key: Option<SecretString>,
    base_url: Option<String>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    user_agent: Option<String>,
    reqwest_client: Option<reqwest::Client>,
    allow_insecure_http: bool,
    max_response_bytes: Option<usize>,
    call_timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
    rate_limit: Option<Option<RateLimit>>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("user_agent", &self.user_agent)
            .field("reqwest_client", &self.reqwest_client.is_some())
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("call_timeout", &self.call_timeout)
            .field("retry", &self.retry)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

impl ClientBuilder {
    /// The Console API key (`console-…`), sent as `STATSIG-API-KEY`. Required.
    ///
    /// Statsig SDK keys (`client-…`, `secret-…`) are refused by [`ClientBuilder::build`]:
    /// the Console API accepts only Console keys.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(SecretString::from(key.into()));
        self
    }

    /// Where to send requests (default [`DEFAULT_BASE_URL`]). A path stem is kept.
    ///
    /// Plain `http` is accepted only for loopback hosts (a local fake server) unless
    /// [`ClientBuilder::allow_insecure_http`] is called: the key must not cross a network in clear.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Allows an `http://` base URL on a non-loopback host (for example a proxy inside a
    /// trusted network). The key then travels unencrypted.
    pub fn allow_insecure_http(mut self) -> Self {
        self.allow_insecure_http = true;
        self
    }

    /// Limit for one attempt, from sending to reading the last body byte (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Limit for establishing a connection (default 10 s). Ignored with
    /// [`ClientBuilder::reqwest_client`], whose own setting applies.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// The `User-Agent` header (default `statsig-console-rust/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = Some(user_agent.into());
        self
    }

    /// Sends through this `reqwest::Client` (proxies, custom TLS roots, shared pools).
    /// The key, version and user-agent headers and the per-attempt timeout are still applied.
    pub fn reqwest_client(mut self, client: reqwest::Client) -> Self {
        self.reqwest_client = Some(client);
        self
    }

    /// Overall deadline of one call, covering every attempt, backoff and rate-limit wait
    /// (default 120 s). Each attempt also has [`ClientBuilder::timeout`].
    pub fn call_timeout(mut self, deadline: Duration) -> Self {
        self.call_timeout = Some(deadline);
        self
    }

    /// When to retry (default [`RetryPolicy::default`]: up to 3 retries); see the README's
    /// "Reliability" section for what each operation retries.
    pub fn retry_policy(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// Client-side mutation limits, shared by this client and its clones (default
    /// [`RateLimit::default`], a little under the vendor's documented limits). Calls wait for
    /// a free slot rather than fail.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(Some(limit));
        self
    }

    /// Turns client-side rate limiting off.
    pub fn no_rate_limit(mut self) -> Self {
        self.rate_limit = Some(None);
        self
    }

    /// Cap on a response body in bytes (default 32 MiB).
    pub fn max_response_bytes(mut self, limit: usize) -> Self {
        self.max_response_bytes = Some(limit);
        self
    }

    /// Checks the configuration and builds the client. Fails with [`Error::InvalidConfig`].
    pub fn build(self) -> Result<Client, Error> {
        let api_key = self.api_key.ok_or_else(|| {
            Error::invalid_config("an API key is required: call `api_key` with a Console API key")
        })?;
        let api_key_header = check_api_key(&api_key)?;
        let base_url = check_base_url(
            self.base_url.as_deref().unwrap_or(DEFAULT_BASE_URL),
            self.allow_insecure_http,
        )?;
        let user_agent = self
            .user_agent
            .unwrap_or_else(|| format!("statsig-console-rust/{}", env!("CARGO_PKG_VERSION")));
        let user_agent = HeaderValue::try_from(user_agent).map_err(|_| {
            Error::invalid_config("user_agent must be visible ASCII without control characters")
        })?;
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        let http = match self.reqwest_client {
            Some(client) => client,
            // The per-attempt timeout is set on each request (see transport), so it also
            // applies to a client the user brings.
            None => reqwest::Client::builder()
                .connect_timeout(self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT))
                // The Console API does not redirect; following one could replay a mutation
                // elsewhere, so a 3xx is reported as it is.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::invalid_config(format!("cannot build the HTTP client: {e}")))?,
        };
        Ok(Client {
            base_url: base_url.into(),
            http,
            shared: Arc::new(Shared {
                api_key,
                api_key_header,
                user_agent,
                timeout,
                call_timeout: self.call_timeout.unwrap_or(DEFAULT_CALL_TIMEOUT),
                max_response_bytes: self
                    .max_response_bytes
                    .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
                retry: self.retry.unwrap_or_default(),
                limiter: self
                    .rate_limit
                    .unwrap_or_else(|| Some(RateLimit::default()))
                    .map(Limiter::new),
            }),
        })
    }
}

fn check_api_key(key: &SecretString) -> Result<HeaderValue, Error> {
    let key = key.expose_secret();
    if key.trim().is_empty() {
        return Err(Error::invalid_config("the API key is empty"));
    }
    for (prefix, kind) in [
        ("client-", "client SDK key"),
        ("secret-", "server secret key"),
    ] {
        if key.starts_with(prefix) {
            return Err(Error::invalid_config(format!(
                "the API key is a Statsig {kind} (`{prefix}…`); the Console API needs a Console API key (`console-…`), created under Project Settings → Keys"
            )));
        }
    }
    let mut value = HeaderValue::try_from(key).map_err(|_| {
        Error::invalid_config(
            "the API key contains characters that cannot be sent in an HTTP header",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

fn check_base_url(raw: &str, allow_insecure_http: bool) -> Result<String, Error> {
    let url = reqwest::Url::parse(raw)
        .map_err(|e| Error::invalid_config(format!("base_url {raw:?} is not a URL: {e}")))?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid_config(format!(
            "base_url {raw:?} must not have a query or fragment"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid_config("base_url must not carry credentials"));
    }
    let host = url
        .host()
        .ok_or_else(|| Error::invalid_config(format!("base_url {raw:?} has no host")))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure_http || is_loopback(&host) => {}
        "http" => {
            return Err(Error::invalid_config(format!(
                "base_url {raw:?} is plain http on a non-loopback host; use https, or call `allow_insecure_http()` if the network is trusted"
            )));
        }
        other => {
            return Err(Error::invalid_config(format!(
                "base_url scheme `{other}` is not supported; use https"
            )));
        }
    }
    Ok(url.as_str().trim_end_matches('/').to_string())
}

fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_keys_are_refused_with_the_kind_of_key_needed() {
        for key in ["client-abc123", "secret-abc123"] {
            let err = Client::builder().api_key(key).build().unwrap_err();
            let text = err.to_string();
            assert!(text.contains("Console API key"), "{text}");
            assert!(!text.contains("abc123"), "the key leaked: {text}");
        }
    }

    #[test]
    fn base_url_rules() {
        let ok = |url: &str| check_base_url(url, false).unwrap();
        assert_eq!(ok("https://statsigapi.net/"), "https://statsigapi.net");
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(ok("http://localhost:1/stem/"), "http://localhost:1/stem");
        assert_eq!(ok("http://[::1]:9"), "http://[::1]:9");
        assert!(check_base_url("http://example.com", false).is_err());
        assert!(check_base_url("http://example.com", true).is_ok());
        assert!(check_base_url("ftp://example.com", true).is_err());
        assert!(check_base_url("https://user:pw@example.com", false).is_err());
        assert!(check_base_url("not a url", false).is_err());
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let secs = HeaderValue::from_static("2");
        assert_eq!(parse_retry_after(&secs), Some(Duration::from_secs(2)));
        let past = HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT");
        assert_eq!(parse_retry_after(&past), Some(Duration::ZERO));
        let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let wait = parse_retry_after(&HeaderValue::try_from(future).unwrap()).unwrap();
        assert!(
            wait > Duration::from_secs(100) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );
        assert_eq!(parse_retry_after(&HeaderValue::from_static("soon")), None);
    }

    #[test]
    fn client_is_clone_send_sync() {
        fn assert_traits<T: Clone + Send + Sync + 'static>() {}
        assert_traits::<Client>();
    }
}
