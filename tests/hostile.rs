//! Hostile answers: every one must become a typed `Error` with the status (when there was one)
//! and a bounded excerpt, and nothing may panic. Plus property tests on random bodies and on
//! the round trip of every type.

mod common;
#[path = "common/raw_server.rs"]
mod raw_server;

use std::time::Duration;

use common::{sample_overrides, sample_team, team_response_json};
use proptest::prelude::*;
use raw_server::{RawAnswer, RawServer};
use serde_json::{Value, json};
use statsig_console::{BODY_EXCERPT_LIMIT, Client, Error, RetryPolicy};

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// A decode error carrying this (success) status.
    Decode(u16),
    /// Any error variant that reports this status.
    Status(u16),
    /// A transport error (no complete response), with the status when the head arrived.
    Transport(Option<u16>),
    /// The body passed the size cap.
    TooLarge,
}

#[derive(Clone, Copy)]
enum Operation {
    Patch,
    CreateTeam,
}

fn client(base_url: &str) -> Client {
    Client::builder()
        .api_key(common::TEST_KEY)
        .base_url(base_url)
        .timeout(Duration::from_millis(700))
        .max_response_bytes(4 * 1024 * 1024)
        .retry_policy(RetryPolicy::none())
        .no_rate_limit()
        .build()
        .unwrap()
}

async fn call(client: &Client, operation: Operation) -> Result<(), Error> {
    match operation {
        Operation::Patch => client
            .patch_experiment_overrides("checkout_flow", sample_overrides())
            .await
            .map(drop),
        Operation::CreateTeam => client.create_team(sample_team()).await.map(drop),
    }
}

fn valid_body(operation: Operation) -> Value {
    match operation {
        Operation::Patch => {
            json!({"message": "ok", "data": serde_json::to_value(sample_overrides()).unwrap()})
        }
        Operation::CreateTeam => team_response_json(),
    }
}

/// The valid answer with the value at `pointer` replaced (or removed, for `None`).
fn mutated(operation: Operation, pointer: &str, replacement: Option<Value>) -> Vec<u8> {
    let mut body = valid_body(operation);
    match replacement {
        Some(value) => {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            match body
                .pointer_mut(parent)
                .unwrap_or_else(|| panic!("no {parent}"))
            {
                Value::Object(map) => {
                    map.insert(key.to_string(), value);
                }
                Value::Array(items) => items[key.parse::<usize>().unwrap()] = value,
                other => panic!("{parent} is {other}"),
            }
        }
        None => {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            body.pointer_mut(parent)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(key);
        }
    }
    body.to_string().into_bytes()
}

fn common_cases(operation: Operation) -> Vec<(String, RawAnswer, Expect)> {
    let valid = valid_body(operation).to_string();
    let half = valid[..valid.len() / 2].to_string();
    let ten_mb = format!("{{\"message\":\"{}", "a".repeat(10 * 1024 * 1024));
    let deep = format!(
        "{{\"message\":\"x\",\"data\":{}{}}}",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let mut invalid_utf8 = br#"{"message":"ok","data":""#.to_vec();
    invalid_utf8.extend_from_slice(&[0xff, 0xfe, 0xc3, 0x28]);
    invalid_utf8.extend_from_slice(br#""}"#);
    let mut with_bom = vec![0xef, 0xbb, 0xbf];
    with_bom.extend_from_slice(valid.as_bytes());
    let cases: Vec<(&str, RawAnswer, Expect)> = vec![
        ("200 empty body", RawAnswer::json("200 OK", ""), Expect::Decode(200)),
        ("200 truncated JSON", RawAnswer::json("200 OK", half.clone()), Expect::Decode(200)),
        ("200 HTML error page", RawAnswer::http("200 OK", &[("content-type", "text/html")], "<html><body>Oops</body></html>"), Expect::Decode(200)),
        ("200 plain text", RawAnswer::http("200 OK", &[("content-type", "text/plain")], "OK"), Expect::Decode(200)),
        ("200 XML", RawAnswer::http("200 OK", &[("content-type", "application/xml")], "<?xml version=\"1.0\"?><ok/>"), Expect::Decode(200)),
        ("200 JSON array", RawAnswer::json("200 OK", "[]"), Expect::Decode(200)),
        ("200 JSON null", RawAnswer::json("200 OK", "null"), Expect::Decode(200)),
        ("200 JSON string", RawAnswer::json("200 OK", "\"ok\""), Expect::Decode(200)),
        ("200 JSON number", RawAnswer::json("200 OK", "42"), Expect::Decode(200)),
        ("200 empty object", RawAnswer::json("200 OK", "{}"), Expect::Decode(200)),
        ("200 message missing", RawAnswer::json("200 OK", mutated(operation, "/message", None)), Expect::Decode(200)),
        ("200 message not a string", RawAnswer::json("200 OK", mutated(operation, "/message", Some(json!(5)))), Expect::Decode(200)),
        ("200 data missing", RawAnswer::json("200 OK", mutated(operation, "/data", None)), Expect::Decode(200)),
        ("200 data null", RawAnswer::json("200 OK", mutated(operation, "/data", Some(Value::Null))), Expect::Decode(200)),
        ("200 data a string", RawAnswer::json("200 OK", mutated(operation, "/data", Some(json!("x")))), Expect::Decode(200)),
        ("200 carrying an error shape", RawAnswer::json("200 OK", r#"{"status":500,"message":"internal error"}"#), Expect::Decode(200)),
        ("200 invalid UTF-8", RawAnswer::json("200 OK", invalid_utf8), Expect::Decode(200)),
        ("200 with a byte-order mark", RawAnswer::json("200 OK", with_bom), Expect::Decode(200)),
        ("200 nested 100 000 deep", RawAnswer::json("200 OK", deep), Expect::Decode(200)),
        ("200 10 MB body over the 4 MiB cap", RawAnswer::json("200 OK", ten_mb), Expect::TooLarge),
        ("200 body stalls past the timeout", RawAnswer::raw(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{half}", valid.len())).stalling(Duration::from_secs(3)), Expect::Transport(Some(200))),
        ("200 head, then the body never comes", RawAnswer::raw(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n", valid.len())).stalling(Duration::from_secs(3)), Expect::Transport(Some(200))),
        ("200 cut short and closed", RawAnswer::raw(format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{}", valid.len(), &valid[..10])), Expect::Transport(Some(200))),
        ("101 switching protocols", RawAnswer::raw("HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n"), Expect::Status(101)),
        ("201 created", RawAnswer::json("201 Created", valid.clone()), Expect::Status(201)),
        ("204 no content", RawAnswer::raw("HTTP/1.1 204 No Content\r\n\r\n"), Expect::Status(204)),
        ("301 redirect", RawAnswer::http("301 Moved Permanently", &[("location", "http://127.0.0.1:9/elsewhere")], ""), Expect::Status(301)),
        ("304 not modified", RawAnswer::raw("HTTP/1.1 304 Not Modified\r\n\r\n"), Expect::Status(304)),
        ("400 empty body", RawAnswer::json("400 Bad Request", ""), Expect::Status(400)),
        ("400 HTML", RawAnswer::http("400 Bad Request", &[("content-type", "text/html")], "<h1>Bad</h1>"), Expect::Status(400)),
        ("401 status as a string", RawAnswer::json("401 Unauthorized", r#"{"status":"401","message":7}"#), Expect::Status(401)),
        ("403 forbidden from a proxy", RawAnswer::http("403 Forbidden", &[("content-type", "text/plain")], "Forbidden"), Expect::Status(403)),
        ("404 JSON array", RawAnswer::json("404 Not Found", "[1,2,3]"), Expect::Status(404)),
        ("418 teapot", RawAnswer::json("418 I'm a teapot", r#"{"status":418,"message":"short and stout"}"#), Expect::Status(418)),
        ("429 garbage Retry-After", RawAnswer::http("429 Too Many Requests", &[("retry-after", "soon-ish")], "{}"), Expect::Status(429)),
        ("429 HTTP-date Retry-After", RawAnswer::http("429 Too Many Requests", &[("retry-after", "Wed, 21 Oct 2015 07:28:00 GMT")], "slow down"), Expect::Status(429)),
        ("500 empty", RawAnswer::json("500 Internal Server Error", ""), Expect::Status(500)),
        ("502 HTML", RawAnswer::http("502 Bad Gateway", &[("content-type", "text/html")], "<html>bad gateway</html>".repeat(500)), Expect::Status(502)),
        ("503 with Retry-After", RawAnswer::http("503 Service Unavailable", &[("retry-after", "1")], "{}"), Expect::Status(503)),
        ("599 made-up status", RawAnswer::json("599 Whatever", "{}"), Expect::Status(599)),
        ("garbage status line", RawAnswer::raw("HTTP/1.1 abc\r\n\r\n"), Expect::Transport(None)),
        ("not HTTP at all", RawAnswer::raw("hello there\r\n"), Expect::Transport(None)),
        ("closed without a byte", RawAnswer::raw(""), Expect::Transport(None)),
    ];
    cases
        .into_iter()
        .map(|(name, answer, expect)| (name.to_string(), answer, expect))
        .collect()
}

fn field_cases(operation: Operation) -> Vec<(String, RawAnswer, Expect)> {
    let changes: Vec<(&str, Option<Value>)> = match operation {
        Operation::Patch => vec![
            ("/data/overrides", Some(json!("x"))),
            ("/data/overrides", None),
            ("/data/overrides/0", Some(json!(1))),
            ("/data/overrides/0/type", Some(json!(5))),
            ("/data/overrides/0/type", Some(Value::Null)),
            ("/data/overrides/0/id", Some(Value::Null)),
            ("/data/overrides/0/groupID", Some(json!([]))),
            ("/data/overrides/1/environment", Some(json!(5))),
            ("/data/userIDOverrides", Some(json!({}))),
            ("/data/userIDOverrides/0/ids", Some(json!("a"))),
            ("/data/userIDOverrides/0/ids/0", Some(json!(7))),
            ("/data/userIDOverrides/0/groupID", None),
            ("/data/userIDOverrides/0/unitType", Some(json!(true))),
        ],
        Operation::CreateTeam => vec![
            ("/data/id", Some(json!(5))),
            ("/data/id", None),
            ("/data/name", Some(Value::Null)),
            ("/data/description", Some(json!(5))),
            ("/data/members", Some(json!("x"))),
            ("/data/members/0/userID", None),
            ("/data/members/0/email", Some(json!(5))),
            ("/data/admins", Some(Value::Null)),
            ("/data/defaultGateMetrics/0/name", Some(json!(1))),
            ("/data/changeTeamConfigs", Some(json!(5))),
            ("/data/reviewApproval", Some(Value::Null)),
            ("/data/defaultTargetApplications", Some(json!([1]))),
            ("/data/requireReviews", Some(json!("yes"))),
            ("/data/defaultHoldoutID", Some(json!(5))),
        ],
    };
    changes
        .into_iter()
        .map(|(pointer, replacement)| {
            let name = format!("200 with {pointer} = {replacement:?}");
            (
                name,
                RawAnswer::json("200 OK", mutated(operation, pointer, replacement)),
                Expect::Decode(200),
            )
        })
        .collect()
}

fn check(name: &str, result: Result<(), Error>, expect: Expect) {
    let error = match result {
        Ok(()) => panic!("{name}: a hostile answer was accepted"),
        Err(error) => error,
    };
    // Formatting never panics and stays bounded, whatever the body was.
    let shown = format!("{error} {error:?}");
    assert!(
        shown.len() < 8 * BODY_EXCERPT_LIMIT,
        "{name}: {} bytes of error text",
        shown.len()
    );
    if let Some(excerpt) = error.body_excerpt() {
        assert!(
            excerpt.len() <= BODY_EXCERPT_LIMIT + 3,
            "{name}: excerpt of {} bytes",
            excerpt.len()
        );
    }
    let status = error.status().map(|s| s.as_u16());
    match expect {
        Expect::Decode(code) => {
            let ok = matches!(&error, Error::Decode { status, .. } if status.as_u16() == code)
                // A stalled body times out while reading: the status is still known.
                || matches!(&error, Error::Transport { status: Some(status), .. } if status.as_u16() == code);
            assert!(
                ok,
                "{name}: expected a decode error with {code}, got {error:?}"
            );
        }
        Expect::Status(code) => assert_eq!(status, Some(code), "{name}: {error:?}"),
        Expect::Transport(code) => {
            assert!(
                matches!(error, Error::Transport { .. }),
                "{name}: {error:?}"
            );
            assert_eq!(status, code, "{name}: {error:?}");
        }
        Expect::TooLarge => assert!(
            matches!(error, Error::ResponseTooLarge { .. }),
            "{name}: {error:?}"
        ),
    }
}

async fn run_table(operation: Operation) -> usize {
    let server = RawServer::start().await;
    let client = client(&server.base_url);
    let mut cases = common_cases(operation);
    cases.extend(field_cases(operation));
    for (name, answer, expect) in &cases {
        server.answer_with(answer.clone());
        check(name, call(&client, operation).await, *expect);
    }
    cases.len()
}

#[tokio::test]
async fn hostile_answers_to_patch_become_typed_errors() {
    let count = run_table(Operation::Patch).await;
    assert!(count >= 40, "only {count} cases");
}

#[tokio::test]
async fn hostile_answers_to_create_team_become_typed_errors() {
    let count = run_table(Operation::CreateTeam).await;
    assert!(count >= 40, "only {count} cases");
}

#[tokio::test]
async fn unknown_override_types_in_answers_decode_and_round_trip() {
    let server = RawServer::start().await;
    let body = mutated(
        Operation::Patch,
        "/data/overrides/0/type",
        Some(json!("experiment_group")),
    );
    server.answer_with(RawAnswer::json("200 OK", body.clone()));
    let all = client(&server.base_url)
        .patch_experiment_overrides("checkout_flow", sample_overrides())
        .await
        .unwrap();
    assert_eq!(all.overrides[0].type_.as_str(), "experiment_group");
    let original: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(serde_json::to_value(&all).unwrap(), original["data"]);
}

#[tokio::test]
async fn an_unknown_override_type_is_never_sent() {
    let server = RawServer::start().await;
    let mut update = sample_overrides();
    update.overrides[1].type_ = "experiment_group".parse().unwrap();
    let err = client(&server.base_url)
        .patch_experiment_overrides("checkout_flow", update)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidInput { field, .. } if field == "overrides[1].type"),
        "{err:?}"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn random_bodies_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..2048),
        status in prop::sample::select(vec!["200 OK", "400 Bad Request", "401 Unauthorized", "404 Not Found", "429 Too Many Requests", "500 Internal Server Error"]),
        patch in any::<bool>(),
    ) {
        let runtime = runtime();
        runtime.block_on(async {
            let server = RawServer::start().await;
            server.answer_with(RawAnswer::json(status, body.clone()));
            let operation = if patch { Operation::Patch } else { Operation::CreateTeam };
            let code: u16 = status[..3].parse().unwrap();
            match call(&client(&server.base_url), operation).await {
                // Random bytes can only succeed by being a valid answer.
                Ok(()) => prop_assert_eq!(code, 200),
                Err(error) => {
                    prop_assert_eq!(error.status().map(|s| s.as_u16()), Some(code));
                    if let Some(excerpt) = error.body_excerpt() {
                        prop_assert!(excerpt.len() <= BODY_EXCERPT_LIMIT + 3);
                    }
                }
            }
            Ok(())
        })?;
    }
}

mod round_trips {
    use proptest::prelude::*;
    use statsig_console::types::{
        ChangeTeamConfigs, ChangeTeamConfigsSetting, ConditionalOverride, ExperimentOverrides,
        MetricRef, OverrideType, ReviewApproval, ReviewApprovalSetting, Team, TeamCreate,
        TeamMember, UserIdOverride,
    };

    fn text() -> impl Strategy<Value = String> {
        "\\PC{0,12}"
    }

    fn open_value() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("anyone".to_string()),
            Just("team_only".to_string()),
            Just("admin_only".to_string()),
            "[a-z_]{1,10}"
        ]
    }

    prop_compose! {
        fn conditional()(kind in prop_oneof![Just("gate".to_string()), Just("segment".to_string()), "[a-z_]{1,10}"], id in text(), group in text(), environment in proptest::option::of(text())) -> ConditionalOverride {
            ConditionalOverride { type_: kind.parse::<OverrideType>().unwrap(), id, group_id: group, environment }
        }
    }

    prop_compose! {
        fn user_ids()(group in text(), ids in proptest::collection::vec(text(), 0..5), environment in proptest::option::of(text()), unit_type in proptest::option::of(text())) -> UserIdOverride {
            UserIdOverride { group_id: group, ids, environment, unit_type }
        }
    }

    prop_compose! {
        fn metric()(name in text(), kind in text()) -> MetricRef { MetricRef { name, type_: kind } }
    }

    prop_compose! {
        fn member()(user_id in text(), email in text(), first_name in text(), last_name in text(), role in text()) -> TeamMember {
            TeamMember { user_id, email, first_name, last_name, role }
        }
    }

    prop_compose! {
        fn team()(
            id in text(), name in text(), description in proptest::option::of(text()),
            members in proptest::collection::vec(member(), 0..3), admins in proptest::collection::vec(member(), 0..3),
            metrics in proptest::collection::vec(metric(), 0..3), apps in proptest::collection::vec(text(), 0..3),
            change in open_value(), review in open_value(), holdout in proptest::option::of(text()),
            flags in proptest::array::uniform4(proptest::option::of(any::<bool>())),
        ) -> Team {
            Team {
                id, name, description, members, admins,
                default_gate_metrics: metrics.clone(), default_experiment_primary_metrics: metrics.clone(),
                default_experiment_secondary_metrics: vec![], default_holdout_metrics: metrics,
                change_team_configs: change.parse::<ChangeTeamConfigsSetting>().unwrap(),
                review_approval: review.parse::<ReviewApprovalSetting>().unwrap(),
                default_target_applications: apps, default_holdout_id: holdout,
                require_reviews: flags[0], require_gate_templates: flags[1],
                require_experiment_templates: flags[2], require_dynamic_config_templates: flags[3],
            }
        }
    }

    prop_compose! {
        fn team_create()(
            name in "\\PC{1,12}", description in proptest::option::of(text()),
            members in proptest::collection::vec(text(), 0..3), metrics in proptest::collection::vec(metric(), 0..3),
            change in prop_oneof![Just(ChangeTeamConfigs::Anyone), Just(ChangeTeamConfigs::TeamOnly)],
            review in prop_oneof![Just(ReviewApproval::Anyone), Just(ReviewApproval::TeamOnly), Just(ReviewApproval::AdminOnly)],
            flags in proptest::array::uniform4(proptest::option::of(any::<bool>())), holdout in proptest::option::of(text()),
        ) -> TeamCreate {
            TeamCreate::builder()
                .name(name).description(description).members(members.clone()).admins(members)
                .default_gate_metrics(metrics.clone()).default_experiment_primary_metrics(metrics.clone())
                .default_experiment_secondary_metrics(metrics.clone()).default_holdout_metrics(metrics)
                .change_team_configs(change).review_approval(review).default_target_applications(vec![])
                .default_holdout_id(holdout)
                .require_reviews(flags[0]).require_gate_templates(flags[1])
                .require_experiment_templates(flags[2]).require_dynamic_config_templates(flags[3])
                .try_into().unwrap()
        }
    }

    fn round_trip<
        T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
    >(
        value: &T,
    ) -> Result<(), TestCaseError> {
        let json = serde_json::to_string(value).unwrap();
        let back: T = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, value);
        // And the JSON itself is stable.
        prop_assert_eq!(serde_json::to_string(&back).unwrap(), json);
        Ok(())
    }

    proptest! {
        #[test]
        fn experiment_overrides(overrides in proptest::collection::vec(conditional(), 0..4), ids in proptest::collection::vec(user_ids(), 0..4)) {
            round_trip(&ExperimentOverrides { overrides, user_id_overrides: ids })?;
        }

        #[test]
        fn teams(team in team()) {
            round_trip(&team)?;
        }

        #[test]
        fn team_creates(team in team_create()) {
            round_trip(&team)?;
        }
    }
}
