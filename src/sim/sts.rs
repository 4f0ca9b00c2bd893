//! STS: GetCallerIdentity and AssumeRole (query protocol). AssumeRoleWithWebIdentity, which is
//! not signed, is in `web_identity` and shares the parameter checks here.

use axum::response::Response;
use chrono::Utc;
use http::StatusCode;

use super::auth::{Principal, role_id};
use super::ctx::Ctx;
use super::policy::{Context, Decision, PrincipalMatch, evaluate_all};
use super::wire::{ApiError, QueryService, query_ok, xml_escape};

pub(super) fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(super) fn validation(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "ValidationError", message)
}

pub(crate) fn dispatch(
    ctx: &Ctx,
    action: &str,
    params: &[(String, String)],
) -> Result<Response, ApiError> {
    // STS must be active in the region for the caller's account.
    if let Some(acct) = ctx.scenario.accounts.get(ctx.principal.account())
        && acct.sts_disabled_regions.iter().any(|r| r == &ctx.region)
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "RegionDisabledException",
            format!(
                "STS is not activated in this region for account:{}. Your account administrator can activate STS in this region using the IAM Console.",
                acct.id
            ),
        ));
    }
    match action {
        "GetCallerIdentity" => Ok(get_caller_identity(ctx)),
        "AssumeRole" => assume_role(ctx, params),
        other => {
            let version = param(params, "Version").unwrap_or("2011-06-15");
            Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "InvalidAction",
                format!(
                    "Could not find operation {} for version {}",
                    other.chars().take(128).collect::<String>(),
                    version.chars().take(32).collect::<String>()
                ),
            ))
        }
    }
}

fn get_caller_identity(ctx: &Ctx) -> Response {
    let p = &ctx.principal;
    let inner = format!(
        "    <Arn>{}</Arn>\n    <UserId>{}</UserId>\n    <Account>{}</Account>\n",
        xml_escape(&p.arn()),
        xml_escape(&p.user_id()),
        xml_escape(p.account()),
    );
    query_ok(
        QueryService::Sts,
        "GetCallerIdentity",
        &inner,
        &ctx.request_id,
    )
}

pub(super) fn valid_session_name(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

fn assume_role(ctx: &Ctx, params: &[(String, String)]) -> Result<Response, ApiError> {
    let (role_arn, session_name, duration) = role_session_params(params)?;
    let external_id = param(params, "ExternalId");
    if let Some(x) = external_id
        && (!(2..=1224).contains(&x.len())
            || !x
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@:/-".contains(&b)))
    {
        return Err(validation(
            "1 validation error detected: Value at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*",
        ));
    }

    authorize_assume_role(ctx, role_arn, external_id)?;
    let Some(role) = ctx.scenario.role_by_arn(role_arn) else {
        // authorize_assume_role already refused unknown roles.
        return Err(denied(&ctx.principal, role_arn, ""));
    };

    let max = if matches!(ctx.principal, Principal::Session { .. }) {
        // Role chaining caps sessions at one hour.
        if duration > 3600 {
            return Err(validation(
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ));
        }
        3600
    } else {
        role.max_session_duration
    };
    if u64::try_from(duration).unwrap_or(u64::MAX) > max {
        return Err(validation(
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    issue(ctx, role, session_name, duration)
}

/// `RoleArn`, `RoleSessionName` and `DurationSeconds` (default 3600) of AssumeRole and
/// AssumeRoleWithWebIdentity, checked against AWS's constraints before any authorization.
pub(super) fn role_session_params(
    params: &[(String, String)],
) -> Result<(&str, &str, i64), ApiError> {
    let Some(role_arn) = param(params, "RoleArn") else {
        return Err(validation(
            "1 validation error detected: Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
        ));
    };
    if role_arn.len() < 20 || role_arn.len() > 2048 {
        return Err(validation(format!(
            "1 validation error detected: Value '{}' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20",
            role_arn.chars().take(2048).collect::<String>()
        )));
    }
    let Some(session_name) = param(params, "RoleSessionName") else {
        return Err(validation(
            "1 validation error detected: Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null",
        ));
    };
    if !(2..=64).contains(&session_name.len()) || !valid_session_name(session_name) {
        return Err(validation(format!(
            "1 validation error detected: Value '{}' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
            session_name.chars().take(64).collect::<String>()
        )));
    }
    let duration: i64 = match param(params, "DurationSeconds") {
        None => 3600,
        Some(d) => d.parse().map_err(|_| {
            validation(format!(
                "1 validation error detected: Value '{}' at 'durationSeconds' failed to satisfy constraint: Member must be a number",
                d.chars().take(32).collect::<String>()
            ))
        })?,
    };
    if duration < 900 {
        return Err(validation(format!(
            "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
        )));
    }
    if duration > 43200 {
        return Err(validation(format!(
            "1 validation error detected: Value '{duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to 43200"
        )));
    }
    Ok((role_arn, session_name, duration))
}

/// Issues the session of `role` and answers AssumeRole with its credentials.
fn issue(
    ctx: &Ctx,
    role: &crate::sim::scenario::Role,
    session_name: &str,
    duration: i64,
) -> Result<Response, ApiError> {
    let expires = Utc::now() + chrono::Duration::seconds(duration);
    let principal = Principal::Session {
        account: role.account.clone(),
        role: role.name.clone(),
        session: session_name.to_owned(),
    };
    let arn = principal.arn();
    let (key, session) = ctx.state.sessions.issue(principal, expires);
    tracing::debug!(account = %role.account, role = %role.name, session = %session_name, "issued temporary credentials");
    let inner = format!(
        "    <AssumedRoleUser>\n      <AssumedRoleId>{}:{}</AssumedRoleId>\n      <Arn>{}</Arn>\n    </AssumedRoleUser>\n    <Credentials>\n      <AccessKeyId>{}</AccessKeyId>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <SessionToken>{}</SessionToken>\n      <Expiration>{}</Expiration>\n    </Credentials>\n",
        role_id(&role.account, &role.name),
        xml_escape(session_name),
        xml_escape(&arn),
        key,
        xml_escape(&session.secret),
        xml_escape(&session.token),
        iso8601_seconds(expires),
    );
    Ok(query_ok(
        QueryService::Sts,
        "AssumeRole",
        &inner,
        &ctx.request_id,
    ))
}

fn denied(caller: &Principal, role_arn: &str, suffix: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "AccessDenied",
        format!(
            "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}{suffix}",
            caller.arn()
        ),
    )
}

/// AWS's decision for AssumeRole, with AWS's messages:
/// - an SCP of the caller's account denies → "... with an explicit deny in a service control policy";
/// - the caller's identity policy denies → "... with an explicit deny in an identity-based policy";
/// - the caller's identity policy does not allow (when it must) → "... because no identity-based
///   policy allows the sts:AssumeRole action";
/// - the trust policy denies → "... with an explicit deny in the role trust policy";
/// - otherwise (role missing, trust not matching, wrong or missing ExternalId) the bare
///   "User: X is not authorized to perform: sts:AssumeRole on resource: R".
///
/// Cross-account, both the caller's identity policy and the trust policy must allow. Within one
/// account, a trust policy naming the caller's ARN is enough; one naming the account (root)
/// still needs the identity policy.
pub(crate) fn authorize_assume_role(
    ctx: &Ctx,
    role_arn: &str,
    external_id: Option<&str>,
) -> Result<(), ApiError> {
    let caller = &ctx.principal;
    let caller_arn = caller.arn();
    let cond = Context::default()
        .with("sts:externalid", external_id)
        .with("aws:principalaccount", Some(caller.account()))
        .with("aws:principalarn", Some(caller_arn.as_str()))
        .with("aws:requestedregion", Some(ctx.region.as_str()));
    let action = "sts:AssumeRole";

    if let Some(tail) = ctx
        .scenario
        .accounts
        .get(caller.account())
        .and_then(|a| a.scp_denial(action, role_arn, &cond))
    {
        return Err(denied(caller, role_arn, &tail));
    }
    let identity = evaluate_all(caller.policies(&ctx.scenario), action, role_arn, &cond);
    if identity == Decision::ExplicitDeny {
        return Err(denied(
            caller,
            role_arn,
            " with an explicit deny in an identity-based policy",
        ));
    }
    let role_account = role_arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split(':').next())
        .unwrap_or("");
    let cross_account = role_account != caller.account();
    if cross_account && identity != Decision::Allow {
        return Err(denied(
            caller,
            role_arn,
            " because no identity-based policy allows the sts:AssumeRole action",
        ));
    }
    let Some(role) = ctx.scenario.role_by_arn(role_arn) else {
        return Err(denied(caller, role_arn, ""));
    };
    let (trust_denies, trust_allows) =
        role.trust
            .evaluate_trust(&caller.as_caller(), action, &cond);
    if trust_denies {
        return Err(denied(
            caller,
            role_arn,
            " with an explicit deny in the role trust policy",
        ));
    }
    match trust_allows {
        None => Err(denied(caller, role_arn, "")),
        Some(PrincipalMatch::Direct) => Ok(()),
        Some(PrincipalMatch::Account) if identity == Decision::Allow => Ok(()),
        Some(PrincipalMatch::Account) => Err(denied(
            caller,
            role_arn,
            " because no identity-based policy allows the sts:AssumeRole action",
        )),
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, as chrono's `%Y-%m-%dT%H:%M:%SZ` prints it, without parsing the
/// format string on every AssumeRole.
pub(super) fn iso8601_seconds(t: chrono::DateTime<Utc>) -> String {
    let basic = super::sigv4::format_amz_date(t);
    let b = basic.as_str();
    match (
        b.get(0..4),
        b.get(4..6),
        b.get(6..8),
        b.get(9..11),
        b.get(11..13),
        b.get(13..15),
    ) {
        (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(s)) => {
            format!("{y}-{mo}-{d}T{h}:{mi}:{s}Z")
        }
        _ => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiration_prints_like_chrono_did() {
        for text in [
            "2026-11-24T09:05:07Z",
            "2024-02-29T23:59:59Z",
            "1999-01-01T00:00:00Z",
        ] {
            let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) else {
                panic!("{text}")
            };
            let t = t.with_timezone(&Utc);
            assert_eq!(
                iso8601_seconds(t),
                t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
            );
            assert_eq!(iso8601_seconds(t), text);
        }
    }
}
