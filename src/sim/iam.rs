//! IAM (query protocol), for `diagnose`'s deeper evidence: GetRole and SimulatePrincipalPolicy.

use axum::response::Response;
use http::StatusCode;

use super::ctx::Ctx;
use super::policy::{Context, Decision, evaluate_all};
use super::wire::{ApiError, QueryService, query_ok, xml_escape};

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// `Name.member.1`, `Name.member.2`, … in order.
fn members<'a>(params: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    let prefix = format!("{name}.member.");
    let mut v: Vec<(u32, &str)> = params
        .iter()
        .filter_map(|(k, val)| {
            k.strip_prefix(&prefix)
                .and_then(|n| n.parse().ok())
                .map(|n| (n, val.as_str()))
        })
        .collect();
    v.sort_by_key(|(n, _)| *n);
    v.into_iter().map(|(_, s)| s).collect()
}

fn authorize(ctx: &Ctx, action: &str, resource: &str) -> Result<(), ApiError> {
    let caller = &ctx.principal;
    let cond = Context::default();
    let deny = |suffix: &str| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: {action} on resource: {resource}{suffix}",
                caller.arn()
            ),
        )
    };
    if let Some(tail) = ctx
        .scenario
        .accounts
        .get(caller.account())
        .and_then(|a| a.scp_denial(action, resource, &cond))
    {
        return Err(deny(&tail));
    }
    match evaluate_all(caller.policies(&ctx.scenario), action, resource, &cond) {
        Decision::Allow => Ok(()),
        Decision::ExplicitDeny => Err(deny(" with an explicit deny in an identity-based policy")),
        Decision::ImplicitDeny => Err(deny(&format!(
            " because no identity-based policy allows the {action} action"
        ))),
    }
}

pub(crate) fn dispatch(
    ctx: &Ctx,
    action: &str,
    params: &[(String, String)],
) -> Result<Response, ApiError> {
    match action {
        "GetRole" => get_role(ctx, params),
        "SimulatePrincipalPolicy" => simulate(ctx, params),
        other => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            format!(
                "Could not find operation {} for version 2010-05-08",
                other.chars().take(128).collect::<String>()
            ),
        )),
    }
}

fn get_role(ctx: &Ctx, params: &[(String, String)]) -> Result<Response, ApiError> {
    let Some(name) = param(params, "RoleName") else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "1 validation error detected: Value null at 'roleName' failed to satisfy constraint: Member must not be null",
        ));
    };
    let account = ctx.principal.account().to_owned();
    let arn = format!("arn:aws:iam::{account}:role/{name}");
    authorize(ctx, "iam:GetRole", &arn)?;
    let Some(role) = ctx.scenario.roles.get(&(account.clone(), name.to_owned())) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NoSuchEntity",
            format!("The role with name {name} cannot be found."),
        ));
    };
    let doc: String =
        percent_encoding::utf8_percent_encode(&role.trust_text, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let inner = format!(
        "    <Role>\n      <Path>/</Path>\n      <AssumeRolePolicyDocument>{}</AssumeRolePolicyDocument>\n      <MaxSessionDuration>{}</MaxSessionDuration>\n      <RoleId>{}</RoleId>\n      <RoleName>{}</RoleName>\n      <Arn>{}</Arn>\n      <CreateDate>2024-01-01T00:00:00Z</CreateDate>\n    </Role>\n",
        xml_escape(&doc),
        role.max_session_duration,
        super::auth::role_id(&role.account, &role.name),
        xml_escape(&role.name),
        xml_escape(&arn),
    );
    Ok(query_ok(
        QueryService::Iam,
        "GetRole",
        &inner,
        &ctx.request_id,
    ))
}

fn simulate(ctx: &Ctx, params: &[(String, String)]) -> Result<Response, ApiError> {
    let Some(source) = param(params, "PolicySourceArn") else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "1 validation error detected: Value null at 'policySourceArn' failed to satisfy constraint: Member must not be null",
        ));
    };
    authorize(ctx, "iam:SimulatePrincipalPolicy", source)?;
    let policies = source_policies(ctx, source).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "NoSuchEntity",
            format!("PolicySourceArn {source} does not exist in this account."),
        )
    })?;
    let actions = members(params, "ActionNames");
    if actions.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ValidationError",
            "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null",
        ));
    }
    let mut resources = members(params, "ResourceArns");
    if resources.is_empty() {
        resources.push("*");
    }
    // Like IAM's simulator, the SCPs of the principal's account count (and are reported in
    // OrganizationsDecisionDetail when the account has any).
    let account = ctx.scenario.accounts.get(ctx.principal.account());
    let mut out = String::from("    <IsTruncated>false</IsTruncated>\n    <EvaluationResults>\n");
    for a in &actions {
        for r in &resources {
            let cond = Context::default();
            let scp_denied = account
                .and_then(|acct| acct.scp_denial(a, r, &cond))
                .is_some();
            let decision = match evaluate_all(policies, a, r, &cond) {
                _ if scp_denied => "explicitDeny",
                Decision::Allow => "allowed",
                Decision::ImplicitDeny => "implicitDeny",
                Decision::ExplicitDeny => "explicitDeny",
            };
            let org = if account.is_some_and(|acct| !acct.scps.is_empty()) {
                format!(
                    "        <OrganizationsDecisionDetail>\n          <AllowedByOrganizations>{}</AllowedByOrganizations>\n        </OrganizationsDecisionDetail>\n",
                    !scp_denied
                )
            } else {
                String::new()
            };
            out.push_str(&format!(
                "      <member>\n        <EvalActionName>{}</EvalActionName>\n        <EvalResourceName>{}</EvalResourceName>\n        <EvalDecision>{decision}</EvalDecision>\n        <MatchedStatements/>\n        <MissingContextValues/>\n{org}      </member>\n",
                xml_escape(a),
                xml_escape(r),
            ));
        }
    }
    out.push_str("    </EvaluationResults>\n");
    Ok(query_ok(
        QueryService::Iam,
        "SimulatePrincipalPolicy",
        &out,
        &ctx.request_id,
    ))
}

/// Identity policies of a user or role ARN in the caller's account.
fn source_policies<'s>(ctx: &'s Ctx, arn: &str) -> Option<&'s [super::policy::Policy]> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (acct, rest) = rest.split_once(':')?;
    if acct != ctx.principal.account() {
        return None;
    }
    if let Some(name) = rest.strip_prefix("role/") {
        let name = name.rsplit('/').next()?;
        return ctx
            .scenario
            .roles
            .get(&(acct.to_owned(), name.to_owned()))
            .map(|r| r.policies.as_slice());
    }
    let name = rest.strip_prefix("user/")?.rsplit('/').next()?;
    ctx.scenario
        .users
        .iter()
        .find(|u| u.account == acct && u.name == name)
        .map(|u| u.policies.as_slice())
}
