//! The probe pipeline: one file per layer behind one signature; `pipeline` runs them in order
//! with gating (`docs/layers.md` of the contract).
//!
//! Every layer is `async fn run(ctx: &LayerContext<'_>, …) -> LayerOutput<T>`: it makes its AWS
//! calls with the real SDK and returns the one-line call description and either its product
//! (source identity, assumed credentials, availability, token usage) or a classified
//! [`Failure`]. [`pipeline`] times each layer, bounds it by what is left of
//! `settings.timeout`, gates, and assembles the [`ProbeReport`].
//!
//! Decisions:
//! * Source identity is cached per (source, region) per [`Round`]; the gate (credentials +
//!   assume_role) per (target, region) per round. Tuples sharing a cached gate report the same
//!   layer results, with the duration of the one real call.
//! * `model_access`, `invoke` and (when enabled) `invoke_stream` run concurrently once
//!   credentials exist; the two paid layers run together, at most once per `invoke_interval`.
//! * After `model_access`, the model's lifecycle is read at most once per hour per (region,
//!   model) ([`lifecycle`]); it never fails a layer.
//! * Temporary source credentials are reused across rounds until 5 minutes before expiry
//!   ([`aws::ReuseUntilExpiry`]); AssumeRole is never reused across rounds.
//! * SDK retries: standard mode, 3 attempts, 200 ms initial backoff (throttling and 5xx are
//!   retried); every call gets `operation_timeout` = what is left of the budget.
//! * The SDK service clients are built once per (source, region) ([`clients`]) and every call
//!   brings its credentials per operation; all of them, and the credential chain, share the
//!   process's one HTTP client ([`transport`]): pooled keep-alive connections, TLS session
//!   resumption, proxies and CA bundles. Every request is counted ([`calls`]).
//! * A source with a Bedrock API key ([`api_key`]) has no `credentials` or `assume_role`
//!   layer: its gate reads the key, and the Bedrock layers send it as a bearer token
//!   ([`auth::Auth`]).

pub mod api_key;
pub mod assume_role;
pub mod auth;
pub mod aws;
mod bearer_key;
pub mod ca_bundle;
pub mod calls;
pub mod clients;
pub mod credentials;
pub mod invoke;
pub mod invoke_stream;
pub mod lifecycle;
pub mod model_access;
pub mod organizations;
pub mod pacing;
pub mod pipeline;
pub mod stream_error;
pub mod transport;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::config::{Config, Source, Target, TupleKey};
use crate::reason::{Layer, Reason};

/// Why a layer failed: a classified reason plus the evidence behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub reason: Reason,
    /// The raw AWS error code, if AWS answered with one (sanitised into a label by `metrics`).
    pub error_code: Option<String>,
    pub http_status: Option<u16>,
    pub request_id: Option<String>,
    /// The AWS message (or local error text), with secrets redacted. Never a label value.
    pub message: String,
}

/// The outcome of one layer.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerStatus {
    Passed,
    Failed(Failure),
}

/// One attempted layer of one probe.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerResult {
    pub layer: Layer,
    pub status: LayerStatus,
    pub duration: Duration,
    /// One line describing the call made (operation and resource), for debug traces. No secrets.
    pub call: String,
}

/// Statuses reported by GetFoundationModelAvailability (as AWS spelled them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Availability {
    pub agreement: String,
    pub authorization: String,
    pub entitlement: String,
    pub region: String,
}

/// The result of one probe of one tuple.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeReport {
    pub key: TupleKey,
    /// Target account id label (from the role ARN, else the source account).
    pub account_id: String,
    /// Role name label ("" for a same-account target).
    pub role_name: String,
    /// The attempted, enabled layers in order. Layers after a failed gate, or turned off, are
    /// absent. When `invoke_ran` is false the paid layers (`invoke`, `invoke_stream`) are
    /// absent and their last results stand.
    pub layers: Vec<LayerResult>,
    pub availability: Option<Availability>,
    /// (input, output) tokens consumed by this probe's invocations (streamed ones included).
    pub tokens: Option<(u64, u64)>,
    /// Whether this probe ran the paid layers (see `invoke_interval`).
    pub invoke_ran: bool,
    pub finished_at: SystemTime,
    /// The model's lifecycle (GetFoundationModel, cached per region and model), when known.
    pub lifecycle: Option<lifecycle::ModelLifecycle>,
}

/// Everything a layer needs: one signature for the five layers.
pub struct LayerContext<'a> {
    pub source: &'a Source,
    pub target: &'a Target,
    pub region: &'a str,
    pub model: &'a str,
    /// The source's SDK configuration (endpoints, credential chain, http client).
    pub sdk: &'a SdkConfig,
    /// The source's service clients for `region` (credentials are given per operation).
    pub clients: &'a clients::RegionClients,
    /// The layer must finish by then; calls get what is left.
    pub deadline: Instant,
}

impl LayerContext<'_> {
    /// What is left of the budget.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// Strings that must never appear in messages or logs.
    pub fn secrets(&self) -> Vec<&str> {
        self.target.secrets()
    }
}

/// What a layer returns: the call it made, and its outcome.
#[derive(Debug, Clone)]
pub struct LayerOutput<T> {
    pub call: String,
    pub result: Result<T, Failure>,
    /// Set by `model_access` only: the statuses it read, whatever the outcome.
    pub availability: Option<Availability>,
}

impl<T> LayerOutput<T> {
    pub fn new(call: String, result: Result<T, Failure>) -> Self {
        LayerOutput {
            call,
            result,
            availability: None,
        }
    }
}

/// The credentials layer's outcome for one source and region, shared by a round.
#[derive(Debug, Clone)]
pub(crate) struct IdentityOutcome {
    pub layer: LayerResult,
    pub identity: Option<credentials::SourceIdentity>,
}

/// The gate layers' outcome (credentials, assume_role) for one target and region, shared by
/// a round: the layers' results, the credentials the Bedrock layers use (assumed, the source's
/// for a same-account target, or the source's API key) and the account id label.
#[derive(Debug, Clone)]
pub(crate) struct GateOutcome {
    pub layers: Vec<LayerResult>,
    pub credentials: Option<auth::Auth>,
    pub account_id: String,
    /// Why the source's API key could not be read (its Bedrock layers fail with it).
    pub key_failure: Option<Failure>,
}

type Cells<K, T> = Mutex<HashMap<K, Arc<OnceCell<T>>>>;

/// Credentials shared by the tuples of one probe round: one AssumeRole per target per region per
/// round. A new round assumes afresh.
///
/// * Source identity (credential resolution + GetCallerIdentity) is cached per
///   (source, region): GetCallerIdentity goes to the regional STS endpoint, whose answer (e.g.
///   `region_disabled`) can differ per region.
/// * The gate (credentials + assume_role) is cached per (target, account, region): a
///   many-account target has one gate per account. Every tuple sharing a
///   cached gate reports the same gate layer results, including the failure and the duration
///   of the one real call (the duration of the call that produced the answer, not 0: the
///   `layer_duration_seconds` of those tuples shows how long that answer took).
/// * Tuples of a round may run concurrently: the first one runs the calls, the others wait for
///   its answer (`tokio::sync::OnceCell`).
#[derive(Debug, Default)]
pub struct Round {
    identities: Cells<(String, String), IdentityOutcome>,
    gates: Cells<(String, String, String), GateOutcome>,
}

impl Round {
    fn cell<K: std::hash::Hash + Eq, T>(cells: &Cells<K, T>, key: K) -> Arc<OnceCell<T>> {
        let mut map = match cells.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(key).or_default().clone()
    }

    pub(crate) fn identity_cell(
        &self,
        source: &str,
        region: &str,
    ) -> Arc<OnceCell<IdentityOutcome>> {
        Self::cell(&self.identities, (source.to_string(), region.to_string()))
    }

    /// The gate of `target` (one account of it) in `region`.
    pub(crate) fn gate_cell(&self, target: &Target, region: &str) -> Arc<OnceCell<GateOutcome>> {
        let key = (
            target.name.clone(),
            target.tuple_account().to_string(),
            region.to_string(),
        );
        Self::cell(&self.gates, key)
    }

    /// How many gates (target × account × region) this round holds.
    pub fn gates(&self) -> usize {
        self.gates.lock().map_or(0, |g| g.len())
    }
}

/// A source as the prober uses it: its definition, loaded SDK configuration and service
/// clients.
#[derive(Debug)]
pub(crate) struct SourceEntry {
    pub source: Source,
    pub sdk: SdkConfig,
    pub clients: clients::SourceClients,
}

impl SourceEntry {
    fn new(source: Source, sdk: SdkConfig, max_per_host: Option<usize>) -> SourceEntry {
        let sdk = aws::with_reused_credentials(aws::with_process_http_client(sdk, max_per_host));
        let clients = clients::SourceClients::new(&sdk);
        SourceEntry {
            source,
            sdk,
            clients,
        }
    }
}

/// Runs probes with the real AWS SDK. Built from a configuration (rebuilt at reload; the HTTP
/// client and its warm connections are the process's and stay).
pub struct Prober {
    /// Per source name: its definition, loaded SDK configuration and clients.
    sources: HashMap<String, SourceEntry>,
    /// The process's per-account pacing, when the daemon set one.
    pacer: Option<Arc<pacing::Pacer>>,
    /// Model lifecycles read so far (kept across reloads by the daemon).
    lifecycles: Arc<lifecycle::LifecycleCache>,
}

impl Prober {
    /// Loads the SDK configuration of every source of `config` (default chain or profile;
    /// endpoint overrides are the SDK's own). A target's source missing from `config.sources`
    /// (the implicit "default") is loaded from the default chain.
    pub async fn new(config: &Config) -> Prober {
        let mut sources = HashMap::new();
        let limit = connection_limit(config);
        api_key::retain(&api_key_sources(config));
        for source in all_sources(config) {
            let sdk = aws::load_source_config(&source, limit).await;
            sources.insert(source.name.clone(), SourceEntry::new(source, sdk, limit));
        }
        Prober {
            sources,
            pacer: None,
            lifecycles: Arc::default(),
        }
    }

    /// This prober pacing its calls with `pacer` (shared by every prober of the process).
    pub fn with_pacer(mut self, pacer: Arc<pacing::Pacer>) -> Prober {
        self.pacer = Some(pacer);
        self
    }

    /// The source definition and SDK configuration of `name`.
    pub fn source_config(&self, name: &str) -> Option<(&Source, &SdkConfig)> {
        self.sources.get(name).map(|e| (&e.source, &e.sdk))
    }

    /// A prober with explicit SDK configurations per source name (tests, embedding): no
    /// profile is read; a configuration without an HTTP client gets the process's (system
    /// roots, proxies from the environment). A source without an entry fails `credentials`
    /// with `no_credentials`.
    pub fn with_sdk_config(config: &Config, sdk: HashMap<String, SdkConfig>) -> Prober {
        let mut sdk = sdk;
        let mut sources = HashMap::new();
        let limit = connection_limit(config);
        for source in all_sources(config) {
            if let Some(conf) = sdk.remove(&source.name) {
                sources.insert(source.name.clone(), SourceEntry::new(source, conf, limit));
            }
        }
        Prober {
            sources,
            pacer: None,
            lifecycles: Arc::default(),
        }
    }

    /// This prober with `cache` for model lifecycles: the daemon hands each reload's prober the
    /// same one, so a reload does not read every lifecycle again.
    pub fn with_lifecycle_cache(mut self, cache: Arc<lifecycle::LifecycleCache>) -> Prober {
        self.lifecycles = cache;
        self
    }

    /// A fresh round: credentials assumed in the previous round are not reused.
    pub fn new_round(&self) -> Round {
        Round::default()
    }

    /// Probes one tuple through the layers, within `target.settings.timeout`. With
    /// `run_invoke == false` the paid layers (`invoke`, `invoke_stream`) are skipped (their
    /// last results stand).
    pub async fn probe(
        &self,
        target: &Target,
        region: &str,
        model: &str,
        round: &Round,
        run_invoke: bool,
    ) -> ProbeReport {
        let source = self.sources.get(&target.source);
        let pacer = self.pacer.as_deref();
        let lifecycles = &self.lifecycles;
        pipeline::probe(
            source, pacer, target, region, model, round, run_invoke, lifecycles,
        )
        .await
    }
}

/// Connections per endpoint the process's HTTP client may open: as many as probes run at once
/// (`probe.concurrency`).
fn connection_limit(config: &Config) -> Option<usize> {
    Some(config.defaults.concurrency.max(1))
}

/// The configured sources, plus a default-chain source for any target naming an undefined one.
fn all_sources(config: &Config) -> Vec<Source> {
    let mut out: Vec<Source> = config.sources.clone();
    for t in &config.targets {
        if !out.iter().any(|s| s.name == t.source) {
            out.push(Source {
                name: t.source.clone(),
                profile: None,
                expected_account: None,
                api_key: None,
            });
        }
    }
    out
}

/// The names of the sources with a Bedrock API key.
fn api_key_sources(config: &Config) -> Vec<&str> {
    config
        .sources
        .iter()
        .filter(|s| s.api_key.is_some())
        .map(|s| s.name.as_str())
        .collect()
}

/// What a probe used, for `diagnose`'s deeper evidence: the source's SDK configuration (so the
/// evidence calls use the same endpoints), the source identity proven by `credentials`, and the
/// credentials the Bedrock layers used (assumed, or the source's own for a same-account target;
/// none for an API key, which IAM evidence calls cannot use). Never logged or printed: it holds
/// credentials.
#[derive(Clone)]
pub struct ProbeAccess {
    pub sdk: SdkConfig,
    pub source: Option<credentials::SourceIdentity>,
    pub target_credentials: Option<aws_credential_types::Credentials>,
}

impl std::fmt::Debug for ProbeAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProbeAccess")
            .field("source_arn", &self.source.as_ref().map(|s| s.arn.as_str()))
            .field("target_credentials", &self.target_credentials.is_some())
            .finish()
    }
}

impl Prober {
    /// [`Prober::probe`] (with the paid layers), plus what the probe used (see
    /// [`ProbeAccess`]); `None` when the target's source has no SDK configuration.
    pub async fn probe_with_access(
        &self,
        target: &Target,
        region: &str,
        model: &str,
        round: &Round,
    ) -> (ProbeReport, Option<ProbeAccess>) {
        let report = self.probe(target, region, model, round, true).await;
        let Some(entry) = self.sources.get(&target.source) else {
            return (report, None);
        };
        let identity = round
            .identity_cell(&entry.source.name, region)
            .get()
            .and_then(|o| o.identity.clone());
        let creds = round
            .gate_cell(target, region)
            .get()
            .and_then(|g| g.credentials.as_ref()?.credentials().cloned());
        let access = ProbeAccess {
            sdk: entry.sdk.clone(),
            source: identity,
            target_credentials: creds,
        };
        (report, Some(access))
    }
}
