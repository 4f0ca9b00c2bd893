//! The pipeline of one probe: gating, timeouts, the report (`docs/layers.md`).
//!
//! * `credentials` and `assume_role` gate the rest; they are computed once per (target,
//!   region) per [`Round`] and shared by the round's tuples.
//! * `model_access`, `invoke` and `invoke_stream` all run (concurrently) once credentials
//!   exist; an off layer is absent. The paid layers (`invoke`, `invoke_stream`) run together,
//!   only when the schedule says so (`invoke_interval`); their tokens add up.
//! * The whole probe is bounded by `settings.timeout`: every layer gets what is left of it, and
//!   a layer that runs out reports `timeout`.
//! * With `model_access` on, the model's lifecycle is read right after that layer, on the same
//!   Bedrock connection (at most once per hour per region and model, [`super::lifecycle`]);
//!   without credentials the report carries what is already known of it.

use std::future::Future;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::auth::Auth;
use super::aws::local_failure;
use super::clients::RegionClients;
use super::lifecycle::{LifecycleCache, ModelLifecycle};
use super::pacing::{Pacer, Service};
use super::{
    Availability, GateOutcome, IdentityOutcome, LayerContext, LayerOutput, LayerResult,
    LayerStatus, ProbeReport, Round, SourceEntry, api_key, assume_role, credentials, invoke,
    invoke_stream, model_access,
};
use crate::config::{InvokeMode, Target, TupleKey};
use crate::reason::{Layer, Reason, error_code_label};

/// Extra wait for the round's shared gate beyond this probe's budget (see [`probe`]).
const GATE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Runs `fut` (one layer) within what is left until `deadline`, timing it.
async fn timed<T>(
    layer: Layer,
    deadline: Instant,
    call: String,
    fut: impl Future<Output = LayerOutput<T>>,
) -> (LayerResult, Option<T>, Option<Availability>) {
    let started = Instant::now();
    let remaining = deadline.saturating_duration_since(started);
    let (status, value, availability, call) = match tokio::time::timeout(remaining, fut).await {
        Ok(out) => match out.result {
            Ok(v) => (LayerStatus::Passed, Some(v), out.availability, out.call),
            Err(f) => (LayerStatus::Failed(f), None, out.availability, out.call),
        },
        Err(_) => (
            LayerStatus::Failed(local_failure(
                Reason::Timeout,
                &format!(
                    "no answer within the probe budget ({})",
                    humantime::format_duration(remaining)
                ),
            )),
            None,
            None,
            call,
        ),
    };
    let result = LayerResult {
        layer,
        status,
        duration: started.elapsed(),
        call,
    };
    (result, value, availability)
}

/// [`timed`], after waiting for the calls' slot in `key`'s (account, service) pace; a slot past
/// the budget fails the layer as `throttled` without calling AWS. AWS's throttling slows the
/// key down, an answer speeds it back up.
async fn paced<T>(
    pacer: Option<&Pacer>,
    key: Option<(&str, Service)>,
    calls: u32,
    layer: Layer,
    deadline: Instant,
    call: String,
    fut: impl Future<Output = LayerOutput<T>>,
) -> (LayerResult, Option<T>, Option<Availability>) {
    let (Some(pacer), Some((account, service))) = (pacer, key) else {
        return timed(layer, deadline, call, fut).await;
    };
    if let Err(p) = pacer.acquire(account, service, calls, deadline).await {
        let message = format!(
            "not sent: the pace of {:.2} {} calls/s in account {} would start it {} from now, past the probe's budget ([limits] sets the pace)",
            p.rate,
            service.as_str(),
            p.account,
            humantime::format_duration(Duration::from_millis(p.wait.as_millis() as u64)),
        );
        let result = LayerResult {
            layer,
            status: LayerStatus::Failed(local_failure(Reason::Throttled, &message)),
            duration: Duration::ZERO,
            call,
        };
        return (result, None, None);
    }
    let out = timed(layer, deadline, call, fut).await;
    match &out.0.status {
        LayerStatus::Failed(f) if f.reason == Reason::Throttled => {
            pacer.throttled(account, service)
        }
        LayerStatus::Failed(f) if f.http_status.is_none() => {}
        _ => pacer.answered(account, service),
    }
    out
}

/// The gate layers for one (target, region): computed by the first tuple of the round that
/// needs them, within a budget of `settings.timeout` from then.
async fn run_gate(
    pacer: Option<&Pacer>,
    entry: &SourceEntry,
    clients: &RegionClients,
    target: &Target,
    region: &str,
    round: &Round,
) -> GateOutcome {
    let deadline = Instant::now() + target.settings.timeout;
    let source = &entry.source;
    if let Some(key) = &source.api_key {
        // A Bedrock API key: no STS layer; the key is the credentials.
        return api_key::gate(source, key);
    }
    let ctx = LayerContext {
        source,
        target,
        region,
        model: "",
        sdk: &entry.sdk,
        clients,
        deadline,
    };
    // The identity is shared by every target of the source, whose budgets may differ: wait
    // for it at most this target's budget (if this target was the one resolving it, another
    // waiting target takes over).
    let identity_cell = round.identity_cell(&source.name, region);
    let waited = tokio::time::timeout(
        deadline.saturating_duration_since(Instant::now()),
        identity_cell.get_or_init(|| async {
            let call = credentials::describe(&ctx);
            let key = source
                .expected_account
                .as_deref()
                .map(|a| (a, Service::Sts));
            let (layer, identity, _) = paced(
                pacer,
                key,
                1,
                Layer::Credentials,
                deadline,
                call,
                credentials::run(&ctx),
            )
            .await;
            IdentityOutcome { layer, identity }
        }),
    )
    .await;
    let identity = match waited {
        Ok(identity) => identity.clone(),
        Err(_) => IdentityOutcome {
            layer: LayerResult {
                layer: Layer::Credentials,
                status: LayerStatus::Failed(local_failure(
                    Reason::Timeout,
                    "no answer within the probe budget (waiting for the round's source identity)",
                )),
                duration: target.settings.timeout,
                call: credentials::describe(&ctx),
            },
            identity: None,
        },
    };
    let mut layers = vec![identity.layer];
    let Some(identity) = identity.identity else {
        let account_id = target
            .role_account()
            .or(source.expected_account.as_deref())
            .unwrap_or("")
            .to_string();
        return GateOutcome {
            layers,
            credentials: None,
            account_id,
            key_failure: None,
        };
    };
    let Some(role_arn) = target.role_arn.as_deref() else {
        // Same-account target: no assume_role layer; the account is the source's own.
        return GateOutcome {
            layers,
            credentials: Some(Auth::SigV4(identity.credentials)),
            account_id: identity.account,
            key_failure: None,
        };
    };
    let call = assume_role::describe(&ctx, role_arn);
    // AssumeRole counts against the caller's account: the source's.
    let (layer, assumed, _) = paced(
        pacer,
        Some((identity.account.as_str(), Service::Sts)),
        1,
        Layer::AssumeRole,
        deadline,
        call,
        assume_role::run(&ctx, identity.credentials.clone()),
    )
    .await;
    layers.push(layer);
    GateOutcome {
        layers,
        credentials: assumed.map(Auth::SigV4),
        account_id: target.role_account().unwrap_or("").to_string(),
        key_failure: None,
    }
}

/// The report of a tuple before any layer ran: the labels the configuration gives.
fn empty_report(target: &Target, region: &str, model: &str) -> ProbeReport {
    ProbeReport {
        key: TupleKey {
            target: target.name.clone(),
            account: target.tuple_account().to_string(),
            aws_region: region.to_string(),
            model_id: model.to_string(),
        },
        account_id: target.role_account().unwrap_or("").to_string(),
        role_name: target.role_name().to_string(),
        layers: Vec::new(),
        availability: None,
        tokens: None,
        invoke_ran: false,
        finished_at: SystemTime::now(),
        lifecycle: None,
    }
}

/// The `model_access` layer (paced like every Bedrock call of the account), then the model's
/// lifecycle (cached; read on the same Bedrock connection: one control-plane request at a
/// time), within what is left of the probe.
async fn model_access_then_lifecycle(
    ctx: &LayerContext<'_>,
    creds: Auth,
    pacer: Option<&Pacer>,
    bedrock: Option<(&str, Service)>,
    lifecycles: &LifecycleCache,
) -> (
    (LayerResult, Option<Availability>, Option<Availability>),
    Option<Option<ModelLifecycle>>,
) {
    let call = model_access::describe(ctx);
    let calls = if crate::model_id::is_inference_profile(ctx.model) {
        2
    } else {
        1
    };
    let layer = paced(
        pacer,
        bedrock,
        calls,
        Layer::ModelAccess,
        ctx.deadline,
        call,
        model_access::run(ctx, creds.clone()),
    )
    .await;
    let remaining = ctx.deadline.saturating_duration_since(Instant::now());
    // The lifecycle read is a Bedrock call of the account too: it waits for its slot.
    let slot = async {
        match (pacer, bedrock) {
            (Some(p), Some((account, service))) => {
                p.acquire(account, service, 1, ctx.deadline).await.is_ok()
            }
            _ => true,
        }
    };
    let lifecycle = tokio::time::timeout(remaining, lifecycles.get_after(ctx, creds, slot))
        .await
        .ok();
    (layer, lifecycle)
}

/// Probes one tuple (see [`super::Prober::probe`]).
#[allow(clippy::too_many_arguments)] // the tuple, its round, and the prober's shared state
pub(crate) async fn probe(
    source: Option<&SourceEntry>,
    pacer: Option<&Pacer>,
    target: &Target,
    region: &str,
    model: &str,
    round: &Round,
    run_invoke: bool,
    lifecycles: &LifecycleCache,
) -> ProbeReport {
    let deadline = Instant::now() + target.settings.timeout;
    let mut report = empty_report(target, region, model);

    let Some(entry) = source else {
        report.layers.push(LayerResult {
            layer: Layer::Credentials,
            status: LayerStatus::Failed(local_failure(
                Reason::NoCredentials,
                &format!("source {:?} has no SDK configuration", target.source),
            )),
            duration: std::time::Duration::ZERO,
            call: format!("resolve credentials of source {}", target.source),
        });
        finish(&mut report);
        return report;
    };

    // The gate bounds itself (its calls get what is left of a budget that started no later
    // than this probe's); the grace only guards against a gate that never answers, and keeps
    // the first tuple from cancelling the shared calls at the very edge of the budget.
    let source = &entry.source;
    let clients = entry.clients.region(region);
    let gate_cell = round.gate_cell(target, region);
    let gate = match tokio::time::timeout(
        deadline.saturating_duration_since(Instant::now()) + GATE_GRACE,
        gate_cell.get_or_init(|| run_gate(pacer, entry, &clients, target, region, round)),
    )
    .await
    {
        Ok(gate) => gate.clone(),
        Err(_) => {
            // Another tuple's gate call is still running and this tuple's budget ran out.
            report.layers.push(LayerResult {
                layer: Layer::Credentials,
                status: LayerStatus::Failed(local_failure(
                    Reason::Timeout,
                    "no answer within the probe budget (waiting for the round's shared credentials)",
                )),
                duration: target.settings.timeout,
                call: format!("sts:GetCallerIdentity source={} region={region}", source.name),
            });
            finish(&mut report);
            return report;
        }
    };
    report.layers.extend(gate.layers.iter().cloned());
    report.account_id = gate.account_id.clone();
    if target.settings.model_access {
        report.lifecycle = lifecycles.peek(region, model);
    }
    let Some(creds) = gate.credentials.clone() else {
        if let (Some(failure), Some(key)) = (&gate.key_failure, &source.api_key) {
            let unread = api_key::unread_layers(source, key, target, model, run_invoke, failure);
            report.invoke_ran = unread.iter().any(|l| l.layer.is_invocation());
            report.layers.extend(unread);
        }
        finish(&mut report);
        return report;
    };

    let ctx = LayerContext {
        source,
        target,
        region,
        model,
        sdk: &entry.sdk,
        clients: &clients,
        deadline,
    };
    let settings = &target.settings;
    // Bedrock's calls count against the account whose credentials make them.
    let bedrock = Some((gate.account_id.as_str(), Service::Bedrock));
    let model_access_layer = async {
        if !settings.model_access {
            return None;
        }
        Some(model_access_then_lifecycle(&ctx, creds.clone(), pacer, bedrock, lifecycles).await)
    };
    let invoke_layer = async {
        if !run_invoke || settings.invoke == InvokeMode::None {
            return None;
        }
        let call = invoke::describe(&ctx);
        Some(
            paced(
                pacer,
                bedrock,
                1,
                Layer::Invoke,
                deadline,
                call,
                invoke::run(&ctx, creds.clone()),
            )
            .await,
        )
    };
    let stream_layer = async {
        if !run_invoke || !settings.streams(model) {
            return None;
        }
        let call = invoke_stream::describe(&ctx);
        Some(
            paced(
                pacer,
                bedrock,
                1,
                Layer::InvokeStream,
                deadline,
                call,
                invoke_stream::run(&ctx, creds.clone()),
            )
            .await,
        )
    };
    let (model_access, invoked, streamed) =
        tokio::join!(model_access_layer, invoke_layer, stream_layer);
    if let Some(((layer, _, availability), lifecycle)) = model_access {
        if let Some(lifecycle) = lifecycle {
            report.lifecycle = lifecycle;
        }
        report.layers.push(layer);
        report.availability = availability;
    }
    for (layer, tokens, _) in [invoked, streamed].into_iter().flatten() {
        report.layers.push(layer);
        report.invoke_ran = true;
        report.tokens = add_tokens(report.tokens, tokens.flatten());
    }
    if let Some(key) = creds.api_key() {
        api_key::annotate(&mut report.layers, &source.name, key, region);
    }
    finish(&mut report);
    report
}

/// The tokens of two invocations of one probe, together.
fn add_tokens(a: Option<(u64, u64)>, b: Option<(u64, u64)>) -> Option<(u64, u64)> {
    match (a, b) {
        (Some((ai, ao)), Some((bi, bo))) => Some((ai.saturating_add(bi), ao.saturating_add(bo))),
        (a, b) => a.or(b),
    }
}

/// Stamps the report and logs one warning per failed layer (no secrets: the message is
/// redacted, the external id and credentials are never part of a report).
fn finish(report: &mut ProbeReport) {
    report.finished_at = SystemTime::now();
    for layer in &report.layers {
        if let LayerStatus::Failed(failure) = &layer.status {
            tracing::warn!(
                target = %report.key.target,
                account_id = %report.account_id,
                role_name = %report.role_name,
                aws_region = %report.key.aws_region,
                model_id = %report.key.model_id,
                layer = %layer.layer,
                reason = %failure.reason,
                class = %failure.reason.class(),
                error_code = %error_code_label(failure.error_code.as_deref()),
                request_id = failure.request_id.as_deref().unwrap_or(""),
                http_status = failure.http_status.unwrap_or(0),
                aws_message = %failure.message,
                "probe layer failed"
            );
        }
    }
}
