//! Helpers shared by the integration tests.
#![allow(dead_code)]

use statsig_console::Client;
use statsig_console::types::{
    ChangeTeamConfigs, ConditionalOverride, ExperimentOverrides, MetricRef, OverrideType,
    ReviewApproval, TeamCreate, UserIdOverride,
};

/// A key long enough to be redacted, and distinctive enough to find in any text.
pub const TEST_KEY: &str = "console-TESTKEY0123456789abcdefXYZ";

/// A client that sends each call once, so tests see exactly what the server answered.
pub fn client_for(base_url: &str) -> Client {
    Client::builder()
        .api_key(TEST_KEY)
        .base_url(base_url)
        .retry_policy(statsig_console::RetryPolicy::none())
        .no_rate_limit()
        .build()
        .expect("a loopback base URL and a console key are valid")
}

pub fn sample_overrides() -> ExperimentOverrides {
    ExperimentOverrides {
        overrides: vec![
            ConditionalOverride::builder()
                .type_(OverrideType::Gate)
                .id("employees_only")
                .group_id("Test")
                .try_into()
                .unwrap(),
            ConditionalOverride::builder()
                .type_(OverrideType::Segment)
                .id("beta_testers")
                .group_id("Control")
                .environment(Some("staging".to_string()))
                .try_into()
                .unwrap(),
        ],
        user_id_overrides: vec![
            UserIdOverride::builder()
                .group_id("Test")
                .ids(vec!["user_1842".to_string(), "user_2210".to_string()])
                .environment(Some("production".to_string()))
                .unit_type(Some("userID".to_string()))
                .try_into()
                .unwrap(),
        ],
    }
}

pub fn sample_team() -> TeamCreate {
    TeamCreate::builder()
        .name("Checkout")
        .description(Some("Owns the checkout funnel.".to_string()))
        .members(vec![
            "ana@example.com".to_string(),
            "li@example.com".to_string(),
        ])
        .admins(vec!["ana@example.com".to_string()])
        .default_gate_metrics(vec![MetricRef {
            name: "checkout_completed".into(),
            type_: "event_count".into(),
        }])
        .default_experiment_primary_metrics(vec![])
        .default_experiment_secondary_metrics(vec![])
        .default_holdout_metrics(vec![])
        .change_team_configs(ChangeTeamConfigs::TeamOnly)
        .review_approval(ReviewApproval::AdminOnly)
        .default_target_applications(vec!["web".to_string()])
        .require_reviews(Some(true))
        .try_into()
        .unwrap()
}

/// The JSON of a Create Team 200 answer for `sample_team`.
pub fn team_response_json() -> serde_json::Value {
    serde_json::json!({
        "message": "Team created successfully.",
        "data": {
            "id": "team_1",
            "name": "Checkout",
            "description": "Owns the checkout funnel.",
            "members": [
                {"userID": "u1", "email": "ana@example.com", "firstName": "Ana", "lastName": "Lopez", "role": "Admin"},
                {"userID": "u2", "email": "li@example.com", "firstName": "Li", "lastName": "Wei", "role": "Member"}
            ],
            "admins": [
                {"userID": "u1", "email": "ana@example.com", "firstName": "Ana", "lastName": "Lopez", "role": "Admin"}
            ],
            "defaultGateMetrics": [{"name": "checkout_completed", "type": "event_count"}],
            "defaultExperimentPrimaryMetrics": [],
            "defaultExperimentSecondaryMetrics": [],
            "defaultHoldoutMetrics": [],
            "changeTeamConfigs": "team_only",
            "reviewApproval": "admin_only",
            "defaultTargetApplications": ["web"],
            "requireReviews": true
        }
    })
}

/// Fails when `text` contains the test key.
pub fn assert_no_key(text: &str) {
    assert!(!text.contains(TEST_KEY), "the API key leaked into: {text}");
    assert!(
        !text.contains("TESTKEY0123456789"),
        "part of the API key leaked into: {text}"
    );
}
