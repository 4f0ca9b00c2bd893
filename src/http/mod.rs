//! The HTTP interface (`docs/interface.md`): `/metrics`, `/probe`, `/-/healthy`, `/-/ready`,
//! `/-/reload`, the status page `/` and `/api/v1/status` (rendered in [`status_page`]), and the
//! `/probe?debug=true` trace ([`debug`]).

pub mod debug;
pub mod status_page;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;

use crate::app::App;
use crate::config::{InvokeMode, Target, TupleKey};
use crate::metrics::{TEXT_CONTENT_TYPE, TupleMeta, TupleStore};
use crate::probe::ProbeReport;
use crate::schedule::{ProbeFn, TIMEOUT_GUARD};

/// The router of the exporter.
pub fn router<P: ProbeFn>(app: Arc<App<P>>) -> Router {
    Router::new()
        .route("/", get(index::<P>))
        .route("/metrics", get(metrics::<P>))
        .route("/probe", get(probe::<P>))
        .route("/api/v1/status", get(status::<P>))
        .route("/-/healthy", get(healthy))
        .route("/-/ready", get(ready::<P>))
        .route("/-/reload", post(reload::<P>))
        .fallback(not_found)
        .with_state(app)
}

fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        body.into(),
    )
        .into_response()
}

fn exposition(body: String) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(TEXT_CONTENT_TYPE),
        )],
        body,
    )
        .into_response()
}

async fn not_found() -> Response {
    text(StatusCode::NOT_FOUND, "404 page not found\n")
}

async fn healthy() -> Response {
    text(StatusCode::OK, "Healthy.\n")
}

async fn ready<P: ProbeFn>(State(app): State<Arc<App<P>>>) -> Response {
    if app.is_ready() {
        text(StatusCode::OK, "Ready.\n")
    } else {
        text(StatusCode::SERVICE_UNAVAILABLE, "Not ready.\n")
    }
}

async fn reload<P: ProbeFn>(State(app): State<Arc<App<P>>>) -> Response {
    match app.reload().await {
        Ok(()) => text(StatusCode::OK, "Configuration reloaded.\n"),
        Err(e) => text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("configuration reload failed; the running configuration stays:\n{e}\n"),
        ),
    }
}

/// Size of the chunks `/metrics` is written in.
const CHUNK: usize = 64 * 1024;

/// `/metrics`: always the text format 0.0.4 (also when OpenMetrics is asked for, which the
/// Accept negotiation of Prometheus allows as a fallback). The exposition is snapshotted under
/// the lock (references to pre-encoded pieces) and streamed in chunks.
async fn metrics<P: ProbeFn>(State(app): State<Arc<App<P>>>) -> Response {
    let exposition = app.metrics.exposition();
    let stream = futures::stream::iter(
        exposition
            .into_chunks(CHUNK)
            .map(Ok::<bytes::Bytes, std::convert::Infallible>),
    );
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(TEXT_CONTENT_TYPE),
        )],
        axum::body::Body::from_stream(stream),
    )
        .into_response()
}

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

/// `/probe`: probes the target's tuples now and returns only their metrics (or a trace).
async fn probe<P: ProbeFn>(State(app): State<Arc<App<P>>>, RawQuery(query): RawQuery) -> Response {
    let params = match parse_probe_query(query.as_deref()) {
        Ok(p) => p,
        Err(e) => return text(StatusCode::BAD_REQUEST, e),
    };
    let Some(current) = app.current() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "no configuration loaded yet\n",
        );
    };
    let Some(target) = current
        .config
        .targets
        .iter()
        .find(|t| t.name == params.target)
    else {
        return text(
            StatusCode::NOT_FOUND,
            format!(
                "unknown target {:?}: not in the configuration\n",
                params.target
            ),
        );
    };
    if let Some(a) = &params.account
        && !target
            .members()
            .iter()
            .any(|m| m.role_account() == Some(a.as_str()))
    {
        return text(
            StatusCode::BAD_REQUEST,
            format!("account {a:?} is not probed by target {:?}\n", target.name),
        );
    }
    if let Some(r) = &params.region
        && !target.regions.contains(r)
    {
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "region {r:?} is not configured for target {:?}\n",
                target.name
            ),
        );
    }
    if let Some(m) = &params.model
        && !target.models.contains(m)
    {
        return text(
            StatusCode::BAD_REQUEST,
            format!(
                "model {m:?} is not configured for target {:?}\n",
                target.name
            ),
        );
    }
    let outcomes = probe_target(current.prober.as_ref(), target, &params).await;
    let store = TupleStore::new();
    let meta = TupleMeta::of(target);
    for (_, outcome) in &outcomes {
        if let Some(report) = outcome {
            store.record_with(meta.clone(), report.clone());
        }
    }
    if params.debug {
        text(
            StatusCode::OK,
            debug::trace(Some(current.config.as_ref()), target, &outcomes),
        )
    } else {
        exposition(store.render())
    }
}

/// Probes the selected tuples of `target` with one fresh round; `None` for a probe that
/// overran its timeout guard.
pub async fn probe_target<P: ProbeFn>(
    prober: &P,
    target: &Target,
    params: &ProbeParams,
) -> Vec<(TupleKey, Option<ProbeReport>)> {
    let round = prober.new_round();
    let run_invoke = target.settings.invoke != InvokeMode::None;
    let limit = target.settings.timeout + TIMEOUT_GUARD;
    let members = target.members();
    let mut keys: Vec<(TupleKey, usize)> = Vec::new();
    for (i, member) in members.iter().enumerate() {
        if let Some(want) = &params.account
            && member.role_account() != Some(want.as_str())
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
                let key = TupleKey {
                    target: target.name.clone(),
                    account: member.tuple_account().to_string(),
                    aws_region: r.clone(),
                    model_id: m.clone(),
                };
                keys.push((key, i));
            }
        }
    }
    let round = &round;
    let members = &members;
    let mut out: Vec<(TupleKey, Option<ProbeReport>)> = futures::stream::iter(keys)
        .map(|(key, i)| async move {
            let member = members[i];
            let report = tokio::time::timeout(
                limit,
                prober.probe(member, &key.aws_region, &key.model_id, round, run_invoke),
            )
            .await
            .ok();
            (key, report)
        })
        .buffered(target.settings.concurrency.max(1))
        .collect()
        .await;
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// The status view of the running configuration and the last background probes.
pub fn current_view<P: ProbeFn>(app: &App<P>) -> status_page::StatusView {
    let current = app.current();
    status_page::build_for(
        current.as_ref().map(|g| g.config.as_ref()),
        app.metrics.shard(),
        &app.metrics.snapshot(),
        SystemTime::now(),
    )
}

/// `/api/v1/status`: the status page as JSON.
async fn status<P: ProbeFn>(State(app): State<Arc<App<P>>>) -> Response {
    let body = status_page::render_json(&current_view(&app)).to_string();
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// `/`: the status page.
async fn index<P: ProbeFn>(State(app): State<Arc<App<P>>>) -> Response {
    let body = status_page::render_html(&current_view(&app));
    (
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
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
        assert!(parse_probe_query(Some("target=a&debug=yes")).is_err());
    }
}
