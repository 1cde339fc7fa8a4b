//! An embedded, stateful fake of the Statsig Console API's two operations, for tests, demos
//! and other-language teams. Add it to `[dev-dependencies]`: it brings a server stack the
//! `statsig-console` library itself does without.
//!
//! [`MockConsole`] is a real HTTP/1.1 server on `127.0.0.1` (an ephemeral port unless you pick
//! one), on a thread and tokio runtime of its own, so it serves async tests of either flavor and
//! synchronous ones alike ([`MockConsoleBuilder::start_blocking`]). It answers like the vendor, with the vendor's
//! response shapes, and checks every request body against the spec the client was generated
//! from ([`statsig_console::OPENAPI_JSON`]) with a JSON Schema validator (`jsonschema`), so it
//! accepts exactly what the spec allows.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use statsig_console_mock::MockConsole;
//! use statsig_console::types::{ExperimentOverrides, UserIdOverride};
//!
//! let console = MockConsole::builder()
//!     .api_key("console-test")
//!     .experiment("checkout_flow", ["Control", "Test"])
//!     .user("ana@example.com", "Ana", "Lopez")
//!     .start()
//!     .await?;
//! let update = ExperimentOverrides {
//!     overrides: vec![],
//!     user_id_overrides: vec![UserIdOverride::builder().group_id("Test").ids(vec!["u1".into()]).try_into()?],
//! };
//! console.client().patch_experiment_overrides("checkout_flow", update).await?;
//! assert_eq!(console.overrides("checkout_flow").unwrap().user_id_overrides[0].ids, ["u1"]);
//! assert_eq!(console.journal().len(), 1);
//! console.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # How it answers
//!
//! In this order, for every request:
//!
//! 1. The request is written to the journal ([`MockConsole::journal`]), with the
//!    `STATSIG-API-KEY` value replaced by `[REDACTED]`.
//! 2. A scripted [`Fault`] whose operation matches, and that has uses left, takes over.
//! 3. An unknown path is answered `404 {status, message}`; a method the spec does not
//!    declare on a known path is answered `405` with an `Allow` header.
//! 4. A missing or unknown `STATSIG-API-KEY`, or an SDK key (`client-…`, `secret-…`), is
//!    answered `401` with the vendor's wording.
//! 5. Past the project's mutation [`RateLimit`], `429 {status, message}`, as the vendor
//!    documents it (docs.statsig.com/console-api, "Rate limiting", read 2026-12-01): one
//!    quota per project shared by all its keys (every key of a `MockConsole` is in one project
//!    unless [`MockConsoleBuilder::api_key_in_project`] says otherwise), a burst window and a
//!    quota window ([`RateLimit::vendor`] by default), and **every attempt counts**, those
//!    answered 429 included, so a client that retries at once only digs deeper. Like the
//!    vendor's, the 429 carries no `Retry-After` unless [`MockConsoleBuilder::with_retry_after`]
//!    asks for one. Requests refused before (401, 404, 405) are not counted.
//! 6. A body that is not JSON, or breaks any rule of the spec's schema (a missing required
//!    field, a wrong type, `null` where not `nullable`, an enum value outside the spec, more
//!    items than `maxItems`, a malformed email, and whatever else the spec says) is answered
//!    `400` with a message that starts with `Invalid request:` and names the field, for example
//!    `overrides[0].type`.
//! 7. Then the operation itself:
//!
//! **Partially Update Experiment Overrides** adds to what the experiment has (the vendor's
//! POST replaces, PATCH adds). An unknown experiment is `404`; a `groupID` the experiment does
//! not have is `400` naming the field. Otherwise:
//! - a conditional override is upserted by (type, id, environment): a new group replaces the
//!   old one, anything else is appended;
//! - user-ID overrides are merged by (groupID, environment, unitType), ids de-duplicated in
//!   order of first appearance;
//! - an id added to one group is removed from the experiment's other groups with the same
//!   (environment, unitType): each id is forced into one group; entries left empty are dropped;
//! - the answer is `200 {message, data}` with all of the experiment's overrides.
//!
//! **Create Team** answers `200 {message, data}` with the team: a stable id derived from the
//! name, and members and admins as `{userID, email, firstName, lastName, role}`, from the
//! seeded users ([`MockConsoleBuilder::user`]) or derived from the address
//! (`ana.lopez@…` → Ana Lopez, role `Member`). A name already taken (case-insensitively) is `400`.
//!
//! A fault's delay is applied after the request was processed: like a slow network on the way
//! back, the change is made even when the client gives up waiting.

#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod schema;
mod server;
mod state;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;

pub use state::MockUser;

use state::{Experiment, State};
use statsig_console::types::{ExperimentOverrides, Team};
use statsig_console::{Client, ClientBuilder, RateLimit};

/// Which requests a [`Fault`] applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MockOperation {
    /// `PATCH /console/v1/experiments/{id}/overrides`
    PatchExperimentOverrides,
    /// `POST /console/v1/users/teams`
    CreateTeam,
    /// Every request, whatever its path or method.
    Any,
}

/// What a [`Fault`] does to a request.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum FaultAction {
    /// Answer with this status, headers and body instead of processing the request.
    Respond {
        /// The status code.
        status: u16,
        /// Extra headers, for example `Retry-After`.
        headers: Vec<(String, String)>,
        /// The body, sent as `application/json` unless a `Content-Type` header is given.
        body: Bytes,
    },
    /// Process the request normally, then wait this long before answering.
    Delay(Duration),
    /// Close the connection without answering (the request is not processed).
    DropConnection,
    /// Process the request, then send the head and half of the body and close the connection.
    TruncateBody,
}

/// A scripted fault for the next `times` matching requests (after the first `after`).
#[derive(Debug, Clone)]
pub struct Fault {
    operation: MockOperation,
    action: FaultAction,
    after: usize,
    times: usize,
}

impl Fault {
    /// Answer `status` with a vendor-style `{status, message}` body.
    pub fn status(status: u16, message: &str) -> Fault {
        let body = serde_json::json!({"status": status, "message": message});
        Fault::respond(status, Bytes::from(body.to_string()))
    }

    /// Answer `status` with exactly this body.
    pub fn respond(status: u16, body: impl Into<Bytes>) -> Fault {
        Fault::new(FaultAction::Respond {
            status,
            headers: Vec::new(),
            body: body.into(),
        })
    }

    /// Process normally, then delay the answer.
    pub fn delay(delay: Duration) -> Fault {
        Fault::new(FaultAction::Delay(delay))
    }

    /// Close the connection without answering.
    pub fn drop_connection() -> Fault {
        Fault::new(FaultAction::DropConnection)
    }

    /// Process normally, then cut the answer's body in half and close the connection.
    pub fn truncate_body() -> Fault {
        Fault::new(FaultAction::TruncateBody)
    }

    fn new(action: FaultAction) -> Fault {
        Fault {
            operation: MockOperation::Any,
            action,
            after: 0,
            times: 1,
        }
    }

    /// Adds a header to a [`Fault::status`] or [`Fault::respond`] answer.
    pub fn header(mut self, name: &str, value: &str) -> Fault {
        if let FaultAction::Respond { headers, .. } = &mut self.action {
            headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    /// Applies only to this operation (default: every request).
    pub fn on(mut self, operation: MockOperation) -> Fault {
        self.operation = operation;
        self
    }

    /// Lets the next `requests` matching requests through untouched first (default 0): "from
    /// the third request on" is `.after(2)`. Faults scripted after this one wait behind it.
    pub fn after(mut self, requests: usize) -> Fault {
        self.after = requests;
        self
    }

    /// Applies to the next `times` matching requests (default 1).
    pub fn times(mut self, times: usize) -> Fault {
        self.times = times;
        self
    }
}

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method, for example `PATCH`.
    pub method: String,
    /// The path as sent, still percent-encoded.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// Headers in arrival order, names lower-case; the API key's value is `[REDACTED]`.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
    /// The status the fake answered with; `None` when it closed the connection instead.
    pub status: Option<u16>,
}

impl RecordedRequest {
    /// The first value of a header (name compared case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON, when it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether the fake answered 429 (its rate limits or a scripted fault).
    pub fn was_throttled(&self) -> bool {
        self.status == Some(429)
    }
}

/// Configures a [`MockConsole`]. Obtain one with [`MockConsole::builder`].
#[derive(Debug)]
pub struct MockConsoleBuilder {
    /// Each key with its project.
    api_keys: Vec<(String, String)>,
    experiments: Vec<(String, Vec<String>)>,
    users: Vec<MockUser>,
    rate_limits: RateLimit,
    retry_after_on_429: bool,
    faults: Vec<Fault>,
    port: u16,
}

impl MockConsoleBuilder {
    /// A Console key the fake accepts (call again for more), in the fake's one project: all
    /// such keys share its rate limits, as the vendor's keys share a project's quota. Default:
    /// [`DEFAULT_MOCK_KEY`].
    pub fn api_key(self, key: impl Into<String>) -> Self {
        self.api_key_in_project(key, DEFAULT_PROJECT)
    }

    /// A Console key of the project named `project`: its requests count against that
    /// project's windows, apart from every other project's.
    pub fn api_key_in_project(
        mut self,
        key: impl Into<String>,
        project: impl Into<String>,
    ) -> Self {
        self.api_keys.push((key.into(), project.into()));
        self
    }

    /// An experiment and its group names.
    pub fn experiment<I, S>(mut self, id: impl Into<String>, groups: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.experiments
            .push((id.into(), groups.into_iter().map(Into::into).collect()));
        self
    }

    /// A Console user (role `Member`) that Create Team resolves emails to.
    pub fn user(self, email: &str, first_name: &str, last_name: &str) -> Self {
        self.user_with(MockUser::new(email, first_name, last_name))
    }

    /// A Console user with every field chosen.
    pub fn user_with(mut self, user: MockUser) -> Self {
        self.users.push(user);
        self
    }

    /// Mutation rate limits, enforced per project (default [`RateLimit::vendor`]).
    pub fn rate_limits(mut self, limits: RateLimit) -> Self {
        self.rate_limits = limits;
        self
    }

    /// Answers 429 with a `Retry-After` header saying how long until a window would have room
    /// for one more attempt. The vendor documents none, and by default the fake sends none.
    pub fn with_retry_after(mut self) -> Self {
        self.retry_after_on_429 = true;
        self
    }

    /// A fault scripted from the start.
    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    /// The port to listen on (default 0: an ephemeral one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Binds `127.0.0.1` and starts serving on a thread and tokio runtime of the fake's own,
    /// as wiremock does: it serves a `#[tokio::test]` of either flavor, paused clocks
    /// included, and a test whose only thread blocks on a child process. Fails if the port
    /// cannot be bound, or if the first key is one [`Client`] refuses (an SDK key).
    pub async fn start(self) -> std::io::Result<MockConsole> {
        self.start_blocking()
    }

    /// [`MockConsoleBuilder::start`] for synchronous code: a plain `#[test]`, or a test that
    /// drives a binary with `std::process::Command`. It needs no runtime of the caller's.
    pub fn start_blocking(self) -> std::io::Result<MockConsole> {
        let spec = schema::Spec::embedded().map_err(std::io::Error::other)?;
        let api_keys = if self.api_keys.is_empty() {
            vec![(DEFAULT_MOCK_KEY.to_string(), DEFAULT_PROJECT.to_string())]
        } else {
            self.api_keys
        };
        let first_key = api_keys[0].0.clone();
        let mut state = State::default();
        for (id, groups) in self.experiments {
            state.experiments.insert(
                id,
                Experiment {
                    groups,
                    overrides: ExperimentOverrides {
                        overrides: Vec::new(),
                        user_id_overrides: Vec::new(),
                    },
                },
            );
        }
        for user in self.users {
            state.users.insert(user.email.to_ascii_lowercase(), user);
        }
        let shared = Arc::new(server::Shared {
            spec,
            api_keys,
            state: Mutex::new(state),
            journal: Mutex::new(Vec::new()),
            faults: Mutex::new(self.faults.into_iter().collect::<VecDeque<_>>()),
            limiter: Mutex::new(server::Limiter::new(self.rate_limits)),
            retry_after_on_429: self.retry_after_on_429,
            throttled: std::sync::atomic::AtomicUsize::new(0),
        });
        // Bound here, so that a port in use fails `start` rather than the server's thread.
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port))?;
        listener.set_nonblocking(true)?;
        let address = listener.local_addr()?;
        // Built once here, so a key the client would refuse (an SDK key, say) fails `start`
        // with a message instead of making `client()` fail later.
        let client = Client::builder()
            .api_key(first_key.clone())
            .base_url(format!("http://{address}"))
            .build()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (stop, stopped) = watch::channel(false);
        let served = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(format!("statsig-console-mock {address}"))
            .spawn(move || {
                runtime.block_on(async move {
                    // Only fails outside a runtime, and this is inside one.
                    if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                        server::serve(listener, served, stopped).await;
                    }
                });
            })?;
        Ok(MockConsole {
            address,
            client,
            api_key: first_key,
            shared,
            stop,
            thread: Some(thread),
        })
    }
}

/// The key a [`MockConsole`] accepts when none is configured.
pub const DEFAULT_MOCK_KEY: &str = "console-mock-key";

/// The project of the keys given with [`MockConsoleBuilder::api_key`].
const DEFAULT_PROJECT: &str = "default";

/// A running fake Console. Stops when dropped or on [`MockConsole::shutdown`].
pub struct MockConsole {
    address: SocketAddr,
    client: Client,
    api_key: String,
    shared: Arc<server::Shared>,
    stop: watch::Sender<bool>,
    /// The server's thread, running its own runtime.
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for MockConsole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockConsole")
            .field("base_url", &self.base_url())
            .finish_non_exhaustive()
    }
}

impl MockConsole {
    /// Starts configuring a fake Console.
    pub fn builder() -> MockConsoleBuilder {
        MockConsoleBuilder {
            api_keys: Vec::new(),
            experiments: Vec::new(),
            users: Vec::new(),
            rate_limits: RateLimit::vendor(),
            retry_after_on_429: false,
            faults: Vec::new(),
            port: 0,
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// The address the fake listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The first accepted API key.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// A [`Client`] pointed at this fake with its first key and default settings.
    pub fn client(&self) -> Client {
        self.client.clone()
    }

    /// A client builder already given this fake's URL and key, for further settings.
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder()
            .api_key(self.api_key.clone())
            .base_url(self.base_url())
    }

    /// Every request received so far, oldest first.
    pub fn journal(&self) -> Vec<RecordedRequest> {
        server::lock(&self.shared.journal).clone()
    }

    /// How many attempts the fake's rate limits rejected (answered 429; scripted faults not
    /// included). Each of them counted toward its project's windows.
    pub fn throttled(&self) -> usize {
        self.shared
            .throttled
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets the journal.
    pub fn clear_journal(&self) {
        server::lock(&self.shared.journal).clear();
    }

    /// Every team created so far, oldest first.
    pub fn teams(&self) -> Vec<Team> {
        self.shared.lock_state().teams.clone()
    }

    /// An experiment's current overrides, or `None` for an unknown experiment.
    pub fn overrides(&self, experiment_id: &str) -> Option<ExperimentOverrides> {
        self.shared
            .lock_state()
            .experiments
            .get(experiment_id)
            .map(|experiment| experiment.overrides.clone())
    }

    /// Scripts a fault for the next matching requests (after any already scripted).
    pub fn inject(&self, fault: Fault) {
        server::lock(&self.shared.faults).push_back(fault);
    }

    /// The rate limits in force.
    pub fn rate_limits(&self) -> RateLimit {
        server::lock(&self.shared.limiter).limits().clone()
    }

    /// Changes the rate limits from now on (the request history is kept).
    pub fn set_rate_limits(&self, limits: RateLimit) {
        server::lock(&self.shared.limiter).set_limits(limits);
    }

    /// Stops accepting, closes open connections and waits for the server's thread to end.
    pub async fn shutdown(self) {
        self.shutdown_blocking();
    }

    /// [`MockConsole::shutdown`] for synchronous code.
    pub fn shutdown_blocking(mut self) {
        self.stop_server();
    }

    fn stop_server(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            // The server ends on the signal within a poll: open connections are closed, not
            // drained, so this wait is short.
            let _ = thread.join();
        }
    }
}

impl Drop for MockConsole {
    fn drop(&mut self) {
        self.stop_server();
    }
}

/// Compiles the README's Rust example as a doctest, so it cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
