//! The daemon: wires the running application ([`App`]), the HTTP server and the signals.
//! Loads the configuration, serves HTTP, runs the scheduler, reloads on SIGHUP (and
//! `POST /-/reload`, through the HTTP layer), and stops gracefully on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::app::{App, Loader, ProberFactory};
use crate::config::{self, Config, ConfigError};
use crate::metrics::{Metrics, MetricsError};
use crate::notify;
use crate::probe::Prober;
use crate::probe::pacing::Pacer;
use crate::schedule::ProbeFn;
use crate::shard::Shard;
use crate::shutdown::Signals;
use crate::web::{self, SelfCheck, WebError, WebOptions, WebState};

/// Errors that stop the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("invalid configuration {path}:\n{error}\n")]
    Config { path: PathBuf, error: ConfigError },
    #[error("invalid --web.listen-address {0:?}: expected host:port or :port")]
    ListenAddress(String),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Metrics(#[from] MetricsError),
    #[error("signal handling: {0}")]
    Signal(#[source] std::io::Error),
    #[error("HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("the configuration {path} could not be applied:\n{error}\n")]
    Start { path: PathBuf, error: ConfigError },
    #[error(transparent)]
    Web(#[from] WebError),
}

/// What the daemon needs from the command line.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub config_file: PathBuf,
    /// `host:port` or `:port` (all interfaces).
    pub listen_address: String,
    /// This replica's shard of the tuples (`--shard.index`/`--shard.count`).
    pub shard: Shard,
}

/// Normalises a listen address: `:9819` means all interfaces (`0.0.0.0:9819`); `host:port`
/// and `[v6]:port` are kept.
pub fn listen_address(s: &str) -> Result<String, DaemonError> {
    web::listen::normalize(s).map_err(|_| DaemonError::ListenAddress(s.to_string()))
}

/// Binds the HTTP listener.
pub async fn bind(address: &str) -> Result<tokio::net::TcpListener, DaemonError> {
    let addr = listen_address(address)?;
    tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| DaemonError::Listen { addr, source })
}

/// Serves `app` on `listener` until `stop` is cancelled: plain HTTP, no authentication, the
/// default timeouts and connection cap.
pub fn serve<P: ProbeFn>(
    app: Arc<App<P>>,
    listener: tokio::net::TcpListener,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let router = crate::http::router(app);
    web::Server::new(
        vec![listener],
        router,
        WebState::plain(),
        web::Limits::default(),
    )
    .spawn(stop)
}

/// Runs the daemon until SIGTERM/SIGINT, with the real configuration loader and prober, pacing
/// every AWS call per account ([`Pacer`], one for the process, at this replica's share). Every
/// reload's prober shares the pacer and the model lifecycles read so far.
pub async fn run(opts: DaemonOptions, web: WebOptions) -> Result<(), DaemonError> {
    let shards = opts.shard.count;
    let pacer =
        Arc::new(Pacer::new(&config::Limits::default(), shards).map_err(MetricsError::from)?);
    let paced = Arc::clone(&pacer);
    let lifecycles = Arc::new(crate::probe::lifecycle::LifecycleCache::default());
    let factory: ProberFactory<Prober> = Arc::new(move |c: Arc<Config>| {
        let pacer = Arc::clone(&paced);
        let lifecycles = Arc::clone(&lifecycles);
        Box::pin(async move {
            pacer.configure(&c.limits, shards);
            Prober::new(&c)
                .await
                .with_pacer(pacer)
                .with_lifecycle_cache(lifecycles)
        })
    });
    run_inner(opts, web, config::load, factory, Some(pacer)).await
}

/// [`run_with_web`] with the default web options (plain HTTP on `opts.listen_address`).
pub async fn run_with<P: ProbeFn>(
    opts: DaemonOptions,
    loader: Loader,
    factory: ProberFactory<P>,
) -> Result<(), DaemonError> {
    run_with_web(opts, WebOptions::default(), loader, factory).await
}

/// Runs the daemon with `loader` and `factory` until SIGTERM/SIGINT: loads the configuration
/// (every problem reported) and the web configuration, serves HTTP, runs the scheduler, reloads
/// on SIGHUP, and on SIGTERM/SIGINT cancels the probes in flight and closes the listeners.
/// `web.listen` without addresses listens on `opts.listen_address`.
pub async fn run_with_web<P: ProbeFn>(
    opts: DaemonOptions,
    web: WebOptions,
    loader: Loader,
    factory: ProberFactory<P>,
) -> Result<(), DaemonError> {
    run_inner(opts, web, loader, factory, None).await
}

async fn run_inner<P: ProbeFn>(
    opts: DaemonOptions,
    web: WebOptions,
    loader: Loader,
    factory: ProberFactory<P>,
    pacer: Option<Arc<Pacer>>,
) -> Result<(), DaemonError> {
    let config = loader(&opts.config_file).map_err(|error| DaemonError::Config {
        path: opts.config_file.clone(),
        error,
    })?;
    raise_open_file_limit();
    let state = WebState::load(web.config_file.as_deref(), web.healthy_without_auth)
        .map_err(WebError::from)?;
    let metrics = Arc::new(Metrics::new()?);
    metrics.set_shard(opts.shard);
    for c in pacer.iter().flat_map(|p| p.collectors()) {
        metrics.register(c)?;
    }
    let app = App::new(metrics, opts.config_file.clone(), loader, factory);
    let mut signals = Signals::install().map_err(DaemonError::Signal)?;
    let listen = match web.listen.clone() {
        web::ListenOn::Addresses(a) if a.is_empty() => {
            web::ListenOn::Addresses(vec![opts.listen_address.clone()])
        }
        other => other,
    };
    let listeners = web::listen::bind(&listen).await?;
    let limits = web::limits(&web);
    let web_summary = state.active().summary.clone();
    let server = web::Server::new(
        listeners,
        crate::http::router(Arc::clone(&app)),
        state,
        limits,
    );
    let local: Option<SocketAddr> = server.local_addrs().first().copied();
    for a in server.local_addrs() {
        tracing::info!(address = %a, config = %opts.config_file.display(), web = %web_summary, shard = %opts.shard, "bedrock-access-exporter listening");
    }
    tracing::info!(
        max_connections = limits.max_connections,
        read_header_timeout = ?limits.read_header_timeout,
        idle_timeout = ?limits.idle_timeout,
        "HTTP server limits"
    );
    let self_check = server.self_check();
    let stop = CancellationToken::new();
    let mut server = server.spawn(stop.clone());
    let tuples = config.tuple_count();
    // The first configuration is applied in the background (building the prober may take a
    // moment) while signals are already handled.
    let (start_failed, mut start_failure) = tokio::sync::oneshot::channel();
    let starter = {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            match app.start(config).await {
                Ok(()) => tracing::info!(tuples, "scheduler started"),
                Err(e) => {
                    let _ = start_failed.send(e);
                }
            }
        })
    };
    let watchdog = spawn_watchdog(local, self_check, stop.clone());
    let reload = || async {
        tracing::info!("SIGHUP: reloading the configuration");
        let _ = app.reload().await;
    };
    let result = tokio::select! {
        _ = signals.until_stop(reload) => Ok(()),
        r = &mut server => server_ended(r),
        Ok(error) = &mut start_failure => Err(DaemonError::Start {
            path: opts.config_file.clone(),
            error,
        }),
    };
    notify::stopping();
    starter.abort();
    if let Some(w) = watchdog {
        w.abort();
    }
    tracing::info!("stopping: cancelling probes in flight and closing the listener");
    app.shutdown().await;
    stop.cancel();
    match tokio::time::timeout(Duration::from_secs(5), &mut server).await {
        Ok(Ok(Err(e))) => return Err(DaemonError::Serve(e)),
        Ok(_) => {}
        Err(_) => {
            server.abort();
            tracing::warn!("HTTP connections still open after 5s; closed");
        }
    }
    tracing::info!("stopped");
    result
}

/// Raises the soft open-file limit to the hard one; a refusal is logged and the daemon goes on.
fn raise_open_file_limit() {
    match web::fdlimit::raise() {
        Ok(r) if r.before != r.after => tracing::info!(
            before = ?r.before, after = ?r.after, "raised the open-file limit to its hard limit"
        ),
        Ok(_) => {}
        Err(e) => tracing::info!(
            error = %e, soft_limit = ?web::fdlimit::soft_limit(),
            "cannot raise the open-file limit; going on with the current one"
        ),
    }
}

/// Pings the systemd watchdog while the daemon's own `GET /-/ready` answers (its listener
/// accepts over loopback, and the request goes through the HTTP stack and router in-process,
/// whatever TLS or authentication is configured): any answer until the daemon has been ready
/// once, then only 200 (see [`notify`] for what that proves). `None` without a watchdog.
fn spawn_watchdog(
    local: Option<SocketAddr>,
    self_check: SelfCheck,
    stop: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let period = notify::watchdog_period()?;
    let Some(addr) = local.map(notify::loopback_for) else {
        tracing::warn!("listener address unknown; the systemd watchdog will not be pinged");
        return None;
    };
    tracing::debug!(period = ?period, address = %addr, "pinging the systemd watchdog");
    let seen_ready = Arc::new(AtomicBool::new(false));
    Some(tokio::spawn(notify::watchdog(period, stop, move || {
        let seen_ready = Arc::clone(&seen_ready);
        let self_check = self_check.clone();
        async move {
            match self_check.get("/-/ready").await {
                Some(200) => {
                    seen_ready.store(true, Ordering::SeqCst);
                    true
                }
                Some(_) => !seen_ready.load(Ordering::SeqCst),
                None => false,
            }
        }
    })))
}

fn server_ended(r: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), DaemonError> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(DaemonError::Serve(e)),
        Err(e) => Err(DaemonError::Serve(std::io::Error::other(e.to_string()))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_listens_on_all_interfaces() {
        assert_eq!(
            listen_address(":9819").ok().as_deref(),
            Some("0.0.0.0:9819")
        );
        assert_eq!(
            listen_address("127.0.0.1:0").ok().as_deref(),
            Some("127.0.0.1:0")
        );
        assert_eq!(
            listen_address("[::1]:9819").ok().as_deref(),
            Some("[::1]:9819")
        );
    }

    #[test]
    fn a_listen_address_without_a_port_is_refused() {
        assert!(listen_address("9819").is_err());
        assert!(listen_address("localhost:http").is_err());
        assert!(listen_address(":99999").is_err());
    }
}
