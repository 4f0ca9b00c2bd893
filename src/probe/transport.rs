//! The one HTTP client of the process: every SDK client and the credential chain send their
//! requests through it, so connections to an endpoint are pooled and kept alive across calls,
//! probes, rounds and reloads, and TLS sessions are resumed when a new connection is needed.
//!
//! It is the SDK's own connection pool (`aws_smithy_http_client::pool`: hyper 1.x, rustls with
//! aws-lc), built once with:
//! * **proxies** from `HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` (upper case first),
//!   exactly as the SDK's default client reads them;
//! * **trust roots**: the system's plus a CA bundle's ([`super::ca_bundle`]);
//! * **one connect timeout** ([`CONNECT_TIMEOUT`]) for the whole process;
//! * **at most `probe.concurrency` connections per endpoint** (scheme, host, port): a probe
//!   holds one connection per endpoint at a time, so more would only be opened by races
//!   between a returning connection and a new one.
//!
//! Why not the SDK's default client: it keeps one connection pool per distinct
//! (connect timeout, read timeout) pair it is asked for, and the probes used to ask for a
//! different connect timeout on every call (what was left of the budget), so every call opened
//! a new pool, a new connection and a new TLS handshake. [`ProcessHttpClient`] gives every
//! call the same pool and the same connect timeout whatever the call's configuration says;
//! each call's budget is its operation timeout, which the SDK applies above the connector.
//!
//! Clients are kept process-wide, one per distinct (extra certificates, connection limit)
//! (normally exactly one), so a reload keeps the warm connections.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, TlsContext, TrustStore};
use aws_smithy_http_client::{Connector, pool};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::config_bag::ConfigBag;

use super::ca_bundle::{CaBundle, ca_bundle_setting};

/// Connect timeout of every connection the process opens (TCP, plus a proxy's CONNECT and the
/// TLS handshake): a black-holed endpoint must not eat a whole probe budget.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Distinct clients kept; beyond that the cache starts over (clients in use keep working).
const MAX_CLIENTS: usize = 8;

/// The process's HTTP client for a source using `profile`: with the extra trust roots of its
/// CA bundle setting (see [`ca_bundle_setting`]) and at most `max_per_host` connections per
/// endpoint. A bundle that cannot be used is logged and
/// the system roots alone apply (TLS to an endpoint it should vouch for then fails, and the
/// probes say `network_error`).
pub async fn client_for_profile(
    profile: Option<&str>,
    max_per_host: Option<usize>,
) -> SharedHttpClient {
    let Some(setting) = ca_bundle_setting(profile).await else {
        return shared_client(None, max_per_host);
    };
    match CaBundle::read(setting.path()) {
        Ok(bundle) => {
            let what = "trusting the CA bundle's certificates in addition to the system roots";
            let (n, skipped) = (bundle.len(), bundle.skipped);
            // At info once, when the process builds the client for this bundle; every other
            // source that uses it, and every reload, gets the same client and a debug line.
            let (client, built) = cached_client(Some(&bundle), max_per_host);
            if built {
                tracing::info!(ca_bundle = %setting, certificates = n, skipped, "{what}");
            } else {
                tracing::debug!(ca_bundle = %setting, certificates = n, skipped, "{what}");
            }
            client
        }
        Err(err) => {
            tracing::error!(ca_bundle = %setting, error = %err, "CA bundle not used; only the system roots are trusted");
            shared_client(None, max_per_host)
        }
    }
}

/// A process-wide client: its trust set (the extra certificates) and connection limit.
type ClientKey = (Vec<String>, Option<usize>);

static CLIENTS: LazyLock<Mutex<HashMap<ClientKey, SharedHttpClient>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The process-wide client trusting the system roots plus `extra`, opening at most
/// `max_per_host` connections to one endpoint (scheme, host, port) when set; built on first
/// use.
pub fn shared_client(extra: Option<&CaBundle>, max_per_host: Option<usize>) -> SharedHttpClient {
    cached_client(extra, max_per_host).0
}

/// [`shared_client`], and whether it was built by this call.
fn cached_client(
    extra: Option<&CaBundle>,
    max_per_host: Option<usize>,
) -> (SharedHttpClient, bool) {
    let key: ClientKey = (
        extra.map(|b| b.pem.clone()).unwrap_or_default(),
        max_per_host.map(|n| n.max(1)),
    );
    let mut clients = match CLIENTS.lock() {
        Ok(c) => c,
        Err(poisoned) => poisoned.into_inner(),
    };
    if let Some(client) = clients.get(&key) {
        return (client.clone(), false);
    }
    if clients.len() >= MAX_CLIENTS {
        clients.clear();
    }
    let client = SharedHttpClient::new(ProcessHttpClient::new(&key.0, key.1));
    clients.insert(key, client.clone());
    (client, true)
}

/// The process's [`HttpClient`]: the SDK's connection pool (`aws_smithy_http_client::pool`),
/// whose connections are shared by every call whatever timeouts the call's configuration
/// carries; each connection is established within [`CONNECT_TIMEOUT`].
#[derive(Debug)]
pub struct ProcessHttpClient {
    transport: Transport,
    settings: HttpConnectorSettings,
}

#[derive(Debug)]
enum Transport {
    Pool(pool::Client),
    /// One hyper connector (one pool), if the SDK's pool cannot be built.
    Connector(SharedHttpConnector),
}

impl ProcessHttpClient {
    /// System roots plus the `extra_pem` certificates (each already checked by
    /// [`CaBundle::parse`]), proxies from the environment.
    fn new(extra_pem: &[String], max_per_host: Option<usize>) -> ProcessHttpClient {
        let mut trust = TrustStore::default();
        for pem in extra_pem {
            trust.add_pem_certificate(pem.as_bytes());
        }
        let tls_context = TlsContext::builder()
            .with_trust_store(trust)
            .build()
            .unwrap_or_default();
        let settings = HttpConnectorSettings::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .build();
        let mut builder = pool::ConnectionPool::builder()
            .proxy_config(ProxyConfig::from_env())
            .partitions([pool::Partition::new(PARTITION, current_runtime_spawner())]);
        builder.set_max_connections_per_host(max_per_host);
        let pooled = builder
            .tls_provider(rustls_provider())
            .tls_context(tls_context.clone())
            .build_https()
            .map_err(|e| e.to_string())
            .and_then(|p| pool::Client::from_partition(&p, PARTITION).map_err(|e| e.to_string()));
        let transport = match pooled {
            Ok(client) => Transport::Pool(client),
            Err(error) => {
                tracing::error!(%error, "the SDK's connection pool could not be built; using one hyper connector without a connection limit");
                let connector: Connector = Connector::builder()
                    .connector_settings(settings.clone())
                    .proxy_config(ProxyConfig::from_env())
                    .tls_provider(rustls_provider())
                    .tls_context(tls_context)
                    .build();
                Transport::Connector(SharedHttpConnector::new(connector))
            }
        };
        ProcessHttpClient {
            transport,
            settings,
        }
    }
}

/// The pool's one partition.
const PARTITION: pool::PartitionId = pool::PartitionId::from_index(0);

/// Connection tasks (protocol drivers, establishment, idle upkeep) run on the tokio runtime of
/// the call that needs them. The daemon has one runtime; a process with several (the tests)
/// keeps working when one of them ends: the connections it drove close, and the pool retires
/// them and opens new ones where they are needed. (The pool's default placement binds every
/// connection for good to the first runtime that used it.)
fn current_runtime_spawner() -> pool::DriverSpawner {
    pool::DriverSpawner::from_fn(|task| match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(task);
        }
        Err(_) => tracing::debug!("no tokio runtime to run a connection task; dropped"),
    })
}

fn rustls_provider() -> tls::Provider {
    tls::Provider::Rustls(tls::rustls_provider::CryptoMode::AwsLc)
}

impl HttpClient for ProcessHttpClient {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        match &self.transport {
            Transport::Pool(client) => client.http_connector(&self.settings, components),
            Transport::Connector(connector) => connector.clone(),
        }
    }

    fn validate_base_client_config(
        &self,
        components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        match &self.transport {
            Transport::Pool(client) => client.validate_base_client_config(components, cfg),
            Transport::Connector(_) => Ok(()),
        }
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        Some(ConnectorMetadata::new(
            "hyper",
            Some(std::borrow::Cow::Borrowed("1.x")),
        ))
    }
}
