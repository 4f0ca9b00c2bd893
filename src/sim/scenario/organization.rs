//! The `[organization]` section: one AWS Organization with its root, organizational units
//! (`[[organization.units]]`) and member accounts (`[[organization.accounts]]`, each under the
//! root or an OU, with its state), which AWS Organizations' List operations answer from.
//!
//! ```toml
//! [organization]
//! id = "o-a1b2c3d4e5"
//! root = "r-a1b2"
//! management_account = "111111111111"
//! delegated_administrators = ["999999999999"]   # may list too
//! [[organization.units]]
//! id = "ou-a1b2-11111111"
//! name = "Workloads"
//! parent = "r-a1b2"
//! [[organization.accounts]]
//! id = "222222222222"
//! name = "prod"
//! parent = "ou-a1b2-11111111"                    # default: the root
//! state = "ACTIVE"                               # ACTIVE | SUSPENDED | PENDING_CLOSURE | CLOSED
//! ```

use std::collections::HashMap;

use serde::Deserialize;

use super::check::is_account_id;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OrganizationDef {
    id: String,
    root: String,
    management_account: String,
    #[serde(default)]
    delegated_administrators: Vec<String>,
    #[serde(default)]
    units: Vec<UnitDef>,
    #[serde(default)]
    accounts: Vec<MemberDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnitDef {
    id: String,
    name: String,
    parent: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MemberDef {
    id: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default = "active")]
    state: String,
}

fn active() -> String {
    "ACTIVE".to_owned()
}

const STATES: [&str; 4] = ["ACTIVE", "SUSPENDED", "PENDING_CLOSURE", "CLOSED"];

/// An organizational unit.
#[derive(Debug, Clone)]
pub struct Unit {
    pub id: String,
    pub name: String,
    pub parent: String,
}

/// A member account.
#[derive(Debug, Clone)]
pub struct Member {
    pub id: String,
    pub name: String,
    pub parent: String,
    pub state: String,
}

/// The organization.
#[derive(Debug)]
pub struct Organization {
    pub id: String,
    pub root: String,
    pub management_account: String,
    pub delegated_administrators: Vec<String>,
    pub units: Vec<Unit>,
    /// Members in file order (the management account is one too).
    pub accounts: Vec<Member>,
    index: HashMap<String, usize>,
}

impl Organization {
    /// Whether `account` belongs to the organization.
    pub fn has_account(&self, account: &str) -> bool {
        self.index.contains_key(account)
    }

    /// Whether `account` may call the List operations.
    pub fn may_list(&self, account: &str) -> bool {
        account == self.management_account
            || self.delegated_administrators.iter().any(|a| a == account)
    }

    /// Whether `id` is the root or an OU.
    pub fn has_parent(&self, id: &str) -> bool {
        id == self.root || self.units.iter().any(|u| u.id == id)
    }

    pub fn account_arn(&self, id: &str) -> String {
        format!(
            "arn:aws:organizations::{}:account/{}/{id}",
            self.management_account, self.id
        )
    }

    pub fn unit_arn(&self, id: &str) -> String {
        format!(
            "arn:aws:organizations::{}:ou/{}/{id}",
            self.management_account, self.id
        )
    }
}

/// Checks and compiles `[organization]`.
pub(super) fn compile(
    def: Option<&OrganizationDef>,
    problems: &mut Vec<String>,
) -> Option<Organization> {
    let def = def?;
    if !def.id.starts_with("o-") {
        problems.push(format!(
            "organization.id: `{}` is not an organization id (o-…)",
            def.id
        ));
    }
    if !def.root.starts_with("r-") {
        problems.push(format!(
            "organization.root: `{}` is not a root id (r-…)",
            def.root
        ));
    }
    for (field, a) in std::iter::once((
        "organization.management_account".to_string(),
        &def.management_account,
    ))
    .chain(
        def.delegated_administrators
            .iter()
            .enumerate()
            .map(|(i, a)| (format!("organization.delegated_administrators[{i}]"), a)),
    ) {
        if !is_account_id(a) {
            problems.push(format!("{field}: `{a}` is not a 12-digit account id"));
        }
    }
    let mut parents: Vec<&str> = vec![def.root.as_str()];
    for (i, u) in def.units.iter().enumerate() {
        if !u.id.starts_with("ou-") {
            problems.push(format!(
                "organization.units[{i}].id: `{}` is not an OU id (ou-…)",
                u.id
            ));
        }
        parents.push(&u.id);
    }
    for (i, u) in def.units.iter().enumerate() {
        if !parents.contains(&u.parent.as_str()) || u.parent == u.id {
            problems.push(format!(
                "organization.units[{i}].parent: `{}` is not the root or another OU",
                u.parent
            ));
        }
    }
    let mut accounts = Vec::new();
    let mut index = HashMap::new();
    for (i, m) in def.accounts.iter().enumerate() {
        if !is_account_id(&m.id) {
            problems.push(format!(
                "organization.accounts[{i}].id: `{}` is not a 12-digit account id",
                m.id
            ));
        }
        let parent = m.parent.clone().unwrap_or_else(|| def.root.clone());
        if !parents.contains(&parent.as_str()) {
            problems.push(format!(
                "organization.accounts[{i}].parent: `{parent}` is not the root or an OU"
            ));
        }
        if !STATES.contains(&m.state.as_str()) {
            problems.push(format!(
                "organization.accounts[{i}].state: `{}` is not one of {}",
                m.state,
                STATES.join(", ")
            ));
        }
        if index.insert(m.id.clone(), accounts.len()).is_some() {
            problems.push(format!(
                "organization.accounts[{i}].id: account `{}` is listed twice",
                m.id
            ));
        }
        accounts.push(Member {
            id: m.id.clone(),
            name: m
                .name
                .clone()
                .unwrap_or_else(|| format!("account-{}", m.id)),
            parent,
            state: m.state.clone(),
        });
    }
    if !index.contains_key(&def.management_account) {
        index.insert(def.management_account.clone(), accounts.len());
        accounts.push(Member {
            id: def.management_account.clone(),
            name: "management".to_owned(),
            parent: def.root.clone(),
            state: "ACTIVE".to_owned(),
        });
    }
    Some(Organization {
        id: def.id.clone(),
        root: def.root.clone(),
        management_account: def.management_account.clone(),
        delegated_administrators: def.delegated_administrators.clone(),
        units: def
            .units
            .iter()
            .map(|u| Unit {
                id: u.id.clone(),
                name: u.name.clone(),
                parent: u.parent.clone(),
            })
            .collect(),
        accounts,
        index,
    })
}
