//! Configuration: the defaults, [`ClientBuilder`], and [`ClientConfig`], the checked settings a
//! client and its clones share.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue, USER_AGENT};
use secrecy::SecretString;

use crate::Error;
use crate::reliability::{Limiter, RateLimit, RetryPolicy};
use crate::secret::ApiKey;

/// The production Console API.
pub const DEFAULT_BASE_URL: &str = "https://statsigapi.net";
/// Environment variable [`crate::Client::from_env`] reads the Console API key from.
pub const ENV_API_KEY: &str = "STATSIG_CONSOLE_API_KEY";
/// Environment variable [`crate::Client::from_env`] reads an optional base URL from.
pub const ENV_BASE_URL: &str = "STATSIG_CONSOLE_BASE_URL";
/// Default limit for one attempt, from sending the request to reading the last body byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default limit for establishing a connection (TCP and TLS).
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default overall deadline of one call, covering every attempt, backoff and rate-limit wait.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(120);
/// Default cap on a response body; larger bodies fail with [`Error::ResponseTooLarge`].
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 * 1024 * 1024;

/// The header the Console API reads the key from.
pub(crate) const API_KEY_HEADER: HeaderName = HeaderName::from_static("statsig-api-key");
/// The header that pins the Console API's behaviour to the version this crate was written for.
const API_VERSION_HEADER: HeaderName = HeaderName::from_static("statsig-api-version");
/// The API version this crate speaks; the spec's `info.version`.
pub const API_VERSION: &str = "20240601";

/// The checked settings of a client, shared by it and its clones: the key, headers, timeouts,
/// retry policy and the rate limiter's state.
///
/// It is the generated client's "inner" value (see [`crate::raw`]), public only because the
/// generated client's constructor names it. It has no public constructor: the way to a
/// configured generated client is [`crate::Client::raw`].
#[derive(Clone)]
pub struct ClientConfig {
    pub(crate) api_key: ApiKey,
    pub(crate) user_agent: HeaderValue,
    pub(crate) timeout: Duration,
    /// Whether this crate built the HTTP client, with `timeout` as its request timeout and
    /// [`ClientConfig::vendor_headers`] as its default headers. Then a request needs a timeout
    /// of its own only when the call's deadline leaves less, and no headers added (see
    /// transport); a client the user brings gets both on every request.
    pub(crate) http_built_here: bool,
    pub(crate) call_timeout: Duration,
    pub(crate) max_response_bytes: usize,
    pub(crate) retry: RetryPolicy,
    pub(crate) limiter: Option<Arc<Limiter>>,
}

impl ClientConfig {
    /// The headers every request carries besides those of the operation: the key, the API
    /// version and the user agent.
    pub(crate) fn vendor_headers(&self) -> [(HeaderName, HeaderValue); 3] {
        [
            (API_KEY_HEADER, self.api_key.header().clone()),
            (API_VERSION_HEADER, HeaderValue::from_static(API_VERSION)),
            (USER_AGENT, self.user_agent.clone()),
        ]
    }
}

impl fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientConfig")
            .field("api_key", &self.api_key)
            .field("user_agent", &self.user_agent)
            .field("timeout", &self.timeout)
            .field("call_timeout", &self.call_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("retry", &self.retry)
            .field("rate_limited", &self.limiter.is_some())
            .finish()
    }
}

/// What [`ClientBuilder::resolve`] makes of the builder's settings.
pub(crate) struct Resolved {
    pub(crate) base_url: String,
    pub(crate) http: reqwest::Client,
    pub(crate) config: ClientConfig,
}

/// Configures a [`crate::Client`]. Obtain one with [`crate::Client::builder`]; finish with
/// [`ClientBuilder::build`].
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

    /// Checks the settings and fills in the defaults. Fails with [`Error::InvalidConfig`].
    pub(crate) fn resolve(self) -> Result<Resolved, Error> {
        let api_key = self.api_key.ok_or_else(|| {
            Error::invalid_config("an API key is required: call `api_key` with a Console API key")
        })?;
        let api_key = ApiKey::new(api_key).map_err(Error::invalid_config)?;
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
        let config = ClientConfig {
            api_key,
            user_agent,
            timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            http_built_here: self.reqwest_client.is_none(),
            call_timeout: self.call_timeout.unwrap_or(DEFAULT_CALL_TIMEOUT),
            max_response_bytes: self
                .max_response_bytes
                .unwrap_or(DEFAULT_MAX_RESPONSE_BYTES),
            retry: self.retry.unwrap_or_default(),
            limiter: self
                .rate_limit
                .unwrap_or_else(|| Some(RateLimit::default()))
                .map(Limiter::new),
        };
        let http = match self.reqwest_client {
            Some(client) => client,
            // Headers and timeout as the client's defaults rather than set on each request:
            // reqwest adds them without the per-request work (see transport).
            None => reqwest::Client::builder()
                .default_headers(config.vendor_headers().into_iter().collect())
                .timeout(config.timeout)
                .connect_timeout(self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT))
                // The Console API does not redirect; following one could replay a mutation
                // elsewhere, so a 3xx is reported as it is.
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| Error::invalid_config(format!("cannot build the HTTP client: {e}")))?,
        };
        Ok(Resolved {
            base_url,
            http,
            config,
        })
    }
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
    fn sdk_keys_are_refused_by_the_builder_without_showing_them() {
        for key in ["client-abc123", "secret-abc123"] {
            let Err(err) = ClientBuilder::default().api_key(key).resolve() else {
                panic!("{key} was accepted");
            };
            let text = err.to_string();
            assert!(text.contains("Console API key"), "{text}");
            assert!(!text.contains("abc123"), "the key leaked: {text}");
        }
    }
}
