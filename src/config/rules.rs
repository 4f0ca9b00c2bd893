//! The syntax rules of single values: role ARNs, account ids, region names, external ids,
//! session names, model ids, and the names of targets and sources. Each check returns
//! `Err(message)` with a message that never echoes the value itself when the value may be secret
//! (the external id).

use super::limits::MAX_NAME_CHARS;

/// Partitions whose IAM role ARNs are accepted.
const PARTITIONS: [&str; 7] = [
    "aws",
    "aws-cn",
    "aws-us-gov",
    "aws-iso",
    "aws-iso-b",
    "aws-iso-e",
    "aws-iso-f",
];

/// `[\w+=,.@-]`: the characters IAM allows in role names and STS in session names.
fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

/// A 12-digit AWS account id.
pub fn account_id(value: &str) -> Result<(), String> {
    if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not an AWS account id (exactly 12 digits, quoted as a string)"
        ))
    }
}

/// An IAM role name: 1 to 64 characters of letters, digits and `+=,.@_-`.
pub fn role_name(value: &str) -> Result<(), String> {
    if value.is_empty() || value.chars().count() > 64 || !value.chars().all(is_iam_name_char) {
        return Err(format!(
            "{value:?} is not a role name (1 to 64 characters of letters, digits and +=,.@_-)"
        ));
    }
    Ok(())
}

/// An IAM path: `/`, or `/seg/…/` of printable ASCII, at most 512 characters.
pub fn role_path(value: &str) -> Result<(), String> {
    let inner = value
        .strip_prefix('/')
        .and_then(|v| v.strip_suffix('/').or((v.is_empty()).then_some(v)));
    let ok = value.len() <= 512
        && inner.is_some_and(|i| {
            i.is_empty()
                || i.split('/')
                    .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_graphic()))
        });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not a role path (it starts and ends with \"/\", like \"/platform/\")"
        ))
    }
}

/// An AWS Organizations parent: an organizational unit (`ou-xxxx-xxxxxxxx`) or a root
/// (`r-xxxx`).
pub fn parent_id(value: &str) -> Result<(), String> {
    let alnum = |s: &str, min: usize| {
        s.len() >= min
            && s.len() <= 32
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let ok = match value.strip_prefix("ou-") {
        Some(rest) => rest
            .split_once('-')
            .is_some_and(|(root, ou)| alnum(root, 4) && alnum(ou, 8)),
        None => value.strip_prefix("r-").is_some_and(|r| alnum(r, 4)),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not an organizational unit id (ou-xxxx-xxxxxxxx) or root id (r-xxxx)"
        ))
    }
}

/// `arn:<partition>:iam::<12 digits>:role/<path/>name`.
pub fn role_arn(value: &str) -> Result<(), String> {
    let hint = "expected arn:aws:iam::<12-digit account>:role/<optional/path/>name";
    let parts: Vec<&str> = value.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" {
        return Err(format!("{value:?} is not an ARN; {hint}"));
    }
    if !PARTITIONS.contains(&parts[1]) {
        return Err(format!(
            "{value:?} has an unknown partition {:?} (one of {}); {hint}",
            parts[1],
            PARTITIONS.join(", ")
        ));
    }
    if parts[2] != "iam" {
        return Err(format!(
            "{value:?} is an ARN of service {:?}, not of an IAM role; {hint}",
            parts[2]
        ));
    }
    if !parts[3].is_empty() {
        return Err(format!(
            "{value:?} has a region {:?}, but IAM ARNs have none (\"iam::\"); {hint}",
            parts[3]
        ));
    }
    if account_id(parts[4]).is_err() {
        return Err(format!(
            "{value:?} has account {:?}, which is not 12 digits; {hint}",
            parts[4]
        ));
    }
    let Some(resource) = parts[5].strip_prefix("role/") else {
        return Err(format!("{value:?} is not a role ARN (\"role/…\"); {hint}"));
    };
    let (path, name) = match resource.rfind('/') {
        Some(i) => (&resource[..=i], &resource[i + 1..]),
        None => ("", resource),
    };
    if name.is_empty() || name.chars().count() > 64 || !name.chars().all(is_iam_name_char) {
        return Err(format!(
            "{value:?} has an invalid role name (1 to 64 characters of letters, digits and +=,.@_-); {hint}"
        ));
    }
    if !path.is_empty() {
        // `path` ends with '/'; every segment between slashes must be non-empty printable ASCII.
        let ok = path.len() <= 512
            && path
                .strip_suffix('/')
                .unwrap_or(path)
                .split('/')
                .all(|seg| !seg.is_empty() && seg.chars().all(|c| c.is_ascii_graphic()));
        if !ok {
            return Err(format!("{value:?} has an invalid role path; {hint}"));
        }
    }
    Ok(())
}

/// A region name: `^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$`.
pub fn region(value: &str) -> Result<(), String> {
    let lower = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase());
    let parts: Vec<&str> = value.split('-').collect();
    let ok = match parts.as_slice() {
        [geo, area, num] => geo.len() == 2 && lower(geo) && lower(area) && single_digit(num),
        [geo, qualifier, area, num] => {
            geo.len() == 2
                && lower(geo)
                && (*qualifier == "gov"
                    || qualifier
                        .strip_prefix("iso")
                        .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_lowercase())))
                && lower(area)
                && single_digit(num)
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{value:?} is not an AWS region name (like \"us-east-1\" or \"us-gov-west-1\")"
        ))
    }
}

fn single_digit(s: &str) -> bool {
    s.len() == 1 && s.bytes().all(|b| b.is_ascii_digit())
}

/// AssumeRole's `ExternalId`: 2 to 1224 characters of `[\w+=,.@:/-]`. The message never contains
/// the value.
pub fn external_id(value: &str) -> Result<(), String> {
    let len = value.chars().count();
    if len < 2 {
        return Err("is too short: AWS requires 2 to 1224 characters".to_string());
    }
    if len > 1224 {
        return Err("is too long: AWS allows 2 to 1224 characters".to_string());
    }
    if !value
        .chars()
        .all(|c| is_iam_name_char(c) || matches!(c, ':' | '/'))
    {
        return Err(
            "contains a character AWS does not allow (only letters, digits and +=,.@:/_-)"
                .to_string(),
        );
    }
    Ok(())
}

/// AssumeRole's `RoleSessionName`: 2 to 64 characters of `[\w+=,.@-]`.
pub fn session_name(value: &str) -> Result<(), String> {
    let len = value.chars().count();
    if !(2..=64).contains(&len) {
        return Err(format!(
            "{value:?} must be 2 to 64 characters long (it has {len})"
        ));
    }
    if let Some(bad) = value.chars().find(|c| !is_iam_name_char(*c)) {
        return Err(format!(
            "{value:?} contains {bad:?}; AWS allows only letters, digits and +=,.@_-"
        ));
    }
    Ok(())
}

/// What an invisible or text-reordering character is, if `c` is one: bidirectional formatting
/// (which reorders what follows it, e.g. U+202E RIGHT-TO-LEFT OVERRIDE), zero-width, or
/// another formatting character that renders as nothing. Such characters make two different
/// names look alike, or one name look like another, on the status page and in label values.
pub fn invisible(c: char) -> Option<&'static str> {
    match u32::from(c) {
        0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069 => {
            Some("a bidirectional formatting character")
        }
        0x200B..=0x200D | 0x2060 | 0xFEFF | 0x180E => Some("a zero-width character"),
        0x00AD
        | 0x034F
        | 0x115F
        | 0x1160
        | 0x17B4
        | 0x17B5
        | 0x0600..=0x0605
        | 0x06DD
        | 0x070F
        | 0x08E2
        | 0x2028
        | 0x2029
        | 0x2061..=0x2064
        | 0x206A..=0x206F
        | 0x3164
        | 0xFE00..=0xFE0F
        | 0xFFA0
        | 0xFFF9..=0xFFFB
        | 0x110BD
        | 0x110CD
        | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF => Some("an invisible formatting character"),
        _ => None,
    }
}

/// A control or invisible character of `value`, described, if it has one.
fn hidden_char(value: &str) -> Option<String> {
    value.chars().find_map(|c| {
        let what = if c.is_control() {
            Some("a control character")
        } else {
            invisible(c)
        };
        what.map(|w| format!("contains {w} (U+{:04X})", u32::from(c)))
    })
}

/// The name of a target or a source (it becomes a label value and a row of the status page):
/// at most [`MAX_NAME_CHARS`] characters, none of them a control, bidirectional formatting or
/// zero-width character. The caller checks that it is not empty.
pub fn name(value: &str) -> Result<(), String> {
    let len = value.chars().count();
    if len > MAX_NAME_CHARS {
        return Err(format!(
            "is {len} characters long; names have at most {MAX_NAME_CHARS}"
        ));
    }
    if let Some(why) = hidden_char(value) {
        return Err(format!(
            "{why}, which would disguise the name on the status page and in label values"
        ));
    }
    Ok(())
}

/// A model or inference-profile id: non-empty, without whitespace or invisible characters.
pub fn model_id(value: &str) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("a model id is empty".to_string());
    }
    if value.chars().any(char::is_whitespace) {
        return Err(format!("{value:?} contains whitespace; model ids never do"));
    }
    if let Some(why) = hidden_char(value) {
        return Err(format!("{value:?} {why}; model ids never do"));
    }
    if value.len() > 2048 {
        return Err("a model id is longer than 2048 characters".to_string());
    }
    Ok(())
}

/// Levenshtein distance, for "did you mean" hints on unknown keys.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The closest of `known` to `key`, if it is close enough to be a typo.
pub fn suggestion<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let key = key.to_ascii_lowercase();
    known
        .iter()
        .map(|k| (edit_distance(&key, k), *k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns_of_every_partition_and_with_paths_are_accepted() {
        for ok in [
            "arn:aws:iam::222222222222:role/bedrock-prober",
            "arn:aws-cn:iam::222222222222:role/a",
            "arn:aws-us-gov:iam::222222222222:role/team/ml/bedrock.prober@x",
        ] {
            assert_eq!(role_arn(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn role_arns_users_get_wrong_are_rejected() {
        for bad in [
            "arn:aws:iam::22222222222:role/short-account",
            "arn:aws:iam::222222222222:user/alice",
            "arn:aws:iam:us-east-1:222222222222:role/x",
            "arn:aws:sts::222222222222:assumed-role/x/y",
            "arn:azure:iam::222222222222:role/x",
            "arn:aws:iam::222222222222:role/",
            "arn:aws:iam::222222222222:role/a//b",
            "arn:aws:iam::222222222222:role/has space",
            "222222222222:role/x",
            "",
        ] {
            assert!(role_arn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn region_names_follow_the_aws_pattern() {
        for ok in [
            "us-east-1",
            "eu-central-2",
            "us-gov-west-1",
            "us-isob-east-1",
            "ap-southeast-4",
        ] {
            assert_eq!(region(ok), Ok(()), "{ok}");
        }
        for bad in [
            "us-east",
            "US-EAST-1",
            "useast1",
            "us-east-12",
            "us-east-1a",
            "use-east-1",
            "us-foo-east-1",
            "",
        ] {
            assert!(region(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn external_id_messages_never_contain_the_value() {
        for bad in ["x", "secret with spaces", &"y".repeat(1225)] {
            let msg = external_id(bad).expect_err("must be rejected");
            assert!(!msg.contains(bad), "{msg}");
        }
        assert_eq!(external_id("ab"), Ok(()));
        assert_eq!(external_id("ext-123:/a@b.c,d=e+f_g"), Ok(()));
    }

    #[test]
    fn session_names_follow_sts_rules() {
        assert_eq!(session_name("bedrock-access-exporter"), Ok(()));
        assert!(session_name("a").is_err());
        assert!(session_name(&"a".repeat(65)).is_err());
        assert!(session_name("with/slash").is_err());
    }

    #[test]
    fn names_that_would_disguise_a_row_are_rejected() {
        assert_eq!(name("prod inference (eu)"), Ok(()));
        assert_eq!(name("produção-東京"), Ok(()));
        for bad in [
            "prod\u{202E}gnirts",
            "prod\u{200B}",
            "a\u{2066}b\u{2069}",
            "tab\there",
            "bell\u{7}",
            "\u{FEFF}prod",
            "soft\u{AD}hyphen",
        ] {
            assert!(name(bad).is_err(), "{bad:?}");
        }
        assert!(name(&"n".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(name(&"n".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(model_id("anthropic.claude\u{200D}-v1").is_err());
    }

    #[test]
    fn typos_get_a_suggestion() {
        assert_eq!(
            suggestion("intervall", &["interval", "timeout"]),
            Some("interval")
        );
        assert_eq!(suggestion("colour", &["interval", "timeout"]), None);
    }
}
