//! The `[[models]]` and `[[inference_profiles]]` sections: the Bedrock model catalogue (where
//! each model is offered, its lifecycle and its dates, how it may be invoked) and the inference
//! profiles that route to a model.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::check::is_region;

/// Model lifecycle as the catalogue shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Lifecycle {
    #[serde(rename = "ACTIVE")]
    Active,
    #[serde(rename = "LEGACY")]
    Legacy,
    /// End of life: still resolvable, every invocation fails.
    #[serde(rename = "EOL")]
    Eol,
}

/// How a model may be invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InferenceMode {
    OnDemand,
    /// Only through an inference profile (bare id → "on-demand throughput isn’t supported").
    ProfileOnly,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ModelDef {
    id: String,
    #[serde(default)]
    name: Option<String>,
    provider: String,
    regions: Vec<String>,
    #[serde(default)]
    lifecycle: Option<Lifecycle>,
    #[serde(default)]
    inference: Option<InferenceMode>,
    #[serde(default)]
    input_modalities: Option<Vec<String>>,
    #[serde(default)]
    output_modalities: Option<Vec<String>>,
    /// Largest `maxTokens` the model accepts (default 4096).
    #[serde(default)]
    max_tokens: Option<u32>,
    /// When the model becomes (or became) Legacy: RFC 3339, or relative to the load ("+20d",
    /// "-60d"), see [`lifecycle_time`].
    #[serde(default)]
    legacy_time: Option<String>,
    /// When the public extended access part of the legacy period starts.
    #[serde(default)]
    public_extended_access_time: Option<String>,
    /// When the model reaches end of life.
    #[serde(default)]
    end_of_life_time: Option<String>,
    /// Service tiers offered besides `default` (default: `priority` and `flex`).
    #[serde(default)]
    service_tiers: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProfileDef {
    id: String,
    #[serde(default)]
    name: Option<String>,
    model: String,
    /// Regions the profile can be called from and routes to.
    regions: Vec<String>,
}

#[derive(Debug)]
pub struct Model {
    pub id: String,
    pub name: String,
    pub provider: String,
    pub regions: Vec<String>,
    pub lifecycle: Lifecycle,
    pub inference: InferenceMode,
    pub input_modalities: Vec<String>,
    pub output_modalities: Vec<String>,
    pub max_tokens: u32,
    /// The dates of `modelLifecycle` (GetFoundationModel, ListFoundationModels), if given.
    pub dates: LifecycleDates,
    /// The service tiers an invocation may ask for (`default` always works).
    pub service_tiers: Vec<String>,
}

/// When a model becomes Legacy, enters public extended access and reaches end of life.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LifecycleDates {
    pub legacy: Option<DateTime<Utc>>,
    pub public_extended_access: Option<DateTime<Utc>>,
    pub end_of_life: Option<DateTime<Utc>>,
}

/// A lifecycle date as the scenario writes it: an RFC 3339 time (`2026-12-20T00:00:00Z`), or a
/// number of days from the day the scenario is loaded (`+20d`, `-60d`, `20d`; any humantime
/// duration, rounded down to whole days), at midnight UTC, so a demo model stays "near end of
/// life" whenever the demo runs.
fn lifecycle_time(
    field: &str,
    text: &str,
    today: DateTime<Utc>,
    problems: &mut Vec<String>,
) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let (sign, rest) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let days = humantime::parse_duration(rest)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs() / 86_400).ok())
        .filter(|d| *d <= 36_500);
    let Some(days) = days else {
        problems.push(format!(
            "{field}: `{text}` is neither an RFC 3339 time nor a number of days like \"+20d\" or \"-60d\""
        ));
        return None;
    };
    let midnight = today.date_naive().and_hms_opt(0, 0, 0)?.and_utc();
    Some(midnight + chrono::TimeDelta::days(sign * days))
}

impl Model {
    pub fn offered_in(&self, region: &str) -> bool {
        self.regions.iter().any(|r| r == region)
    }
    pub fn is_embedding(&self) -> bool {
        self.output_modalities
            .iter()
            .any(|m| m.eq_ignore_ascii_case("EMBEDDING"))
    }
}

#[derive(Debug)]
pub struct Profile {
    pub id: String,
    pub name: String,
    pub model: String,
    pub regions: Vec<String>,
}

/// Problems of a list of region names (`field[j]`), and of an empty one.
fn regions(field: &str, regions: &[String], problems: &mut Vec<String>) {
    if regions.is_empty() {
        problems.push(format!("{field}: empty"));
    }
    for (j, r) in regions.iter().enumerate() {
        if !is_region(r) {
            problems.push(format!("{field}[{j}]: `{r}` is not a region name"));
        }
    }
}

/// The model's `service_tiers`, each one of the API's values.
fn service_tiers(i: usize, tiers: Option<&[String]>, problems: &mut Vec<String>) -> Vec<String> {
    let Some(tiers) = tiers else {
        return vec!["default".into(), "priority".into(), "flex".into()];
    };
    for t in tiers {
        if !["default", "priority", "flex", "reserved"].contains(&t.as_str()) {
            problems.push(format!(
                "models[{i}].service_tiers: `{t}` is not a service tier (default, priority, flex, reserved)"
            ));
        }
    }
    tiers.to_vec()
}

/// Checks and compiles `[[models]]`, keyed by model id.
pub(super) fn models(defs: &[ModelDef], problems: &mut Vec<String>) -> HashMap<String, Model> {
    let mut models = HashMap::new();
    let today = Utc::now();
    for (i, m) in defs.iter().enumerate() {
        let mut date = |key: &str, text: &Option<String>| {
            let field = format!("models[{i}].{key}");
            text.as_deref()
                .and_then(|t| lifecycle_time(&field, t, today, problems))
        };
        let dates = LifecycleDates {
            legacy: date("legacy_time", &m.legacy_time),
            public_extended_access: date(
                "public_extended_access_time",
                &m.public_extended_access_time,
            ),
            end_of_life: date("end_of_life_time", &m.end_of_life_time),
        };
        if m.id.is_empty() || !m.id.contains('.') {
            problems.push(format!(
                "models[{i}].id: `{}` is not a model id (provider.name...)",
                m.id
            ));
        }
        regions(&format!("models[{i}].regions"), &m.regions, problems);
        let model = Model {
            id: m.id.clone(),
            name: m.name.clone().unwrap_or_else(|| m.id.clone()),
            provider: m.provider.clone(),
            regions: m.regions.clone(),
            lifecycle: m.lifecycle.unwrap_or(Lifecycle::Active),
            inference: m.inference.unwrap_or(InferenceMode::OnDemand),
            input_modalities: m
                .input_modalities
                .clone()
                .unwrap_or_else(|| vec!["TEXT".into()]),
            output_modalities: m
                .output_modalities
                .clone()
                .unwrap_or_else(|| vec!["TEXT".into()]),
            max_tokens: m.max_tokens.unwrap_or(4096),
            dates,
            service_tiers: service_tiers(i, m.service_tiers.as_deref(), problems),
        };
        if models.insert(m.id.clone(), model).is_some() {
            problems.push(format!("models[{i}].id: model `{}` is defined twice", m.id));
        }
    }
    models
}

/// Checks and compiles `[[inference_profiles]]` against the models, keyed by profile id.
pub(super) fn profiles(
    defs: &[ProfileDef],
    models: &HashMap<String, Model>,
    problems: &mut Vec<String>,
) -> HashMap<String, Profile> {
    let mut profiles = HashMap::new();
    for (i, pr) in defs.iter().enumerate() {
        if !models.contains_key(&pr.model) {
            problems.push(format!(
                "inference_profiles[{i}].model: model `{}` is not in [[models]]",
                pr.model
            ));
        }
        if models.contains_key(&pr.id) {
            problems.push(format!(
                "inference_profiles[{i}].id: `{}` is also a model id",
                pr.id
            ));
        }
        regions(
            &format!("inference_profiles[{i}].regions"),
            &pr.regions,
            problems,
        );
        let prof = Profile {
            id: pr.id.clone(),
            name: pr.name.clone().unwrap_or_else(|| pr.id.clone()),
            model: pr.model.clone(),
            regions: pr.regions.clone(),
        };
        if profiles.insert(pr.id.clone(), prof).is_some() {
            problems.push(format!(
                "inference_profiles[{i}].id: profile `{}` is defined twice",
                pr.id
            ));
        }
    }
    profiles
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        match DateTime::parse_from_rfc3339(text) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => panic!("{text}: {e}"),
        }
    }

    #[test]
    fn lifecycle_times_are_rfc3339_or_whole_days_from_the_load_at_midnight() {
        let today = at("2026-11-30T10:15:00Z");
        let mut problems = Vec::new();
        let mut t = |s: &str| lifecycle_time("f", s, today, &mut problems);
        assert_eq!(t("2027-01-15T00:00:00Z"), Some(at("2027-01-15T00:00:00Z")));
        assert_eq!(t("+20d"), Some(at("2026-12-20T00:00:00Z")));
        assert_eq!(t("20d"), Some(at("2026-12-20T00:00:00Z")));
        assert_eq!(t("-60d"), Some(at("2026-10-01T00:00:00Z")));
        assert_eq!(t("soon"), None);
        assert_eq!(t("+1000000d"), None);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("f: `soon` is neither"),
            "{problems:?}"
        );
    }
}
