//! Logs: `tracing` events as logfmt lines (`ts=… level=… msg="…" key=value …`) or JSON lines, on
//! standard error, at the level given by `--log.level`.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `--log.format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

/// Errors setting up logging.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("invalid --log.level {0:?}: expected error, warn, info, debug or trace")]
    Level(String),
    #[error("a logger is already installed")]
    AlreadyInstalled,
}

/// The levels `--log.level` accepts.
pub const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

fn filter(level: &str) -> Result<EnvFilter, LoggingError> {
    if !LEVELS.contains(&level) {
        return Err(LoggingError::Level(level.to_string()));
    }
    // Our crate at the chosen level; the AWS SDK and HTTP stack only from warn (their info lines
    // are noise such as which credentials file was read), except at trace.
    let directives = match level {
        "trace" => "debug,bedrock_access_exporter=trace".to_string(),
        "error" => "error".to_string(),
        l => format!("warn,bedrock_access_exporter={l}"),
    };
    EnvFilter::try_new(directives).map_err(|_| LoggingError::Level(level.to_string()))
}

/// Installs the global logger.
pub fn init(level: &str, format: LogFormat) -> Result<(), LoggingError> {
    let filter = filter(level)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    let result = match format {
        // No metadata `target` (module path) in JSON: events carry the exporter's `target`
        // (the configured target's name) as a field, and duplicate keys would break parsers.
        LogFormat::Json => builder
            .with_target(false)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Logfmt => builder.event_format(Logfmt).try_init(),
    };
    result.map_err(|_| LoggingError::AlreadyInstalled)
}

/// The logfmt event format.
pub struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut v = LogfmtVisitor::default();
        event.record(&mut v);
        let mut line = format!(
            "ts={ts} level={}",
            meta.level().as_str().to_ascii_lowercase()
        );
        if let Some(m) = v.message {
            line.push_str(" msg=");
            push_value(&mut line, &m);
        }
        line.push_str(&v.fields);
        line.push_str(" source=");
        push_value(&mut line, meta.target());
        writeln!(writer, "{line}")
    }
}

/// Collects an event's fields as ` key=value` pairs.
#[derive(Default)]
struct LogfmtVisitor {
    message: Option<String>,
    fields: String,
}

impl LogfmtVisitor {
    fn push(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
            return;
        }
        self.fields.push(' ');
        self.fields.push_str(field.name());
        self.fields.push('=');
        push_value(&mut self.fields, value);
    }
}

impl Visit for LogfmtVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, &format!("{value:?}"));
    }
}

/// Appends a logfmt value, quoted when needed.
fn push_value(out: &mut String, v: &str) {
    let needs_quotes = v.is_empty()
        || v.chars()
            .any(|c| c == ' ' || c == '=' || c == '"' || c.is_control());
    if !needs_quotes {
        out.push_str(v);
        return;
    }
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_with_spaces_or_quotes_are_quoted() {
        let mut s = String::new();
        push_value(&mut s, "plain");
        push_value(&mut s, " ");
        push_value(&mut s, "a \"b\"");
        push_value(&mut s, "");
        assert_eq!(s, "plain\" \"\"a \\\"b\\\"\"\"\"");
    }

    #[derive(Clone, Default)]
    struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(b);
            }
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_layer_failure_is_one_logfmt_line_with_the_tuple_labels() {
        let buf = Buf::default();
        let w = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || w.clone())
            .with_ansi(false)
            .event_format(Logfmt)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(
                target = %"prod",
                aws_region = %"us-east-1",
                reason = %"trust_policy_denied",
                error_code = "AccessDenied",
                "layer failed"
            );
        });
        let out = buf.0.lock().map(|v| v.clone()).unwrap_or_default();
        let line = String::from_utf8_lossy(&out);
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.starts_with("ts="), "{line}");
        assert!(line.contains(" level=warn msg=\"layer failed\" "), "{line}");
        assert!(line.contains(" target=prod "), "{line}");
        assert!(line.contains(" aws_region=us-east-1 "), "{line}");
        assert!(line.contains(" error_code=AccessDenied "), "{line}");
    }

    #[test]
    fn an_unknown_log_level_is_refused() {
        assert!(filter("verbose").is_err());
        assert!(filter("debug").is_ok());
    }
}
