//! Bedrock runtime (REST-JSON): Converse and InvokeModel, and the checks and replies their
//! streaming twins share (`stream` frames them as an event stream).
//!
//! Order of checks: model id shape → IAM (`bedrock:InvokeModel`, or
//! `bedrock:InvokeModelWithResponseStream` for the streaming operations, on the profile and/or
//! model ARN, SCPs first) → model resolvable in the region → lifecycle → on-demand support →
//! streaming support → request body → service tier ([`super::tier`]) → model access (grants, Marketplace, use-case form, quota)
//! → answer.

use axum::response::Response;
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{Value, json};

use super::bedrock_rules::{
    COULD_NOT_RESOLVE, MARKETPLACE_ACTIONS, Target, authorize, fm_arn, grant, permission,
    profile_arn, resolve,
};
use super::ctx::Ctx;
use super::reply::{InvokeReply, Reply, latency_ms, reply, tokens_of};
use super::scenario::{GrantStatus, InferenceMode, Lifecycle, Model};
use super::tier;
use super::wire::{ApiError, json_ok};

const MODEL_ID_PATTERN: &str = "(arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:(([0-9]{12}:custom-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}/[a-z0-9]{12})|(:foundation-model/[a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63}))|([0-9]{12}:provisioned-model/[a-z0-9]{12})))|([a-z0-9-]{1,63}[.]{1}[a-z0-9-]{1,63}([.:]?[a-z0-9-]{1,63}))|(([0-9a-zA-Z][_-]?)+)";

const ACCESS_DENIED_MODEL: &str = "You don't have access to the model with the specified model ID.";
const ACCOUNT_NOT_AUTHORIZED: &str = "Your account is not authorized to invoke this API operation.";
const SUBSCRIPTION_PROCESSING: &str = "Your account is not authorized to access this model. Your AWS Marketplace subscription for this model is still being processed";

/// The runtime operations; the streaming ones are authorized as their own IAM action.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Converse,
    InvokeModel,
    ConverseStream,
    InvokeModelStream,
}

impl Op {
    fn action(self) -> &'static str {
        match self {
            Op::Converse | Op::InvokeModel => "bedrock:InvokeModel",
            Op::ConverseStream | Op::InvokeModelStream => "bedrock:InvokeModelWithResponseStream",
        }
    }

    fn is_converse(self) -> bool {
        matches!(self, Op::Converse | Op::ConverseStream)
    }
}

fn validation(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "ValidationException", message)
}

/// A 403 `AccessDeniedException`.
fn denied(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "AccessDeniedException", message)
}

fn check_model_id(id: &str) -> Result<(), ApiError> {
    let ok = !id.is_empty()
        && id.len() <= 2048
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b));
    if ok {
        return Ok(());
    }
    let shown: String = id.chars().take(256).collect();
    Err(validation(format!(
        "1 validation error detected: Value '{shown}' at 'modelId' failed to satisfy constraint: Member must satisfy regular expression pattern: {MODEL_ID_PATTERN}"
    )))
}

/// Authorization, resolution and lifecycle shared by both operations; returns the model and
/// whether it was called through a profile.
fn admit<'s>(ctx: &'s Ctx, op: Op, raw_id: &str) -> Result<(&'s Model, bool), ApiError> {
    check_model_id(raw_id)?;
    let account = ctx.principal.account();
    let target = resolve(&ctx.scenario, raw_id);
    let action = op.action();
    match &target {
        Target::Profile(p, m) => {
            authorize(ctx, action, &profile_arn(&ctx.region, account, &p.id))?;
            authorize(ctx, action, &fm_arn(&ctx.region, &m.id))?;
        }
        Target::Model(m) => authorize(ctx, action, &fm_arn(&ctx.region, &m.id))?,
        Target::Unknown => authorize(ctx, action, &fm_arn(&ctx.region, raw_id))?,
    }
    let not_here = || {
        if op.is_converse() {
            validation("The provided model identifier is invalid.")
        } else {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "ResourceNotFoundException",
                COULD_NOT_RESOLVE,
            )
        }
    };
    let (model, via_profile) = match target {
        Target::Profile(p, m) if p.regions.iter().any(|r| r == &ctx.region) => (m, true),
        Target::Model(m) if m.offered_in(&ctx.region) => (m, false),
        _ => return Err(not_here()),
    };
    if model.lifecycle == Lifecycle::Eol {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "This model version has reached the end of its life",
        ));
    }
    if !via_profile && model.inference == InferenceMode::ProfileOnly {
        return Err(validation(format!(
            "Invocation of model ID {} with on-demand throughput isn\u{2019}t supported. Retry your request with the ID or ARN of an inference profile that contains this model.",
            model.id
        )));
    }
    if op.is_converse() && model.is_embedding() {
        return Err(validation(
            "This action doesn't support the model that you provided. Try again with a supported text or chat model.",
        ));
    }
    if op == Op::InvokeModelStream && model.is_embedding() {
        return Err(validation("The model is unsupported for streaming."));
    }
    Ok((model, via_profile))
}

/// Model access checks at invocation time.
fn access(ctx: &Ctx, model: &Model) -> Result<(), ApiError> {
    match grant(ctx, model) {
        GrantStatus::Granted => Ok(()),
        GrantStatus::Pending => Err(denied(SUBSCRIPTION_PROCESSING)),
        GrantStatus::NotGranted => Err(denied(ACCESS_DENIED_MODEL)),
        GrantStatus::NotGrantedInRegion => Err(validation(ACCOUNT_NOT_AUTHORIZED)),
        GrantStatus::NotAuthorizedLegacy => Err(denied(ACCOUNT_NOT_AUTHORIZED)),
        GrantStatus::MarketplaceSubscriptionMissing => {
            for action in MARKETPLACE_ACTIONS {
                if let Err((sentence, _)) = permission(ctx, action, "*") {
                    return Err(denied(format!(
                        "Model access is denied due to {sentence}. Your AWS Marketplace subscription for this model cannot be completed at this time. If you recently fixed this issue, try again after 15 minutes."
                    )));
                }
            }
            // First invocation with the Marketplace permissions subscribes the account.
            ctx.state.subscribe(ctx.principal.account(), &model.id);
            tracing::info!(account = %ctx.principal.account(), model = %model.id, "Marketplace subscription created at first invocation");
            Ok(())
        }
        GrantStatus::UseCaseFormMissing => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "Model use case details have not been submitted for this account. Fill out the Anthropic use case details form before using the model.",
        )),
        GrantStatus::LegacyInactive => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            "Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in the last 15 days. Please upgrade to an active model on Amazon Bedrock",
        )),
        GrantStatus::DailyQuotaExhausted => Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "ThrottlingException",
            "Too many tokens per day, please wait before trying again.",
        )),
        GrantStatus::AccountBlocked => Err(validation("Operation not allowed")),
        GrantStatus::NotOffered => Err(denied(format!(
            "{} is not available for this account. You can explore other available models on Amazon Bedrock. For additional access options, contact AWS Sales at https://aws.amazon.com/contact-us/sales-support/",
            model.id
        ))),
    }
}

fn max_tokens_error(model: &Model) -> ApiError {
    validation(format!(
        "The maximum tokens you requested exceed the model limit of {0}. Try again with a maximum tokens value lower than {0}.",
        model.max_tokens
    ))
}

const MALFORMED: &str = "Malformed input request, please reformat your input and try again.";

/// Converse's (or ConverseStream's) checks and reply.
pub(crate) fn converse_reply(
    ctx: &Ctx,
    op: Op,
    raw_id: &str,
    body: &[u8],
) -> Result<Reply, ApiError> {
    let (model, _) = admit(ctx, op, raw_id)?;
    let req: Value = serde_json::from_slice(body).map_err(|_| validation(MALFORMED))?;
    let messages = req.get("messages").and_then(Value::as_array);
    let Some(messages) = messages.filter(|m| !m.is_empty()) else {
        return Err(validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    };
    if messages
        .first()
        .and_then(|m| m.get("role"))
        .and_then(Value::as_str)
        != Some("user")
    {
        return Err(validation(
            "A conversation must start with a user message. Try again with a conversation that starts with a user message.",
        ));
    }
    let max_tokens = match req.pointer("/inferenceConfig/maxTokens") {
        None | Some(Value::Null) => u64::from(model.max_tokens),
        Some(v) => match v.as_u64() {
            Some(n) if n >= 1 => n,
            _ => {
                return Err(validation(
                    "1 validation error detected: Value at 'inferenceConfig.maxTokens' failed to satisfy constraint: Member must have value greater than or equal to 1",
                ));
            }
        },
    };
    if max_tokens > u64::from(model.max_tokens) {
        return Err(max_tokens_error(model));
    }
    tier::check(model, tier::from_converse(&req))?;
    access(ctx, model)?;

    let mut input = 3u64;
    for m in messages {
        input += 4;
        for block in m
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = block.get("text").and_then(Value::as_str) {
                input += tokens_of(t);
            }
        }
    }
    for block in req
        .get("system")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(t) = block.get("text").and_then(Value::as_str) {
            input += tokens_of(t);
        }
    }
    let (text, output, truncated) = reply(max_tokens);
    Ok(Reply {
        text,
        input,
        output,
        truncated,
    })
}

pub(crate) fn converse(ctx: &Ctx, raw_id: &str, body: &[u8]) -> Result<Response, ApiError> {
    let r = converse_reply(ctx, Op::Converse, raw_id, body)?;
    let body = ConverseOut {
        metrics: ConverseMetrics {
            latency_ms: latency_ms(),
        },
        output: ConverseOutput {
            message: ConverseMessage {
                content: [ConverseText { text: &r.text }],
                role: "assistant",
            },
        },
        stop_reason: if r.truncated {
            "max_tokens"
        } else {
            "end_turn"
        },
        usage: ConverseUsage {
            input_tokens: r.input,
            output_tokens: r.output,
            total_tokens: r.input + r.output,
        },
    };
    let body = serde_json::to_string(&body).map_err(|_| validation(MALFORMED))?;
    Ok(json_ok(body, &ctx.request_id))
}

// Converse's answer, typed. Fields in the order `json!` used to print them (sorted keys), so
// the bytes on the wire are unchanged.
#[derive(serde::Serialize)]
struct ConverseOut<'a> {
    metrics: ConverseMetrics,
    output: ConverseOutput<'a>,
    #[serde(rename = "stopReason")]
    stop_reason: &'static str,
    usage: ConverseUsage,
}

#[derive(serde::Serialize)]
struct ConverseMetrics {
    #[serde(rename = "latencyMs")]
    latency_ms: u64,
}

#[derive(serde::Serialize)]
struct ConverseOutput<'a> {
    message: ConverseMessage<'a>,
}

#[derive(serde::Serialize)]
struct ConverseMessage<'a> {
    content: [ConverseText<'a>; 1],
    role: &'static str,
}

#[derive(serde::Serialize)]
struct ConverseText<'a> {
    text: &'a str,
}

#[derive(serde::Serialize)]
struct ConverseUsage {
    #[serde(rename = "inputTokens")]
    input_tokens: u64,
    #[serde(rename = "outputTokens")]
    output_tokens: u64,
    #[serde(rename = "totalTokens")]
    total_tokens: u64,
}

/// Provider families with their own InvokeModel body shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Anthropic,
    TitanText,
    TitanEmbed,
    Nova,
    Meta,
    Mistral,
    CohereCommand,
    CohereEmbed,
    Other,
}

fn family(model: &Model) -> Family {
    let id = model.id.as_str();
    if id.starts_with("anthropic.") {
        Family::Anthropic
    } else if id.starts_with("amazon.titan-embed") {
        Family::TitanEmbed
    } else if id.starts_with("amazon.titan") {
        Family::TitanText
    } else if id.starts_with("amazon.nova") {
        Family::Nova
    } else if id.starts_with("meta.") {
        Family::Meta
    } else if id.starts_with("mistral.") {
        Family::Mistral
    } else if id.starts_with("cohere.embed") {
        Family::CohereEmbed
    } else if id.starts_with("cohere.") {
        Family::CohereCommand
    } else if model.is_embedding() {
        Family::TitanEmbed
    } else {
        Family::Other
    }
}

fn require(req: &Value, key: &str) -> Result<(), ApiError> {
    if req.get(key).is_some() {
        Ok(())
    } else {
        Err(validation(format!(
            "Malformed input request: #: required key [{key}] not found, please reformat your input and try again."
        )))
    }
}

fn embedding(n: usize, seed: &str) -> Vec<f64> {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(seed.as_bytes());
    (0..n)
        .map(|i| (f64::from(d[i % d.len()]) - 127.5) / 1275.0)
        .collect()
}

fn str_at<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// Checks the keys the family's body requires; the maximum of output tokens it asks for, if
/// it says.
fn requested_max_tokens(fam: Family, req: &Value) -> Result<Option<u64>, ApiError> {
    let requested_max = |key: &str| req.get(key).and_then(Value::as_u64);
    let max = match fam {
        Family::Anthropic => {
            require(req, "anthropic_version")?;
            require(req, "max_tokens")?;
            require(req, "messages")?;
            requested_max("max_tokens")
        }
        Family::TitanText => {
            require(req, "inputText")?;
            req.pointer("/textGenerationConfig/maxTokenCount")
                .and_then(Value::as_u64)
        }
        Family::TitanEmbed => {
            require(req, "inputText")?;
            None
        }
        Family::CohereEmbed => {
            require(req, "texts")?;
            None
        }
        Family::Nova => {
            require(req, "messages")?;
            req.pointer("/inferenceConfig/maxTokens")
                .or_else(|| req.pointer("/inferenceConfig/max_new_tokens"))
                .and_then(Value::as_u64)
        }
        Family::Meta => {
            require(req, "prompt")?;
            requested_max("max_gen_len")
        }
        Family::Mistral | Family::CohereCommand | Family::Other => {
            require(req, "prompt")?;
            requested_max("max_tokens")
        }
    };
    Ok(max)
}

/// The family's answer body for the reply `(text, tokens, truncated)`, and the output tokens
/// it reports.
fn answer(
    fam: Family,
    model: &Model,
    req: &Value,
    input: u64,
    (text, output, truncated): (String, u64, bool),
) -> (Value, u64) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    match fam {
        Family::Anthropic => (
            json!({
                "id": format!("msg_bdrk_{}", &id[..24]),
                "type": "message",
                "role": "assistant",
                "model": model.id.split('.').nth(1).unwrap_or(&model.id),
                "content": [{"type": "text", "text": text}],
                "stop_reason": if truncated { "max_tokens" } else { "end_turn" },
                "stop_sequence": null,
                "usage": {"input_tokens": input, "output_tokens": output},
            }),
            output,
        ),
        Family::TitanText => (
            json!({
                "inputTextTokenCount": input,
                "results": [{"tokenCount": output, "outputText": text, "completionReason": if truncated { "LENGTH" } else { "FINISH" }}],
            }),
            output,
        ),
        Family::TitanEmbed => {
            let dims = req
                .get("dimensions")
                .and_then(Value::as_u64)
                .and_then(|d| usize::try_from(d).ok())
                .filter(|d| [256, 512, 1024].contains(d))
                .unwrap_or(256);
            let v = embedding(dims, str_at(req, "/inputText"));
            (
                json!({"embedding": v, "embeddingsByType": {"float": v}, "inputTextTokenCount": input}),
                0,
            )
        }
        Family::CohereEmbed => {
            let texts: Vec<&str> = req
                .get("texts")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let embeddings: Vec<Vec<f64>> = texts.iter().map(|t| embedding(256, t)).collect();
            (
                json!({"id": id, "embeddings": embeddings, "texts": texts, "response_type": "embeddings_floats"}),
                0,
            )
        }
        Family::Nova => (
            json!({
                "output": {"message": {"content": [{"text": text}], "role": "assistant"}},
                "stopReason": if truncated { "max_tokens" } else { "end_turn" },
                "usage": {"inputTokens": input, "outputTokens": output, "totalTokens": input + output},
            }),
            output,
        ),
        Family::Meta => (
            json!({
                "generation": text,
                "prompt_token_count": input,
                "generation_token_count": output,
                "stop_reason": if truncated { "length" } else { "stop" },
            }),
            output,
        ),
        Family::Mistral | Family::Other => (
            json!({"outputs": [{"text": text, "stop_reason": if truncated { "length" } else { "stop" }}]}),
            output,
        ),
        Family::CohereCommand => (
            json!({
                "generations": [{"finish_reason": if truncated { "MAX_TOKENS" } else { "COMPLETE" }, "id": id, "text": text}],
                "id": id,
                "prompt": str_at(req, "/prompt"),
            }),
            output,
        ),
    }
}

/// InvokeModel's (or InvokeModelWithResponseStream's) checks and reply.
pub(crate) fn invoke_model_reply(
    ctx: &Ctx,
    op: Op,
    raw_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<InvokeReply, ApiError> {
    let (model, _) = admit(ctx, op, raw_id)?;
    if let Some(ct) = headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        && !ct.starts_with("application/json")
    {
        return Err(validation(format!(
            "The provided content type {} is not supported. Use application/json.",
            ct.chars().take(64).collect::<String>()
        )));
    }
    let req: Value = serde_json::from_slice(body).map_err(|_| validation(MALFORMED))?;
    if !req.is_object() {
        return Err(validation(MALFORMED));
    }
    let fam = family(model);
    let max = requested_max_tokens(fam, &req)?;
    if let Some(m) = max
        && m > u64::from(model.max_tokens)
    {
        return Err(max_tokens_error(model));
    }
    tier::check(model, tier::from_header(headers))?;
    access(ctx, model)?;

    let input = tokens_of(&String::from_utf8_lossy(body)).max(1);
    let (text, n, truncated) = reply(max.unwrap_or(u64::from(model.max_tokens)));
    let (out_body, output) = answer(fam, model, &req, input, (text.clone(), n, truncated));
    Ok(InvokeReply {
        body: out_body,
        anthropic: fam == Family::Anthropic,
        reply: Reply {
            text,
            input,
            output,
            truncated,
        },
    })
}

pub(crate) fn invoke_model(
    ctx: &Ctx,
    raw_id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let InvokeReply {
        body: out_body,
        reply: Reply { input, output, .. },
        ..
    } = invoke_model_reply(ctx, Op::InvokeModel, raw_id, headers, body)?;
    let mut resp = json_ok(out_body.to_string(), &ctx.request_id);
    let h = resp.headers_mut();
    h.insert("X-Amzn-Bedrock-Input-Token-Count", HeaderValue::from(input));
    h.insert(
        "X-Amzn-Bedrock-Output-Token-Count",
        HeaderValue::from(output),
    );
    h.insert(
        "X-Amzn-Bedrock-Invocation-Latency",
        HeaderValue::from(latency_ms()),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_converse_answer_prints_the_same_bytes_as_the_json_value_it_replaced() {
        let typed = ConverseOut {
            metrics: ConverseMetrics { latency_ms: 321 },
            output: ConverseOutput {
                message: ConverseMessage {
                    content: [ConverseText {
                        text: "Hi \"there\"",
                    }],
                    role: "assistant",
                },
            },
            stop_reason: "max_tokens",
            usage: ConverseUsage {
                input_tokens: 12,
                output_tokens: 1,
                total_tokens: 13,
            },
        };
        let value = json!({
            "output": {"message": {"role": "assistant", "content": [{"text": "Hi \"there\""}]}},
            "stopReason": "max_tokens",
            "usage": {"inputTokens": 12, "outputTokens": 1, "totalTokens": 13},
            "metrics": {"latencyMs": 321},
        });
        assert_eq!(serde_json::to_string(&typed).ok(), Some(value.to_string()));
    }
}
