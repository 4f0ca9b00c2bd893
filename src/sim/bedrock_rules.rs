//! Bedrock's rules shared by the control plane (`bedrock`) and the runtime (`runtime`): IAM
//! authorization of a Bedrock action with AWS's messages (SCPs first; for an API key, first
//! `bedrock:CallWithBearerToken` with `bedrock:bearerTokenType`), what a model identifier
//! names, and the model access of the caller's account (grants and Marketplace subscriptions).

use http::StatusCode;

use super::auth::Principal;
use super::bearer::{CALL_WITH_BEARER_TOKEN, TOKEN_TYPE_KEY, TokenType};
use super::ctx::Ctx;
use super::policy::{Context, Decision, evaluate_all};
use super::scenario::{GrantStatus, Model, Profile, Scenario};
use super::wire::ApiError;

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
/// A caller with an API key must also be allowed `bedrock:CallWithBearerToken` (SCPs, then
/// identity policies), with `bedrock:bearerTokenType` in the request context.
pub(crate) fn permission(ctx: &Ctx, action: &str, resource: &str) -> Result<(), (String, bool)> {
    if ctx.bearer.is_some() {
        evaluate(ctx, CALL_WITH_BEARER_TOKEN, "*")?;
    }
    evaluate(ctx, action, resource)
}

/// SCP, then identity policies, for one action.
fn evaluate(ctx: &Ctx, action: &str, resource: &str) -> Result<(), (String, bool)> {
    let p = &ctx.principal;
    let arn = p.arn();
    let cond = Context::default()
        .with("aws:requestedregion", Some(ctx.region.as_str()))
        .with("aws:principalaccount", Some(p.account()))
        .with("aws:principalarn", Some(arn.as_str()))
        .with(TOKEN_TYPE_KEY, ctx.bearer.map(TokenType::as_str));
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
        && ctx.state.is_subscribed(account, &model.id)
    {
        return GrantStatus::Granted;
    }
    status
}

pub(crate) const MARKETPLACE_ACTIONS: [&str; 2] = [
    "aws-marketplace:ViewSubscriptions",
    "aws-marketplace:Subscribe",
];
