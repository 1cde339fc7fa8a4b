//! The API key never shows: not in `Debug`/`Display` of anything, not in errors, not in
//! tracing output at any level (TRACE logs bodies), even when a server echoes it back.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use common::{TEST_KEY, assert_no_key, sample_overrides, sample_team};
use statsig_console::RateLimit;
use statsig_console::{Client, RetryPolicy};
use statsig_console_mock::{Fault, MockConsole};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_key_appears_in_no_output_at_any_level() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    // The fake accepts another key, so it answers our key with a 401 that echoes it.
    let console = MockConsole::builder()
        .api_key("console-the-accepted-one-42")
        .experiment("checkout_flow", ["Control", "Test"])
        .rate_limits(RateLimit::new())
        .start()
        .await
        .unwrap();
    let wrong = Client::builder()
        .api_key(TEST_KEY)
        .base_url(console.base_url())
        .retry_policy(RetryPolicy::default().initial_backoff(std::time::Duration::from_millis(5)))
        .build()
        .unwrap();
    let mut shown = vec![format!("{wrong:?}")];
    for error in [
        wrong.create_team(sample_team()).await.unwrap_err(),
        wrong
            .patch_experiment_overrides("checkout_flow", sample_overrides())
            .await
            .unwrap_err(),
        wrong
            .patch_experiment_overrides("..", sample_overrides())
            .await
            .unwrap_err(),
    ] {
        shown.push(format!("{error}"));
        shown.push(format!("{error:?}"));
        shown.push(format!("{:?}", std::error::Error::source(&error)));
    }
    // Retries, faults and successes are logged too.
    const ACCEPTED: &str = "console-the-accepted-one-42";
    console.inject(Fault::status(503, &format!("echo {ACCEPTED}")));
    let right = Client::builder()
        .api_key(console.api_key())
        .base_url(console.base_url())
        .retry_policy(RetryPolicy::default().initial_backoff(std::time::Duration::from_millis(5)))
        .build()
        .unwrap();
    right
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap();
    shown.push(format!("{:?}", console.journal()));

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("statsig_console.call"),
        "the call span was not logged:\n{log}"
    );
    assert!(log.contains("operation_id=\"createTeam\""), "{log}");
    assert!(
        log.contains("response body"),
        "bodies are logged at TRACE: {log}"
    );
    assert!(
        log.contains("[REDACTED]"),
        "the echoed key was redacted: {log}"
    );
    assert_no_key(&log);
    assert!(
        !log.contains(ACCEPTED),
        "the second client's key leaked: {log}"
    );
    for text in &shown {
        assert_no_key(text);
        assert!(!text.contains(ACCEPTED), "{text}");
    }
}
