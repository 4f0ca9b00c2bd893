//! This host's clock: what to do when AWS refuses a signature for its time (`clock_skew`). The
//! fix names how far off the clock was when AWS's answer says so ("Signature expired: <signed> is
//! now earlier than <limit> (<AWS's now> - 5 min.)", "Signature not yet current: <signed> is
//! still later than <limit> (<AWS's now> + 5 min.)") and the commands that show and correct it.

use chrono::NaiveDateTime;

use super::{Fix, FixKind};

/// The signing time and AWS's time from a clock-skew message: the first timestamp of the
/// message is the request's `X-Amz-Date`, the first one inside the parentheses is AWS's clock.
fn times(message: &str) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let stamp = |word: &str| {
        let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        NaiveDateTime::parse_from_str(word, "%Y%m%dT%H%M%SZ").ok()
    };
    let (before, inside) = message.split_once('(')?;
    let signed = before.split_whitespace().find_map(stamp)?;
    let aws = inside.split_whitespace().find_map(stamp)?;
    Some((signed, aws))
}

/// "behind by 8 min 4 s" / "ahead by 12 h 7 min": how this host's clock differed from AWS's.
pub fn offset_words(message: &str) -> Option<String> {
    let (signed, aws) = times(message)?;
    let seconds = (signed - aws).num_seconds();
    let abs = seconds.unsigned_abs();
    let (h, m, s) = (abs / 3600, abs / 60 % 60, abs % 60);
    let amount = match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) => format!("{m} min {s} s"),
        _ => format!("{h} h {m} min"),
    };
    Some(if seconds < 0 {
        format!("behind AWS by {amount}")
    } else {
        format!("ahead of AWS by {amount}")
    })
}

/// Synchronise the exporter host's clock; `message` is AWS's answer (it may say by how much
/// the clock was off).
pub fn sync_clock(message: &str) -> Fix {
    let mut summary = String::from(
        "AWS refused the request's signature for its time, not for its keys: SigV4 signs with this host's clock, and AWS accepts only a few minutes of difference (5 min on Bedrock, 15 on STS).",
    );
    if let Some(offset) = offset_words(message) {
        summary.push_str(&format!(" When it signed, this host's clock was {offset}."));
    }
    summary.push_str(" Synchronise the clock (NTP/chrony) and keep it synchronised.");
    let mut fix = Fix::new(FixKind::Command, summary);
    fix.commands = vec![
        "timedatectl status".to_string(),
        "chronyc tracking".to_string(),
        "sudo timedatectl set-ntp true".to_string(),
        "sudo chronyc makestep".to_string(),
    ];
    fix
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expired_signature_says_the_host_is_behind() {
        let m = "Signature expired: 20250130T203827Z is now earlier than 20250130T204131Z (20250130T204631Z - 5 min.)";
        assert_eq!(offset_words(m).as_deref(), Some("behind AWS by 8 min 4 s"));
        let fix = sync_clock(m);
        assert_eq!(fix.kind, FixKind::Command);
        assert!(
            fix.summary.contains("behind AWS by 8 min 4 s"),
            "{}",
            fix.summary
        );
    }

    #[test]
    fn a_signature_not_yet_current_says_the_host_is_ahead() {
        let m = "Signature not yet current: 20210112T194419Z is still later than 20210112T072625Z (20210112T071125Z + 15 min.)";
        assert_eq!(
            offset_words(m).as_deref(),
            Some("ahead of AWS by 12 h 32 min")
        );
    }

    #[test]
    fn a_message_without_times_still_gets_the_fix_without_an_offset() {
        for m in [
            "The difference between the request time and the current time is too large.",
            "Signature expired: garbage (also garbage)",
            "",
        ] {
            assert_eq!(offset_words(m), None, "{m}");
            let fix = sync_clock(m);
            assert!(!fix.summary.contains(" by "), "{}", fix.summary);
            assert!(!fix.commands.is_empty());
        }
    }
}
