//! The hand-written client a user would write without this crate: reqwest + serde structs for
//! the same two operations, with the same headers. Not part of the library.

use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone)]
pub struct Override {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: String,
    #[serde(rename = "groupID")]
    pub group_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
}

#[derive(Serialize, Deserialize, Clone)]
pub struct UserIds {
    #[serde(rename = "groupID")]
    pub group_id: String,
    pub ids: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    #[serde(rename = "unitType", skip_serializing_if = "Option::is_none")]
    pub unit_type: Option<String>,
}

#[derive(Serialize, Deserialize, Clone)]
pub struct Overrides {
    pub overrides: Vec<Override>,
    #[serde(rename = "userIDOverrides")]
    pub user_id_overrides: Vec<UserIds>,
}

#[derive(Serialize, Deserialize, Clone)]
pub struct Metric {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct NewTeam {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub members: Vec<String>,
    pub admins: Vec<String>,
    pub default_gate_metrics: Vec<Metric>,
    pub default_experiment_primary_metrics: Vec<Metric>,
    pub default_experiment_secondary_metrics: Vec<Metric>,
    pub default_holdout_metrics: Vec<Metric>,
    pub change_team_configs: String,
    pub review_approval: String,
    pub default_target_applications: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    #[serde(rename = "userID")]
    pub user_id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Team {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub members: Vec<Member>,
    pub admins: Vec<Member>,
    pub default_gate_metrics: Vec<Metric>,
    pub default_experiment_primary_metrics: Vec<Metric>,
    pub default_experiment_secondary_metrics: Vec<Metric>,
    pub default_holdout_metrics: Vec<Metric>,
    pub change_team_configs: String,
    pub review_approval: String,
    pub default_target_applications: Vec<String>,
    #[serde(rename = "defaultHoldoutID")]
    pub default_holdout_id: Option<String>,
    pub require_reviews: Option<bool>,
}

#[derive(Deserialize)]
struct Envelope<T> {
    data: T,
}

#[derive(Clone)]
pub struct Baseline {
    http: reqwest::Client,
    base_url: String,
    key: String,
}

impl Baseline {
    pub fn new(base_url: &str, key: &str) -> Self {
        // What any production client sets: a request timeout (the crate's default), and a
        // User-Agent that names it, so that both sides send the same seven headers.
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .user_agent("hand-written-client/0.1.0")
            .build()
            .unwrap_or_else(|e| panic!("a reqwest client with a timeout builds: {e}"));
        Self {
            http,
            base_url: base_url.to_string(),
            key: key.to_string(),
        }
    }

    async fn send<B: Serialize, T: for<'de> Deserialize<'de>>(
        &self,
        method: reqwest::Method,
        path: &str,
        body: &B,
    ) -> Result<T, String> {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base_url))
            .header("STATSIG-API-KEY", &self.key)
            .header("STATSIG-API-VERSION", "20240601")
            .json(body)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)));
        }
        serde_json::from_slice::<Envelope<T>>(&bytes)
            .map(|e| e.data)
            .map_err(|e| e.to_string())
    }

    pub async fn patch_overrides(
        &self,
        experiment: &str,
        body: &Overrides,
    ) -> Result<Overrides, String> {
        let path = format!("/console/v1/experiments/{experiment}/overrides");
        self.send(reqwest::Method::PATCH, &path, body).await
    }

    pub async fn create_team(&self, team: &NewTeam) -> Result<Team, String> {
        self.send(reqwest::Method::POST, "/console/v1/users/teams", team)
            .await
    }
}
