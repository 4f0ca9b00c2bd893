//! The bundled AWS simulator: STS, Bedrock, Bedrock runtime (and IAM) on one loopback listener,
//! authorizing every request from a scenario file. The exporter's modules never import it.

// ---------------------------------------------------------------------------------------------
// TEMPORARY STUB (runtime branch only): the simulator helper's real module replaces this file at
// merge. Same public signatures as the real one, so `main.rs` compiles against either.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;

/// The bundled demo scenario (stub: empty).
pub const DEMO_SCENARIO: &str = "";

/// Errors of the simulator's public API (stub).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("the AWS simulator is not built into this branch")]
    NotBuilt,
}

/// A loaded scenario (stub).
#[derive(Clone, Debug)]
pub struct Simulator {}

impl Simulator {
    pub fn from_toml(_text: &str, _origin: &str) -> Result<Simulator, SimError> {
        Err(SimError::NotBuilt)
    }
}

pub async fn serve(
    _sim: Simulator,
    _listener: tokio::net::TcpListener,
    _shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), SimError> {
    Err(SimError::NotBuilt)
}

pub async fn run(_scenario: &Path, _listen: SocketAddr) -> Result<(), SimError> {
    Err(SimError::NotBuilt)
}
