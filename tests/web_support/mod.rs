//! Support for the `e2e_web_*` tests: certificates made for the test with rcgen (a CA, a server
//! certificate for localhost and 127.0.0.1, client certificates from the CA and from a stranger
//! CA), the real binary started against the demo simulator with a web configuration file, and
//! curl (Debian's, with OpenSSL) as the independent HTTPS client.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::common::{self, Proc, Sim};

/// A certificate authority that signs leaf certificates.
pub struct Ca {
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate and its key (PEM), for `names` (DNS names or IP addresses).
    pub fn leaf(&self, cn: &str, names: &[&str], client: bool) -> (String, String) {
        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![if client {
            ExtendedKeyUsagePurpose::ClientAuth
        } else {
            ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        (cert.pem(), key.serialize_pem())
    }
}

/// Every file the TLS tests need, written to `dir`.
pub struct Pki {
    pub dir: PathBuf,
    /// The CA of the server and of the trusted clients.
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// A client certificate from the CA, SAN `prometheus.example`.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// Another client certificate from the CA, SAN `grafana.example`.
    pub other_client_cert: PathBuf,
    pub other_client_key: PathBuf,
    /// A client certificate from a CA the server does not know.
    pub stranger_cert: PathBuf,
    pub stranger_key: PathBuf,
}

impl Pki {
    pub fn new(dir: &Path) -> Pki {
        let ca = Ca::new("bedrock-access-exporter test CA");
        let stranger_ca = Ca::new("a CA nobody trusts");
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).expect("write PEM");
            p
        };
        let (sc, sk) = ca.leaf("localhost", &["localhost", "127.0.0.1"], false);
        let (cc, ck) = ca.leaf("prometheus", &["prometheus.example"], true);
        let (oc, ok) = ca.leaf("grafana", &["grafana.example"], true);
        let (xc, xk) = stranger_ca.leaf("prometheus", &["prometheus.example"], true);
        Pki {
            dir: dir.to_path_buf(),
            ca: write("ca.pem", &ca.pem),
            server_cert: write("server.pem", &sc),
            server_key: write("server-key.pem", &sk),
            client_cert: write("client.pem", &cc),
            client_key: write("client-key.pem", &ck),
            other_client_cert: write("other-client.pem", &oc),
            other_client_key: write("other-client-key.pem", &ok),
            stranger_cert: write("stranger.pem", &xc),
            stranger_key: write("stranger-key.pem", &xk),
        }
    }

    /// `tls_server_config` serving the server certificate, with `extra` lines appended.
    pub fn tls_config(&self, extra: &str) -> String {
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n{extra}",
            self.server_cert.display(),
            self.server_key.display()
        )
    }
}

/// What curl got.
#[derive(Debug)]
pub struct Curl {
    /// HTTP status; 0 when there was no HTTP answer.
    pub code: u16,
    /// curl's exit code (0 ok; 35 TLS handshake, 56 receive failure, 60 untrusted certificate…).
    pub exit: i32,
    pub headers: String,
    pub body: String,
    pub stderr: String,
}

/// Runs curl with `args` and then `url`, never through a proxy.
pub fn curl(args: &[&str], url: &str) -> Curl {
    let dir = tempfile::tempdir().expect("tempdir");
    let headers = dir.path().join("headers");
    let body = dir.path().join("body");
    let out = Command::new("curl")
        .args([
            "--silent",
            "--show-error",
            "--noproxy",
            "*",
            "--max-time",
            "20",
        ])
        .arg("--dump-header")
        .arg(&headers)
        .arg("--output")
        .arg(&body)
        .args(["--write-out", "%{http_code}"])
        .args(args)
        .arg(url)
        .output()
        .unwrap_or_else(|e| {
            panic!("curl cannot run ({e}); install it (Debian: apt-get install curl)")
        });
    Curl {
        code: String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .unwrap_or(0),
        exit: out.status.code().unwrap_or(-1),
        headers: std::fs::read_to_string(&headers).unwrap_or_default(),
        body: std::fs::read_to_string(&body).unwrap_or_default(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The daemon against the demo simulator, with web flags.
pub struct Web {
    pub proc: Proc,
    pub addr: SocketAddr,
    pub sim: Sim,
}

impl Web {
    /// Starts the daemon with `--web.config.file=web_config` (when given) and `args`, and waits
    /// until its port accepts.
    pub fn start(dir: &Path, web_config: Option<&Path>, args: &[&str]) -> Web {
        Self::start_wrapped(dir, web_config, args, &[])
    }

    /// As [`Web::start`], the binary run by `wrapper` (e.g. `prlimit --nofile=1024:1024`).
    pub fn start_wrapped(
        dir: &Path,
        web_config: Option<&Path>,
        args: &[&str],
        wrapper: &[&str],
    ) -> Web {
        let sim = Sim::start_demo(dir);
        let port = common::free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let empty = dir.join("empty-credentials");
        std::fs::write(&empty, "").expect("write empty credentials");
        let mut cmd: Vec<String> = wrapper.iter().map(|s| s.to_string()).collect();
        cmd.push(common::BIN.to_string());
        cmd.push(format!(
            "--config.file={}",
            common::repo("config/demo/exporter.toml").display()
        ));
        cmd.push(format!("--web.listen-address={addr}"));
        cmd.push("--log.level=debug".into());
        if let Some(w) = web_config {
            cmd.push(format!("--web.config.file={}", w.display()));
        }
        cmd.extend(args.iter().map(|s| s.to_string()));
        let env = [
            ("AWS_ENDPOINT_URL".to_string(), sim.url()),
            (
                "AWS_CONFIG_FILE".to_string(),
                common::repo("config/demo/aws-config").display().to_string(),
            ),
            (
                "AWS_SHARED_CREDENTIALS_FILE".to_string(),
                empty.display().to_string(),
            ),
        ];
        let proc = spawn_command(dir, "exporter", &cmd, &env);
        common::wait_listening(addr, Duration::from_secs(20));
        Web { proc, addr, sim }
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// `https://localhost:PORT/path` (the name the server certificate carries).
    pub fn https(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// Waits until `check` says the daemon is ready, or panics with its log.
    pub fn wait_until(&self, what: &str, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while !check() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{what}: not after 30 s\n{}",
                common::tail(&self.proc.log_text(), 40)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn log(&self) -> String {
        self.proc.log_text()
    }
}

/// Starts `cmd[0]` with the rest as arguments, in the clean environment of
/// [`common::spawn`], logging to `dir/NAME.log`.
pub fn spawn_command(dir: &Path, name: &str, cmd: &[String], env: &[(String, String)]) -> Proc {
    let log = dir.join(format!("{name}.log"));
    let out = std::fs::File::create(&log).expect("create log");
    let err = out.try_clone().expect("clone log");
    let mut c = Command::new(&cmd[0]);
    c.args(&cmd[1..])
        .stdin(std::process::Stdio::null())
        .stdout(out)
        .stderr(err);
    for (k, _) in std::env::vars() {
        let proxy = matches!(
            k.to_ascii_uppercase().as_str(),
            "HTTP_PROXY" | "HTTPS_PROXY" | "ALL_PROXY" | "NO_PROXY"
        );
        if k.starts_with("AWS_") || k.starts_with("BEDROCK_EXPORTER") || proxy {
            c.env_remove(k);
        }
    }
    c.env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        c.env(k, v);
    }
    Proc {
        child: c.spawn().expect("spawn"),
        log,
    }
}

/// A bcrypt hash of `password` (cost 6: quick in a debug build, still a real bcrypt).
pub fn bcrypt_hash(password: &str) -> String {
    bcrypt::hash(password, 6).expect("bcrypt")
}
