//! Wire shapes: STS/IAM query-protocol XML (`ErrorResponse`) and Bedrock REST-JSON errors
//! (`{"message":..}` + `x-amzn-ErrorType`), with `x-amzn-RequestId` on every answer.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::response::Response;
use http::{HeaderName, HeaderValue, StatusCode, header};

const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-amzn-requestid");

/// Which protocol family answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// AWS query protocol (form POST, XML), STS or IAM.
    Query(QueryService),
    /// REST-JSON (Bedrock control plane and runtime).
    RestJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryService {
    Sts,
    Iam,
}

impl QueryService {
    pub fn xmlns(self) -> &'static str {
        match self {
            QueryService::Sts => "https://sts.amazonaws.com/doc/2011-06-15/",
            QueryService::Iam => "https://iam.amazonaws.com/doc/2010-05-08/",
        }
    }
    pub fn signing_name(self) -> &'static str {
        match self {
            QueryService::Sts => "sts",
            QueryService::Iam => "iam",
        }
    }
}

/// `x-amzn-ErrorType` namespace of a REST-JSON error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// `com.amazon.bedrock` — service errors.
    Bedrock,
    /// `com.amazon.coral.service` — framework-level auth errors.
    Coral,
}

/// An AWS error, protocol-neutral until rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
    pub namespace: Namespace,
    /// Render the JSON body with a capital `"Message"` key (IAM-generated denials).
    pub capital_message: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.to_owned(),
            message: message.into(),
            namespace: Namespace::Bedrock,
            capital_message: false,
        }
    }
    pub fn coral(mut self) -> ApiError {
        self.namespace = Namespace::Coral;
        self
    }
    pub fn capital(mut self) -> ApiError {
        self.capital_message = true;
        self
    }

    pub fn render(&self, proto: Protocol, request_id: &str) -> Response {
        match proto {
            Protocol::Query(svc) => {
                query_error(svc, self.status, &self.code, &self.message, request_id)
            }
            Protocol::RestJson => json_error(self, request_id),
        }
    }
}

/// Escapes text for XML element content and attribute values; borrows when nothing needs
/// escaping (the common case: ids, ARNs, keys).
pub fn xml_escape(s: &str) -> Cow<'_, str> {
    if !s
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\''))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// A fresh request id shaped like AWS's (a lower-case hyphenated UUID v4).
///
/// Not a syscall per request: 128 bits drawn once per process, mixed with a counter through
/// SplitMix64 (a bijection, so ids of one process do not repeat before 2^64 requests).
pub fn request_id() -> String {
    static SEED: OnceLock<(u64, u64)> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let (a, b) = *SEED.get_or_init(|| (rand::random(), rand::random()));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hi = splitmix64(a.wrapping_add(n));
    let lo = splitmix64(b ^ n.rotate_left(32));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_be_bytes());
    bytes[8..].copy_from_slice(&lo.to_be_bytes());
    let mut buf = uuid::Uuid::encode_buffer();
    uuid::Builder::from_random_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .encode_lower(&mut buf)
        .to_owned()
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn with_headers(mut resp: Response, content_type: &'static str, request_id: &str) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert(REQUEST_ID_HEADER, v);
    }
    resp
}

/// Query-protocol error envelope, laid out like AWS's (2-space indent, trailing newline).
pub fn query_error(
    svc: QueryService,
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response {
    let kind = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<ErrorResponse xmlns=\"{}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        svc.xmlns(),
        xml_escape(code),
        xml_escape(message),
        xml_escape(request_id),
    );
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    with_headers(resp, "text/xml", request_id)
}

/// Query-protocol success: `<{Op}Response><{Op}Result>{inner}</{Op}Result><ResponseMetadata>..`.
pub fn query_ok(svc: QueryService, op: &str, inner: &str, request_id: &str) -> Response {
    let body = format!(
        "<{op}Response xmlns=\"{}\">\n  <{op}Result>\n{inner}  </{op}Result>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</{op}Response>\n",
        svc.xmlns(),
        xml_escape(request_id),
    );
    with_headers(Response::new(Body::from(body)), "text/xml", request_id)
}

fn json_error(e: &ApiError, request_id: &str) -> Response {
    let key = if e.capital_message {
        "Message"
    } else {
        "message"
    };
    let mut body = String::with_capacity(e.message.len() + 16);
    body.push_str("{\"");
    body.push_str(key);
    body.push_str("\":");
    // Serializing a string into a String cannot fail.
    if let Ok(quoted) = serde_json::to_string(&e.message) {
        body.push_str(&quoted);
    }
    body.push('}');
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = e.status;
    let ns = match e.namespace {
        Namespace::Bedrock => "com.amazon.bedrock",
        Namespace::Coral => "com.amazon.coral.service",
    };
    let etype = format!("{}:http://internal.amazon.com/coral/{ns}/", e.code);
    if let Ok(v) = HeaderValue::from_str(&etype) {
        resp.headers_mut().insert("x-amzn-ErrorType", v);
    }
    with_headers(resp, "application/json", request_id)
}

/// REST-JSON success with a JSON body.
pub fn json_ok(body: String, request_id: &str) -> Response {
    with_headers(
        Response::new(Body::from(body)),
        "application/json",
        request_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sts_error_envelope_is_byte_identical_to_aws() {
        let want = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>InvalidClientTokenId</Code>\n    <Message>The security token included in the request is invalid</Message>\n  </Error>\n  <RequestId>16fc956c-311e-4199-bee1-1680236e9698</RequestId>\n</ErrorResponse>\n";
        let resp = query_error(
            QueryService::Sts,
            StatusCode::FORBIDDEN,
            "InvalidClientTokenId",
            "The security token included in the request is invalid",
            "16fc956c-311e-4199-bee1-1680236e9698",
        );
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let body = futures::executor::block_on(axum::body::to_bytes(resp.into_body(), 1 << 16));
        assert_eq!(body.ok().as_deref(), Some(want.as_bytes()));
    }

    #[test]
    fn request_ids_are_distinct_lowercase_uuid_v4s() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = request_id();
            let Ok(parsed) = uuid::Uuid::parse_str(&id) else {
                panic!("{id} is not a UUID")
            };
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert_eq!(parsed.get_variant(), uuid::Variant::RFC4122, "{id}");
            assert_eq!(id, parsed.hyphenated().to_string(), "{id}");
            assert!(seen.insert(id), "a request id repeated");
        }
    }

    #[test]
    fn json_error_body_escapes_the_message_like_serde_json() {
        let e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "ValidationException",
            "quote \" backslash \\ newline \n",
        );
        let resp = e.render(Protocol::RestJson, "rid");
        let body = futures::executor::block_on(axum::body::to_bytes(resp.into_body(), 1 << 16));
        let want = serde_json::json!({"message": "quote \" backslash \\ newline \n"}).to_string();
        assert_eq!(body.ok().as_deref(), Some(want.as_bytes()));
    }

    #[test]
    fn xml_escape_neutralises_markup() {
        assert_eq!(
            xml_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
        assert!(matches!(
            xml_escape("arn:aws:iam::111111111111:user/prober"),
            Cow::Borrowed(_)
        ));
    }
}
