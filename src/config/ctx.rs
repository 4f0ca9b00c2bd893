//! The problem collector of the validation walk: every problem located at its line in the file,
//! or attributed to the environment variable that set the offending value.

use std::path::Path;

use config::{Map, Value};

use super::env::Applied;
use super::locate::{Locator, join, parent};
use super::{Problem, rules};

/// Collects problems, each located in the file (or attributed to the environment variable that
/// set the offending value).
pub struct Ctx<'a> {
    file: &'a Path,
    loc: &'a Locator,
    env: &'a Applied,
    pub problems: Vec<Problem>,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Path, loc: &'a Locator, env: &'a Applied) -> Self {
        Ctx {
            file,
            loc,
            env,
            problems: Vec::new(),
        }
    }

    fn env_origin(&self, path: &str) -> Option<&str> {
        let mut p = path;
        loop {
            if let Some(var) = self.env.origin(p) {
                return Some(var);
            }
            p = parent(p)?;
        }
    }

    /// The directory of the configuration file (relative paths in it are read from there).
    pub fn config_dir(&self) -> &Path {
        self.file.parent().unwrap_or(Path::new("."))
    }

    pub fn report(&mut self, path: &str, target: Option<&str>, message: impl Into<String>) {
        let mut message = message.into();
        let line = match self.env_origin(path) {
            Some(var) => {
                message.push_str(&format!(" (set by environment variable {var})"));
                None
            }
            None => self.loc.line(path),
        };
        self.problems.push(Problem {
            file: self.file.to_path_buf(),
            line,
            target: target.map(str::to_string),
            field: path.to_string(),
            message,
        });
    }

    /// "line N" of a located path, for cross references in messages.
    pub fn where_is(&self, path: &str) -> String {
        match self.loc.exact(path) {
            Some(l) if self.env_origin(path).is_none() => format!("{path}, line {l}"),
            _ => path.to_string(),
        }
    }

    pub fn unknown_keys(
        &mut self,
        map: &Map<String, Value>,
        path: &str,
        target: Option<&str>,
        known: &[&str],
    ) {
        let mut keys: Vec<&String> = map
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .collect();
        keys.sort();
        for key in keys {
            let hint = match rules::suggestion(key, known) {
                Some(s) => format!("; did you mean {s:?}?"),
                None => format!("; known keys here: {}", known.join(", ")),
            };
            self.report(
                &join(path, key),
                target,
                format!("unknown key {key:?}{hint}"),
            );
        }
    }
}
