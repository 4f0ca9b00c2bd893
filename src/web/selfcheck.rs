//! The daemon's own liveness check for the systemd watchdog, whatever the web configuration
//! (TLS, client certificates, basic auth): a TCP connection to its listener over loopback must be
//! accepted by the accept loop, and a request sent in-process through the same HTTP stack,
//! pipeline and router (without TLS, rate limit and authentication) must be answered.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_util::sync::CancellationToken;

use super::conn;
use super::service::{ConnService, Pipeline};
use super::slots::{Limits, Registry, Slot};

/// A handle the daemon keeps to check its server.
#[derive(Clone)]
pub struct SelfCheck {
    pub(super) addr: Option<SocketAddr>,
    pub(super) registry: Arc<Registry>,
    pub(super) pipeline: Arc<Pipeline>,
    pub(super) limits: Limits,
}

impl SelfCheck {
    /// The status of `GET path`, or `None` when the listener does not accept or nothing
    /// answers. Bound it with a timeout.
    pub async fn get(&self, path: &str) -> Option<u16> {
        if let Some(addr) = self.addr {
            let before = self.registry.counts().accepted;
            let _probe = tokio::net::TcpStream::connect(loopback_for(addr))
                .await
                .ok()?;
            while self.registry.counts().accepted == before {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let (mut client, server) = tokio::io::duplex(16 * 1024);
        let service = ConnService {
            pipeline: Arc::clone(&self.pipeline),
            slot: Slot::detached(),
            trusted: true,
        };
        let task = tokio::spawn(conn::serve(
            server,
            None,
            service,
            self.limits,
            CancellationToken::new(),
        ));
        let status = ask(&mut client, path).await;
        task.abort();
        status
    }
}

async fn ask(client: &mut tokio::io::DuplexStream, path: &str) -> Option<u16> {
    let request = format!("GET {path} HTTP/1.1\r\nHost: self-check\r\nConnection: close\r\n\r\n");
    client.write_all(request.as_bytes()).await.ok()?;
    let mut head = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    while !head.contains(&b'\n') && head.len() < 1024 {
        let n = client.read(&mut buf).await.ok()?;
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

/// The loopback address to reach a listener bound to `local` (`0.0.0.0` → `127.0.0.1`,
/// `::` → `::1`).
fn loopback_for(local: SocketAddr) -> SocketAddr {
    let ip = match local.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, local.port())
}
