//! How a Bedrock call authenticates: SigV4 with AWS credentials (the assumed role's, or a
//! same-account source's), or an Amazon Bedrock API key sent as a bearer token through the
//! SDK's own `httpBearerAuth` scheme.
//!
//! Every call names its scheme explicitly (`auth_scheme_preference`): with
//! `AWS_BEARER_TOKEN_BEDROCK` in the process's environment the SDK would otherwise prefer
//! bearer authentication for every Bedrock client, those of SigV4 sources included.

use aws_credential_types::Credentials;
use aws_smithy_runtime_api::client::auth::AuthSchemeId;
use aws_smithy_runtime_api::client::auth::http::HTTP_BEARER_AUTH_SCHEME_ID;

use super::bearer_key::BearerKey;

/// The credentials of one Bedrock call.
#[derive(Debug, Clone)]
pub enum Auth {
    /// SigV4 with these credentials.
    SigV4(Credentials),
    /// `Authorization: Bearer <key>`: a Bedrock API key (long-term or short-term).
    Bearer(BearerKey),
}

impl From<Credentials> for Auth {
    fn from(c: Credentials) -> Auth {
        Auth::SigV4(c)
    }
}

impl Auth {
    /// The SigV4 credentials, if the call signs with them (`diagnose`'s IAM evidence needs them).
    pub fn credentials(&self) -> Option<&Credentials> {
        match self {
            Auth::SigV4(c) => Some(c),
            Auth::Bearer(_) => None,
        }
    }

    /// The API key, if the call sends one.
    pub fn api_key(&self) -> Option<&BearerKey> {
        match self {
            Auth::Bearer(k) => Some(k),
            Auth::SigV4(_) => None,
        }
    }

    /// The one scheme the call may use.
    pub fn scheme(&self) -> AuthSchemeId {
        match self {
            Auth::SigV4(_) => aws_runtime::auth::sigv4::SCHEME_ID,
            Auth::Bearer(_) => HTTP_BEARER_AUTH_SCHEME_ID,
        }
    }
}

/// Puts `auth` on a service configuration builder: the identity for its scheme, and the scheme
/// as the only preference. One macro for the Bedrock and Bedrock runtime builders, whose types
/// differ but whose methods are the same.
macro_rules! with_auth {
    ($builder:expr, $auth:expr) => {{
        let auth: $crate::probe::auth::Auth = $auth;
        let scheme = auth.scheme();
        let builder = match auth {
            $crate::probe::auth::Auth::SigV4(c) => $builder.credentials_provider(c),
            $crate::probe::auth::Auth::Bearer(k) => $builder.bearer_token(k.token()),
        };
        builder.auth_scheme_preference([scheme])
    }};
}
pub(crate) use with_auth;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_credentials_names_its_own_scheme() {
        let sigv4 = Auth::from(Credentials::new("AKID", "s", None, None, "t"));
        assert_eq!(sigv4.scheme().inner(), "sigv4");
        assert!(sigv4.credentials().is_some() && sigv4.api_key().is_none());
        let bearer = Auth::Bearer(BearerKey::for_tests("ABSKexample"));
        assert_eq!(bearer.scheme().inner(), "httpBearerAuth");
        assert!(bearer.credentials().is_none() && bearer.api_key().is_some());
    }
}
