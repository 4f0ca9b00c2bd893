//! AWS Organizations in the simulator, through the real AWS SDK for Rust and through boto3: the
//! management account lists its ACTIVE and other accounts page by page, walks OUs, a member
//! account is refused with AccessDeniedException, an account outside any organization gets
//! AWSOrganizationsNotInUseException, an unknown OU ParentNotFoundException: AWS's codes and
//! texts in the JSON 1.1 shape.

mod sim_support;

use std::process::Command;

use aws_credential_types::Credentials;
use aws_sdk_organizations::error::ProvideErrorMetadata;
use aws_sdk_organizations::types::{AccountState, ChildType};
use aws_sdk_sts::config::{BehaviorVersion, Region};
use sim_support::serve_scenario;

const SCENARIO: &str = r#"
default_grant = "granted"
[[accounts]]
id = "111111111111"
[[accounts]]
id = "222222222222"
[[accounts]]
id = "777777777777"

[[users]]
account = "111111111111"
name = "org-reader"
access_keys = [{ id = "AKIAORGREADER0000001", secret = "orgReaderSecret0000000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":"organizations:List*","Resource":"*"}]}']

[[users]]
account = "222222222222"
name = "member"
access_keys = [{ id = "AKIAMEMBER0000000001", secret = "memberSecret000000000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}']

[[users]]
account = "777777777777"
name = "loner"
access_keys = [{ id = "AKIALONER00000000001", secret = "lonerSecret0000000000000000000000000001" }]
policies = ['{"Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}']

[organization]
id = "o-a1b2c3d4e5"
root = "r-a1b2"
management_account = "111111111111"

[[organization.units]]
id = "ou-a1b2-prod0001"
name = "prod"
parent = "r-a1b2"

[[organization.units]]
id = "ou-a1b2-prodeu01"
name = "prod-eu"
parent = "ou-a1b2-prod0001"

[[organization.accounts]]
id = "222222222222"
parent = "ou-a1b2-prod0001"

[[organization.accounts]]
id = "333333333333"
parent = "ou-a1b2-prodeu01"

[[organization.accounts]]
id = "444444444444"
parent = "ou-a1b2-prodeu01"
state = "SUSPENDED"
"#;

/// 30 more accounts under the root, so that the listing takes two pages of 20.
fn scenario() -> String {
    let mut s = SCENARIO.to_string();
    for i in 0..30 {
        s.push_str(&format!(
            "\n[[organization.accounts]]\nid = \"{}\"\n",
            500_000_000_000u64 + i
        ));
    }
    s
}

fn client(url: &str, id: &str, secret: &str) -> aws_sdk_organizations::Client {
    let conf = aws_sdk_organizations::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(Credentials::new(id, secret, None, None, "test"))
        .build();
    aws_sdk_organizations::Client::from_conf(conf)
}

#[tokio::test]
async fn the_management_account_lists_every_account_page_by_page_and_walks_its_ous() {
    let (addr, _sim) = serve_scenario(&scenario(), "organizations").await;
    let c = client(
        &format!("http://{addr}"),
        "AKIAORGREADER0000001",
        "orgReaderSecret0000000000000000000000001",
    );
    let mut token = None;
    let mut pages = 0;
    let mut active = Vec::new();
    let mut all = 0;
    loop {
        let out = match c.list_accounts().set_next_token(token).send().await {
            Ok(o) => o,
            Err(e) => panic!("ListAccounts: {:?}", e.into_service_error()),
        };
        pages += 1;
        all += out.accounts().len();
        for a in out.accounts() {
            if a.state() == Some(&AccountState::Active) {
                active.push(a.id().unwrap_or_default().to_string());
            }
        }
        token = out.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    assert_eq!(pages, 2, "34 accounts in pages of 20");
    assert_eq!(all, 34);
    assert!(
        !active.contains(&"444444444444".to_string()),
        "SUSPENDED is not ACTIVE"
    );
    assert_eq!(active.len(), 33);

    let children = c
        .list_children()
        .parent_id("ou-a1b2-prod0001")
        .child_type(ChildType::OrganizationalUnit)
        .send()
        .await;
    let ids: Vec<String> = children
        .map(|o| {
            o.children()
                .iter()
                .filter_map(|c| c.id())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(ids, ["ou-a1b2-prodeu01"]);
    let under = c
        .list_accounts_for_parent()
        .parent_id("ou-a1b2-prodeu01")
        .send()
        .await;
    let ids: Vec<String> = under
        .map(|o| {
            o.accounts()
                .iter()
                .filter_map(|a| a.id())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(ids, ["333333333333", "444444444444"]);
}

#[tokio::test]
async fn members_outsiders_and_unknown_ous_get_aws_errors() {
    let (addr, _sim) = serve_scenario(&scenario(), "organizations").await;
    let url = format!("http://{addr}");
    let code_and_message = |e: &dyn ProvideErrorMetadata| {
        (
            e.code().unwrap_or_default().to_string(),
            e.message().unwrap_or_default().to_string(),
        )
    };
    let member = client(
        &url,
        "AKIAMEMBER0000000001",
        "memberSecret000000000000000000000000001",
    );
    let err = match member.list_accounts().send().await {
        Ok(_) => panic!("a member account must not list the organization"),
        Err(e) => e.into_service_error(),
    };
    assert_eq!(
        code_and_message(&err),
        (
            "AccessDeniedException".into(),
            "You don't have permissions to access this resource.".into()
        )
    );
    let loner = client(
        &url,
        "AKIALONER00000000001",
        "lonerSecret0000000000000000000000000001",
    );
    let err = match loner.list_accounts().send().await {
        Ok(_) => panic!("an account outside any organization has nothing to list"),
        Err(e) => e.into_service_error(),
    };
    assert_eq!(
        code_and_message(&err),
        (
            "AWSOrganizationsNotInUseException".into(),
            "Your account is not a member of an organization.".into()
        )
    );
    let reader = client(
        &url,
        "AKIAORGREADER0000001",
        "orgReaderSecret0000000000000000000000001",
    );
    let err = match reader
        .list_accounts_for_parent()
        .parent_id("ou-a1b2-nosuchou")
        .send()
        .await
    {
        Ok(_) => panic!("an unknown OU has no accounts"),
        Err(e) => e.into_service_error(),
    };
    assert_eq!(err.code(), Some("ParentNotFoundException"));
}

const BOTO3: &str = r#"
import sys, boto3, botocore
url = sys.argv[1]
def client(key, secret):
    return boto3.client("organizations", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id=key, aws_secret_access_key=secret)
c = client("AKIAORGREADER0000001", "orgReaderSecret0000000000000000000000001")
ids = []
for page in c.get_paginator("list_accounts").paginate():
    ids += [a["Id"] for a in page["Accounts"] if a["State"] == "ACTIVE"]
print("active", len(ids))
try:
    client("AKIAMEMBER0000000001", "memberSecret000000000000000000000000001").list_accounts()
except botocore.exceptions.ClientError as e:
    print("member", e.response["Error"]["Code"], "|", e.response["Error"]["Message"])
try:
    c.list_accounts_for_parent(ParentId="ou-a1b2-nosuchou")
except botocore.exceptions.ClientError as e:
    print("parent", e.response["Error"]["Code"])
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_reads_the_same_accounts_and_errors() {
    let (addr, _sim) = serve_scenario(&scenario(), "organizations").await;
    let dir = tempfile::tempdir().expect("tempdir");
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").expect("write");
    let url = format!("http://{addr}");
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new("python3");
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("AWS_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_CONFIG_FILE", &empty)
            .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("NO_PROXY", "127.0.0.1")
            .arg("-c")
            .arg(BOTO3)
            .arg(url)
            .output()
    })
    .await
    .expect("join")
    .expect("python3 with boto3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("active 33"), "{stdout}");
    assert!(
        stdout.contains(
            "member AccessDeniedException | You don't have permissions to access this resource."
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("parent ParentNotFoundException"),
        "{stdout}"
    );
}
