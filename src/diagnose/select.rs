//! Which tuples `diagnose` probes: `--target`, `--region` and `--model` over the configuration,
//! with an error naming whatever the configuration does not have.

use crate::config::{Config, Target, TupleKey};

/// One selected tuple, with its target and the configuration it comes from (the fixes name
/// the configured source account, as the status page and the debug trace do).
#[derive(Debug, Clone)]
pub struct Selected<'c> {
    pub key: TupleKey,
    pub target: &'c Target,
    pub config: &'c Config,
}

/// Which tuples to diagnose (`--target`, `--region`, `--model`).
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub target: Option<String>,
    /// One account of a many-account target (`--account`).
    pub account: Option<String>,
    pub region: Option<String>,
    pub model: Option<String>,
}

/// A selection naming something the configuration does not have.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SelectionError {
    #[error("unknown target {0:?} (configured: {1})")]
    UnknownTarget(String, String),
    #[error("no selected target probes account {0:?}")]
    UnknownAccount(String),
    #[error("no selected target probes region {0:?}")]
    UnknownRegion(String),
    #[error("no selected target probes model {0:?}")]
    UnknownModel(String),
    #[error("the selection matches no tuple")]
    Empty,
}

/// The tuples of `config` that `sel` selects, in configuration order.
pub fn select<'c>(
    config: &'c Config,
    sel: &Selection,
) -> Result<Vec<Selected<'c>>, SelectionError> {
    if let Some(t) = &sel.target
        && config.target(t).is_none()
    {
        let names: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
        return Err(SelectionError::UnknownTarget(t.clone(), names.join(", ")));
    }
    let by_target: Vec<(TupleKey, &Target)> = config
        .tuples()
        .into_iter()
        .filter(|(k, _)| sel.target.as_ref().is_none_or(|t| &k.target == t))
        .filter(|(_, t)| {
            sel.account
                .as_ref()
                .is_none_or(|a| t.role_account() == Some(a.as_str()))
        })
        .collect();
    if let Some(a) = &sel.account
        && by_target.is_empty()
    {
        return Err(SelectionError::UnknownAccount(a.clone()));
    }
    if let Some(r) = &sel.region
        && !by_target.iter().any(|(k, _)| &k.aws_region == r)
    {
        return Err(SelectionError::UnknownRegion(r.clone()));
    }
    if let Some(m) = &sel.model
        && !by_target.iter().any(|(k, _)| &k.model_id == m)
    {
        return Err(SelectionError::UnknownModel(m.clone()));
    }
    let out: Vec<(TupleKey, &Target)> = by_target
        .into_iter()
        .filter(|(k, _)| sel.region.as_ref().is_none_or(|r| &k.aws_region == r))
        .filter(|(k, _)| sel.model.as_ref().is_none_or(|m| &k.model_id == m))
        .collect();
    if out.is_empty() {
        return Err(SelectionError::Empty);
    }
    Ok(out
        .into_iter()
        .map(|(key, target)| Selected {
            key,
            target,
            config,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_errors_name_what_is_unknown() {
        let cfg = crate::config::load_str(
            std::path::Path::new("test.toml"),
            "[[targets]]\nname = \"a\"\nregions = [\"us-east-1\"]\nmodels = [\"m1\", \"m2\"]\n",
            crate::config::Format::Toml,
            Vec::<(String, String)>::new(),
        );
        let Ok(cfg) = cfg else {
            panic!("config does not load: {cfg:?}");
        };
        let sel = |t: Option<&str>, r: Option<&str>, m: Option<&str>| Selection {
            target: t.map(str::to_string),
            account: None,
            region: r.map(str::to_string),
            model: m.map(str::to_string),
        };
        assert_eq!(select(&cfg, &sel(None, None, None)).map(|v| v.len()), Ok(2));
        assert_eq!(
            select(&cfg, &sel(None, None, Some("m2"))).map(|v| v.len()),
            Ok(1)
        );
        assert!(matches!(
            select(&cfg, &sel(Some("b"), None, None)),
            Err(SelectionError::UnknownTarget(..))
        ));
        assert!(matches!(
            select(&cfg, &sel(None, Some("eu-west-1"), None)),
            Err(SelectionError::UnknownRegion(_))
        ));
        assert!(matches!(
            select(&cfg, &sel(None, None, Some("m3"))),
            Err(SelectionError::UnknownModel(_))
        ));
    }
}
