//! Reading a mapping of the web configuration file the way the exporter toolkit's strict YAML
//! decoding does — an unknown key is an error — with every value's line and rendered field
//! (`tls_server_config.client_auth_type`), so a problem can say where it is.

use std::path::{Path, PathBuf};

use super::yaml::{Entry, Kind, Node};

/// A problem with the web configuration: where, which field, what.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct WebConfigError {
    pub path: PathBuf,
    pub line: Option<usize>,
    /// Rendered field, e.g. `tls_server_config.client_auth_type`; included in `message`.
    pub field: String,
    pub message: String,
}

/// A problem found while reading the model, before the file path is known to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(line: Option<usize>, field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            line,
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn in_file(self, path: &Path) -> WebConfigError {
        WebConfigError {
            path: path.to_path_buf(),
            line: self.line,
            message: if self.field.is_empty() {
                self.message
            } else {
                format!("{}: {}", self.field, self.message)
            },
            field: self.field,
        }
    }
}

/// A mapping being read: its entries, its rendered path and line.
pub struct Fields<'a> {
    pub path: String,
    pub line: usize,
    pub entries: &'a [Entry],
}

impl<'a> Fields<'a> {
    pub fn of(node: &'a Node, path: &str) -> Result<Fields<'a>, Problem> {
        match &node.kind {
            Kind::Map(entries) => Ok(Fields {
                path: path.to_string(),
                line: node.line,
                entries,
            }),
            _ if node.is_null() => Ok(Fields {
                path: path.to_string(),
                line: node.line,
                entries: &[],
            }),
            _ => Err(Problem::new(
                Some(node.line),
                path,
                "expected a mapping of keys to values",
            )),
        }
    }

    pub fn field(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    pub fn get(&self, key: &str) -> Option<&'a Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.get(key).map(|e| e.line)
    }

    pub fn missing(&self, key: &str, message: &str) -> Problem {
        Problem::new(Some(self.line), self.field(key), message)
    }

    /// Refuses keys outside `known`, as the toolkit's strict YAML reading does.
    pub fn only(&self, known: &[&str]) -> Result<(), Problem> {
        match self
            .entries
            .iter()
            .find(|e| !known.contains(&e.key.as_str()))
        {
            Some(e) => Err(Problem::new(
                Some(e.line),
                self.field(&e.key),
                format!("unknown field; expected one of {}", known.join(", ")),
            )),
            None => Ok(()),
        }
    }

    /// The mapping under `key`; its line is the key's.
    pub fn child(&self, key: &str) -> Result<Option<Fields<'a>>, Problem> {
        self.get(key)
            .map(|e| Fields::of(&e.value, &self.field(key)).map(|f| Fields { line: e.line, ..f }))
            .transpose()
    }

    /// A scalar value and its line; `None` when absent or null.
    pub fn string(&self, key: &str) -> Result<Option<(String, usize)>, Problem> {
        let Some(e) = self.get(key) else {
            return Ok(None);
        };
        Ok(scalar(&e.value, &self.field(key))?.map(|s| (s, e.line)))
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, Problem> {
        match self.string(key)? {
            None => Ok(None),
            Some((s, line)) => match s.as_str() {
                "true" | "True" | "TRUE" => Ok(Some(true)),
                "false" | "False" | "FALSE" => Ok(Some(false)),
                _ => Err(Problem::new(
                    Some(line),
                    self.field(key),
                    format!("expected true or false, got {s:?}"),
                )),
            },
        }
    }

    /// A sequence of scalars (absent or null: empty).
    pub fn strings(&self, key: &str) -> Result<Vec<String>, Problem> {
        let Some(e) = self.get(key) else {
            return Ok(Vec::new());
        };
        let field = self.field(key);
        match &e.value.kind {
            Kind::Seq(items) => items
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    scalar(n, &format!("{field}[{i}]"))?.ok_or_else(|| {
                        Problem::new(Some(n.line), format!("{field}[{i}]"), "empty entry")
                    })
                })
                .collect(),
            _ if e.value.is_null() => Ok(Vec::new()),
            _ => Err(Problem::new(Some(e.line), field, "expected a list")),
        }
    }

    /// Each entry of a list mapped by `f`; the problem names the entry.
    pub fn each<T>(
        &self,
        key: &str,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, Problem> {
        let items = self.strings(key)?;
        let lines: Vec<usize> = match self.get(key).map(|e| &e.value.kind) {
            Some(Kind::Seq(nodes)) => nodes.iter().map(|n| n.line).collect(),
            _ => Vec::new(),
        };
        items
            .iter()
            .enumerate()
            .map(|(i, s)| {
                f(s).map_err(|m| {
                    Problem::new(
                        lines.get(i).copied(),
                        format!("{}[{i}]", self.field(key)),
                        m,
                    )
                })
            })
            .collect()
    }
}

/// A scalar's text; `None` for null.
pub fn scalar(node: &Node, field: &str) -> Result<Option<String>, Problem> {
    if node.is_null() {
        return Ok(None);
    }
    match &node.kind {
        Kind::Scalar { text, .. } => Ok(Some(text.clone())),
        _ => Err(Problem::new(
            Some(node.line),
            field,
            "expected a single value",
        )),
    }
}
