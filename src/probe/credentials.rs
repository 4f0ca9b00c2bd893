//! Layer 1, `credentials`: resolve the source's credential chain, then `sts:GetCallerIdentity`
//! with those credentials, then compare the account with `expected_account`.
//!
//! A chain that fails is classified by what is inside its error: STS's answer when the chain
//! assumed a role (IRSA's AssumeRoleWithWebIdentity, a profile's `role_arn`), else what its
//! text says (`reason::classify_credential_chain`: a credential endpoint's status, …). How the
//! credentials came ([`CredentialSource`]: a web identity token, a container endpoint such as
//! EKS Pod Identity's) is named in the layer's call description, where the fixes read it.

use std::error::Error;

use aws_credential_types::Credentials;
use aws_credential_types::credential_feature::AwsCredentialFeature;
use aws_credential_types::provider::ProvideCredentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_sts::operation::assume_role::AssumeRoleError;
use aws_sdk_sts::operation::assume_role_with_web_identity::AssumeRoleWithWebIdentityError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;

use super::aws::{failure_from_sdk, local_failure, redact};
use super::clients::sts_call;
use super::{Failure, LayerContext, LayerOutput};
use crate::reason::{Layer, Reason, classify_credential_chain};
/// How the source's credentials came, as far as the SDK's credential chain tells (`None`:
/// keys, a profile, an instance role, or a chain that failed before saying).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialSource {
    /// A web identity token exchanged with AssumeRoleWithWebIdentity: IRSA
    /// (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`) or a profile's
    /// `web_identity_token_file`.
    WebIdentity,
    /// A container credentials endpoint: EKS Pod Identity
    /// (`AWS_CONTAINER_CREDENTIALS_FULL_URI` + `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`) or ECS.
    Container,
}

/// The word of the call description that names the source (`credentials=<kind>`).
const SOURCE_WORD: &str = "credentials=";

impl CredentialSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialSource::WebIdentity => "web_identity",
            CredentialSource::Container => "container",
        }
    }

    /// The source named by a credentials layer's call description ([`describe_with`]).
    pub fn of_call(call: &str) -> Option<CredentialSource> {
        let word = call
            .split_whitespace()
            .find_map(|w| w.strip_prefix(SOURCE_WORD))?;
        [CredentialSource::WebIdentity, CredentialSource::Container]
            .into_iter()
            .find(|s| s.as_str() == word)
    }

    /// The provider that produced `creds`, by the features the SDK records on them.
    fn of_credentials(creds: &Credentials) -> Option<CredentialSource> {
        let features = creds.get_property::<Vec<AwsCredentialFeature>>()?;
        features.iter().find_map(|f| match f {
            AwsCredentialFeature::CredentialsEnvVarsStsWebIdToken
            | AwsCredentialFeature::CredentialsProfileStsWebIdToken
            | AwsCredentialFeature::CredentialsStsAssumeRoleWebId => {
                Some(CredentialSource::WebIdentity)
            }
            AwsCredentialFeature::CredentialsHttp => Some(CredentialSource::Container),
            _ => None,
        })
    }

    /// The provider that failed, by what its error holds.
    fn of_error(err: &CredentialsError) -> Option<CredentialSource> {
        if sts_error_inside::<AssumeRoleWithWebIdentityError>(err).is_some() {
            return Some(CredentialSource::WebIdentity);
        }
        format!("{}", DisplayErrorContext(err))
            .contains("HTTP credential provider")
            .then_some(CredentialSource::Container)
    }
}

/// What the credentials layer proves: usable source credentials and the account they belong to.
#[derive(Debug, Clone)]
pub struct SourceIdentity {
    pub credentials: Credentials,
    pub account: String,
    pub arn: String,
}

/// The one-line description of the call.
pub fn describe(ctx: &LayerContext<'_>) -> String {
    describe_with(ctx, None)
}

/// The description, naming how the credentials came when the chain told (`credentials=…`).
pub fn describe_with(ctx: &LayerContext<'_>, source: Option<CredentialSource>) -> String {
    let mut call = format!(
        "sts:GetCallerIdentity source={} region={}",
        ctx.source.name, ctx.region
    );
    if let Some(s) = source {
        call.push(' ');
        call.push_str(SOURCE_WORD);
        call.push_str(s.as_str());
    }
    call
}

pub async fn run(ctx: &LayerContext<'_>) -> LayerOutput<SourceIdentity> {
    let (source, result) = identify(ctx).await;
    LayerOutput::new(describe_with(ctx, source), result)
}

async fn identify(
    ctx: &LayerContext<'_>,
) -> (Option<CredentialSource>, Result<SourceIdentity, Failure>) {
    let Some(provider) = ctx.sdk.credentials_provider() else {
        let failure = local_failure(
            Reason::NoCredentials,
            "the source has no credential provider",
        );
        return (None, Err(failure));
    };
    let credentials =
        match tokio::time::timeout(ctx.remaining(), provider.provide_credentials()).await {
            Err(_) => {
                let failure = local_failure(
                    Reason::Timeout,
                    "resolving the source's credentials timed out",
                );
                return (None, Err(failure));
            }
            Ok(Err(err)) => {
                return (
                    CredentialSource::of_error(&err),
                    Err(credentials_failure(&err, ctx)),
                );
            }
            Ok(Ok(creds)) => creds,
        };
    let source = CredentialSource::of_credentials(&credentials);
    (source, caller_identity(ctx, credentials).await)
}

/// GetCallerIdentity with the resolved credentials, and the expected account.
async fn caller_identity(
    ctx: &LayerContext<'_>,
    credentials: Credentials,
) -> Result<SourceIdentity, Failure> {
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

/// A failure of the credential chain: STS's answer when a role assumed inside it was refused,
/// else what the chain's error says.
fn credentials_failure(err: &CredentialsError, ctx: &LayerContext<'_>) -> Failure {
    let secrets = ctx.secrets();
    if let Some(e) = sts_error_inside::<AssumeRoleWithWebIdentityError>(err) {
        return failure_from_sdk(Layer::Credentials, e, &secrets);
    }
    if let Some(e) = sts_error_inside::<AssumeRoleError>(err) {
        return failure_from_sdk(Layer::Credentials, e, &secrets);
    }
    let text = redact(&format!("{}", DisplayErrorContext(err)), &secrets);
    let reason = match err {
        CredentialsError::ProviderTimedOut(_) => Reason::Timeout,
        _ => classify_credential_chain(&text),
    };
    local_failure(reason, &text)
}

/// The SDK error of an STS operation (`E`) somewhere in the chain of `err`'s sources.
fn sts_error_inside<E: Error + 'static>(
    err: &CredentialsError,
) -> Option<&SdkError<E, HttpResponse>> {
    let mut cur: Option<&(dyn Error + 'static)> = err.source();
    while let Some(e) = cur {
        if let Some(found) = e.downcast_ref::<SdkError<E, HttpResponse>>() {
            return Some(found);
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_description_names_how_the_credentials_came_and_nothing_else_is_read_as_it() {
        let call = |tail: &str| format!("sts:GetCallerIdentity source=pod region=us-east-1{tail}");
        for s in [CredentialSource::WebIdentity, CredentialSource::Container] {
            let c = call(&format!(" {SOURCE_WORD}{}", s.as_str()));
            assert_eq!(CredentialSource::of_call(&c), Some(s), "{c}");
        }
        for c in [
            call(""),
            call(" credentials=instance"),
            call(" xcredentials=container"),
        ] {
            assert_eq!(CredentialSource::of_call(&c), None, "{c}");
        }
    }

    #[test]
    fn credentials_say_which_provider_made_them() {
        let mut creds = Credentials::new("ASIAEXAMPLE", "secret", None, None, "test");
        assert_eq!(CredentialSource::of_credentials(&creds), None);
        creds.set_property(vec![AwsCredentialFeature::CredentialsEnvVarsStsWebIdToken]);
        assert_eq!(
            CredentialSource::of_credentials(&creds),
            Some(CredentialSource::WebIdentity)
        );
        creds.set_property(vec![AwsCredentialFeature::CredentialsHttp]);
        assert_eq!(
            CredentialSource::of_credentials(&creds),
            Some(CredentialSource::Container)
        );
    }
}
