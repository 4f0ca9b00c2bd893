//! Service account tokens as a cluster's kubelet projects them into a pod, minted with the
//! scenario's cluster keys: what the tests and rehearsals write into
//! `AWS_WEB_IDENTITY_TOKEN_FILE` (IRSA) and `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (EKS Pod
//! Identity). The simulator's handlers only verify tokens; nothing in them mints one.

use chrono::Utc;

use super::oidc::Claims;
use super::scenario::Scenario;

/// The audience EKS projects for IRSA tokens (and registers as the OIDC provider's client id).
pub const IRSA_AUDIENCE: &str = "sts.amazonaws.com";
/// The audience of the token EKS Pod Identity mounts (`eks-pod-identity-token`).
pub const POD_IDENTITY_AUDIENCE: &str = "pods.eks.amazonaws.com";

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    #[error("the scenario has no cluster `{0}`")]
    UnknownCluster(String),
    #[error("{0}")]
    Sign(String),
}

/// What to mint: the pod's namespace and service account, the audience, how long the token
/// lives, and optionally an issuer other than the signing cluster's (a forged token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountToken {
    pub namespace: String,
    pub service_account: String,
    pub audience: String,
    /// Seconds from now until `exp`; negative for a token that has already expired.
    pub expires_in: i64,
    pub issuer: Option<String>,
}

impl ServiceAccountToken {
    /// A token for `namespace`/`service_account` with `audience`, valid for a day (what EKS
    /// projects for IRSA and Pod Identity).
    pub fn new(namespace: &str, service_account: &str, audience: &str) -> ServiceAccountToken {
        ServiceAccountToken {
            namespace: namespace.to_owned(),
            service_account: service_account.to_owned(),
            audience: audience.to_owned(),
            expires_in: 86_400,
            issuer: None,
        }
    }

    /// The token expires `seconds` from now (negative: it expired that long ago).
    pub fn expires_in(mut self, seconds: i64) -> ServiceAccountToken {
        self.expires_in = seconds;
        self
    }

    /// The token claims `issuer` as its `iss`, whichever cluster signs it.
    pub fn claiming_issuer(mut self, issuer: &str) -> ServiceAccountToken {
        self.issuer = Some(issuer.to_owned());
        self
    }

    /// `system:serviceaccount:<namespace>:<service account>`.
    pub fn subject(&self) -> String {
        format!(
            "system:serviceaccount:{}:{}",
            self.namespace, self.service_account
        )
    }

    /// The claims as the API server writes them for a pod of this service account.
    fn claims(&self, issuer: &str) -> Claims {
        let now = Utc::now().timestamp();
        let exp = now + self.expires_in;
        let iat = exp.min(now) - 60;
        Claims {
            iss: self.issuer.clone().unwrap_or_else(|| issuer.to_owned()),
            sub: self.subject(),
            aud: vec![self.audience.clone()],
            exp,
            iat,
            nbf: Some(iat),
            kubernetes: Some(serde_json::json!({
                "namespace": self.namespace,
                "serviceaccount": {"name": self.service_account},
                "pod": {"name": format!("{}-0", self.service_account)},
            })),
        }
    }

    /// The token, signed with the key of `cluster` of `scenario`.
    pub fn mint(&self, scenario: &Scenario, cluster: &str) -> Result<String, MintError> {
        let Some(c) = scenario.federation.cluster(cluster) else {
            return Err(MintError::UnknownCluster(cluster.to_owned()));
        };
        c.key.sign(&self.claims(&c.issuer)).map_err(MintError::Sign)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::oidc;

    fn scenario() -> Scenario {
        let text = format!(
            "[[clusters]]\nname = \"probe\"\nissuer = \"https://oidc.example/id/A\"\nsigning_key = '''\n{}'''\n",
            oidc::tests::TEST_KEY
        );
        match Scenario::parse(&text, "t") {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_minted_token_says_what_the_kubelet_s_token_says_and_verifies_with_its_cluster() {
        let sc = scenario();
        let t = ServiceAccountToken::new("monitoring", "exporter", IRSA_AUDIENCE);
        let token = match t.mint(&sc, "probe") {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        let Some(cluster) = sc.federation.cluster("probe") else {
            panic!("cluster")
        };
        let Some(claims) = cluster.key.verify(&token) else {
            panic!("the cluster's key must verify its token")
        };
        assert_eq!(claims.iss, "https://oidc.example/id/A");
        assert_eq!(claims.sub, "system:serviceaccount:monitoring:exporter");
        assert_eq!(claims.aud, vec![IRSA_AUDIENCE.to_string()]);
        let now = Utc::now().timestamp();
        assert!(claims.exp > now + 86_000 && claims.iat <= now);
        let expired = t.clone().expires_in(-10).mint(&sc, "probe");
        let expired = expired.ok().and_then(|t| oidc::peek(&t).ok());
        assert!(expired.is_some_and(|c| c.exp < now && c.iat < c.exp));
        assert_eq!(
            t.mint(&sc, "nope"),
            Err(MintError::UnknownCluster("nope".into()))
        );
    }
}
