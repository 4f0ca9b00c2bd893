//! Configuration: the file model, loading (TOML/YAML with `BEDROCK_EXPORTER__…` overrides),
//! validation that reports every problem at once, and expansion of targets into tuples.

use std::time::Duration;

/// How the `invoke` layer calls the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvokeMode {
    Converse,
    InvokeModel,
    None,
}

/// What a healthy probe of a target looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expect {
    Allow,
    Deny,
}

/// Probe settings after defaults and per-target overrides are applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeSettings {
    pub interval: Duration,
    pub timeout: Duration,
    pub concurrency: usize,
    pub invoke: InvokeMode,
    pub invoke_interval: Duration,
    pub model_access: bool,
    pub session_name: String,
    pub session_duration: Duration,
    pub max_tokens: u32,
    pub expect: Expect,
}

/// A source identity: the SDK's default chain, or a named profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub profile: Option<String>,
    pub expected_account: Option<String>,
}

/// A configured target (validated).
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub source: String,
    pub role_arn: Option<String>,
    /// Never shown in metrics, logs or status output.
    pub external_id: Option<String>,
    pub regions: Vec<String>,
    pub models: Vec<String>,
    pub settings: ProbeSettings,
}

impl Target {
    /// Account id parsed from `role_arn` (validated to be 12 digits), if there is a role.
    pub fn role_account(&self) -> Option<&str> {
        self.role_arn.as_deref().and_then(|a| a.split(':').nth(4))
    }

    /// Role name parsed from `role_arn` (the last path segment), or "" for a same-account target.
    pub fn role_name(&self) -> &str {
        self.role_arn
            .as_deref()
            .and_then(|a| a.rsplit('/').next())
            .unwrap_or("")
    }
}

/// One (target, region, model) tuple: the unit that is probed and exported.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TupleKey {
    pub target: String,
    pub aws_region: String,
    pub model_id: String,
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The file it was loaded from (for messages).
    pub path: std::path::PathBuf,
    /// Defaults of `[probe]`, used where a target does not override.
    pub defaults: ProbeSettings,
    pub sources: Vec<Source>,
    pub targets: Vec<Target>,
}

/// One problem found in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: std::path::PathBuf,
    /// 1-based line in the file, when it can be located.
    pub line: Option<usize>,
    /// The target's name, when the problem is inside a target.
    pub target: Option<String>,
    /// Dotted field path, e.g. `targets[2].role_arn` or `probe.interval`.
    pub field: String,
    pub message: String,
}

/// Every problem of a configuration, reported at once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s) in the configuration", problems.len())]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

/// Reads, merges (`BEDROCK_EXPORTER__…` environment overrides), validates and returns the
/// configuration at `path`.
pub fn load(path: &std::path::Path) -> Result<Config, ConfigError> {
    let _ = path;
    todo!("config loading")
}

impl Config {
    /// Every (target, region, model) tuple, in configuration order.
    pub fn tuples(&self) -> Vec<(TupleKey, &Target)> {
        let mut out = Vec::new();
        for t in &self.targets {
            for r in &t.regions {
                for m in &t.models {
                    out.push((
                        TupleKey {
                            target: t.name.clone(),
                            aws_region: r.clone(),
                            model_id: m.clone(),
                        },
                        t,
                    ));
                }
            }
        }
        out
    }

    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }
}
