//! `GET /probe?target=…[&account=…][&region=…][&model=…][&debug=true]`: probes one target's
//! tuples now (`account` picks one account of a many-account target)
//! (through [`crate::ondemand`], which bounds what that may cost) and answers their gauges, or
//! the plain-text trace. `HEAD /probe` probes nothing (405).
//!
//! The budget is the target's `timeout`, or, when Prometheus sends
//! `X-Prometheus-Scrape-Timeout-Seconds`, that less [`SCRAPE_TIMEOUT_OFFSET`] if it is shorter
//! (as blackbox_exporter does). A request beyond `[probe_endpoint] max_in_flight` gets 429 with
//! `Retry-After`. When a tuple's invoke result was reused, the answer says so in
//! [`REUSED_HEADER`] (and the trace, line by line).

use std::time::{Duration, SystemTime};

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use std::sync::Arc;
use tokio::time::Instant;

use super::{debug, exposition, text};
use crate::app::{App, Generation};
use crate::config::{Target, TupleKey};
use crate::metrics::{TupleMeta, TupleStore};
use crate::ondemand::{Job, TupleOutcome};
use crate::schedule::{ProbeFn, TIMEOUT_GUARD};

/// Taken off Prometheus' scrape timeout, so the answer arrives before the scrape gives up
/// (blackbox_exporter's `--timeout-offset` default).
pub const SCRAPE_TIMEOUT_OFFSET: Duration = Duration::from_millis(500);
/// The header Prometheus sends with its scrape timeout.
pub const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";
/// The answer's header that says how many tuples reused an invoke result, and from when.
pub const REUSED_HEADER: &str = "x-probe-invoke-reused";
/// `Retry-After` of a refused request, in seconds.
pub const RETRY_AFTER_SECONDS: u64 = 1;
/// How long a probe may overrun a scraper's budget before it is abandoned.
const SCRAPE_SLACK: Duration = Duration::from_millis(100);

/// Parsed `/probe` parameters.
#[derive(Debug, Default, PartialEq)]
pub struct ProbeParams {
    pub target: String,
    /// One account of a many-account target (or the account of a `role_arn` target).
    pub account: Option<String>,
    pub region: Option<String>,
    pub model: Option<String>,
    pub debug: bool,
}

/// Parses the query of `/probe`; the error is the text of a 400 answer.
pub fn parse_probe_query(query: Option<&str>) -> Result<ProbeParams, String> {
    let mut p = ProbeParams::default();
    let mut target = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let slot = match k.as_ref() {
            "target" => &mut target,
            "account" => &mut p.account,
            "region" => &mut p.region,
            "model" => &mut p.model,
            "debug" => {
                p.debug = match v.as_ref() {
                    "true" | "1" => true,
                    "false" | "0" | "" => false,
                    _ => return Err("parameter \"debug\" must be true or false\n".into()),
                };
                continue;
            }
            other => {
                return Err(format!(
                    "unknown parameter {other:?}; expected target, account, region, model, debug\n"
                ));
            }
        };
        if slot.is_some() {
            return Err(format!("parameter {:?} given twice\n", k.as_ref()));
        }
        *slot = Some(v.into_owned());
    }
    match target {
        Some(t) if !t.is_empty() => p.target = t,
        _ => return Err("missing parameter \"target\"\n".into()),
    }
    Ok(p)
}

/// The probes' budget and how long they may overrun it: the target's `timeout` (plus the
/// timeout guard), or the scraper's timeout less [`SCRAPE_TIMEOUT_OFFSET`] when shorter.
pub fn budget(headers: &HeaderMap, timeout: Duration) -> Result<(Duration, Duration), String> {
    let Some(v) = headers.get(SCRAPE_TIMEOUT_HEADER) else {
        return Ok((timeout, TIMEOUT_GUARD));
    };
    let seconds = v
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(|| {
            "header X-Prometheus-Scrape-Timeout-Seconds must be a number of seconds\n".to_string()
        })?;
    let max = seconds - SCRAPE_TIMEOUT_OFFSET.as_secs_f64();
    // As blackbox_exporter: a scrape timeout at or below the offset leaves the target's own.
    if max <= 0.0 {
        return Ok((timeout, TIMEOUT_GUARD));
    }
    match Duration::try_from_secs_f64(max) {
        Ok(d) if d < timeout => Ok((d, SCRAPE_SLACK)),
        _ => Ok((timeout, SCRAPE_SLACK)),
    }
}

/// `GET /probe`; every answer is counted by status.
pub async fn get<P: ProbeFn>(
    State(app): State<Arc<App<P>>>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let response = answer(&app, query.as_deref(), &headers).await;
    app.metrics.ondemand().request(response.status().as_u16());
    response
}

/// `HEAD /probe`: a probe is never run for a request that cannot read its answer.
pub async fn head<P: ProbeFn>(State(app): State<Arc<App<P>>>) -> Response {
    app.metrics
        .ondemand()
        .request(StatusCode::METHOD_NOT_ALLOWED.as_u16());
    let mut r = text(
        StatusCode::METHOD_NOT_ALLOWED,
        "HEAD does not probe; use GET /probe\n",
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET"));
    r
}

async fn answer<P: ProbeFn>(app: &App<P>, query: Option<&str>, headers: &HeaderMap) -> Response {
    let params = match parse_probe_query(query) {
        Ok(p) => p,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let Some(current) = app.current() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "no configuration loaded yet\n",
        );
    };
    let target = match selected(&current, &params) {
        Ok(t) => t,
        Err((status, why)) => return text(status, why),
    };
    let (budget, slack) = match budget(headers, target.settings.timeout) {
        Ok(b) => b,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let Some(global) = app.probe_permits() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "the exporter is stopping\n",
        );
    };
    let max = current.config.probe_endpoint.max_in_flight;
    let Some(_admitted) = app.ondemand.admit(max) else {
        return too_many(max);
    };
    let job = Job {
        prober: current.prober.as_ref(),
        config: current.config.as_ref(),
        target,
        keys: keys(target, &params),
        global,
        deadline: Instant::now() + budget,
        slack,
    };
    let outcomes = app.ondemand.probe(job).await;
    let mut response = if params.debug {
        text(
            StatusCode::OK,
            debug::trace(
                Some(current.config.as_ref()),
                target,
                &outcomes,
                budget + slack,
            ),
        )
    } else {
        exposition(gauges(target, &outcomes))
    };
    if let Some(v) = reused_header(&outcomes) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(REUSED_HEADER), v);
    }
    response
}

/// The target named by the request, with its account, region and model checked; else the
/// status and text of the answer.
fn selected<'a, P>(
    current: &'a Generation<P>,
    params: &ProbeParams,
) -> Result<&'a Target, (StatusCode, String)> {
    let Some(target) = current.config.target(&params.target) else {
        return Err((
            StatusCode::NOT_FOUND,
            format!(
                "unknown target {:?}: not in the configuration\n",
                params.target
            ),
        ));
    };
    if let Some(a) = &params.account
        && !target
            .members()
            .iter()
            .any(|m| m.role_account() == Some(a.as_str()))
    {
        return Err((
            StatusCode::BAD_REQUEST,
            format!("account {a:?} is not probed by target {:?}\n", target.name),
        ));
    }
    if let Some(r) = &params.region
        && !target.regions.contains(r)
    {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "region {r:?} is not configured for target {:?}\n",
                target.name
            ),
        ));
    }
    if let Some(m) = &params.model
        && !target.models.contains(m)
    {
        return Err((
            StatusCode::BAD_REQUEST,
            format!(
                "model {m:?} is not configured for target {:?}\n",
                target.name
            ),
        ));
    }
    Ok(target)
}

/// The tuples of `target` the request selects (of every account of a many-account target,
/// unless `account` picks one).
fn keys(target: &Target, params: &ProbeParams) -> Vec<TupleKey> {
    let mut keys = Vec::new();
    for member in target.members() {
        if params
            .account
            .as_ref()
            .is_some_and(|want| member.role_account() != Some(want.as_str()))
        {
            continue;
        }
        for r in &target.regions {
            if params.region.as_ref().is_some_and(|want| want != r) {
                continue;
            }
            for m in &target.models {
                if params.model.as_ref().is_some_and(|want| want != m) {
                    continue;
                }
                keys.push(TupleKey {
                    target: target.name.clone(),
                    account: member.tuple_account().to_string(),
                    aws_region: r.clone(),
                    model_id: m.clone(),
                });
            }
        }
    }
    keys
}

fn too_many(max: usize) -> Response {
    let mut r = text(
        StatusCode::TOO_MANY_REQUESTS,
        format!(
            "too many /probe requests in flight (at most {max} at once: [probe_endpoint] max_in_flight); retry after {RETRY_AFTER_SECONDS}s\n"
        ),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    r
}

/// The per-tuple gauges of the outcomes (a throw-away store; no counters, see `metrics.md`).
fn gauges(target: &Target, outcomes: &[TupleOutcome]) -> String {
    let store = TupleStore::new();
    let meta = TupleMeta::of(target);
    for o in outcomes {
        let Some(report) = &o.report else { continue };
        match o.reused {
            Some(r) => store.record_reused(meta.clone(), report.clone(), r.at),
            None => store.record_with(meta.clone(), report.clone()),
        };
    }
    store.render_gauges()
}

/// `N of M tuple(s); oldest from RFC3339 (S.Ss ago)` when some invoke result was reused.
fn reused_header(outcomes: &[TupleOutcome]) -> Option<HeaderValue> {
    let reused: Vec<SystemTime> = outcomes
        .iter()
        .filter_map(|o| o.reused.map(|r| r.at))
        .collect();
    let oldest = reused.iter().min()?;
    let age = SystemTime::now()
        .duration_since(*oldest)
        .unwrap_or_default();
    let value = format!(
        "{} of {} tuple(s); oldest from {} ({:.1}s ago)",
        reused.len(),
        outcomes.len(),
        humantime::format_rfc3339_seconds(*oldest),
        age.as_secs_f64()
    );
    HeaderValue::from_str(&value).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probe_without_a_target_is_a_bad_request() {
        assert!(parse_probe_query(None).is_err());
        assert!(parse_probe_query(Some("region=us-east-1")).is_err());
        assert!(parse_probe_query(Some("target=")).is_err());
    }

    #[test]
    fn probe_parameters_are_decoded() {
        let p = parse_probe_query(Some(
            "target=prod%20x&region=us-east-1&model=anthropic.claude-3-haiku-20240307-v1%3A0&debug=true",
        ));
        assert_eq!(
            p,
            Ok(ProbeParams {
                target: "prod x".into(),
                account: None,
                region: Some("us-east-1".into()),
                model: Some("anthropic.claude-3-haiku-20240307-v1:0".into()),
                debug: true,
            })
        );
    }

    #[test]
    fn unknown_or_repeated_probe_parameters_are_refused() {
        assert!(parse_probe_query(Some("target=a&foo=1")).is_err());
        assert!(parse_probe_query(Some("target=a&target=b")).is_err());
        assert!(parse_probe_query(Some("target=a&account=1&account=2")).is_err());
        assert!(parse_probe_query(Some("target=a&debug=yes")).is_err());
    }

    fn scrape_timeout(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            SCRAPE_TIMEOUT_HEADER,
            HeaderValue::from_str(v).expect("header value"),
        );
        h
    }

    #[test]
    fn the_scrape_timeout_less_the_offset_bounds_the_budget_as_in_blackbox_exporter() {
        let thirty = Duration::from_secs(30);
        assert_eq!(
            budget(&HeaderMap::new(), thirty),
            Ok((thirty, TIMEOUT_GUARD))
        );
        assert_eq!(
            budget(&scrape_timeout("10"), thirty),
            Ok((Duration::from_millis(9500), SCRAPE_SLACK))
        );
        assert_eq!(
            budget(&scrape_timeout("60"), thirty),
            Ok((thirty, SCRAPE_SLACK))
        );
        // At or below the offset, the target's own timeout stands.
        assert_eq!(
            budget(&scrape_timeout("0.4"), thirty),
            Ok((thirty, TIMEOUT_GUARD))
        );
        for bad in ["ten", "-1", "NaN", "inf", "1e400"] {
            assert!(budget(&scrape_timeout(bad), thirty).is_err(), "{bad}");
        }
    }
}
