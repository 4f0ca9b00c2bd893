//! The exporter in a Kubernetes pod, end to end: the real binary, unchanged, with the SDK's own
//! credential providers and only the environment EKS gives a pod — IRSA
//! (`AWS_WEB_IDENTITY_TOKEN_FILE`, `AWS_ROLE_ARN`, `AWS_ROLE_SESSION_NAME`) or EKS Pod Identity
//! (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`) — against the
//! simulator (`tests/fixtures/k8s/scenario.toml`), whose cluster key signs the tokens written
//! into the token files, as the kubelet projects them.
//!
//! What an operator sees on `/metrics` and in the status API: the probe through, or the
//! `credentials` layer failing with its reason and a fix that names what to check (the service
//! account's annotation, the trust policy's `sub` and `aud`, the token file, the Pod Identity
//! association); and a token file the kubelet rotates being read again. The token never shows
//! in any output.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use bedrock_access_exporter::sim::Scenario;
use bedrock_access_exporter::sim::tokens::{
    IRSA_AUDIENCE, POD_IDENTITY_AUDIENCE, ServiceAccountToken,
};
use common::{BIN, Exporter, Metrics, Sim, repo, tail};

const SCENARIO: &str = "tests/fixtures/k8s/scenario.toml";
const IRSA_ROLE: &str = "arn:aws:iam::111111111111:role/ExporterIrsa";
const NS: &str = "monitoring";
const SA: &str = "bedrock-access-exporter";
const LIMIT: Duration = Duration::from_secs(45);

const CONFIG: &str = r#"
[probe]
interval = "10s"
timeout = "8s"

# The default credential chain: what EKS sets in the pod's environment.
[[sources]]
name = "pod"
expected_account = "111111111111"

[[targets]]
name = "k8s"
source = "pod"
role_arn = "arn:aws:iam::222222222222:role/BedrockProbeRole"
external_id = "k8s-external-id"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
"#;

fn scenario() -> Scenario {
    let text = std::fs::read_to_string(repo(SCENARIO)).expect("the k8s scenario");
    Scenario::parse(&text, SCENARIO).expect("the k8s scenario loads")
}

fn mint(t: ServiceAccountToken, cluster: &str) -> String {
    t.mint(&scenario(), cluster).expect("a token")
}

/// Writes the token file as the kubelet does: a new file renamed over the old one.
fn project(path: &Path, token: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, token).expect("write token");
    std::fs::rename(&tmp, path).expect("swap token");
}

/// How the pod gets its credentials.
enum Identity {
    /// IRSA, with the role of the service account's annotation.
    Irsa { role_arn: &'static str },
    /// EKS Pod Identity, through the simulator's agent endpoint.
    PodIdentity,
}

/// A running exporter "pod", its token file and the environment EKS gave it.
struct Pod {
    exporter: Exporter,
    token_file: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
    endpoint: String,
}

impl Pod {
    fn start(dir: &Path, sim: &Sim, identity: Identity, token: &str) -> Pod {
        std::fs::create_dir_all(dir).expect("pod dir");
        let config = dir.join("config.toml");
        std::fs::write(&config, CONFIG).expect("config");
        let aws_config = dir.join("aws-config");
        std::fs::write(&aws_config, "[default]\nregion = us-east-1\n").expect("aws config");
        let token_file = dir.join("token");
        project(&token_file, token);
        let file = token_file.display().to_string();
        let env: Vec<(String, String)> = match identity {
            Identity::Irsa { role_arn } => vec![
                ("AWS_WEB_IDENTITY_TOKEN_FILE".into(), file),
                ("AWS_ROLE_ARN".into(), role_arn.into()),
                (
                    "AWS_ROLE_SESSION_NAME".into(),
                    "bedrock-access-exporter".into(),
                ),
            ],
            Identity::PodIdentity => vec![
                (
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI".into(),
                    format!("{}/v1/credentials", sim.url()),
                ),
                ("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE".into(), file),
            ],
        };
        let exporter = Exporter::start_with(dir, &config, &aws_config, &sim.url(), &env);
        Pod {
            exporter,
            token_file,
            dir: dir.to_path_buf(),
            env,
            endpoint: sim.url(),
        }
    }

    /// `diagnose --output=json` run in the pod (`kubectl exec … diagnose`): its one tuple.
    fn diagnose(&self) -> serde_json::Value {
        let mut cmd = std::process::Command::new(BIN);
        cmd.arg(format!(
            "--config.file={}",
            self.dir.join("config.toml").display()
        ))
        .args(["diagnose", "--output=json"]);
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k.starts_with("BEDROCK_EXPORTER") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_CONFIG_FILE", self.dir.join("aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.dir.join("empty-credentials"),
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        let out = cmd.output().expect("run diagnose");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&out.stderr)));
        v["tuples"][0].clone()
    }

    fn probed_ok(&self) -> Metrics {
        self.exporter.scrape_until(LIMIT, "the probe passes", |m| {
            m.value("bedrock_access_probe_success", &[("target", "k8s")]) == Some(1.0)
        })
    }

    fn failed_on_credentials(&self, reason: &str) -> Metrics {
        self.exporter
            .scrape_until(LIMIT, &format!("credentials fails with {reason}"), |m| {
                !m.find(
                    "bedrock_access_failure_info",
                    &[("layer", "credentials"), ("reason", reason)],
                )
                .is_empty()
            })
    }

    /// The status API's row of the tuple.
    fn row(&self) -> serde_json::Value {
        let (status, body) = self.exporter.get("/api/v1/status");
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("status JSON");
        v["tuples"][0].clone()
    }

    /// Every output of the exporter, to search for a secret.
    fn outputs(&self) -> Vec<(String, String)> {
        let mut out = vec![("log".to_string(), self.exporter.proc.log_text())];
        for path in [
            "/metrics",
            "/api/v1/status",
            "/",
            "/probe?target=k8s&debug=true",
        ] {
            out.push((path.to_string(), self.exporter.get(path).1));
        }
        out
    }

    fn assert_never_shows(&self, token: &str) {
        // The signature is the secret part (header and claims can be guessed).
        let signature = token.rsplit('.').next().unwrap_or(token);
        assert!(signature.len() > 20);
        for (name, text) in self.outputs() {
            assert!(
                !text.contains(signature),
                "the service account token shows in {name}"
            );
        }
    }
}

fn irsa() -> Identity {
    Identity::Irsa {
        role_arn: IRSA_ROLE,
    }
}

fn irsa_token() -> ServiceAccountToken {
    ServiceAccountToken::new(NS, SA, IRSA_AUDIENCE)
}

fn pod_identity_token(sa: &str) -> ServiceAccountToken {
    ServiceAccountToken::new(NS, sa, POD_IDENTITY_AUDIENCE)
}

fn assert_every_layer_passed(m: &Metrics) {
    for layer in ["credentials", "assume_role", "model_access", "invoke"] {
        assert_eq!(
            m.value(
                "bedrock_access_layer_success",
                &[("target", "k8s"), ("layer", layer)]
            ),
            Some(1.0),
            "{layer}:\n{}",
            m.text
        );
    }
    assert!(m.find("bedrock_access_failure_info", &[]).is_empty());
}

#[test]
fn an_irsa_pod_probes_bedrock_with_the_role_its_service_account_token_becomes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start(tmp.path(), &repo(SCENARIO));
    let token = mint(irsa_token(), "probe");
    let pod = Pod::start(&tmp.path().join("pod"), &sim, irsa(), &token);
    let m = pod.probed_ok();
    assert_every_layer_passed(&m);
    let row = pod.row();
    let call = row["layers"][0]["call"].as_str().unwrap_or_default();
    assert!(call.contains("credentials=web_identity"), "{call}");
    pod.assert_never_shows(&token);
}

/// One refused IRSA token: what the pod is given, and what the operator must see.
struct Refusal {
    story: &'static str,
    role_arn: &'static str,
    token: String,
    reason: &'static str,
    error_code: &'static str,
    fix_mentions: &'static [&'static str],
}

#[test]
fn every_refused_irsa_token_shows_its_reason_and_what_to_check() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start(tmp.path(), &repo(SCENARIO));
    let trust: &[&str] = &[
        "eks.amazonaws.com/role-arn",
        ":sub = system:serviceaccount:",
        ":aud = sts.amazonaws.com",
    ];
    let provider: &[&str] = &["AWS_WEB_IDENTITY_TOKEN_FILE", "IAM OIDC provider"];
    let refusals = [
        Refusal {
            story: "the token file holds no JWT",
            role_arn: IRSA_ROLE,
            token: "not-a-jwt".into(),
            reason: "invalid_credentials",
            error_code: "InvalidIdentityToken",
            fix_mentions: provider,
        },
        Refusal {
            story: "the cluster's issuer is not an IAM OIDC provider of the role's account",
            role_arn: IRSA_ROLE,
            token: mint(irsa_token(), "elsewhere"),
            reason: "invalid_credentials",
            error_code: "InvalidIdentityToken",
            fix_mentions: provider,
        },
        Refusal {
            story: "the token was projected for another audience",
            role_arn: IRSA_ROLE,
            token: mint(ServiceAccountToken::new(NS, SA, "vault"), "probe"),
            reason: "invalid_credentials",
            error_code: "InvalidIdentityToken",
            fix_mentions: provider,
        },
        Refusal {
            story: "the pod runs as another service account than the trust policy's sub",
            role_arn: IRSA_ROLE,
            token: mint(
                ServiceAccountToken::new("default", SA, IRSA_AUDIENCE),
                "probe",
            ),
            reason: "assume_role_denied",
            error_code: "AccessDenied",
            fix_mentions: trust,
        },
        Refusal {
            story: "the service account's annotation names a role that does not exist",
            role_arn: "arn:aws:iam::111111111111:role/ExporterIrsaTypo",
            token: mint(irsa_token(), "probe"),
            reason: "assume_role_denied",
            error_code: "AccessDenied",
            fix_mentions: trust,
        },
        Refusal {
            story: "the token has expired",
            role_arn: IRSA_ROLE,
            token: mint(irsa_token().expires_in(-60), "probe"),
            reason: "expired_credentials",
            error_code: "ExpiredTokenException",
            fix_mentions: &["AWS_WEB_IDENTITY_TOKEN_FILE has expired", "kubelet"],
        },
    ];
    // One pod per story, all at once (each probes within its first interval).
    let pods: Vec<Pod> = refusals
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let dir = tmp.path().join(format!("pod-{i}"));
            let identity = Identity::Irsa {
                role_arn: r.role_arn,
            };
            Pod::start(&dir, &sim, identity, &r.token)
        })
        .collect();
    for (r, pod) in refusals.iter().zip(&pods) {
        let m = pod.failed_on_credentials(r.reason);
        let info = m.find(
            "bedrock_access_failure_info",
            &[("layer", "credentials"), ("reason", r.reason)],
        );
        assert_eq!(info.len(), 1, "{}:\n{}", r.story, m.text);
        let labels = &info[0].labels;
        assert_eq!(
            labels.get("class").map(String::as_str),
            Some("access"),
            "{}",
            r.story
        );
        assert_eq!(
            labels.get("error_code").map(String::as_str),
            Some(r.error_code),
            "{}",
            r.story
        );
        // The gate held: nothing after credentials was attempted.
        assert_eq!(
            m.value("bedrock_access_probe_success", &[("target", "k8s")]),
            Some(0.0)
        );
        assert!(
            m.find("bedrock_access_layer_success", &[("layer", "assume_role")])
                .is_empty(),
            "{}",
            r.story
        );
        let row = pod.row();
        assert_eq!(row["failed_layer"], "credentials", "{}", r.story);
        let fix = row["fix"].as_str().unwrap_or_default();
        for needle in r.fix_mentions {
            assert!(
                fix.contains(needle),
                "{}: the fix must mention {needle:?}: {fix}",
                r.story
            );
        }
        if r.token.contains('.') {
            pod.assert_never_shows(&r.token);
        }
    }
}

#[test]
fn diagnose_in_an_irsa_pod_refused_for_its_service_account_prints_the_trust_policy_the_role_needs()
{
    let tmp = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start(tmp.path(), &repo(SCENARIO));
    let other_sa = ServiceAccountToken::new("default", SA, IRSA_AUDIENCE);
    let pod = Pod::start(
        &tmp.path().join("pod"),
        &sim,
        irsa(),
        &mint(other_sa, "probe"),
    );
    let t = pod.diagnose();
    let steps = t["steps"].as_array().cloned().unwrap_or_default();
    let boundary = steps
        .iter()
        .find(|s| s["step"] == "account_boundary")
        .cloned()
        .unwrap_or_default();
    assert_eq!(boundary["status"], "fail", "{t:#}");
    let fix = &boundary["fixes"][0];
    assert_eq!(fix["kind"], "trust_policy", "{boundary:#}");
    let policy = fix["policy"].to_string();
    for needle in [
        "sts:AssumeRoleWithWebIdentity",
        "oidc-provider/<OIDC_ISSUER>",
        "<OIDC_ISSUER>:sub",
        "system:serviceaccount:<NAMESPACE>:<SERVICE_ACCOUNT>",
    ] {
        assert!(policy.contains(needle), "{needle}: {policy}");
    }
    let layer_fix = t["layers"][0]["fix"].as_str().unwrap_or_default();
    assert!(
        layer_fix.contains("eks.amazonaws.com/role-arn"),
        "{layer_fix}"
    );
}

#[test]
fn an_irsa_pod_whose_token_expired_recovers_once_the_kubelet_rotates_the_file() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start(tmp.path(), &repo(SCENARIO));
    let expired = mint(irsa_token().expires_in(-60), "probe");
    let pod = Pod::start(&tmp.path().join("pod"), &sim, irsa(), &expired);
    pod.failed_on_credentials("expired_credentials");

    // The kubelet writes a fresh token; the SDK reads the file again at the next probe.
    let fresh = mint(irsa_token(), "probe");
    project(&pod.token_file, &fresh);
    let m = pod.probed_ok();
    assert_every_layer_passed(&m);
    assert_eq!(
        m.value(
            "bedrock_access_layer_failures_total",
            &[("layer", "credentials"), ("reason", "expired_credentials")]
        )
        .map(|v| v >= 1.0),
        Some(true),
        "the expired token's failure was counted:\n{}",
        m.text
    );
}

#[test]
fn a_pod_identity_pod_probes_bedrock_with_the_associated_role() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start(tmp.path(), &repo(SCENARIO));
    let token = mint(pod_identity_token(SA), "probe");
    let pod = Pod::start(&tmp.path().join("pod"), &sim, Identity::PodIdentity, &token);
    let m = pod.probed_ok();
    assert_every_layer_passed(&m);
    let row = pod.row();
    let call = row["layers"][0]["call"].as_str().unwrap_or_default();
    assert!(call.contains("credentials=container"), "{call}");
    pod.assert_never_shows(&token);
}

#[test]
fn a_pod_identity_pod_with_a_wrong_token_or_no_association_shows_why() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let sim = Sim::start(tmp.path(), &repo(SCENARIO));
    let refused: &[&str] = &[
        "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "pods.eks.amazonaws.com",
    ];
    let stories: [(&str, String, &str, &[&str]); 4] = [
        (
            "the token file holds no JWT",
            "not-a-jwt".into(),
            "invalid_credentials",
            refused,
        ),
        (
            "the IRSA token mounted instead of the Pod Identity one",
            mint(irsa_token(), "probe"),
            "invalid_credentials",
            refused,
        ),
        (
            "the association's role does not trust pods.eks.amazonaws.com",
            mint(pod_identity_token("untrusted"), "probe"),
            "invalid_credentials",
            refused,
        ),
        (
            "no association for the pod's service account",
            mint(pod_identity_token("grafana"), "probe"),
            "no_credentials",
            &["create-pod-identity-association"],
        ),
    ];
    let pods: Vec<Pod> = stories
        .iter()
        .enumerate()
        .map(|(i, (_, token, _, _))| {
            let dir = tmp.path().join(format!("pod-{i}"));
            Pod::start(&dir, &sim, Identity::PodIdentity, token)
        })
        .collect();
    for ((story, token, reason, mentions), pod) in stories.iter().zip(&pods) {
        let m = pod.failed_on_credentials(reason);
        let info = m.find(
            "bedrock_access_failure_info",
            &[("layer", "credentials"), ("reason", reason)],
        );
        assert_eq!(info.len(), 1, "{story}:\n{}", m.text);
        // The SDK keeps only the agent's status, no AWS code.
        assert_eq!(
            info[0].labels.get("error_code").map(String::as_str),
            Some(""),
            "{story}"
        );
        let row = pod.row();
        let fix = row["fix"].as_str().unwrap_or_default();
        for needle in *mentions {
            assert!(
                fix.contains(needle),
                "{story}: the fix must mention {needle:?}: {fix}"
            );
        }
        let message = row["layers"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("Non-success status from HTTP credential provider"),
            "{story}: {message}\n{}",
            tail(&pod.exporter.proc.log_text(), 20)
        );
        if token.contains('.') {
            pod.assert_never_shows(token);
        }
    }
}
