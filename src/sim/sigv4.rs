//! SigV4 verification: parse the `Authorization` header, then recompute the signature over the
//! received request with `aws-sigv4` (the secret of the access key in the scope) and compare in
//! constant time.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_smithy_runtime_api::client::identity::Identity;
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The parts of a SigV4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader<'a> {
    pub access_key: &'a str,
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    pub signed_headers: Vec<&'a str>,
    pub signature: &'a str,
}

/// Parses `AWS4-HMAC-SHA256 Credential=AK/date/region/service/aws4_request, SignedHeaders=..,
/// Signature=..`. The error is AWS's `IncompleteSignature` message.
pub fn parse_authorization(value: &str) -> Result<AuthHeader<'_>, String> {
    let Some(rest) = value.strip_prefix("AWS4-HMAC-SHA256") else {
        return Err(
            "Unsupported AWS 'algorithm': only 'AWS4-HMAC-SHA256' is supported.".to_owned(),
        );
    };
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let mut missing = String::new();
    for (name, v) in [
        ("Credential", &credential),
        ("Signature", &signature),
        ("SignedHeaders", &signed),
    ] {
        if v.is_none_or(str::is_empty) {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    if !missing.is_empty() {
        return Err(missing.trim_end().to_owned());
    }
    let (credential, signed, signature) = (
        credential.unwrap_or_default(),
        signed.unwrap_or_default(),
        signature.unwrap_or_default(),
    );
    let parts: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, terminator] = parts.as_slice() else {
        return Err(format!(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '{}'",
            credential
                .split('/')
                .next()
                .map(|_| "…")
                .unwrap_or_default()
        ));
    };
    if *terminator != "aws4_request" {
        return Err(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'."
        ));
    }
    if access_key.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err("Credential must have a valid access key and date.".to_owned());
    }
    if !signature.bytes().all(|b| b.is_ascii_hexdigit()) || signature.len() != 64 {
        return Err("Signature must be 64 hexadecimal characters.".to_owned());
    }
    let signed_headers: Vec<&str> = signed.split(';').collect();
    if signed_headers
        .iter()
        .any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err("SignedHeaders must be lower-case header names separated by ';'.".to_owned());
    }
    Ok(AuthHeader {
        access_key,
        date,
        region,
        service,
        signed_headers,
        signature,
    })
}

/// Parses an ISO-8601 basic `X-Amz-Date` (`20260101T120000Z`).
/// Exactly `YYYYMMDDTHHMMSSZ`: chrono alone also takes unpadded fields ("T08577Z"), and the
/// signature is recomputed over the canonical form, so a mangled header would still verify.
pub fn parse_amz_date(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let b = s.as_bytes();
    let shape_ok = b.len() == 16
        && b[8] == b'T'
        && b[15] == b'Z'
        && b[..8].iter().chain(&b[9..15]).all(u8::is_ascii_digit);
    if !shape_ok {
        return None;
    }
    // The shape is checked above: every field is ASCII digits, so no overflow is possible.
    let num = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
    };
    let year = i32::try_from(num(0..4)).ok()?;
    let date = chrono::NaiveDate::from_ymd_opt(year, num(4..6), num(6..8))?;
    let (h, m, sec) = (num(9..11), num(11..13), num(13..15));
    // Second 60 is a leap second, as chrono's `%S` parses it.
    let time = if sec == 60 {
        date.and_hms_milli_opt(h, m, 59, 1000)
    } else {
        date.and_hms_opt(h, m, sec)
    };
    time.map(|n| n.and_utc())
}

/// Formats `YYYYMMDDTHHMMSSZ` (years outside 0..=9999 are clamped, as they cannot be written
/// in four digits).
pub fn format_amz_date(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::{Datelike, Timelike};
    let mut out = [0u8; 16];
    let mut put = |at: usize, width: usize, mut v: u32| {
        for i in (at..at + width).rev() {
            // `v % 10` is a single digit.
            out[i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, 4, u32::try_from(t.year().clamp(0, 9999)).unwrap_or(0));
    put(4, 2, t.month());
    put(6, 2, t.day());
    put(9, 2, t.hour());
    put(11, 2, t.minute());
    put(13, 2, t.second());
    out[8] = b'T';
    out[15] = b'Z';
    out.iter().map(|&c| char::from(c)).collect()
}

/// The request as received, for verification.
pub struct Received<'a> {
    pub method: &'a str,
    /// Path and query exactly as sent (still percent-encoded).
    pub path_and_query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// True when `auth.signature` is the signature of `req` with `secret` (and session `token`).
/// Signed headers missing from the request make the signature wrong, as at AWS.
pub fn verify(
    req: &Received<'_>,
    auth: &AuthHeader<'_>,
    access_key: &str,
    secret: &str,
    token: Option<&str>,
    time: SystemTime,
) -> bool {
    let mut pairs: Vec<(&str, &str)> = Vec::with_capacity(auth.signed_headers.len());
    let mut checksum_header = false;
    for name in &auth.signed_headers {
        match *name {
            // Re-inserted by the signer from the params below.
            "x-amz-date" | "x-amz-security-token" => {}
            "x-amz-content-sha256" => checksum_header = true,
            _ => {
                let mut any = false;
                for v in req.headers.get_all(*name) {
                    let Ok(v) = v.to_str() else { return false };
                    pairs.push((name, v));
                    any = true;
                }
                if !any {
                    return false;
                }
            }
        }
    }
    if !pairs.iter().any(|(n, _)| *n == "host") {
        // aws-sigv4 would need a URI authority otherwise; AWS requires host to be signed.
        return false;
    }
    // The body hash is always computed here, never taken from the client's claim.
    let body_hash = hex::encode(Sha256::digest(req.body));
    if checksum_header {
        match req.headers.get("x-amz-content-sha256").map(|v| v.to_str()) {
            Some(Ok(claimed)) if claimed == body_hash || claimed == "UNSIGNED-PAYLOAD" => {}
            _ => return false,
        }
    }
    let body = SignableBody::Precomputed(body_hash);
    let Ok(signable) =
        SignableRequest::new(req.method, req.path_and_query, pairs.into_iter(), body)
    else {
        return false;
    };
    let mut settings = SigningSettings::default();
    settings.excluded_headers = None;
    if checksum_header {
        settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    }
    let identity: Identity = Credentials::new(
        access_key,
        secret,
        token.map(str::to_owned),
        None,
        "simulator",
    )
    .into();
    let Ok(params) = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(auth.region)
        .name(auth.service)
        .time(time)
        .settings(settings)
        .build()
    else {
        return false;
    };
    let params = params.into();
    let Ok(out) = sign(signable, &params) else {
        return false;
    };
    let (_, computed) = out.into_parts();
    computed.as_bytes().ct_eq(auth.signature.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_date_with_an_unpadded_field_is_not_a_date() {
        assert!(parse_amz_date("20261124T085707Z").is_some());
        for bad in [
            "20261124T08577Z",
            "2026112T085707Z",
            "20261124T085707",
            "20261124 085707Z",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn amz_dates_round_trip_like_chrono_and_impossible_dates_are_refused() {
        for text in [
            "20261124T085707Z",
            "20240229T235959Z",
            "19991231T000000Z",
            "00010101T010203Z",
        ] {
            let parsed = parse_amz_date(text);
            let chrono_parsed = chrono::NaiveDateTime::parse_from_str(text, "%Y%m%dT%H%M%SZ")
                .ok()
                .map(|n| n.and_utc());
            assert_eq!(parsed, chrono_parsed, "{text}");
            let Some(parsed) = parsed else {
                panic!("{text} did not parse")
            };
            assert_eq!(format_amz_date(parsed), text);
            assert_eq!(
                format_amz_date(parsed),
                parsed.format("%Y%m%dT%H%M%SZ").to_string()
            );
        }
        for bad in [
            "20230229T000000Z",
            "20261324T000000Z",
            "20261100T000000Z",
            "20261124T240000Z",
            "20261124T006000Z",
            "20261124T000061Z",
        ] {
            assert!(parse_amz_date(bad).is_none(), "{bad}");
        }
        let leap = chrono::NaiveDateTime::parse_from_str("20161231T235960Z", "%Y%m%dT%H%M%SZ")
            .ok()
            .map(|n| n.and_utc());
        assert_eq!(parse_amz_date("20161231T235960Z"), leap);
    }

    #[test]
    fn authorization_header_of_the_sdk_parses() {
        let h = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
        let a = match parse_authorization(h) {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(a.access_key, "AKIDEXAMPLE");
        assert_eq!(a.region, "us-east-1");
        assert_eq!(a.service, "iam");
        assert_eq!(a.signed_headers, ["content-type", "host", "x-amz-date"]);
    }

    #[test]
    fn truncated_authorization_header_is_an_incomplete_signature() {
        for h in [
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request",
            "AWS4-HMAC-SHA256 Credential=AKID/2015/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00",
            "Basic dXNlcjpwYXNz",
            "AWS4-HMAC-SHA256 Credential=A/B, SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert!(parse_authorization(h).is_err(), "{h}");
        }
    }

    /// AWS's published SigV4 test vector "get-vanilla" (aws-sig-v4-test-suite).
    #[test]
    fn aws_published_test_vector_get_vanilla_verifies_and_a_flipped_bit_does_not() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "host",
            http::HeaderValue::from_static("example.amazonaws.com"),
        );
        headers.insert(
            "x-amz-date",
            http::HeaderValue::from_static("20150830T123600Z"),
        );
        let good = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
        let auth = match parse_authorization(good) {
            Ok(a) => a,
            Err(e) => panic!("{e}"),
        };
        let time = parse_amz_date("20150830T123600Z").map(SystemTime::from);
        let Some(time) = time else { panic!("date") };
        let req = Received {
            method: "GET",
            path_and_query: "/",
            headers: &headers,
            body: b"",
        };
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        assert!(verify(&req, &auth, "AKIDEXAMPLE", secret, None, time));
        assert!(!verify(&req, &auth, "AKIDEXAMPLE", "wrong", None, time));
        let bad = good.replace("bf31", "bf32");
        let Ok(bad_auth) = parse_authorization(&bad) else {
            panic!("parse")
        };
        assert!(!verify(&req, &bad_auth, "AKIDEXAMPLE", secret, None, time));
    }
}
