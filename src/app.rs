//! The running application: the loaded configuration and its prober (one [`Generation`]), the
//! scheduler and the metrics, and how a configuration is applied and reloaded.
//!
//! [`App`] is the state the HTTP handlers and the daemon share; it is generic over the probing
//! ([`ProbeFn`]) and the configuration loader ([`Loader`]) so it can be tested with fakes.
//!
//! A (re)load never leaves the daemon half-applied: the file is read and validated, then the
//! prober built, each in a task of its own (a panic in either is caught and reported as a
//! failed reload), and only then is the scheduler swapped to the new configuration. Until
//! then, the running configuration keeps running.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use futures::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, ConfigError, Problem};
use crate::discovery::Discoveries;
use crate::metrics::Metrics;
use crate::notify;
use crate::ondemand::OnDemand;
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
    /// The state of `/probe` (on-demand probes).
    pub ondemand: OnDemand,
    config_path: PathBuf,
    loader: Loader,
    factory: ProberFactory<P>,
    current: RwLock<Option<Arc<Generation<P>>>>,
    scheduler: Scheduler<P>,
    ready: AtomicBool,
    reload_lock: tokio::sync::Mutex<()>,
    /// The configuration as loaded from the file (discovering targets without accounts).
    loaded: RwLock<Option<Arc<Config>>>,
    /// The accounts discovery last found per `accounts_from` target.
    discoveries: Discoveries,
    /// Stops the discovery loops of the running configuration.
    discovery_loops: Mutex<Option<CancellationToken>>,
    me: Weak<App<P>>,
}

impl<P: ProbeFn> App<P> {
    pub fn new(
        metrics: Arc<Metrics>,
        config_path: PathBuf,
        loader: Loader,
        factory: ProberFactory<P>,
    ) -> Arc<App<P>> {
        Arc::new_cyclic(|me| App {
            scheduler: Scheduler::new(Arc::clone(&metrics)),
            ondemand: OnDemand::new(Arc::clone(&metrics)),
            metrics,
            config_path,
            loader,
            factory,
            current: RwLock::new(None),
            ready: AtomicBool::new(false),
            reload_lock: tokio::sync::Mutex::new(()),
            loaded: RwLock::new(None),
            discoveries: Discoveries::default(),
            discovery_loops: Mutex::new(None),
            me: me.clone(),
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

    /// Applies a configuration: builds its prober, discovers the accounts of `accounts_from`
    /// targets not discovered yet with these settings, and swaps the scheduler to it. A failure
    /// is logged and the running configuration stays.
    pub async fn apply(&self, config: Config) {
        if let Err(e) = self.try_apply(config).await {
            tracing::error!(error = %e, "configuration not applied; keeping the running configuration");
        }
    }

    /// Builds the prober for `config` (a panic is caught), then swaps the scheduler to both.
    async fn try_apply(&self, config: Config) -> Result<(), ConfigError> {
        let config = Arc::new(config);
        let prober = tokio::spawn((self.factory)(Arc::clone(&config)))
            .await
            .map_err(|e| self.failure("building the probers", e))?;
        let prober = Arc::new(prober);
        let names: Vec<&str> = config.discovering().map(|(t, _)| t.name.as_str()).collect();
        self.discoveries.retain(&names);
        let first = config
            .discovering()
            .filter(|(t, d)| self.discoveries.accounts(t, d).is_none())
            .map(|(t, d)| {
                self.discoveries
                    .refresh(prober.as_ref(), t, d, &self.metrics)
            });
        futures::future::join_all(first).await;
        let resolved = Arc::new(self.resolve(&config));
        let start = std::panic::AssertUnwindSafe(|| {
            self.scheduler
                .start(Arc::clone(&resolved), Arc::clone(&prober))
        });
        std::panic::catch_unwind(start).map_err(|p| self.failure("starting the schedule", p))?;
        let tuples = self.metrics.tuples.len();
        if let Ok(mut cur) = self.current.write() {
            *cur = Some(Arc::new(Generation {
                config: resolved,
                prober,
            }));
        }
        if let Ok(mut l) = self.loaded.write() {
            *l = Some(Arc::clone(&config));
        }
        self.start_discovery(&config);
        self.ready
            .store(self.scheduler.is_running(), Ordering::SeqCst);
        tracing::debug!(tuples_with_series = tuples, "configuration applied");
        Ok(())
    }

    /// A panic while loading or applying the configuration, as the problem of a failed reload.
    fn failure(&self, stage: &str, panic: impl Into<Panic>) -> ConfigError {
        let what = panic.into().0;
        ConfigError {
            problems: vec![Problem {
                file: self.config_path.clone(),
                line: None,
                target: None,
                field: String::new(),
                message: format!(
                    "{stage} failed unexpectedly ({what}); this is a bug, please report it"
                ),
            }],
        }
    }

    /// `config` with each discovering target's last known accounts.
    fn resolve(&self, config: &Config) -> Config {
        config.with_discovered(|name| {
            let (t, d) = config.discovering().find(|(t, _)| t.name == name)?;
            self.discoveries.accounts(t, d)
        })
    }

    /// One loop per `accounts_from` target: every `refresh`, discover again, and apply a
    /// changed list. The loops of the previous configuration stop.
    fn start_discovery(&self, config: &Arc<Config>) {
        let stop = CancellationToken::new();
        let previous = self
            .discovery_loops
            .lock()
            .map(|mut l| l.replace(stop.clone()))
            .ok()
            .flatten();
        if let Some(p) = previous {
            p.cancel();
        }
        for (target, d) in config.discovering() {
            let (me, stop) = (self.me.clone(), stop.clone());
            let (target, d) = (target.clone(), d.clone());
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(d.refresh) => {}
                    }
                    let Some(app) = me.upgrade() else { return };
                    let Some(current) = app.current() else {
                        continue;
                    };
                    let changed = tokio::select! {
                        _ = stop.cancelled() => return,
                        c = app.discoveries.refresh(current.prober.as_ref(), &target, &d, &app.metrics) => c,
                    };
                    if changed && !stop.is_cancelled() {
                        app.rediscovered().await;
                    }
                }
            });
        }
    }

    /// Applies the accounts discovery found to the running configuration: like a reload,
    /// without reading the file (removed accounts lose their series, new ones are scheduled).
    async fn rediscovered(&self) {
        let _serial = self.reload_lock.lock().await;
        let loaded = self.loaded.read().ok().and_then(|l| l.clone());
        let (Some(loaded), Some(current)) = (loaded, self.current()) else {
            return;
        };
        let resolved = Arc::new(self.resolve(&loaded));
        let prober = Arc::clone(&current.prober);
        self.scheduler
            .restart(Arc::clone(&resolved), Arc::clone(&prober));
        let tuples = self.metrics.tuples_configured();
        if let Ok(mut cur) = self.current.write() {
            *cur = Some(Arc::new(Generation {
                config: resolved,
                prober,
            }));
        }
        tracing::info!(tuples, "accounts changed; tuples applied");
    }

    /// Applies the first configuration (serialised with reloads, so a SIGHUP that arrives while
    /// the first prober is being built cannot be overtaken). `Err` when it cannot be applied.
    pub async fn start(&self, config: Config) -> Result<(), ConfigError> {
        let _serial = self.reload_lock.lock().await;
        if let Err(e) = self.try_apply(config).await {
            self.metrics.reload_result(false);
            return Err(e);
        }
        // systemd: READY=1 at the moment /-/ready turns 200 (still under the lock, so a reload's
        // RELOADING=1 cannot come first).
        if self.is_ready() {
            notify::ready(&self.status_line());
        }
        Ok(())
    }

    /// Reads and validates the configuration file in a blocking task (a panic is caught).
    async fn load_caught(&self) -> Result<Config, ConfigError> {
        let (loader, path) = (self.loader, self.config_path.clone());
        tokio::task::spawn_blocking(move || loader(&path))
            .await
            .map_err(|e| self.failure("reading the configuration", e))?
    }

    /// Reloads the configuration file. An invalid file, or one that cannot be applied, keeps
    /// the running configuration and sets `config_last_reload_successful` to 0.
    pub async fn reload(&self) -> Result<(), ConfigError> {
        let _serial = self.reload_lock.lock().await;
        // systemd: RELOADING=1 now, READY=1 once the outcome is known (no-ops without a manager).
        notify::reloading();
        let result = match self.load_caught().await {
            Ok(config) => {
                let n = config.tuple_count();
                let applied = self.try_apply(config).await;
                if applied.is_ok() {
                    tracing::info!(file = %self.config_path.display(), tuples = n, "configuration reloaded");
                }
                applied
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            self.metrics.reload_result(false);
            for p in &e.problems {
                tracing::error!(problem = %p, "configuration reload rejected; keeping the running configuration");
            }
        }
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
            Some(g) => {
                let shard = self.metrics.shard();
                let owned = g
                    .config
                    .tuples_where(|t, a, r| shard.owns_gate(t, a, r))
                    .len();
                let of = if shard.is_sharded() {
                    format!(" (shard {shard})")
                } else {
                    String::new()
                };
                format!(
                    "probing {owned} tuples of {} targets{of}",
                    g.config.targets.len()
                )
            }
            None => "no configuration running".to_string(),
        }
    }

    /// The running configuration and prober.
    pub fn current(&self) -> Option<Arc<Generation<P>>> {
        self.current.read().ok().and_then(|c| c.clone())
    }

    /// The running schedule's bound on probes in flight, which `/probe` shares.
    pub fn probe_permits(&self) -> Option<Arc<tokio::sync::Semaphore>> {
        self.scheduler.permits()
    }

    /// True once a configuration is loaded and the scheduler runs.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Stops the scheduler and cancels the probes in flight.
    pub async fn shutdown(&self) {
        self.ready.store(false, Ordering::SeqCst);
        if let Some(stop) = self.discovery_loops.lock().ok().and_then(|mut l| l.take()) {
            stop.cancel();
        }
        self.scheduler.shutdown().await;
    }
}

/// The text of a caught panic.
struct Panic(String);

impl From<tokio::task::JoinError> for Panic {
    fn from(e: tokio::task::JoinError) -> Panic {
        match e.try_into_panic() {
            Ok(p) => Panic::from(p),
            Err(e) => Panic(e.to_string()),
        }
    }
}

impl From<Box<dyn std::any::Any + Send>> for Panic {
    fn from(p: Box<dyn std::any::Any + Send>) -> Panic {
        let text = match p.downcast::<String>() {
            Ok(s) => *s,
            Err(p) => match p.downcast::<&'static str>() {
                Ok(s) => (*s).to_string(),
                Err(_) => "a panic".to_string(),
            },
        };
        Panic(text)
    }
}
