//! AWS SDK plumbing shared by the layers: SDK configuration per source (with the process's
//! HTTP client), the retry and timeout policy of every call, one-off clients for `diagnose`'s
//! evidence calls, and turning SDK errors into [`Failure`]s. The probes' own clients are built
//! once, in [`super::clients`].
//!
//! Nothing here is simulator-specific: endpoints come from the SDK's own configuration
//! (`AWS_ENDPOINT_URL*`, profile `endpoint_url`), carried by the loaded [`SdkConfig`].

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_types::region::Region;
use aws_types::request_id::RequestId;

use super::Failure;
use super::calls::CountCalls;
use super::transport;
use crate::config::Source;
use crate::reason::{Layer, Reason, classify};

/// Attempts per call (first try + retries). Throttling and 5xx are retried with backoff.
pub const MAX_ATTEMPTS: u32 = 3;
/// First retry backoff; later ones grow exponentially (with jitter), well inside a probe budget.
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(200);

/// Loads the SDK configuration of a source: the default chain, or the named profile.
/// Endpoint overrides (`AWS_ENDPOINT_URL*`, profile `endpoint_url`) are picked up by the SDK.
///
/// HTTP: the process's one client ([`transport`]), which the loader also gives the credential
/// chain (SSO, web identity, ECS and instance metadata calls). It reads `HTTPS_PROXY` /
/// `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` (upper case first, then lower case) as the SDK's
/// default client does: `https://` endpoints go through a `CONNECT` tunnel, `http://` ones as
/// absolute-form requests; loopback is not exempt unless listed in `NO_PROXY`
/// (`tests/e2e_proxy.rs`). Its trust roots add `AWS_CA_BUNDLE`, else the profile's
/// `ca_bundle`, to the system's.
pub async fn load_source_config(source: &Source, max_per_host: Option<usize>) -> SdkConfig {
    let http = transport::client_for_profile(source.profile.as_deref(), max_per_host).await;
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(retry_config())
        .http_client(http);
    if let Some(profile) = &source.profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}

/// `sdk` with the process's HTTP client (system roots, proxies from the environment, at most
/// `max_per_host` connections per endpoint) unless it already has one: explicit configurations
/// (tests, embedding) share the pool too.
pub fn with_process_http_client(sdk: SdkConfig, max_per_host: Option<usize>) -> SdkConfig {
    if sdk.http_client().is_some() {
        return sdk;
    }
    sdk.to_builder()
        .http_client(transport::shared_client(None, max_per_host))
        .build()
}

/// The limited retry policy of every probe call.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(INITIAL_BACKOFF)
}

/// Timeouts for one call, given what is left of the probe budget: the operation timeout only.
/// The connect timeout is the process's ([`transport::CONNECT_TIMEOUT`]); a connect timeout
/// that changed per call would make the SDK's default client open a new pool per call.
pub fn timeout_config(remaining: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_timeout(remaining)
        .build()
}

/// The source's configuration narrowed to one region, explicit credentials, the probe's retry
/// policy and what is left of its time budget. Endpoint settings stay those of `sdk`.
fn scoped(sdk: &SdkConfig, region: &str, creds: Credentials, remaining: Duration) -> SdkConfig {
    with_process_http_client(sdk.clone(), None)
        .to_builder()
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(creds))
        .retry_config(retry_config())
        .timeout_config(timeout_config(remaining))
        .build()
}

/// A one-off STS client for `region` with the given credentials (the probes use
/// [`super::clients::RegionClients`]).
pub fn sts_client(
    sdk: &SdkConfig,
    region: &str,
    creds: Credentials,
    remaining: Duration,
) -> aws_sdk_sts::Client {
    let conf = aws_sdk_sts::config::Builder::from(&scoped(sdk, region, creds, remaining));
    aws_sdk_sts::Client::from_conf(conf.interceptor(CountCalls).build())
}

/// A one-off Bedrock control-plane client for `region` with the given credentials, built from
/// the source's configuration so that it uses the same endpoints and HTTP client (`diagnose`'s
/// availability in other regions and active models).
pub fn bedrock_client(
    sdk: &SdkConfig,
    region: &str,
    creds: Credentials,
    remaining: Duration,
) -> aws_sdk_bedrock::Client {
    let conf = aws_sdk_bedrock::config::Builder::from(&scoped(sdk, region, creds, remaining));
    aws_sdk_bedrock::Client::from_conf(conf.interceptor(CountCalls).build())
}

/// A one-off Bedrock runtime client for `region` with the given credentials.
pub fn runtime_client(
    sdk: &SdkConfig,
    region: &str,
    creds: Credentials,
    remaining: Duration,
) -> aws_sdk_bedrockruntime::Client {
    let conf =
        aws_sdk_bedrockruntime::config::Builder::from(&scoped(sdk, region, creds, remaining));
    aws_sdk_bedrockruntime::Client::from_conf(conf.interceptor(CountCalls).build())
}

/// The region IAM (a global service) is signed for in the `aws` partition.
pub const IAM_REGION: &str = "us-east-1";

/// An IAM client with the given credentials (diagnosis evidence: GetRole,
/// SimulatePrincipalPolicy), built from the source's configuration so that the same endpoint
/// configuration applies.
pub fn iam_client(sdk: &SdkConfig, creds: Credentials, remaining: Duration) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::config::Builder::from(&scoped(sdk, IAM_REGION, creds, remaining));
    aws_sdk_iam::Client::from_conf(conf.interceptor(CountCalls).build())
}

/// Replaces every secret (external id, access keys, tokens) in `text` by `[REDACTED]`, and
/// access key ids that AWS may echo (`AKIA…`, `ASIA…`) by their first four characters.
pub fn redact(text: &str, secrets: &[&str]) -> String {
    let mut out = text.to_string();
    for secret in secrets.iter().filter(|s| s.len() >= 4) {
        out = out.replace(secret, "[REDACTED]");
    }
    redact_key_ids(&out)
}

fn redact_key_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &text[i..];
        let is_key_prefix = rest.starts_with("AKIA") || rest.starts_with("ASIA");
        let boundary = i == 0 || !bytes[i - 1].is_ascii_alphanumeric();
        if is_key_prefix && boundary {
            let len = rest
                .bytes()
                .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                .count();
            if len >= 16 {
                out.push_str(&rest[..4]);
                out.push_str("[REDACTED]");
                i += len;
                continue;
            }
        }
        // Advance one character (not byte) to stay on UTF-8 boundaries.
        let ch_len = rest.chars().next().map_or(1, char::len_utf8);
        out.push_str(&rest[..ch_len]);
        i += ch_len;
    }
    out
}

/// Turns an SDK error of a layer's call into a classified [`Failure`].
pub fn failure_from_sdk<E>(
    layer: Layer,
    err: &SdkError<E, HttpResponse>,
    secrets: &[&str],
) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let request_id = err.request_id().map(str::to_string);
    match err {
        SdkError::ServiceError(service) => {
            let raw = service.raw();
            let status = raw.status().as_u16();
            let code = service.err().code().map(str::to_string);
            let message = service.err().message().unwrap_or_default().to_string();
            let request_id = request_id.or_else(|| request_id_from_body(raw.body().bytes()));
            Failure {
                reason: classify(layer, code.as_deref(), Some(status), &message),
                error_code: code,
                http_status: Some(status),
                request_id,
                message: redact(&message, secrets),
            }
        }
        SdkError::TimeoutError(_) => local_failure(Reason::Timeout, "the call timed out"),
        SdkError::DispatchFailure(dispatch) => {
            let reason = if dispatch.is_timeout() {
                Reason::Timeout
            } else {
                Reason::NetworkError
            };
            let text = format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(err)
            );
            local_failure(reason, &redact(&text, secrets))
        }
        SdkError::ResponseError(response) => {
            let status = response.raw().status().as_u16();
            let reason = classify(layer, None, Some(status), "");
            Failure {
                reason,
                error_code: None,
                http_status: Some(status),
                request_id,
                message: format!("unparseable response (HTTP {status})"),
            }
        }
        _ => {
            let text = format!(
                "{}",
                aws_smithy_types::error::display::DisplayErrorContext(err)
            );
            local_failure(Reason::Unknown, &redact(&text, secrets))
        }
    }
}

/// A failure that AWS did not answer (timeout, network, local problem).
pub fn local_failure(reason: Reason, message: &str) -> Failure {
    Failure {
        reason,
        error_code: None,
        http_status: None,
        request_id: None,
        message: message.to_string(),
    }
}

/// The `<RequestId>` of an STS (query protocol) body, for responses without the header.
fn request_id_from_body(body: Option<&[u8]>) -> Option<String> {
    let text = std::str::from_utf8(body?).ok()?;
    let start = text.find("<RequestId>")? + "<RequestId>".len();
    let end = text[start..].find("</RequestId>")? + start;
    let id = text[start..end].trim();
    (!id.is_empty()).then(|| id.to_string())
}

/// Temporary source credentials (SSO, instance or web-identity roles) are reused until
/// [`REFRESH_BEFORE_EXPIRY`] before they expire, so a round does not hit the credential
/// endpoints once per region; long-term keys (no expiry) are re-read every time so that a
/// rotation is noticed at once.
pub const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

/// A credentials provider that keeps temporary credentials until shortly before they expire.
#[derive(Debug)]
pub struct ReuseUntilExpiry {
    inner: aws_credential_types::provider::SharedCredentialsProvider,
    cached: std::sync::Mutex<Option<Credentials>>,
}

impl ReuseUntilExpiry {
    pub fn new(inner: aws_credential_types::provider::SharedCredentialsProvider) -> Self {
        ReuseUntilExpiry {
            inner,
            cached: std::sync::Mutex::new(None),
        }
    }

    fn fresh(&self) -> Option<Credentials> {
        let cached = match self.cached.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        let creds = cached.as_ref()?;
        let expiry = creds.expiry()?;
        let now = std::time::SystemTime::now();
        (expiry > now + REFRESH_BEFORE_EXPIRY).then(|| creds.clone())
    }

    fn keep(&self, creds: &Credentials) {
        let mut cached = match self.cached.lock() {
            Ok(c) => c,
            Err(poisoned) => poisoned.into_inner(),
        };
        *cached = creds.expiry().is_some().then(|| creds.clone());
    }
}

impl aws_credential_types::provider::ProvideCredentials for ReuseUntilExpiry {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            if let Some(creds) = self.fresh() {
                return Ok(creds);
            }
            let creds = self.inner.provide_credentials().await?;
            self.keep(&creds);
            Ok(creds)
        })
    }
}

/// The source configuration with its credential provider wrapped in [`ReuseUntilExpiry`].
pub fn with_reused_credentials(sdk: SdkConfig) -> SdkConfig {
    match sdk.credentials_provider() {
        None => sdk,
        Some(provider) => sdk
            .to_builder()
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    ReuseUntilExpiry::new(provider),
                ),
            )
            .build(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_and_access_key_ids_are_redacted_from_messages() {
        let text = "external id ext-secret-123 rejected for AKIAIOSFODNN7EXAMPLE";
        let out = redact(text, &["ext-secret-123"]);
        assert!(!out.contains("ext-secret-123"));
        assert!(!out.contains("IOSFODNN7EXAMPLE"));
        assert!(out.contains("AKIA[REDACTED]"));
    }

    #[test]
    fn messages_with_typographic_apostrophes_survive_redaction() {
        let text = "isn’t supported ASIA";
        assert_eq!(redact(text, &[]), text);
    }

    #[test]
    fn request_id_is_read_from_an_sts_body() {
        let body = b"<ErrorResponse><RequestId> abc-1 </RequestId></ErrorResponse>";
        assert_eq!(request_id_from_body(Some(body)).as_deref(), Some("abc-1"));
        assert_eq!(request_id_from_body(Some(b"{}")), None);
    }

    #[derive(Debug, Default)]
    struct Counting {
        calls: std::sync::Arc<std::sync::atomic::AtomicUsize>,
        expiry: Option<std::time::SystemTime>,
    }

    impl aws_credential_types::provider::ProvideCredentials for Counting {
        fn provide_credentials<'a>(
            &'a self,
        ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
        where
            Self: 'a,
        {
            self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            aws_credential_types::provider::future::ProvideCredentials::ready(Ok(Credentials::new(
                "AKIDTEST",
                "secret",
                None,
                self.expiry,
                "counting",
            )))
        }
    }

    #[tokio::test]
    async fn temporary_source_credentials_are_reused_until_shortly_before_expiry() {
        use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
        let hour = std::time::SystemTime::now() + Duration::from_secs(3600);
        let inner = Counting {
            expiry: Some(hour),
            ..Counting::default()
        };
        let (reuse, calls) = {
            let calls = inner.calls.clone();
            (
                ReuseUntilExpiry::new(SharedCredentialsProvider::new(inner)),
                calls,
            )
        };
        for _ in 0..3 {
            assert!(reuse.provide_credentials().await.is_ok());
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);

        let soon = std::time::SystemTime::now() + Duration::from_secs(60);
        let inner = Counting {
            expiry: Some(soon),
            ..Counting::default()
        };
        let (reuse, calls) = {
            let calls = inner.calls.clone();
            (
                ReuseUntilExpiry::new(SharedCredentialsProvider::new(inner)),
                calls,
            )
        };
        for _ in 0..2 {
            assert!(reuse.provide_credentials().await.is_ok());
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn long_term_keys_are_read_again_every_time() {
        use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
        let inner = Counting::default();
        let (reuse, calls) = {
            let calls = inner.calls.clone();
            (
                ReuseUntilExpiry::new(SharedCredentialsProvider::new(inner)),
                calls,
            )
        };
        for _ in 0..2 {
            assert!(reuse.provide_credentials().await.is_ok());
        }
        assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
