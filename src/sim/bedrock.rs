//! Bedrock control plane (REST-JSON): GetFoundationModelAvailability, GetFoundationModel,
//! ListFoundationModels, GetInferenceProfile.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::bedrock_rules::{
    COULD_NOT_RESOLVE, MARKETPLACE_ACTIONS, Target, authorize, fm_arn, grant, permission,
    profile_arn, resolve,
};
use super::ctx::Ctx;
use super::scenario::{GrantStatus, InferenceMode, Lifecycle, Model};
use super::wire::{ApiError, json_ok};

pub(crate) fn availability(ctx: &Ctx, raw_id: &str) -> Result<Response, ApiError> {
    let target = resolve(&ctx.scenario, raw_id);
    let model_id = match &target {
        Target::Model(m) | Target::Profile(_, m) => m.id.as_str(),
        Target::Unknown => raw_id,
    };
    authorize(
        ctx,
        "bedrock:GetFoundationModelAvailability",
        &fm_arn(&ctx.region, model_id),
    )?;
    let model = match target {
        Target::Model(m) | Target::Profile(_, m) => m,
        Target::Unknown => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                COULD_NOT_RESOLVE,
            ));
        }
    };
    let mut agreement = Agreement {
        error_message: None,
        status: "AVAILABLE",
    };
    let mut authorization = "AUTHORIZED";
    let entitlement = "AVAILABLE";
    let region = if model.offered_in(&ctx.region) {
        "AVAILABLE"
    } else {
        "NOT_AVAILABLE"
    };
    if model.offered_in(&ctx.region) {
        match grant(ctx, model) {
            GrantStatus::Pending => agreement.status = "PENDING",
            GrantStatus::NotGranted
            | GrantStatus::NotGrantedInRegion
            | GrantStatus::NotAuthorizedLegacy => {
                agreement.status = "NOT_AVAILABLE";
                authorization = "NOT_AUTHORIZED";
            }
            GrantStatus::MarketplaceSubscriptionMissing => {
                let may_subscribe = MARKETPLACE_ACTIONS
                    .iter()
                    .all(|a| permission(ctx, a, "*").is_ok());
                if !may_subscribe {
                    agreement = Agreement {
                        error_message: Some(
                            "IAM user or service role is not authorized to perform the required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model.",
                        ),
                        status: "ERROR",
                    };
                }
            }
            // A blocked account, or a model not offered to it, still looks fine on the control
            // plane (docs/reasons.md: account_not_authorized); only invocation tells.
            GrantStatus::Granted
            | GrantStatus::AccountBlocked
            | GrantStatus::NotOffered
            | GrantStatus::UseCaseFormMissing
            | GrantStatus::LegacyInactive
            | GrantStatus::DailyQuotaExhausted => {}
        }
    }
    let body = AvailabilityOut {
        agreement_availability: agreement,
        authorization_status: authorization,
        entitlement_availability: entitlement,
        model_id: &model.id,
        region_availability: region,
    };
    let body = serde_json::to_string(&body).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerException",
            "Internal server error",
        )
    })?;
    Ok(json_ok(body, &ctx.request_id))
}

// GetFoundationModelAvailability's answer, typed; fields in sorted order like the `json!` map
// it replaced, so the bytes are unchanged.
#[derive(serde::Serialize)]
struct AvailabilityOut<'a> {
    #[serde(rename = "agreementAvailability")]
    agreement_availability: Agreement,
    #[serde(rename = "authorizationStatus")]
    authorization_status: &'static str,
    #[serde(rename = "entitlementAvailability")]
    entitlement_availability: &'static str,
    #[serde(rename = "modelId")]
    model_id: &'a str,
    #[serde(rename = "regionAvailability")]
    region_availability: &'static str,
}

#[derive(serde::Serialize)]
struct Agreement {
    #[serde(rename = "errorMessage", skip_serializing_if = "Option::is_none")]
    error_message: Option<&'static str>,
    status: &'static str,
}

fn summary(region: &str, m: &Model) -> Value {
    let inference = match m.inference {
        InferenceMode::OnDemand => "ON_DEMAND",
        InferenceMode::ProfileOnly => "INFERENCE_PROFILE",
    };
    json!({
        "modelArn": fm_arn(region, &m.id),
        "modelId": m.id,
        "modelName": m.name,
        "providerName": m.provider,
        "inputModalities": m.input_modalities,
        "outputModalities": m.output_modalities,
        "responseStreamingSupported": !m.is_embedding(),
        "customizationsSupported": [],
        "inferenceTypesSupported": [inference],
        "modelLifecycle": model_lifecycle(m),
    })
}

/// `modelLifecycle`: the status (the API knows ACTIVE and LEGACY; an end-of-life model is
/// LEGACY) and the catalogue's dates, as RFC 3339 times.
fn model_lifecycle(m: &Model) -> Value {
    let status = match m.lifecycle {
        Lifecycle::Active => "ACTIVE",
        Lifecycle::Legacy | Lifecycle::Eol => "LEGACY",
    };
    let mut out = serde_json::Map::new();
    out.insert("status".into(), Value::from(status));
    for (key, when) in [
        ("legacyTime", m.dates.legacy),
        ("publicExtendedAccessTime", m.dates.public_extended_access),
        ("endOfLifeTime", m.dates.end_of_life),
    ] {
        if let Some(t) = when {
            out.insert(
                key.into(),
                Value::from(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
            );
        }
    }
    Value::Object(out)
}

pub(crate) fn get_foundation_model(ctx: &Ctx, raw_id: &str) -> Result<Response, ApiError> {
    let target = resolve(&ctx.scenario, raw_id);
    let model_id = match &target {
        Target::Model(m) => m.id.as_str(),
        _ => raw_id,
    };
    authorize(
        ctx,
        "bedrock:GetFoundationModel",
        &fm_arn(&ctx.region, model_id),
    )?;
    match target {
        Target::Model(m) if m.offered_in(&ctx.region) => {
            let body = json!({"modelDetails": summary(&ctx.region, m)});
            Ok(json_ok(body.to_string(), &ctx.request_id))
        }
        _ => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            COULD_NOT_RESOLVE,
        )),
    }
}

pub(crate) fn list_foundation_models(
    ctx: &Ctx,
    query: &[(String, String)],
) -> Result<Response, ApiError> {
    authorize(ctx, "bedrock:ListFoundationModels", "*")?;
    let q = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    let mut models: Vec<&Model> = ctx
        .scenario
        .models
        .values()
        .filter(|m| m.offered_in(&ctx.region))
        .filter(|m| q("byProvider").is_none_or(|p| p.eq_ignore_ascii_case(&m.provider)))
        .filter(|m| {
            q("byOutputModality").is_none_or(|o| {
                m.output_modalities
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(o))
            })
        })
        .filter(|m| {
            q("byInferenceType").is_none_or(|t| match m.inference {
                InferenceMode::OnDemand => t == "ON_DEMAND",
                InferenceMode::ProfileOnly => t == "INFERENCE_PROFILE",
            })
        })
        .collect();
    models.sort_by(|a, b| a.id.cmp(&b.id));
    let list: Vec<Value> = models.iter().map(|m| summary(&ctx.region, m)).collect();
    Ok(json_ok(
        json!({"modelSummaries": list}).to_string(),
        &ctx.request_id,
    ))
}

pub(crate) fn get_inference_profile(ctx: &Ctx, raw_id: &str) -> Result<Response, ApiError> {
    let id = raw_id
        .rsplit_once("inference-profile/")
        .map_or(raw_id, |(_, tail)| tail);
    let account = ctx.principal.account();
    authorize(
        ctx,
        "bedrock:GetInferenceProfile",
        &profile_arn(&ctx.region, account, id),
    )?;
    let Some(p) = ctx
        .scenario
        .profiles
        .get(id)
        .filter(|p| p.regions.iter().any(|r| r == &ctx.region))
    else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            format!(
                "Inference profile {} not found.",
                id.chars().take(256).collect::<String>()
            ),
        ));
    };
    let models: Vec<Value> = p
        .regions
        .iter()
        .map(|r| json!({"modelArn": fm_arn(r, &p.model)}))
        .collect();
    let body = json!({
        "inferenceProfileName": p.name,
        "description": format!("Routes requests to {} in {}.", p.model, p.regions.join(", ")),
        "createdAt": "2024-08-30T00:00:00Z",
        "updatedAt": "2024-08-30T00:00:00Z",
        "inferenceProfileArn": profile_arn(&ctx.region, account, &p.id),
        "models": models,
        "inferenceProfileId": p.id,
        "status": "ACTIVE",
        "type": "SYSTEM_DEFINED",
    });
    Ok(json_ok(body.to_string(), &ctx.request_id))
}
