//! The web configuration file as a YAML tree whose every node knows its line, read with
//! `yaml-rust2`'s event parser, so that a mistake is reported with the file, the line and the
//! field. Only what the exporter-toolkit format uses: block or flow mappings, sequences and
//! scalars; anchors and aliases are refused.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One node of the document.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// 1-based line where the node starts.
    pub line: usize,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// A scalar as written; `plain` is false for quoted and block scalars (`"true"` is text).
    Scalar {
        text: String,
        plain: bool,
    },
    /// Keys in file order, each with the line of the key.
    Map(Vec<Entry>),
    Seq(Vec<Node>),
}

/// A key of a mapping, the line it is on, and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub line: usize,
    pub value: Node,
}

impl Node {
    /// A plain `~`, `null`, `Null`, `NULL` or empty scalar.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }
}

/// A syntax problem: line and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// Parses one YAML document; `None` for an empty one (only comments or nothing).
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| SyntaxError {
        line: e.marker().line(),
        message: format!("YAML syntax error: {}", e.info()),
    })?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(builder.root)
}

enum Frame {
    Map {
        line: usize,
        entries: Vec<Entry>,
        key: Option<(String, usize)>,
    },
    Seq {
        line: usize,
        items: Vec<Node>,
    },
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    root: Option<Node>,
    error: Option<SyntaxError>,
}

impl Builder {
    fn fail(&mut self, line: usize, message: &str) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                line,
                message: message.to_string(),
            });
        }
    }

    fn add(&mut self, node: Node) {
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                Some((k, line)) => {
                    if entries.iter().any(|e| e.key == k) {
                        let message = format!("key {k:?} appears twice");
                        self.fail(line, &message);
                    } else {
                        entries.push(Entry {
                            key: k,
                            line,
                            value: node,
                        });
                    }
                }
                None => match node.kind {
                    Kind::Scalar { text, .. } => *key = Some((text, node.line)),
                    _ => self.fail(node.line, "a mapping key must be a plain string"),
                },
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let line = mark.line();
        match ev {
            Event::MappingStart(anchor, _) | Event::SequenceStart(anchor, _) if anchor > 0 => {
                self.fail(line, "anchors and aliases are not supported here");
            }
            Event::MappingStart(..) => self.stack.push(Frame::Map {
                line,
                entries: Vec::new(),
                key: None,
            }),
            Event::SequenceStart(..) => self.stack.push(Frame::Seq {
                line,
                items: Vec::new(),
            }),
            Event::MappingEnd | Event::SequenceEnd => {
                let node = match self.stack.pop() {
                    Some(Frame::Map { line, entries, .. }) => Node {
                        line,
                        kind: Kind::Map(entries),
                    },
                    Some(Frame::Seq { line, items }) => Node {
                        line,
                        kind: Kind::Seq(items),
                    },
                    None => return,
                };
                self.add(node);
            }
            Event::Scalar(text, style, anchor, _) => {
                if anchor > 0 {
                    self.fail(line, "anchors and aliases are not supported here");
                }
                self.add(Node {
                    line,
                    kind: Kind::Scalar {
                        text,
                        plain: style == TScalarStyle::Plain,
                    },
                });
            }
            Event::Alias(_) => self.fail(line, "anchors and aliases are not supported here"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(n: &Node) -> &[Entry] {
        match &n.kind {
            Kind::Map(e) => e,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn keys_and_values_carry_their_lines() {
        let doc = "# web config\ntls_server_config:\n  cert_file: a.pem\n  key_file: \"b.pem\"\nbasic_auth_users:\n  alice: x\n";
        let root = parse(doc).ok().flatten();
        let Some(root) = root else {
            panic!("no document")
        };
        let top = map(&root);
        assert_eq!(top[0].key, "tls_server_config");
        assert_eq!(top[0].line, 2);
        let tls = map(&top[0].value);
        assert_eq!((tls[1].key.as_str(), tls[1].line), ("key_file", 4));
        assert_eq!(
            tls[1].value.kind,
            Kind::Scalar {
                text: "b.pem".into(),
                plain: false
            }
        );
        assert_eq!(top[1].line, 5);
    }

    #[test]
    fn an_empty_document_is_none_and_garbage_is_a_syntax_error_with_a_line() {
        assert_eq!(parse("# nothing\n"), Ok(None));
        assert_eq!(parse(""), Ok(None));
        let e = parse("a: b\n  c: [d\n");
        assert!(
            matches!(e, Err(SyntaxError { line, .. }) if line >= 1),
            "{e:?}"
        );
    }

    #[test]
    fn duplicate_keys_and_aliases_are_refused() {
        let e = parse("a: 1\nb: 2\na: 3\n");
        assert_eq!(
            e.err().map(|e| (e.line, e.message)),
            Some((3, "key \"a\" appears twice".into()))
        );
        assert!(parse("a: &x 1\nb: *x\n").is_err());
    }
}
