//! Wire shapes: STS/IAM query-protocol XML (`ErrorResponse`) and Bedrock REST-JSON errors
//! (`{"message":..}` + `x-amzn-ErrorType`), with `x-amzn-RequestId` on every answer.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};

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

/// Escapes text for XML element content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
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
    out
}

fn with_headers(mut resp: Response, content_type: &'static str, request_id: &str) -> Response {
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-RequestId", v);
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
    let mut map = serde_json::Map::new();
    map.insert(key.to_owned(), serde_json::Value::String(e.message.clone()));
    let body = serde_json::Value::Object(map).to_string();
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
    fn xml_escape_neutralises_markup() {
        assert_eq!(
            xml_escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;"
        );
    }
}
