//! The service tier an invocation asks for — Converse's (and ConverseStream's)
//! `serviceTier.type`, InvokeModel's (and InvokeModelWithResponseStream's)
//! `X-Amzn-Bedrock-Service-Tier` header — checked against the tiers the catalogue gives the model
//! (`service_tiers`; the default tier is always served).
//!
//! AWS answers a tier the model does not offer with a 400 `ValidationException`; its exact text
//! for that case is not in any public capture we found, so the wording below is the simulator's
//! own (the exporter classifies any `ValidationException` of an invocation as
//! `validation_error`, whatever it says).

use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::scenario::Model;
use super::wire::ApiError;

/// InvokeModel's service tier header.
const TIER_HEADER: &str = "x-amzn-bedrock-service-tier";

/// The tier a Converse request body asks for.
pub(super) fn from_converse(req: &Value) -> Option<&str> {
    req.pointer("/serviceTier/type").and_then(Value::as_str)
}

/// The tier an InvokeModel request's header asks for.
pub(super) fn from_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(TIER_HEADER).and_then(|v| v.to_str().ok())
}

/// Refuses a tier the model does not offer (no tier, or `default`, always passes).
pub(super) fn check(model: &Model, tier: Option<&str>) -> Result<(), ApiError> {
    let Some(tier) = tier.filter(|t| *t != "default") else {
        return Ok(());
    };
    if model.service_tiers.iter().any(|t| t == tier) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::BAD_REQUEST,
        "ValidationException",
        format!(
            "The service tier {} is not supported for model {}.",
            tier.chars().take(32).collect::<String>(),
            model.id
        ),
    ))
}
