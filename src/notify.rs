//! systemd service notifications (the `sd_notify` protocol) for `Type=notify` units: readiness,
//! reloads, stopping, a short status line, and the watchdog.
//!
//! Without `NOTIFY_SOCKET` in the environment every function here is a no-op. A notification
//! that cannot be sent is logged at debug and otherwise ignored: the exporter never stops
//! because its service manager went away.
//!
//! **What the watchdog proves.** A `WATCHDOG=1` ping is sent every half `WATCHDOG_USEC` by
//! [`watchdog`], but only when a liveness check passes. The daemon's check (`web::SelfCheck`:
//! its listener must accept a loopback connection, and `GET /-/ready` goes in-process through
//! the HTTP stack, past TLS and authentication) wants an answer within the ping period: that
//! proves the tokio runtime schedules tasks, the listener
//! accepts, the HTTP stack and the router answer, and (once the daemon has been ready) that a
//! configuration is loaded and the scheduler runs (`/-/ready` is 200 only then). A wedged
//! runtime, a dead accept loop or a stopped scheduler stop the pings, and systemd restarts the
//! service (`Restart=on-failure`). It does not prove that AWS answers: an AWS outage is what the
//! exporter reports, not a reason to restart it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Whether a service manager listens (`NOTIFY_SOCKET` is set).
pub fn enabled() -> bool {
    std::env::var_os(NOTIFY_SOCKET).is_some_and(|s| !s.is_empty())
}

/// Sends `states` in one datagram; errors are logged at debug.
pub fn send(states: &[NotifyState<'_>]) {
    let Some(socket) = std::env::var_os(NOTIFY_SOCKET).filter(|s| !s.is_empty()) else {
        return;
    };
    let mut msg = String::new();
    for s in states {
        msg.push_str(&s.to_string());
        msg.push('\n');
    }
    if let Err(e) = send_datagram(&socket, msg.as_bytes()) {
        tracing::debug!(error = %e, "cannot send a notification to the service manager");
    }
}

/// Sends one datagram to the notification socket: a path, or an abstract socket (`@name`, which
/// the `sd-notify` crate does not connect to).
fn send_datagram(socket: &std::ffi::OsStr, msg: &[u8]) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::UnixDatagram;
    let sock = UnixDatagram::unbound()?;
    let bytes = socket.as_bytes();
    match bytes.split_first() {
        #[cfg(target_os = "linux")]
        Some((b'@', name)) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.send_to_addr(msg, &addr)?;
        }
        _ => {
            sock.send_to(msg, socket)?;
        }
    }
    Ok(())
}

/// `READY=1` with a status line: start-up or a reload is complete.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// `RELOADING=1` with `MONOTONIC_USEC` (systemd 253+ requires it): a reload starts. Must be
/// followed by [`ready`].
pub fn reloading() {
    let mut states = vec![NotifyState::Reloading];
    match NotifyState::monotonic_usec_now() {
        Ok(now) => states.push(now),
        Err(e) => tracing::debug!(error = %e, "cannot read CLOCK_MONOTONIC for MONOTONIC_USEC"),
    }
    states.push(NotifyState::Status("reloading the configuration"));
    send(&states);
}

/// `STOPPING=1`: the daemon is shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// `STATUS=…` alone.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// How often to ping the watchdog: half the `WATCHDOG_USEC` the manager gives this process
/// (`WATCHDOG_PID`, when set, must be this process), or `None` without a watchdog.
pub fn watchdog_period() -> Option<Duration> {
    if !enabled() {
        return None;
    }
    sd_notify::watchdog_enabled()
        .filter(|d| !d.is_zero())
        .map(|d| (d / 2).max(Duration::from_millis(1)))
}

/// Pings the watchdog every `period` while `check` passes, until `stop` is cancelled. A check
/// that does not finish within `period` counts as failed. Returns at once without a watchdog.
pub async fn watchdog<F, Fut>(period: Duration, stop: CancellationToken, check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    watchdog_with(period, stop, check, || send(&[NotifyState::Watchdog])).await;
}

/// [`watchdog`] with the ping as a parameter.
async fn watchdog_with<F, Fut>(
    period: Duration,
    stop: CancellationToken,
    mut check: F,
    mut ping: impl FnMut(),
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let alive = tokio::select! {
            _ = stop.cancelled() => return,
            r = tokio::time::timeout(period, check()) => r.unwrap_or(false),
        };
        if alive {
            ping();
        } else {
            tracing::warn!("liveness check failed; not pinging the systemd watchdog");
        }
    }
}

/// The loopback address to reach a listener bound to `local` (`0.0.0.0` → `127.0.0.1`,
/// `::` → `::1`).
pub fn loopback_for(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}

/// `GET path` on `addr` with HTTP/1.1 and `Connection: close`; the status code, or `None` when
/// there is no well-formed answer.
pub async fn http_self_check(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: watchdog\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    // The status line is all that is needed.
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = std::str::from_utf8(&head).ok()?.lines().next()?;
    let mut parts = line.split(' ');
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_on_all_interfaces_is_checked_over_loopback() {
        let v4: SocketAddr = "0.0.0.0:9819".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(loopback_for(v4).to_string(), "127.0.0.1:9819");
        let v6: SocketAddr = "[::]:9819".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(loopback_for(v6).to_string(), "[::1]:9819");
        let own: SocketAddr = "10.1.2.3:80".parse().unwrap_or_else(|_| unreachable!());
        assert_eq!(loopback_for(own), own);
    }

    #[tokio::test]
    async fn the_self_check_reads_the_status_line_and_refuses_garbage() {
        use tokio::net::TcpListener;
        for (answer, want) in [
            (&b"HTTP/1.1 503 Service Unavailable\r\n\r\n"[..], Some(503)),
            (
                &b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"[..],
                Some(200),
            ),
            (&b"SSH-2.0-OpenSSH\r\n"[..], None),
            (&b""[..], None),
        ] {
            let l = TcpListener::bind("127.0.0.1:0").await.ok();
            let Some(l) = l else {
                panic!("cannot bind loopback")
            };
            let Ok(addr) = l.local_addr() else {
                panic!("no local address")
            };
            let server = tokio::spawn(async move {
                if let Ok((mut s, _)) = l.accept().await {
                    let mut buf = [0u8; 512];
                    let _ = s.read(&mut buf).await;
                    let _ = s.write_all(answer).await;
                }
            });
            assert_eq!(http_self_check(addr, "/-/ready").await, want);
            let _ = server.await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_is_only_pinged_while_the_liveness_check_passes() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        // Checks 1-3 pass, 4-6 fail, 7 hangs past the period, then pass again.
        let checks = Arc::new(AtomicUsize::new(0));
        let pings = Arc::new(AtomicUsize::new(0));
        let stop = CancellationToken::new();
        let task = {
            let (checks, pings, stop) = (checks.clone(), pings.clone(), stop.clone());
            tokio::spawn(watchdog_with(
                Duration::from_secs(1),
                stop,
                move || {
                    let n = checks.fetch_add(1, Ordering::SeqCst) + 1;
                    async move {
                        if n == 7 {
                            tokio::time::sleep(Duration::from_secs(5)).await;
                        }
                        !(4..=7).contains(&n)
                    }
                },
                move || {
                    pings.fetch_add(1, Ordering::SeqCst);
                },
            ))
        };
        tokio::time::sleep(Duration::from_millis(10_500)).await;
        stop.cancel();
        let _ = task.await;
        let n_checks = checks.load(Ordering::SeqCst);
        assert!(n_checks >= 9, "only {n_checks} checks in 10.5 s at 1 s");
        // 3 passing, then 4 failing (one timed out), then the rest pass.
        assert_eq!(pings.load(Ordering::SeqCst), n_checks - 4);
    }

    #[tokio::test]
    async fn a_closed_port_fails_the_self_check() {
        let l = std::net::TcpListener::bind("127.0.0.1:0");
        let Ok(l) = l else {
            panic!("cannot bind loopback")
        };
        let Ok(addr) = l.local_addr() else {
            panic!("no local address")
        };
        drop(l);
        assert_eq!(http_self_check(addr, "/-/ready").await, None);
    }
}
