//! Finding the line of a field in the raw file text, so that every problem can point at it.
//!
//! Fields are named by rendered paths such as `probe.interval`, `targets[2].role_arn` or
//! `targets[2]` (the start of the third target). TOML is located exactly from the parser's spans;
//! YAML is located by a small indentation scanner that understands block mappings and sequences
//! (flow collections spanning several lines are located at their first line, best effort).

use std::collections::HashMap;

use super::limits::MAX_DEPTH;

/// A syntax error found while reading the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: Option<usize>,
    pub message: String,
}

/// Rendered path → 1-based line.
#[derive(Debug, Default, Clone)]
pub struct Locator {
    lines: HashMap<String, usize>,
}

impl Locator {
    /// Line of `path`, falling back to its closest located parent
    /// (`targets[1].regions` → `targets[1]` → `targets`).
    pub fn line(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            p = parent(p)?;
        }
    }

    /// Line of exactly `path`, without falling back.
    pub fn exact(&self, path: &str) -> Option<usize> {
        self.lines.get(path).copied()
    }

    fn record(&mut self, path: String, line: usize) {
        self.lines.entry(path).or_insert(line);
    }

    /// Locates every key and array element of a TOML document. Returns the syntax errors when
    /// the document does not parse.
    pub fn toml(text: &str) -> Result<Self, Vec<SyntaxError>> {
        let index = LineIndex::new(text);
        let (doc, errors) = toml::de::DeTable::parse_recoverable(text);
        // One mistake makes the recovering parser report many follow-up errors; the earliest
        // one is the one to fix.
        if let Some(first) = errors
            .iter()
            .min_by_key(|e| e.span().map_or(usize::MAX, |s| s.start))
        {
            return Err(vec![SyntaxError {
                line: first.span().map(|s| index.line(s.start)),
                message: format!("TOML syntax error: {}", first.message().trim()),
            }]);
        }
        let mut loc = Locator::default();
        // The parser bounds nesting itself (at about 80 levels); a configuration needs 3.
        walk_toml_table(&mut loc, &index, "", doc.get_ref(), 0).map_err(|line| {
            vec![SyntaxError {
                line: Some(line),
                message: format!(
                    "the TOML nests tables and arrays more than {MAX_DEPTH} levels deep here; a configuration needs 3, so it is not read"
                ),
            }]
        })?;
        Ok(loc)
    }

    /// Locates the keys and sequence items of a block-style YAML document (best effort).
    pub fn yaml(text: &str) -> Self {
        let mut loc = Locator::default();
        // (column, rendered path of this node)
        let mut stack: Vec<(usize, String, bool)> = Vec::new(); // bool: is a sequence item
        let mut item_counts: HashMap<String, usize> = HashMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let trimmed = raw.trim_start_matches(' ');
            if trimmed.is_empty()
                || trimmed.starts_with('#')
                || trimmed.starts_with("---")
                || trimmed.starts_with("...")
            {
                continue;
            }
            let mut col = raw.len() - trimmed.len();
            let mut rest = trimmed;
            // Sequence items, possibly nested on one line ("- - a").
            while rest == "-" || rest.starts_with("- ") {
                while stack
                    .last()
                    .is_some_and(|(c, _, item)| *c > col || (*c == col && *item))
                {
                    stack.pop();
                }
                let parent = stack.last().map(|(_, p, _)| p.clone()).unwrap_or_default();
                let n = item_counts.entry(parent.clone()).or_insert(0);
                let path = format!("{parent}[{n}]");
                *n += 1;
                loc.record(path.clone(), line_no);
                stack.push((col, path, true));
                let after = rest[1..].trim_start_matches(' ');
                col += rest.len() - after.len();
                rest = after;
            }
            if let Some(key) = yaml_key(rest) {
                while stack.last().is_some_and(|(c, _, _)| *c >= col) {
                    stack.pop();
                }
                let parent = stack.last().map(|(_, p, _)| p.as_str()).unwrap_or("");
                let path = join(parent, &key);
                loc.record(path.clone(), line_no);
                item_counts.remove(&path);
                stack.push((col, path, false));
            }
        }
        loc
    }
}

/// `key: value` / `key:` / `"key": value` → `key`.
fn yaml_key(s: &str) -> Option<String> {
    let (key, after) = if let Some(q) = s.strip_prefix('"').or_else(|| s.strip_prefix('\'')) {
        let quote = s.chars().next()?;
        let end = q.find(quote)?;
        (q[..end].to_string(), &q[end + 1..])
    } else {
        let end = s.find(':')?;
        (s[..end].trim_end().to_string(), &s[end..])
    };
    let after = after.trim_start_matches(' ');
    let after = after.strip_prefix(':')?;
    if !(after.is_empty() || after.starts_with(' ') || after.starts_with('\t')) {
        return None;
    }
    if key.is_empty() || key.starts_with(['{', '[', '&', '*', '!', '|', '>']) {
        return None;
    }
    Some(key)
}

/// Records the keys of `table` (nested `depth` levels deep); `Err(line)` of the first table or
/// array nested deeper than [`MAX_DEPTH`].
fn walk_toml_table(
    loc: &mut Locator,
    index: &LineIndex,
    prefix: &str,
    table: &toml::de::DeTable<'_>,
    depth: usize,
) -> Result<(), usize> {
    for (key, value) in table {
        let path = join(prefix, key.get_ref());
        loc.record(path.clone(), index.line(key.span().start));
        walk_toml_value(loc, index, &path, value, depth + 1)?;
    }
    Ok(())
}

fn walk_toml_value(
    loc: &mut Locator,
    index: &LineIndex,
    path: &str,
    value: &toml::Spanned<toml::de::DeValue<'_>>,
    depth: usize,
) -> Result<(), usize> {
    let nested = matches!(
        value.get_ref(),
        toml::de::DeValue::Table(_) | toml::de::DeValue::Array(_)
    );
    if nested && depth > MAX_DEPTH {
        return Err(index.line(value.span().start));
    }
    match value.get_ref() {
        toml::de::DeValue::Table(t) => walk_toml_table(loc, index, path, t, depth)?,
        toml::de::DeValue::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let item_path = format!("{path}[{i}]");
                loc.record(item_path.clone(), index.line(item.span().start));
                walk_toml_value(loc, index, &item_path, item, depth + 1)?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// `a` + `b` → `a.b`; `""` + `b` → `b`.
pub fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → None.
pub fn parent(path: &str) -> Option<&str> {
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

/// Byte offset → 1-based line.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> Self {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    pub fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_keys_inside_the_second_target_block_are_found_on_their_own_line() {
        let text = "[probe]\ninterval = \"5m\"\n\n[[targets]]\nname = \"a\"\nregions = [\"us-east-1\"]\n\n[[targets]]\nname = \"b\"\nrole_arn = \"x\"\n";
        let loc = Locator::toml(text).expect("valid toml");
        assert_eq!(loc.exact("probe.interval"), Some(2));
        assert_eq!(loc.exact("targets[0].name"), Some(5));
        assert_eq!(loc.exact("targets[1].name"), Some(9));
        assert_eq!(loc.exact("targets[1].role_arn"), Some(10));
        assert_eq!(loc.exact("targets[0].regions[0]"), Some(6));
        assert_eq!(loc.line("targets[1].models"), loc.exact("targets[1]"));
    }

    #[test]
    fn a_toml_syntax_error_names_its_line() {
        let errs = Locator::toml("[probe]\ninterval = \"5m\nx = 1\n").expect_err("broken");
        assert_eq!(errs[0].line, Some(2));
    }

    #[test]
    fn yaml_keys_inside_sequence_items_are_found() {
        let text = "probe:\n  interval: 5m\ntargets:\n  - name: a\n    regions: [us-east-1]\n  - name: b\n    role_arn: x\n    models:\n      - m1\n      - m2\nsources:\n- name: s\n  profile: p\n";
        let loc = Locator::yaml(text);
        assert_eq!(loc.exact("probe.interval"), Some(2));
        assert_eq!(loc.exact("targets[0].name"), Some(4));
        assert_eq!(loc.exact("targets[1].name"), Some(6));
        assert_eq!(loc.exact("targets[1].role_arn"), Some(7));
        assert_eq!(loc.exact("targets[1].models[1]"), Some(10));
        assert_eq!(loc.exact("sources[0].profile"), Some(13));
    }

    #[test]
    fn toml_nested_deeper_than_the_limit_is_refused_with_its_line() {
        let deep = format!(
            "a = {}{}\n",
            "[".repeat(MAX_DEPTH + 2),
            "]".repeat(MAX_DEPTH + 2)
        );
        let errs = Locator::toml(&format!("[probe]\n{deep}")).expect_err("too deep");
        assert_eq!(errs[0].line, Some(2), "{errs:?}");
        let ok = format!(
            "a = {}{}\n",
            "[".repeat(MAX_DEPTH - 1),
            "]".repeat(MAX_DEPTH - 1)
        );
        assert!(Locator::toml(&ok).is_ok());
    }

    #[test]
    fn paths_have_parents() {
        assert_eq!(parent("targets[2].role_arn"), Some("targets[2]"));
        assert_eq!(parent("targets[2]"), Some("targets"));
        assert_eq!(parent("targets"), None);
    }
}
