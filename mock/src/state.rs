//! The fake Console's data and the vendor's merge rules for overrides.

use std::collections::{BTreeMap, HashSet};

use statsig_console::types::{ExperimentOverrides, Team, TeamCreate, TeamMember};

/// A user the fake knows, as Create Team resolves emails into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockUser {
    /// The user's id.
    pub user_id: String,
    /// The user's email address.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Project role: `Admin`, `Read Only`, `Member` or a custom role.
    pub role: String,
}

impl MockUser {
    /// A user with the `Member` role and an id derived from the email.
    pub fn new(email: &str, first_name: &str, last_name: &str) -> Self {
        Self {
            user_id: stable_id(&format!("user:{}", email.to_ascii_lowercase())),
            email: email.to_string(),
            first_name: first_name.to_string(),
            last_name: last_name.to_string(),
            role: "Member".to_string(),
        }
    }

    /// Derives a plausible user from an address nobody seeded: `ana.lopez@…` is Ana Lopez.
    pub(crate) fn derived(email: &str) -> Self {
        let local = email.split('@').next().unwrap_or(email);
        let mut names = local
            .split(['.', '_', '-', '+'])
            .filter(|part| !part.is_empty())
            .map(capitalize);
        let first = names.next().unwrap_or_else(|| local.to_string());
        let last: Vec<String> = names.collect();
        Self::new(email, &first, &last.join(" "))
    }

    fn as_member(&self) -> TeamMember {
        TeamMember {
            user_id: self.user_id.clone(),
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            role: self.role.clone(),
        }
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A 22-character base-62 id derived from `seed` (FNV-1a), so runs are reproducible.
pub(crate) fn stable_id(seed: &str) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut hash: u128 = 0x6c62272e07bb014262b821756295c58d;
    for byte in seed.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(0x0000000001000000000000000000013B);
    }
    (0..22)
        .map(|_| {
            let digit = (hash % 62) as usize;
            hash /= 62;
            char::from(ALPHABET[digit])
        })
        .collect()
}

/// An experiment: its groups and its current overrides.
#[derive(Debug, Clone)]
pub(crate) struct Experiment {
    pub(crate) groups: Vec<String>,
    pub(crate) overrides: ExperimentOverrides,
}

/// Everything the fake stores.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) experiments: BTreeMap<String, Experiment>,
    pub(crate) users: BTreeMap<String, MockUser>,
    pub(crate) teams: Vec<Team>,
}

/// A request the fake refuses for what it means rather than its shape (answered 400/404).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotFound(String),
    BadRequest(String),
}

impl State {
    /// Applies a partial update; returns the experiment's overrides afterwards.
    pub(crate) fn patch_overrides(
        &mut self,
        experiment_id: &str,
        update: &ExperimentOverrides,
    ) -> Result<ExperimentOverrides, Refusal> {
        let experiment = self
            .experiments
            .get_mut(experiment_id)
            .ok_or_else(|| Refusal::NotFound(format!("Experiment {experiment_id} not found.")))?;
        let known = |group: &str| experiment.groups.iter().any(|g| g == group);
        for (index, entry) in update.overrides.iter().enumerate() {
            if !known(&entry.group_id) {
                return Err(unknown_group(
                    &format!("overrides[{index}].groupID"),
                    &entry.group_id,
                    &experiment.groups,
                ));
            }
        }
        for (index, entry) in update.user_id_overrides.iter().enumerate() {
            if !known(&entry.group_id) {
                return Err(unknown_group(
                    &format!("userIDOverrides[{index}].groupID"),
                    &entry.group_id,
                    &experiment.groups,
                ));
            }
        }
        let current = &mut experiment.overrides;
        for incoming in &update.overrides {
            match current.overrides.iter_mut().find(|existing| {
                existing.type_ == incoming.type_
                    && existing.id == incoming.id
                    && existing.environment == incoming.environment
            }) {
                Some(existing) => existing.group_id.clone_from(&incoming.group_id),
                None => current.overrides.push(incoming.clone()),
            }
        }
        for incoming in &update.user_id_overrides {
            let same_scope = |environment: &Option<String>, unit_type: &Option<String>| {
                *environment == incoming.environment && *unit_type == incoming.unit_type
            };
            // Sets, not list scans: large updates send thousands of ids into entries that hold
            // tens of thousands.
            let incoming_ids: HashSet<&str> = incoming.ids.iter().map(String::as_str).collect();
            // Each id is forced into one group per scope: take it out of the others.
            for other in current.user_id_overrides.iter_mut().filter(|o| {
                o.group_id != incoming.group_id && same_scope(&o.environment, &o.unit_type)
            }) {
                other.ids.retain(|id| !incoming_ids.contains(id.as_str()));
            }
            let target = match current.user_id_overrides.iter().position(|o| {
                o.group_id == incoming.group_id && same_scope(&o.environment, &o.unit_type)
            }) {
                Some(position) => &mut current.user_id_overrides[position],
                None => {
                    let mut fresh = incoming.clone();
                    fresh.ids.clear();
                    current.user_id_overrides.push(fresh);
                    let last = current.user_id_overrides.len() - 1;
                    &mut current.user_id_overrides[last]
                }
            };
            let added: Vec<String> = {
                let mut present: HashSet<&str> = target.ids.iter().map(String::as_str).collect();
                incoming
                    .ids
                    .iter()
                    .filter(|id| present.insert(id.as_str()))
                    .cloned()
                    .collect()
            };
            target.ids.extend(added);
        }
        current
            .user_id_overrides
            .retain(|entry| !entry.ids.is_empty());
        Ok(current.clone())
    }

    /// Creates a team; refuses a name that is taken.
    pub(crate) fn create_team(&mut self, request: &TeamCreate) -> Result<Team, Refusal> {
        let name = request.name.to_string();
        if self
            .teams
            .iter()
            .any(|team| team.name.eq_ignore_ascii_case(&name))
        {
            return Err(Refusal::BadRequest(format!(
                "A team named {name} already exists."
            )));
        }
        let resolve = |emails: &[String]| -> Vec<TeamMember> {
            emails
                .iter()
                .map(|email| {
                    self.users
                        .get(&email.to_ascii_lowercase())
                        .cloned()
                        .unwrap_or_else(|| MockUser::derived(email))
                        .as_member()
                })
                .collect()
        };
        let team = Team {
            id: stable_id(&format!("team:{}", name.to_lowercase())),
            name,
            description: request.description.clone(),
            members: resolve(&request.members),
            admins: resolve(&request.admins),
            default_gate_metrics: request.default_gate_metrics.clone(),
            default_experiment_primary_metrics: request.default_experiment_primary_metrics.clone(),
            default_experiment_secondary_metrics: request
                .default_experiment_secondary_metrics
                .clone(),
            default_holdout_metrics: request.default_holdout_metrics.clone(),
            change_team_configs: request.change_team_configs.into(),
            review_approval: request.review_approval.into(),
            default_target_applications: request.default_target_applications.clone(),
            default_holdout_id: request.default_holdout_id.clone(),
            require_reviews: request.require_reviews,
            require_gate_templates: request.require_gate_templates,
            require_experiment_templates: request.require_experiment_templates,
            require_dynamic_config_templates: request.require_dynamic_config_templates,
        };
        self.teams.push(team.clone());
        Ok(team)
    }
}

fn unknown_group(field: &str, group: &str, groups: &[String]) -> Refusal {
    Refusal::BadRequest(format!(
        "`{field}`: group {group:?} does not exist in this experiment (groups: {})",
        groups.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use statsig_console::types::{ConditionalOverride, OverrideType, UserIdOverride};

    fn experiment() -> State {
        let mut state = State::default();
        state.experiments.insert(
            "exp".into(),
            Experiment {
                groups: vec!["Control".into(), "Test".into()],
                overrides: ExperimentOverrides {
                    overrides: vec![],
                    user_id_overrides: vec![],
                },
            },
        );
        state
    }

    fn ids(group: &str, ids: &[&str]) -> UserIdOverride {
        UserIdOverride {
            group_id: group.into(),
            ids: ids.iter().map(|s| s.to_string()).collect(),
            environment: None,
            unit_type: None,
        }
    }

    fn gate(id: &str, group: &str, environment: Option<&str>) -> ConditionalOverride {
        ConditionalOverride {
            type_: OverrideType::Gate,
            id: id.into(),
            group_id: group.into(),
            environment: environment.map(str::to_string),
        }
    }

    #[test]
    fn ids_merge_deduplicate_and_move_between_groups() {
        let mut state = experiment();
        let first = ExperimentOverrides {
            overrides: vec![],
            user_id_overrides: vec![ids("Test", &["a", "b", "a"])],
        };
        let after = state.patch_overrides("exp", &first).unwrap();
        assert_eq!(after.user_id_overrides, vec![ids("Test", &["a", "b"])]);

        let second = ExperimentOverrides {
            overrides: vec![],
            user_id_overrides: vec![ids("Control", &["b", "c"])],
        };
        let after = state.patch_overrides("exp", &second).unwrap();
        assert_eq!(
            after.user_id_overrides,
            vec![ids("Test", &["a"]), ids("Control", &["b", "c"])]
        );
    }

    #[test]
    fn conditional_overrides_upsert_by_type_id_and_environment() {
        let mut state = experiment();
        let update = |o| ExperimentOverrides {
            overrides: vec![o],
            user_id_overrides: vec![],
        };
        state
            .patch_overrides("exp", &update(gate("g", "Test", None)))
            .unwrap();
        state
            .patch_overrides("exp", &update(gate("g", "Control", None)))
            .unwrap();
        let after = state
            .patch_overrides("exp", &update(gate("g", "Test", Some("staging"))))
            .unwrap();
        assert_eq!(
            after.overrides,
            vec![
                gate("g", "Control", None),
                gate("g", "Test", Some("staging"))
            ]
        );
    }

    #[test]
    fn unknown_experiments_and_groups_are_refused_without_change() {
        let mut state = experiment();
        let update = ExperimentOverrides {
            overrides: vec![],
            user_id_overrides: vec![ids("Nope", &["a"])],
        };
        assert!(matches!(
            state.patch_overrides("missing", &update),
            Err(Refusal::NotFound(_))
        ));
        assert!(
            matches!(state.patch_overrides("exp", &update), Err(Refusal::BadRequest(m)) if m.contains("userIDOverrides[0].groupID"))
        );
        assert!(
            state.experiments["exp"]
                .overrides
                .user_id_overrides
                .is_empty()
        );
    }

    #[test]
    fn derived_users_are_deterministic() {
        let user = MockUser::derived("ana.lopez@example.com");
        assert_eq!(
            (user.first_name.as_str(), user.last_name.as_str()),
            ("Ana", "Lopez")
        );
        assert_eq!(
            user.user_id,
            MockUser::derived("ana.lopez@example.com").user_id
        );
        assert_eq!(user.user_id.len(), 22);
    }
}
