//! The classifier must survive the wordings AWS actually varies: typographic apostrophes,
//! messages with and without the "because …" clause, the denying policy's ARN appended, other
//! operations, ids and models, and codes it has never seen.
//!
//! Three kinds of rows: the wordings below in `table()` (variants of the fixtures' texts);
//! `seen_elsewhere()`, texts quoted verbatim by a source but not replayable as a fixture (another
//! service's envelope, a stream event, another endpoint), each with its source; and
//! `reconstructed()`, wordings no source quotes whole, built from the fragments and shapes that
//! sources do show, each marked RECONSTRUCTED with what it rests on. A verbatim HTTP answer
//! belongs in `tests/fixtures/aws/` instead, replayed through the real SDK.

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

/// (layer, code, status, message, expected reason, where the text comes from)
type Sourced = (
    Layer,
    Option<&'static str>,
    Option<u16>,
    &'static str,
    Reason,
    &'static str,
);

/// Verbatim texts that cannot be replayed as a fixture of STS or Bedrock: (layer, code, status,
/// message, expected reason, source).
fn seen_elsewhere() -> Vec<Sourced> {
    vec![
        (
            Credentials,
            Some("RequestTimeTooSkewed"),
            Some(403),
            "The difference between the request time and the current time is too large.",
            ClockSkew,
            "S3 (aws/aws-sdk-php#612, 2015-06-04; versity/versitygw#1514, 2025-09-03); STS and Bedrock answer a skewed clock with a signature error instead",
        ),
        (
            Invoke,
            Some("RequestTimeTooSkewed"),
            Some(403),
            "The difference between the request time and the server's time is too large.",
            ClockSkew,
            "an S3-compatible store (koderover/zadig#1660, 2022-06-09): the code alone says it",
        ),
        (
            Invoke,
            Some("InvalidSignatureException"),
            Some(400),
            "Signature expired: 20140325T143453Z is now earlier than 20140325T143751Z (20140325T145251Z - 15 min.)",
            ClockSkew,
            "a REST-JSON service of 2014 answering 400 (aws/aws-sdk-js#254, 2014-03-25)",
        ),
        (
            Invoke,
            Some("ModelStreamErrorException"),
            None,
            "Model produced invalid sequence as part of ToolUse",
            ServiceUnavailable,
            "a ConverseStream error event (find_string id 58083082762, 58637772697): the stream layer will classify it like this answer",
        ),
        (
            Invoke,
            Some("access_denied"),
            Some(401),
            "openai.gpt-5.5 is not available for this account. You can explore other available models on Amazon Bedrock. For additional access options, contact AWS Sales at https://aws.amazon.com/contact-us/sales-support/",
            AccountNotAuthorized,
            "the bedrock-mantle OpenAI-compatible endpoint (find_string id 55404793644): same sentence, another code",
        ),
        (
            Invoke,
            Some("AccessDeniedException"),
            Some(403),
            "Your account is not authorized to invoke this API operation with a prompt resource.",
            ModelAccessNotGranted,
            "coder/code-server#7959 (InvokeModel with a managed prompt ARN, 2026-08-20): the 2023 grant text, lengthened",
        ),
        (
            Invoke,
            Some("ValidationException"),
            Some(400),
            "Invocation of model ID anthropic.claude-sonnet-4-6 with on-demand throughput isn't supported. Retry your request with the ID or ARN of an inference profile that contains this model.",
            InferenceProfileRequired,
            "gethouston/houston#1381 (2026-08-21): the ASCII apostrophe that defeated an `is not supported` pattern there",
        ),
    ]
}

/// RECONSTRUCTED wordings: no source quotes them whole. (layer, code, status, message, expected
/// reason, what the row rests on).
fn reconstructed() -> Vec<Sourced> {
    vec![
        (
            Credentials,
            Some("RequestInTheFuture"),
            Some(400),
            "Request is not yet valid",
            ClockSkew,
            "RECONSTRUCTED: EC2's clock code, one of the codes the SDKs treat as clock skew; the message is a guess, the code alone decides",
        ),
        (
            Invoke,
            Some("InvalidSignatureException"),
            Some(403),
            "SIGNATURE EXPIRED: 20260101T000000Z IS NOW EARLIER THAN 20260101T000500Z (20260101T001000Z - 5 MIN.)",
            ClockSkew,
            "RECONSTRUCTED: the fixtures' text in upper case",
        ),
        (
            ModelAccess,
            None,
            Some(403),
            "Signature not yet current: 20260101T001000Z is still later than 20260101T000500Z (20260101T000000Z + 5 min.)",
            ClockSkew,
            "RECONSTRUCTED: the control plane's answer with no parsable code (the message alone decides)",
        ),
        (
            Invoke,
            Some("AccessDeniedException"),
            Some(403),
            "Your AWS Marketplace subscription for this model is still being processed. Try again after 15 minutes.",
            ModelAccessPending,
            "RECONSTRUCTED: the documented MPAgreementBeingCreated cause without its first sentence, with the documented solution appended",
        ),
        (
            ModelAccess,
            Some("AccessDeniedException"),
            Some(403),
            "The AWS Marketplace agreement for this model is being created. Please try again later.",
            ModelAccessPending,
            "RECONSTRUCTED: the same state worded for the agreement (docs/reasons.md: \"still being created or processed\")",
        ),
        (
            Invoke,
            Some("AccessDeniedException"),
            Some(403),
            "anthropic.claude-sonnet-5 is not available for this account. Contact AWS Sales for access.",
            AccountNotAuthorized,
            "RECONSTRUCTED: a source quotes only \"AccessDeniedException: ... is not available for this account ... contact AWS Sales\" (find_string id 55747339185)",
        ),
        (
            Invoke,
            Some("AccessDeniedException"),
            Some(403),
            "Your account is not authorized to invoke this model.",
            AccountNotAuthorized,
            "RECONSTRUCTED: the first sentence of the payment-instrument fixture alone, as troubleshooting notes quote it",
        ),
        (
            Invoke,
            Some("ValidationException"),
            Some(400),
            "Operation not allowed.",
            AccountNotAuthorized,
            "RECONSTRUCTED: the fixture's text with a final period",
        ),
        (
            Invoke,
            Some("ValidationException"),
            Some(400),
            "Model doesn\u{2019}t support on\u{2011}demand throughput",
            InferenceProfileRequired,
            "RECONSTRUCTED: the 2024 wording with a typographic apostrophe and a non-breaking hyphen",
        ),
        (
            Invoke,
            Some("ValidationException"),
            Some(400),
            "Invocation of model ID us.amazon.nova-premier-v1:0 with on-demand throughput is not supported.",
            InferenceProfileRequired,
            "RECONSTRUCTED: \"is not\" spelled out",
        ),
        (
            Invoke,
            Some("ModelErrorException"),
            Some(424),
            "Received client error (400) from primary with message \"{\\\"error\\\": \\\"bad input\\\"}\"",
            ServiceUnavailable,
            "RECONSTRUCTED: an imported model's container error (the body carries originalStatusCode/resourceName per the SDK model); the code decides",
        ),
        (
            Invoke,
            Some("SomethingNewException"),
            Some(424),
            "",
            ServiceUnavailable,
            "RECONSTRUCTED: a code not seen yet with Bedrock's 424 Failed Dependency, a model's own failure",
        ),
        (
            Invoke,
            Some("overloaded_error"),
            Some(529),
            "The model is temporarily unable to process the request because of high demand.",
            ServiceUnavailable,
            "RECONSTRUCTED: the troubleshooting page's overloaded_error (HTTP 529) with its documented cause as message",
        ),
        (
            Invoke,
            Some("ServiceQuotaExceededException"),
            Some(400),
            "Your request exceeds the service quota for your account. You can view your quotas at Viewing service quotas. You can resubmit your request later.",
            Throttled,
            "RECONSTRUCTED: the SDK model's documentation of the exception, used as message",
        ),
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

#[test]
fn texts_seen_outside_sts_and_bedrock_get_their_reason() {
    let mut problems = Vec::new();
    for (layer, code, status, message, want, source) in seen_elsewhere() {
        let got = classify(layer, code, status, message);
        if got != want {
            problems.push(format!(
                "{layer} {code:?} {message:?}: got {got}, want {want} ({source})"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn reconstructed_wordings_get_their_reason() {
    let mut problems = Vec::new();
    for (layer, code, status, message, want, basis) in reconstructed() {
        assert!(
            basis.starts_with("RECONSTRUCTED"),
            "{message:?} is not marked"
        );
        let got = classify(layer, code, status, message);
        if got != want {
            problems.push(format!(
                "{layer} {code:?} {message:?}: got {got}, want {want} ({basis})"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_signature_refused_for_its_time_is_the_clock_and_a_mismatched_one_is_the_keys() {
    let late = "Signature expired: 20250130T203827Z is now earlier than 20250130T204131Z (20250130T204631Z - 5 min.)";
    let wrong = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.";
    for (layer, code) in [
        (Credentials, "SignatureDoesNotMatch"),
        (AssumeRole, "SignatureDoesNotMatch"),
        (ModelAccess, "InvalidSignatureException"),
        (Invoke, "InvalidSignatureException"),
    ] {
        let skewed = classify(layer, Some(code), Some(403), late);
        assert_eq!(skewed, ClockSkew, "{layer} {code}");
        assert_eq!(skewed.class(), Class::Configuration);
        assert_eq!(skewed.cause(), None, "the keys and policies are fine");
        assert_eq!(
            classify(layer, Some(code), Some(403), wrong),
            InvalidCredentials,
            "{layer} {code}"
        );
    }
}

#[test]
fn a_subscription_still_being_processed_is_pending_not_a_missing_marketplace_permission() {
    let pending = "Your account is not authorized to access this model. Your AWS Marketplace subscription for this model is still being processed";
    let refused = "Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model. Refer to the Amazon Bedrock documentation for further details. Your AWS Marketplace subscription for this model cannot be completed at this time. If you recently fixed this issue, try again after 5 minutes.";
    let ade = Some("AccessDeniedException");
    assert_eq!(
        classify(Invoke, ade, Some(403), pending),
        ModelAccessPending
    );
    assert_eq!(ModelAccessPending.class(), Class::Transient);
    assert_eq!(
        classify(Invoke, ade, Some(403), refused),
        MarketplaceSubscriptionRequired
    );
}
