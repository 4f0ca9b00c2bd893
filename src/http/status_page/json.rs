//! `/api/v1/status`: the [`StatusView`] as JSON (shape documented in the README, section
//! "Status API"; fields are only ever added).

use std::time::SystemTime;

use serde_json::{Value, json};

use super::{Row, RowState, StatusView, rfc3339};
use crate::config::Expect;
use crate::fix::one_line;
use crate::layer_view::LayerView;

fn age_seconds(now: SystemTime, t: SystemTime) -> f64 {
    now.duration_since(t)
        .map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0)
        .unwrap_or(0.0)
}

fn expect_str(e: Expect) -> &'static str {
    match e {
        Expect::Allow => "allow",
        Expect::Deny => "deny",
    }
}

fn layer(c: &LayerView) -> Value {
    let f = c.failure.as_ref();
    json!({
        "layer": c.layer.as_str(),
        "state": c.state.as_str(),
        "call": c.call,
        "duration_seconds": c.duration.map(|d| d.as_secs_f64()),
        "reason": f.map(|f| f.reason.as_str()),
        "class": f.map(|f| f.reason.class().as_str()),
        "cause": f.and_then(|f| f.reason.cause()).map(|c| c.as_str()),
        "error_code": f.and_then(|f| f.error_code.clone()),
        "http_status": f.and_then(|f| f.http_status),
        "request_id": f.and_then(|f| f.request_id.clone()),
        "message": f.map(|f| one_line(&f.message)),
        "fix": f.map(|f| f.reason.fix()),
    })
}

fn tuple(r: &Row, now: SystemTime) -> Value {
    let layers: Vec<Value> = r.cells.iter().map(layer).collect();
    json!({
        "target": r.target,
        "account_id": r.account_id,
        "role_name": r.role_name,
        "aws_region": r.aws_region,
        "model_id": r.model_id,
        "expect": expect_str(r.expect),
        "state": r.state.as_str(),
        "success": match r.state {
            RowState::Pending => None,
            RowState::Failing => Some(false),
            RowState::Ok | RowState::DeniedAsExpected => Some(true),
        },
        "probed_at": r.probed_at.map(rfc3339),
        "age_seconds": r.probed_at.map(|t| age_seconds(now, t)),
        "last_success_at": r.last_success.map(rfc3339),
        "failed_layer": r.reason.map(|(l, _)| l.as_str()),
        "reason": r.reason.map(|(_, x)| x.as_str()),
        "class": r.reason.map(|(_, x)| x.class().as_str()),
        "fix": r.fix,
        "debug_url": r.debug_url,
        "layers": layers,
    })
}

/// `/api/v1/status`.
pub fn render_json(view: &StatusView) -> Value {
    let now = view.generated_at;
    let s = &view.summary;
    let tuples: Vec<Value> = view.rows.iter().map(|r| tuple(r, now)).collect();
    json!({
        "generated_at": rfc3339(now),
        "configured": view.configured,
        "shard": { "index": view.shard.index, "count": view.shard.count },
        "summary": {
            "tuples": s.tuples,
            "ok": s.ok,
            "denied_as_expected": s.denied_as_expected,
            "failing": s.failing,
            "pending": s.pending,
            "failing_by_class": {
                "access": s.failing_access,
                "configuration": s.failing_configuration,
                "transient": s.failing_transient,
                "unexpected_access": s.failing_unexpected_access,
            },
            "last_probe_at": s.last_probe_at.map(rfc3339),
            "last_probe_age_seconds": s.last_probe_at.map(|t| age_seconds(now, t)),
        },
        "tuples": tuples,
    })
}
