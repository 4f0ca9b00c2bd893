//! Bedrock control plane (REST-JSON): GetFoundationModelAvailability, GetFoundationModel,
//! ListFoundationModels, GetInferenceProfile; plus the authorization and model-access rules the
//! runtime shares.

use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::auth::Principal;
use super::policy::{Context, Decision, evaluate_all};
use super::scenario::{GrantStatus, InferenceMode, Lifecycle, Model, Profile, Scenario};
use super::server::Ctx;
use super::wire::{ApiError, json_ok};

pub(crate) const COULD_NOT_RESOLVE: &str =
    "Could not resolve the foundation model from the provided model identifier.";

pub(crate) fn fm_arn(region: &str, model: &str) -> String {
    format!("arn:aws:bedrock:{region}::foundation-model/{model}")
}

pub(crate) fn profile_arn(region: &str, account: &str, profile: &str) -> String {
    format!("arn:aws:bedrock:{region}:{account}:inference-profile/{profile}")
}

fn not_authorized(p: &Principal, action: &str, resource: &str, tail: &str) -> String {
    format!(
        "User: {} is not authorized to perform: {action} on resource: {resource}{tail}",
        p.arn()
    )
}

/// Like `authorize`, but returns the AWS sentence instead of an error (for Marketplace texts).
pub(crate) fn permission(ctx: &Ctx, action: &str, resource: &str) -> Result<(), (String, bool)> {
    let p = &ctx.principal;
    let arn = p.arn();
    let cond = Context::default()
        .with("aws:requestedregion", Some(ctx.region.as_str()))
        .with("aws:principalaccount", Some(p.account()))
        .with("aws:principalarn", Some(arn.as_str()));
    if let Some(tail) = ctx
        .scenario
        .accounts
        .get(p.account())
        .and_then(|a| a.scp_denial(action, resource, &cond))
    {
        return Err((not_authorized(p, action, resource, &tail), false));
    }
    match evaluate_all(p.policies(&ctx.scenario), action, resource, &cond) {
        Decision::Allow => Ok(()),
        Decision::ExplicitDeny => Err((
            not_authorized(
                p,
                action,
                resource,
                " with an explicit deny in an identity-based policy",
            ),
            true,
        )),
        Decision::ImplicitDeny => Err((
            not_authorized(
                p,
                action,
                resource,
                &format!(" because no identity-based policy allows the {action} action"),
            ),
            false,
        )),
    }
}

/// SCP, then identity policies; AccessDeniedException with AWS's enhanced message.
/// An identity-policy explicit deny comes with a capital `"Message"` key, as IAM sends it.
pub(crate) fn authorize(ctx: &Ctx, action: &str, resource: &str) -> Result<(), ApiError> {
    permission(ctx, action, resource).map_err(|(msg, capital)| {
        let e = ApiError::new(StatusCode::FORBIDDEN, "AccessDeniedException", msg);
        if capital { e.capital() } else { e }
    })
}

/// What a model identifier names.
pub(crate) enum Target<'s> {
    Model(&'s Model),
    Profile(&'s Profile, &'s Model),
    Unknown,
}

pub(crate) fn resolve<'s>(sc: &'s Scenario, id: &str) -> Target<'s> {
    let id = if let Some(rest) = id.strip_prefix("arn:aws:bedrock:") {
        // arn:aws:bedrock:<region>:<account?>:foundation-model/<id> or inference-profile/<id>
        match rest
            .split_once("foundation-model/")
            .or_else(|| rest.split_once("inference-profile/"))
        {
            Some((_, tail)) => tail,
            None => return Target::Unknown,
        }
    } else {
        id
    };
    if let Some(p) = sc.profiles.get(id) {
        return match sc.models.get(&p.model) {
            Some(m) => Target::Profile(p, m),
            None => Target::Unknown,
        };
    }
    match sc.models.get(id) {
        Some(m) => Target::Model(m),
        None => Target::Unknown,
    }
}

/// Model access of the caller's account for `model` in the request's region, with Marketplace
/// subscriptions made at first invocation taken into account.
pub(crate) fn grant(ctx: &Ctx, model: &Model) -> GrantStatus {
    let account = ctx.principal.account();
    let status = ctx.scenario.grant(account, &ctx.region, &model.id);
    if status == GrantStatus::MarketplaceSubscriptionMissing
        && ctx
            .sim
            .inner()
            .subscriptions
            .lock()
            .is_ok_and(|s| s.contains(&(account.to_owned(), model.id.clone())))
    {
        return GrantStatus::Granted;
    }
    status
}

pub(crate) const MARKETPLACE_ACTIONS: [&str; 2] = [
    "aws-marketplace:ViewSubscriptions",
    "aws-marketplace:Subscribe",
];

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
            // A blocked account still looks fine on the control plane (reasons.md:
            // account_not_authorized); only invocation tells.
            GrantStatus::Granted
            | GrantStatus::AccountBlocked
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
    let lifecycle = match m.lifecycle {
        Lifecycle::Active => "ACTIVE",
        Lifecycle::Legacy | Lifecycle::Eol => "LEGACY",
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
        "modelLifecycle": {"status": lifecycle},
    })
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
