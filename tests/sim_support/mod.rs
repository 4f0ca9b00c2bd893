//! Shared support for the simulator's in-process tests: serve a scenario on loopback.

use std::net::SocketAddr;

use bedrock_access_exporter::sim::{Simulator, serve};

/// Loads the scenario `text` (called `name` in its errors) and serves it on a fresh loopback
/// port until the test's runtime ends. Returns the address and the simulator (for reloads and
/// inspection).
pub async fn serve_scenario(text: &str, name: &str) -> (SocketAddr, Simulator) {
    let sim = match Simulator::from_toml(text, name) {
        Ok(s) => s,
        Err(e) => panic!("the test scenario {name} must load: {e}"),
    };
    let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let addr = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => panic!("addr: {e}"),
    };
    tokio::spawn(serve(sim.clone(), listener, std::future::pending()));
    (addr, sim)
}
