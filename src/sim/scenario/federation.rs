//! The `[[clusters]]`, `[[oidc_providers]]` and `[[pod_identity_associations]]` sections: where
//! Kubernetes workloads get their AWS credentials.
//!
//! A cluster is a service account token issuer: its issuer URL and the RSA key its tokens are
//! signed with (the tests and the demo mint tokens with it, `sim::tokens`). An IAM OIDC
//! provider registers an issuer in one account for AssumeRoleWithWebIdentity (IRSA), with the
//! client ids (audiences) it accepts. A Pod Identity association gives a cluster's namespace
//! and service account a role, as `aws eks create-pod-identity-association` does.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;
use sha2::Digest as _;

use super::accounts::Account;
use super::check::is_account_id;
use crate::sim::oidc::SigningKey;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClusterDef {
    name: String,
    /// The service account issuer, e.g. `https://oidc.eks.us-east-1.amazonaws.com/id/…`.
    issuer: String,
    /// The issuer's RSA private key, PEM.
    signing_key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OidcProviderDef {
    account: String,
    /// The issuer URL the provider registers (`https://…`).
    url: String,
    /// Audiences the provider accepts; default `["sts.amazonaws.com"]`, what EKS registers.
    #[serde(default = "sts_audience")]
    client_ids: Vec<String>,
}

fn sts_audience() -> Vec<String> {
    vec!["sts.amazonaws.com".to_owned()]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AssociationDef {
    cluster: String,
    namespace: String,
    service_account: String,
    role_arn: String,
}

/// A service account token issuer.
#[derive(Debug)]
pub struct Cluster {
    pub name: String,
    pub issuer: String,
    pub key: SigningKey,
}

/// An IAM OIDC identity provider of an account.
#[derive(Debug)]
pub struct OidcProvider {
    pub account: String,
    pub url: String,
    pub client_ids: Vec<String>,
}

impl OidcProvider {
    /// The issuer without its scheme: the provider ARN's resource and the prefix of its
    /// condition keys (`<host/path>:sub`, `<host/path>:aud`).
    pub fn host_path(&self) -> &str {
        host_path(&self.url)
    }

    /// `arn:aws:iam::<account>:oidc-provider/<host/path>`, the trust policy's `Federated`.
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:iam::{}:oidc-provider/{}",
            self.account,
            self.host_path()
        )
    }
}

/// `https://host/path/` → `host/path`.
fn host_path(url: &str) -> &str {
    url.strip_prefix("https://")
        .unwrap_or(url)
        .trim_end_matches('/')
}

/// An EKS Pod Identity association.
#[derive(Debug)]
pub struct PodIdentityAssociation {
    pub cluster: String,
    pub namespace: String,
    pub service_account: String,
    pub role_arn: String,
    /// `a-` and 17 characters, derived from the association's cluster, namespace and service
    /// account.
    pub id: String,
}

/// The three sections, compiled.
#[derive(Debug, Default)]
pub struct Federation {
    pub clusters: Vec<Cluster>,
    pub oidc_providers: Vec<OidcProvider>,
    pub associations: Vec<PodIdentityAssociation>,
}

impl Federation {
    pub fn cluster(&self, name: &str) -> Option<&Cluster> {
        self.clusters.iter().find(|c| c.name == name)
    }

    /// The cluster whose tokens carry `issuer` as `iss`.
    pub fn cluster_by_issuer(&self, issuer: &str) -> Option<&Cluster> {
        self.clusters
            .iter()
            .find(|c| host_path(&c.issuer) == host_path(issuer))
    }

    /// The IAM OIDC provider of `account` for tokens issued by `issuer`.
    pub fn provider(&self, account: &str, issuer: &str) -> Option<&OidcProvider> {
        self.oidc_providers
            .iter()
            .find(|p| p.account == account && p.host_path() == host_path(issuer))
    }

    /// The association of `namespace`/`service_account` in `cluster`.
    pub fn association(
        &self,
        cluster: &str,
        namespace: &str,
        service_account: &str,
    ) -> Option<&PodIdentityAssociation> {
        self.associations.iter().find(|a| {
            a.cluster == cluster && a.namespace == namespace && a.service_account == service_account
        })
    }
}

/// A Kubernetes object name (DNS-1123 label): what namespaces and service accounts are.
fn is_k8s_name(s: &str) -> bool {
    (1..=253).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_issuer_url(s: &str) -> bool {
    s.strip_prefix("https://").is_some_and(|rest| {
        !rest.is_empty() && !rest.starts_with('/') && !rest.contains(char::is_whitespace)
    })
}

/// Checks and compiles the three sections.
pub(super) fn compile(
    clusters: &[ClusterDef],
    providers: &[OidcProviderDef],
    associations: &[AssociationDef],
    accounts: &HashMap<String, Account>,
    problems: &mut Vec<String>,
) -> Federation {
    let clusters = compile_clusters(clusters, problems);
    let oidc_providers = compile_providers(providers, accounts, problems);
    let names: HashSet<&str> = clusters.iter().map(|c| c.name.as_str()).collect();
    let mut out = Vec::new();
    for (i, a) in associations.iter().enumerate() {
        let field = |f: &str| format!("pod_identity_associations[{i}].{f}");
        if !names.contains(a.cluster.as_str()) {
            problems.push(format!(
                "{}: cluster `{}` is not in [[clusters]]",
                field("cluster"),
                a.cluster
            ));
        }
        for (name, value) in [
            ("namespace", &a.namespace),
            ("service_account", &a.service_account),
        ] {
            if !is_k8s_name(value) {
                problems.push(format!(
                    "{}: `{value}` is not a Kubernetes name",
                    field(name)
                ));
            }
        }
        if !is_role_arn(&a.role_arn) {
            problems.push(format!(
                "{}: `{}` is not a role ARN (arn:aws:iam::<account>:role/<name>)",
                field("role_arn"),
                a.role_arn
            ));
        }
        if out.iter().any(|o: &PodIdentityAssociation| {
            o.cluster == a.cluster
                && o.namespace == a.namespace
                && o.service_account == a.service_account
        }) {
            problems.push(format!(
                "{}: {}/{} already has an association in cluster {}",
                field("service_account"),
                a.namespace,
                a.service_account,
                a.cluster
            ));
        }
        let seed = format!("{}/{}/{}", a.cluster, a.namespace, a.service_account);
        let digest = hex::encode(sha2::Sha256::digest(seed.as_bytes()));
        out.push(PodIdentityAssociation {
            cluster: a.cluster.clone(),
            namespace: a.namespace.clone(),
            service_account: a.service_account.clone(),
            role_arn: a.role_arn.clone(),
            id: format!("a-{}", digest.get(..17).unwrap_or_default()),
        });
    }
    Federation {
        clusters,
        oidc_providers,
        associations: out,
    }
}

fn is_role_arn(s: &str) -> bool {
    s.strip_prefix("arn:aws:iam::")
        .and_then(|r| r.split_once(":role/"))
        .is_some_and(|(acct, name)| is_account_id(acct) && !name.is_empty())
}

fn compile_clusters(defs: &[ClusterDef], problems: &mut Vec<String>) -> Vec<Cluster> {
    let mut out: Vec<Cluster> = Vec::new();
    for (i, c) in defs.iter().enumerate() {
        if c.name.is_empty() || out.iter().any(|o| o.name == c.name) {
            problems.push(format!(
                "clusters[{i}].name: `{}` is empty or used twice",
                c.name
            ));
        }
        if !is_issuer_url(&c.issuer) {
            problems.push(format!(
                "clusters[{i}].issuer: `{}` is not an https:// issuer URL",
                c.issuer
            ));
        } else if out
            .iter()
            .any(|o| host_path(&o.issuer) == host_path(&c.issuer))
        {
            problems.push(format!(
                "clusters[{i}].issuer: `{}` is another cluster's issuer",
                c.issuer
            ));
        }
        match SigningKey::from_pem(&c.signing_key) {
            Ok(key) => out.push(Cluster {
                name: c.name.clone(),
                issuer: c.issuer.clone(),
                key,
            }),
            Err(e) => problems.push(format!("clusters[{i}].signing_key: {e}")),
        }
    }
    out
}

fn compile_providers(
    defs: &[OidcProviderDef],
    accounts: &HashMap<String, Account>,
    problems: &mut Vec<String>,
) -> Vec<OidcProvider> {
    let mut out: Vec<OidcProvider> = Vec::new();
    for (i, p) in defs.iter().enumerate() {
        if !accounts.contains_key(&p.account) {
            problems.push(format!(
                "oidc_providers[{i}].account: account `{}` is not in [[accounts]]",
                p.account
            ));
        }
        if !is_issuer_url(&p.url) {
            problems.push(format!(
                "oidc_providers[{i}].url: `{}` is not an https:// issuer URL",
                p.url
            ));
        }
        if p.client_ids.is_empty() || p.client_ids.iter().any(String::is_empty) {
            problems.push(format!(
                "oidc_providers[{i}].client_ids: at least one non-empty audience is needed"
            ));
        }
        let provider = OidcProvider {
            account: p.account.clone(),
            url: p.url.clone(),
            client_ids: p.client_ids.clone(),
        };
        if out.iter().any(|o| o.arn() == provider.arn()) {
            problems.push(format!(
                "oidc_providers[{i}].url: {} is registered twice",
                provider.arn()
            ));
        }
        out.push(provider);
    }
    out
}
