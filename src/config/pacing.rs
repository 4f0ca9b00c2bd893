//! `[limits]`: how fast the exporter may call AWS in one account, per service, across the whole
//! fleet of replicas (each replica paces at its share, see `probe::pacing`).
//!
//! The defaults stay well below AWS's documented quotas (sources in `docs/configuration.md`):
//! STS answers 600 requests per second per account and Region, the exporter's default is 100
//! per account over all Regions together; Bedrock's control-plane and runtime calls default to 10 per second
//! per account.

use config::{Map, Value, ValueKind};

use super::ctx::Ctx;
use super::locate::join;
use super::values::{as_table, get_bool, kind_name};

/// The pacing limits, per account and service, for the whole fleet.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// STS calls (GetCallerIdentity, AssumeRole) per second in one calling account.
    pub sts_per_second: f64,
    /// Bedrock calls (control plane and runtime) per second in one target account.
    pub bedrock_per_second: f64,
    /// Slow an account down when AWS throttles it (halve its rate), and recover gradually.
    pub adaptive: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            sts_per_second: 100.0,
            bedrock_per_second: 10.0,
            adaptive: true,
        }
    }
}

const KEYS: [&str; 3] = ["sts_per_second", "bedrock_per_second", "adaptive"];
/// The highest rate accepted (well above any AWS quota; a typo guard).
const MAX_RATE: f64 = 10_000.0;

/// Reads `[limits]`, reporting every problem; the defaults where a key is not written.
pub fn limits(ctx: &mut Ctx<'_>, root: &Map<String, Value>) -> Limits {
    let mut out = Limits::default();
    let Some(v) = root.get("limits") else {
        return out;
    };
    let Some(t) = as_table(ctx, v, "limits", "a table ([limits])") else {
        return out;
    };
    ctx.unknown_keys(t, "limits", None, &KEYS);
    if let Some(v) = t.get("sts_per_second")
        && let Some(r) = rate(ctx, v, "limits.sts_per_second")
    {
        out.sts_per_second = r;
    }
    if let Some(v) = t.get("bedrock_per_second")
        && let Some(r) = rate(ctx, v, "limits.bedrock_per_second")
    {
        out.bedrock_per_second = r;
    }
    if let Some(v) = t.get("adaptive")
        && let Some(b) = get_bool(ctx, v, &join("limits", "adaptive"), None)
    {
        out.adaptive = b;
    }
    out
}

fn rate(ctx: &mut Ctx<'_>, v: &Value, path: &str) -> Option<f64> {
    let r = match &v.kind {
        ValueKind::I64(n) => *n as f64,
        ValueKind::U64(n) => *n as f64,
        ValueKind::Float(f) => *f,
        ValueKind::String(s) => match s.trim().parse::<f64>() {
            Ok(f) => f,
            Err(_) => {
                ctx.report(
                    path,
                    None,
                    format!("{s:?} is not a number of calls per second"),
                );
                return None;
            }
        },
        other => {
            ctx.report(
                path,
                None,
                format!("expected calls per second, found {}", kind_name(other)),
            );
            return None;
        }
    };
    if !(r.is_finite() && r > 0.0 && r <= MAX_RATE) {
        ctx.report(
            path,
            None,
            format!("{r} is out of range: more than 0 and at most {MAX_RATE} calls per second"),
        );
        return None;
    }
    Some(r)
}
