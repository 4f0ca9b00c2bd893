//! The structure of a YAML file, checked on its event stream before any parser builds a tree:
//! nesting depth, and the number of nodes once every alias is expanded. A few hundred bytes of
//! anchors and aliases ("billion laughs") or thousands of nested maps would otherwise make the
//! tree builder (and the `config` crate after it) allocate gigabytes; here they are rejected in
//! bounded memory and time, at the line where the limit is crossed.
//!
//! A syntax error is left to the `config` crate, which reports it as before: everything the
//! stream held up to that point was within the limits.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};

use super::limits::{MAX_DEPTH, MAX_YAML_NODES};
use super::locate::SyntaxError;

/// A collection being read: its expanded node count so far and its anchor (0 = none).
struct Open {
    nodes: u64,
    anchor: usize,
}

/// Walks the event stream of `text`; `Err` when it nests deeper than [`MAX_DEPTH`] or expands
/// to more than [`MAX_YAML_NODES`] nodes.
pub fn check_yaml(text: &str) -> Result<(), SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut open: Vec<Open> = Vec::new();
    // Expanded size of every anchored node, by anchor id.
    let mut anchored: HashMap<usize, u64> = HashMap::new();
    let mut total: u64 = 0;
    loop {
        let Ok((event, mark)) = parser.next_token() else {
            return Ok(());
        };
        let line = mark.line();
        let (nodes, anchor) = match event {
            Event::StreamEnd => return Ok(()),
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() >= MAX_DEPTH {
                    return Err(too_deep(line));
                }
                open.push(Open { nodes: 1, anchor });
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match open.pop() {
                Some(o) => (o.nodes, o.anchor),
                None => continue,
            },
            Event::Scalar(_, _, anchor, _) => (1, anchor),
            // An alias of an unknown anchor is the `config` crate's error to report.
            Event::Alias(id) => (anchored.get(&id).copied().unwrap_or(1), 0),
            _ => continue,
        };
        if anchor != 0 {
            anchored.insert(anchor, nodes);
        }
        let sum = match open.last_mut() {
            Some(parent) => {
                parent.nodes = parent.nodes.saturating_add(nodes);
                parent.nodes
            }
            None => {
                total = total.saturating_add(nodes);
                total
            }
        };
        if sum > MAX_YAML_NODES {
            return Err(SyntaxError {
                line: Some(line),
                message: format!(
                    "the YAML expands to more than {MAX_YAML_NODES} nodes here (anchors and aliases count every time they are repeated); no configuration needs that many, so it is not read"
                ),
            });
        }
    }
}

fn too_deep(line: usize) -> SyntaxError {
    SyntaxError {
        line: Some(line),
        message: format!(
            "the YAML nests tables and lists more than {MAX_DEPTH} levels deep here; a configuration needs 3, so it is not read"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_normal_file_with_anchors_passes() {
        let text = "defaults: &d\n  interval: 5m\ntargets:\n  - name: a\n    regions: [us-east-1]\n    <<: *d\n";
        assert_eq!(check_yaml(text), Ok(()));
    }

    #[test]
    fn nine_levels_of_tenfold_aliases_are_refused_where_they_cross_the_limit() {
        let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        let names = "abcdefghij".as_bytes();
        for i in 1..10 {
            let (p, n) = (names[i - 1] as char, names[i] as char);
            let refs = vec![format!("*{p}"); 10].join(", ");
            text.push_str(&format!("{n}: &{n} [{refs}]\n"));
        }
        let e = check_yaml(&text).expect_err("a billion laughs");
        // 10^5 nodes at line 5 (e), 10^6 at line 6 (f).
        assert_eq!(e.line, Some(6), "{e:?}");
    }

    #[test]
    fn deep_nesting_is_refused_at_the_first_level_too_many() {
        let mut text = String::new();
        for i in 0..100 {
            text.push_str(&" ".repeat(i));
            text.push_str("k:\n");
        }
        let e = check_yaml(&text).expect_err("too deep");
        assert_eq!(e.line, Some(MAX_DEPTH + 1), "{e:?}");
        let flow = format!("a: {}{}\n", "[".repeat(40), "]".repeat(40));
        assert!(check_yaml(&flow).is_err());
    }

    #[test]
    fn a_syntax_error_is_left_to_the_loader() {
        assert_eq!(check_yaml("a: [1, 2\nb: {"), Ok(()));
    }
}
