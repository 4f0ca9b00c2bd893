//! What `diagnose` reports: per tuple the checklist [`Step`]s with their status, AWS's
//! evidence and the fixes, and the probe's layers ([`TupleLayers`]); serialised as is for
//! `--output=json`.

use serde::Serialize;

use crate::config::Expect;
use crate::fix::Fix;
use crate::layer_view::TupleLayers;
use crate::probe::Failure;
use crate::reason::{Class, Layer, Reason};

/// The checklist steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepId {
    AccountBoundary,
    TrustPolicy,
    RoleAssumption,
    BedrockPermission,
    ModelAccess,
    Invocation,
}

impl StepId {
    pub const ALL: [StepId; 6] = [
        StepId::AccountBoundary,
        StepId::TrustPolicy,
        StepId::RoleAssumption,
        StepId::BedrockPermission,
        StepId::ModelAccess,
        StepId::Invocation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepId::AccountBoundary => "account_boundary",
            StepId::TrustPolicy => "trust_policy",
            StepId::RoleAssumption => "role_assumption",
            StepId::BedrockPermission => "bedrock_permission",
            StepId::ModelAccess => "model_access",
            StepId::Invocation => "invocation",
        }
    }

    pub fn number(self) -> usize {
        StepId::ALL.iter().position(|s| *s == self).unwrap_or(0) + 1
    }
}

/// A step's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Pass,
    Fail,
    NotReached,
    Unknown,
}

/// AWS's answer to a failed call (message redacted).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AwsError {
    pub code: Option<String>,
    pub http_status: Option<u16>,
    pub request_id: Option<String>,
    pub message: String,
}

impl AwsError {
    pub fn from_failure(f: &Failure) -> AwsError {
        AwsError {
            code: f.error_code.clone(),
            http_status: f.http_status,
            request_id: f.request_id.clone(),
            message: f.message.clone(),
        }
    }

    pub fn local(message: &str) -> AwsError {
        AwsError {
            code: None,
            http_status: None,
            request_id: None,
            message: message.to_string(),
        }
    }
}

/// One deeper-evidence call and what it showed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    /// The call, e.g. `iam:SimulatePrincipalPolicy arn:…:user/x sts:AssumeRole on arn:…`.
    pub call: String,
    /// `read`, `not_permitted` or `failed`.
    pub outcome: &'static str,
    /// One line for humans.
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<SimDecision>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub results: Vec<SimResult>,
    /// A trust policy (external ids replaced by the placeholder).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust_policy: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<AwsError>,
}

/// One step of the checklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub step: StepId,
    pub number: usize,
    pub title: String,
    pub status: StepStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<Layer>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub class: Option<Class>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<AwsError>,
    /// What the step established, in order.
    pub findings: Vec<String>,
    pub evidence: Vec<Evidence>,
    pub fixes: Vec<Fix>,
}

impl Step {
    pub(super) fn new(step: StepId, title: String, status: StepStatus) -> Step {
        Step {
            step,
            number: step.number(),
            title,
            status,
            layer: None,
            reason: None,
            class: None,
            error: None,
            findings: Vec::new(),
            evidence: Vec::new(),
            fixes: Vec::new(),
        }
    }

    pub(super) fn failed_with(mut self, layer: Layer, f: &Failure) -> Step {
        self.status = StepStatus::Fail;
        self.layer = Some(layer);
        self.reason = Some(f.reason);
        self.class = Some(f.reason.class());
        self.error = Some(AwsError::from_failure(f));
        self
    }
}

/// The diagnosis of one tuple.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TupleDiagnosis {
    pub target: String,
    pub aws_region: String,
    pub model_id: String,
    pub source: String,
    pub source_principal: Option<String>,
    pub source_account: Option<String>,
    pub target_account: String,
    pub role_arn: Option<String>,
    pub expect: Expect,
    /// The probe's verdict (with `expect = "deny"`: denied for an access reason).
    pub passed: bool,
    /// The first ✗ step, with its layer and reason.
    pub failing_step: Option<StepId>,
    pub layer: Option<Layer>,
    pub reason: Option<Reason>,
    pub steps: Vec<Step>,
    /// The probe's five layers as every output shows them: state, and for a failure the
    /// reason, class, cause and the one-line fix the status page and the debug trace print.
    pub layers: TupleLayers,
}

impl TupleDiagnosis {
    pub fn step(&self, id: StepId) -> Option<&Step> {
        self.steps.iter().find(|s| s.step == id)
    }
}

/// The diagnosis of every selected tuple.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Diagnosis {
    pub passed: bool,
    pub tuples: Vec<TupleDiagnosis>,
}

/// What IAM's policy simulator decided for a set of (action, resource) pairs, summarised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum SimDecision {
    Allowed,
    ImplicitDeny,
    ExplicitDeny,
}

impl SimDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            SimDecision::Allowed => "allowed",
            SimDecision::ImplicitDeny => "implicitDeny",
            SimDecision::ExplicitDeny => "explicitDeny",
        }
    }
}

/// One row of a simulation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SimResult {
    pub action: String,
    pub resource: String,
    pub decision: SimDecision,
    /// Whether the organisation's SCPs allow it (reported for accounts in an organisation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_by_organizations: Option<bool>,
}
