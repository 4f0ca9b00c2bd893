//! The status page `/`: the [`StatusView`] as server-side HTML with the CSS of `page.css`
//! inlined (no JavaScript), semantic `data-*` attributes for tests and tooling, and a layout
//! that turns rows into cards below 760 px.

use std::fmt::Write as _;

use super::{Row, RowState, StatusView, age_text, rfc3339};
use crate::config::Expect;
use crate::fix::one_line;
use crate::layer_view::LayerState;
use crate::reason::Layer;

/// The page's style sheet.
const CSS: &str = include_str!("page.css");

/// HTML-escapes text for element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A layer cell's mark: a symbol and the state in words (colour is never the only signal).
fn mark(state: LayerState) -> &'static str {
    match state {
        LayerState::Pass => "\u{2713} pass",
        LayerState::Fail => "\u{2717} fail",
        LayerState::NotReached => "\u{2013} not reached",
        LayerState::Off => "\u{25cb} off",
        LayerState::NotApplicable => "\u{25cb} n/a",
    }
}

/// A row's state in words.
fn label(state: RowState) -> &'static str {
    match state {
        RowState::Ok => "\u{2713} ok",
        RowState::DeniedAsExpected => "\u{2713} denied as expected",
        RowState::Failing => "\u{2717} failing",
        RowState::Pending => "\u{2026} pending first probe",
    }
}

fn th_row(h: &mut String) {
    h.push_str("<thead><tr><th scope=\"col\">state</th><th scope=\"col\">target</th><th scope=\"col\">region</th><th scope=\"col\">model</th>");
    // Layer names may break after an underscore: five layer columns fit a laptop's width.
    for l in Layer::ALL {
        let _ = write!(
            h,
            "<th scope=\"col\">{}</th>",
            l.as_str().replace('_', "_<wbr>")
        );
    }
    h.push_str("<th scope=\"col\">reason</th><th scope=\"col\">last probe</th><th scope=\"col\">fix</th><th scope=\"col\">trace</th></tr></thead>\n");
}

fn summary_html(h: &mut String, view: &StatusView) {
    let s = &view.summary;
    h.push_str("<ul class=\"summary\" data-summary>");
    let _ = write!(
        h,
        "<li data-count=\"tuples\"><b>{}</b> tuple{}</li>",
        s.tuples,
        if s.tuples == 1 { "" } else { "s" }
    );
    let _ = write!(
        h,
        "<li class=\"{}\" data-count=\"failing\">\u{2717} <b>{}</b> failing",
        if s.failing > 0 { "failing" } else { "" },
        s.failing
    );
    let by_class: Vec<String> = [
        ("access", s.failing_access),
        ("configuration", s.failing_configuration),
        ("transient", s.failing_transient),
        ("unexpected access", s.failing_unexpected_access),
    ]
    .iter()
    .filter(|(_, n)| *n > 0)
    .map(|(c, n)| format!("{n} {c}"))
    .collect();
    if !by_class.is_empty() {
        let _ = write!(h, " ({})", by_class.join(", "));
    }
    h.push_str("</li>");
    let _ = write!(
        h,
        "<li class=\"ok\" data-count=\"ok\">\u{2713} <b>{}</b> ok</li>",
        s.ok
    );
    if s.denied_as_expected > 0 {
        let _ = write!(
            h,
            "<li class=\"ok\" data-count=\"denied_as_expected\">\u{2713} <b>{}</b> denied as expected</li>",
            s.denied_as_expected
        );
    }
    if s.pending > 0 {
        let _ = write!(
            h,
            "<li data-count=\"pending\">\u{2026} <b>{}</b> pending first probe</li>",
            s.pending
        );
    }
    let last = match s.last_probe_at {
        Some(t) => age_text(view.generated_at, t),
        None => "none yet".into(),
    };
    let _ = write!(
        h,
        "<li data-count=\"last_probe\">last probe: <b>{last}</b></li>"
    );
    h.push_str("</ul>\n");
}

fn row_html(h: &mut String, view: &StatusView, r: &Row) {
    let e = escape_html;
    let _ = write!(
        h,
        "<tr data-target=\"{}\" data-region=\"{}\" data-model=\"{}\" data-state=\"{}\">",
        e(&r.target),
        e(&r.aws_region),
        e(&r.model_id),
        r.state.as_str()
    );
    let _ = write!(
        h,
        "<td class=\"st\" data-label=\"state\"><div>{}{}</div></td>",
        label(r.state),
        if r.expect == Expect::Deny {
            "<small>expect = deny</small>"
        } else {
            ""
        }
    );
    let who = match (r.account_id.is_empty(), r.role_name.is_empty()) {
        (false, false) => format!("{} / {}", e(&r.account_id), e(&r.role_name)),
        (false, true) => format!("{} (same account)", e(&r.account_id)),
        (true, false) => e(&r.role_name),
        (true, true) => String::new(),
    };
    let _ = write!(
        h,
        "<td class=\"id\" data-label=\"target\"><div>{}<small>{who}</small></div></td><td data-label=\"region\"><div>{}</div></td><td class=\"model\" data-label=\"model\"><div><code>{}</code></div></td>",
        e(&r.target),
        e(&r.aws_region),
        e(&r.model_id)
    );
    for c in r.cells.iter() {
        let text = if r.state == RowState::Pending && c.state == LayerState::NotReached {
            "\u{2026} pending"
        } else {
            mark(c.state)
        };
        let title = match &c.call {
            Some(call) => format!(" title=\"{}\"", e(call)),
            None => String::new(),
        };
        let _ = write!(
            h,
            "<td class=\"layer\" data-layer=\"{}\" data-state=\"{}\" data-label=\"{}\"{title}><div>{text}",
            c.layer.as_str(),
            c.state.as_str(),
            c.layer.as_str()
        );
        if let Some(f) = &c.failure {
            let _ = write!(
                h,
                "<small data-reason=\"{}\">{}</small>",
                f.reason.as_str(),
                f.reason.as_str().replace('_', "_<wbr>")
            );
        }
        h.push_str("</div></td>");
    }
    let first = r.cells.iter().find_map(|c| c.failure.as_ref());
    match (r.reason, first) {
        (Some((layer, reason)), Some(f)) => {
            let code = match &f.error_code {
                Some(c) => format!(": {}", e(c)),
                None => String::new(),
            };
            let msg = one_line(&f.message);
            let _ = write!(
                h,
                "<td class=\"reason\" data-label=\"reason\" data-reason=\"{}\" data-class=\"{}\"><div><code>{}</code><span class=\"cls\">{}</span><small>at {layer}{code}</small>",
                reason.as_str(),
                reason.class().as_str(),
                reason.as_str(),
                reason.class().as_str(),
            );
            if !msg.is_empty() {
                let _ = write!(
                    h,
                    "<details><summary>AWS message</summary><small class=\"msg\">{}</small></details>",
                    e(&truncate(&msg, 600))
                );
            }
            h.push_str("</div></td>");
        }
        _ => h.push_str("<td class=\"reason\" data-label=\"reason\"><div>\u{2014}</div></td>"),
    }
    let age = match r.probed_at {
        Some(t) => age_text(view.generated_at, t),
        None => "not yet".into(),
    };
    let _ = write!(
        h,
        "<td class=\"age\" data-label=\"last probe\"><div>{age}</div></td>"
    );
    let _ = write!(
        h,
        "<td class=\"fix\" data-label=\"fix\"><div>{}</div></td>",
        match &r.fix {
            Some(f) => e(f),
            None => "\u{2014}".into(),
        }
    );
    let _ = writeln!(
        h,
        "<td data-label=\"trace\"><div><a class=\"debug\" href=\"{}\">debug trace</a></div></td></tr>",
        e(&r.debug_url)
    );
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('\u{2026}');
    out
}

/// The status page `/`.
pub fn render_html(view: &StatusView) -> String {
    let mut h = String::with_capacity(4096 + view.rows.len() * 1200);
    h.push_str("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>Bedrock access exporter</title>\n<style>\n");
    h.push_str(CSS);
    h.push_str("</style></head>\n<body>\n<header><h1>Bedrock access exporter</h1><nav><a href=\"/metrics\">Metrics</a><a href=\"/api/v1/status\">Status API (JSON)</a><a href=\"/-/healthy\">Health</a><a href=\"/-/ready\">Readiness</a></nav></header>\n<main>\n");
    if !view.configured {
        h.push_str("<p data-empty>No configuration loaded yet.</p>\n");
    }
    if view.shard.is_sharded() {
        let _ = writeln!(
            h,
            "<p data-shard=\"{}/{}\">Shard {} of {}: this replica probes and shows only its share of the tuples; the other replicas show the rest.</p>",
            view.shard.index, view.shard.count, view.shard.index, view.shard.count
        );
    }
    summary_html(&mut h, view);
    h.push_str("<table data-status>\n");
    th_row(&mut h);
    h.push_str("<tbody>\n");
    for r in &view.rows {
        row_html(&mut h, view, r);
    }
    h.push_str("</tbody></table>\n</main>\n");
    let _ = writeln!(
        h,
        "<footer>Generated {} UTC. Layers: credentials \u{2192} assume_role \u{2192} model_access \u{2192} invoke \u{2192} invoke_stream (optional: stream = true). \u{2713} pass, \u{2717} fail, \u{2013} not reached (an earlier layer failed), \u{25cb} off (turned off in the configuration).</footer>",
        escape_html(
            &rfc3339(view.generated_at)
                .replace('T', " ")
                .replace('Z', "")
        )
    );
    h.push_str("</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_leaves_nothing_that_opens_a_tag_or_closes_an_attribute() {
        let e = escape_html("<a href=\"x\" onclick='y'>&\u{0}</a>");
        assert_eq!(
            e,
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;\u{fffd}&lt;/a&gt;"
        );
    }
}
