//! Layer 3, `model_access`: `bedrock:GetFoundationModelAvailability` for the model (for an
//! inference profile, `bedrock:GetInferenceProfile` first, then the availability of the
//! profile's model in the tuple's region), with the assumed credentials.

use aws_credential_types::Credentials;

use super::aws::{failure_from_sdk, local_failure};
use super::clients::bedrock_call;
use super::{Availability, Failure, LayerContext, LayerOutput};
use crate::model_id::{foundation_model_id, is_inference_profile};
use crate::reason::{Layer, Reason, classify_availability};

/// The one-line description of the calls (before the profile's model is known).
pub fn describe(ctx: &LayerContext<'_>) -> String {
    if is_inference_profile(ctx.model) {
        format!(
            "bedrock:GetInferenceProfile {m} region={r}; bedrock:GetFoundationModelAvailability (model of {m}) region={r}",
            m = ctx.model,
            r = ctx.region
        )
    } else {
        format!(
            "bedrock:GetFoundationModelAvailability {} region={}",
            foundation_model_id(ctx.model),
            ctx.region
        )
    }
}

pub async fn run(ctx: &LayerContext<'_>, creds: Credentials) -> LayerOutput<Availability> {
    let client = &ctx.clients.bedrock;
    let mut call = String::new();
    let model_id = if is_inference_profile(ctx.model) {
        call.push_str(&format!(
            "bedrock:GetInferenceProfile {} region={}; ",
            ctx.model, ctx.region
        ));
        match client
            .get_inference_profile()
            .inference_profile_identifier(ctx.model)
            .customize()
            .config_override(bedrock_call(creds.clone(), ctx.remaining()))
            .send()
            .await
        {
            Err(err) => {
                let failure = failure_from_sdk(Layer::ModelAccess, &err, &ctx.secrets());
                return LayerOutput::new(call.trim_end_matches("; ").to_string(), Err(failure));
            }
            Ok(profile) => {
                let in_region = profile
                    .models()
                    .iter()
                    .filter_map(|m| m.model_arn())
                    .find(|arn| arn.split(':').nth(3) == Some(ctx.region));
                let any = profile.models().iter().find_map(|m| m.model_arn());
                match in_region.or(any) {
                    Some(arn) => foundation_model_id(arn).to_string(),
                    None => {
                        return LayerOutput::new(
                            call.trim_end_matches("; ").to_string(),
                            Err(local_failure(
                                Reason::ModelNotInRegion,
                                "the inference profile lists no model",
                            )),
                        );
                    }
                }
            }
        }
    } else {
        foundation_model_id(ctx.model).to_string()
    };
    call.push_str(&format!(
        "bedrock:GetFoundationModelAvailability {model_id} region={}",
        ctx.region
    ));

    let out = match client
        .get_foundation_model_availability()
        .model_id(&model_id)
        .customize()
        .config_override(bedrock_call(creds, ctx.remaining()))
        .send()
        .await
    {
        Err(err) => {
            let failure = failure_from_sdk(Layer::ModelAccess, &err, &ctx.secrets());
            return LayerOutput::new(call, Err(failure));
        }
        Ok(out) => out,
    };
    let agreement = out.agreement_availability();
    let availability = Availability {
        agreement: agreement
            .map(|a| a.status().as_str())
            .unwrap_or("")
            .to_string(),
        authorization: out.authorization_status().as_str().to_string(),
        entitlement: out.entitlement_availability().as_str().to_string(),
        region: out.region_availability().as_str().to_string(),
    };
    let request_id = aws_types::request_id::RequestId::request_id(&out).map(str::to_string);
    let result = match classify_availability(
        &availability.agreement,
        &availability.authorization,
        &availability.entitlement,
        &availability.region,
    ) {
        None => Ok(availability.clone()),
        Some(reason) => {
            let mut message = format!(
                "agreement={} authorization={} entitlement={} region={}",
                availability.agreement,
                availability.authorization,
                availability.entitlement,
                availability.region
            );
            if let Some(detail) = agreement.and_then(|a| a.error_message()) {
                message.push_str(": ");
                message.push_str(detail);
            }
            Err(Failure {
                reason,
                error_code: None,
                http_status: None,
                request_id,
                message: super::aws::redact(&message, &ctx.secrets()),
            })
        }
    };
    let mut output = LayerOutput::new(call, result);
    output.availability = Some(availability);
    output
}
