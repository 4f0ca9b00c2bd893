//! Layer 4, `invoke`: the minimal real invocation with the assumed credentials: Converse with
//! `maxTokens = max_tokens` and one short user message, or InvokeModel with a minimal
//! provider-specific body. Embedding models (which Converse does not serve) always go through
//! InvokeModel with their provider's minimal embedding body. A model whose provider has no known
//! InvokeModel body is invoked with Converse.
//!
//! A target's `service_tier` is sent with every invocation (Converse's `serviceTier`, InvokeModel's
//! service tier header), here and in `invoke_stream`.

use aws_credential_types::Credentials;
use aws_sdk_bedrockruntime::primitives::Blob;
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, InferenceConfiguration, Message, ServiceTier, ServiceTierType,
};
use serde_json::{Value, json};

use super::aws::{failure_from_sdk, local_failure};
use super::clients::runtime_call;
use super::{LayerContext, LayerOutput};
use crate::config::{self, InvokeMode};
use crate::model_id::bare_name;
use crate::reason::{Layer, Reason};

/// The one short user message of every probe invocation.
pub const PROMPT: &str = "Hi";

/// The target's `service_tier` as InvokeModel's (and InvokeModelWithResponseStream's) header.
pub fn tier_type(ctx: &LayerContext<'_>) -> Option<ServiceTierType> {
    let tier = ctx.target.settings.service_tier?;
    Some(match tier {
        config::ServiceTier::Default => ServiceTierType::Default,
        config::ServiceTier::Priority => ServiceTierType::Priority,
        config::ServiceTier::Flex => ServiceTierType::Flex,
    })
}

/// The target's `service_tier` as Converse's (and ConverseStream's) `serviceTier` member.
pub fn converse_tier(ctx: &LayerContext<'_>) -> Option<ServiceTier> {
    ServiceTier::builder().r#type(tier_type(ctx)?).build().ok()
}

/// ` serviceTier=…` for the call line, when the target sets one.
pub fn tier_suffix(ctx: &LayerContext<'_>) -> String {
    ctx.target
        .settings
        .service_tier
        .map(|t| format!(" serviceTier={}", t.as_str()))
        .unwrap_or_default()
}

/// (input, output) tokens the invocation consumed, when the answer says.
pub type Tokens = Option<(u64, u64)>;

/// Whether the model is an embedding model (served by InvokeModel only).
pub fn is_embedding(model: &str) -> bool {
    crate::model_id::is_embedding(model)
}

/// The minimal InvokeModel body for `model`, or `None` when its provider is not known.
pub fn invoke_model_body(model: &str, max_tokens: u32) -> Option<Value> {
    let base = bare_name(model);
    let provider = base.split('.').next().unwrap_or("");
    let body = match provider {
        "anthropic" => json!({
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": max_tokens,
            "messages": [{"role": "user", "content": PROMPT}],
        }),
        "amazon" if base.contains("embed") => json!({"inputText": PROMPT}),
        "amazon" if base.contains("titan") => json!({
            "inputText": PROMPT,
            "textGenerationConfig": {"maxTokenCount": max_tokens},
        }),
        "amazon" if base.contains("nova") => json!({
            "schemaVersion": "messages-v1",
            "messages": [{"role": "user", "content": [{"text": PROMPT}]}],
            "inferenceConfig": {"maxTokens": max_tokens},
        }),
        "meta" => json!({"prompt": PROMPT, "max_gen_len": max_tokens}),
        "mistral" => {
            json!({"prompt": format!("<s>[INST] {PROMPT} [/INST]"), "max_tokens": max_tokens})
        }
        "cohere" if base.contains("embed") => {
            json!({"texts": [PROMPT], "input_type": "search_query"})
        }
        "cohere" if base.contains("command-r") => {
            json!({"message": PROMPT, "max_tokens": max_tokens})
        }
        "cohere" => json!({"prompt": PROMPT, "max_tokens": max_tokens}),
        _ => return None,
    };
    Some(body)
}

/// Token counts an InvokeModel answer reports, by provider convention.
pub fn tokens_from_invoke_body(body: &[u8]) -> Tokens {
    let v: Value = serde_json::from_slice(body).ok()?;
    let num = |v: &Value, path: &[&str]| -> Option<u64> {
        let mut cur = v;
        for p in path {
            cur = cur.get(*p)?;
        }
        cur.as_u64()
    };
    // Anthropic messages API.
    if let (Some(i), Some(o)) = (
        num(&v, &["usage", "input_tokens"]),
        num(&v, &["usage", "output_tokens"]),
    ) {
        return Some((i, o));
    }
    // Amazon Nova.
    if let (Some(i), Some(o)) = (
        num(&v, &["usage", "inputTokens"]),
        num(&v, &["usage", "outputTokens"]),
    ) {
        return Some((i, o));
    }
    // Meta Llama.
    if let (Some(i), Some(o)) = (
        num(&v, &["prompt_token_count"]),
        num(&v, &["generation_token_count"]),
    ) {
        return Some((i, o));
    }
    // Amazon Titan text (and Titan embeddings: input only).
    if let Some(i) = num(&v, &["inputTextTokenCount"]) {
        let o = v
            .get("results")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(|x| x.get("tokenCount")?.as_u64()).sum())
            .unwrap_or(0);
        return Some((i, o));
    }
    None
}

/// The InvokeModel body this probe sends, or `None` for Converse (`invoke_stream` makes the
/// same choice between its streaming twins).
pub(super) fn chosen_body(ctx: &LayerContext<'_>) -> Option<Value> {
    let settings = &ctx.target.settings;
    if settings.invoke == InvokeMode::InvokeModel || is_embedding(ctx.model) {
        invoke_model_body(ctx.model, settings.max_tokens)
    } else {
        None
    }
}

/// The one-line description of the call.
pub fn describe(ctx: &LayerContext<'_>) -> String {
    let max_tokens = ctx.target.settings.max_tokens;
    match chosen_body(ctx) {
        Some(_) => format!(
            "bedrock-runtime:InvokeModel {} region={} max_tokens={max_tokens}{}",
            ctx.model,
            ctx.region,
            tier_suffix(ctx)
        ),
        None => format!(
            "bedrock-runtime:Converse {} region={} maxTokens={max_tokens}{}",
            ctx.model,
            ctx.region,
            tier_suffix(ctx)
        ),
    }
}

pub async fn run(ctx: &LayerContext<'_>, creds: Credentials) -> LayerOutput<Tokens> {
    let settings = &ctx.target.settings;
    let call = describe(ctx);
    let body = chosen_body(ctx);
    let client = &ctx.clients.runtime;
    match body {
        Some(body) => {
            let bytes = body.to_string().into_bytes();
            let sent = client
                .invoke_model()
                .model_id(ctx.model)
                .content_type("application/json")
                .accept("application/json")
                .body(Blob::new(bytes))
                .set_service_tier(tier_type(ctx))
                .customize()
                .config_override(runtime_call(creds, ctx.remaining()))
                .send()
                .await;
            let result = match sent {
                Ok(out) => Ok(tokens_from_invoke_body(out.body().as_ref())),
                Err(err) => Err(failure_from_sdk(Layer::Invoke, &err, &ctx.secrets())),
            };
            LayerOutput::new(call, result)
        }
        None => {
            let message = match Message::builder()
                .role(ConversationRole::User)
                .content(ContentBlock::Text(PROMPT.to_string()))
                .build()
            {
                Ok(m) => m,
                Err(e) => {
                    return LayerOutput::new(
                        call,
                        Err(local_failure(Reason::ValidationError, &e.to_string())),
                    );
                }
            };
            let max_tokens = i32::try_from(settings.max_tokens).unwrap_or(i32::MAX);
            let sent = client
                .converse()
                .model_id(ctx.model)
                .messages(message)
                .inference_config(
                    InferenceConfiguration::builder()
                        .max_tokens(max_tokens)
                        .build(),
                )
                .set_service_tier(converse_tier(ctx))
                .customize()
                .config_override(runtime_call(creds, ctx.remaining()))
                .send()
                .await;
            let result = match sent {
                Ok(out) => Ok(out.usage().map(|u| {
                    (
                        u64::try_from(u.input_tokens()).unwrap_or(0),
                        u64::try_from(u.output_tokens()).unwrap_or(0),
                    )
                })),
                Err(err) => Err(failure_from_sdk(Layer::Invoke, &err, &ctx.secrets())),
            };
            LayerOutput::new(call, result)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anthropic_profiles_get_the_messages_api_body() {
        let body = invoke_model_body("us.anthropic.claude-3-5-haiku-20241022-v1:0", 1);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        assert!(body.contains("bedrock-2023-05-31"), "{body}");
        assert!(body.contains("\"max_tokens\":1"), "{body}");
    }

    #[test]
    fn embedding_models_are_recognised_and_get_an_embedding_body() {
        assert!(is_embedding("amazon.titan-embed-text-v2:0"));
        assert!(is_embedding("cohere.embed-english-v3"));
        assert!(!is_embedding("amazon.titan-text-express-v1"));
        let titan = invoke_model_body("amazon.titan-embed-text-v2:0", 1).map(|b| b.to_string());
        assert_eq!(titan.as_deref(), Some("{\"inputText\":\"Hi\"}"));
        let cohere = invoke_model_body("cohere.embed-english-v3", 1).map(|b| b.to_string());
        assert!(cohere.unwrap_or_default().contains("\"texts\""));
    }

    #[test]
    fn unknown_providers_have_no_invoke_model_body() {
        assert_eq!(invoke_model_body("someone.new-model-v1", 1), None);
    }

    #[test]
    fn token_counts_are_read_from_provider_bodies() {
        let anthropic = br#"{"usage":{"input_tokens":8,"output_tokens":1}}"#;
        assert_eq!(tokens_from_invoke_body(anthropic), Some((8, 1)));
        let titan = br#"{"inputTextTokenCount":3,"results":[{"tokenCount":1}]}"#;
        assert_eq!(tokens_from_invoke_body(titan), Some((3, 1)));
        let llama = br#"{"prompt_token_count":5,"generation_token_count":1}"#;
        assert_eq!(tokens_from_invoke_body(llama), Some((5, 1)));
        assert_eq!(tokens_from_invoke_body(b"{\"outputs\":[]}"), None);
        assert_eq!(tokens_from_invoke_body(b"not json"), None);
    }
}
