//! Layer 2, `assume_role`: `sts:AssumeRole` on the target's role with the source credentials,
//! called directly with aws-sdk-sts (not hidden in a credentials provider, so that its error
//! code and message reach the classifier).

use std::time::SystemTime;

use aws_credential_types::Credentials;

use super::aws::{failure_from_sdk, local_failure};
use super::clients::sts_call;
use super::{LayerContext, LayerOutput};
use crate::reason::{Layer, Reason};

/// The one-line description of the AssumeRole call (no external id, only whether one is set).
pub fn describe(ctx: &LayerContext<'_>, role_arn: &str) -> String {
    format!(
        "sts:AssumeRole {role_arn} session={} duration={}s external_id={} region={}",
        ctx.target.settings.session_name,
        ctx.target.settings.session_duration.as_secs(),
        if ctx.target.external_id.is_some() {
            "set"
        } else {
            "none"
        },
        ctx.region
    )
}

/// Assumes the target's role with `source` credentials; returns the assumed credentials.
pub async fn run(ctx: &LayerContext<'_>, source: Credentials) -> LayerOutput<Credentials> {
    let Some(role_arn) = ctx.target.role_arn.as_deref() else {
        return LayerOutput::new(
            "sts:AssumeRole (no role_arn)".to_string(),
            Err(local_failure(
                Reason::ValidationError,
                "target has no role_arn",
            )),
        );
    };
    let call = describe(ctx, role_arn);
    let duration =
        i32::try_from(ctx.target.settings.session_duration.as_secs()).unwrap_or(i32::MAX);
    let sent = ctx
        .clients
        .sts
        .assume_role()
        .role_arn(role_arn)
        .role_session_name(&ctx.target.settings.session_name)
        .duration_seconds(duration)
        .set_external_id(ctx.target.external_id.clone())
        .customize()
        .config_override(sts_call(source, ctx.remaining()))
        .send()
        .await;
    let result = match sent {
        Err(err) => Err(failure_from_sdk(Layer::AssumeRole, &err, &ctx.secrets())),
        Ok(out) => match out.credentials() {
            None => Err(local_failure(
                Reason::Unknown,
                "AssumeRole answered without credentials",
            )),
            Some(c) => {
                let expiry = SystemTime::try_from(*c.expiration()).ok();
                Ok(Credentials::new(
                    c.access_key_id(),
                    c.secret_access_key(),
                    Some(c.session_token().to_string()),
                    expiry,
                    "bedrock-access-exporter-assume-role",
                ))
            }
        },
    };
    LayerOutput::new(call, result)
}
