//! The simulator's streaming operations through the real AWS SDK for Rust: ConverseStream and
//! InvokeModelWithResponseStream answer in AWS's event-stream framing (the SDK decodes every
//! event), are authorized as `bedrock:InvokeModelWithResponseStream` (a principal that may
//! invoke but not stream is refused before any stream opens), and a `stream_error` fault breaks
//! an open stream with an exception event the SDK reports as its typed stream error.

mod sim_support;

use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::error::{ConverseStreamOutputError, ResponseStreamError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ContentBlockDelta, ConversationRole, ConverseStreamOutput,
    InferenceConfiguration, Message, ResponseStream, StopReason,
};
use serde_json::Value;
use sim_support::serve_scenario;

const HAIKU: &str = "anthropic.claude-3-haiku-20240307-v1:0";
const TITAN: &str = "amazon.titan-text-express-v1";
const EMBED: &str = "amazon.titan-embed-text-v2:0";

const SCENARIO: &str = r#"
[[accounts]]
id = "111111111111"

[[accounts]]
id = "333333333333"
scps = ['{"Statement":[{"Effect":"Deny","Action":"bedrock:InvokeModelWithResponseStream","Resource":"*"}]}']

[[users]]
account = "111111111111"
name = "streamer"
access_keys = [{ id = "AKIASTREAMEREXAMPLE1", secret = "streamerSecret0000000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":["bedrock:InvokeModel","bedrock:InvokeModelWithResponseStream"],"Resource":"*"}]}']

[[users]]
account = "111111111111"
name = "invoker"
access_keys = [{ id = "AKIAINVOKEREXAMPLE01", secret = "invokerSecret00000000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"*"}]}']

[[users]]
account = "333333333333"
name = "sandboxed"
access_keys = [{ id = "AKIASANDBOXEDEXAMPL1", secret = "sandboxSecret00000000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}']

[[models]]
id = "anthropic.claude-3-haiku-20240307-v1:0"
provider = "Anthropic"
regions = ["us-east-1"]
[[models]]
id = "amazon.titan-text-express-v1"
provider = "Amazon"
regions = ["us-east-1"]
[[models]]
id = "amazon.titan-embed-text-v2:0"
provider = "Amazon"
regions = ["us-east-1"]
output_modalities = ["EMBEDDING"]
[[models]]
id = "meta.llama3-8b-instruct-v1:0"
provider = "Meta"
regions = ["us-east-1"]
[[models]]
id = "mistral.mistral-7b-instruct-v0:2"
provider = "Mistral AI"
regions = ["us-east-1"]
[[models]]
id = "cohere.command-r-v1:0"
provider = "Cohere"
regions = ["us-east-1"]
[[models]]
id = "amazon.nova-micro-v1:0"
provider = "Amazon"
regions = ["us-east-1"]

[[faults]]
service = "bedrock-runtime"
model = "meta.llama3-8b-instruct-v1:0"
kind = "stream_error"
exception = "throttlingException"

[[faults]]
service = "bedrock-runtime"
model = "mistral.mistral-7b-instruct-v0:2"
kind = "stream_error"
exception = "validationException"

[[faults]]
service = "bedrock-runtime"
model = "cohere.command-r-v1:0"
kind = "stream_error"
exception = "serviceUnavailableException"

[[faults]]
service = "bedrock-runtime"
model = "amazon.nova-micro-v1:0"
kind = "stream_error"
exception = "internalServerException"

[[faults]]
service = "bedrock-runtime"
operation = "InvokeModelWithResponseStream"
model = "amazon.titan-text-express-v1"
kind = "stream_error"
"#;

fn key(id: &str, secret: &str) -> Credentials {
    Credentials::new(id, secret, None, None, "t")
}

fn streamer() -> Credentials {
    key(
        "AKIASTREAMEREXAMPLE1",
        "streamerSecret0000000000000000000000001",
    )
}

fn invoker() -> Credentials {
    key(
        "AKIAINVOKEREXAMPLE01",
        "invokerSecret00000000000000000000000001",
    )
}

fn sandboxed() -> Credentials {
    key(
        "AKIASANDBOXEDEXAMPL1",
        "sandboxSecret00000000000000000000000001",
    )
}

async fn runtime(creds: Credentials) -> aws_sdk_bedrockruntime::Client {
    use aws_sdk_bedrockruntime::config;
    let (addr, _) = serve_scenario(SCENARIO, "sim_stream").await;
    aws_sdk_bedrockruntime::Client::from_conf(
        config::Builder::new()
            .behavior_version(config::BehaviorVersion::latest())
            .region(config::Region::new("us-east-1"))
            .credentials_provider(creds)
            .endpoint_url(format!("http://{addr}"))
            .retry_config(config::retry::RetryConfig::disabled())
            .build(),
    )
}

fn hi() -> Message {
    match Message::builder()
        .role(ConversationRole::User)
        .content(ContentBlock::Text("Hi".into()))
        .build()
    {
        Ok(m) => m,
        Err(e) => panic!("message: {e}"),
    }
}

fn max_tokens(n: i32) -> InferenceConfiguration {
    InferenceConfiguration::builder().max_tokens(n).build()
}

/// What one ConverseStream call produced: the events' names and text, the usage, and the
/// error that ended the stream, if any.
#[derive(Debug, Default)]
struct ConverseRead {
    events: Vec<&'static str>,
    text: String,
    stop: Option<StopReason>,
    usage: Option<(i32, i32)>,
    error: Option<ConverseStreamOutputError>,
}

async fn converse_stream(
    rt: &aws_sdk_bedrockruntime::Client,
    model: &str,
    tokens: i32,
) -> Result<
    ConverseRead,
    aws_sdk_bedrockruntime::error::SdkError<
        aws_sdk_bedrockruntime::operation::converse_stream::ConverseStreamError,
        aws_sdk_bedrockruntime::config::http::HttpResponse,
    >,
> {
    let mut out = rt
        .converse_stream()
        .model_id(model)
        .messages(hi())
        .inference_config(max_tokens(tokens))
        .send()
        .await?;
    let mut read = ConverseRead::default();
    loop {
        match out.stream.recv().await {
            Ok(Some(event)) => read.events.push(match event {
                ConverseStreamOutput::MessageStart(m) => {
                    assert_eq!(m.role(), &ConversationRole::Assistant);
                    "messageStart"
                }
                ConverseStreamOutput::ContentBlockDelta(d) => {
                    if let Some(ContentBlockDelta::Text(t)) = d.delta() {
                        read.text.push_str(t);
                    }
                    "contentBlockDelta"
                }
                ConverseStreamOutput::ContentBlockStop(_) => "contentBlockStop",
                ConverseStreamOutput::MessageStop(s) => {
                    read.stop = Some(s.stop_reason().clone());
                    "messageStop"
                }
                ConverseStreamOutput::Metadata(m) => {
                    read.usage = m.usage().map(|u| (u.input_tokens(), u.output_tokens()));
                    "metadata"
                }
                _ => "other",
            }),
            Ok(None) => return Ok(read),
            Err(e) => {
                read.error = Some(e.into_service_error());
                return Ok(read);
            }
        }
    }
}

/// The decoded chunks of one InvokeModelWithResponseStream call, its content type and the
/// error that ended the stream, if any.
async fn invoke_stream(
    rt: &aws_sdk_bedrockruntime::Client,
    model: &str,
    body: &str,
) -> Result<(Vec<Value>, String, Option<ResponseStreamError>), String> {
    let mut out = rt
        .invoke_model_with_response_stream()
        .model_id(model)
        .content_type("application/json")
        .accept("application/json")
        .body(Blob::new(body.as_bytes().to_vec()))
        .send()
        .await
        .map_err(|e| {
            format!(
                "{}: {}",
                e.code().unwrap_or_default(),
                e.message().unwrap_or_default()
            )
        })?;
    let content_type = out.content_type().to_string();
    let mut chunks = Vec::new();
    loop {
        match out.body.recv().await {
            Ok(Some(ResponseStream::Chunk(part))) => {
                let bytes = part
                    .bytes()
                    .map(|b| b.as_ref().to_vec())
                    .unwrap_or_default();
                match serde_json::from_slice(&bytes) {
                    Ok(v) => chunks.push(v),
                    Err(e) => panic!("chunk is not JSON: {e}"),
                }
            }
            Ok(Some(_)) => panic!("an event that is not a chunk"),
            Ok(None) => return Ok((chunks, content_type, None)),
            Err(e) => return Ok((chunks, content_type, Some(e.into_service_error()))),
        }
    }
}

#[tokio::test]
async fn a_streamed_chat_reads_every_converse_stream_event_and_the_usage_at_the_end() {
    let rt = runtime(streamer()).await;
    let read = match converse_stream(&rt, HAIKU, 3).await {
        Ok(r) => r,
        Err(e) => panic!("ConverseStream: {e:?}"),
    };
    assert!(read.error.is_none(), "{:?}", read.error);
    assert_eq!(
        read.events,
        [
            "messageStart",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockDelta",
            "contentBlockStop",
            "messageStop",
            "metadata"
        ]
    );
    assert_eq!(read.text, "Hi there!");
    assert_eq!(read.stop, Some(StopReason::MaxTokens));
    let Some((input, output)) = read.usage else {
        panic!("no usage in the metadata event")
    };
    assert!(input > 0);
    assert_eq!(output, 3);
}

#[tokio::test]
async fn invoke_model_with_response_stream_delivers_the_providers_own_chunks_and_the_invocation_metrics()
 {
    let rt = runtime(streamer()).await;
    let body = r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":1,"messages":[{"role":"user","content":"Hi"}]}"#;
    let (chunks, content_type, error) = match invoke_stream(&rt, HAIKU, body).await {
        Ok(r) => r,
        Err(e) => panic!("InvokeModelWithResponseStream: {e}"),
    };
    assert!(error.is_none(), "{error:?}");
    assert_eq!(content_type, "application/json");
    let types: Vec<&str> = chunks.iter().filter_map(|c| c["type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(chunks[2]["delta"]["text"], "Hi");
    let metrics = &chunks[5]["amazon-bedrock-invocationMetrics"];
    assert_eq!(metrics["outputTokenCount"], 1);
    assert!(
        metrics["inputTokenCount"].as_u64().unwrap_or(0) > 0,
        "{metrics}"
    );

    // Another provider's stream, broken by a fault after its first chunk.
    let mut out = match rt
        .invoke_model_with_response_stream()
        .model_id("cohere.command-r-v1:0")
        .content_type("application/json")
        .body(Blob::new(br#"{"prompt":"Hi","max_tokens":1}"#.to_vec()))
        .send()
        .await
    {
        Ok(o) => o,
        Err(e) => panic!("{e:?}"),
    };
    // Cohere's model has a stream_error fault for every operation: one chunk, then the error.
    let first = out.body.recv().await;
    assert!(
        matches!(first, Ok(Some(ResponseStream::Chunk(_)))),
        "{first:?}"
    );
    let second = out.body.recv().await;
    match second.map_err(|e| e.into_service_error()) {
        Err(ResponseStreamError::ServiceUnavailableException(e)) => {
            assert_eq!(
                e.message(),
                Some("Bedrock is unable to process your request.")
            );
        }
        other => panic!("want the typed serviceUnavailableException, got {other:?}"),
    }
}

#[tokio::test]
async fn a_principal_that_may_invoke_but_not_stream_is_refused_before_any_stream_opens() {
    let rt = runtime(invoker()).await;
    let converse = rt
        .converse()
        .model_id(HAIKU)
        .messages(hi())
        .inference_config(max_tokens(1))
        .send()
        .await;
    assert!(converse.is_ok(), "Converse is allowed: {converse:?}");

    let refused = match converse_stream(&rt, HAIKU, 1).await {
        Ok(r) => panic!("ConverseStream must be refused: {r:?}"),
        Err(e) => e,
    };
    assert_eq!(refused.code(), Some("AccessDeniedException"));
    assert_eq!(
        refused.raw_response().map(|r| r.status().as_u16()),
        Some(403)
    );
    let msg = refused.message().unwrap_or_default();
    assert!(
        msg.contains("is not authorized to perform: bedrock:InvokeModelWithResponseStream on resource: arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0 because no identity-based policy allows the bedrock:InvokeModelWithResponseStream action"),
        "{msg}"
    );

    let body = r#"{"anthropic_version":"bedrock-2023-05-31","max_tokens":1,"messages":[{"role":"user","content":"Hi"}]}"#;
    match invoke_stream(&rt, HAIKU, body).await {
        Err(e) => {
            assert!(e.starts_with("AccessDeniedException: "), "{e}");
            assert!(
                e.contains("bedrock:InvokeModelWithResponseStream action"),
                "{e}"
            );
        }
        Ok(r) => panic!("InvokeModelWithResponseStream must be refused: {r:?}"),
    }
}

#[tokio::test]
async fn an_scp_that_denies_streaming_refuses_the_stream_with_the_explicit_deny_text() {
    let rt = runtime(sandboxed()).await;
    let refused = match converse_stream(&rt, HAIKU, 1).await {
        Ok(r) => panic!("the SCP must refuse ConverseStream: {r:?}"),
        Err(e) => e,
    };
    assert_eq!(refused.code(), Some("AccessDeniedException"));
    assert!(
        refused
            .message()
            .unwrap_or_default()
            .contains("with an explicit deny in a service control policy"),
        "{refused:?}"
    );
    let converse = rt.converse().model_id(HAIKU).messages(hi()).send().await;
    assert!(
        converse.is_ok(),
        "the SCP denies only streaming: {converse:?}"
    );
}

/// Which typed stream error an exception event must become.
type IsKind = fn(&ConverseStreamOutputError) -> bool;

#[tokio::test]
async fn every_exception_event_of_an_open_stream_arrives_as_the_sdks_typed_stream_error() {
    let rt = runtime(streamer()).await;
    let cases: [(&str, IsKind, &str); 4] = [
        (
            "meta.llama3-8b-instruct-v1:0",
            ConverseStreamOutputError::is_throttling_exception,
            "Too many tokens, please wait before trying again.",
        ),
        (
            "mistral.mistral-7b-instruct-v0:2",
            ConverseStreamOutputError::is_validation_exception,
            "Input is too long for requested model.",
        ),
        (
            "cohere.command-r-v1:0",
            ConverseStreamOutputError::is_service_unavailable_exception,
            "Bedrock is unable to process your request.",
        ),
        (
            "amazon.nova-micro-v1:0",
            ConverseStreamOutputError::is_internal_server_exception,
            "The system encountered an unexpected error during processing. Try your request again.",
        ),
    ];
    for (model, is_kind, message) in cases {
        let read = match converse_stream(&rt, model, 1).await {
            Ok(r) => r,
            Err(e) => panic!("{model}: the stream must open: {e:?}"),
        };
        assert_eq!(
            read.events,
            ["messageStart"],
            "{model}: one event, then the error"
        );
        let Some(err) = read.error else {
            panic!("{model}: no error event")
        };
        assert!(is_kind(&err), "{model}: {err:?}");
        assert_eq!(err.message(), Some(message), "{model}");
    }

    // InvokeModelWithResponseStream: the default exception, only on the operation named.
    let titan = r#"{"inputText":"Hi","textGenerationConfig":{"maxTokenCount":1}}"#;
    let (chunks, _, error) = match invoke_stream(&rt, TITAN, titan).await {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    match error {
        Some(ResponseStreamError::ModelStreamErrorException(e)) => assert_eq!(
            e.message(),
            Some("An error occurred while streaming the response. Retry your request.")
        ),
        other => panic!("want modelStreamErrorException, got {other:?}"),
    }
    let read = match converse_stream(&rt, TITAN, 1).await {
        Ok(r) => r,
        Err(e) => panic!("{e:?}"),
    };
    assert!(read.error.is_none(), "the fault names another operation");
    assert_eq!(read.events.last(), Some(&"metadata"));
}

#[tokio::test]
async fn embedding_models_answer_no_stream() {
    let rt = runtime(streamer()).await;
    let refused = match converse_stream(&rt, EMBED, 1).await {
        Ok(r) => panic!("{r:?}"),
        Err(e) => e,
    };
    assert_eq!(refused.code(), Some("ValidationException"));
    match invoke_stream(&rt, EMBED, r#"{"inputText":"Hi"}"#).await {
        Err(e) => assert_eq!(
            e,
            "ValidationException: The model is unsupported for streaming."
        ),
        Ok(r) => panic!("{r:?}"),
    }
}
