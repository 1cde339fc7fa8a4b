//! What a retry resends: the first attempt's request, kept as its parts.
//!
//! reqwest takes a request by value to send it, so whatever a retry resends has to be kept
//! before the first attempt goes out. Keeping a whole copy (`reqwest::Request::try_clone`, or
//! cloning the URL and the header map) allocates three times on every call that may be
//! retried, and nearly all are never retried. What is kept here allocates nothing in the
//! common case: the body's serialized bytes are shared, the generated code's headers are
//! static values held inline, and the URL is taken back from the failed attempt, whose
//! response or error reqwest gives it to.

use bytes::Bytes;
use reqwest::header::{HeaderName, HeaderValue};
use smallvec::SmallVec;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The parts of a call's first request that its retries resend.
#[derive(Debug)]
pub(super) struct Resend {
    method: reqwest::Method,
    /// The generated code sets two headers (`Accept`, `Content-Type`), both static, on every
    /// request of the spec's operations; the vendor headers travel as the HTTP client's
    /// default headers. More (an HTTP client passed in gets the vendor headers here) spill to
    /// the heap.
    headers: SmallVec<[(HeaderName, HeaderValue); 2]>,
    version: http::Version,
    /// The serialized body, shared by the first request and every retry.
    body: Option<Bytes>,
    /// Where retries go. Kept up front only for an HTTP client passed in, which may follow
    /// redirects (the failed attempt would then give back the URL it ended at); otherwise
    /// taken from the first failed attempt.
    url: Option<Box<reqwest::Url>>,
}

impl Resend {
    /// What a retry of `request` needs, with `request`'s body swapped for a shared view of
    /// the same bytes; `None` for a streamed body, which cannot be sent twice (no retry).
    /// `keep_url`: keep the URL now rather than take it from the failed attempt.
    pub(super) fn of(request: &mut reqwest::Request, keep_url: bool) -> Option<Self> {
        let body = match request.body_mut().take() {
            None => None,
            Some(body) => match in_memory_bytes(body) {
                Ok(bytes) => {
                    *request.body_mut() = Some(reqwest::Body::from(bytes.clone()));
                    Some(bytes)
                }
                Err(stream) => {
                    *request.body_mut() = Some(stream);
                    return None;
                }
            },
        };
        Some(Self {
            method: request.method().clone(),
            headers: request
                .headers()
                .iter()
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
            version: request.version(),
            body,
            url: keep_url.then(|| Box::new(request.url().clone())),
        })
    }

    /// Learns where retries go from `failed`, the attempt that came to a retry, unless that
    /// is known already. `false` if it cannot be known: reqwest puts the URL on every response
    /// and on the errors of sending, so this does not happen with reqwest's own clients.
    pub(super) fn learn_url(&mut self, failed: &reqwest::Result<reqwest::Response>) -> bool {
        if self.url.is_none() {
            let url = match failed {
                Ok(response) => Some(response.url()),
                Err(error) => error.url(),
            };
            self.url = url.map(|url| Box::new(url.clone()));
        }
        self.url.is_some()
    }

    /// The request a retry sends; `None` while the URL is not known (see
    /// [`Resend::learn_url`]).
    pub(super) fn request(&self) -> Option<reqwest::Request> {
        let url = self.url.as_deref()?.clone();
        let mut request = reqwest::Request::new(self.method.clone(), url);
        let headers = request.headers_mut();
        headers.reserve(self.headers.len());
        for (name, value) in &self.headers {
            headers.append(name.clone(), value.clone());
        }
        *request.version_mut() = self.version;
        *request.body_mut() = self.body.clone().map(reqwest::Body::from);
        Some(request)
    }
}

/// The bytes of a body held in memory, taken out without copying; a stream is handed back.
///
/// reqwest has no accessor that gives a body's `Bytes` (only a borrowed slice); an in-memory
/// body yields them as its one data frame, at once, so a poll with a no-op waker takes them.
fn in_memory_bytes(mut body: reqwest::Body) -> Result<Bytes, reqwest::Body> {
    use http_body::Body as _;

    if body.as_bytes().is_none() {
        return Err(body);
    }
    let mut context = Context::from_waker(std::task::Waker::noop());
    match Pin::new(&mut body).poll_frame(&mut context) {
        Poll::Ready(None) => Ok(Bytes::new()),
        Poll::Ready(Some(Ok(frame))) => frame.into_data().map_err(|_| body),
        // Not reached for an in-memory body: reqwest answers its one frame at once.
        Poll::Ready(Some(Err(_))) | Poll::Pending => Err(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::ResponseBuilderExt as _;

    const URL: &str = "http://127.0.0.1/console/v1/users/teams";

    fn request_with(body: Option<reqwest::Body>) -> reqwest::Request {
        let url = reqwest::Url::parse(URL).unwrap();
        let mut request = reqwest::Request::new(reqwest::Method::POST, url);
        let headers = request.headers_mut();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("accept", HeaderValue::from_static("application/json"));
        headers.append("x-repeated", HeaderValue::from_static("one"));
        headers.append("x-repeated", HeaderValue::from_static("two"));
        *request.version_mut() = http::Version::HTTP_11;
        *request.body_mut() = body;
        request
    }

    /// What reqwest gives back for an attempt that failed to connect to `URL`.
    async fn connect_error() -> reqwest::Error {
        let client = reqwest::Client::new();
        // Port 0 is never listened on: the connection fails at once, and reqwest's error
        // carries the URL it was for.
        client
            .post("http://127.0.0.1:0/console/v1/users/teams")
            .send()
            .await
            .unwrap_err()
    }

    #[tokio::test]
    async fn a_retry_resends_the_same_line_and_headers_and_shares_the_body() {
        let mut request = request_with(Some(reqwest::Body::from(r#"{"name":"a"}"#)));
        let mut resend = Resend::of(&mut request, true).unwrap();
        assert!(resend.learn_url(&Err(connect_error().await)));
        let first = resend.request().unwrap();
        let second = resend.request().unwrap();
        let body = request.body().and_then(reqwest::Body::as_bytes).unwrap();
        assert_eq!(body, br#"{"name":"a"}"#);
        for retry in [&first, &second] {
            assert_eq!(retry.method(), request.method());
            // Kept up front: the failed attempt's URL (another port) is not used.
            assert_eq!(retry.url(), request.url());
            assert_eq!(retry.headers(), request.headers());
            assert_eq!(retry.version(), request.version());
            let bytes = retry.body().and_then(reqwest::Body::as_bytes).unwrap();
            assert_eq!(bytes, body);
            // Shared, not copied: every body points at the same bytes.
            assert_eq!(bytes.as_ptr(), body.as_ptr());
        }
    }

    #[tokio::test]
    async fn without_a_kept_url_a_retry_goes_where_the_failed_attempt_went() {
        let mut request = request_with(Some(reqwest::Body::from("{}")));
        let mut resend = Resend::of(&mut request, false).unwrap();

        assert!(resend.request().is_none(), "the URL is not known yet");
        assert!(resend.learn_url(&Err(connect_error().await)));
        let from_error = resend.request().unwrap();
        assert_eq!(
            from_error.url().as_str(),
            "http://127.0.0.1:0/console/v1/users/teams"
        );

        let mut resend = Resend::of(&mut request, false).unwrap();
        let answered = http::Response::builder()
            .status(503)
            .url(reqwest::Url::parse("http://127.0.0.1:9/console/v1/users/teams").unwrap())
            .body("")
            .map(reqwest::Response::from)
            .unwrap();
        assert!(resend.learn_url(&Ok(answered)));
        let from_answer = resend.request().unwrap();
        assert_eq!(
            from_answer.url().as_str(),
            "http://127.0.0.1:9/console/v1/users/teams"
        );
        // Taken once: later retries go to the same place.
        assert!(resend.learn_url(&Err(connect_error().await)));
        let again = resend.request().unwrap();
        assert_eq!(again.url(), from_answer.url());
    }

    #[test]
    fn a_request_without_a_body_is_resent_without_one() {
        let mut request = request_with(None);
        let mut resend = Resend::of(&mut request, true).unwrap();
        let answered = http::Response::builder()
            .status(503)
            .body("")
            .map(reqwest::Response::from)
            .unwrap();
        assert!(resend.learn_url(&Ok(answered)));
        let retry = resend.request().unwrap();
        assert!(retry.body().is_none() && request.body().is_none());
        assert_eq!(retry.headers(), request.headers());
    }

    #[test]
    fn a_streamed_body_gets_no_resend_and_stays_in_the_request() {
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(Bytes::from_static(b"{}"))];
        let stream = futures_util::stream::iter(chunks);
        let mut request = request_with(Some(reqwest::Body::wrap_stream(stream)));
        assert!(Resend::of(&mut request, true).is_none());
        assert!(request.body().is_some(), "the stream is handed back");
    }
}
