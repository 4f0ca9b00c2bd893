//! Service account tokens as an OIDC issuer (a Kubernetes cluster) signs them and AWS checks
//! them: the issuer's RSA key pair, RS256 signing of [`Claims`], reading a token's claims
//! before its issuer is known ([`peek`]) and verifying its signature ([`SigningKey::verify`]).
//!
//! What a token must say (issuer, audience, subject, expiry) is decided by its readers:
//! `web_identity` (STS AssumeRoleWithWebIdentity) and `pod_identity` (the EKS Pod Identity
//! Agent), each with AWS's own texts.

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// The claims of a projected service account token (what the kubelet asks the API server for).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub sub: String,
    /// A string or an array in the token; always a list here.
    #[serde(with = "one_or_many")]
    pub aud: Vec<String>,
    pub exp: i64,
    #[serde(default)]
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// `{"namespace": …, "serviceaccount": {"name": …}}`, as Kubernetes adds it.
    #[serde(
        rename = "kubernetes.io",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub kubernetes: Option<serde_json::Value>,
}

mod one_or_many {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }

    pub fn serialize<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
        v.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        Ok(match OneOrMany::deserialize(d)? {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        })
    }
}

/// Why a token could not be read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Not three dot-separated parts.
    Segments,
    /// A part is not base64url.
    Base64,
    /// The header or the claims are not the JSON of a JWT.
    Json,
}

/// An issuer's RSA key pair: it signs tokens (the tests' and the demo's minting) and its public
/// half verifies them (what the issuer publishes as its JWKS).
#[derive(Clone)]
pub struct SigningKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(RS256, private half not shown)")
    }
}

impl SigningKey {
    /// An RSA private key in PEM (`BEGIN PRIVATE KEY`, PKCS#8, or `BEGIN RSA PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<SigningKey, String> {
        let encoding = EncodingKey::from_rsa_pem(pem.trim().as_bytes())
            .map_err(|e| format!("not an RSA private key in PEM: {e}"))?;
        let jwk = Jwk::from_encoding_key(&encoding, Algorithm::RS256)
            .map_err(|e| format!("not a usable RSA key: {e}"))?;
        let decoding =
            DecodingKey::from_jwk(&jwk).map_err(|e| format!("not a usable RSA key: {e}"))?;
        let key = SigningKey { encoding, decoding };
        // A key that cannot sign (e.g. too short for aws-lc) is refused when the scenario loads,
        // not at the first token.
        let probe = Claims {
            iss: "https://issuer.invalid".into(),
            sub: "probe".into(),
            aud: vec!["probe".into()],
            exp: 0,
            iat: 0,
            nbf: None,
            kubernetes: None,
        };
        let token = key.sign(&probe)?;
        key.verify(&token)
            .ok_or_else(|| "the key's public half does not verify its own signature".to_string())?;
        Ok(key)
    }

    /// The token of `claims`, signed RS256.
    pub fn sign(&self, claims: &Claims) -> Result<String, String> {
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &self.encoding)
            .map_err(|e| format!("signing failed: {e}"))
    }

    /// The claims of `token` when this key signed it (RS256 only), else `None`. Time claims,
    /// audience and issuer are not checked here: their readers answer each with its own text.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.validate_nbf = false;
        v.validate_aud = false;
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &v)
            .ok()
            .map(|data| data.claims)
    }
}

/// The claims of `token` without verifying anything: what a verifier reads first to find the
/// issuer whose key checks the signature.
pub fn peek(token: &str) -> Result<Claims, Malformed> {
    use jsonwebtoken::errors::ErrorKind;
    if token.split('.').count() != 3 {
        return Err(Malformed::Segments);
    }
    match jsonwebtoken::dangerous::insecure_decode::<Claims>(token) {
        Ok(data) => Ok(data.claims),
        Err(e) => Err(match e.kind() {
            ErrorKind::Base64(_) => Malformed::Base64,
            ErrorKind::InvalidToken => Malformed::Segments,
            _ => Malformed::Json,
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A 2048-bit RSA key made for these tests only (`openssl genpkey -algorithm RSA`).
    pub(crate) const TEST_KEY: &str = include_str!("../../tests/fixtures/oidc/cluster-a.pem");
    /// A second one: another cluster's key.
    pub(crate) const OTHER_KEY: &str = include_str!("../../tests/fixtures/oidc/cluster-b.pem");

    fn key(pem: &str) -> SigningKey {
        match SigningKey::from_pem(pem) {
            Ok(k) => k,
            Err(e) => panic!("{e}"),
        }
    }

    fn claims() -> Claims {
        Claims {
            iss: "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLE".into(),
            sub: "system:serviceaccount:monitoring:exporter".into(),
            aud: vec!["sts.amazonaws.com".into()],
            exp: 2_000_000_000,
            iat: 1_900_000_000,
            nbf: Some(1_900_000_000),
            kubernetes: Some(serde_json::json!({"namespace": "monitoring"})),
        }
    }

    #[test]
    fn a_token_verifies_with_its_issuer_s_key_and_with_no_other() {
        let (a, b) = (key(TEST_KEY), key(OTHER_KEY));
        let token = match a.sign(&claims()) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(a.verify(&token), Some(claims()));
        assert_eq!(b.verify(&token), None);
        assert_eq!(peek(&token), Ok(claims()));
        // Another token's claims under this token's signature: readable, but not signed by anyone.
        let other = match a.sign(&Claims {
            sub: "system:serviceaccount:kube-system:admin".into(),
            ..claims()
        }) {
            Ok(t) => t,
            Err(e) => panic!("{e}"),
        };
        let (p, o): (Vec<&str>, Vec<&str>) =
            (token.split('.').collect(), other.split('.').collect());
        let forged = format!("{}.{}.{}", p[0], o[1], p[2]);
        assert!(peek(&forged).is_ok());
        assert_eq!(a.verify(&forged), None);
    }

    #[test]
    fn garbage_is_malformed_in_the_way_it_is_broken() {
        assert_eq!(peek("not-a-jwt"), Err(Malformed::Segments));
        assert_eq!(peek("a.b"), Err(Malformed::Segments));
        assert_eq!(peek("!!.??.sig"), Err(Malformed::Base64));
        // {"alg":"RS256"} . "not json"
        assert_eq!(
            peek("eyJhbGciOiJSUzI1NiJ9.bm90IGpzb24.sig"),
            Err(Malformed::Json)
        );
        // A string audience is read as a list of one.
        let one = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJpIiwic3ViIjoicyIsImF1ZCI6ImEiLCJleHAiOjF9.sig";
        assert_eq!(peek(one).map(|c| c.aud), Ok(vec!["a".to_string()]));
    }

    #[test]
    fn a_key_that_is_not_an_rsa_private_key_is_refused_with_the_reason() {
        for bad in [
            "",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        ] {
            match SigningKey::from_pem(bad) {
                Ok(_) => panic!("{bad:?} must not load"),
                Err(e) => assert!(e.contains("RSA"), "{e}"),
            }
        }
    }
}
