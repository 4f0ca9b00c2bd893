//! The simulator's IAM operations (`GetRole`, `SimulatePrincipalPolicy`) through the real
//! `aws-sdk-iam` client: what `diagnose` reads for its deeper evidence.

mod sim_support;

use aws_credential_types::Credentials;
use aws_sdk_iam::config::retry::RetryConfig;
use aws_sdk_iam::config::{BehaviorVersion, Region};
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::PolicyEvaluationDecisionType as D;
use sim_support::serve_scenario;

const SCENARIO: &str = r#"
[[accounts]]
id = "111111111111"
[[accounts]]
id = "222222222222"
organization = "o-abcdef1234"
management_account = "999999999999"
scp_ids = ["p-noinvoke"]
scps = ['{"Statement":[{"Effect":"Deny","Action":"bedrock:InvokeModel","Resource":"*"}]}']
[[accounts]]
id = "999999999999"

[[users]]
account = "111111111111"
name = "prober"
access_keys = [{ id = "AKIAPROBERIAMTEST001", secret = "proberIamSecret0000000000000000000000001" }]
policies = ['''{"Statement":[
  {"Effect":"Allow","Action":"sts:AssumeRole","Resource":"arn:aws:iam::*:role/Probe*"},
  {"Effect":"Allow","Action":"iam:SimulatePrincipalPolicy","Resource":"arn:aws:iam::111111111111:user/prober"}]}''']

[[users]]
account = "111111111111"
name = "blind"
access_keys = [{ id = "AKIABLINDIAMTEST0001", secret = "blindIamSecret00000000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}]}']

[[users]]
account = "222222222222"
name = "admin"
access_keys = [{ id = "AKIAADMINIAMTEST0001", secret = "adminIamSecret00000000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":"iam:*","Resource":"*"}]}']

[[roles]]
account = "222222222222"
name = "ProbeRole"
max_session_duration = 7200
trust_policy = '''{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole","Condition":{"StringEquals":{"sts:ExternalId":"iam-test-external"}}}]}'''
policies = ['''{"Statement":[
  {"Effect":"Allow","Action":"bedrock:*","Resource":"*"},
  {"Effect":"Deny","Action":"bedrock:InvokeModel","Resource":"arn:aws:bedrock:*::foundation-model/meta.*"}]}''']
"#;

async fn start() -> String {
    let (addr, _) = serve_scenario(SCENARIO, "diagnose_sim_iam scenario").await;
    format!("http://{addr}")
}

fn iam(url: &str, key: &str, secret: &str) -> aws_sdk_iam::Client {
    let conf = aws_sdk_iam::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .endpoint_url(url)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_iam::Client::from_conf(conf)
}

#[tokio::test]
async fn get_role_returns_the_url_encoded_trust_policy_and_a_missing_role_is_no_such_entity() {
    let url = start().await;
    let admin = iam(
        &url,
        "AKIAADMINIAMTEST0001",
        "adminIamSecret00000000000000000000000001",
    );
    let out = match admin.get_role().role_name("ProbeRole").send().await {
        Ok(o) => o,
        Err(e) => panic!("GetRole: {e:?}"),
    };
    let role = out.role().unwrap_or_else(|| panic!("no role"));
    assert_eq!(role.arn(), "arn:aws:iam::222222222222:role/ProbeRole");
    assert_eq!(role.max_session_duration(), Some(7200));
    let doc = role.assume_role_policy_document().unwrap_or_default();
    assert!(doc.contains("%22"), "AWS URL-encodes the document: {doc}");
    let decoded = percent_encoding::percent_decode_str(doc).decode_utf8_lossy();
    let v: serde_json::Value =
        serde_json::from_str(&decoded).unwrap_or_else(|e| panic!("{e}: {decoded}"));
    assert_eq!(
        v["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::111111111111:root"
    );

    match admin.get_role().role_name("NoSuchRole").send().await {
        Ok(_) => panic!("a missing role must not be found"),
        Err(e) => {
            let svc = e.into_service_error();
            assert!(svc.is_no_such_entity_exception(), "{svc:?}");
        }
    }
}

#[tokio::test]
async fn simulate_reports_allowed_implicit_and_explicit_deny_and_the_organisations_scp() {
    let url = start().await;
    let admin = iam(
        &url,
        "AKIAADMINIAMTEST0001",
        "adminIamSecret00000000000000000000000001",
    );
    let out = admin
        .simulate_principal_policy()
        .policy_source_arn("arn:aws:iam::222222222222:role/ProbeRole")
        .action_names("bedrock:GetFoundationModelAvailability")
        .action_names("bedrock:InvokeModel")
        .resource_arns(
            "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-1-70b-instruct-v1:0",
        )
        .send()
        .await;
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("SimulatePrincipalPolicy: {e:?}"),
    };
    let rows: Vec<(String, D, Option<bool>)> = out
        .evaluation_results()
        .iter()
        .map(|r| {
            (
                r.eval_action_name().to_string(),
                r.eval_decision().clone(),
                r.organizations_decision_detail()
                    .map(|o| o.allowed_by_organizations()),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                "bedrock:GetFoundationModelAvailability".to_string(),
                D::Allowed,
                Some(true)
            ),
            (
                "bedrock:InvokeModel".to_string(),
                D::ExplicitDeny,
                Some(false)
            ),
        ]
    );

    // The source user: allowed on a Probe role, implicitly denied elsewhere, no org detail.
    let prober = iam(
        &url,
        "AKIAPROBERIAMTEST001",
        "proberIamSecret0000000000000000000000001",
    );
    let out = prober
        .simulate_principal_policy()
        .policy_source_arn("arn:aws:iam::111111111111:user/prober")
        .action_names("sts:AssumeRole")
        .resource_arns("arn:aws:iam::222222222222:role/ProbeRole")
        .resource_arns("arn:aws:iam::222222222222:role/Other")
        .send()
        .await;
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("SimulatePrincipalPolicy: {e:?}"),
    };
    let decisions: Vec<(Option<&str>, &D, bool)> = out
        .evaluation_results()
        .iter()
        .map(|r| {
            (
                r.eval_resource_name(),
                r.eval_decision(),
                r.organizations_decision_detail().is_some(),
            )
        })
        .collect();
    assert_eq!(
        decisions,
        vec![
            (
                Some("arn:aws:iam::222222222222:role/ProbeRole"),
                &D::Allowed,
                false
            ),
            (
                Some("arn:aws:iam::222222222222:role/Other"),
                &D::ImplicitDeny,
                false
            ),
        ]
    );
}

#[tokio::test]
async fn a_principal_without_simulate_permission_on_itself_gets_access_denied() {
    let url = start().await;
    let blind = iam(
        &url,
        "AKIABLINDIAMTEST0001",
        "blindIamSecret00000000000000000000000001",
    );
    let err = match blind
        .simulate_principal_policy()
        .policy_source_arn("arn:aws:iam::111111111111:user/blind")
        .action_names("sts:AssumeRole")
        .send()
        .await
    {
        Ok(_) => panic!("must be refused"),
        Err(e) => e,
    };
    let svc = err.into_service_error();
    assert_eq!(svc.code(), Some("AccessDenied"));
    assert!(
        svc.message()
            .unwrap_or_default()
            .contains("is not authorized to perform: iam:SimulatePrincipalPolicy"),
        "{svc:?}"
    );
}
