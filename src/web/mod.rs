//! The exporter's own HTTP server: listeners (addresses or systemd sockets), TLS and client
//! certificates with rustls, basic auth, response headers and a rate limit from the exporter
//! toolkit's web configuration file (re-read when it changes), and a server no client can
//! starve — a header-read timeout, an idle keep-alive timeout, a cap on open connections that
//! closes the longest-waiting idle one for a newcomer, and the open-file limit raised at start.
//!
//! It serves any axum [`Router`] and imports nothing else of the crate; the daemon wires it.
//!
//! Files: `flags` (the `--web.*` flags), `listen` (sockets), `fdlimit` (RLIMIT_NOFILE),
//! `file` + `fields` + `yaml` + `names` (reading the web configuration file), `tls` (rustls), `auth`
//! (bcrypt with a verdict cache), `rate` (token bucket), `state` (the running web configuration
//! and its reloads), `slots` (connection phases, deadlines, cap), `service` (the per-request
//! pipeline), `conn` (one connection), `accept` (the accept loop), `selfcheck` (the watchdog's
//! liveness check).

mod accept;
pub mod auth;
mod conn;
pub mod fdlimit;
pub mod fields;
pub mod file;
pub mod flags;
pub mod listen;
pub mod names;
pub mod rate;
mod selfcheck;
mod service;
pub mod slots;
pub mod state;
pub mod tls;
pub mod yaml;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use file::WebConfigError;
pub use flags::{WebFlags, WebOptions};
pub use listen::ListenOn;
pub use selfcheck::SelfCheck;
pub use service::HEALTHY;
pub use slots::{Counts, Limits};
pub use state::WebState;

/// Errors setting up the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Not a `source`: the message already holds the whole problem.
    #[error("invalid web configuration {0}")]
    Config(WebConfigError),
    #[error("invalid --web.listen-address {0:?}: expected host:port or :port")]
    ListenAddress(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--web.systemd-socket: {0}")]
    Systemd(String),
}

impl From<WebConfigError> for WebError {
    fn from(e: WebConfigError) -> Self {
        WebError::Config(e)
    }
}

/// An HTTP server ready to run.
pub struct Server {
    listeners: Vec<TcpListener>,
    pipeline: Arc<service::Pipeline>,
    registry: Arc<slots::Registry>,
    limits: Limits,
}

impl Server {
    pub fn new(
        listeners: Vec<TcpListener>,
        router: Router,
        state: Arc<WebState>,
        limits: Limits,
    ) -> Server {
        Server {
            listeners,
            pipeline: Arc::new(service::Pipeline { router, state }),
            registry: slots::Registry::new(limits.max_connections),
            limits,
        }
    }

    /// The addresses it listens on.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// The watchdog's check of this server.
    pub fn self_check(&self) -> SelfCheck {
        SelfCheck {
            addr: self.local_addrs().first().copied(),
            registry: Arc::clone(&self.registry),
            pipeline: Arc::clone(&self.pipeline),
            limits: self.limits,
        }
    }

    /// Connection counters (accepted, open, evicted, refused).
    pub fn counts(&self) -> Counts {
        self.registry.counts()
    }

    /// Serves until `stop` is cancelled; then the listeners close and the task ends once the
    /// open connections have finished their response in flight. Aborting the task closes them.
    pub fn spawn(self, stop: CancellationToken) -> tokio::task::JoinHandle<std::io::Result<()>> {
        tokio::spawn(accept::run(
            self.listeners,
            self.pipeline,
            self.registry,
            self.limits,
            stop,
        ))
    }
}

/// The limits of `options`, the connection cap from the open-file limit unless given (a cap
/// that leaves the probes less than a quarter of the descriptors is logged).
pub fn limits(options: &WebOptions) -> Limits {
    let soft = fdlimit::soft_limit();
    let max_connections = options
        .max_connections
        .unwrap_or_else(|| fdlimit::default_max_connections(soft));
    if let Some(soft) = soft
        && max_connections as u64 > soft / 4 * 3
    {
        tracing::warn!(
            max_connections,
            open_file_limit = soft,
            "--web.max-connections leaves the probes few file descriptors; lower it or raise LimitNOFILE"
        );
    }
    Limits {
        read_header_timeout: options.read_header_timeout,
        idle_timeout: options.idle_timeout,
        max_connections,
    }
}
