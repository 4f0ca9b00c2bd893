//! Layer 5, `invoke_stream` (optional, `stream = true`): the minimal invocation with a response
//! stream, with the assumed credentials: ConverseStream with `maxTokens = max_tokens` and the
//! one short user message, or InvokeModelWithResponseStream with the provider's minimal body
//! (the same choice as `invoke`), read to the end of the event stream. It proves the role may
//! call `bedrock:InvokeModelWithResponseStream`, which streaming chat applications need besides
//! `bedrock:InvokeModel`.
//!
//! Its answers are classified like those of `invoke`; an error event inside the open stream
//! like the same error answered before it ([`super::stream_error`]). Tokens come from the
//! `metadata` event's usage (ConverseStream) or the `amazon-bedrock-invocationMetrics` that
//! Bedrock adds to the last chunk (InvokeModelWithResponseStream).

use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::primitives::event_stream::EventReceiver;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseStreamOutput, InferenceConfiguration, Message,
    ResponseStream,
};
use aws_types::request_id::RequestId;
use serde_json::Value;

use super::aws::{failure_from_sdk, local_failure, runtime_client};
use super::invoke::{PROMPT, Tokens, chosen_body, converse_tier, tier_suffix, tier_type};
use super::stream_error::{StreamException, failure_from_stream};
use super::{Failure, LayerContext, LayerOutput};
use crate::reason::{Layer, Reason};

/// Events read at most from one stream: with `max_tokens` small the stream is a handful of
/// events; a stream that goes on is cut here (it opened and delivered, which is what the layer
/// proves) instead of being read without bound.
pub const MAX_EVENTS: usize = 4096;

/// The one-line description of the call.
pub fn describe(ctx: &LayerContext<'_>) -> String {
    let max_tokens = ctx.target.settings.max_tokens;
    match chosen_body(ctx) {
        Some(_) => format!(
            "bedrock-runtime:InvokeModelWithResponseStream {} region={} max_tokens={max_tokens}{}",
            ctx.model,
            ctx.region,
            tier_suffix(ctx)
        ),
        None => format!(
            "bedrock-runtime:ConverseStream {} region={} maxTokens={max_tokens}{}",
            ctx.model,
            ctx.region,
            tier_suffix(ctx)
        ),
    }
}

/// Token counts of one InvokeModelWithResponseStream chunk: the
/// `amazon-bedrock-invocationMetrics` Bedrock adds to the last chunk of every provider.
pub fn tokens_from_stream_chunk(bytes: &[u8]) -> Tokens {
    let v: Value = serde_json::from_slice(bytes).ok()?;
    let metrics = v.get("amazon-bedrock-invocationMetrics")?;
    let input = metrics.get("inputTokenCount")?.as_u64()?;
    let output = metrics.get("outputTokenCount")?.as_u64()?;
    Some((input, output))
}

/// Reads `stream` to its end (at most [`MAX_EVENTS`] events), handing every event to
/// `on_event`. On an error: the classified failure and how many events came before it.
async fn read_to_end<T, E: StreamException>(
    mut stream: EventReceiver<T, E>,
    mut on_event: impl FnMut(&T),
    request_id: Option<&str>,
    secrets: &[&str],
) -> Result<(), (Failure, usize)> {
    for seen in 0..MAX_EVENTS {
        match stream.recv().await {
            Ok(Some(event)) => on_event(&event),
            Ok(None) => return Ok(()),
            Err(err) => {
                let failure = failure_from_stream(Layer::InvokeStream, &err, request_id, secrets);
                return Err((failure, seen));
            }
        }
    }
    Ok(())
}

/// The call line of a failure that came after the stream opened (an exception event, or the
/// stream breaking off).
fn after_open(call: &str, events: usize) -> String {
    format!("{call}; failed in the open stream after {events} event(s)")
}

pub async fn run(ctx: &LayerContext<'_>, creds: Credentials) -> LayerOutput<Tokens> {
    let call = describe(ctx);
    let client = runtime_client(ctx.sdk, ctx.region, creds, ctx.remaining());
    let secrets = ctx.secrets();
    let read = match chosen_body(ctx) {
        Some(body) => {
            let sent = client
                .invoke_model_with_response_stream()
                .model_id(ctx.model)
                .content_type("application/json")
                .accept("application/json")
                .body(Blob::new(body.to_string().into_bytes()))
                .set_service_tier(tier_type(ctx))
                .send()
                .await;
            let out = match sent {
                Ok(out) => out,
                Err(err) => {
                    let failure = failure_from_sdk(Layer::InvokeStream, &err, &secrets);
                    return LayerOutput::new(call, Err(failure));
                }
            };
            let request_id = out.request_id().map(str::to_string);
            let mut tokens = None;
            let on_chunk = |event: &ResponseStream| {
                if let ResponseStream::Chunk(part) = event
                    && let Some(t) = part
                        .bytes()
                        .and_then(|b| tokens_from_stream_chunk(b.as_ref()))
                {
                    tokens = Some(t);
                }
            };
            read_to_end(out.body, on_chunk, request_id.as_deref(), &secrets)
                .await
                .map(|()| tokens)
        }
        None => {
            let message = match Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text(PROMPT.to_string()))
                .build()
            {
                Ok(m) => m,
                Err(e) => {
                    let failure = local_failure(Reason::ValidationError, &e.to_string());
                    return LayerOutput::new(call, Err(failure));
                }
            };
            let max_tokens = i32::try_from(ctx.target.settings.max_tokens).unwrap_or(i32::MAX);
            let sent = client
                .converse_stream()
                .model_id(ctx.model)
                .messages(message)
                .inference_config(
                    InferenceConfiguration::builder()
                        .max_tokens(max_tokens)
                        .build(),
                )
                .set_service_tier(converse_tier(ctx))
                .send()
                .await;
            let out = match sent {
                Ok(out) => out,
                Err(err) => {
                    let failure = failure_from_sdk(Layer::InvokeStream, &err, &secrets);
                    return LayerOutput::new(call, Err(failure));
                }
            };
            let request_id = out.request_id().map(str::to_string);
            let mut tokens = None;
            let on_event = |event: &ConverseStreamOutput| {
                if let ConverseStreamOutput::Metadata(meta) = event
                    && let Some(u) = meta.usage()
                {
                    tokens = Some((
                        u64::try_from(u.input_tokens()).unwrap_or(0),
                        u64::try_from(u.output_tokens()).unwrap_or(0),
                    ));
                }
            };
            read_to_end(out.stream, on_event, request_id.as_deref(), &secrets)
                .await
                .map(|()| tokens)
        }
    };
    match read {
        Ok(tokens) => LayerOutput::new(call, Ok(tokens)),
        Err((failure, events)) => LayerOutput::new(after_open(&call, events), Err(failure)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_chunk_reports_the_invocation_metrics_of_every_provider() {
        let last = br#"{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":8,"outputTokenCount":1,"invocationLatency":312,"firstByteLatency":250}}"#;
        assert_eq!(tokens_from_stream_chunk(last), Some((8, 1)));
        let delta = br#"{"type":"content_block_delta","delta":{"type":"text_delta","text":"Hi"}}"#;
        assert_eq!(tokens_from_stream_chunk(delta), None);
        assert_eq!(tokens_from_stream_chunk(b"not json"), None);
    }
}
