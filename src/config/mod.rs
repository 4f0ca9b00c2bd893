//! Configuration: the file model, loading (TOML/YAML with `BEDROCK_EXPORTER__…` overrides),
//! validation that reports every problem at once, and expansion of targets into tuples.
//!
//! - [`load`] / [`load_with_env`] / [`load_str`]: read, override, validate.
//! - `locate`: the line of every key in the raw text, so each [`Problem`] points at it.
//! - `env`: the environment overrides.
//! - `build`: the walk over the raw tree that checks every value and collects every problem,
//!   one section at a time: `settings` (`[probe]` and each target's settings), `sources`,
//!   `targets`; `ctx` collects and locates the problems, `values` reads typed values.
//! - `rules`: the syntax of role ARNs, account ids, regions, external ids, session names, and
//!   names (targets, sources) free of control, bidirectional and zero-width characters.
//! - `limits`: the upper bound of every setting, list and name, and of the file itself; `file`
//!   reads only a regular file up to that size; `bounds` checks a YAML file's depth and alias
//!   expansion on its event stream before anything builds a tree from it.
//! - `endpoint`: `[probe_endpoint]`, the settings of `GET /probe`.
//! - `pacing`: `[limits]`, how fast the exporter may call AWS per account and service.
//! - `fleet`: many-account targets (`accounts`, `accounts_from`) and their expansion.
//!
//! Choices where `docs/configuration.md` is silent (also documented in `config/example.toml`):
//! - Environment overrides address list entries by 0-based index or by name
//!   (`BEDROCK_EXPORTER__TARGETS__PROD_INFERENCE__INTERVAL`, `-` written as `_`); list values
//!   (`regions`, `models`) are comma-separated. A problem in an overridden value names the
//!   variable instead of a file line.
//! - `invoke_interval` shorter than the effective `interval` is stretched to it.
//! - The source `default` (the SDK's default chain) is always available to targets, unless a
//!   `[[sources]]` entry named `default` replaces it; it is listed in [`Config::sources`] when
//!   there are no `[[sources]]` or when a target uses it.
//! - Also rejected: duplicate regions/models in one target (they would export duplicate series),
//!   an `external_id` without `role_arn`, durations written as bare numbers, account ids written
//!   as numbers, strings longer than 4096 bytes.
//! - `concurrency` is accepted per target but only `[probe]`'s ([`Config::defaults`]) is global.
//! - `stream` turns on the optional `invoke_stream` layer ([`ProbeSettings::streams`]);
//!   `stream = true` written where the effective `invoke` is `"none"` is an error.

use std::fmt;
use std::path::Path;
use std::time::Duration;

mod api_key;
mod bounds;
mod build;
mod ctx;
mod endpoint;
mod env;
mod file;
pub mod fleet;
pub mod limits;
mod locate;
mod pacing;
mod rules;
mod settings;
mod sources;
mod targets;
mod values;

pub use api_key::{ApiKey, ApiKeyFrom};
pub use endpoint::ProbeEndpoint;
pub use env::PREFIX as ENV_PREFIX;
pub use fleet::{Discovery, Fleet};
pub use pacing::Limits;
pub use settings::{MAX_SESSION_DURATION, MIN_INTERVAL, MIN_SESSION_DURATION};
pub use sources::DEFAULT_SOURCE;

/// Where the daemon looks for its configuration unless `--config.file` says otherwise.
pub const DEFAULT_PATH: &str = "/etc/bedrock-access-exporter/config.toml";

/// How the `invoke` layer calls the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvokeMode {
    Converse,
    InvokeModel,
    None,
}

/// The Bedrock service tier the invocations ask for (`service_tier`): the application's, so the
/// probe meets the same capacity and the same "this model does not offer that tier" refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceTier {
    Default,
    Priority,
    Flex,
}

impl ServiceTier {
    /// The API's value (`ServiceTierType`).
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceTier::Default => "default",
            ServiceTier::Priority => "priority",
            ServiceTier::Flex => "flex",
        }
    }
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
    /// Run the optional `invoke_stream` layer (ConverseStream / InvokeModelWithResponseStream).
    pub stream: bool,
    /// The service tier sent with every invocation; `None` sends none (AWS's standard tier).
    pub service_tier: Option<ServiceTier>,
}

impl ProbeSettings {
    /// Whether the `invoke_stream` layer probes `model`: `stream = true`, an invocation mode
    /// (`invoke = "none"` turns every paid layer off), and not an embedding model (those
    /// answer no response stream).
    pub fn streams(&self, model: &str) -> bool {
        self.stream && self.invoke != InvokeMode::None && !crate::model_id::is_embedding(model)
    }
}

/// A source identity: the SDK's default chain, or a named profile; or an Amazon Bedrock API
/// key (`api_key`), which calls Bedrock with bearer authentication and makes no STS call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub profile: Option<String>,
    pub expected_account: Option<String>,
    /// Where the source's Bedrock API key is read (never the key itself).
    pub api_key: Option<ApiKey>,
}

/// A configured target (validated). Its `Debug` shows `external_id` as `<set>`, never the value.
#[derive(Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub source: String,
    pub role_arn: Option<String>,
    /// Never shown in metrics, logs or status output.
    pub external_id: Option<String>,
    pub regions: Vec<String>,
    pub models: Vec<String>,
    pub settings: ProbeSettings,
    /// One account (`role_arn`, or none), many (`role_name` with `accounts`/`accounts_from`),
    /// or one account's member of a many-account target.
    pub accounts: TargetAccounts,
}

/// Which accounts a target probes.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum TargetAccounts {
    /// The account of `role_arn`, or the source's own account without one.
    #[default]
    One,
    /// One role in many accounts; the members are in [`Fleet::members`].
    Many(Box<Fleet>),
    /// One account of a many-account target: `role_arn` is that account's role.
    Member,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("name", &self.name)
            .field("source", &self.source)
            .field("role_arn", &self.role_arn)
            .field("external_id", &self.external_id.as_ref().map(|_| "<set>"))
            .field("regions", &self.regions)
            .field("models", &self.models)
            .field("settings", &self.settings)
            .field("accounts", &self.accounts)
            .finish()
    }
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

    /// Strings of this target that must never leave the process (redacted from every message,
    /// log line and output): the external id.
    pub fn secrets(&self) -> Vec<&str> {
        self.external_id.as_deref().into_iter().collect()
    }
}

/// One (target, account, region, model) tuple: the unit that is probed and exported.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TupleKey {
    pub target: String,
    /// The account of a many-account target's tuple; "" for a target with one account.
    pub account: String,
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
    /// `[limits]`: calls per second per account and service.
    pub limits: Limits,
    /// `[probe_endpoint]`.
    pub probe_endpoint: ProbeEndpoint,
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

impl Default for ProbeSettings {
    /// The defaults of `docs/configuration.md` (`invoke_interval` equals `interval`).
    fn default() -> Self {
        ProbeSettings {
            interval: Duration::from_secs(300),
            timeout: Duration::from_secs(30),
            concurrency: 8,
            invoke: InvokeMode::Converse,
            invoke_interval: Duration::from_secs(300),
            model_access: true,
            session_name: "bedrock-access-exporter".to_string(),
            session_duration: Duration::from_secs(900),
            max_tokens: 1,
            expect: Expect::Allow,
            stream: false,
            service_tier: None,
        }
    }
}

impl InvokeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            InvokeMode::Converse => "converse",
            InvokeMode::InvokeModel => "invoke_model",
            InvokeMode::None => "none",
        }
    }
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Allow => "allow",
            Expect::Deny => "deny",
        }
    }
}

impl fmt::Display for Problem {
    /// `FILE:LINE: target "NAME": field: message`, leaving out the parts that are unknown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        f.write_str(": ")?;
        if let Some(target) = &self.target {
            write!(f, "target {target:?}: ")?;
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

/// Every problem of a configuration, reported at once. Its `Display` is one problem per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display_lines(problems))]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

fn display_lines(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    fn single(file: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        ConfigError {
            problems: vec![Problem {
                file: file.to_path_buf(),
                line,
                target: None,
                field: String::new(),
                message: message.into(),
            }],
        }
    }
}

/// The syntax of a configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    Yaml,
}

impl Format {
    /// YAML for `.yaml`/`.yml` (any case), TOML otherwise.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml") => {
                Format::Yaml
            }
            _ => Format::Toml,
        }
    }
}

/// Reads, merges (`BEDROCK_EXPORTER__…` environment overrides from the process environment),
/// validates and returns the configuration at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    // `vars()` would panic on a non-UTF-8 variable; such variables cannot be ours anyway.
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    load_with_env(path, env)
}

/// [`load`] with the environment given explicitly (tests must not mutate the process
/// environment). Only variables starting with `BEDROCK_EXPORTER__` are looked at.
pub fn load_with_env(
    path: &Path,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let text = file::read(path)?;
    load_str(path, &text, Format::from_path(path), env)
}

/// Parses and validates `text` as if it were the file at `path` (which is used in messages only).
/// A text larger than [`limits::MAX_FILE_BYTES`], or YAML nested or expanding beyond the
/// limits, is refused before anything parses it into a tree.
pub fn load_str(
    path: &Path,
    text: &str,
    format: Format,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    if text.len() > limits::MAX_FILE_BYTES {
        return Err(ConfigError::single(path, None, file::too_large()));
    }
    if format == Format::Yaml {
        bounds::check_yaml(text).map_err(|e| ConfigError::single(path, e.line, e.message))?;
    }
    let locator = match format {
        Format::Toml => locate::Locator::toml(text).map_err(|errors| ConfigError {
            problems: errors
                .into_iter()
                .map(|e| Problem {
                    file: path.to_path_buf(),
                    line: e.line,
                    target: None,
                    field: String::new(),
                    message: e.message,
                })
                .collect(),
        })?,
        Format::Yaml => locate::Locator::yaml(text),
    };
    let file_format = match format {
        Format::Toml => config::FileFormat::Toml,
        Format::Yaml => config::FileFormat::Yaml,
    };
    let mut root = config::Config::builder()
        .add_source(config::File::from_str(text, file_format))
        .build()
        .map_err(|e| syntax_error(path, format, e))
        .and_then(|c| match c.cache.kind {
            config::ValueKind::Table(map) => Ok(map),
            // A file whose top level is not a table (a bare string, a list): nothing to read.
            _ => Err(ConfigError::single(
                path,
                Some(1),
                "the top level of the file must be a table of keys (probe, sources, targets)",
            )),
        })?;

    let applied = env::apply(&mut root, env);
    let mut ctx = ctx::Ctx::new(path, &locator, &applied);
    for bad in &applied.errors {
        ctx.problems.push(Problem {
            file: path.to_path_buf(),
            line: None,
            target: None,
            field: bad.variable.clone(),
            message: format!("environment override {}", bad.message),
        });
    }
    let config = build::build(&mut ctx, &root, path);
    let mut problems = ctx.problems;
    match config {
        Some(c) if problems.is_empty() => Ok(c),
        _ => {
            // Read like the file: located problems by line, then the rest in the order found.
            problems.sort_by_key(|p| (p.line.is_none(), p.line));
            Err(ConfigError { problems })
        }
    }
}

fn syntax_error(path: &Path, format: Format, e: config::ConfigError) -> ConfigError {
    let cause = match &e {
        config::ConfigError::FileParse { cause, .. } => cause.to_string(),
        other => other.to_string(),
    };
    // yaml-rust2 says "… at byte B line L column C".
    let line = cause
        .split("line ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<usize>().ok());
    let kind = match format {
        Format::Toml => "TOML",
        Format::Yaml => "YAML",
    };
    ConfigError::single(path, line, format!("{kind} syntax error: {cause}"))
}

impl Config {
    /// Every (target, account, region, model) tuple, in configuration order, with the target
    /// that probes it (a many-account target's member for its account).
    pub fn tuples(&self) -> Vec<(TupleKey, &Target)> {
        self.tuples_where(|_, _, _| true)
    }

    /// The tuples whose gate (target, account, region) `owns` accepts, without building the
    /// keys of the others (a replica of many owns a small share of a large configuration).
    pub fn tuples_where(
        &self,
        owns: impl Fn(&str, &str, &str) -> bool,
    ) -> Vec<(TupleKey, &Target)> {
        let mut out = Vec::new();
        for t in &self.targets {
            for member in t.members() {
                for r in &member.regions {
                    if !owns(&member.name, member.tuple_account(), r) {
                        continue;
                    }
                    for m in &member.models {
                        out.push((
                            TupleKey {
                                target: member.name.clone(),
                                account: member.tuple_account().to_string(),
                                aws_region: r.clone(),
                                model_id: m.clone(),
                            },
                            member,
                        ));
                    }
                }
            }
        }
        out
    }

    /// How many tuples [`Config::tuples`] has, without building them.
    pub fn tuple_count(&self) -> usize {
        self.targets
            .iter()
            .map(|t| t.members().len() * t.regions.len() * t.models.len())
            .sum()
    }

    /// The source a target probes from.
    pub fn source_of(&self, target: &Target) -> Option<&Source> {
        self.source(&target.source)
    }

    /// The target called `name` (for `/probe?target=NAME` and `diagnose --target`).
    pub fn target(&self, name: &str) -> Option<&Target> {
        self.targets.iter().find(|t| t.name == name)
    }

    /// The source called `name`.
    pub fn source(&self, name: &str) -> Option<&Source> {
        self.sources.iter().find(|s| s.name == name)
    }

    /// The expanded tuples for `check-config`, one line per tuple, logfmt style:
    /// `target=… source=… account_id=… role_name=… aws_region=… model_id=… invoke=…
    /// model_access=on|off stream=on|off expect=…` (`stream` says whether the tuple's
    /// `invoke_stream` layer runs), plus `external_id=<set>` when the target has one (never
    /// the value), and `auth=api_key` when its source is a Bedrock API key. For a same-account
    /// target the account is the source's `expected_account`, or `<source-account>` when only
    /// GetCallerIdentity (or the key) will tell.
    pub fn describe_tuples(&self) -> String {
        let mut out = String::new();
        for (key, t) in self.tuples() {
            let account = match t.role_account() {
                Some(a) => a.to_string(),
                None => self
                    .source(&t.source)
                    .and_then(|s| s.expected_account.clone())
                    .unwrap_or_else(|| "<source-account>".to_string()),
            };
            let fields = [
                ("target", key.target.as_str()),
                ("source", t.source.as_str()),
                ("account_id", account.as_str()),
                ("role_name", t.role_name()),
                ("aws_region", key.aws_region.as_str()),
                ("model_id", key.model_id.as_str()),
                ("invoke", t.settings.invoke.as_str()),
                (
                    "model_access",
                    if t.settings.model_access { "on" } else { "off" },
                ),
                (
                    "stream",
                    if t.settings.streams(&key.model_id) {
                        "on"
                    } else {
                        "off"
                    },
                ),
                ("expect", t.settings.expect.as_str()),
            ];
            let mut line = fields
                .iter()
                .map(|(k, v)| format!("{k}={}", logfmt_value(v)))
                .collect::<Vec<_>>()
                .join(" ");
            if t.external_id.is_some() {
                line.push_str(" external_id=<set>");
            }
            if self.source(&t.source).is_some_and(|s| s.api_key.is_some()) {
                line.push_str(" auth=api_key");
            }
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}

/// A logfmt value: bare when it is simple, else quoted with escapes.
fn logfmt_value(v: &str) -> String {
    if !v.is_empty()
        && v.chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '=' && c != '\\')
    {
        v.to_string()
    } else {
        format!("{v:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_read_as_file_line_target_field_message() {
        let p = Problem {
            file: std::path::PathBuf::from("/etc/x.toml"),
            line: Some(7),
            target: Some("prod".into()),
            field: "targets[0].role_arn".into(),
            message: "not a role ARN".into(),
        };
        assert_eq!(
            p.to_string(),
            "/etc/x.toml:7: target \"prod\": targets[0].role_arn: not a role ARN"
        );
    }
}
