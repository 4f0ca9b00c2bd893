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
//! - `server`: the request pipeline (read body → unsigned calls → authenticate → route →
//!   faults → dispatch) and the accept loop.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

mod anonymous;
pub mod auth;
mod authenticate;
mod bedrock;
mod bedrock_rules;
pub mod counts;
mod ctx;
pub mod faults;
mod iam;
mod inject;
pub mod oidc;
mod organizations;
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
pub mod tokens;
mod web_identity;
pub mod wire;

pub use scenario::{Scenario, ScenarioError};
use state::SimState;

use crate::shutdown::Signals;

/// The bundled demo scenario (see `config/demo/README.md`).
pub const DEMO_SCENARIO: &str = include_str!("../../config/demo/scenario.toml");
/// The demo's exporter configuration (targets named after the failure stories).
pub const DEMO_EXPORTER_CONFIG: &str = include_str!("../../config/demo/exporter.toml");
/// The demo's AWS shared config file: one `[profile …]` per source, with keys that exist only
/// in [`DEMO_SCENARIO`].
pub const DEMO_AWS_CONFIG: &str = include_str!("../../config/demo/aws-config");

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
    server::serve(sim.router(), listener, shutdown).await;
    Ok(())
}

/// The `simulate` subcommand: load, bind, log the address, reload on SIGHUP, stop on
/// SIGTERM/SIGINT.
pub async fn run(scenario: &Path, listen: SocketAddr) -> Result<(), SimError> {
    run_counting(scenario, listen, None).await
}

/// [`run`], writing what the simulator saw ([`Simulator::counts`]) to `counts_file` when it
/// stops.
pub async fn run_counting(
    scenario: &Path,
    listen: SocketAddr,
    counts_file: Option<&Path>,
) -> Result<(), SimError> {
    let sim = Simulator::from_file(scenario)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SimError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(SimError::Serve)?;
    tracing::info!(address = %addr, scenario = %scenario.display(), "AWS simulator listening; point AWS_ENDPOINT_URL at http://{addr}");

    let mut signals = Signals::install().map_err(SimError::Serve)?;
    let path = scenario.to_owned();
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
    let shutdown = async move {
        signals.until_stop(reload).await;
        tracing::info!("AWS simulator stopping");
    };
    let counted = sim.clone();
    let served = serve(sim, listener, shutdown).await;
    if let Some(path) = counts_file
        && let Err(e) = std::fs::write(path, counted.counts().to_string())
    {
        tracing::error!(error = %e, path = %path.display(), "cannot write the simulator's counts");
    }
    served
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
