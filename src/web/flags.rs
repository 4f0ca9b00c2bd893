//! The `--web.*` flags (global: they may follow a subcommand), what the daemon makes of them, and
//! how `demo` hands them to its daemon child.

use std::path::PathBuf;
use std::time::Duration;

use super::listen::ListenOn;

/// The HTTP server's flags.
#[derive(Debug, Clone, clap::Args)]
pub struct WebFlags {
    /// Address to listen on: host:port, or :port for all interfaces. Repeat it to listen on
    /// several addresses.
    #[arg(
        long = "web.listen-address", id = "web.listen-address",
        global = true,
        default_value = ":9819",
        value_name = "ADDR",
        action = clap::ArgAction::Append
    )]
    pub listen_addresses: Vec<String>,

    /// Listen on the sockets systemd passes (socket activation) instead of
    /// --web.listen-address.
    #[arg(long = "web.systemd-socket", id = "web.systemd-socket", global = true)]
    pub systemd_socket: bool,

    /// Web configuration file of the Prometheus exporter toolkit: TLS, client certificates,
    /// basic auth, response headers, rate limit. Re-read when it (or a file it names) changes.
    #[arg(
        long = "web.config.file",
        id = "web.config.file",
        global = true,
        value_name = "PATH"
    )]
    pub config_file: Option<PathBuf>,

    /// Answer GET /-/healthy without basic auth (TLS and client certificates still apply).
    #[arg(
        long = "web.healthy-without-auth",
        id = "web.healthy-without-auth",
        global = true
    )]
    pub healthy_without_auth: bool,

    /// Longest wait for a request head (from accepting the connection, TLS handshake included,
    /// or from the first byte of a later request), and for a stalled response to be read.
    #[arg(long = "web.read-header-timeout", id = "web.read-header-timeout", global = true, default_value = "10s", value_name = "DURATION", value_parser = positive_duration)]
    pub read_header_timeout: Duration,

    /// Longest wait for the next request on a keep-alive connection.
    #[arg(long = "web.idle-timeout", id = "web.idle-timeout", global = true, default_value = "2m", value_name = "DURATION", value_parser = positive_duration)]
    pub idle_timeout: Duration,

    /// Open connections at most; at the cap, the connection that waited longest without a
    /// request is closed for a new one. Default: half the open-file limit, at most 1024.
    #[arg(long = "web.max-connections", id = "web.max-connections", global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("must be longer than 0".into());
    }
    Ok(d)
}

/// What the daemon needs to set up its HTTP server.
#[derive(Debug, Clone)]
pub struct WebOptions {
    /// Empty addresses: the daemon's `--web.listen-address`.
    pub listen: ListenOn,
    pub config_file: Option<PathBuf>,
    pub healthy_without_auth: bool,
    pub read_header_timeout: Duration,
    pub idle_timeout: Duration,
    /// `None`: from the open-file limit.
    pub max_connections: Option<usize>,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            listen: ListenOn::Addresses(Vec::new()),
            config_file: None,
            healthy_without_auth: false,
            read_header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_connections: None,
        }
    }
}

impl WebFlags {
    pub fn options(&self) -> WebOptions {
        WebOptions {
            listen: if self.systemd_socket {
                ListenOn::Systemd
            } else {
                ListenOn::Addresses(self.listen_addresses.clone())
            },
            config_file: self.config_file.clone(),
            healthy_without_auth: self.healthy_without_auth,
            read_header_timeout: self.read_header_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: self.max_connections.and_then(|n| usize::try_from(n).ok()),
        }
    }

    /// The first listen address (what `demo` prints).
    pub fn first_address(&self) -> &str {
        self.listen_addresses
            .first()
            .map_or(":9819", String::as_str)
    }

    /// The flags again, for a child process running the daemon (`demo`). The web configuration
    /// file is made absolute, so the child reads the same file whatever its directory.
    pub fn forwarded(&self) -> Vec<String> {
        let mut args: Vec<String> = self
            .listen_addresses
            .iter()
            .map(|a| format!("--web.listen-address={a}"))
            .collect();
        if self.systemd_socket {
            args.push("--web.systemd-socket".into());
        }
        if let Some(p) = &self.config_file {
            let p = std::path::absolute(p).unwrap_or_else(|_| p.clone());
            args.push(format!("--web.config.file={}", p.display()));
        }
        if self.healthy_without_auth {
            args.push("--web.healthy-without-auth".into());
        }
        args.push(format!(
            "--web.read-header-timeout={}",
            humantime::format_duration(self.read_header_timeout)
        ));
        args.push(format!(
            "--web.idle-timeout={}",
            humantime::format_duration(self.idle_timeout)
        ));
        if let Some(n) = self.max_connections {
            args.push(format!("--web.max-connections={n}"));
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        web: WebFlags,
    }

    #[test]
    fn listen_addresses_repeat_and_flags_forward_unchanged() {
        let cli = Cli::try_parse_from([
            "x",
            "--web.listen-address=127.0.0.1:1",
            "--web.listen-address=[::1]:2",
            "--web.config.file=/etc/web.yml",
            "--web.read-header-timeout=3s",
            "--web.max-connections=64",
            "--web.healthy-without-auth",
        ]);
        let Ok(cli) = cli else { panic!("{cli:?}") };
        assert_eq!(cli.web.listen_addresses, ["127.0.0.1:1", "[::1]:2"]);
        let again =
            Cli::try_parse_from(std::iter::once("x".to_string()).chain(cli.web.forwarded()));
        let Ok(again) = again else {
            panic!("{again:?}")
        };
        assert_eq!(again.web.listen_addresses, cli.web.listen_addresses);
        assert_eq!(again.web.config_file, cli.web.config_file);
        assert_eq!(again.web.read_header_timeout, Duration::from_secs(3));
        assert_eq!(again.web.max_connections, Some(64));
        assert!(again.web.healthy_without_auth);
        let o = again.web.options();
        assert_eq!(o.max_connections, Some(64));
        assert_eq!(o.idle_timeout, Duration::from_secs(120));
    }

    #[test]
    fn the_default_address_and_bad_values() {
        let Ok(cli) = Cli::try_parse_from(["x"]) else {
            panic!("defaults")
        };
        assert_eq!(cli.web.listen_addresses, [":9819"]);
        assert!(Cli::try_parse_from(["x", "--web.max-connections=0"]).is_err());
        assert!(Cli::try_parse_from(["x", "--web.idle-timeout=0s"]).is_err());
    }
}
