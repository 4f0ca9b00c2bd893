//! `docs/reasons.md` tells operators the reasons exactly as the exporter prints them. The table
//! between its `BEGIN GENERATED reasons` and `END GENERATED reasons` markers is rendered here
//! from the library's public API (`Reason::ALL`, `class()`, `fix()`); when somebody changes a
//! reason, its class or its fix in `src/reason.rs` and forgets the docs, this test fails with a
//! line diff. `UPDATE_DOCS=1 cargo test --test docs_reasons` rewrites the section instead.
//!
//! The AWS-signal table beside it is hand-written prose (checked by hand against
//! `reason::classify`); this test only makes sure every reason of the code has a row there.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use bedrock_access_exporter::reason::Reason;

const DOC: &str = "docs/reasons.md";
const BEGIN: &str = "<!-- BEGIN GENERATED reasons";
const END: &str = "<!-- END GENERATED reasons -->";
const SIGNALS_HEADING: &str = "## The AWS signal of each reason";
const NOT_YET: &str = "(not yet implemented)";

fn doc_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC)
}

fn read_doc() -> String {
    std::fs::read_to_string(doc_path()).unwrap_or_else(|e| panic!("read {DOC}: {e}"))
}

/// A table cell: the text on one line, with `|` escaped so it cannot split the row.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// The reasons table as the code knows it.
fn rendered_table() -> String {
    // The layers a reason applies to are only in the hand-written AWS-signal table: `Reason`
    // does not know them.
    let mut out = String::from(
        "| reason | class | cause (the checklist step that carries the fix) | the fix the exporter prints |\n\
         | --- | --- | --- | --- |\n",
    );
    for reason in Reason::ALL {
        let cause = reason
            .cause()
            .map_or("the failed call itself", |c| c.describe());
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            reason.as_str(),
            reason.class().as_str(),
            cell(cause),
            cell(reason.fix())
        );
    }
    out
}

/// The document split around the generated section: (everything up to and including the
/// BEGIN marker line, the section, everything from the END marker line on).
fn split(doc: &str) -> Result<(&str, &str, &str), String> {
    let begin = doc
        .find(BEGIN)
        .ok_or_else(|| format!("{DOC} has no line starting with {BEGIN:?}"))?;
    let body_start = doc[begin..]
        .find('\n')
        .map(|i| begin + i + 1)
        .ok_or_else(|| format!("{DOC}: nothing follows the BEGIN marker"))?;
    let end = doc[body_start..]
        .find(END)
        .map(|i| body_start + i)
        .ok_or_else(|| format!("{DOC} has no {END:?} after the BEGIN marker"))?;
    if doc[end + END.len()..].contains(BEGIN) {
        return Err(format!("{DOC} has the generated section twice"));
    }
    Ok((&doc[..body_start], &doc[body_start..end], &doc[end..]))
}

/// The lines that differ between `found` and `wanted`, from a longest-common-subsequence
/// alignment: `-` lines are in the document (with their line number) but not in the code's
/// table, `+` lines are in the code's table but not in the document.
fn line_diff(found: &str, wanted: &str, first_line: usize) -> String {
    let a: Vec<&str> = found.lines().collect();
    let b: Vec<&str> = wanted.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] > lcs[i + 1][j]) {
            let _ = writeln!(out, "+ {:>14} {}", "src/reason.rs:", b[j]);
            j += 1;
        } else {
            let _ = writeln!(out, "- {DOC}:{:<4} {}", first_line + i, a[i]);
            i += 1;
        }
    }
    out
}

/// Ok when the generated section of `doc` is the code's table; else what differs and how to
/// fix it.
fn check(doc: &str) -> Result<(), String> {
    let (head, body, _) = split(doc)?;
    let wanted = rendered_table();
    if body == wanted {
        return Ok(());
    }
    let first_line = head.lines().count() + 1;
    Err(format!(
        "the reasons table in {DOC} is not the one src/reason.rs renders (a reason, class or fix \
         changed on one side only).\nRegenerate it with: UPDATE_DOCS=1 cargo test --test \
         docs_reasons\n\n{}",
        line_diff(body, &wanted, first_line)
    ))
}

/// `doc` with its generated section replaced by the code's table.
fn updated(doc: &str) -> Result<String, String> {
    let (head, _, tail) = split(doc)?;
    Ok(format!("{head}{}{tail}", rendered_table()))
}

#[test]
fn the_reasons_table_in_the_docs_is_the_one_the_exporter_prints() {
    let doc = read_doc();
    if std::env::var_os("UPDATE_DOCS").is_some_and(|v| v == "1") {
        let new = updated(&doc).unwrap_or_else(|e| panic!("{e}"));
        if new != doc {
            // Write beside it and rename, so that a concurrent reader never sees half a file.
            let path = doc_path();
            let tmp = path.with_extension("md.tmp");
            std::fs::write(&tmp, &new).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
            std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("rename to {DOC}: {e}"));
            eprintln!("docs_reasons: rewrote the generated reasons table in {DOC}");
        }
        return;
    }
    if let Err(e) = check(&doc) {
        panic!("{e}");
    }
}

/// The reason names of the hand-written AWS-signal table, with the text of their row.
fn signal_rows(doc: &str) -> Vec<(String, String)> {
    let start = doc
        .find(SIGNALS_HEADING)
        .unwrap_or_else(|| panic!("{DOC} has no section {SIGNALS_HEADING:?}"));
    let section = &doc[start + SIGNALS_HEADING.len()..];
    let section = section.split("\n## ").next().unwrap_or(section);
    section
        .lines()
        .filter(|l| l.starts_with("| "))
        .filter_map(|l| {
            let name = l.split('|').nth(2)?.trim();
            let name = name.strip_prefix('`')?.strip_suffix('`')?;
            Some((name.to_string(), l.to_string()))
        })
        .collect()
}

#[test]
fn every_reason_the_exporter_knows_has_its_aws_signal_written_down() {
    let doc = read_doc();
    let rows = signal_rows(&doc);
    for reason in Reason::ALL {
        let n = rows
            .iter()
            .filter(|(name, _)| name == reason.as_str())
            .count();
        assert_eq!(
            n, 1,
            "{DOC}: the AWS-signal table must have exactly one row for `{reason}` (found {n}); \
             write down which codes and message fragments reason::classify maps to it"
        );
    }
    // A row for a reason the code does not have yet documents the contract ahead of the code,
    // and must say so.
    for (name, row) in &rows {
        if !Reason::ALL.iter().any(|r| r.as_str() == name) {
            assert!(
                row.contains(NOT_YET),
                "{DOC}: `{name}` is not a reason of src/reason.rs, so its row must say {NOT_YET:?}"
            );
        }
    }
}

#[test]
fn a_reasons_table_edited_by_hand_is_caught_and_named() {
    // Start from the committed document with the code's table in place, so this story holds
    // whatever state the file is in.
    let good = updated(&read_doc()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(check(&good), Ok(()));

    let reason = Reason::ModelAccessNotGranted;
    let fix = cell(reason.fix());
    let edited = good.replacen(&fix, "ask someone to click the old Model access page", 1);
    assert_ne!(
        edited, good,
        "the fix of {reason} is not in the rendered table"
    );
    let err = check(&edited).expect_err("an edited fix must be caught");
    assert!(err.contains("UPDATE_DOCS=1"), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("- docs/reasons.md:") && l.contains("old Model access page")),
        "{err}"
    );
    assert!(
        err.lines().any(|l| l.starts_with("+ ") && l.contains(&fix)),
        "{err}"
    );

    let class_changed = good.replacen("| `throttled` | transient |", "| `throttled` | access |", 1);
    assert_ne!(class_changed, good);
    assert!(
        check(&class_changed).is_err(),
        "a changed class must be caught"
    );

    // Only the generated table has rows that start with the reason's name.
    let row = format!("| `{}` |", Reason::Unknown.as_str());
    let dropped: String = good
        .lines()
        .filter(|l| !l.starts_with(&row))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(dropped, good);
    let err = check(&dropped).expect_err("a missing row must be caught");
    assert!(err.contains("+ ") && err.contains("`unknown`"), "{err}");

    let unmarked = good.replace(END, "");
    assert!(
        check(&unmarked).is_err_and(|e| e.contains("END GENERATED")),
        "a document without its END marker must be refused"
    );
}
