//! The daemon: loads the configuration, runs the scheduler and the HTTP server, reloads on
//! SIGHUP and `POST /-/reload`, and stops gracefully on SIGTERM/SIGINT.
//!
//! [`App`] is the running state shared with the HTTP handlers; it is generic over the probing
//! ([`ProbeFn`]) and the configuration loader so it can be tested with fakes.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::config::{self, Config, ConfigError, Problem};
use crate::metrics::{Metrics, MetricsError};
use crate::notify;
use crate::probe::Prober;
use crate::schedule::{ProbeFn, Scheduler};

/// Reads and validates a configuration file.
pub type Loader = fn(&Path) -> Result<Config, ConfigError>;

/// Builds the prober for a configuration (at start and at every reload).
pub type ProberFactory<P> = Arc<dyn Fn(Arc<Config>) -> BoxFuture<'static, P> + Send + Sync>;

/// One loaded configuration and the prober built for it.
pub struct Generation<P> {
    pub config: Arc<Config>,
    pub prober: Arc<P>,
}

/// The running exporter: configuration, prober, scheduler and metrics.
pub struct App<P: ProbeFn> {
    pub metrics: Arc<Metrics>,
    config_path: PathBuf,
    loader: Loader,
    factory: ProberFactory<P>,
    current: RwLock<Option<Arc<Generation<P>>>>,
    scheduler: Scheduler<P>,
    ready: AtomicBool,
    reload_lock: tokio::sync::Mutex<()>,
}

impl<P: ProbeFn> App<P> {
    pub fn new(
        metrics: Arc<Metrics>,
        config_path: PathBuf,
        loader: Loader,
        factory: ProberFactory<P>,
    ) -> Arc<App<P>> {
        Arc::new(App {
            scheduler: Scheduler::new(Arc::clone(&metrics)),
            metrics,
            config_path,
            loader,
            factory,
            current: RwLock::new(None),
            ready: AtomicBool::new(false),
            reload_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The configuration file this daemon reads.
    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// Loads and validates the configuration file (without applying it).
    pub fn load(&self) -> Result<Config, ConfigError> {
        (self.loader)(&self.config_path)
    }

    /// Applies a configuration: builds its prober and swaps the scheduler to it.
    pub async fn apply(&self, config: Config) {
        let config = Arc::new(config);
        let prober = Arc::new((self.factory)(Arc::clone(&config)).await);
        self.scheduler
            .start(Arc::clone(&config), Arc::clone(&prober));
        let tuples = self.metrics.tuples.len();
        if let Ok(mut cur) = self.current.write() {
            *cur = Some(Arc::new(Generation { config, prober }));
        }
        self.ready
            .store(self.scheduler.is_running(), Ordering::SeqCst);
        tracing::debug!(tuples_with_series = tuples, "configuration applied");
    }

    /// Applies the first configuration (serialised with reloads, so a SIGHUP that arrives while
    /// the first prober is being built cannot be overtaken).
    pub async fn start(&self, config: Config) {
        let _serial = self.reload_lock.lock().await;
        self.apply(config).await;
        // systemd: READY=1 at the moment /-/ready turns 200 (still under the lock, so a reload's
        // RELOADING=1 cannot come first).
        if self.is_ready() {
            notify::ready(&self.status_line());
        }
    }

    /// Reloads the configuration file. An invalid file keeps the running configuration and
    /// sets `config_last_reload_successful` to 0.
    pub async fn reload(&self) -> Result<(), ConfigError> {
        let _serial = self.reload_lock.lock().await;
        // systemd: RELOADING=1 now, READY=1 once the outcome is known (no-ops without a manager).
        notify::reloading();
        let result = match self.load() {
            Ok(config) => {
                let n = config.tuples().len();
                self.apply(config).await;
                tracing::info!(file = %self.config_path.display(), tuples = n, "configuration reloaded");
                Ok(())
            }
            Err(e) => {
                self.metrics.reload_result(false);
                for p in &e.problems {
                    tracing::error!(problem = %format_problem(p), "configuration reload rejected; keeping the running configuration");
                }
                Err(e)
            }
        };
        if self.is_ready() {
            let mut status = self.status_line();
            if let Err(e) = &result {
                status = format!(
                    "reload rejected ({} problems), previous configuration kept; {status}",
                    e.problems.len()
                );
            }
            notify::ready(&status);
        }
        result
    }

    /// A one-line summary for the service manager's `STATUS=`.
    pub fn status_line(&self) -> String {
        match self.current() {
            Some(g) => format!(
                "probing {} tuples of {} targets",
                g.config.tuples().len(),
                g.config.targets.len()
            ),
            None => "no configuration running".to_string(),
        }
    }

    /// The running configuration and prober.
    pub fn current(&self) -> Option<Arc<Generation<P>>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// True once a configuration is loaded and the scheduler runs.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Stops the scheduler and cancels the probes in flight.
    pub async fn shutdown(&self) {
        self.ready.store(false, Ordering::SeqCst);
        self.scheduler.shutdown().await;
    }
}

/// One problem as a line: `file:line: target "NAME": field: message`.
pub fn format_problem(p: &Problem) -> String {
    let mut s = p.file.display().to_string();
    if let Some(line) = p.line {
        s.push_str(&format!(":{line}"));
    }
    s.push_str(": ");
    if let Some(t) = &p.target {
        s.push_str(&format!("target {t:?}: "));
    }
    if !p.field.is_empty() {
        s.push_str(&p.field);
        s.push_str(": ");
    }
    s.push_str(&p.message);
    s
}

/// Every problem, one per line.
pub fn format_problems(e: &ConfigError) -> String {
    let mut s = String::new();
    for p in &e.problems {
        s.push_str(&format_problem(p));
        s.push('\n');
    }
    s
}

/// Errors that stop the daemon.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("invalid configuration {path}:\n{}", format_problems(.error))]
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
}

/// What the daemon needs from the command line.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    pub config_file: PathBuf,
    /// `host:port` or `:port` (all interfaces).
    pub listen_address: String,
}

/// Normalises a listen address: `:9819` means all interfaces (`0.0.0.0:9819`); `host:port`
/// and `[v6]:port` are kept.
pub fn listen_address(s: &str) -> Result<String, DaemonError> {
    let bad = || DaemonError::ListenAddress(s.to_string());
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    if host.is_empty() {
        Ok(format!("0.0.0.0:{port}"))
    } else {
        Ok(s.to_string())
    }
}

/// Binds the HTTP listener.
pub async fn bind(address: &str) -> Result<tokio::net::TcpListener, DaemonError> {
    let addr = listen_address(address)?;
    tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|source| DaemonError::Listen { addr, source })
}

/// Serves `app` on `listener` until `stop` is cancelled.
pub fn serve<P: ProbeFn>(
    app: Arc<App<P>>,
    listener: tokio::net::TcpListener,
    stop: CancellationToken,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let router = crate::http::router(app);
    tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
    })
}

/// Runs the daemon until SIGTERM/SIGINT, with the real configuration loader and prober.
pub async fn run(opts: DaemonOptions) -> Result<(), DaemonError> {
    let factory: ProberFactory<Prober> =
        Arc::new(|c: Arc<Config>| Box::pin(async move { Prober::new(&c).await }));
    run_with(opts, config::load, factory).await
}

/// Runs the daemon with `loader` and `factory` until SIGTERM/SIGINT: loads the configuration
/// (every problem reported), serves HTTP, runs the scheduler, reloads on SIGHUP, and on
/// SIGTERM/SIGINT cancels the probes in flight and closes the listener.
pub async fn run_with<P: ProbeFn>(
    opts: DaemonOptions,
    loader: Loader,
    factory: ProberFactory<P>,
) -> Result<(), DaemonError> {
    let config = loader(&opts.config_file).map_err(|error| DaemonError::Config {
        path: opts.config_file.clone(),
        error,
    })?;
    let metrics = Arc::new(Metrics::new()?);
    let app = App::new(metrics, opts.config_file.clone(), loader, factory);
    let mut signals = Signals::install()?;
    let listener = bind(&opts.listen_address).await?;
    let local: Option<SocketAddr> = listener.local_addr().ok();
    let stop = CancellationToken::new();
    let mut server = serve(Arc::clone(&app), listener, stop.clone());
    if let Some(a) = local {
        tracing::info!(address = %a, config = %opts.config_file.display(), "bedrock-access-exporter listening");
    }
    let tuples = config.tuples().len();
    // The first configuration is applied in the background (building the prober may take a
    // moment) while signals are already handled.
    let starter = {
        let app = Arc::clone(&app);
        tokio::spawn(async move {
            app.start(config).await;
            tracing::info!(tuples, "scheduler started");
        })
    };
    let watchdog = spawn_watchdog(local, stop.clone());
    let result = signals.wait_for_stop(&app, &mut server).await;
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

/// Pings the systemd watchdog while the daemon's own `GET /-/ready` answers over loopback:
/// any answer until the daemon has been ready once, then only 200 (see [`notify`] for what
/// that proves). `None` without a watchdog.
fn spawn_watchdog(
    local: Option<SocketAddr>,
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
        async move {
            match notify::http_self_check(addr, "/-/ready").await {
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

type ServerTask = tokio::task::JoinHandle<std::io::Result<()>>;

fn server_ended(r: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), DaemonError> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(DaemonError::Serve(e)),
        Err(e) => Err(DaemonError::Serve(std::io::Error::other(e.to_string()))),
    }
}

#[cfg(unix)]
struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

#[cfg(unix)]
impl Signals {
    fn install() -> Result<Signals, DaemonError> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            hup: signal(SignalKind::hangup()).map_err(DaemonError::Signal)?,
            term: signal(SignalKind::terminate()).map_err(DaemonError::Signal)?,
            int: signal(SignalKind::interrupt()).map_err(DaemonError::Signal)?,
        })
    }

    /// Reloads on SIGHUP; returns on SIGTERM/SIGINT or when the server ends.
    async fn wait_for_stop<P: ProbeFn>(
        &mut self,
        app: &Arc<App<P>>,
        server: &mut ServerTask,
    ) -> Result<(), DaemonError> {
        loop {
            tokio::select! {
                _ = self.hup.recv() => {
                    tracing::info!("SIGHUP: reloading the configuration");
                    let _ = app.reload().await;
                }
                _ = self.term.recv() => { tracing::info!("SIGTERM received"); return Ok(()); }
                _ = self.int.recv() => { tracing::info!("SIGINT received"); return Ok(()); }
                r = &mut *server => return server_ended(r),
            }
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn install() -> Result<Signals, DaemonError> {
        Ok(Signals)
    }

    async fn wait_for_stop<P: ProbeFn>(
        &mut self,
        _app: &Arc<App<P>>,
        server: &mut ServerTask,
    ) -> Result<(), DaemonError> {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => Ok(()),
            r = &mut *server => server_ended(r),
        }
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

    #[test]
    fn problems_read_as_file_line_target_field_message() {
        let p = Problem {
            file: PathBuf::from("/etc/x.toml"),
            line: Some(7),
            target: Some("prod".into()),
            field: "targets[0].role_arn".into(),
            message: "not a role ARN".into(),
        };
        assert_eq!(
            format_problem(&p),
            "/etc/x.toml:7: target \"prod\": targets[0].role_arn: not a role ARN"
        );
    }
}
