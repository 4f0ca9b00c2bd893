//! SDK service clients, built once per (source, service, region) and reused by every probe and
//! round of a [`super::Prober`]: STS, Bedrock and Bedrock runtime.
//!
//! A client carries what never changes between calls: the source's endpoint settings and the
//! process's HTTP client (so every client shares one connection pool), the region, the probe's
//! retry policy and the call counter ([`super::calls::CountCalls`]). What changes per call is
//! given per operation, through the SDK's per-operation configuration override
//! (`.customize().config_override(…)`), which does not rebuild the client: the credentials
//! (the source's for STS, the round's assumed ones or the source's API key for Bedrock) and the
//! operation timeout (what is left of the probe budget).
//!
//! The clients have no credentials of their own: an operation without its override is refused
//! locally instead of being signed with the wrong identity. Each override brings its static
//! credentials with no identity cache (the SDK would otherwise build a short-lived lazy cache
//! per operation, for credentials that need no caching), so nothing assumed accumulates in, or
//! outlives the round through, a client.
//!
//! Per-call work the probes do not need is left out, because it costs CPU on every call: the
//! SDK's stalled-stream protection (a throughput monitor with its own timer on every request
//! and response body) is off; every call already has an operation timeout of what is left of
//! the probe budget, which ends a stalled answer too (README, "What one probe costs").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_sdk_sts::config::{IdentityCache, StalledStreamProtectionConfig};
use aws_types::region::Region;

use super::auth::{Auth, with_auth};
use super::aws::{retry_config, timeout_config, with_process_http_client};
use super::calls::CountCalls;

/// The service clients of one source in one region.
#[derive(Debug, Clone)]
pub struct RegionClients {
    pub sts: aws_sdk_sts::Client,
    pub bedrock: aws_sdk_bedrock::Client,
    pub runtime: aws_sdk_bedrockruntime::Client,
}

impl RegionClients {
    /// Builds the three clients from the source's configuration, for `region`.
    pub fn new(sdk: &SdkConfig, region: &str) -> RegionClients {
        let base = client_config(sdk, region);
        RegionClients {
            sts: aws_sdk_sts::Client::from_conf(
                aws_sdk_sts::config::Builder::from(&base)
                    .interceptor(CountCalls)
                    .build(),
            ),
            bedrock: aws_sdk_bedrock::Client::from_conf(
                aws_sdk_bedrock::config::Builder::from(&base)
                    .interceptor(CountCalls)
                    .build(),
            ),
            runtime: aws_sdk_bedrockruntime::Client::from_conf(
                aws_sdk_bedrockruntime::config::Builder::from(&base)
                    .interceptor(CountCalls)
                    .build(),
            ),
        }
    }
}

/// The clients of one source, per region, each built on the first probe that needs it. The
/// regions are those of the configured tuples, so the map stays as small as the configuration.
#[derive(Debug)]
pub struct SourceClients {
    sdk: SdkConfig,
    regions: Mutex<HashMap<String, Arc<RegionClients>>>,
}

impl SourceClients {
    pub fn new(sdk: &SdkConfig) -> SourceClients {
        SourceClients {
            sdk: sdk.clone(),
            regions: Mutex::new(HashMap::new()),
        }
    }

    /// The clients for `region` (built now if this is the first call for it).
    pub fn region(&self, region: &str) -> Arc<RegionClients> {
        let mut regions = match self.regions.lock() {
            Ok(r) => r,
            Err(poisoned) => poisoned.into_inner(),
        };
        regions
            .entry(region.to_string())
            .or_insert_with(|| Arc::new(RegionClients::new(&self.sdk, region)))
            .clone()
    }
}

/// The base configuration of a service client: the source's endpoint settings and the
/// process's HTTP client, `region`, the probe's retry policy; no credentials (each operation
/// brings its own).
fn client_config(sdk: &SdkConfig, region: &str) -> SdkConfig {
    let mut builder = with_process_http_client(sdk.clone(), None).to_builder();
    builder.set_credentials_provider(None);
    builder
        .region(Region::new(region.to_string()))
        .retry_config(retry_config())
        .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
        .build()
}

/// The per-operation settings of an STS call: `creds` and what is left of the budget.
pub fn sts_call(creds: Credentials, remaining: Duration) -> aws_sdk_sts::config::Builder {
    aws_sdk_sts::config::Builder::default()
        .credentials_provider(creds)
        .identity_cache(IdentityCache::no_cache())
        .timeout_config(timeout_config(remaining))
}

/// The per-operation settings of a Bedrock control-plane call: its credentials (SigV4, or an
/// API key as bearer token: [`Auth`]) and what is left of the budget.
pub fn bedrock_call(
    creds: impl Into<Auth>,
    remaining: Duration,
) -> aws_sdk_bedrock::config::Builder {
    let builder = aws_sdk_bedrock::config::Builder::default();
    with_auth!(builder, creds.into())
        .identity_cache(IdentityCache::no_cache())
        .timeout_config(timeout_config(remaining))
}

/// The per-operation settings of a Bedrock runtime call.
pub fn runtime_call(
    creds: impl Into<Auth>,
    remaining: Duration,
) -> aws_sdk_bedrockruntime::config::Builder {
    let builder = aws_sdk_bedrockruntime::config::Builder::default();
    with_auth!(builder, creds.into())
        .identity_cache(IdentityCache::no_cache())
        .timeout_config(timeout_config(remaining))
}
