//! `basic_auth_users`: HTTP basic authentication against bcrypt hashes, as the exporter toolkit
//! does it. A bcrypt costs tens of milliseconds on purpose, so — like the toolkit — each verdict
//! is cached, and a scrape every 15 s costs one bcrypt in all, not one per scrape. The cache key
//! is a SHA-256 of a random per-process salt, the user, the hash and the password: no password is
//! kept in plaintext. At most one bcrypt runs at a time (on a blocking thread), so a flood of
//! wrong passwords costs at most one core. An unknown user is checked against a real hash of the
//! highest cost in use and refused, so it takes as long as a wrong password.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::file::User;

/// Verdicts kept (the toolkit keeps 100 as well).
const CACHE_SIZE: usize = 100;
/// Longest `Authorization` header looked at (bytes).
const MAX_HEADER: usize = 4096;

/// The users of the running web configuration.
#[derive(Debug, Default)]
pub struct Users {
    by_name: HashMap<String, String>,
    /// The hash an unknown user's password is checked against (the costliest configured).
    decoy: Option<String>,
}

impl Users {
    pub fn new(users: &[User]) -> Self {
        Users {
            by_name: users
                .iter()
                .map(|u| (u.name.clone(), u.hash.clone()))
                .collect(),
            decoy: users.iter().max_by_key(|u| u.cost).map(|u| u.hash.clone()),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }
}

/// Checks credentials; shared by every connection and kept across reloads (the cache key holds
/// the hash, so a changed password is checked afresh).
#[derive(Debug)]
pub struct Authenticator {
    salt: [u8; 32],
    cache: Mutex<Cache>,
    one_at_a_time: tokio::sync::Mutex<()>,
    bcrypt_runs: AtomicU64,
}

#[derive(Debug, Default)]
struct Cache {
    verdicts: HashMap<[u8; 32], bool>,
    order: VecDeque<[u8; 32]>,
}

impl Default for Authenticator {
    fn default() -> Self {
        Self::new()
    }
}

impl Authenticator {
    pub fn new() -> Self {
        Authenticator {
            salt: rand::random(),
            cache: Mutex::new(Cache::default()),
            one_at_a_time: tokio::sync::Mutex::new(()),
            bcrypt_runs: AtomicU64::new(0),
        }
    }

    /// How many bcrypt comparisons ran so far.
    pub fn bcrypt_runs(&self) -> u64 {
        self.bcrypt_runs.load(Ordering::Relaxed)
    }

    /// Whether `authorization` (the request's header) names a user of `users` with the right
    /// password.
    pub async fn check(&self, users: &Users, authorization: Option<&[u8]>) -> bool {
        let Some((user, password)) = authorization.and_then(basic_credentials) else {
            return false;
        };
        let known = users.by_name.get(&user);
        let Some(hash) = known.or(users.decoy.as_ref()) else {
            return false;
        };
        let key = self.key(&user, hash, &password);
        if let Some(ok) = self.cached(&key) {
            return ok && known.is_some();
        }
        let _turn = self.one_at_a_time.lock().await;
        // Another request may have settled it while this one waited.
        if let Some(ok) = self.cached(&key) {
            return ok && known.is_some();
        }
        self.bcrypt_runs.fetch_add(1, Ordering::Relaxed);
        let hash = hash.clone();
        let ok = tokio::task::spawn_blocking(move || {
            bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        self.remember(key, ok);
        ok && known.is_some()
    }

    fn key(&self, user: &str, hash: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.salt);
        for part in [user, hash, password] {
            h.update((part.len() as u64).to_be_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().into()
    }

    fn cached(&self, key: &[u8; 32]) -> Option<bool> {
        let cache = match self.cache.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        cache.verdicts.get(key).copied()
    }

    fn remember(&self, key: [u8; 32], ok: bool) {
        let mut cache = match self.cache.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        if cache.verdicts.insert(key, ok).is_none() {
            cache.order.push_back(key);
        }
        while cache.order.len() > CACHE_SIZE {
            if let Some(old) = cache.order.pop_front() {
                cache.verdicts.remove(&old);
            }
        }
    }
}

/// `Basic base64(user:password)` → (user, password).
fn basic_credentials(header: &[u8]) -> Option<(String, String)> {
    if header.len() > MAX_HEADER {
        return None;
    }
    let text = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = text.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(user: &str, password: &str) -> Vec<u8> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {b64}").into_bytes()
    }

    fn users() -> Users {
        let hash = bcrypt::hash("s3cret", 4).unwrap_or_default();
        Users::new(&[User {
            name: "prometheus".into(),
            hash,
            cost: 4,
        }])
    }

    #[tokio::test]
    async fn the_right_password_passes_once_bcrypt_has_said_so_then_from_the_cache() {
        let auth = Authenticator::new();
        let users = users();
        assert!(
            auth.check(&users, Some(&header("prometheus", "s3cret")))
                .await
        );
        assert_eq!(auth.bcrypt_runs(), 1);
        for _ in 0..20 {
            assert!(
                auth.check(&users, Some(&header("prometheus", "s3cret")))
                    .await
            );
        }
        assert_eq!(
            auth.bcrypt_runs(),
            1,
            "a scrape must not cost a bcrypt each time"
        );
    }

    #[tokio::test]
    async fn wrong_passwords_unknown_users_and_garbage_are_refused() {
        let auth = Authenticator::new();
        let users = users();
        assert!(
            !auth
                .check(&users, Some(&header("prometheus", "S3cret")))
                .await
        );
        assert!(!auth.check(&users, Some(&header("grafana", "s3cret"))).await);
        // The unknown user still cost a bcrypt (no timing difference to a wrong password).
        assert_eq!(auth.bcrypt_runs(), 2);
        // A cached refusal stays a refusal.
        assert!(!auth.check(&users, Some(&header("grafana", "s3cret"))).await);
        assert_eq!(auth.bcrypt_runs(), 2);
        for bad in [
            &b""[..],
            b"Basic",
            b"Bearer abc",
            b"Basic !!!",
            b"Basic cHJvbWV0aGV1cw==", // "prometheus", no colon
        ] {
            assert!(!auth.check(&users, Some(bad)).await, "{bad:?}");
        }
        assert!(!auth.check(&users, None).await);
        assert!(!auth.check(&Users::default(), Some(&header("a", "b"))).await);
    }

    #[test]
    fn the_cache_holds_digests_only_and_stays_bounded() {
        let auth = Authenticator::new();
        for i in 0..(CACHE_SIZE + 50) {
            auth.remember(auth.key("u", "h", &i.to_string()), false);
        }
        let cache = match auth.cache.lock() {
            Ok(c) => c,
            Err(p) => p.into_inner(),
        };
        assert_eq!(cache.verdicts.len(), CACHE_SIZE);
        assert_eq!(cache.order.len(), CACHE_SIZE);
        // Keys depend on the per-process salt: the same credentials give another key elsewhere.
        assert_ne!(
            Authenticator::new().key("u", "h", "p"),
            auth.key("u", "h", "p")
        );
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_the_password_may_hold_colons() {
        let b64 = base64::engine::general_purpose::STANDARD.encode("a:b:c");
        assert_eq!(
            basic_credentials(format!("basic {b64}").as_bytes()),
            Some(("a".into(), "b:c".into()))
        );
        assert_eq!(basic_credentials(&vec![b'x'; MAX_HEADER + 1]), None);
    }
}
