//! The accept loop over every listener: each accepted connection gets a slot (making room if the
//! cap is reached) and its own task; running out of file descriptors pauses accepting briefly
//! instead of spinning or stopping. On stop the listeners close, connections finish the
//! response in flight, and the loop returns when they have all closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::conn;
use super::service::{ConnService, Pipeline};
use super::slots::{Counts, Limits, Registry};

/// How often the connection-limit warning may repeat.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Accepts and serves until `stop`.
pub async fn run(
    listeners: Vec<TcpListener>,
    pipeline: Arc<Pipeline>,
    registry: Arc<Registry>,
    limits: Limits,
    stop: CancellationToken,
) -> std::io::Result<()> {
    if listeners.is_empty() {
        return Err(std::io::Error::other("no listener"));
    }
    let mut conns = JoinSet::new();
    let mut warned = Warned::default();
    loop {
        let accept = futures::future::select_all(listeners.iter().map(|l| Box::pin(l.accept())));
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            (accepted, _, _) = accept => match accepted {
                Ok((stream, _peer)) => {
                    let Some(admitted) = registry.admit() else {
                        drop(stream);
                        warned.maybe(&registry);
                        continue;
                    };
                    warned.maybe(&registry);
                    let _ = stream.set_nodelay(true);
                    // A changed web configuration (a rotated certificate) applies from here on.
                    let tls = pipeline.state.current().tls.clone();
                    let service = ConnService {
                        pipeline: Arc::clone(&pipeline),
                        slot: Arc::clone(&admitted.slot),
                        trusted: false,
                    };
                    let stop = stop.clone();
                    conns.spawn(async move {
                        conn::serve(stream, tls, service, limits, stop).await;
                        drop(admitted);
                    });
                }
                Err(e) => accept_failed(&e, &mut warned).await,
            },
        }
    }
    drop(listeners);
    while conns.join_next().await.is_some() {}
    Ok(())
}

/// Out of file descriptors (or memory): wait a moment, the connections that close free some.
async fn accept_failed(e: &std::io::Error, warned: &mut Warned) {
    let exhausted = matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::MFILE.raw_os_error()
            || code == rustix::io::Errno::NFILE.raw_os_error()
            || code == rustix::io::Errno::NOBUFS.raw_os_error()
            || code == rustix::io::Errno::NOMEM.raw_os_error()
    );
    if exhausted {
        if warned
            .accept_errors
            .is_none_or(|t| t.elapsed() >= WARN_EVERY)
        {
            warned.accept_errors = Some(Instant::now());
            tracing::warn!(error = %e, "cannot accept connections for now; retrying in 100 ms");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    } else {
        tracing::debug!(error = %e, "accept failed");
    }
}

/// When the warnings were last logged, and the counts then.
#[derive(Default)]
struct Warned {
    limit: Option<(Instant, Counts)>,
    accept_errors: Option<Instant>,
}

impl Warned {
    /// Warns (at most once a minute) when connections were evicted or refused for room.
    fn maybe(&mut self, registry: &Registry) {
        let now = registry.counts();
        let last = self.limit.map(|(_, c)| c).unwrap_or_default();
        if now.evicted == last.evicted && now.refused == last.refused {
            return;
        }
        if self.limit.is_some_and(|(t, _)| t.elapsed() < WARN_EVERY) {
            return;
        }
        tracing::warn!(
            max_connections = registry.max(),
            evicted = now.evicted - last.evicted,
            refused = now.refused - last.refused,
            "connection limit reached: closing the connections that waited longest without a request"
        );
        self.limit = Some((Instant::now(), now));
    }
}
