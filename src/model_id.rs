//! Model ids as Bedrock spells them: foundation-model ids, system-defined cross-region
//! inference profiles (`us.` + model id, `global.` + model id, …), their ARNs, and the resource
//! ARNs IAM authorises `bedrock:InvokeModel` on. The probe layers, the fixes and `diagnose`
//! all read model ids through these helpers, so every output names the same model and profile.

/// Geographic prefixes of system-defined cross-region inference profile ids.
pub const PROFILE_PREFIXES: &[&str] = &[
    "us.", "eu.", "apac.", "global.", "us-gov.", "jp.", "au.", "ca.",
];

/// The prefix of the global cross-region inference profiles, for regions whose geography has
/// no profile of its own.
pub const GLOBAL_PREFIX: &str = "global.";

/// The geographic prefix (`us.`, `us-gov.`, `eu.`, `apac.`, `ca.`) of the system-defined
/// cross-region inference profiles that serve `region`, if its geography has one.
pub fn geo_profile_prefix(region: &str) -> Option<&'static str> {
    match region.split('-').next().unwrap_or("") {
        "us" if region.starts_with("us-gov-") => Some("us-gov."),
        "us" => Some("us."),
        "eu" => Some("eu."),
        "ap" => Some("apac."),
        "ca" => Some("ca."),
        _ => None,
    }
}

/// Whether `model` names an inference profile rather than a foundation model.
pub fn is_inference_profile(model: &str) -> bool {
    PROFILE_PREFIXES.iter().any(|p| model.starts_with(p))
        || model.contains(":inference-profile/")
        || model.contains(":application-inference-profile/")
}

/// The foundation model id of a foundation-model ARN (or the id itself).
pub fn foundation_model_id(arn_or_id: &str) -> &str {
    match arn_or_id.split_once("foundation-model/") {
        Some((_, id)) => id,
        None => arn_or_id,
    }
}

/// The foundation model behind a model id: the id itself, a foundation-model ARN's id, or an
/// inference profile's id without its geographic prefix. A profile ARN stays as it is (its
/// model is known only to AWS).
pub fn base_model(model: &str) -> &str {
    let id = foundation_model_id(model);
    if is_inference_profile(id) && !id.starts_with("arn:") {
        id.split_once('.').map_or(id, |(_, rest)| rest)
    } else {
        id
    }
}

/// The last segment of a model id or ARN without a geographic prefix: the name a provider's
/// request body is chosen by (`anthropic.…`, `amazon.titan-embed-…`), also for a system
/// profile's ARN.
pub fn bare_name(model: &str) -> &str {
    let last = model.rsplit('/').next().unwrap_or(model);
    for prefix in PROFILE_PREFIXES {
        if let Some(rest) = last.strip_prefix(prefix) {
            return rest;
        }
    }
    last
}

/// Whether the model is an embedding model: Converse does not serve it (InvokeModel only) and
/// it answers no response stream.
pub fn is_embedding(model: &str) -> bool {
    bare_name(model).contains("embed")
}

/// The system-defined inference profile that serves `model` in `region`: the region's
/// geographic prefix (or `global.` where the geography has none) and the foundation model, so
/// an id that already carries a prefix is not prefixed twice.
pub fn profile_id(model: &str, region: &str) -> String {
    format!(
        "{}{}",
        geo_profile_prefix(region).unwrap_or(GLOBAL_PREFIX),
        base_model(model)
    )
}

/// The resource ARNs `bedrock:InvokeModel` is authorised on for `model` in `region`: the
/// foundation-model ARN, or for an inference profile the profile ARN plus the foundation-model
/// ARNs of the regions it may route to.
pub fn model_arns(model: &str, region: &str, account: &str) -> Vec<String> {
    if model.starts_with("arn:") {
        return vec![model.to_string()];
    }
    if is_inference_profile(model) {
        vec![
            format!("arn:aws:bedrock:{region}:{account}:inference-profile/{model}"),
            format!("arn:aws:bedrock:*::foundation-model/{}", base_model(model)),
        ]
    } else {
        vec![format!(
            "arn:aws:bedrock:{region}::foundation-model/{model}"
        )]
    }
}

/// The ARNs to simulate `bedrock:InvokeModel` on (concrete: the tuple's region).
pub fn simulated_arns(model: &str, region: &str, account: &str) -> Vec<String> {
    if model.starts_with("arn:") {
        return vec![model.to_string()];
    }
    if is_inference_profile(model) {
        vec![
            format!("arn:aws:bedrock:{region}:{account}:inference-profile/{model}"),
            format!(
                "arn:aws:bedrock:{region}::foundation-model/{}",
                base_model(model)
            ),
        ]
    } else {
        vec![format!(
            "arn:aws:bedrock:{region}::foundation-model/{model}"
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SONNET: &str = "anthropic.claude-3-7-sonnet-20250219-v1:0";

    #[test]
    fn a_region_maps_to_the_prefix_of_its_geographys_inference_profiles() {
        assert_eq!(geo_profile_prefix("eu-west-3"), Some("eu."));
        assert_eq!(geo_profile_prefix("us-west-2"), Some("us."));
        assert_eq!(geo_profile_prefix("us-gov-west-1"), Some("us-gov."));
        assert_eq!(geo_profile_prefix("ap-northeast-1"), Some("apac."));
        assert_eq!(geo_profile_prefix("sa-east-1"), None);
    }

    #[test]
    fn the_profile_of_a_model_strips_an_existing_prefix_and_falls_back_to_global() {
        assert_eq!(
            profile_id(SONNET, "us-east-1"),
            format!("us.{SONNET}"),
            "a bare id gets its region's prefix"
        );
        assert_eq!(
            profile_id(&format!("us.{SONNET}"), "eu-central-1"),
            format!("eu.{SONNET}"),
            "an id that has a prefix is not prefixed twice"
        );
        assert_eq!(
            profile_id(SONNET, "sa-east-1"),
            format!("global.{SONNET}"),
            "a geography without profiles gets the global one"
        );
    }

    #[test]
    fn the_base_model_of_ids_profiles_and_arns() {
        assert_eq!(base_model(SONNET), SONNET);
        assert_eq!(base_model(&format!("apac.{SONNET}")), SONNET);
        assert_eq!(
            base_model(&format!(
                "arn:aws:bedrock:us-east-1::foundation-model/{SONNET}"
            )),
            SONNET
        );
        let profile_arn = format!("arn:aws:bedrock:us-east-1:1:inference-profile/us.{SONNET}");
        assert_eq!(base_model(&profile_arn), profile_arn);
        assert_eq!(bare_name(&profile_arn), SONNET);
        assert_eq!(bare_name(&format!("us-gov.{SONNET}")), SONNET);
    }

    #[test]
    fn a_profile_is_authorised_on_the_profile_and_its_foundation_model() {
        let arns = model_arns(
            "us.anthropic.claude-3-7-sonnet-20250219-v1:0",
            "us-east-1",
            "222222222222",
        );
        assert_eq!(
            arns,
            vec![
                "arn:aws:bedrock:us-east-1:222222222222:inference-profile/us.anthropic.claude-3-7-sonnet-20250219-v1:0".to_string(),
                "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-7-sonnet-20250219-v1:0".to_string(),
            ]
        );
        assert_eq!(
            model_arns("amazon.titan-text-express-v1", "eu-west-3", "1"),
            vec![
                "arn:aws:bedrock:eu-west-3::foundation-model/amazon.titan-text-express-v1"
                    .to_string()
            ]
        );
    }
}
