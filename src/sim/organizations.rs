//! AWS Organizations (JSON 1.1: `POST /` with `X-Amz-Target: AWSOrganizationsV20161128.<Op>`,
//! signed for `organizations` in `us-east-1`): ListAccounts, ListAccountsForParent and
//! ListChildren, paginated with `MaxResults`/`NextToken`, answered from the scenario's
//! `[organization]`. Errors carry AWS's codes and texts in the JSON 1.1 shape
//! (`{"__type": …, "Message": …}`), so the SDKs and boto3 read them as from AWS.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde_json::{Value, json};

use super::bedrock_rules::permission;
use super::ctx::Ctx;
use super::scenario::Organization;

/// The `X-Amz-Target` prefix of Organizations' operations.
pub(crate) const TARGET_PREFIX: &str = "AWSOrganizationsV20161128.";

const NOT_IN_USE: &str = "Your account is not a member of an organization.";
const ACCESS_DENIED: &str = "You don't have permissions to access this resource.";
const PARENT_NOT_FOUND: &str = "We can't find a root or OU with the ParentId that you specified.";
const INVALID_TOKEN: &str = "The requested operation failed because you provided invalid values for one or more of the request parameters. This exception includes a reason that contains additional information about the violated limit: INVALID_PAGINATION_TOKEN";

/// The operation of an Organizations request, from its `X-Amz-Target` header.
pub(crate) fn operation(headers: &http::HeaderMap) -> Option<String> {
    let target = headers.get("x-amz-target")?.to_str().ok()?;
    let op = target.strip_prefix(TARGET_PREFIX)?;
    Some(op.chars().take(64).collect())
}

fn answer(status: StatusCode, body: Value, request_id: &str) -> Response {
    let mut resp = Response::new(Body::from(body.to_string()));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn error(code: &str, message: &str, request_id: &str) -> Response {
    answer(
        StatusCode::BAD_REQUEST,
        json!({ "__type": code, "Message": message }),
        request_id,
    )
}

/// Serves one Organizations call.
pub(crate) fn dispatch(ctx: &Ctx, op: &str, body: &[u8]) -> Response {
    let rid = ctx.request_id.as_str();
    let input: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        _ if body.is_empty() => json!({}),
        _ => {
            return error(
                "SerializationException",
                "Start of structure or map found where not expected.",
                rid,
            );
        }
    };
    let Some(org) = ctx.scenario.organization.as_ref() else {
        return error("AWSOrganizationsNotInUseException", NOT_IN_USE, rid);
    };
    let caller = ctx.principal.account();
    if !org.has_account(caller) {
        return error("AWSOrganizationsNotInUseException", NOT_IN_USE, rid);
    }
    let action = format!("organizations:{op}");
    if !matches!(
        op,
        "ListAccounts" | "ListAccountsForParent" | "ListChildren"
    ) {
        return error(
            "UnknownOperationException",
            &format!("The operation {op} is not supported by this simulator."),
            rid,
        );
    }
    if !org.may_list(caller) || permission(ctx, &action, "*").is_err() {
        return error("AccessDeniedException", ACCESS_DENIED, rid);
    }
    let parent = input.get("ParentId").and_then(Value::as_str);
    let items: Vec<Value> = match (op, parent) {
        ("ListAccounts", _) => org.accounts.iter().map(|a| account(org, a)).collect(),
        (_, None) => {
            return error(
                "InvalidInputException",
                "You must specify a value for all required parameters. ParentId is required.",
                rid,
            );
        }
        (_, Some(p)) if !org.has_parent(p) => {
            return error("ParentNotFoundException", PARENT_NOT_FOUND, rid);
        }
        ("ListAccountsForParent", Some(p)) => org
            .accounts
            .iter()
            .filter(|a| a.parent == p)
            .map(|a| account(org, a))
            .collect(),
        (_, Some(p)) => children(org, p, input.get("ChildType").and_then(Value::as_str)),
    };
    page(op, items, &input, rid)
}

fn account(org: &Organization, a: &super::scenario::Member) -> Value {
    let status = match a.state.as_str() {
        "CLOSED" => "SUSPENDED",
        s => s,
    };
    json!({
        "Id": a.id,
        "Arn": org.account_arn(&a.id),
        "Email": format!("aws+{}@example.invalid", a.id),
        "Name": a.name,
        "Status": status,
        "State": a.state,
        "JoinedMethod": "CREATED",
        "JoinedTimestamp": 1.6e9,
    })
}

fn children(org: &Organization, parent: &str, kind: Option<&str>) -> Vec<Value> {
    match kind {
        Some("ACCOUNT") => org
            .accounts
            .iter()
            .filter(|a| a.parent == parent)
            .map(|a| json!({ "Id": a.id, "Type": "ACCOUNT" }))
            .collect(),
        _ => org
            .units
            .iter()
            .filter(|u| u.parent == parent)
            .map(|u| json!({ "Id": u.id, "Type": "ORGANIZATIONAL_UNIT" }))
            .collect(),
    }
}

/// One page of `items`: `MaxResults` (1 to 20, default 20) from the offset in `NextToken`.
fn page(op: &str, items: Vec<Value>, input: &Value, rid: &str) -> Response {
    let max = input
        .get("MaxResults")
        .and_then(Value::as_u64)
        .unwrap_or(20)
        .clamp(1, 20) as usize;
    let start = match input.get("NextToken").and_then(Value::as_str) {
        None => 0,
        Some(t) => match t
            .strip_prefix("sim-page-")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(n) if n <= items.len() => n,
            _ => return error("InvalidInputException", INVALID_TOKEN, rid),
        },
    };
    let end = (start + max).min(items.len());
    let key = if op == "ListChildren" {
        "Children"
    } else {
        "Accounts"
    };
    let mut body = json!({ key: items[start..end].to_vec() });
    if end < items.len() {
        body["NextToken"] = json!(format!("sim-page-{end}"));
    }
    answer(StatusCode::OK, body, rid)
}
