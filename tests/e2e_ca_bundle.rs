//! End to end: behind a TLS-inspecting proxy or a private VPC endpoint, AWS is reached over a
//! certificate that only a private CA vouches for. Operators name that CA the way every AWS
//! SDK and the CLI understand: `AWS_CA_BUNDLE`, or `ca_bundle` in the profile, or they add it
//! to the system's trust roots. Here the simulator serves HTTPS (`simulate --tls`) with a
//! certificate from a CA it made up at start, and the daemon is pointed at it with
//! `AWS_ENDPOINT_URL=https://127.0.0.1:PORT`; the simulator counts the handshakes it refused.

mod common;

use std::path::{Path, PathBuf};

use common::{Exporter, Metrics, Sim, repo};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

/// A certificate authority made up by the test, which vouches for nothing the daemon talks to.
fn another_ca() -> String {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "other inspection CA");
    CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key"))
        .expect("CA certificate")
        .pem()
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

/// TLS handshakes on the simulator's first listener that the client refused (it sent an
/// alert: it does not trust the certificate), read on its second listener.
fn refused_handshakes(sim: &Sim) -> f64 {
    sim.counters(1)
        .value(
            "aws_simulator_tls_handshakes_total",
            &[("listener", &sim.addr.to_string()), ("result", "refused")],
        )
        .unwrap_or(0.0)
}

#[test]
fn a_private_ca_is_trusted_when_aws_ca_bundle_or_the_profile_names_it_and_only_then() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start_tls(dir.path(), &repo("config/demo/scenario.toml"), 2);
    let endpoint = sim.url();
    let right = sim.ca_file.clone().expect("the simulator's CA");
    let wrong = dir.path().join("other-ca.pem");
    std::fs::write(&wrong, another_ca()).expect("write other CA");
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
    // The system's trust roots hold it (SSL_CERT_FILE replaces the platform's store): the
    // same, without any bundle.
    let (m, log) = probe(
        &dir.path().join("system"),
        &demo_aws_config,
        &endpoint,
        &[
            ("AWS_CA_BUNDLE", ""),
            ("SSL_CERT_FILE", &right.display().to_string()),
        ],
    );
    for l in ["credentials", "assume_role", "model_access", "invoke"] {
        assert_eq!(
            layer(&m, l),
            Some(1.0),
            "{l} with the CA in the system roots\n{}\n{log}",
            m.text
        );
    }
    assert_eq!(refused_handshakes(&sim), 0.0, "no certificate refused yet");

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
    let refused = refused_handshakes(&sim);
    assert!(refused >= 1.0, "the simulator saw no refused certificate");

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
    assert!(refused_handshakes(&sim) > refused);
}
