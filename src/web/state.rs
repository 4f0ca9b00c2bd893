//! The running web configuration, re-read when it changes: before each new connection and each
//! request the web configuration file and the certificate, key and CA files it names are
//! `stat`ed (size, modification time, inode), and a change loads them again — so a rotated
//! certificate is served from the next handshake on, without a restart. A change that does not
//! load is logged once and the last good configuration stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use axum::http::{HeaderName, HeaderValue};
use tokio_rustls::TlsAcceptor;

use super::auth::{Authenticator, Users};
use super::file::{self, PemSource, WebConfig, WebConfigError};
use super::rate::RateLimiter;
use super::tls;

/// What one load of the web configuration gives the server.
#[derive(Default)]
pub struct Active {
    pub tls: Option<TlsAcceptor>,
    pub users: Arc<Users>,
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub rate: Option<Arc<RateLimiter>>,
    /// One line for the logs: TLS, client certificates, users, rate limit (never a secret).
    pub summary: String,
}

/// The web configuration of a running server.
pub struct WebState {
    path: Option<PathBuf>,
    /// `--web.healthy-without-auth`: `GET /-/healthy` answers without basic auth.
    pub healthy_without_auth: bool,
    pub auth: Authenticator,
    active: RwLock<Arc<Active>>,
    watch: Mutex<Watch>,
}

/// The files the active configuration came from and how they looked when last checked.
#[derive(Default)]
struct Watch {
    files: Vec<PathBuf>,
    seen: Vec<Option<Stamp>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl WebState {
    /// Plain HTTP, no authentication, no file.
    pub fn plain() -> Arc<WebState> {
        Arc::new(WebState::new(None, false, plain_active(), Watch::default()))
    }

    fn new(
        path: Option<PathBuf>,
        healthy_without_auth: bool,
        active: Active,
        watch: Watch,
    ) -> Self {
        WebState {
            path,
            healthy_without_auth,
            auth: Authenticator::new(),
            active: RwLock::new(Arc::new(active)),
            watch: Mutex::new(watch),
        }
    }

    /// Loads `path` (none: plain HTTP); an invalid file is an error naming the file and field.
    pub fn load(
        path: Option<&Path>,
        healthy_without_auth: bool,
    ) -> Result<Arc<WebState>, WebConfigError> {
        let Some(path) = path else {
            return Ok(Arc::new(WebState::new(
                None,
                healthy_without_auth,
                plain_active(),
                Watch::default(),
            )));
        };
        let before = stamps(&watched(path, None));
        let (active, files) = build(path, None)?;
        // The stamps taken before reading, so a change made while reading is seen next time.
        let seen = if files.len() == before.len() {
            before
        } else {
            stamps(&files)
        };
        Ok(Arc::new(WebState::new(
            Some(path.to_path_buf()),
            healthy_without_auth,
            active,
            Watch { files, seen },
        )))
    }

    /// The active configuration, reloaded first if one of its files changed. While another
    /// thread reloads, the active one is returned without waiting.
    pub fn current(&self) -> Arc<Active> {
        if let Some(path) = &self.path
            && let Ok(mut watch) = self.watch.try_lock()
        {
            let now = stamps(&watch.files);
            if now != watch.seen {
                watch.seen = now;
                let previous = self.active();
                match build(path, previous.rate.as_ref()) {
                    Ok((active, files)) => {
                        if files != watch.files {
                            watch.seen = stamps(&files);
                            watch.files = files;
                        }
                        tracing::info!(file = %path.display(), web = %active.summary, "web configuration reloaded");
                        self.set(active);
                    }
                    Err(e) => tracing::error!(
                        error = %e,
                        "the web configuration changed but does not load; the last good one stays"
                    ),
                }
            }
        }
        self.active()
    }

    /// The active configuration as it is, without looking at the files.
    pub fn active(&self) -> Arc<Active> {
        match self.active.read() {
            Ok(a) => Arc::clone(&a),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    fn set(&self, active: Active) {
        match self.active.write() {
            Ok(mut a) => *a = Arc::new(active),
            Err(p) => *p.into_inner() = Arc::new(active),
        }
    }

    /// Whether TLS is on.
    pub fn tls(&self) -> bool {
        self.active().tls.is_some()
    }
}

fn plain_active() -> Active {
    Active {
        summary: "TLS off, no basic auth".into(),
        ..Active::default()
    }
}

/// Reads the file and everything it names; the rate limiter is kept when its settings did not
/// change (a reload must not hand out a fresh burst).
fn build(
    path: &Path,
    previous_rate: Option<&Arc<RateLimiter>>,
) -> Result<(Active, Vec<PathBuf>), WebConfigError> {
    let cfg = file::read(path)?;
    let tls = match &cfg.tls {
        Some(t) => Some(tls::server_config(t).map_err(|p| p.in_file(path))?),
        None => None,
    };
    let rate = cfg.rate_limit.map(|limit| match previous_rate {
        Some(r) if r.limit == limit => Arc::clone(r),
        _ => Arc::new(RateLimiter::new(limit)),
    });
    let headers = cfg
        .headers
        .iter()
        .filter_map(|(n, v)| {
            Some((
                HeaderName::from_bytes(n.as_bytes()).ok()?,
                HeaderValue::from_str(v).ok()?,
            ))
        })
        .collect();
    let active = Active {
        summary: summary(&cfg),
        tls: tls.map(TlsAcceptor::from),
        users: Arc::new(Users::new(&cfg.users)),
        headers,
        rate,
    };
    Ok((active, watched(path, Some(&cfg))))
}

fn summary(cfg: &WebConfig) -> String {
    let tls = match &cfg.tls {
        Some(t) => format!(
            "TLS on ({:?}..{:?}, client certificates: {}{})",
            t.min_version,
            t.max_version,
            t.client_auth.name(),
            if t.allowed_sans.is_empty() {
                String::new()
            } else {
                format!(", {} allowed SANs", t.allowed_sans.len())
            }
        ),
        None => "TLS off".into(),
    };
    let users = match cfg.users.len() {
        0 => "no basic auth".to_string(),
        n => format!("basic auth ({n} users)"),
    };
    let rate = match cfg.rate_limit {
        Some(r) => format!(
            ", rate limit {} per {}",
            r.burst,
            humantime::format_duration(r.interval)
        ),
        None => String::new(),
    };
    format!("{tls}, {users}{rate}")
}

/// The web configuration file and the PEM files it names.
fn watched(path: &Path, cfg: Option<&WebConfig>) -> Vec<PathBuf> {
    let mut files = vec![path.to_path_buf()];
    if let Some(t) = cfg.and_then(|c| c.tls.as_ref()) {
        for pem in [Some(&t.cert), Some(&t.key), t.client_ca.as_ref()]
            .into_iter()
            .flatten()
        {
            if let PemSource::File(p) = &pem.source {
                files.push(p.clone());
            }
        }
    }
    files
}

fn stamps(files: &[PathBuf]) -> Vec<Option<Stamp>> {
    use std::os::unix::fs::MetadataExt as _;
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f).ok().map(|m| Stamp {
                len: m.len(),
                modified: m.modified().ok(),
                inode: m.ino(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_change_keeps_the_last_good_configuration_and_a_good_one_applies() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("web.yml");
        let write = |t: &str| std::fs::write(&path, t).unwrap_or_else(|e| panic!("{e}"));
        write("rate_limit:\n  interval: 1s\n  burst: 5\n");
        let state = WebState::load(Some(&path), false).unwrap_or_else(|e| panic!("{e}"));
        let first = state.current();
        assert_eq!(first.rate.as_ref().map(|r| r.limit.burst), Some(5));

        write("rate_limit:\n  interval: 1s\n  burst: 0\n  # now invalid\n");
        let kept = state.current();
        assert!(Arc::ptr_eq(&kept, &first), "the last good one stays");

        write("rate_limit:\n  interval: 1s\n  burst: 7\n");
        assert_eq!(
            state.current().rate.as_ref().map(|r| r.limit.burst),
            Some(7)
        );
        // Unchanged files are not read again.
        let a = state.current();
        assert!(Arc::ptr_eq(&a, &state.current()));
    }

    #[test]
    fn an_unchanged_rate_limit_keeps_its_bucket_across_a_reload() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("web.yml");
        std::fs::write(&path, "rate_limit:\n  interval: 1h\n  burst: 1\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let state = WebState::load(Some(&path), false).unwrap_or_else(|e| panic!("{e}"));
        assert!(state.current().rate.as_ref().is_some_and(|r| r.allow()));
        std::fs::write(
            &path,
            "rate_limit:\n  interval: 1h\n  burst: 1\nhttp_server_config:\n  http2: false\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !state.current().rate.as_ref().is_some_and(|r| r.allow()),
            "a reload must not hand out a fresh burst"
        );
    }

    #[test]
    fn an_invalid_file_at_start_is_an_error_naming_file_line_and_field() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("web.yml");
        std::fs::write(
            &path,
            "tls_server_config:\n  cert_file: missing.pem\n  key_file: k.pem\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let e = WebState::load(Some(&path), false).err();
        let text = e.map(|e| e.to_string()).unwrap_or_default();
        assert!(
            text.contains(&format!(
                "{}:2: tls_server_config.cert_file:",
                path.display()
            )),
            "{text}"
        );
        assert!(text.contains("missing.pem: cannot read the file"), "{text}");
    }
}
