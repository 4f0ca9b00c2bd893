//! The `[[models]]` and `[[inference_profiles]]` sections: the Bedrock model catalogue (where
//! each model is offered, its lifecycle and how it may be invoked) and the inference profiles
//! that route to a model.

use std::collections::HashMap;

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

/// Checks and compiles `[[models]]`, keyed by model id.
pub(super) fn models(defs: &[ModelDef], problems: &mut Vec<String>) -> HashMap<String, Model> {
    let mut models = HashMap::new();
    for (i, m) in defs.iter().enumerate() {
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
