//! What to do about a failure: the one-line fix that the status page, the debug trace and
//! `diagnose` print, and the structured fixes (policy documents, commands, configuration
//! changes) that `diagnose` adds, both filled in from one [`FixContext`].
//!
//! Per family of reasons, the one-line text and the structured fixes sit side by side:
//! [`role`] (role assumption: trust policy, caller policy, session duration), [`permission`]
//! (Bedrock permissions, explicit denies, SCPs), [`model`] (model access, region, model id,
//! the account refused), [`clock`] (this host's clock) and [`credentials`] (a failed
//! `credentials` layer, by how the credentials came: IRSA, EKS Pod Identity, a profile's role).
//! Reasons without a tuple-specific text print [`Reason::fix`].
//!
//! The external id is a secret: it is never printed. Where a fix needs it, the fix carries
//! [`EXTERNAL_ID_PLACEHOLDER`] and says which configuration field holds the value.

pub mod api_key;
pub mod clock;
pub mod credentials;
pub mod model;
pub mod permission;
pub mod role;

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::config::{Config, Target, TupleKey};
use crate::probe::ProbeReport;
use crate::probe::api_key::KeyKind;
use crate::probe::credentials::CredentialSource;
use crate::reason::{Layer, Reason};

/// Stands for the target's `external_id` wherever a fix would contain it.
pub const EXTERNAL_ID_PLACEHOLDER: &str = "<EXTERNAL_ID>";

/// The fix of a tuple whose access went through although its target expects a denial.
pub const UNEXPECTED_ACCESS: &str = "access went through but this target expects it to be denied: restore the deny (SCP, policy or grant)";

/// The source identity `diagnose` observed (GetCallerIdentity): refines the structured fixes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    /// The source account.
    pub account: &'a str,
    /// The source principal as IAM knows it (user or role ARN), when it could be derived.
    pub principal: Option<&'a str>,
}

/// Everything a fix may name about one tuple: the configuration (never the external id's
/// value), the tuple, the labels of its report and, from `diagnose`, the observed identity.
///
/// The one-line fix ([`FixContext::line`]) reads only the configuration, the tuple and the
/// report, so every output prints the same line for the same probe; the observed identity
/// refines the structured fixes only.
#[derive(Debug, Clone)]
pub struct FixContext<'a> {
    target: Option<&'a Target>,
    key: &'a TupleKey,
    /// The target account: the probe's `account_id` label (before a probe: the one the
    /// configuration gives, possibly empty).
    pub target_account: String,
    /// The probe's `role_name` label ("" for a same-account target).
    pub role_name: String,
    configured_source_account: Option<&'a str>,
    identity: Option<Identity<'a>>,
    /// How the source's credentials came, as the report's credentials layer names it.
    credential_source: Option<CredentialSource>,
    /// A source with a Bedrock API key: the key's kind (as the report's calls name it) and
    /// where the key is read (`$VAR` or a path; never the key).
    api_key: Option<(KeyKind, String)>,
}

impl<'a> FixContext<'a> {
    /// The context of tuple `key` of `target` in the running configuration `config` (either
    /// may be missing: then the fix names less), with the labels of its last `report` (or, not
    /// yet probed, the labels the configuration gives).
    pub fn new(
        config: Option<&'a Config>,
        target: Option<&'a Target>,
        key: &'a TupleKey,
        report: Option<&ProbeReport>,
    ) -> FixContext<'a> {
        let target = target.map(|t| t.member_for(&key.account));
        let configured_source_account = match (config, target) {
            (Some(c), Some(t)) => c.source_of(t).and_then(|s| s.expected_account.as_deref()),
            _ => None,
        };
        let (target_account, role_name) = match (report, target) {
            (Some(r), _) => (r.account_id.clone(), r.role_name.clone()),
            (None, Some(t)) => (
                t.role_account()
                    .or(configured_source_account)
                    .unwrap_or_default()
                    .to_string(),
                t.role_name().to_string(),
            ),
            (None, None) => (String::new(), String::new()),
        };
        let credential_source = report
            .and_then(|r| r.layers.iter().find(|l| l.layer == Layer::Credentials))
            .and_then(|l| CredentialSource::of_call(&l.call));
        let api_key = match (config, target) {
            (Some(c), Some(t)) => c.source_of(t).and_then(|s| s.api_key.as_ref()),
            _ => None,
        }
        .map(|k| {
            let kind = report
                .into_iter()
                .flat_map(|r| r.layers.iter())
                .find_map(|l| KeyKind::of_call(&l.call))
                .unwrap_or(KeyKind::Unknown);
            (kind, k.from.describe())
        });
        FixContext {
            target,
            key,
            target_account,
            role_name,
            configured_source_account,
            identity: None,
            credential_source,
            api_key,
        }
    }

    /// The same context with the source identity `diagnose` observed.
    pub fn with_identity(mut self, identity: Option<Identity<'a>>) -> FixContext<'a> {
        self.identity = identity;
        self
    }

    /// The tuple's target, when the configuration has it.
    pub fn target(&self) -> Option<&'a Target> {
        self.target
    }

    pub fn key(&self) -> &'a TupleKey {
        self.key
    }

    pub fn target_name(&self) -> &'a str {
        &self.key.target
    }

    pub fn region(&self) -> &'a str {
        &self.key.aws_region
    }

    pub fn model(&self) -> &'a str {
        &self.key.model_id
    }

    pub fn role_arn(&self) -> Option<&'a str> {
        self.target.and_then(|t| t.role_arn.as_deref())
    }

    /// The source's `expected_account`, when configured.
    pub fn configured_source_account(&self) -> Option<&'a str> {
        self.configured_source_account
    }

    /// The source account: as observed, else as configured.
    pub fn source_account(&self) -> Option<&'a str> {
        self.identity
            .map(|i| i.account)
            .or(self.configured_source_account)
    }

    /// How the source's credentials came (IRSA, a container endpoint), when the probe told.
    pub fn credential_source(&self) -> Option<CredentialSource> {
        self.credential_source
    }

    /// For a source with a Bedrock API key: the key's kind and where it is read.
    pub fn api_key(&self) -> Option<(KeyKind, &str)> {
        self.api_key.as_ref().map(|(k, w)| (*k, w.as_str()))
    }

    /// The source identity `diagnose` observed, if any.
    pub fn identity(&self) -> Option<Identity<'a>> {
        self.identity
    }

    /// The source principal (user or role ARN), when observed.
    pub fn source_principal(&self) -> Option<&'a str> {
        self.identity.and_then(|i| i.principal)
    }

    /// The principal that calls Bedrock: the target's role, or for a same-account target the
    /// source principal.
    pub fn invoker(&self) -> String {
        self.role_arn()
            .or_else(|| self.source_principal())
            .unwrap_or("the source principal")
            .to_string()
    }

    /// Whether the target sends an external id (its value is never read here).
    pub fn has_external_id(&self) -> bool {
        self.target.is_some_and(|t| t.external_id.is_some())
    }

    pub fn session_duration(&self) -> Duration {
        self.target
            .map_or(Duration::ZERO, |t| t.settings.session_duration)
    }

    /// The target's configured regions (the tuple's alone without a target).
    pub fn regions(&self) -> &'a [String] {
        self.target
            .map_or(std::slice::from_ref(&self.key.aws_region), |t| {
                t.regions.as_slice()
            })
    }

    /// The target's configured models (the tuple's alone without a target).
    pub fn models(&self) -> &'a [String] {
        self.target
            .map_or(std::slice::from_ref(&self.key.model_id), |t| {
                t.models.as_slice()
            })
    }

    /// "account 222222222222", or "the target account" while it is unknown.
    fn account_words(&self) -> String {
        if self.target_account.is_empty() {
            "the target account".to_string()
        } else {
            format!("account {}", self.target_account)
        }
    }

    /// The fix for `reason` in one line, with the tuple's facts filled in where that reads
    /// better than the generic text of [`Reason::fix`].
    pub fn line(&self, reason: Reason) -> String {
        let specific = role::line(reason, self)
            .or_else(|| permission::line(reason, self))
            .or_else(|| model::line(reason, self));
        one_line(&specific.unwrap_or_else(|| reason.fix().to_string()))
    }

    /// The fix of `layer` failing for `reason`: for a source with a Bedrock API key, what to do
    /// about the key ([`api_key`]); on `credentials`, what to check for the way the source's
    /// credentials came ([`credentials`]); otherwise [`FixContext::line`].
    pub fn layer_line(&self, layer: Layer, reason: Reason) -> String {
        if let Some(line) = api_key::line(reason, self) {
            return one_line(&line);
        }
        if layer == Layer::Credentials
            && let Some(line) = credentials::line(reason, self)
        {
            return one_line(&line);
        }
        self.line(reason)
    }
}

/// Collapses all whitespace runs into single spaces (one line).
pub fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What kind of change a fix is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixKind {
    /// Replace (or merge into) the target role's trust policy: `policy`, on `principal` (the role).
    TrustPolicy,
    /// Attach `policy` as an identity policy of `principal` (a user or role ARN).
    IdentityPolicy,
    /// Remove or narrow the Deny of `action` on `resource` in an identity policy of `principal`.
    RemoveDeny,
    /// A service control policy of the organisation denies it for `account` (`policy_arn` when
    /// AWS named it).
    Scp,
    /// Grant model access in `account` and `region` for `model` (console and `commands`).
    ModelAccess,
    /// Submit the Anthropic use-case form for `account` (console and `commands`).
    UseCaseForm,
    /// Nothing to change: wait and re-check.
    Wait,
    /// Change the exporter configuration: `config_change`.
    ConfigChange,
    /// Change something in IAM with `commands` (e.g. a role's maximum session duration).
    Command,
    /// Free text (credentials, support cases, quotas, transient conditions).
    Advice,
}

/// A change of the exporter's configuration: set `field` of target `target` to `value`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigChange {
    pub target: String,
    pub field: String,
    pub value: Value,
}

/// One concrete fix.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fix {
    pub kind: FixKind,
    /// One or two sentences for humans.
    pub summary: String,
    /// The principal (user or role ARN) whose policy changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// A policy document (IAM JSON) to apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<Value>,
    /// The ARN of the policy at fault, when AWS named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_arn: Option<String>,
    /// Where to do it in the AWS console.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
    /// CLI commands, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub commands: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_change: Option<ConfigChange>,
    /// Placeholders in `policy`/`commands` and what to put there.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub placeholders: Vec<Placeholder>,
}

/// A placeholder in a fix and what it stands for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Placeholder {
    pub placeholder: String,
    pub meaning: String,
}

impl Fix {
    pub fn new(kind: FixKind, summary: impl Into<String>) -> Fix {
        Fix {
            kind,
            summary: summary.into(),
            principal: None,
            account: None,
            region: None,
            model: None,
            action: None,
            resource: None,
            policy: None,
            policy_arn: None,
            console: None,
            commands: Vec::new(),
            config_change: None,
            placeholders: Vec::new(),
        }
    }
}

/// The reason's generic fix as advice.
pub fn advice(text: &str) -> Fix {
    Fix::new(FixKind::Advice, text)
}

/// The structured fix of a failed call that is its own explanation (a reason without a
/// [`Cause`](crate::reason::Cause)): a concrete one where there is one (this host's clock, with
/// the offset AWS's `message` tells), else the reason's generic fix as advice.
pub fn for_call(reason: Reason, message: &str) -> Fix {
    match reason {
        Reason::ClockSkew => clock::sync_clock(message),
        other => advice(other.fix()),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{Expect, InvokeMode, ProbeSettings};

    /// A cross-account target of account 222222222222 probing `models` in `regions`.
    pub(crate) fn target(external_id: Option<&str>, regions: &[&str], models: &[&str]) -> Target {
        Target {
            name: "t".into(),
            source: "s".into(),
            role_arn: Some("arn:aws:iam::222222222222:role/BedrockProbeRole".into()),
            external_id: external_id.map(str::to_string),
            regions: regions.iter().map(|r| r.to_string()).collect(),
            models: models.iter().map(|m| m.to_string()).collect(),
            settings: ProbeSettings {
                interval: Duration::from_secs(60),
                timeout: Duration::from_secs(5),
                concurrency: 1,
                invoke: InvokeMode::Converse,
                invoke_interval: Duration::from_secs(60),
                model_access: true,
                session_name: "x".into(),
                session_duration: Duration::from_secs(7200),
                max_tokens: 1,
                expect: Expect::Allow,
                stream: false,
                service_tier: None,
            },
            accounts: Default::default(),
        }
    }

    pub(crate) fn key(region: &str, model: &str) -> TupleKey {
        TupleKey {
            target: "t".into(),
            account: String::new(),
            aws_region: region.into(),
            model_id: model.into(),
        }
    }

    /// The context of `key` of `t`, source account 111111111111 as configured and observed.
    pub(crate) fn cx<'a>(t: &'a Target, key: &'a TupleKey) -> FixContext<'a> {
        let mut cx = FixContext::new(None, Some(t), key, None);
        cx.configured_source_account = Some("111111111111");
        cx.with_identity(Some(Identity {
            account: "111111111111",
            principal: Some("arn:aws:iam::111111111111:user/p"),
        }))
    }

    const SONNET: &str = "anthropic.claude-3-7-sonnet-20250219-v1:0";

    #[test]
    fn a_call_that_explains_itself_gets_a_concrete_fix_only_for_the_clock() {
        let skew = "Signature expired: 20250130T203827Z is now earlier than 20250130T204131Z (20250130T204631Z - 5 min.)";
        let fix = for_call(Reason::ClockSkew, skew);
        assert_eq!(fix.kind, FixKind::Command);
        assert!(
            fix.commands.iter().any(|c| c.contains("chronyc")),
            "{fix:?}"
        );
        let fix = for_call(Reason::Throttled, "Too many requests");
        assert_eq!(fix.kind, FixKind::Advice);
        assert_eq!(fix.summary, Reason::Throttled.fix());
    }

    #[test]
    fn every_fix_is_one_line_and_never_empty() {
        let t = target(None, &["us-east-1"], &[SONNET]);
        let k = key("us-east-1", SONNET);
        for r in Reason::ALL {
            let f = cx(&t, &k).line(r);
            assert!(!f.is_empty() && !f.contains('\n'), "{r}: {f:?}");
            assert!(!f.contains("  "), "{r}: {f:?}");
        }
    }

    #[test]
    fn an_inference_profile_fix_names_the_profile_of_the_region_s_geography() {
        let t = target(None, &["eu-central-1"], &[SONNET]);
        let k = key("eu-central-1", SONNET);
        let f = cx(&t, &k).line(Reason::InferenceProfileRequired);
        assert!(
            f.contains("eu.anthropic.claude-3-7-sonnet-20250219-v1:0"),
            "{f}"
        );
        let k = key("ap-northeast-1", SONNET);
        let f = cx(&t, &k).line(Reason::InferenceProfileRequired);
        assert!(
            f.contains("apac.anthropic.claude-3-7-sonnet-20250219-v1:0"),
            "{f}"
        );
    }

    #[test]
    fn an_inference_profile_fix_neither_doubles_a_prefix_nor_leaves_a_region_without_one() {
        let profile = format!("us.{SONNET}");
        let t = target(None, &["eu-west-1"], &[&profile]);
        let k = key("eu-west-1", &profile);
        let f = cx(&t, &k).line(Reason::InferenceProfileRequired);
        assert_eq!(
            f,
            format!("use the inference profile id eu.{SONNET} instead of the bare model id")
        );
        let k = key("sa-east-1", SONNET);
        let f = cx(&t, &k).line(Reason::InferenceProfileRequired);
        assert!(f.contains(&format!("global.{SONNET}")), "{f}");
    }

    #[test]
    fn the_one_line_fix_ignores_the_observed_identity_so_every_output_prints_the_same() {
        let t = target(None, &["us-east-1"], &[SONNET]);
        let k = key("us-east-1", SONNET);
        let configured = FixContext::new(None, Some(&t), &k, None);
        let observed = configured.clone().with_identity(Some(Identity {
            account: "999999999999",
            principal: Some("arn:aws:iam::999999999999:user/other"),
        }));
        for r in Reason::ALL {
            assert_eq!(configured.line(r), observed.line(r), "{r}");
        }
        assert_eq!(observed.source_account(), Some("999999999999"));
    }
}
