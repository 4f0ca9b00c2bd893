//! The classifier must survive the wordings AWS actually varies: typographic apostrophes,
//! messages with and without the "because …" clause, the denying policy's ARN appended, other
//! operations, ids and models, and codes it has never seen.

use bedrock_access_exporter::reason::{
    Class, Layer, Reason, classify, classify_availability, error_code_label,
};

use Layer::{AssumeRole, Credentials, Invoke, ModelAccess};
use Reason::*;

const ROLE: &str = "arn:aws:sts::111122223333:assumed-role/bedrock-prober/bedrock-access-exporter";

/// (layer, code, status, message, expected reason)
type Case = (Layer, Option<&'static str>, Option<u16>, String, Reason);

fn table() -> Vec<Case> {
    let deny = |tail: &str| {
        format!(
            "User: {ROLE} is not authorized to perform: bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1::foundation-model/amazon.nova-pro-v1:0 {tail}"
        )
    };
    let sts = |tail: &str| {
        format!(
            "User: {ROLE} is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444455556666:role/bedrock-prober{tail}"
        )
    };
    let ade = Some("AccessDeniedException");
    let ad = Some("AccessDenied");
    let ve = Some("ValidationException");
    let rnf = Some("ResourceNotFoundException");
    vec![
        // Credentials.
        (Invoke, Some("InvalidSignatureException"), Some(403), "The request signature we calculated does not match".into(), InvalidCredentials),
        (Credentials, Some("IncompleteSignature"), Some(400), "Authorization header requires 'Credential' parameter.".into(), InvalidCredentials),
        (AssumeRole, Some("InvalidClientTokenId"), Some(403), "The security token included in the request is invalid.".into(), InvalidCredentials),
        (ModelAccess, Some("ExpiredTokenException"), Some(403), "The security token included in the request is expired".into(), ExpiredCredentials),
        (Credentials, Some("RequestExpired"), Some(400), "Request has expired.".into(), ExpiredCredentials),
        (AssumeRole, Some("ExpiredToken"), Some(400), "The security token included in the request is expired".into(), ExpiredCredentials),
        (Credentials, Some("RegionDisabledException"), Some(403), "STS is not activated in this region for account:123456789012.".into(), RegionDisabled),
        // AssumeRole.
        (AssumeRole, ad, Some(403), sts(" because no identity-based policy allows the sts:AssumeRole action"), AssumeRoleNotPermitted),
        (AssumeRole, ad, Some(403), sts(" because no role trust policy allows the sts:AssumeRole action"), TrustPolicyDenied),
        (AssumeRole, ad, Some(403), sts(" with an explicit deny in the role trust policy"), TrustPolicyDenied),
        (AssumeRole, ad, Some(403), sts(" with an explicit deny in a service control policy: arn:aws:organizations::999988887777:policy/o-abcdefghij/service_control_policy/p-12345678"), ScpDenied),
        (AssumeRole, ad, Some(403), sts(" with an explicit deny in an identity-based policy: arn:aws:iam::111122223333:policy/NoAssume"), ExplicitDeny),
        (AssumeRole, ad, Some(403), sts(""), AssumeRoleDenied),
        (AssumeRole, ad, Some(403), "Not authorized to perform sts:AssumeRole".into(), AssumeRoleDenied),
        (AssumeRole, ad, Some(403), "Something AWS has never said before".into(), AssumeRoleDenied),
        (AssumeRole, Some("ValidationError"), Some(400), "The requested DurationSeconds exceeds the 1 hour session limit for roles assuming other roles.".into(), SessionDurationExceeded),
        (AssumeRole, Some("ValidationError"), Some(400), "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.".into(), SessionDurationExceeded),
        (AssumeRole, Some("ValidationError"), Some(400), "1 validation error detected: Value 'a b' at 'roleSessionName' failed to satisfy constraint".into(), ValidationError),
        // Bedrock permissions.
        (Invoke, ade, Some(403), deny("because no identity-based policy allows the bedrock:InvokeModel action"), BedrockNotPermitted),
        (Invoke, ade, Some(403), deny(""), BedrockNotPermitted),
        (Invoke, ade, Some(403), deny("because no session policy allows the bedrock:InvokeModel action"), BedrockNotPermitted),
        (ModelAccess, ade, Some(403), format!("User: {ROLE} is not authorized to perform: bedrock:GetFoundationModelAvailability"), BedrockNotPermitted),
        (Invoke, ade, Some(403), deny("with an explicit deny in a resource control policy: arn:aws:organizations::999988887777:policy/o-abcdefghij/resource_control_policy/p-87654321"), ScpDenied),
        (Invoke, ade, Some(403), deny("with an explicit deny in a service control policy"), ScpDenied),
        (Invoke, ade, Some(403), deny("with an explicit deny in a permissions boundary: arn:aws:iam::111122223333:policy/Boundary"), ExplicitDeny),
        (Invoke, ade, Some(403), deny("with an explicit deny in a session policy"), ExplicitDeny),
        (Invoke, ade, Some(403), deny("with an explicit deny in a resource-based policy"), ExplicitDeny),
        (Invoke, ade, Some(403), deny("with an explicit deny in the role trust policy"), ExplicitDeny),
        (Invoke, ade, Some(403), "An access denial AWS has never worded like this".into(), BedrockNotPermitted),
        // Marketplace (mentions "not authorized to perform" and "no identity-based policy allows").
        (Invoke, ade, Some(403), format!("Model access is denied due to User: {ROLE} is not authorized to perform: aws-marketplace:Subscribe on resource: * because no identity-based policy allows the aws-marketplace:Subscribe action. Your AWS Marketplace subscription for this model cannot be completed at this time. If you recently fixed this issue, try again after 15 minutes."), MarketplaceSubscriptionRequired),
        (Invoke, ade, Some(403), format!("User: {ROLE} is not authorized to perform: aws-marketplace:ViewSubscriptions on resource: *"), MarketplaceSubscriptionRequired),
        (Invoke, ade, Some(403), "Your AWS Marketplace subscription for this model cannot be completed at this time.".into(), MarketplaceSubscriptionRequired),
        // Model access grants.
        (Invoke, ade, Some(403), "You don\u{2019}t have access to the model with the specified model ID.".into(), ModelAccessNotGranted),
        (Invoke, ade, Some(403), "You do not have access to the model with the specified model ID".into(), ModelAccessNotGranted),
        (Invoke, ade, Some(403), "YOUR ACCOUNT IS NOT AUTHORIZED TO INVOKE THIS API OPERATION".into(), ModelAccessNotGranted),
        (Invoke, ve, Some(400), "Your account is not authorized to invoke this API operation.".into(), ModelAccessNotGranted),
        (Invoke, ve, Some(400), "Operation not allowed".into(), AccountNotAuthorized),
        // Use case form, legacy, end of life.
        (Invoke, rnf, Some(404), "Model use case details have not been submitted for this account. Fill out the Anthropic use case details form before using the model. If you have already filled out the form, try again in 15 minutes.".into(), UseCaseFormRequired),
        (Invoke, rnf, Some(404), "You have not filled out the required use-case form for Anthropic models.".into(), UseCaseFormRequired),
        (Invoke, rnf, Some(404), "Access denied. This Model is marked by provider as Legacy and you have not been actively using the model in the last 30 days. Please upgrade to an active model on Amazon Bedrock".into(), ModelLegacyNoAccess),
        (Invoke, rnf, Some(404), "This model version has reached the end of its life. Please refer to the AWS documentation for more details.".into(), ModelEndOfLife),
        // Region / profile / identifiers.
        (Invoke, ve, Some(400), "Invocation of model ID meta.llama3-2-1b-instruct-v1:0 with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.".into(), InferenceProfileRequired),
        (Invoke, ve, Some(400), "Invocation of model ID anthropic.claude-sonnet-4-20250514-v1:0 with on-demand throughput isn\u{2019}t supported.".into(), InferenceProfileRequired),
        (Invoke, ve, Some(400), "the provided model identifier is invalid".into(), ModelNotInRegion),
        (Invoke, rnf, Some(404), "Could not resolve the foundation model from the provided model identifier.".into(), ModelNotInRegion),
        (ModelAccess, rnf, Some(404), "Model not found.".into(), ModelNotInRegion),
        (Invoke, ve, Some(400), "Malformed input request: #: required key [messages] not found, please reformat your input and try again.".into(), ValidationError),
        // Quotas and transient.
        (Invoke, Some("ThrottlingException"), Some(429), "Too many tokens per day, please wait before trying again.".into(), DailyTokenQuotaExhausted),
        (Invoke, Some("ThrottlingException"), Some(429), "Too many requests, please wait before trying again.".into(), Throttled),
        (AssumeRole, Some("Throttling"), Some(400), "Rate exceeded".into(), Throttled),
        (ModelAccess, Some("TooManyRequestsException"), Some(429), "".into(), Throttled),
        (Invoke, Some("ModelNotReadyException"), Some(429), "Model is not ready for inference.".into(), ServiceUnavailable),
        (Invoke, Some("ModelTimeoutException"), Some(408), "Model has timed out in processing the request.".into(), ServiceUnavailable),
        (Invoke, Some("InternalServerException"), Some(500), "".into(), ServiceUnavailable),
        (Invoke, Some("ServiceUnavailableException"), Some(503), "Bedrock is unable to process your request.".into(), ServiceUnavailable),
        (Invoke, Some("SomethingNewException"), Some(429), "".into(), Throttled),
        (Invoke, Some("SomethingNewException"), Some(502), "".into(), ServiceUnavailable),
        (Invoke, None, Some(504), "".into(), ServiceUnavailable),
        (Invoke, Some("SomethingNewException"), Some(400), "".into(), Unknown),
        (Credentials, None, None, "".into(), Unknown),
    ]
}

#[test]
fn every_known_wording_variant_gets_its_reason() {
    let mut problems = Vec::new();
    for (layer, code, status, message, want) in table() {
        let got = classify(layer, code, status, &message);
        if got != want {
            problems.push(format!(
                "{layer} {code:?} {status:?} {message:?}: got {got}, want {want}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_marketplace_action_denied_explicitly_by_an_scp_is_reported_as_the_scp() {
    let msg = format!(
        "Model access is denied due to User: {ROLE} is not authorized to perform: aws-marketplace:Subscribe on resource: * with an explicit deny in a service control policy"
    );
    assert_eq!(
        classify(Invoke, Some("AccessDeniedException"), Some(403), &msg),
        ScpDenied
    );
}

#[test]
fn a_bedrock_denial_on_the_assume_role_layer_is_never_a_bedrock_reason() {
    let msg = "User: x is not authorized to perform: sts:AssumeRole on resource: y";
    let reason = classify(AssumeRole, Some("AccessDenied"), Some(403), msg);
    assert_eq!(reason, AssumeRoleDenied);
    assert_eq!(reason.class(), Class::Access);
}

#[test]
fn availability_statuses_map_to_reasons_and_passing_agreements_pass() {
    let cases = [
        (("AVAILABLE", "AUTHORIZED", "AVAILABLE", "AVAILABLE"), None),
        (
            ("NOT_AVAILABLE", "AUTHORIZED", "AVAILABLE", "AVAILABLE"),
            None,
        ),
        (
            ("PENDING", "AUTHORIZED", "AVAILABLE", "AVAILABLE"),
            Some(ModelAccessPending),
        ),
        (
            ("ERROR", "AUTHORIZED", "AVAILABLE", "AVAILABLE"),
            Some(MarketplaceSubscriptionRequired),
        ),
        (
            ("AVAILABLE", "NOT_AUTHORIZED", "AVAILABLE", "AVAILABLE"),
            Some(ModelAccessNotGranted),
        ),
        (
            ("AVAILABLE", "AUTHORIZED", "NOT_AVAILABLE", "AVAILABLE"),
            Some(ModelAccessNotGranted),
        ),
        (
            ("AVAILABLE", "AUTHORIZED", "AVAILABLE", "NOT_AVAILABLE"),
            Some(ModelNotInRegion),
        ),
        (
            ("PENDING", "NOT_AUTHORIZED", "AVAILABLE", "AVAILABLE"),
            Some(ModelAccessPending),
        ),
        (
            ("ERROR", "NOT_AUTHORIZED", "NOT_AVAILABLE", "NOT_AVAILABLE"),
            Some(ModelNotInRegion),
        ),
    ];
    for ((a, au, e, r), want) in cases {
        assert_eq!(classify_availability(a, au, e, r), want, "{a} {au} {e} {r}");
    }
}

#[test]
fn error_codes_become_bounded_label_values() {
    assert_eq!(error_code_label(None), "");
    assert_eq!(error_code_label(Some("")), "");
    assert_eq!(
        error_code_label(Some("AccessDeniedException")),
        "AccessDeniedException"
    );
    assert_eq!(error_code_label(Some("aws.protocols#Weird")), "other");
    assert_eq!(error_code_label(Some("1Code")), "other");
    assert_eq!(error_code_label(Some("Code With Spaces")), "other");
    assert_eq!(error_code_label(Some(&"A".repeat(64))), "A".repeat(64));
    assert_eq!(error_code_label(Some(&"A".repeat(65))), "other");
}

#[test]
fn every_reason_has_its_own_fix() {
    let mut seen = std::collections::HashSet::new();
    for r in Reason::ALL {
        assert!(!r.fix().is_empty(), "{r}");
        assert!(seen.insert(r.fix()), "{r} shares its fix text");
    }
}
