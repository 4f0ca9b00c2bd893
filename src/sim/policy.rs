//! IAM policy documents: parsing the JSON and evaluating a request against it.
//!
//! Supported: `Statement` (object or array), `Effect`, `Action`/`NotAction`,
//! `Resource`/`NotResource` (`*` and `?` wildcards; actions match case-insensitively),
//! `Principal` (`"*"` or `{"AWS": ...}` with account ids, `arn:aws:iam::<acct>:root`, or ARNs;
//! `{"Federated": ...}` with IAM OIDC provider ARNs and `{"Service": ...}` with service
//! principals, which match only web identities and AWS services: [`Outsider`]), and `Condition`
//! with the string operators (`StringEquals`, `StringNotEquals`, `StringLike`, `StringNotLike`,
//! `StringEqualsIgnoreCase`, each optionally `...IfExists`). A positive operator on a missing key
//! fails; a negated one on a missing key holds (as in IAM).

use serde_json::Value;

/// A parsed policy document.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

#[derive(Debug, Clone)]
struct Statement {
    effect: Effect,
    /// (patterns, negated) — `Action` or `NotAction`.
    action: (Vec<String>, bool),
    /// `Resource` or `NotResource`; `None` in trust policies (the role itself).
    resource: Option<(Vec<String>, bool)>,
    principal: Option<PrincipalSpec>,
    conditions: Vec<Condition>,
}

#[derive(Debug, Clone)]
enum PrincipalSpec {
    Any,
    /// `{"AWS": …, "Federated": …, "Service": …}`: each list matches its own kind of caller.
    Typed {
        aws: Vec<String>,
        federated: Vec<String>,
        service: Vec<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CondOp {
    Equals,
    NotEquals,
    Like,
    NotLike,
    EqualsIgnoreCase,
}

#[derive(Debug, Clone)]
struct Condition {
    op: CondOp,
    if_exists: bool,
    /// Lower-cased condition key, e.g. `sts:externalid`.
    key: String,
    values: Vec<String>,
}

/// Outcome of evaluating one set of policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    ImplicitDeny,
    ExplicitDeny,
}

/// How a trust policy's Principal matched the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PrincipalMatch {
    /// Matched through the caller's account (account id or `:root`): the caller's own identity
    /// policy must still allow the action.
    Account,
    /// Matched the caller's ARN (or `*`): enough on its own within one account.
    Direct,
}

/// The caller as a resource policy's `Principal` sees it.
#[derive(Debug, Clone)]
pub struct Caller<'a> {
    pub account: &'a str,
    /// ARNs the caller is known by: user ARN, or role ARN and assumed-role session ARN.
    pub arns: Vec<String>,
}

/// A caller that is not an IAM principal, as a trust policy's `Principal` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outsider<'a> {
    /// A web identity, named by the ARN of the IAM OIDC provider that vouches for its token
    /// (`arn:aws:iam::<acct>:oidc-provider/<issuer host and path>`): `{"Federated": …}`.
    Federated(&'a str),
    /// An AWS service principal such as `pods.eks.amazonaws.com`: `{"Service": …}`.
    Service(&'a str),
}

/// Request context for conditions. Keys are compared ignoring ASCII case; besides global keys
/// (`sts:ExternalId`) they may be built at request time (`<issuer>:sub` of a web identity).
#[derive(Debug, Default, Clone)]
pub struct Context<'a> {
    pub entries: Vec<(&'a str, &'a str)>,
}

impl<'a> Context<'a> {
    pub fn with(mut self, key: &'a str, value: Option<&'a str>) -> Self {
        if let Some(v) = value {
            self.entries.push((key, v));
        }
        self
    }
    fn get(&self, key: &str) -> Option<&'a str> {
        self.entries
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| *v)
    }
}

/// Error parsing a policy document: says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(pub String);

fn err(msg: impl Into<String>) -> PolicyError {
    PolicyError(msg.into())
}

impl Policy {
    /// Parses an IAM JSON policy document.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let doc: Value =
            serde_json::from_str(text).map_err(|e| err(format!("not valid JSON: {e}")))?;
        let obj = doc
            .as_object()
            .ok_or_else(|| err("a policy document must be a JSON object"))?;
        for key in obj.keys() {
            if !matches!(key.as_str(), "Version" | "Id" | "Statement") {
                return Err(err(format!("unknown policy element `{key}`")));
            }
        }
        let stmts = match obj.get("Statement") {
            Some(Value::Array(a)) => a.iter().collect::<Vec<_>>(),
            Some(v @ Value::Object(_)) => vec![v],
            Some(_) => return Err(err("`Statement` must be an object or an array")),
            None => return Err(err("missing `Statement`")),
        };
        let mut statements = Vec::with_capacity(stmts.len());
        for (i, s) in stmts.into_iter().enumerate() {
            statements
                .push(Statement::parse(s).map_err(|e| err(format!("Statement[{i}]: {}", e.0)))?);
        }
        Ok(Policy { statements })
    }

    /// Evaluates an identity-style request (action on resource).
    pub fn evaluate(&self, action: &str, resource: &str, ctx: &Context<'_>) -> Decision {
        evaluate_all(std::slice::from_ref(self), action, resource, ctx)
    }

    /// Evaluates a trust (resource) policy for `caller` performing `action`.
    /// Returns whether a Deny matched, and the best Allow match.
    pub fn evaluate_trust(
        &self,
        caller: &Caller<'_>,
        action: &str,
        ctx: &Context<'_>,
    ) -> (bool, Option<PrincipalMatch>) {
        let mut denied = false;
        let mut allowed: Option<PrincipalMatch> = None;
        for s in &self.statements {
            if !s.matches_action(action) || !s.matches_conditions(ctx) {
                continue;
            }
            let Some(pm) = s.principal.as_ref().and_then(|p| p.matches(caller)) else {
                continue;
            };
            match s.effect {
                Effect::Deny => denied = true,
                Effect::Allow => allowed = allowed.max(Some(pm)),
            }
        }
        (denied, allowed)
    }

    /// Evaluates a trust policy for a caller that is not an IAM principal (a web identity, an
    /// AWS service) performing `action`: whether a Deny matched, and whether an Allow matched.
    pub fn evaluate_trust_outsider(
        &self,
        who: Outsider<'_>,
        action: &str,
        ctx: &Context<'_>,
    ) -> (bool, bool) {
        let mut denied = false;
        let mut allowed = false;
        for s in &self.statements {
            let named = s.principal.as_ref().is_some_and(|p| p.names(who));
            if !named || !s.matches_action(action) || !s.matches_conditions(ctx) {
                continue;
            }
            match s.effect {
                Effect::Deny => denied = true,
                Effect::Allow => allowed = true,
            }
        }
        (denied, allowed)
    }

    /// True when any Deny statement matches (used for SCPs: deny-listing with implicit allow-all).
    pub fn denies(&self, action: &str, resource: &str, ctx: &Context<'_>) -> bool {
        self.statements
            .iter()
            .any(|s| s.effect == Effect::Deny && s.matches(action, resource, ctx))
    }
}

/// Evaluates a set of identity policies: explicit deny wins, then any allow, else implicit deny.
pub fn evaluate_all(
    policies: &[Policy],
    action: &str,
    resource: &str,
    ctx: &Context<'_>,
) -> Decision {
    let mut allowed = false;
    for p in policies {
        for s in &p.statements {
            if s.matches(action, resource, ctx) {
                match s.effect {
                    Effect::Deny => return Decision::ExplicitDeny,
                    Effect::Allow => allowed = true,
                }
            }
        }
    }
    if allowed {
        Decision::Allow
    } else {
        Decision::ImplicitDeny
    }
}

fn string_list(v: &Value, what: &str) -> Result<Vec<String>, PolicyError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| err(format!("`{what}` must hold strings")))
            })
            .collect(),
        _ => Err(err(format!(
            "`{what}` must be a string or an array of strings"
        ))),
    }
}

impl Statement {
    fn parse(v: &Value) -> Result<Statement, PolicyError> {
        let obj = v
            .as_object()
            .ok_or_else(|| err("a statement must be an object"))?;
        for key in obj.keys() {
            if !matches!(
                key.as_str(),
                "Sid"
                    | "Effect"
                    | "Action"
                    | "NotAction"
                    | "Resource"
                    | "NotResource"
                    | "Principal"
                    | "Condition"
            ) {
                return Err(err(format!("unknown statement element `{key}`")));
            }
        }
        let effect = match obj.get("Effect").and_then(Value::as_str) {
            Some("Allow") => Effect::Allow,
            Some("Deny") => Effect::Deny,
            _ => return Err(err("`Effect` must be \"Allow\" or \"Deny\"")),
        };
        let action = match (obj.get("Action"), obj.get("NotAction")) {
            (Some(a), None) => (string_list(a, "Action")?, false),
            (None, Some(a)) => (string_list(a, "NotAction")?, true),
            _ => return Err(err("exactly one of `Action` or `NotAction` is required")),
        };
        let resource = match (obj.get("Resource"), obj.get("NotResource")) {
            (Some(r), None) => Some((string_list(r, "Resource")?, false)),
            (None, Some(r)) => Some((string_list(r, "NotResource")?, true)),
            (None, None) => None,
            _ => return Err(err("only one of `Resource` or `NotResource` may be given")),
        };
        let principal = match obj.get("Principal") {
            None => None,
            Some(Value::String(s)) if s == "*" => Some(PrincipalSpec::Any),
            Some(Value::Object(m)) => {
                let (mut aws, mut federated, mut service) = (Vec::new(), Vec::new(), Vec::new());
                for (k, val) in m {
                    match k.as_str() {
                        "AWS" => aws.extend(string_list(val, "Principal.AWS")?),
                        "Federated" => federated.extend(string_list(val, "Principal.Federated")?),
                        "Service" => service.extend(string_list(val, "Principal.Service")?),
                        "CanonicalUser" => {
                            string_list(val, "Principal")?;
                        }
                        other => return Err(err(format!("unknown principal type `{other}`"))),
                    }
                }
                Some(PrincipalSpec::Typed {
                    aws,
                    federated,
                    service,
                })
            }
            Some(_) => return Err(err("`Principal` must be \"*\" or an object")),
        };
        let mut conditions = Vec::new();
        if let Some(c) = obj.get("Condition") {
            let c = c
                .as_object()
                .ok_or_else(|| err("`Condition` must be an object"))?;
            for (op_name, body) in c {
                let (base, if_exists) = match op_name.strip_suffix("IfExists") {
                    Some(b) => (b, true),
                    None => (op_name.as_str(), false),
                };
                let op = match base {
                    "StringEquals" => CondOp::Equals,
                    "StringNotEquals" => CondOp::NotEquals,
                    "StringLike" => CondOp::Like,
                    "StringNotLike" => CondOp::NotLike,
                    "StringEqualsIgnoreCase" => CondOp::EqualsIgnoreCase,
                    other => {
                        return Err(err(format!(
                            "unsupported condition operator `{other}` (the simulator knows the String* operators)"
                        )));
                    }
                };
                let body = body
                    .as_object()
                    .ok_or_else(|| err(format!("`{op_name}` must be an object")))?;
                for (key, vals) in body {
                    conditions.push(Condition {
                        op,
                        if_exists,
                        key: key.to_ascii_lowercase(),
                        values: string_list(vals, op_name)?,
                    });
                }
            }
        }
        Ok(Statement {
            effect,
            action,
            resource,
            principal,
            conditions,
        })
    }

    fn matches_action(&self, action: &str) -> bool {
        let hit = self
            .action
            .0
            .iter()
            .any(|p| wildcard_match(p.as_bytes(), action.as_bytes(), true));
        hit != self.action.1
    }

    fn matches_resource(&self, resource: &str) -> bool {
        match &self.resource {
            None => true,
            Some((pats, negated)) => {
                let hit = pats
                    .iter()
                    .any(|p| wildcard_match(p.as_bytes(), resource.as_bytes(), false));
                hit != *negated
            }
        }
    }

    fn matches_conditions(&self, ctx: &Context<'_>) -> bool {
        self.conditions.iter().all(|c| c.holds(ctx))
    }

    fn matches(&self, action: &str, resource: &str, ctx: &Context<'_>) -> bool {
        self.matches_action(action)
            && self.matches_resource(resource)
            && self.matches_conditions(ctx)
    }
}

impl Condition {
    fn holds(&self, ctx: &Context<'_>) -> bool {
        let Some(actual) = ctx.get(&self.key) else {
            return self.if_exists || matches!(self.op, CondOp::NotEquals | CondOp::NotLike);
        };
        let any = |f: &dyn Fn(&str) -> bool| self.values.iter().any(|v| f(v));
        match self.op {
            CondOp::Equals => any(&|v| v == actual),
            CondOp::NotEquals => !any(&|v| v == actual),
            CondOp::EqualsIgnoreCase => any(&|v| v.eq_ignore_ascii_case(actual)),
            CondOp::Like => any(&|v| wildcard_match(v.as_bytes(), actual.as_bytes(), false)),
            CondOp::NotLike => !any(&|v| wildcard_match(v.as_bytes(), actual.as_bytes(), false)),
        }
    }
}

impl PrincipalSpec {
    /// Whether the Principal names `who` (`"*"` names everyone).
    fn names(&self, who: Outsider<'_>) -> bool {
        match (self, who) {
            (PrincipalSpec::Any, _) => true,
            (PrincipalSpec::Typed { federated, .. }, Outsider::Federated(arn)) => {
                federated.iter().any(|p| p == arn)
            }
            (PrincipalSpec::Typed { service, .. }, Outsider::Service(name)) => {
                service.iter().any(|p| p.eq_ignore_ascii_case(name))
            }
        }
    }

    fn matches(&self, caller: &Caller<'_>) -> Option<PrincipalMatch> {
        match self {
            PrincipalSpec::Any => Some(PrincipalMatch::Direct),
            PrincipalSpec::Typed { aws: list, .. } => {
                let mut best = None;
                for p in list {
                    let m = if p == "*" {
                        Some(PrincipalMatch::Direct)
                    } else if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
                        (p == caller.account).then_some(PrincipalMatch::Account)
                    } else if let Some(acct) = p
                        .strip_prefix("arn:aws:iam::")
                        .and_then(|r| r.strip_suffix(":root"))
                    {
                        (acct == caller.account).then_some(PrincipalMatch::Account)
                    } else {
                        caller
                            .arns
                            .iter()
                            .any(|a| wildcard_match(p.as_bytes(), a.as_bytes(), false))
                            .then_some(PrincipalMatch::Direct)
                    };
                    best = best.max(m);
                }
                best
            }
        }
    }
}

/// Glob match with `*` (any run) and `?` (one character), optionally ASCII case-insensitive.
pub fn wildcard_match(pattern: &[u8], text: &[u8], ignore_case: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len()
            && (pattern[p] == b'?' || (pattern[p] != b'*' && eq(pattern[p], text[t])))
        {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while p < pattern.len() && pattern[p] == b'*' {
        p += 1;
    }
    p == pattern.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pol(s: &str) -> Policy {
        match Policy::parse(s) {
            Ok(p) => p,
            Err(e) => panic!("test policy does not parse: {e}"),
        }
    }

    const MODEL: &str =
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0";

    #[test]
    fn wildcards_match_like_iam() {
        assert!(wildcard_match(b"bedrock:*", b"bedrock:InvokeModel", true));
        assert!(wildcard_match(
            b"BEDROCK:invoke*",
            b"bedrock:InvokeModel",
            true
        ));
        assert!(!wildcard_match(
            b"bedrock:Invoke*",
            b"bedrock:Converse",
            true
        ));
        assert!(wildcard_match(
            b"arn:aws:bedrock:us-?ast-1::*",
            MODEL.as_bytes(),
            false
        ));
        assert!(!wildcard_match(
            b"arn:aws:bedrock:us-west-2::*",
            MODEL.as_bytes(),
            false
        ));
        assert!(!wildcard_match(
            b"Arn:aws:bedrock:*",
            MODEL.as_bytes(),
            false
        ));
        assert!(wildcard_match(b"*", b"", false));
        assert!(wildcard_match(b"a*b*c", b"aXXbYYc", false));
        assert!(!wildcard_match(b"a*b*c", b"aXXbYY", false));
    }

    #[test]
    fn role_allowed_bedrock_invoke_on_one_region_is_implicitly_denied_elsewhere() {
        let p = pol(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:us-east-1::foundation-model/*"}]}"#,
        );
        let ctx = Context::default();
        assert_eq!(
            p.evaluate("bedrock:InvokeModel", MODEL, &ctx),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate("bedrock:invokemodel", MODEL, &ctx),
            Decision::Allow
        );
        let west = MODEL.replace("us-east-1", "us-west-2");
        assert_eq!(
            p.evaluate("bedrock:InvokeModel", &west, &ctx),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate("bedrock:GetFoundationModel", MODEL, &ctx),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn explicit_deny_in_any_policy_beats_an_allow_in_another() {
        let allow = pol(r#"{"Statement":{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}}"#);
        let deny = pol(
            r#"{"Statement":[{"Effect":"Deny","Action":["bedrock:InvokeModel*"],"Resource":"*"}]}"#,
        );
        let ctx = Context::default();
        assert_eq!(
            evaluate_all(
                &[allow.clone(), deny.clone()],
                "bedrock:InvokeModel",
                MODEL,
                &ctx
            ),
            Decision::ExplicitDeny
        );
        assert_eq!(
            evaluate_all(&[deny, allow], "bedrock:GetFoundationModel", MODEL, &ctx),
            Decision::Allow
        );
    }

    #[test]
    fn not_action_and_not_resource_invert_the_match() {
        let p = pol(
            r#"{"Statement":[{"Effect":"Allow","NotAction":"iam:*","NotResource":"arn:aws:bedrock:eu-*"}]}"#,
        );
        let ctx = Context::default();
        assert_eq!(
            p.evaluate("bedrock:InvokeModel", MODEL, &ctx),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate("iam:GetRole", MODEL, &ctx),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate(
                "bedrock:InvokeModel",
                "arn:aws:bedrock:eu-west-1::foundation-model/x",
                &ctx
            ),
            Decision::ImplicitDeny
        );
    }

    fn trust_with_external_id(op: &str) -> Policy {
        pol(&format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111111111111:root"}},"Action":"sts:AssumeRole","Condition":{{"{op}":{{"sts:ExternalId":"ext-*"}}}}}}]}}"#
        ))
    }

    fn caller(account: &str) -> Caller<'_> {
        Caller {
            account,
            arns: vec![format!("arn:aws:iam::{account}:user/prober")],
        }
    }

    #[test]
    fn trust_policy_requiring_an_external_id_refuses_a_caller_without_one() {
        let p = trust_with_external_id("StringEquals");
        let c = caller("111111111111");
        let none = Context::default();
        assert_eq!(p.evaluate_trust(&c, "sts:AssumeRole", &none), (false, None));
        let wrong = Context::default().with("sts:externalid", Some("ext-123"));
        assert_eq!(
            p.evaluate_trust(&c, "sts:AssumeRole", &wrong),
            (false, None)
        );
        let exact = Context::default().with("sts:externalid", Some("ext-*"));
        assert_eq!(
            p.evaluate_trust(&c, "sts:AssumeRole", &exact),
            (false, Some(PrincipalMatch::Account))
        );
    }

    #[test]
    fn string_like_external_id_condition_accepts_a_matching_id_and_if_exists_accepts_none() {
        let p = trust_with_external_id("StringLike");
        let c = caller("111111111111");
        let ok = Context::default().with("sts:externalid", Some("ext-123"));
        assert_eq!(
            p.evaluate_trust(&c, "sts:AssumeRole", &ok),
            (false, Some(PrincipalMatch::Account))
        );
        let p = trust_with_external_id("StringLikeIfExists");
        assert_eq!(
            p.evaluate_trust(&c, "sts:AssumeRole", &Context::default()),
            (false, Some(PrincipalMatch::Account))
        );
    }

    #[test]
    fn trust_policy_naming_another_account_does_not_trust_the_caller() {
        let p = trust_with_external_id("StringLike");
        let c = caller("999999999999");
        let ok = Context::default().with("sts:externalid", Some("ext-123"));
        assert_eq!(p.evaluate_trust(&c, "sts:AssumeRole", &ok), (false, None));
    }

    #[test]
    fn trust_policy_naming_the_caller_arn_matches_directly_and_a_deny_is_reported() {
        let p = pol(r#"{"Statement":[
            {"Effect":"Allow","Principal":{"AWS":["123456789012","arn:aws:iam::111111111111:user/prober"]},"Action":"sts:AssumeRole"},
            {"Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"blocked"}}}]}"#);
        let c = caller("111111111111");
        assert_eq!(
            p.evaluate_trust(&c, "sts:AssumeRole", &Context::default()),
            (false, Some(PrincipalMatch::Direct))
        );
        let blocked = Context::default().with("sts:externalid", Some("blocked"));
        assert!(p.evaluate_trust(&c, "sts:AssumeRole", &blocked).0);
    }

    #[test]
    fn scp_deny_listing_only_denies_what_it_names() {
        let scp = pol(
            r#"{"Statement":[{"Effect":"Deny","Action":"bedrock:InvokeModel*","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        );
        let ctx = Context::default();
        assert!(scp.denies("bedrock:InvokeModel", MODEL, &ctx));
        assert!(scp.denies("bedrock:InvokeModelWithResponseStream", MODEL, &ctx));
        assert!(!scp.denies("sts:AssumeRole", "arn:aws:iam::1:role/x", &ctx));
    }

    const OIDC: &str = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE";

    fn irsa_trust() -> Policy {
        pol(&format!(
            r#"{{"Statement":[{{"Effect":"Allow","Principal":{{"Federated":"arn:aws:iam::111111111111:oidc-provider/{OIDC}"}},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{{"StringEquals":{{"{OIDC}:sub":"system:serviceaccount:monitoring:exporter","{OIDC}:aud":"sts.amazonaws.com"}}}}}}]}}"#
        ))
    }

    #[test]
    fn an_irsa_trust_policy_admits_only_its_service_account_with_the_sts_audience() {
        let p = irsa_trust();
        let provider = format!("arn:aws:iam::111111111111:oidc-provider/{OIDC}");
        let who = Outsider::Federated(&provider);
        let (sub, aud) = (format!("{OIDC}:sub"), format!("{OIDC}:aud"));
        let cx = |s: &'static str, a: &'static str| {
            Context::default().with(&sub, Some(s)).with(&aud, Some(a))
        };
        let action = "sts:AssumeRoleWithWebIdentity";
        assert_eq!(
            p.evaluate_trust_outsider(
                who,
                action,
                &cx(
                    "system:serviceaccount:monitoring:exporter",
                    "sts.amazonaws.com"
                )
            ),
            (false, true)
        );
        assert_eq!(
            p.evaluate_trust_outsider(
                who,
                action,
                &cx(
                    "system:serviceaccount:default:exporter",
                    "sts.amazonaws.com"
                )
            ),
            (false, false),
            "another namespace"
        );
        assert_eq!(
            p.evaluate_trust_outsider(
                who,
                action,
                &cx("system:serviceaccount:monitoring:exporter", "other")
            ),
            (false, false),
            "another audience"
        );
        let other = format!("arn:aws:iam::222222222222:oidc-provider/{OIDC}");
        assert_eq!(
            p.evaluate_trust_outsider(
                Outsider::Federated(&other),
                action,
                &cx(
                    "system:serviceaccount:monitoring:exporter",
                    "sts.amazonaws.com"
                )
            ),
            (false, false),
            "the provider of another account"
        );
        assert_eq!(
            p.evaluate_trust_outsider(who, "sts:AssumeRole", &cx("x", "y")),
            (false, false)
        );
        // A federated principal never matches an IAM caller.
        assert_eq!(
            p.evaluate_trust(&caller("111111111111"), action, &Context::default()),
            (false, None)
        );
    }

    #[test]
    fn a_pod_identity_trust_names_the_eks_service_and_an_aws_principal_does_not_match_it() {
        let p = pol(
            r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}"#,
        );
        let eks = Outsider::Service("pods.eks.amazonaws.com");
        let cx = Context::default();
        assert_eq!(
            p.evaluate_trust_outsider(eks, "sts:AssumeRole", &cx),
            (false, true)
        );
        assert_eq!(
            p.evaluate_trust_outsider(eks, "sts:TagSession", &cx),
            (false, true)
        );
        assert_eq!(
            p.evaluate_trust_outsider(
                Outsider::Service("ec2.amazonaws.com"),
                "sts:AssumeRole",
                &cx
            ),
            (false, false)
        );
        assert_eq!(
            p.evaluate_trust(&caller("111111111111"), "sts:AssumeRole", &cx),
            (false, None)
        );
        let open =
            pol(r#"{"Statement":[{"Effect":"Allow","Principal":"*","Action":"sts:AssumeRole"}]}"#);
        assert_eq!(
            open.evaluate_trust_outsider(eks, "sts:AssumeRole", &cx),
            (false, true)
        );
    }

    #[test]
    fn malformed_policies_are_rejected_with_the_reason() {
        for (text, needle) in [
            ("{", "not valid JSON"),
            ("[]", "JSON object"),
            (
                r#"{"Statement":[{"Effect":"Maybe","Action":"*"}]}"#,
                "Effect",
            ),
            (r#"{"Statement":[{"Effect":"Allow"}]}"#, "Action"),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Condition":{"NumericLessThan":{"a":"1"}}}]}"#,
                "NumericLessThan",
            ),
            (
                r#"{"Statement":[{"Effect":"Allow","Action":"*","Bogus":1}]}"#,
                "Bogus",
            ),
        ] {
            match Policy::parse(text) {
                Ok(_) => panic!("{text} should not parse"),
                Err(e) => assert!(e.0.contains(needle), "{e} should mention {needle}"),
            }
        }
    }
}
