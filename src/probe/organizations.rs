//! Discovery of a target's accounts from AWS Organizations (`accounts_from`): the ACTIVE member
//! accounts, with `ListAccounts`, or for organizational units `ListAccountsForParent` and
//! `ListChildren` recursively; every list paginated. The calls are signed for `us-east-1`
//! (Organizations' home Region in the `aws` partition) with the source's credentials, or with
//! those of `accounts_from.role_arn` (assumed first).
//!
//! A failure is classified into a bounded [`DiscoveryReason`]: Organizations' own refusals, or
//! the probe's reasons for what it shares with the layers (credentials, throttling, network).

use std::collections::BTreeSet;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_organizations::types::{Account, AccountState, AccountStatus, ChildType};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use tokio::time::Instant;

use super::aws::{failure_from_sdk, local_failure, sts_client};
use super::{Failure, Prober};
use crate::config::fleet::MAX_ACCOUNTS;
use crate::config::{Discovery, Target};
use crate::reason::{Layer, Reason};

/// Organizations' signing Region.
pub const ORGANIZATIONS_REGION: &str = "us-east-1";
/// Pages read at most in one discovery (a guard against a listing that never ends).
const MAX_PAGES: usize = 2_000;
/// Organizational units visited at most (AWS nests them five deep).
const MAX_OUS: usize = 2_000;
/// One discovery's budget.
pub const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a discovery failed: a bounded set of label values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscoveryReason {
    /// `AWSOrganizationsNotInUseException`: the caller's account is in no organization.
    NotInOrganization,
    /// `AccessDeniedException`: not the management account or a delegated administrator, or
    /// no `organizations:List*` permission.
    AccessDenied,
    /// `ParentNotFoundException`: an `ous` entry names no OU or root of this organization.
    ParentNotFound,
    /// What discovery shares with the probe layers (credentials, AssumeRole of
    /// `accounts_from.role_arn`, throttling, timeouts, network).
    Probe(Reason),
}

impl DiscoveryReason {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscoveryReason::NotInOrganization => "organizations_not_in_use",
            DiscoveryReason::AccessDenied => "organizations_access_denied",
            DiscoveryReason::ParentNotFound => "organizations_parent_not_found",
            DiscoveryReason::Probe(r) => r.as_str(),
        }
    }

    /// What to do, in one line.
    pub fn fix(self) -> &'static str {
        match self {
            DiscoveryReason::NotInOrganization => {
                "the source's account (or accounts_from.role_arn's) is in no AWS Organization: point accounts_from.role_arn at a role in the management account, or list accounts = [...]"
            }
            DiscoveryReason::AccessDenied => {
                "only the management account or a delegated administrator may list accounts: set accounts_from.role_arn to such a role allowed organizations:ListAccounts, ListAccountsForParent and ListChildren"
            }
            DiscoveryReason::ParentNotFound => {
                "an accounts_from.ous entry is not an OU or root of this organization: check the ids with aws organizations list-roots / list-organizational-units-for-parent"
            }
            DiscoveryReason::Probe(r) => r.fix(),
        }
    }
}

/// A failed discovery.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscoveryFailure {
    pub reason: DiscoveryReason,
    /// The AWS error code, if AWS answered with one.
    pub error_code: Option<String>,
    /// AWS's message (redacted) or the local error.
    pub message: String,
}

impl DiscoveryFailure {
    fn from_probe(f: Failure) -> DiscoveryFailure {
        let reason = match f.error_code.as_deref() {
            Some("AWSOrganizationsNotInUseException") => DiscoveryReason::NotInOrganization,
            Some("AccessDeniedException") => DiscoveryReason::AccessDenied,
            Some("ParentNotFoundException") => DiscoveryReason::ParentNotFound,
            _ => DiscoveryReason::Probe(f.reason),
        };
        DiscoveryFailure {
            reason,
            error_code: f.error_code,
            message: f.message,
        }
    }
}

impl Prober {
    /// The accounts `target`'s `accounts_from` finds now: sorted, without duplicates and
    /// excluded accounts, at most [`MAX_ACCOUNTS`].
    pub async fn discover(
        &self,
        target: &Target,
        discovery: &Discovery,
    ) -> Result<Vec<String>, DiscoveryFailure> {
        let deadline = Instant::now() + DISCOVERY_TIMEOUT;
        let Some(sdk) = self.sources.get(&target.source).map(|e| &e.sdk) else {
            return Err(DiscoveryFailure::from_probe(local_failure(
                Reason::NoCredentials,
                &format!("source {:?} has no SDK configuration", target.source),
            )));
        };
        let left = || deadline.saturating_duration_since(Instant::now());
        let creds = source_credentials(sdk, left()).await?;
        let creds = match &discovery.role_arn {
            None => creds,
            Some(role) => assume(sdk, creds, role, &target.settings.session_name, left()).await?,
        };
        let conf = sdk
            .to_builder()
            .region(aws_types::region::Region::new(ORGANIZATIONS_REGION))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(creds),
            )
            .retry_config(super::aws::retry_config())
            .timeout_config(super::aws::timeout_config(left()))
            .build();
        let client = aws_sdk_organizations::Client::new(&conf);
        let mut found = BTreeSet::new();
        let listing = async {
            if discovery.ous.is_empty() {
                list_all(&client, &mut found).await
            } else {
                list_under(&client, &discovery.ous, &mut found).await
            }
        };
        match tokio::time::timeout(left(), listing).await {
            Err(_) => {
                return Err(DiscoveryFailure::from_probe(local_failure(
                    Reason::Timeout,
                    "listing the organization's accounts took longer than 60s",
                )));
            }
            Ok(Err(e)) => return Err(e),
            Ok(Ok(())) => {}
        }
        for x in &discovery.exclude {
            found.remove(x);
        }
        if found.len() > MAX_ACCOUNTS {
            tracing::warn!(target = %target.name, found = found.len(), limit = MAX_ACCOUNTS, "discovery found more accounts than a target may probe; keeping the first");
        }
        Ok(found.into_iter().take(MAX_ACCOUNTS).collect())
    }
}

async fn source_credentials(
    sdk: &aws_config::SdkConfig,
    left: Duration,
) -> Result<Credentials, DiscoveryFailure> {
    let Some(provider) = sdk.credentials_provider() else {
        return Err(DiscoveryFailure::from_probe(local_failure(
            Reason::NoCredentials,
            "the source has no credential provider",
        )));
    };
    match tokio::time::timeout(left, provider.provide_credentials()).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(DiscoveryFailure::from_probe(local_failure(
            Reason::NoCredentials,
            &super::aws::redact(
                &aws_smithy_types::error::display::DisplayErrorContext(&e).to_string(),
                &[],
            ),
        ))),
        Err(_) => Err(DiscoveryFailure::from_probe(local_failure(
            Reason::Timeout,
            "resolving the source's credentials timed out",
        ))),
    }
}

async fn assume(
    sdk: &aws_config::SdkConfig,
    creds: Credentials,
    role: &str,
    session: &str,
    left: Duration,
) -> Result<Credentials, DiscoveryFailure> {
    let out = sts_client(sdk, ORGANIZATIONS_REGION, creds, left)
        .assume_role()
        .role_arn(role)
        .role_session_name(session)
        .send()
        .await
        .map_err(|e| DiscoveryFailure::from_probe(failure_from_sdk(Layer::AssumeRole, &e, &[])))?;
    let Some(c) = out.credentials() else {
        return Err(DiscoveryFailure::from_probe(local_failure(
            Reason::Unknown,
            "AssumeRole answered without credentials",
        )));
    };
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        std::time::SystemTime::try_from(*c.expiration()).ok(),
        "bedrock-access-exporter-discovery",
    ))
}

fn is_active(a: &Account) -> bool {
    match (a.state(), a.status()) {
        (Some(state), _) => *state == AccountState::Active,
        (None, Some(status)) => *status == AccountStatus::Active,
        (None, None) => false,
    }
}

fn failed<E>(
    e: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
) -> DiscoveryFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    DiscoveryFailure::from_probe(failure_from_sdk(Layer::Credentials, e, &[]))
}

fn take_active(accounts: &[Account], found: &mut BTreeSet<String>) {
    for a in accounts.iter().filter(|a| is_active(a)) {
        if let Some(id) = a.id()
            && crate::config::fleet::is_account_id(id)
        {
            found.insert(id.to_string());
        }
    }
}

async fn list_all(
    client: &aws_sdk_organizations::Client,
    found: &mut BTreeSet<String>,
) -> Result<(), DiscoveryFailure> {
    let mut token: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let out = client
            .list_accounts()
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| failed(&e))?;
        take_active(out.accounts(), found);
        match out.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(()),
        }
    }
    Ok(())
}

/// The ACTIVE accounts under `parents`, recursively.
async fn list_under(
    client: &aws_sdk_organizations::Client,
    parents: &[String],
    found: &mut BTreeSet<String>,
) -> Result<(), DiscoveryFailure> {
    let mut queue: Vec<String> = parents.to_vec();
    let mut visited = BTreeSet::new();
    while let Some(parent) = queue.pop() {
        if visited.len() >= MAX_OUS || !visited.insert(parent.clone()) {
            continue;
        }
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let out = client
                .list_accounts_for_parent()
                .parent_id(&parent)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| failed(&e))?;
            take_active(out.accounts(), found);
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let out = client
                .list_children()
                .parent_id(&parent)
                .child_type(ChildType::OrganizationalUnit)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| failed(&e))?;
            queue.extend(
                out.children()
                    .iter()
                    .filter_map(|c| c.id())
                    .map(str::to_string),
            );
            match out.next_token() {
                Some(t) if !t.is_empty() => token = Some(t.to_string()),
                _ => break,
            }
        }
    }
    Ok(())
}
