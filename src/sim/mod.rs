//! The bundled AWS simulator: STS, Bedrock, Bedrock runtime (and IAM) on one loopback listener,
//! authorizing every request from a scenario file. The exporter's modules never import it.
//!
//! The real AWS SDK for Rust (and the CLI, boto3) talk to it unchanged through an endpoint
//! override (`http://127.0.0.1:PORT` for every service). Every answer follows from the scenario:
//! SigV4 is verified with the secret of the access key in the credential scope; identity
//! policies, role trust policies and SCPs are evaluated; model access comes from the catalogue
//! and the grants. The scenario format is documented in `config/demo/README.md`.
//!
//! Module map, each layer using only those before it:
//! - model: [`policy`] (IAM policy evaluator), [`faults`] (fault definitions and matching),
//!   [`scenario`] (TOML model, validation, one file per section), [`sigv4`] (verification),
//!   [`wire`] (AWS's answer and error shapes);
//! - callers: [`auth`] (principals and issued sessions), `state` (what every request shares:
//!   scenario, sessions, subscriptions), `ctx` (the authenticated call);
//! - authentication: `authenticate` (SigV4 header and scope, date and skew, key → principal,
//!   signature);
//! - handlers: `sts`, `iam`, `bedrock` (control plane), `runtime` (Converse, InvokeModel) and
//!   `stream` (ConverseStream, InvokeModelWithResponseStream in event-stream framing, on
//!   `runtime`'s checks), with `bedrock_rules` (authorization and model access the Bedrock
//!   handlers share) and `reply` (what the simulated models answer); the unsigned ones,
//!   `web_identity` (AssumeRoleWithWebIdentity) and `pod_identity` (the EKS Pod Identity
//!   Agent's `GET /v1/credentials`), with [`oidc`] (service account tokens: RS256 keys,
//!   reading and verifying) in the model and [`tokens`] (minting them from the scenario, for
//!   tests and rehearsals);
//! - `routing` (which handler serves a request), `anonymous` (the unsigned calls, answered
//!   before authentication), `inject` (what a firing fault answers);
//! - `server`: the request pipeline (the simulator's own paths, `own_paths` → read body →
//!   unsigned calls → authenticate → route → faults → dispatch) and the accept loop, plain or
//!   over TLS ([`tls`]: a CA made up at start, or the operator's certificate), counting
//!   connections, handshakes and requests (`counters`, served on `GET /_sim/metrics`).

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod anonymous;
pub mod api_keys;
pub mod auth;
mod authenticate;
mod bearer;
mod bedrock;
mod bedrock_rules;
mod counters;
pub mod counts;
mod ctx;
pub mod faults;
mod iam;
mod inject;
pub mod oidc;
mod organizations;
mod own_paths;
mod pod_identity;
pub mod policy;
mod reply;
mod routing;
mod runtime;
pub mod scenario;
mod server;
pub mod sigv4;
mod state;
mod stream;
mod sts;
mod tier;
pub mod tls;
pub mod tokens;
mod web_identity;
pub mod wire;

pub use scenario::{Scenario, ScenarioError};
use state::SimState;
pub use tls::{SimTls, TlsError};

use crate::shutdown::Signals;

/// The bundled demo scenario (see `config/demo/README.md`).
pub const DEMO_SCENARIO: &str = include_str!("../../config/demo/scenario.toml");
/// The demo's exporter configuration (targets named after the failure stories).
pub const DEMO_EXPORTER_CONFIG: &str = include_str!("../../config/demo/exporter.toml");
/// The demo's AWS shared config file: one `[profile …]` per source, with keys that exist only
/// in [`DEMO_SCENARIO`].
pub const DEMO_AWS_CONFIG: &str = include_str!("../../config/demo/aws-config");
/// The demo's Bedrock API key files (file name, long-term key of a user of [`DEMO_SCENARIO`]),
/// which `demo` writes beside its copy of [`DEMO_EXPORTER_CONFIG`] (`api_key_file`).
pub const DEMO_API_KEY_FILES: [(&str, &str); 3] = [
    (
        "api-key-healthy.key",
        include_str!("../../config/demo/api-key-healthy.key"),
    ),
    (
        "api-key-expired.key",
        include_str!("../../config/demo/api-key-expired.key"),
    ),
    (
        "api-key-lab.key",
        include_str!("../../config/demo/api-key-lab.key"),
    ),
];

/// Errors of the simulator's public API.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("cannot read scenario {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("simulator server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("cannot write the CA certificate to {path}: {source}")]
    WriteCa {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A loaded scenario plus the runtime state (issued sessions, Marketplace subscriptions).
/// Cheap to clone: everything is behind one `Arc`.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<SimState>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("scenario", &self.scenario().origin)
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Loads a scenario file.
    pub fn from_file(path: &Path) -> Result<Simulator, SimError> {
        let text = read(path)?;
        Simulator::from_toml(&text, &path.display().to_string())
    }

    /// Loads a scenario from TOML text; `origin` names it in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Simulator, SimError> {
        let scenario = Scenario::parse(text, origin)?;
        Ok(Simulator {
            inner: Arc::new(SimState::new(scenario)),
        })
    }

    /// Swaps in the scenario from `path`, keeping issued sessions. A bad file changes nothing.
    pub fn reload(&self, path: &Path) -> Result<(), SimError> {
        let text = read(path)?;
        let scenario = Scenario::parse(&text, &path.display().to_string())?;
        self.inner.replace_scenario(scenario);
        Ok(())
    }

    /// All services on one router (usable in-process, e.g. with `tower::ServiceExt::oneshot`).
    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .fallback(server::handle)
            .with_state(Arc::clone(&self.inner))
    }

    /// Marks every issued session as expired, so the next call with it gets `ExpiredToken`.
    pub fn expire_sessions(&self) {
        self.inner.sessions.expire_all();
    }

    /// What the simulator saw so far, as JSON (see [`counts::Counts::to_json`]).
    pub fn counts(&self) -> serde_json::Value {
        self.inner.counts.to_json()
    }

    /// The current scenario.
    pub fn scenario(&self) -> Arc<Scenario> {
        self.inner.scenario()
    }

    /// The simulator's counters (connections, TLS handshakes, requests per operation and
    /// account) in the Prometheus text format, as `GET /_sim/metrics` serves them.
    pub fn render_metrics(&self) -> String {
        self.inner.counters.render()
    }
}

fn read(path: &Path) -> Result<String, SimError> {
    std::fs::read_to_string(path).map_err(|source| SimError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Serves `sim` on `listener` until `shutdown` resolves; then stops accepting, lets requests in
/// flight finish for up to two seconds, and drops the rest (hung requests included).
pub async fn serve(
    sim: Simulator,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    serve_with(sim, listener, None, shutdown).await
}

/// [`serve`], over HTTPS when `tls` is given. One simulator may serve several listeners (one
/// per service, as AWS has a host per service); they share its state and counters.
pub async fn serve_with(
    sim: Simulator,
    listener: tokio::net::TcpListener,
    tls: Option<SimTls>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    let acceptor = tls.map(|t| t.acceptor().clone());
    server::serve(
        Arc::clone(&sim.inner),
        sim.router(),
        listener,
        acceptor,
        shutdown,
    )
    .await;
    Ok(())
}

/// How `simulate` serves.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    pub scenario: PathBuf,
    /// One listener per address (at least one).
    pub listen: Vec<SocketAddr>,
    /// HTTPS on every listener.
    pub tls: Option<TlsOptions>,
    /// Where to write what the simulator saw ([`Simulator::counts`]) when it stops.
    pub counts_file: Option<PathBuf>,
}

/// Where the simulator's certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsOptions {
    /// A CA made up at start ([`SimTls::generate`]); its certificate is written to `ca_file`
    /// (else to a file in the temporary directory, removed at exit).
    Generate {
        ca_file: Option<PathBuf>,
        hostnames: Vec<String>,
    },
    /// The operator's certificate chain and key (PEM).
    Files { cert: PathBuf, key: PathBuf },
}

/// The simulator's certificate as `options` say, and the file its made-up CA was written to
/// (with whether to remove it at exit).
fn load_tls(options: &TlsOptions) -> Result<(SimTls, Option<(PathBuf, bool)>), SimError> {
    let (ca_file, hostnames) = match options {
        TlsOptions::Files { cert, key } => return Ok((SimTls::from_files(cert, key)?, None)),
        TlsOptions::Generate { ca_file, hostnames } => (ca_file, hostnames),
    };
    let tls = SimTls::generate(hostnames)?;
    let (path, temporary) = match ca_file {
        Some(p) => (p.clone(), false),
        None => (
            std::env::temp_dir()
                .join(format!(
                    "bedrock-access-exporter-simulator-{}",
                    std::process::id()
                ))
                .join("ca.pem"),
            true,
        ),
    };
    let write_err = |source| SimError::WriteCa {
        path: path.clone(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(write_err)?;
    }
    std::fs::write(&path, tls.ca_pem().unwrap_or_default()).map_err(write_err)?;
    Ok((tls, Some((path, temporary))))
}

/// The `simulate` subcommand: load, bind every listener, print where it listens (and the CA
/// to trust), reload on SIGHUP, stop on SIGTERM/SIGINT.
pub async fn run(options: &SimulateOptions) -> Result<(), SimError> {
    let sim = Simulator::from_file(&options.scenario)?;
    let (tls, ca_file) = match &options.tls {
        Some(t) => {
            let (tls, ca_file) = load_tls(t)?;
            (Some(tls), ca_file)
        }
        None => (None, None),
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut listeners = Vec::new();
    for &listen in &options.listen {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| SimError::Bind {
                addr: listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(SimError::Serve)?;
        tracing::info!(address = %addr, scenario = %options.scenario.display(), "AWS simulator listening; point AWS_ENDPOINT_URL at {scheme}://{addr}");
        println!("AWS simulator listening on {scheme}://{addr}");
        listeners.push(listener);
    }
    if let Some((path, _)) = &ca_file {
        tracing::info!(ca_file = %path.display(), "the simulator's certificate is signed by a CA made up at start; trust it with AWS_CA_BUNDLE");
        println!("CA certificate: {} (AWS_CA_BUNDLE)", path.display());
    }

    let mut signals = Signals::install().map_err(SimError::Serve)?;
    let path = options.scenario.clone();
    let reload_sim = sim.clone();
    let reload = move || {
        match reload_sim.reload(&path) {
            Ok(()) => tracing::info!(scenario = %path.display(), "scenario reloaded"),
            Err(e) => {
                tracing::error!(error = %e, "scenario reload failed; keeping the running scenario")
            }
        }
        std::future::ready(())
    };
    let stop = tokio_util::sync::CancellationToken::new();
    let stopping = stop.clone();
    let shutdown = async move {
        signals.until_stop(reload).await;
        tracing::info!("AWS simulator stopping");
        stopping.cancel();
    };
    let counted = sim.clone();
    let serving = futures::future::join_all(listeners.into_iter().map(|listener| {
        serve_with(
            sim.clone(),
            listener,
            tls.clone(),
            stop.clone().cancelled_owned(),
        )
    }));
    let (_, served) = tokio::join!(shutdown, serving);
    if let Some((path, true)) = &ca_file {
        let _ = std::fs::remove_file(path);
        if let Some(dir) = path.parent() {
            let _ = std::fs::remove_dir(dir);
        }
    }
    if let Some(path) = &options.counts_file
        && let Err(e) = std::fs::write(path, counted.counts().to_string())
    {
        tracing::error!(error = %e, path = %path.display(), "cannot write the simulator's counts");
    }
    served.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_scenario_loads() {
        if let Err(e) = Simulator::from_toml(DEMO_SCENARIO, "demo") {
            panic!("{e}");
        }
    }
}
