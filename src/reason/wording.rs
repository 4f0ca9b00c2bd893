//! What an AWS error message says, by meaning rather than by one wording: the message is
//! normalised (case, apostrophes, hyphens, whitespace, bounded length), then each question
//! ("does it say the signature time is off?", "…that the subscription is still being
//! processed?") is answered from stable fragments that every known wording of that meaning
//! shares. The wordings themselves, with their sources, are in `tests/fixtures/aws/` and
//! `tests/classify_wordings.rs`.

/// At most this many characters of a message are read: every fragment below sits near the
/// start of AWS's texts, and an unbounded message must not cost unbounded work.
const MAX_CHARS: usize = 8 * 1024;

/// A message as the fragments below expect it: lower case, apostrophes of every kind removed
/// ("isn't", "isn’t" and "isnt" all read `isnt`), typographic hyphens and quotes folded into
/// ASCII ones, whitespace runs (line breaks of multi-line messages) collapsed into one space.
pub(super) fn normalize(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(MAX_CHARS));
    let mut space = false;
    for c in message.chars().take(MAX_CHARS) {
        let c = match c {
            '\'' | '\u{2019}' | '\u{2018}' | '\u{02bc}' | '\u{00b4}' | '`' => continue,
            '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2212}' => '-',
            '\u{201c}' | '\u{201d}' => '"',
            c if c.is_whitespace() => ' ',
            c => c,
        };
        if c == ' ' {
            if space {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

fn any_of(haystack: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| haystack.contains(n))
}

/// The request's signing time is more than AWS's allowance away from AWS's clock: "Signature
/// expired: … is now earlier than …", "Signature not yet current: … is still later than …"
/// (STS `SignatureDoesNotMatch`, Bedrock `InvalidSignatureException`), S3's
/// `RequestTimeTooSkewed` text.
pub(super) fn says_clock_skew(m: &str) -> bool {
    any_of(
        m,
        &[
            "signature expired",
            "signature not yet current",
            "is now earlier than",
            "is still later than",
            "request time too skewed",
            "difference between the request time and the",
        ],
    )
}

/// A Marketplace subscription or model agreement is still being set up: "Your AWS Marketplace
/// subscription for this model is still being processed" (`MPAgreementBeingCreated`). Both a
/// subject (subscription, agreement, access) and a state (being processed or created, pending)
/// must be there, so "… cannot be completed at this time" is not mistaken for it.
pub(super) fn says_access_pending(m: &str) -> bool {
    any_of(
        m,
        &[
            "subscription",
            "agreement",
            "model access",
            "access to this model",
            "access to the model",
        ],
    ) && any_of(
        m,
        &[
            "still being processed",
            "being processed",
            "being created",
            "is pending",
            "are pending",
            "still pending",
            "in progress",
            "being activated",
        ],
    )
}

/// The Marketplace subscription needed on first invocation cannot be made (permissions, or
/// the agreement failed).
pub(super) fn says_marketplace(m: &str) -> bool {
    any_of(
        m,
        &[
            "aws-marketplace:",
            "aws marketplace",
            "model access is denied due to",
        ],
    )
}

/// Anthropic's one-time use-case form is missing.
pub(super) fn says_use_case_form(m: &str) -> bool {
    any_of(
        m,
        &[
            "use case details have not been submitted",
            "use-case details have not been submitted",
            "use case details form",
            "submit use case details",
            "use case form",
            "use-case form",
        ],
    )
}

/// A legacy model the account has not used recently.
pub(super) fn says_legacy(m: &str) -> bool {
    m.contains("marked by provider as legacy")
}

/// A retired model version.
pub(super) fn says_end_of_life(m: &str) -> bool {
    any_of(m, &["reached the end of its life", "end of its life"])
}

/// The model is served only through an inference profile: "Invocation of model ID … with
/// on-demand throughput isn’t supported. Retry your request with the ID or ARN of an inference
/// profile …", "The provided model doesn't support on-demand throughput."
pub(super) fn says_inference_profile_required(m: &str) -> bool {
    let on_demand = any_of(m, &["on-demand throughput", "on demand throughput"]);
    let refused = any_of(
        m,
        &[
            "isnt supported",
            "is not supported",
            "not supported",
            "doesnt support",
            "does not support",
            "unsupported",
        ],
    );
    (on_demand && refused) || m.contains("arn of an inference profile that contains this model")
}

/// The model id does not resolve to a model offered here.
pub(super) fn says_model_not_in_region(m: &str) -> bool {
    any_of(
        m,
        &[
            "could not resolve the foundation model",
            "model identifier is invalid",
        ],
    )
}

/// AWS refuses the account itself, not a principal: "Operation not allowed", "<model> is not
/// available for this account … contact AWS Sales", "Your account is not authorized to invoke
/// this model … valid payment instrument".
pub(super) fn says_account_refused(m: &str) -> bool {
    any_of(
        m,
        &[
            "operation not allowed",
            "not available for this account",
            "not available for your account",
            "your account is not authorized to invoke this model",
            "your account is not authorized to access this model",
            "account is not authorized for this model",
            "contact aws sales",
            "contact your aws account team",
            "contact your account team",
            "valid payment instrument",
        ],
    )
}

/// The account has no grant for the model (the grants of before 2025-10).
pub(super) fn says_model_access_not_granted(m: &str) -> bool {
    any_of(
        m,
        &[
            "dont have access to the model",
            "do not have access to the model",
            "your account is not authorized to invoke this api operation",
        ],
    )
}

/// The account's daily token quota is used up.
pub(super) fn says_daily_tokens(m: &str) -> bool {
    any_of(m, &["too many tokens per day", "tokens per day"])
}

/// The HTTP status a credential endpoint answered, as the SDK's HTTP credential provider
/// reports it: "Non-success status from HTTP credential provider: StatusCode(400)" (the
/// status's debug form; the body, where the EKS Pod Identity Agent says why, is dropped by the
/// SDK).
pub(super) fn credential_endpoint_status(m: &str) -> Option<u16> {
    const SAYS: &str = "non-success status from http credential provider";
    let rest = m[m.find(SAYS)? + SAYS.len()..].trim_start_matches([':', ' ']);
    let digits: String = rest
        .strip_prefix("statuscode(")
        .unwrap_or(rest)
        .chars()
        .take_while(char::is_ascii_digit)
        .take(3)
        .collect();
    digits.parse().ok().filter(|s| (100..600).contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_apostrophe_and_case_reads_the_same() {
        for text in [
            "You don't have access to the model",
            "You don\u{2019}t have access to the model",
            "YOU DONT HAVE ACCESS TO THE MODEL",
            "You don\u{02bc}t  have\naccess to the model",
        ] {
            assert!(says_model_access_not_granted(&normalize(text)), "{text}");
        }
    }

    #[test]
    fn a_line_broken_message_is_one_line_of_single_spaces() {
        assert_eq!(
            normalize("Your account is not authorized to invoke this model. If you are\n  trying"),
            "your account is not authorized to invoke this model. if you are trying"
        );
    }

    #[test]
    fn typographic_hyphens_read_as_hyphens() {
        let m = normalize("with on\u{2011}demand throughput isn\u{2019}t supported");
        assert!(says_inference_profile_required(&m), "{m}");
    }

    #[test]
    fn only_the_first_eight_kibibytes_are_read() {
        let long = format!("{}Signature expired", "x".repeat(MAX_CHARS));
        assert!(!says_clock_skew(&normalize(&long)));
        assert!(normalize(&long).chars().count() <= MAX_CHARS);
    }

    #[test]
    fn a_subscription_that_cannot_be_completed_is_not_pending() {
        let m = normalize(
            "Model access is denied due to IAM user or service role is not authorized to perform the required AWS Marketplace actions (aws-marketplace:ViewSubscriptions, aws-marketplace:Subscribe) to enable access to this model. Refer to the Amazon Bedrock documentation for further details. Your AWS Marketplace subscription for this model cannot be completed at this time. If you recently fixed this issue, try again after 5 minutes.",
        );
        assert!(!says_access_pending(&m));
        assert!(says_marketplace(&m));
    }
}
