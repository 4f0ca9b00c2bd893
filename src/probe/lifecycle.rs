//! Model lifecycle, before it breaks: `bedrock:GetFoundationModel`'s `modelLifecycle` — the
//! status (`ACTIVE`, `LEGACY`) and when the model becomes Legacy, enters public extended access
//! and reaches end of life — for the foundation model of a tuple, in the tuple's region.
//!
//! * Read with the credentials the Bedrock layers use (the round's assumed role; a same-account
//!   target's source credentials), as one of the control-plane reads: only where `model_access`
//!   is on. The role needs `bedrock:GetFoundationModel`.
//! * At most once per [`REFRESH`] per (region, foundation model), whatever the number of
//!   targets, rounds or reloads (the daemon keeps one [`LifecycleCache`] across reloads): the
//!   dates change rarely and are the same for every account.
//! * A read that fails keeps the last value (if any), logs one warning, and is tried again
//!   [`REFRESH`] later; it never fails a layer.
//! * An inference profile's model is its id without the geographic prefix; an application
//!   inference profile's ARN names no model, so it has no lifecycle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::LayerContext;
use super::auth::Auth;
use super::aws::failure_from_sdk;
use super::clients::bedrock_call;
use crate::model_id::base_model;
use crate::reason::Layer;

/// How long a read (or a failed attempt) stands before the next one.
pub const REFRESH: Duration = Duration::from_secs(3600);

/// A model's lifecycle as GetFoundationModel reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelLifecycle {
    /// `ACTIVE`, `LEGACY`, or what AWS says next (a label value: see [`status_label`]).
    pub status: String,
    /// When the model becomes (or became) Legacy.
    pub legacy: Option<SystemTime>,
    /// When the public extended access part of the legacy period (higher prices) starts.
    pub public_extended_access: Option<SystemTime>,
    /// When the model reaches end of life: invocations fail from then on.
    pub end_of_life: Option<SystemTime>,
}

/// The status as a label value: AWS's spelling when it looks like an enum value
/// (`^[A-Z][A-Z_]{0,31}$`), else `other`; AWS's text never becomes a label otherwise.
pub fn status_label(status: &str) -> &str {
    let ok = status.len() <= 32
        && status.starts_with(|c: char| c.is_ascii_uppercase())
        && status.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    if ok { status } else { "other" }
}

/// The foundation model whose lifecycle a tuple's model id has, if it names one.
pub fn lifecycle_model(model: &str) -> Option<&str> {
    let base = base_model(model);
    (!base.starts_with("arn:") && !base.is_empty()).then_some(base)
}

#[derive(Debug, Default)]
struct Known {
    read_at: Option<Instant>,
    value: Option<ModelLifecycle>,
}

#[derive(Debug, Default)]
struct Entry {
    known: Mutex<Known>,
    /// Held while one tuple reads, so tuples sharing the model wait for its answer.
    reading: tokio::sync::Mutex<()>,
}

impl Entry {
    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The value, when the last read (or attempt) is younger than [`REFRESH`].
    fn fresh(&self) -> Option<Option<ModelLifecycle>> {
        let known = self.known();
        let at = known.read_at?;
        (at.elapsed() < REFRESH).then(|| known.value.clone())
    }
}

/// Lifecycles per (region, foundation model), shared by every probe of a process.
#[derive(Debug, Default)]
pub struct LifecycleCache {
    entries: Mutex<HashMap<(String, String), Arc<Entry>>>,
}

impl LifecycleCache {
    fn entry(&self, region: &str, model: &str) -> Arc<Entry> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .entry((region.to_string(), model.to_string()))
            .or_default()
            .clone()
    }

    /// What is known of `model` (a tuple's model id) in `region`, without reading.
    pub fn peek(&self, region: &str, model: &str) -> Option<ModelLifecycle> {
        let model = lifecycle_model(model)?;
        self.entry(region, model).known().value.clone()
    }

    /// The lifecycle of the tuple's model: the cached one while it is fresh, else read now
    /// with `creds` (see the module's notes).
    pub async fn get(&self, ctx: &LayerContext<'_>, creds: Auth) -> Option<ModelLifecycle> {
        self.get_after(ctx, creds, async { true }).await
    }

    /// [`Self::get`], with a read of AWS waiting for `slot` first (the account's pace); a slot
    /// refused (`false`) skips the read and answers what is known.
    pub async fn get_after(
        &self,
        ctx: &LayerContext<'_>,
        creds: Auth,
        slot: impl std::future::Future<Output = bool>,
    ) -> Option<ModelLifecycle> {
        let model = lifecycle_model(ctx.model)?;
        let entry = self.entry(ctx.region, model);
        if let Some(value) = entry.fresh() {
            return value;
        }
        let _reading = entry.reading.lock().await;
        if let Some(value) = entry.fresh() {
            return value;
        }
        if !slot.await {
            return entry.known().value.clone();
        }
        let read = read(ctx, model, creds).await;
        let mut known = entry.known();
        known.read_at = Some(Instant::now());
        if let Some(value) = read {
            known.value = Some(value);
        }
        known.value.clone()
    }
}

/// One GetFoundationModel call; a refusal is logged (redacted) and yields nothing.
async fn read(ctx: &LayerContext<'_>, model: &str, creds: Auth) -> Option<ModelLifecycle> {
    let sent = ctx
        .clients
        .bedrock
        .get_foundation_model()
        .model_identifier(model)
        .customize()
        .config_override(bedrock_call(creds, ctx.remaining()))
        .send()
        .await;
    let out = match sent {
        Ok(out) => out,
        Err(err) => {
            let failure = failure_from_sdk(Layer::ModelAccess, &err, &ctx.secrets());
            tracing::warn!(
                target = %ctx.target.name,
                aws_region = %ctx.region,
                model_id = %model,
                reason = %failure.reason,
                aws_message = %failure.message,
                "could not read the model's lifecycle (bedrock:GetFoundationModel); trying again in an hour"
            );
            return None;
        }
    };
    let lifecycle = out.model_details()?.model_lifecycle()?;
    let time =
        |t: Option<&aws_smithy_types::DateTime>| t.and_then(|t| SystemTime::try_from(*t).ok());
    Some(ModelLifecycle {
        status: status_label(lifecycle.status().as_str()).to_string(),
        legacy: time(lifecycle.legacy_time()),
        public_extended_access: time(lifecycle.public_extended_access_time()),
        end_of_life: time(lifecycle.end_of_life_time()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_that_is_not_an_enum_value_becomes_other() {
        assert_eq!(status_label("ACTIVE"), "ACTIVE");
        assert_eq!(status_label("LEGACY"), "LEGACY");
        assert_eq!(
            status_label("PUBLIC_EXTENDED_ACCESS"),
            "PUBLIC_EXTENDED_ACCESS"
        );
        for bad in ["", "active", "LEGACY\"}", "A B", &"A".repeat(33)] {
            assert_eq!(status_label(bad), "other", "{bad}");
        }
    }

    #[test]
    fn profiles_have_their_model_s_lifecycle_and_application_profiles_none() {
        assert_eq!(
            lifecycle_model("us.anthropic.claude-3-7-sonnet-20250219-v1:0"),
            Some("anthropic.claude-3-7-sonnet-20250219-v1:0")
        );
        assert_eq!(
            lifecycle_model("arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0"),
            Some("amazon.nova-pro-v1:0")
        );
        assert_eq!(
            lifecycle_model(
                "arn:aws:bedrock:us-east-1:111111111111:application-inference-profile/abc123"
            ),
            None
        );
    }
}
