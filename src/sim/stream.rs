//! Bedrock runtime's streaming operations: ConverseStream and InvokeModelWithResponseStream.
//!
//! Both make the checks of their non-streaming twins (`runtime`), authorized as
//! `bedrock:InvokeModelWithResponseStream`; an error found there is answered before any stream
//! (HTTP status and JSON error, as AWS does). Otherwise the answer is HTTP 200 with
//! `Content-Type: application/vnd.amazon.eventstream` and a body of event-stream messages, each
//! frame written by `aws-smithy-eventstream` (the SDK's own codec: prelude, headers, payload,
//! CRCs), one body chunk per frame:
//!
//! * ConverseStream: `:message-type: event` messages with `:event-type` `messageStart`,
//!   `contentBlockDelta` (one per reply piece), `contentBlockStop`, `messageStop`, `metadata`
//!   (usage and latency), JSON payloads with AWS's `p` padding field;
//! * InvokeModelWithResponseStream: `chunk` events whose payload is `{"bytes": base64}` of the
//!   provider's own stream (Anthropic's messages-API events; other providers one chunk with
//!   their answer body), the last chunk carrying `amazon-bedrock-invocationMetrics`.
//!
//! A firing `stream_error` fault ([`StreamFault`]) ends the stream after its first event with a
//! `:message-type: exception` message (`:exception-type: throttlingException`, …) whose payload
//! is `{"message": …}`.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use serde_json::{Value, json};

use super::ctx::Ctx;
use super::faults::StreamFault;
use super::reply::{Reply, latency_ms, reply_pieces};
use super::runtime::{self, Op};
use super::wire::ApiError;
use aws_smithy_types::event_stream::{Header, HeaderValue as FrameValue, Message};

/// AWS's padding field of stream events (it hides the length of the text).
const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0";

/// One encoded frame.
fn frame(headers: Vec<Header>, payload: &Value) -> Bytes {
    let message = Message::new_from_parts(headers, payload.to_string().into_bytes());
    let mut buf: Vec<u8> = Vec::new();
    match aws_smithy_eventstream::frame::write_message_to(&message, &mut buf) {
        Ok(()) => Bytes::from(buf),
        // Headers and payloads are small and fixed; a frame that cannot be written would be a
        // bug here, and an empty chunk ends nothing.
        Err(e) => {
            tracing::error!(error = %e, "could not encode an event-stream frame");
            Bytes::new()
        }
    }
}

fn string(name: &'static str, value: &'static str) -> Header {
    Header::new(name, FrameValue::String(value.into()))
}

/// An event message.
fn event(event_type: &'static str, mut payload: Value) -> Bytes {
    if let Some(o) = payload.as_object_mut() {
        o.insert("p".into(), Value::from(PADDING));
    }
    frame(
        vec![
            string(":event-type", event_type),
            string(":content-type", "application/json"),
            string(":message-type", "event"),
        ],
        &payload,
    )
}

/// An exception message.
fn exception(fault: &StreamFault) -> Bytes {
    frame(
        vec![
            string(":exception-type", fault.exception.event_type()),
            string(":content-type", "application/json"),
            string(":message-type", "exception"),
        ],
        &json!({ "message": fault.message }),
    )
}

/// The 200 answer carrying `frames`, one body chunk each; with a fault, only the first frame and
/// then the exception.
fn streamed(ctx: &Ctx, mut frames: Vec<Bytes>, fault: Option<StreamFault>) -> Response {
    if let Some(f) = fault {
        frames.truncate(1);
        tracing::debug!(
            exception = f.exception.event_type(),
            "breaking the response stream"
        );
        frames.push(exception(&f));
    }
    let chunks = frames.into_iter().map(Ok::<Bytes, std::io::Error>);
    let mut resp = Response::new(Body::from_stream(futures::stream::iter(chunks)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
        h.insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
    resp
}

fn stop_reason(r: &Reply) -> &'static str {
    if r.truncated {
        "max_tokens"
    } else {
        "end_turn"
    }
}

/// The ConverseStream events of reply `r`.
fn converse_events(r: &Reply) -> Vec<Bytes> {
    let mut frames = vec![event("messageStart", json!({"role": "assistant"}))];
    for piece in reply_pieces(r.output) {
        frames.push(event(
            "contentBlockDelta",
            json!({"contentBlockIndex": 0, "delta": {"text": piece}}),
        ));
    }
    frames.push(event("contentBlockStop", json!({"contentBlockIndex": 0})));
    frames.push(event("messageStop", json!({"stopReason": stop_reason(r)})));
    frames.push(event(
        "metadata",
        json!({
            "usage": {"inputTokens": r.input, "outputTokens": r.output, "totalTokens": r.input + r.output},
            "metrics": {"latencyMs": latency_ms()},
        }),
    ));
    frames
}

pub(crate) fn converse_stream(
    ctx: &Ctx,
    raw_id: &str,
    body: &[u8],
    fault: Option<StreamFault>,
) -> Result<Response, ApiError> {
    let r = runtime::converse_reply(ctx, Op::ConverseStream, raw_id, body)?;
    Ok(streamed(ctx, converse_events(&r), fault))
}

/// What Bedrock adds to the last chunk of every provider's stream.
fn invocation_metrics(r: &Reply) -> Value {
    let latency = latency_ms();
    json!({
        "inputTokenCount": r.input,
        "outputTokenCount": r.output,
        "invocationLatency": latency,
        "firstByteLatency": latency / 2,
    })
}

/// Anthropic's messages-API stream of reply `r`.
fn anthropic_chunks(model: &str, r: &Reply) -> Vec<Value> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let mut chunks = vec![
        json!({"type": "message_start", "message": {
            "id": format!("msg_bdrk_{}", &id[..24]), "type": "message", "role": "assistant",
            "model": model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": r.input, "output_tokens": 1},
        }}),
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    ];
    for piece in reply_pieces(r.output) {
        chunks.push(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}));
    }
    chunks.push(json!({"type": "content_block_stop", "index": 0}));
    chunks.push(json!({
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason(r), "stop_sequence": null},
        "usage": {"output_tokens": r.output},
    }));
    chunks.push(json!({"type": "message_stop"}));
    chunks
}

pub(crate) fn invoke_model_with_response_stream(
    ctx: &Ctx,
    raw_id: &str,
    headers: &HeaderMap,
    body: &[u8],
    fault: Option<StreamFault>,
) -> Result<Response, ApiError> {
    let answer = runtime::invoke_model_reply(ctx, Op::InvokeModelStream, raw_id, headers, body)?;
    let model = raw_id.rsplit('/').next().unwrap_or(raw_id);
    let mut chunks = if answer.anthropic {
        anthropic_chunks(model, &answer.reply)
    } else {
        vec![answer.body]
    };
    if let Some(Value::Object(last)) = chunks.last_mut() {
        last.insert(
            "amazon-bedrock-invocationMetrics".into(),
            invocation_metrics(&answer.reply),
        );
    }
    let frames = chunks
        .iter()
        .map(|c| {
            let bytes = aws_smithy_types::base64::encode(c.to_string());
            event("chunk", json!({ "bytes": bytes }))
        })
        .collect();
    let mut resp = streamed(ctx, frames, fault);
    resp.headers_mut().insert(
        HeaderName::from_static("x-amzn-bedrock-content-type"),
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::faults::StreamException;
    use aws_smithy_eventstream::frame::read_message_from;

    fn header<'m>(m: &'m Message, name: &str) -> Option<&'m str> {
        m.headers()
            .iter()
            .find(|h| h.name().as_str() == name)
            .and_then(|h| h.value().as_string().ok())
            .map(|s| s.as_str())
    }

    fn reply(output: u64) -> Reply {
        Reply {
            text: reply_pieces(output).concat(),
            input: 8,
            output,
            truncated: true,
        }
    }

    #[test]
    fn converse_stream_frames_decode_with_the_sdks_codec_in_awss_order() {
        let frames = converse_events(&reply(2));
        let types: Vec<String> = frames
            .iter()
            .map(|f| {
                let m = read_message_from(f.clone()).expect("a frame the codec reads");
                assert_eq!(header(&m, ":message-type"), Some("event"));
                header(&m, ":event-type").unwrap_or_default().to_string()
            })
            .collect();
        assert_eq!(
            types,
            [
                "messageStart",
                "contentBlockDelta",
                "contentBlockDelta",
                "contentBlockStop",
                "messageStop",
                "metadata"
            ]
        );
        let meta = read_message_from(frames[5].clone()).expect("metadata frame");
        let v: Value = serde_json::from_slice(meta.payload()).expect("json");
        assert_eq!(v["usage"]["outputTokens"], 2);
        assert_eq!(v["usage"]["totalTokens"], 10);
    }

    #[test]
    fn an_exception_frame_names_its_type_and_carries_only_the_message() {
        let f = StreamFault {
            exception: StreamException::ThrottlingException,
            message: "Too many tokens, please wait before trying again.".into(),
        };
        let m = read_message_from(exception(&f)).expect("exception frame");
        assert_eq!(header(&m, ":message-type"), Some("exception"));
        assert_eq!(header(&m, ":exception-type"), Some("throttlingException"));
        assert_eq!(
            m.payload().as_ref(),
            br#"{"message":"Too many tokens, please wait before trying again."}"#
        );
    }
}
