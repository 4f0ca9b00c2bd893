//! The open-file limit. Every connection, every AWS call and every file costs a descriptor, and
//! systemd's default soft limit is 1,024; the daemon raises its soft limit to the hard limit at
//! start (allowed without privileges; `prlimit64` is in systemd's `@default` set) and sizes the
//! default connection cap from what it got, so connections alone can never exhaust it.

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

/// Soft limit used when the hard limit is unlimited (the kernel's usual `nr_open`).
const UNLIMITED_TARGET: u64 = 1 << 20;
/// The default connection cap never exceeds this.
const MAX_DEFAULT_CONNECTIONS: u64 = 1024;

/// The soft limit before and after [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Raised {
    pub before: Option<u64>,
    pub after: Option<u64>,
}

/// The current soft limit on open files (`None`: unlimited).
pub fn soft_limit() -> Option<u64> {
    getrlimit(Resource::Nofile).current
}

/// Raises the soft limit on open files to the hard limit.
pub fn raise() -> Result<Raised, std::io::Error> {
    let Rlimit { current, maximum } = getrlimit(Resource::Nofile);
    let target = maximum.unwrap_or(UNLIMITED_TARGET);
    if current.is_none_or(|c| c >= target) {
        return Ok(Raised {
            before: current,
            after: current,
        });
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum,
        },
    )?;
    Ok(Raised {
        before: current,
        after: soft_limit(),
    })
}

/// The default cap on open connections for a soft limit: half the descriptors, the rest left to
/// the probes (one per AWS connection), files and the runtime; at least 16, at most 1,024.
pub fn default_max_connections(soft: Option<u64>) -> usize {
    let n = soft.map_or(MAX_DEFAULT_CONNECTIONS, |s| {
        (s / 2).clamp(16, MAX_DEFAULT_CONNECTIONS)
    });
    usize::try_from(n).unwrap_or(512)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_the_descriptors_go_to_connections_within_bounds() {
        assert_eq!(default_max_connections(Some(1024)), 512);
        assert_eq!(default_max_connections(Some(8192)), 1024);
        assert_eq!(default_max_connections(Some(20)), 16);
        assert_eq!(default_max_connections(None), 1024);
    }

    #[test]
    fn raising_reaches_the_hard_limit() {
        let Ok(r) = raise() else {
            return; // a sandbox may forbid it; the daemon then logs and goes on
        };
        let hard = getrlimit(Resource::Nofile).maximum;
        assert_eq!(r.after, hard.or(r.after));
        assert!(r.after >= r.before || r.after.is_none());
    }
}
