//! Who may assume which role: the same-account "either side" rule, the cross-account "both
//! sides" rule, explicit denies in SCPs, identity and trust policies, and role chaining.

mod sim_support;

use aws_credential_types::Credentials;
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_sdk_sts::error::ProvideErrorMetadata;
use bedrock_access_exporter::sim::Simulator;
use sim_support::serve_scenario;

const SCENARIO: &str = r#"
[[accounts]]
id = "111111111111"
[[accounts]]
id = "222222222222"
[[accounts]]
id = "333333333333"
scps = ['{"Statement":[{"Effect":"Deny","Action":"sts:AssumeRole","Resource":"arn:aws:iam::222222222222:role/*"}]}']

# No identity policy at all.
[[users]]
account = "111111111111"
name = "nobody"
access_keys = [{ id = "AKIANOBODYEXAMPLE001", secret = "nobodySecret000000000000000000000000001" }]

[[users]]
account = "111111111111"
name = "prober"
access_keys = [{ id = "AKIAPROBEREXAMPLE001", secret = "proberSecret000000000000000000000000001" }]
policies = ['''{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"},
  {"Effect":"Deny","Action":"sts:AssumeRole","Resource":"arn:aws:iam::222222222222:role/Forbidden"}]}''']

[[users]]
account = "333333333333"
name = "sandboxer"
access_keys = [{ id = "AKIASANDBOXER0000001", secret = "sandboxSecret00000000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}']

# Same account, trusts the account: the caller's identity policy must allow too.
[[roles]]
account = "111111111111"
name = "AccountTrust"
trust_policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"}]}'

# Same account, names the user: enough on its own.
[[roles]]
account = "111111111111"
name = "DirectTrust"
trust_policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:user/nobody"},"Action":"sts:AssumeRole"}]}'

# Cross account, names the user directly: the caller's identity policy is still required.
[[roles]]
account = "222222222222"
name = "CrossDirect"
max_session_duration = 43200
trust_policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:user/nobody","arn:aws:iam::111111111111:user/prober","333333333333","222222222222"]},"Action":"sts:AssumeRole"}]}'
policies = ['{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}']

[[roles]]
account = "222222222222"
name = "Forbidden"
trust_policy = '{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"}]}'

[[roles]]
account = "222222222222"
name = "TrustDenies"
trust_policy = '''{"Statement":[{"Effect":"Allow","Principal":{"AWS":"111111111111"},"Action":"sts:AssumeRole"},
  {"Effect":"Deny","Principal":{"AWS":"arn:aws:iam::111111111111:user/prober"},"Action":"sts:AssumeRole"}]}'''
"#;

async fn client(creds: Credentials) -> (aws_sdk_sts::Client, Simulator) {
    let (addr, sim) = serve_scenario(SCENARIO, "sim_trust").await;
    let url = format!("http://{addr}");
    let c = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(creds)
            .endpoint_url(url)
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    (c, sim)
}

fn nobody() -> Credentials {
    Credentials::new(
        "AKIANOBODYEXAMPLE001",
        "nobodySecret000000000000000000000000001",
        None,
        None,
        "t",
    )
}
fn prober() -> Credentials {
    Credentials::new(
        "AKIAPROBEREXAMPLE001",
        "proberSecret000000000000000000000000001",
        None,
        None,
        "t",
    )
}

/// Ok(assumed-role ARN) or Err((code, message)).
async fn assume(
    c: &aws_sdk_sts::Client,
    role: &str,
    duration: Option<i32>,
) -> Result<String, (String, String)> {
    match c
        .assume_role()
        .role_arn(role)
        .role_session_name("s1")
        .set_duration_seconds(duration)
        .send()
        .await
    {
        Ok(o) => Ok(o
            .assumed_role_user()
            .map(|u| u.arn().to_owned())
            .unwrap_or_default()),
        Err(e) => Err((
            e.code().unwrap_or_default().to_owned(),
            e.message().unwrap_or_default().to_owned(),
        )),
    }
}

const NOBODY: &str = "User: arn:aws:iam::111111111111:user/nobody is not authorized to perform: sts:AssumeRole on resource: ";
const PROBER: &str = "User: arn:aws:iam::111111111111:user/prober is not authorized to perform: sts:AssumeRole on resource: ";

#[tokio::test]
async fn same_account_role_trusting_the_account_still_needs_the_callers_identity_policy() {
    let (c, _) = client(nobody()).await;
    let role = "arn:aws:iam::111111111111:role/AccountTrust";
    assert_eq!(
        assume(&c, role, None).await,
        Err((
            "AccessDenied".into(),
            format!(
                "{NOBODY}{role} because no identity-based policy allows the sts:AssumeRole action"
            )
        ))
    );
}

#[tokio::test]
async fn same_account_role_naming_the_user_is_enough_without_an_identity_policy() {
    let (c, _) = client(nobody()).await;
    assert_eq!(
        assume(&c, "arn:aws:iam::111111111111:role/DirectTrust", None).await,
        Ok("arn:aws:sts::111111111111:assumed-role/DirectTrust/s1".into())
    );
}

#[tokio::test]
async fn cross_account_role_naming_the_user_still_needs_the_callers_identity_policy() {
    let (c, _) = client(nobody()).await;
    let role = "arn:aws:iam::222222222222:role/CrossDirect";
    assert_eq!(
        assume(&c, role, None).await,
        Err((
            "AccessDenied".into(),
            format!(
                "{NOBODY}{role} because no identity-based policy allows the sts:AssumeRole action"
            )
        ))
    );
    let (c, _) = client(prober()).await;
    assert_eq!(
        assume(&c, role, None).await,
        Ok("arn:aws:sts::222222222222:assumed-role/CrossDirect/s1".into())
    );
}

#[tokio::test]
async fn explicit_denies_name_the_policy_type_that_denied() {
    let (c, _) = client(prober()).await;
    let forbidden = "arn:aws:iam::222222222222:role/Forbidden";
    assert_eq!(
        assume(&c, forbidden, None).await,
        Err((
            "AccessDenied".into(),
            format!("{PROBER}{forbidden} with an explicit deny in an identity-based policy")
        ))
    );
    let denies = "arn:aws:iam::222222222222:role/TrustDenies";
    assert_eq!(
        assume(&c, denies, None).await,
        Err((
            "AccessDenied".into(),
            format!("{PROBER}{denies} with an explicit deny in the role trust policy")
        ))
    );
    let missing = "arn:aws:iam::222222222222:role/DoesNotExist";
    assert_eq!(
        assume(&c, missing, None).await,
        Err(("AccessDenied".into(), format!("{PROBER}{missing}")))
    );

    let sandboxer = Credentials::new(
        "AKIASANDBOXER0000001",
        "sandboxSecret00000000000000000000000001",
        None,
        None,
        "t",
    );
    let (c, _) = client(sandboxer).await;
    let role = "arn:aws:iam::222222222222:role/CrossDirect";
    assert_eq!(
        assume(&c, role, None).await,
        Err((
            "AccessDenied".into(),
            format!(
                "User: arn:aws:iam::333333333333:user/sandboxer is not authorized to perform: sts:AssumeRole on resource: {role} with an explicit deny in a service control policy"
            )
        ))
    );
}

#[tokio::test]
async fn duration_bounds_and_role_chaining_limit_are_validation_errors() {
    let (c, sim) = client(prober()).await;
    let role = "arn:aws:iam::222222222222:role/CrossDirect";
    let short = assume(&c, role, Some(899)).await;
    assert!(
        matches!(&short, Err((code, m)) if code == "ValidationError" && m.contains("greater than or equal to 900")),
        "{short:?}"
    );
    assert!(
        assume(&c, role, Some(43200)).await.is_ok(),
        "the role allows 12 hours"
    );

    // Chain: the assumed role assumes a role again, for two hours.
    let out = c
        .assume_role()
        .role_arn(role)
        .role_session_name("hop1")
        .send()
        .await;
    let Some(creds) = out.ok().and_then(|o| o.credentials().cloned()) else {
        panic!("first hop")
    };
    let hop = Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_owned()),
        None,
        "h",
    );
    let (c2, _) = (
        aws_sdk_sts::Client::from_conf(c.config().to_builder().credentials_provider(hop).build()),
        sim,
    );
    let r = assume(&c2, role, Some(7200)).await;
    assert_eq!(
        r,
        Err((
            "ValidationError".into(),
            "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.".into()
        ))
    );
    assert_eq!(
        assume(&c2, role, Some(3600)).await,
        Ok("arn:aws:sts::222222222222:assumed-role/CrossDirect/s1".into())
    );
}
