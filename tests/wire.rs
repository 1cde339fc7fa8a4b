//! What reaches the server, and how answers map to results, against wiremock on 127.0.0.1.

mod common;

use common::{
    TEST_KEY, assert_no_key, client_for, sample_overrides, sample_team, team_response_json,
};
use serde_json::{Value, json};
use statsig_console::{Client, Error};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// The request's header names, sorted. `host` and `content-length` are HTTP framing that the
/// HTTP library adds to every request; the rest are exactly the headers the vendor documents.
fn header_names(request: &Request) -> Vec<String> {
    let mut names: Vec<String> = request
        .headers
        .keys()
        .map(|name| name.as_str().to_string())
        .collect();
    names.sort();
    names
}

const EXPECTED_HEADERS: [&str; 7] = [
    "accept",
    "content-length",
    "content-type",
    "host",
    "statsig-api-key",
    "statsig-api-version",
    "user-agent",
];

fn header<'r>(request: &'r Request, name: &str) -> &'r str {
    request
        .headers
        .get(name)
        .unwrap_or_else(|| panic!("header {name} missing"))
        .to_str()
        .unwrap()
}

fn body_json(request: &Request) -> Value {
    serde_json::from_slice(&request.body).expect("the request body is JSON")
}

fn overrides_response(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_json(json!({"message": "Experiment overrides updated.", "data": data}))
}

#[tokio::test]
async fn patch_sends_the_exact_request() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(path("/console/v1/experiments/checkout_flow/overrides"))
        .respond_with(overrides_response(
            serde_json::to_value(sample_overrides()).unwrap(),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let result = client_for(&server.uri())
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap();
    assert_eq!(result, sample_overrides());

    let requests = server.received_requests().await.unwrap();
    let request = &requests[0];
    assert_eq!(request.method.as_str(), "PATCH");
    assert_eq!(
        request.url.path(),
        "/console/v1/experiments/checkout_flow/overrides"
    );
    assert_eq!(request.url.query(), None);
    assert_eq!(header(request, "STATSIG-API-KEY"), TEST_KEY);
    assert_eq!(header(request, "STATSIG-API-VERSION"), "20240601");
    assert_eq!(header(request, "content-type"), "application/json");
    assert_eq!(header(request, "accept"), "application/json");
    assert!(header(request, "user-agent").starts_with("statsig-console-rust/"));
    assert_eq!(header_names(request), EXPECTED_HEADERS);
    // Exact vendor names, optional fields omitted rather than sent as null.
    assert_eq!(
        body_json(request),
        json!({
            "overrides": [
                {"type": "gate", "id": "employees_only", "groupID": "Test"},
                {"type": "segment", "id": "beta_testers", "groupID": "Control", "environment": "staging"}
            ],
            "userIDOverrides": [
                {"groupID": "Test", "ids": ["user_1842", "user_2210"], "environment": "production", "unitType": "userID"}
            ]
        })
    );
}

/// The generated builders start without a body and build the default one only where it is read
/// (`statsig-console-codegen` defers it): an unset body is still refused with progenitor's own
/// message before anything is sent, and `body_map` still starts from an empty body builder or
/// edits the body already set.
#[tokio::test]
async fn raw_builders_keep_their_body_semantics() {
    use statsig_console::types::{UserIdOverride, builder};

    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .respond_with(overrides_response(
            serde_json::to_value(sample_overrides()).unwrap(),
        ))
        .mount(&server)
        .await;
    let client = client_for(&server.uri());

    let unset = client.raw().create_team().send().await.unwrap_err();
    assert!(
        matches!(&unset, statsig_console::raw::Error::InvalidRequest(message)
            if message.starts_with("no value supplied for ")),
        "{unset:?}"
    );
    assert!(server.received_requests().await.unwrap().is_empty());

    let ids = UserIdOverride::builder()
        .group_id("Test")
        .ids(vec!["user_1".to_string()]);
    client
        .raw()
        .patch_experiment_overrides()
        .id("from_nothing")
        .body_map(|body: builder::ExperimentOverrides| {
            body.overrides(vec![])
                .user_id_overrides(vec![ids.try_into().unwrap()])
        })
        .send()
        .await
        .unwrap();
    client
        .raw()
        .patch_experiment_overrides()
        .id("edited")
        .body(sample_overrides())
        .body_map(|body| body.overrides(vec![]))
        .send()
        .await
        .unwrap();

    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        body_json(&requests[0]),
        json!({"overrides": [], "userIDOverrides": [{"groupID": "Test", "ids": ["user_1"]}]})
    );
    let mut edited = serde_json::to_value(sample_overrides()).unwrap();
    edited["overrides"] = json!([]);
    assert_eq!(body_json(&requests[1]), edited);
}

/// A `reqwest::Client` the user brings has none of the crate's defaults: the hook adds the
/// vendor's headers to each request instead, and the wire shows the same set.
#[tokio::test]
async fn a_users_own_reqwest_client_sends_the_same_headers() {
    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .respond_with(overrides_response(
            serde_json::to_value(sample_overrides()).unwrap(),
        ))
        .expect(1)
        .mount(&server)
        .await;
    let client = Client::builder()
        .api_key(TEST_KEY)
        .base_url(server.uri())
        .reqwest_client(reqwest::Client::new())
        .user_agent("release-bot/2")
        .build()
        .unwrap();
    client
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap();
    let requests = server.received_requests().await.unwrap();
    let request = &requests[0];
    assert_eq!(header_names(request), EXPECTED_HEADERS);
    assert_eq!(header(request, "STATSIG-API-KEY"), TEST_KEY);
    assert_eq!(header(request, "STATSIG-API-VERSION"), "20240601");
    assert_eq!(header(request, "user-agent"), "release-bot/2");
}

#[tokio::test]
async fn create_team_sends_the_exact_request() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/console/v1/users/teams"))
        .respond_with(ResponseTemplate::new(200).set_body_json(team_response_json()))
        .expect(1)
        .mount(&server)
        .await;

    let team = client_for(&server.uri())
        .create_team(sample_team())
        .await
        .unwrap();
    assert_eq!(team.id, "team_1");
    assert_eq!(team.members[1].user_id, "u2");
    assert_eq!(team.admins[0].email, "ana@example.com");

    let requests = server.received_requests().await.unwrap();
    let request = &requests[0];
    assert_eq!(request.method.as_str(), "POST");
    assert_eq!(request.url.path(), "/console/v1/users/teams");
    assert_eq!(header(request, "STATSIG-API-KEY"), TEST_KEY);
    assert_eq!(header(request, "STATSIG-API-VERSION"), "20240601");
    assert_eq!(header(request, "content-type"), "application/json");
    assert_eq!(header_names(request), EXPECTED_HEADERS);
    assert_eq!(
        body_json(request),
        json!({
            "name": "Checkout",
            "description": "Owns the checkout funnel.",
            "members": ["ana@example.com", "li@example.com"],
            "admins": ["ana@example.com"],
            "defaultGateMetrics": [{"name": "checkout_completed", "type": "event_count"}],
            "defaultExperimentPrimaryMetrics": [],
            "defaultExperimentSecondaryMetrics": [],
            "defaultHoldoutMetrics": [],
            "changeTeamConfigs": "team_only",
            "reviewApproval": "admin_only",
            "defaultTargetApplications": ["web"],
            "requireReviews": true
        })
    );
}

/// Serves one canned answer to any request.
async fn answering(template: ResponseTemplate) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(template)
        .mount(&server)
        .await;
    server
}

async fn patch_error(template: ResponseTemplate) -> Error {
    let server = answering(template).await;
    client_for(&server.uri())
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap_err()
}

#[tokio::test]
async fn vendor_error_bodies_map_to_their_variants() {
    let bad = patch_error(ResponseTemplate::new(400).set_body_json(json!({
        "status": 400, "message": "Invalid request. Please check the request input and try again."
    })))
    .await;
    assert!(
        matches!(&bad, Error::BadRequest { message, .. } if message.starts_with("Invalid request")),
        "{bad:?}"
    );
    assert_eq!(bad.status().map(|s| s.as_u16()), Some(400));

    let unauthorized = patch_error(ResponseTemplate::new(401).set_body_json(json!({
        "status": 401,
        "message": format!("This endpoint only accepts an active CONSOLE key, but an invalid key was sent. Key: {TEST_KEY}")
    })))
    .await;
    assert!(
        matches!(&unauthorized, Error::Unauthorized { message, .. } if message.contains("CONSOLE key")),
        "{unauthorized:?}"
    );
    // The server echoed the key; the error must not.
    assert_no_key(&format!("{unauthorized:?} {unauthorized}"));
    assert!(unauthorized.to_string().contains("[REDACTED]"));

    let missing = patch_error(ResponseTemplate::new(404).set_body_json(json!({
        "status": 404, "message": "Not Found. The requested resource could not be found."
    })))
    .await;
    assert!(
        matches!(&missing, Error::NotFound { message, .. } if message.starts_with("Not Found")),
        "{missing:?}"
    );
    assert_eq!(
        missing.server_message(),
        Some("Not Found. The requested resource could not be found.")
    );

    let limited = patch_error(
        ResponseTemplate::new(429)
            .insert_header("Retry-After", "7")
            .set_body_json(json!({"status": 429, "message": "Too many requests."})),
    )
    .await;
    assert_eq!(
        limited.retry_after(),
        Some(std::time::Duration::from_secs(7))
    );
    assert_eq!(limited.status().map(|s| s.as_u16()), Some(429));
}

#[tokio::test]
async fn a_plain_text_401_from_a_proxy_keeps_its_status() {
    let err =
        patch_error(ResponseTemplate::new(401).set_body_raw("Unauthorized", "text/plain")).await;
    assert_eq!(err.status().map(|s| s.as_u16()), Some(401));
    assert!(
        matches!(&err, Error::Unauthorized { message, body_excerpt } if message == "Unauthorized" && body_excerpt == "Unauthorized"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_500_with_html_reports_status_and_excerpt() {
    let page = format!(
        "<html><body><h1>Internal Server Error</h1>{}</body></html>",
        "x".repeat(4000)
    );
    let err = patch_error(ResponseTemplate::new(500).set_body_raw(page, "text/html")).await;
    assert_eq!(err.status().map(|s| s.as_u16()), Some(500));
    let excerpt = err.body_excerpt().unwrap();
    assert!(
        excerpt.starts_with("<html><body><h1>Internal Server Error"),
        "{excerpt}"
    );
    assert!(excerpt.len() <= statsig_console::BODY_EXCERPT_LIMIT + 3);
    assert!(matches!(err, Error::Api { message: None, .. }));
}

#[tokio::test]
async fn a_200_with_truncated_json_is_a_decode_error_with_status_200() {
    let err = patch_error(
        ResponseTemplate::new(200)
            .set_body_raw(r#"{"message":"ok","data":{"overr"#, "application/json"),
    )
    .await;
    match &err {
        Error::Decode {
            status,
            body_excerpt,
            ..
        } => {
            assert_eq!(status.as_u16(), 200);
            assert!(body_excerpt.starts_with(r#"{"message":"ok""#));
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_team_answer_that_breaks_the_schema_is_a_decode_error() {
    let server = answering(ResponseTemplate::new(200).set_body_json(json!({
        "message": "Team created successfully.",
        "data": {"name": "The Avengers", "members": []}
    })))
    .await;
    let err = client_for(&server.uri())
        .create_team(sample_team())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Decode { status, .. } if status.as_u16() == 200),
        "{err:?}"
    );
}

/// Adds `"x_future": {...}` to every object in `value`.
fn with_unknown_fields(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.values_mut().for_each(with_unknown_fields);
            map.insert("x_future".into(), json!({"nested": [1, 2, 3]}));
        }
        Value::Array(items) => items.iter_mut().for_each(with_unknown_fields),
        _ => {}
    }
}

#[tokio::test]
async fn unknown_fields_at_every_level_are_ignored() {
    let mut team = team_response_json();
    with_unknown_fields(&mut team);
    let server = answering(ResponseTemplate::new(200).set_body_json(team)).await;
    let created = client_for(&server.uri())
        .create_team(sample_team())
        .await
        .unwrap();
    assert_eq!(created.members.len(), 2);

    let mut overrides =
        json!({"message": "ok", "data": serde_json::to_value(sample_overrides()).unwrap()});
    with_unknown_fields(&mut overrides);
    let server = answering(ResponseTemplate::new(200).set_body_json(overrides)).await;
    let all = client_for(&server.uri())
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap();
    assert_eq!(all, sample_overrides());
}

#[tokio::test]
async fn missing_optional_fields_and_nulls_in_nullable_fields_decode() {
    let minimal_team = json!({
        "message": "ok",
        "data": {
            "id": "t", "name": "n", "members": [], "admins": [],
            "defaultGateMetrics": [], "defaultExperimentPrimaryMetrics": [],
            "defaultExperimentSecondaryMetrics": [], "defaultHoldoutMetrics": [],
            "changeTeamConfigs": "anyone", "reviewApproval": "anyone",
            "defaultTargetApplications": [],
            "defaultHoldoutID": null, "requireReviews": null, "requireGateTemplates": null,
            "requireExperimentTemplates": null, "requireDynamicConfigTemplates": null
        }
    });
    let server = answering(ResponseTemplate::new(200).set_body_json(minimal_team)).await;
    let team = client_for(&server.uri())
        .create_team(sample_team())
        .await
        .unwrap();
    assert_eq!(team.description, None);
    assert_eq!(team.default_holdout_id, None);
    assert_eq!(team.require_reviews, None);

    let minimal_overrides = json!({
        "message": "ok",
        "data": {
            "overrides": [{"type": "gate", "id": "g", "groupID": "Test", "environment": null}],
            "userIDOverrides": [{"groupID": "Test", "ids": ["a"], "environment": null, "unitType": null}]
        }
    });
    let server = answering(ResponseTemplate::new(200).set_body_json(minimal_overrides)).await;
    let all = client_for(&server.uri())
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap();
    assert_eq!(all.overrides[0].environment, None);
    assert_eq!(all.user_id_overrides[0].unit_type, None);
}

#[tokio::test]
async fn awkward_experiment_ids_stay_one_path_segment() {
    let server = answering(overrides_response(
        json!({"overrides": [], "userIDOverrides": []}),
    ))
    .await;
    let client = client_for(&server.uri());
    let ids = [
        "a/b",
        "what?x=1",
        "frag#ment",
        "with space",
        "100%",
        "café_テスト",
        "...",
        "a/../b",
    ];
    for id in ids {
        client
            .patch_experiment_overrides(id, sample_overrides())
            .await
            .unwrap();
    }
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), ids.len());
    for (id, request) in ids.iter().zip(&requests) {
        let path = request.url.path();
        let segments: Vec<&str> = path.split('/').collect();
        assert_eq!(segments.len(), 6, "{path}");
        assert_eq!(
            &segments[..4],
            ["", "console", "v1", "experiments"],
            "{path}"
        );
        assert_eq!(segments[5], "overrides", "{path}");
        assert_eq!(request.url.query(), None, "{path}");
        let decoded = percent_decode(segments[4]);
        assert_eq!(&decoded, id, "{path}");
    }
}

fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
            out.push(u8::from_str_radix(hex, 16).unwrap());
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).unwrap()
}

#[tokio::test]
async fn path_segment_ids_are_refused_before_any_request() {
    let server = answering(overrides_response(
        json!({"overrides": [], "userIDOverrides": []}),
    ))
    .await;
    let client = client_for(&server.uri());
    for id in ["", ".", ".."] {
        let err = client
            .patch_experiment_overrides(id, sample_overrides())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { field, .. } if field == "experiment_id"),
            "{err:?}"
        );
    }
    assert!(server.received_requests().await.unwrap().is_empty());
}

#[tokio::test]
async fn connection_refused_is_a_transport_error() {
    // Bind then drop, so the port is (almost certainly) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = client_for(&format!("http://127.0.0.1:{port}"))
        .create_team(sample_team())
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::Transport {
                connect_failed: true,
                status: None,
                ..
            }
        ),
        "{err:?}"
    );
    assert_no_key(&format!("{err:?} {err}"));
}

#[tokio::test]
async fn the_key_never_shows_in_debug_or_display() {
    let builder = Client::builder()
        .api_key(TEST_KEY)
        .base_url("http://127.0.0.1:1");
    assert_no_key(&format!("{builder:?}"));
    let client = builder.build().unwrap();
    assert_no_key(&format!("{client:?}"));
    assert_no_key(&format!("{:?}", client.raw()));

    let mut errors = vec![
        Client::builder()
            .api_key(format!("secret-{TEST_KEY}"))
            .build()
            .unwrap_err(),
        Client::builder()
            .api_key(TEST_KEY)
            .base_url("http://example.com")
            .build()
            .unwrap_err(),
        client
            .patch_experiment_overrides("..", sample_overrides())
            .await
            .unwrap_err(),
    ];
    for status in [400, 401, 404, 429, 500, 503] {
        errors.push(
            patch_error(
                ResponseTemplate::new(status)
                    .set_body_raw(format!("echo {TEST_KEY}"), "text/plain"),
            )
            .await,
        );
    }
    for err in &errors {
        assert_no_key(&format!("{err:?}"));
        assert_no_key(&format!("{err}"));
    }
}

#[tokio::test]
async fn raw_calls_see_the_url_of_an_answer_the_transport_read_first() {
    // An answer the spec does not declare comes back whole to a raw call. The transport reads
    // it first (to bound it and keep it for errors) and hands on a rebuilt response: with the
    // URL it came from, not reqwest's placeholder.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/console/v1/users/teams"))
        .respond_with(ResponseTemplate::new(418).set_body_string("a teapot"))
        .mount(&server)
        .await;
    let client = client_for(&server.uri());
    let error = client
        .raw()
        .create_team()
        .body(sample_team())
        .send()
        .await
        .unwrap_err();
    let statsig_console::raw::Error::UnexpectedResponse(response) = error else {
        panic!("expected the undeclared answer itself, got {error:?}");
    };
    assert_eq!(response.status().as_u16(), 418);
    assert_eq!(
        response.url().as_str(),
        format!("{}/console/v1/users/teams", server.uri())
    );
    assert_eq!(response.text().await.unwrap(), "a teapot");
}
