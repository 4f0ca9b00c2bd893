//! Who is calling: long-term keys of users, and temporary sessions from AssumeRole.

use std::collections::HashMap;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use rand::Rng;
use sha2::{Digest, Sha256};

use super::policy::{Caller, Policy};
use super::scenario::Scenario;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    User {
        account: String,
        name: String,
    },
    Session {
        account: String,
        role: String,
        session: String,
    },
}

impl Principal {
    pub fn account(&self) -> &str {
        match self {
            Principal::User { account, .. } | Principal::Session { account, .. } => account,
        }
    }

    /// `arn:aws:iam::<acct>:user/<name>` or `arn:aws:sts::<acct>:assumed-role/<role>/<session>`.
    pub fn arn(&self) -> String {
        match self {
            Principal::User { account, name } => format!("arn:aws:iam::{account}:user/{name}"),
            Principal::Session {
                account,
                role,
                session,
            } => format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
        }
    }

    /// GetCallerIdentity's `UserId`.
    pub fn user_id(&self) -> String {
        match self {
            Principal::User { account, name } => unique_id("AIDA", &format!("{account}/{name}")),
            Principal::Session {
                account,
                role,
                session,
            } => format!("{}:{session}", role_id(account, role)),
        }
    }

    /// The principal as resource (trust) policies see it.
    pub fn as_caller(&self) -> Caller<'_> {
        let arns = match self {
            Principal::User { .. } => vec![self.arn()],
            Principal::Session { account, role, .. } => {
                vec![format!("arn:aws:iam::{account}:role/{role}"), self.arn()]
            }
        };
        Caller {
            account: self.account(),
            arns,
        }
    }

    /// Identity policies of the principal (a deleted role or user has none).
    pub fn policies<'s>(&self, sc: &'s Scenario) -> &'s [Policy] {
        match self {
            Principal::User { account, name } => sc
                .users
                .iter()
                .find(|u| &u.account == account && &u.name == name)
                .map_or(&[], |u| u.policies.as_slice()),
            Principal::Session { account, role, .. } => sc
                .roles
                .get(&(account.clone(), role.clone()))
                .map_or(&[], |r| r.policies.as_slice()),
        }
    }
}

/// Deterministic IAM-style unique id (`AIDA…`, `AROA…`): prefix + 17 base32-ish characters.
pub fn unique_id(prefix: &str, seed: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let digest = Sha256::digest(seed.as_bytes());
    let mut out = String::with_capacity(21);
    out.push_str(prefix);
    for b in digest.iter().take(17) {
        out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
    }
    out
}

pub fn role_id(account: &str, role: &str) -> String {
    unique_id("AROA", &format!("{account}/{role}"))
}

/// Temporary credentials issued by AssumeRole.
#[derive(Debug, Clone)]
pub struct Session {
    pub secret: String,
    pub token: String,
    pub principal: Principal,
    pub expires: DateTime<Utc>,
}

/// Issued sessions, keyed by their `ASIA…` access key id. Survives scenario reloads.
///
/// Expired sessions are pruned when the map doubles past its last pruned size; if more than
/// [`MAX_SESSIONS`] are live (a benchmark hammering AssumeRole), arbitrary ones are evicted and
/// their keys answer like unknown keys.
#[derive(Debug, Default)]
pub struct SessionStore {
    sessions: RwLock<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    map: HashMap<String, Session>,
    prune_at: usize,
}

/// Live sessions kept at most.
pub const MAX_SESSIONS: usize = 200_000;

fn random_string(len: usize, alphabet: &[u8]) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(alphabet[rng.random_range(0..alphabet.len())]))
        .collect()
}

impl SessionStore {
    /// Issues new credentials; returns (access key id, session).
    pub fn issue(&self, principal: Principal, expires: DateTime<Utc>) -> (String, Session) {
        const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let key = format!("ASIA{}", random_string(16, UPPER));
        let session = Session {
            secret: random_string(40, B64),
            token: format!("FwoGZXIvYXdzE{}", random_string(300, B64)),
            principal,
            expires,
        };
        let Ok(mut store) = self.sessions.write() else {
            return (key, session);
        };
        if store.map.len() >= store.prune_at.max(4096) {
            let now = Utc::now();
            store.map.retain(|_, s| s.expires > now);
            if store.map.len() >= MAX_SESSIONS {
                let excess = store.map.len() - MAX_SESSIONS / 2;
                let victims: Vec<String> = store.map.keys().take(excess).cloned().collect();
                for v in victims {
                    store.map.remove(&v);
                }
            }
            store.prune_at = store.map.len() * 2;
        }
        store.map.insert(key.clone(), session.clone());
        (key, session)
    }

    pub fn get(&self, key: &str) -> Option<Session> {
        self.sessions.read().ok()?.map.get(key).cloned()
    }

    /// Number of sessions held (live or not yet pruned).
    pub fn len(&self) -> usize {
        self.sessions.read().map_or(0, |s| s.map.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Makes every issued session expired (for tests and rehearsals of expiry).
    pub fn expire_all(&self) {
        if let Ok(mut store) = self.sessions.write() {
            let past = Utc::now() - chrono::Duration::seconds(1);
            for s in store.map.values_mut() {
                s.expires = past;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assumed_role_session_is_known_by_role_and_session_arn() {
        let p = Principal::Session {
            account: "222222222222".into(),
            role: "BedrockProbe".into(),
            session: "probe".into(),
        };
        assert_eq!(
            p.arn(),
            "arn:aws:sts::222222222222:assumed-role/BedrockProbe/probe"
        );
        let c = p.as_caller();
        assert!(
            c.arns
                .contains(&"arn:aws:iam::222222222222:role/BedrockProbe".to_owned())
        );
        assert!(p.user_id().starts_with("AROA"));
        assert!(p.user_id().ends_with(":probe"));
    }

    #[test]
    fn issued_sessions_are_distinct_and_can_be_expired() {
        let store = SessionStore::default();
        let p = Principal::User {
            account: "111111111111".into(),
            name: "u".into(),
        };
        let later = Utc::now() + chrono::Duration::hours(1);
        let (k1, s1) = store.issue(p.clone(), later);
        let (k2, s2) = store.issue(p, later);
        assert_ne!(k1, k2);
        assert_ne!(s1.token, s2.token);
        assert!(k1.starts_with("ASIA") && k1.len() == 20);
        assert_eq!(s1.secret.len(), 40);
        store.expire_all();
        assert!(store.get(&k1).is_some_and(|s| s.expires < Utc::now()));
    }

    #[test]
    fn expired_sessions_are_pruned_instead_of_piling_up() {
        let store = SessionStore::default();
        let p = Principal::User {
            account: "111111111111".into(),
            name: "u".into(),
        };
        let past = Utc::now() - chrono::Duration::seconds(5);
        for _ in 0..4096 {
            store.issue(p.clone(), past);
        }
        assert_eq!(store.len(), 4096);
        let (live, _) = store.issue(p, Utc::now() + chrono::Duration::hours(1));
        assert_eq!(store.len(), 1);
        assert!(store.get(&live).is_some());
    }
}
