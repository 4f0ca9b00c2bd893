//! The listening sockets: every `--web.listen-address` (`:PORT` means all IPv4 interfaces), or
//! with `--web.systemd-socket` the sockets systemd passes (`LISTEN_FDS`/`LISTEN_PID`, as
//! node_exporter takes them), each checked to be a listening TCP socket before it is used.

use tokio::net::TcpListener;

use super::WebError;

/// Where to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenOn {
    Addresses(Vec<String>),
    Systemd,
}

/// Normalises a listen address: `:9819` means all interfaces (`0.0.0.0:9819`); `host:port`
/// and `[v6]:port` are kept.
pub fn normalize(s: &str) -> Result<String, WebError> {
    let bad = || WebError::ListenAddress(s.to_string());
    let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
    port.parse::<u16>().map_err(|_| bad())?;
    if host.is_empty() {
        Ok(format!("0.0.0.0:{port}"))
    } else {
        Ok(s.to_string())
    }
}

/// Binds every address (all or nothing), or takes systemd's sockets.
pub async fn bind(on: &ListenOn) -> Result<Vec<TcpListener>, WebError> {
    match on {
        ListenOn::Systemd => systemd(),
        ListenOn::Addresses(addresses) => {
            if addresses.is_empty() {
                return Err(WebError::ListenAddress(String::new()));
            }
            let mut out = Vec::with_capacity(addresses.len());
            for a in addresses {
                let addr = normalize(a)?;
                let l = TcpListener::bind(&addr)
                    .await
                    .map_err(|source| WebError::Listen { addr, source })?;
                out.push(l);
            }
            Ok(out)
        }
    }
}

/// The sockets systemd passed to this process.
fn systemd() -> Result<Vec<TcpListener>, WebError> {
    use std::os::fd::{FromRawFd as _, OwnedFd};
    let fds = sd_notify::listen_fds()
        .map_err(|e| WebError::Systemd(format!("cannot read LISTEN_FDS/LISTEN_PID: {e}")))?;
    if fds.len() == 0 {
        return Err(WebError::Systemd(
            "no socket was passed (LISTEN_FDS/LISTEN_PID are not set for this process); start it \
             from a .socket unit"
                .into(),
        ));
    }
    let mut out = Vec::new();
    for fd in fds {
        // SAFETY: sd_listen_fds(3): the service manager passed these descriptors to this process
        // (LISTEN_PID is ours), numbered from 3, and nothing else in the process owns them; each
        // is taken exactly once here.
        let owned = unsafe { OwnedFd::from_raw_fd(fd) };
        let listening = rustix::net::sockopt::socket_acceptconn(&owned).unwrap_or(false);
        let stream = rustix::net::sockopt::socket_type(&owned)
            .is_ok_and(|t| t == rustix::net::SocketType::STREAM);
        if !listening || !stream {
            return Err(WebError::Systemd(format!(
                "file descriptor {fd} is not a listening stream socket (ListenStream= in the \
                 .socket unit)"
            )));
        }
        let std_listener = std::net::TcpListener::from(owned);
        std_listener.local_addr().map_err(|e| {
            WebError::Systemd(format!("file descriptor {fd} is not a TCP socket: {e}"))
        })?;
        std_listener
            .set_nonblocking(true)
            .map_err(|e| WebError::Systemd(format!("file descriptor {fd}: {e}")))?;
        let l = TcpListener::from_std(std_listener)
            .map_err(|e| WebError::Systemd(format!("file descriptor {fd}: {e}")))?;
        out.push(l);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_port_listens_on_all_interfaces_and_a_portless_address_is_refused() {
        assert_eq!(normalize(":9819").ok().as_deref(), Some("0.0.0.0:9819"));
        assert_eq!(normalize("[::1]:9819").ok().as_deref(), Some("[::1]:9819"));
        assert!(normalize("9819").is_err());
        assert!(normalize("localhost:http").is_err());
    }

    #[tokio::test]
    async fn every_address_is_bound_or_none() {
        let taken = TcpListener::bind("127.0.0.1:0").await;
        let Ok(taken) = taken else { panic!("bind") };
        let Ok(port) = taken.local_addr().map(|a| a.port()) else {
            panic!("addr")
        };
        let two = bind(&ListenOn::Addresses(vec![
            "127.0.0.1:0".into(),
            "127.0.0.1:0".into(),
        ]))
        .await;
        assert_eq!(two.map(|l| l.len()).ok(), Some(2));
        let clash = bind(&ListenOn::Addresses(vec![
            "127.0.0.1:0".into(),
            format!("127.0.0.1:{port}"),
        ]))
        .await;
        assert!(matches!(clash, Err(WebError::Listen { .. })));
    }
}
