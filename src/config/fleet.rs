//! Targets that probe one role in many accounts: `role_name` (and `role_path`) with
//! `accounts = [...]` or `accounts_from = { organization = true, … }`, read and checked here,
//! and expanded into one member target per account (the account's role ARN).
//!
//! A fleet target is a [`Target`] whose `accounts` is [`TargetAccounts::Many`]; its members are
//! ordinary targets with a `role_arn` and [`TargetAccounts::Member`], so the probe pipeline, the
//! fixes and `diagnose` see one role at a time, as for a target written with `role_arn`.

use std::collections::BTreeMap;
use std::time::Duration;

use config::{Map, Value, ValueKind};

use super::ctx::Ctx;
use super::limits::MAX_TUPLES;
use super::locate::join;
use super::values::{as_table, get_bool, get_list, get_positive_duration, get_string};
use super::{Config, Target, TargetAccounts, rules};

/// The shortest `accounts_from.refresh` accepted (one discovery costs a few Organizations
/// calls; their quotas are a few per second).
pub const MIN_REFRESH: Duration = Duration::from_secs(10);
/// `accounts_from.refresh` when not written.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(3600);
/// The most accounts one target may expand to (written or discovered); beyond it the list is
/// cut (discovery) or refused (configuration).
pub const MAX_ACCOUNTS: usize = 10_000;

const DISCOVERY_KEYS: [&str; 5] = ["organization", "ous", "exclude", "refresh", "role_arn"];

/// The accounts of a target that probes one role in many accounts.
#[derive(Debug, Clone, PartialEq)]
pub struct Fleet {
    /// The role's name in every account.
    pub role_name: String,
    /// The role's path (`/` when not written), with leading and trailing `/`.
    pub role_path: String,
    /// The accounts probed: as written in `accounts`, or the list discovery last returned.
    pub accounts: Vec<String>,
    /// Set with `accounts_from`: where the accounts come from.
    pub discovery: Option<Discovery>,
    /// One member target per account of `accounts`, in that order.
    pub members: Vec<Target>,
}

/// `accounts_from`: the ACTIVE member accounts of the AWS Organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// Only accounts under these organizational units (or roots), recursively; all when empty.
    pub ous: Vec<String>,
    /// Accounts never probed.
    pub exclude: Vec<String>,
    /// How often the list is read again.
    pub refresh: Duration,
    /// A role (usually in the management or a delegated administrator account) assumed to read
    /// the organization; the source's own credentials when not set.
    pub role_arn: Option<String>,
}

impl Fleet {
    /// The role ARN in `account`.
    pub fn role_arn(&self, account: &str) -> String {
        format!(
            "arn:aws:iam::{account}:role{}{}",
            self.role_path, self.role_name
        )
    }
}

/// Whether `s` is a 12-digit account id.
pub fn is_account_id(s: &str) -> bool {
    rules::account_id(s).is_ok()
}

/// `template` (a fleet target) with `accounts` as its accounts and members.
pub fn with_accounts(template: &Target, accounts: Vec<String>) -> Target {
    let mut t = template.clone();
    if let TargetAccounts::Many(fleet) = &mut t.accounts {
        fleet.members = accounts
            .iter()
            .map(|a| member(template, fleet, a))
            .collect();
        fleet.accounts = accounts;
    }
    t
}

fn member(template: &Target, fleet: &Fleet, account: &str) -> Target {
    Target {
        name: template.name.clone(),
        source: template.source.clone(),
        role_arn: Some(fleet.role_arn(account)),
        external_id: template.external_id.clone(),
        regions: template.regions.clone(),
        models: template.models.clone(),
        settings: template.settings.clone(),
        accounts: TargetAccounts::Member,
    }
}

/// What a target's file entry says about its role and accounts.
pub struct RoleSpec {
    pub role_arn: Option<String>,
    pub fleet: Option<Fleet>,
    /// Whether the entry names a role at all (`role_arn` or `role_name`).
    pub has_role: bool,
}

/// Reads `role_arn`, `role_name`, `role_path`, `accounts` and `accounts_from` of the target at
/// `path`, reporting every problem. `ok` turns false when something is wrong.
pub fn role_spec(
    ctx: &mut Ctx<'_>,
    t: &Map<String, Value>,
    path: &str,
    tname: Option<&str>,
    ok: &mut bool,
) -> RoleSpec {
    let role_arn = role_arn(ctx, t, path, tname, ok);
    let name_given = t.contains_key("role_name");
    let has_role = t.contains_key("role_arn") || name_given;
    let lists = ["accounts", "accounts_from"].map(|k| t.contains_key(k));
    if t.contains_key("role_arn") && (name_given || t.contains_key("role_path")) {
        let key = if name_given { "role_name" } else { "role_path" };
        ctx.report(
            &join(path, key),
            tname,
            "role_arn names one role; use either role_arn, or role_name with accounts/accounts_from",
        );
        *ok = false;
    }
    if !name_given {
        for (key, given) in ["accounts", "accounts_from", "role_path"].into_iter().zip([
            lists[0],
            lists[1],
            t.contains_key("role_path"),
        ]) {
            if given && !t.contains_key("role_arn") {
                ctx.report(
                    &join(path, key),
                    tname,
                    "needs role_name: the role to assume in every account",
                );
                *ok = false;
            } else if given && key != "role_path" {
                ctx.report(
                    &join(path, key),
                    tname,
                    "goes with role_name, not role_arn (role_arn names the account already)",
                );
                *ok = false;
            }
        }
        return RoleSpec {
            role_arn,
            fleet: None,
            has_role,
        };
    }
    let fleet = fleet(ctx, t, path, tname, lists, ok);
    RoleSpec {
        role_arn,
        fleet,
        has_role,
    }
}

fn role_arn(
    ctx: &mut Ctx<'_>,
    t: &Map<String, Value>,
    path: &str,
    tname: Option<&str>,
    ok: &mut bool,
) -> Option<String> {
    let role_path = join(path, "role_arn");
    let s = get_string(ctx, t.get("role_arn")?, &role_path, tname);
    let Some(s) = s else {
        *ok = false;
        return None;
    };
    match rules::role_arn(&s) {
        Ok(()) => Some(s),
        Err(m) => {
            ctx.report(&role_path, tname, m);
            *ok = false;
            None
        }
    }
}

/// `role_name` (+ `role_path`) with exactly one of `accounts` and `accounts_from`.
fn fleet(
    ctx: &mut Ctx<'_>,
    t: &Map<String, Value>,
    path: &str,
    tname: Option<&str>,
    lists: [bool; 2],
    ok: &mut bool,
) -> Option<Fleet> {
    let before = ctx.problems.len();
    let name_path = join(path, "role_name");
    let role_name = t
        .get("role_name")
        .and_then(|v| get_string(ctx, v, &name_path, tname));
    if let Some(n) = &role_name
        && let Err(m) = rules::role_name(n)
    {
        ctx.report(&name_path, tname, m);
    }
    let role_path = match t.get("role_path") {
        None => Some("/".to_string()),
        Some(v) => {
            let p = join(path, "role_path");
            get_string(ctx, v, &p, tname).and_then(|s| match rules::role_path(&s) {
                Ok(()) => Some(s),
                Err(m) => {
                    ctx.report(&p, tname, m);
                    None
                }
            })
        }
    };
    let (accounts, discovery) = match lists {
        [true, true] => {
            ctx.report(
                &join(path, "accounts_from"),
                tname,
                "write either accounts (a fixed list) or accounts_from (discovery), not both",
            );
            (None, None)
        }
        [false, false] => {
            ctx.report(
                &join(path, "role_name"),
                tname,
                "needs the accounts to probe: accounts = [\"…\"] or accounts_from = { organization = true }",
            );
            (None, None)
        }
        [true, false] => (account_list(ctx, t, path, "accounts", tname, true), None),
        [false, true] => (Some(Vec::new()), discovery(ctx, t, path, tname)),
    };
    if ctx.problems.len() > before {
        *ok = false;
        return None;
    }
    Some(Fleet {
        role_name: role_name?,
        role_path: role_path?,
        accounts: accounts?,
        discovery,
        members: Vec::new(),
    })
}

/// A list of distinct account ids at `path.key`, each checked; every bad one is named.
fn account_list(
    ctx: &mut Ctx<'_>,
    t: &Map<String, Value>,
    prefix: &str,
    key: &str,
    tname: Option<&str>,
    required: bool,
) -> Option<Vec<String>> {
    let path = join(prefix, key);
    let v = t.get(key)?;
    let items = get_list(ctx, v, &path, tname)?;
    if required && items.is_empty() && matches!(&v.kind, ValueKind::Array(a) if a.is_empty()) {
        ctx.report(&path, tname, "is empty: list at least one account id");
        return None;
    }
    if items.len() > MAX_ACCOUNTS {
        ctx.report(
            &path,
            tname,
            format!(
                "lists {} accounts; at most {MAX_ACCOUNTS} per target",
                items.len()
            ),
        );
        return None;
    }
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    let mut bad = false;
    for (item_path, s) in &items {
        if let Err(m) = rules::account_id(s) {
            ctx.report(item_path, tname, format!("account {m}"));
            bad = true;
        } else if let Some(first) = seen.get(s) {
            let first = ctx.where_is(first);
            ctx.report(
                item_path,
                tname,
                format!("account {s:?} is listed twice (first at {first})"),
            );
            bad = true;
        } else {
            seen.insert(s.clone(), item_path.clone());
        }
    }
    let complete = matches!(&v.kind, ValueKind::Array(a) if a.len() == items.len());
    (!bad && complete).then(|| items.into_iter().map(|(_, s)| s).collect())
}

fn discovery(
    ctx: &mut Ctx<'_>,
    t: &Map<String, Value>,
    prefix: &str,
    tname: Option<&str>,
) -> Option<Discovery> {
    let path = join(prefix, "accounts_from");
    let table = as_table(
        ctx,
        t.get("accounts_from")?,
        &path,
        "a table like { organization = true }",
    )?;
    ctx.unknown_keys(table, &path, tname, &DISCOVERY_KEYS);
    let org_path = join(&path, "organization");
    match table.get("organization") {
        None => ctx.report(
            &org_path,
            tname,
            "missing: accounts come from the AWS Organization; write organization = true",
        ),
        Some(v) => {
            if get_bool(ctx, v, &org_path, tname) == Some(false) {
                ctx.report(
                    &org_path,
                    tname,
                    "is false; AWS Organizations is the only source of accounts (write accounts = [...] otherwise)",
                );
            }
        }
    }
    let ous = match table.get("ous") {
        None => Vec::new(),
        Some(v) => {
            let p = join(&path, "ous");
            let items = get_list(ctx, v, &p, tname).unwrap_or_default();
            for (ip, s) in &items {
                if let Err(m) = rules::parent_id(s) {
                    ctx.report(ip, tname, m);
                }
            }
            items.into_iter().map(|(_, s)| s).collect()
        }
    };
    let exclude = account_list(ctx, table, &path, "exclude", tname, false).unwrap_or_default();
    let refresh = match table.get("refresh") {
        None => DEFAULT_REFRESH,
        Some(v) => {
            let p = join(&path, "refresh");
            let d = get_positive_duration(ctx, v, &p, tname).unwrap_or(DEFAULT_REFRESH);
            if d < MIN_REFRESH {
                ctx.report(
                    &p,
                    tname,
                    format!(
                        "{} is below the minimum of 10s",
                        humantime::format_duration(d)
                    ),
                );
            }
            d
        }
    };
    let role_arn = table.get("role_arn").and_then(|v| {
        let p = join(&path, "role_arn");
        let s = get_string(ctx, v, &p, tname)?;
        match rules::role_arn(&s) {
            Ok(()) => Some(s),
            Err(m) => {
                ctx.report(&p, tname, m);
                None
            }
        }
    });
    Some(Discovery {
        ous,
        exclude,
        refresh,
        role_arn,
    })
}

impl Target {
    /// The (region, model) pairs probed in each of this target's accounts.
    pub fn tuples_per_account(&self) -> usize {
        self.regions.len().saturating_mul(self.models.len())
    }

    /// The `account` of this target's tuple keys: the account of a many-account target's member,
    /// "" otherwise (a target with one account needs none to tell its tuples apart).
    pub fn tuple_account(&self) -> &str {
        match self.accounts {
            TargetAccounts::Member => self.role_account().unwrap_or(""),
            _ => "",
        }
    }

    /// The many-account definition, for a target written with `role_name`.
    pub fn fleet(&self) -> Option<&Fleet> {
        match &self.accounts {
            TargetAccounts::Many(f) => Some(f),
            _ => None,
        }
    }

    /// The targets probed for this one: its members (one per account) for a many-account
    /// target, else itself.
    pub fn members(&self) -> Vec<&Target> {
        match &self.accounts {
            TargetAccounts::Many(f) => f.members.iter().collect(),
            _ => vec![self],
        }
    }

    /// The member of a many-account target that probes `account` (itself otherwise, or when no
    /// member has that account).
    pub fn member_for(&self, account: &str) -> &Target {
        match &self.accounts {
            TargetAccounts::Many(f) if !account.is_empty() => f
                .members
                .iter()
                .find(|m| m.role_account() == Some(account))
                .unwrap_or(self),
            _ => self,
        }
    }
}

impl Config {
    /// The targets whose accounts come from AWS Organizations (`accounts_from`).
    pub fn discovering(&self) -> impl Iterator<Item = (&Target, &Discovery)> {
        self.targets
            .iter()
            .filter_map(|t| Some((t, t.fleet()?.discovery.as_ref()?)))
    }

    /// This configuration with the accounts of each discovering target replaced by
    /// `accounts(target name)` (targets it answers `None` for keep theirs).
    ///
    /// Discovered accounts obey the same bound as written ones: the tuples of the whole
    /// configuration stay within [`MAX_TUPLES`]; a discovered list that would pass it is cut
    /// (its first accounts kept, in configuration order of the targets) and a warning logged.
    pub fn with_discovered(&self, accounts: impl Fn(&str) -> Option<Vec<String>>) -> Config {
        let mut out = self.clone();
        let discovers = |t: &Target| t.fleet().is_some_and(|f| f.discovery.is_some());
        let answers: Vec<Option<Vec<String>>> = out
            .targets
            .iter()
            .map(|t| discovers(t).then(|| accounts(&t.name)).flatten())
            .collect();
        // Targets whose accounts do not change here use their share first.
        let mut left = out
            .targets
            .iter()
            .zip(&answers)
            .filter(|(_, a)| a.is_none())
            .fold(MAX_TUPLES, |left, (t, _)| {
                left.saturating_sub(t.tuples_per_account().saturating_mul(t.members().len()))
            });
        for (t, list) in out.targets.iter_mut().zip(answers) {
            let Some(mut list) = list else { continue };
            let per = t.tuples_per_account().max(1);
            if list.len().saturating_mul(per) > left {
                tracing::warn!(target = %t.name, found = list.len(), kept = left / per, limit = MAX_TUPLES, "discovered accounts would pass the configuration's tuple bound; keeping the first");
                list.truncate(left / per);
            }
            left -= list.len() * per;
            *t = with_accounts(t, list);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_role_arn_carries_the_path_and_the_account() {
        let f = Fleet {
            role_name: "prober".into(),
            role_path: "/platform/".into(),
            accounts: vec![],
            discovery: None,
            members: vec![],
        };
        assert_eq!(
            f.role_arn("222222222222"),
            "arn:aws:iam::222222222222:role/platform/prober"
        );
        assert_eq!(rules::role_arn(&f.role_arn("222222222222")), Ok(()));
    }
}
