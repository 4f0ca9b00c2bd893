//! Layer 1, `credentials`: resolve the source's credential chain, then `sts:GetCallerIdentity`
//! with those credentials, then compare the account with `expected_account`.

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_smithy_types::error::display::DisplayErrorContext;

use super::aws::{failure_from_sdk, local_failure, redact};
use super::clients::sts_call;
use super::{LayerContext, LayerOutput};
use crate::reason::{Layer, Reason};

/// What the credentials layer proves: usable source credentials and the account they belong to.
#[derive(Debug, Clone)]
pub struct SourceIdentity {
    pub credentials: Credentials,
    pub account: String,
    pub arn: String,
}

/// The one-line description of the call.
pub fn describe(ctx: &LayerContext<'_>) -> String {
    format!(
        "sts:GetCallerIdentity source={} region={}",
        ctx.source.name, ctx.region
    )
}

pub async fn run(ctx: &LayerContext<'_>) -> LayerOutput<SourceIdentity> {
    let call = describe(ctx);
    let result = identify(ctx).await;
    LayerOutput::new(call, result)
}

async fn identify(ctx: &LayerContext<'_>) -> Result<SourceIdentity, super::Failure> {
    let Some(provider) = ctx.sdk.credentials_provider() else {
        return Err(local_failure(
            Reason::NoCredentials,
            "the source has no credential provider",
        ));
    };
    let credentials =
        match tokio::time::timeout(ctx.remaining(), provider.provide_credentials()).await {
            Err(_) => {
                return Err(local_failure(
                    Reason::Timeout,
                    "resolving the source's credentials timed out",
                ));
            }
            Ok(Err(err)) => return Err(credentials_failure(&err, ctx)),
            Ok(Ok(creds)) => creds,
        };

    let sent = ctx
        .clients
        .sts
        .get_caller_identity()
        .customize()
        .config_override(sts_call(credentials.clone(), ctx.remaining()))
        .send()
        .await;
    let out = match sent {
        Ok(out) => out,
        Err(err) => return Err(failure_from_sdk(Layer::Credentials, &err, &ctx.secrets())),
    };
    let account = out.account().unwrap_or_default().to_string();
    let arn = out.arn().unwrap_or_default().to_string();
    if let Some(expected) = ctx.source.expected_account.as_deref()
        && expected != account
    {
        return Err(local_failure(
            Reason::SourceAccountMismatch,
            &format!("the source's credentials belong to account {account}, expected {expected}"),
        ));
    }
    Ok(SourceIdentity {
        credentials,
        account,
        arn,
    })
}

fn credentials_failure(err: &CredentialsError, ctx: &LayerContext<'_>) -> super::Failure {
    let text = redact(&format!("{}", DisplayErrorContext(err)), &ctx.secrets());
    let reason = match err {
        CredentialsError::ProviderTimedOut(_) => Reason::Timeout,
        CredentialsError::ProviderError(_) | CredentialsError::Unhandled(_)
            if text.to_lowercase().contains("expired") =>
        {
            Reason::ExpiredCredentials
        }
        _ => Reason::NoCredentials,
    };
    local_failure(reason, &text)
}
