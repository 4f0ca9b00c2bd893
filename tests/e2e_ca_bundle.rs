//! End to end: behind a TLS-inspecting proxy or a private VPC endpoint, AWS is reached over a
//! certificate that only a private CA vouches for. Operators name that CA the way every AWS
//! SDK and the CLI understand: `AWS_CA_BUNDLE`, or `ca_bundle` in the profile. Here an HTTPS
//! front with a certificate from a CA made up by the test (rcgen) relays to the simulator,
//! and the daemon is pointed at it with `AWS_ENDPOINT_URL=https://127.0.0.1:PORT`.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::{Exporter, Metrics, Sim, repo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A certificate authority made up for the test, and a server certificate for 127.0.0.1
/// signed by it.
struct Pki {
    ca_pem: String,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

fn made_up_ca(name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} inspection CA"));
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("CA certificate");
    let server_key = KeyPair::generate().expect("server key");
    let server = CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("server params")
        .signed_by(&server_key, &ca)
        .expect("server certificate");
    Pki {
        ca_pem: ca.pem(),
        server_chain: vec![server.der().clone()],
        server_key: server_key.serialize_der(),
    }
}

/// An HTTPS front on 127.0.0.1 that terminates TLS with `pki`'s server certificate and relays
/// the plain bytes to `upstream`.
fn https_front(pki: &Pki, upstream: SocketAddr) -> SocketAddr {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.server_key.clone()));
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("TLS versions")
    .with_no_client_auth()
    .with_single_cert(pki.server_chain.clone(), key)
    .expect("server TLS config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind front");
    let addr = listener.local_addr().expect("front addr");
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    if let Ok(mut up) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                    }
                });
            }
        });
    });
    addr
}

/// The demo's healthy target alone; its background probes are rare, `/probe` does the work.
fn healthy_only_config(dir: &Path) -> PathBuf {
    let config = r#"
[probe]
interval = "30m"
timeout = "5s"
concurrency = 2

[[sources]]
name = "platform"
profile = "demo-platform"
expected_account = "111111111111"

[[targets]]
name = "healthy-claude"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockProbeRole"
external_id = "demo-external-id"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
"#;
    let path = dir.join("healthy.toml");
    std::fs::write(&path, config).expect("write config");
    path
}

/// The demo's AWS config file with `ca_bundle` set in the platform profile.
fn aws_config_with_ca_bundle(dir: &Path, bundle: &Path) -> PathBuf {
    let demo = std::fs::read_to_string(repo("config/demo/aws-config")).expect("demo aws-config");
    let text = demo.replace(
        "[profile demo-platform]\n",
        &format!(
            "[profile demo-platform]\nca_bundle = {}\n",
            bundle.display()
        ),
    );
    assert_ne!(text, demo, "the demo profile was not found");
    std::fs::create_dir_all(dir).expect("mkdir");
    let path = dir.join("aws-config");
    std::fs::write(&path, text).expect("write aws-config");
    path
}

/// Probes healthy-claude now through the daemon started with `aws_config` and `env`.
fn probe(dir: &Path, aws_config: &Path, endpoint: &str, env: &[(&str, &str)]) -> (Metrics, String) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let exporter = Exporter::start_with(dir, &healthy_only_config(dir), aws_config, endpoint, &env);
    let (status, body) = exporter.get("/probe?target=healthy-claude");
    assert_eq!(status, 200, "{body}");
    (Metrics::parse(&body), exporter.proc.log_text())
}

fn layer(m: &Metrics, layer: &str) -> Option<f64> {
    m.value("bedrock_access_layer_success", &[("layer", layer)])
}

fn refused_by_tls(m: &Metrics) -> bool {
    layer(m, "credentials") == Some(0.0)
        && m.value(
            "bedrock_access_failure_info",
            &[("layer", "credentials"), ("reason", "network_error")],
        ) == Some(1.0)
}

#[test]
fn a_private_ca_is_trusted_when_aws_ca_bundle_or_the_profile_names_it_and_only_then() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_demo(dir.path());
    let inspection = made_up_ca("corporate");
    let front = https_front(&inspection, sim.addr);
    let endpoint = format!("https://{front}");
    let right = dir.path().join("corporate-ca.pem");
    std::fs::write(&right, &inspection.ca_pem).expect("write CA");
    let wrong = dir.path().join("other-ca.pem");
    std::fs::write(&wrong, made_up_ca("other").ca_pem).expect("write other CA");
    let demo_aws_config = repo("config/demo/aws-config");

    // AWS_CA_BUNDLE names the CA: every layer passes over HTTPS.
    let (m, log) = probe(
        &dir.path().join("env"),
        &demo_aws_config,
        &endpoint,
        &[("AWS_CA_BUNDLE", &right.display().to_string())],
    );
    for l in ["credentials", "assume_role", "model_access", "invoke"] {
        assert_eq!(
            layer(&m, l),
            Some(1.0),
            "{l} with AWS_CA_BUNDLE\n{}\n{log}",
            m.text
        );
    }

    // The profile's ca_bundle names it: the same.
    let with_profile_bundle = aws_config_with_ca_bundle(&dir.path().join("profile"), &right);
    let (m, log) = probe(
        &dir.path().join("profile"),
        &with_profile_bundle,
        &endpoint,
        &[("AWS_CA_BUNDLE", "")],
    );
    for l in ["credentials", "assume_role", "model_access", "invoke"] {
        assert_eq!(
            layer(&m, l),
            Some(1.0),
            "{l} with the profile's ca_bundle\n{}\n{log}",
            m.text
        );
    }

    // AWS_CA_BUNDLE wins over the profile, as in the other SDKs: naming another CA, the
    // endpoint's certificate is refused, and the probe says network_error.
    let (m, log) = probe(
        &dir.path().join("precedence"),
        &with_profile_bundle,
        &endpoint,
        &[("AWS_CA_BUNDLE", &wrong.display().to_string())],
    );
    assert!(
        refused_by_tls(&m),
        "another CA in AWS_CA_BUNDLE\n{}\n{log}",
        m.text
    );

    // Without any bundle only the system roots apply: refused too.
    let (m, log) = probe(
        &dir.path().join("none"),
        &demo_aws_config,
        &endpoint,
        &[("AWS_CA_BUNDLE", "")],
    );
    assert!(refused_by_tls(&m), "no CA bundle\n{}\n{log}", m.text);
    assert!(
        !log.contains("BEGIN CERTIFICATE"),
        "certificates are not logged: {log}"
    );
}
