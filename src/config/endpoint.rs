//! `[probe_endpoint]`: the settings of `GET /probe` (on-demand probes), read and bounded.

use config::{Map, Value};

use super::ctx::Ctx;
use super::limits::MAX_PROBE_IN_FLIGHT;
use super::locate::join;
use super::values::{as_table, get_uint};

/// `[probe_endpoint]`: how `GET /probe` (on-demand probes) is bounded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeEndpoint {
    /// `/probe` requests answered at once; more are refused with 429 and `Retry-After`.
    pub max_in_flight: usize,
}

impl Default for ProbeEndpoint {
    fn default() -> Self {
        ProbeEndpoint { max_in_flight: 8 }
    }
}

const KEYS: [&str; 1] = ["max_in_flight"];

/// Reads `[probe_endpoint]` (every key optional), reporting each bad value.
pub fn probe_endpoint(ctx: &mut Ctx<'_>, root: &Map<String, Value>) -> ProbeEndpoint {
    let mut out = ProbeEndpoint::default();
    let Some(v) = root.get("probe_endpoint") else {
        return out;
    };
    let Some(t) = as_table(ctx, v, "probe_endpoint", "a table ([probe_endpoint])") else {
        return out;
    };
    ctx.unknown_keys(t, "probe_endpoint", None, &KEYS);
    if let Some(v) = t.get("max_in_flight") {
        let path = join("probe_endpoint", "max_in_flight");
        match get_uint(ctx, v, &path, None) {
            Some(0) => ctx.report(
                &path,
                None,
                "must be at least 1 (0 would refuse every /probe)",
            ),
            Some(n) if n > MAX_PROBE_IN_FLIGHT => ctx.report(
                &path,
                None,
                format!("{n} is above the maximum of {MAX_PROBE_IN_FLIGHT} requests at once"),
            ),
            Some(n) => out.max_in_flight = usize::try_from(n).unwrap_or(1),
            None => {}
        }
    }
    out
}
