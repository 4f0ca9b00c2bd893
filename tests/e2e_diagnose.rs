//! `diagnose` end to end: the real binary against the simulator running a copy of the demo
//! scenario. For every failure story of the demo, diagnose must name the failing step, layer
//! and reason, and print a structured fix that, applied to the scenario (or to the exporter
//! configuration) the way an operator would, turns that step ✓.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{BIN, Sim};
use serde_json::Value;

const EXTERNAL_ID: &str = "demo-external-id";
const PLACEHOLDER: &str = "<EXTERNAL_ID>";

fn demo_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/demo")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A simulator on a private copy of the demo scenario, and a copy of the exporter config.
struct Lab {
    dir: tempfile::TempDir,
    sim: Sim,
}

impl Lab {
    fn start() -> Lab {
        let dir = tempfile::tempdir().expect("tempdir");
        for f in ["scenario.toml", "exporter.toml", "aws-config"] {
            std::fs::write(dir.path().join(f), demo_file(f)).expect("copy demo file");
        }
        std::fs::write(dir.path().join("empty-credentials"), "").expect("write");
        let sim = Sim::start(dir.path(), &dir.path().join("scenario.toml"));
        Lab { dir, sim }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs `diagnose` with `args`; returns (exit code, stdout, stderr).
    fn diagnose(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = Command::new(BIN);
        cmd.arg(format!(
            "--config.file={}",
            self.path("exporter.toml").display()
        ))
        .arg("diagnose")
        .args(args)
        .stdin(Stdio::null());
        for (k, _) in std::env::vars() {
            if k.starts_with("AWS_") || k.starts_with("BEDROCK_EXPORTER") {
                cmd.env_remove(k);
            }
        }
        cmd.env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", self.sim.url())
            .env("AWS_CONFIG_FILE", self.path("aws-config"))
            .env(
                "AWS_SHARED_CREDENTIALS_FILE",
                self.path("empty-credentials"),
            );
        let out = cmd.output().expect("run diagnose");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `diagnose --output=json --target=T`: the one tuple's diagnosis.
    fn diagnose_json(&self, target: &str) -> (i32, Value) {
        let (code, stdout, stderr) =
            self.diagnose(&["--output=json", &format!("--target={target}")]);
        let v: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("diagnose JSON for {target}: {e}\n{stdout}\n{stderr}"));
        let t = v["tuples"][0].clone();
        assert!(t.is_object(), "no tuple for {target}: {stdout}");
        (code, t)
    }

    fn scenario(&self) -> toml::Table {
        let text = std::fs::read_to_string(self.path("scenario.toml")).expect("read scenario");
        text.parse().expect("scenario is TOML")
    }

    fn write_scenario(&self, t: &toml::Table) {
        std::fs::write(
            self.path("scenario.toml"),
            toml::to_string(t).expect("serialise scenario"),
        )
        .expect("write scenario");
    }

    /// SIGHUP the simulator and wait until it logged one more successful reload.
    fn reload(&self) {
        let count = |s: &str| s.matches("scenario reloaded").count();
        let before = count(&self.sim.proc.log_text());
        self.sim.proc.signal("HUP");
        let start = Instant::now();
        while count(&self.sim.proc.log_text()) <= before {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "simulator did not reload:\n{}",
                self.sim.proc.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn step<'a>(tuple: &'a Value, id: &str) -> &'a Value {
    tuple["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["step"] == id))
        .unwrap_or_else(|| panic!("no step {id} in {tuple:#}"))
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key} in {v:#}"))
}

/// `arn:aws:iam::A:role/N` or `…:user/N` → (A, N).
fn split_principal(arn: &str) -> (String, String) {
    let rest = arn.strip_prefix("arn:aws:iam::").expect("an IAM ARN");
    let (account, kind_name) = rest.split_once(':').expect("account");
    let name = kind_name.rsplit('/').next().expect("name");
    (account.to_string(), name.to_string())
}

fn entity<'a>(sc: &'a mut toml::Table, principal: &str) -> &'a mut toml::Table {
    let (account, name) = split_principal(principal);
    let list = if principal.contains(":role/") {
        "roles"
    } else {
        "users"
    };
    sc.get_mut(list)
        .and_then(|v| v.as_array_mut())
        .and_then(|a| {
            a.iter_mut().filter_map(|e| e.as_table_mut()).find(|e| {
                e.get("account").and_then(|v| v.as_str()) == Some(&account)
                    && e.get("name").and_then(|v| v.as_str()) == Some(&name)
            })
        })
        .unwrap_or_else(|| panic!("{principal} is not in the scenario"))
}

/// Whether an IAM action pattern (with `*`) matches `action`, case-insensitively.
fn glob(pattern: &str, action: &str) -> bool {
    fn m(p: &[u8], a: &[u8]) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some((b'*', rest)) => (0..=a.len()).any(|i| m(rest, &a[i..])),
            Some((c, rest)) => {
                a.first().is_some_and(|x| x.eq_ignore_ascii_case(c)) && m(rest, &a[1..])
            }
        }
    }
    m(pattern.as_bytes(), action.as_bytes())
}

fn policy_text(v: &Value) -> String {
    v.to_string().replace(PLACEHOLDER, EXTERNAL_ID)
}

/// Applies `fix` (the JSON diagnose printed) like an operator would: to the scenario (then
/// SIGHUP) or to the exporter configuration.
fn apply(lab: &Lab, fix: &Value) {
    let kind = str_of(fix, "kind");
    match kind {
        "config_change" => {
            let change = &fix["config_change"];
            let target = str_of(change, "target");
            let field = str_of(change, "field");
            let value: toml::Value = match &change["value"] {
                Value::String(s) => toml::Value::String(s.replace(PLACEHOLDER, EXTERNAL_ID)),
                Value::Array(a) => toml::Value::Array(
                    a.iter()
                        .map(|x| toml::Value::String(x.as_str().expect("string").to_string()))
                        .collect(),
                ),
                other => panic!("unexpected config value {other}"),
            };
            let path = lab.path("exporter.toml");
            let mut cfg: toml::Table = std::fs::read_to_string(&path)
                .expect("read config")
                .parse()
                .expect("config is TOML");
            let t = cfg
                .get_mut("targets")
                .and_then(|v| v.as_array_mut())
                .and_then(|a| {
                    a.iter_mut()
                        .filter_map(|e| e.as_table_mut())
                        .find(|e| e.get("name").and_then(|v| v.as_str()) == Some(target))
                })
                .unwrap_or_else(|| panic!("no target {target}"));
            t.insert(field.to_string(), value);
            std::fs::write(&path, toml::to_string(&cfg).expect("serialise")).expect("write");
            return;
        }
        "trust_policy" => {
            let mut sc = lab.scenario();
            let role = entity(&mut sc, str_of(fix, "principal"));
            role.insert(
                "trust_policy".into(),
                toml::Value::String(policy_text(&fix["policy"])),
            );
            lab.write_scenario(&sc);
        }
        "identity_policy" => {
            let mut sc = lab.scenario();
            let e = entity(&mut sc, str_of(fix, "principal"));
            let policies = e
                .entry("policies")
                .or_insert_with(|| toml::Value::Array(Vec::new()))
                .as_array_mut()
                .expect("policies array");
            policies.push(toml::Value::String(policy_text(&fix["policy"])));
            lab.write_scenario(&sc);
        }
        "remove_deny" => {
            let action = str_of(fix, "action").to_string();
            let mut sc = lab.scenario();
            let e = entity(&mut sc, str_of(fix, "principal"));
            let policies = e
                .get_mut("policies")
                .and_then(|v| v.as_array_mut())
                .expect("policies");
            let mut removed = 0;
            for p in policies.iter_mut() {
                let mut doc: Value =
                    serde_json::from_str(p.as_str().expect("policy text")).expect("policy JSON");
                if let Some(stmts) = doc["Statement"].as_array_mut() {
                    let before = stmts.len();
                    stmts.retain(|s| {
                        let actions: Vec<&str> = match &s["Action"] {
                            Value::String(a) => vec![a.as_str()],
                            Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
                            _ => vec![],
                        };
                        !(s["Effect"] == "Deny" && actions.iter().any(|a| glob(a, &action)))
                    });
                    removed += before - stmts.len();
                }
                *p = toml::Value::String(doc.to_string());
            }
            assert!(removed > 0, "no Deny of {action} found for {fix:#}");
            lab.write_scenario(&sc);
        }
        "scp" => {
            let account = str_of(fix, "account");
            let policy_arn = str_of(fix, "policy_arn");
            let id = policy_arn.rsplit('/').next().expect("policy id");
            let mut sc = lab.scenario();
            let acct = sc
                .get_mut("accounts")
                .and_then(|v| v.as_array_mut())
                .and_then(|a| {
                    a.iter_mut()
                        .filter_map(|e| e.as_table_mut())
                        .find(|e| e.get("id").and_then(|v| v.as_str()) == Some(account))
                })
                .expect("account in scenario");
            let ids = acct
                .get("scp_ids")
                .and_then(|v| v.as_array())
                .expect("scp ids")
                .clone();
            let idx = ids
                .iter()
                .position(|v| v.as_str() == Some(id))
                .unwrap_or_else(|| panic!("SCP {id} not in account {account}"));
            for key in ["scp_ids", "scps"] {
                if let Some(a) = acct.get_mut(key).and_then(|v| v.as_array_mut()) {
                    a.remove(idx);
                }
            }
            lab.write_scenario(&sc);
        }
        "model_access" | "wait" | "use_case_form" => {
            // The grant the fix names (account, region, model) is given; "wait" is time passing.
            let account = str_of(fix, "account");
            let model = str_of(fix, "model");
            let region = str_of(fix, "region");
            let mut sc = lab.scenario();
            let grants = sc
                .get_mut("grants")
                .and_then(|v| v.as_array_mut())
                .expect("grants");
            let mut changed = 0;
            for g in grants.iter_mut().filter_map(|g| g.as_table_mut()) {
                let get = |k: &str| g.get(k).and_then(|v| v.as_str()).unwrap_or("*").to_string();
                if get("account") == account
                    && (get("model") == model || get("model") == "*")
                    && (get("region") == region || get("region") == "*")
                {
                    g.insert("status".into(), toml::Value::String("granted".into()));
                    changed += 1;
                }
            }
            assert!(changed > 0, "no grant matches {fix:#}");
            lab.write_scenario(&sc);
        }
        other => panic!("no way to apply a {other} fix: {fix:#}"),
    }
    lab.reload();
}

/// (target, failing step, layer, reason) of every failure story of the demo.
const STORIES: &[(&str, &str, &str, &str)] = &[
    (
        "untrusted-source",
        "trust_policy",
        "assume_role",
        "assume_role_denied",
    ),
    (
        "missing-external-id",
        "trust_policy",
        "assume_role",
        "assume_role_denied",
    ),
    (
        "caller-without-assumerole",
        "role_assumption",
        "assume_role",
        "assume_role_not_permitted",
    ),
    (
        "session-too-long",
        "role_assumption",
        "assume_role",
        "session_duration_exceeded",
    ),
    (
        "role-without-invoke",
        "bedrock_permission",
        "invoke",
        "bedrock_not_permitted",
    ),
    (
        "role-without-stream",
        "bedrock_permission",
        "invoke_stream",
        "bedrock_not_permitted",
    ),
    (
        "identity-deny",
        "bedrock_permission",
        "invoke",
        "explicit_deny",
    ),
    ("scp-deny", "bedrock_permission", "invoke", "scp_denied"),
    (
        "grant-missing",
        "model_access",
        "model_access",
        "model_access_not_granted",
    ),
    (
        "grant-pending",
        "model_access",
        "model_access",
        "model_access_pending",
    ),
    (
        "marketplace-missing",
        "model_access",
        "model_access",
        "marketplace_subscription_required",
    ),
    (
        "use-case-form-missing",
        "model_access",
        "invoke",
        "use_case_form_required",
    ),
    (
        "not-in-region",
        "model_access",
        "model_access",
        "model_not_in_region",
    ),
    (
        "profile-required",
        "model_access",
        "invoke",
        "inference_profile_required",
    ),
    (
        "legacy-inactive",
        "model_access",
        "invoke",
        "model_legacy_no_access",
    ),
    ("end-of-life", "model_access", "invoke", "model_end_of_life"),
];

fn fix_story(target: &str, want_step: &str, want_layer: &str, want_reason: &str) {
    let lab = Lab::start();
    let (code, t) = lab.diagnose_json(target);
    assert_eq!(code, 1, "{target}: a failing tuple exits 1");
    assert_eq!(t["passed"], false, "{target}: {t:#}");
    assert_eq!(t["failing_step"], want_step, "{target}: {t:#}");
    assert_eq!(t["layer"], want_layer, "{target}: {t:#}");
    assert_eq!(t["reason"], want_reason, "{target}: {t:#}");
    let failing = step(&t, want_step);
    assert_eq!(failing["status"], "fail");
    let fix = failing["fixes"][0].clone();
    assert!(
        fix.is_object(),
        "{target}: the failing step has no fix: {failing:#}"
    );

    apply(&lab, &fix);

    // The first invocation after a Marketplace fix subscribes the account; the control-plane
    // check made at the same time may still see the old state, so an operator re-checks once.
    let mut last = Value::Null;
    for _ in 0..2 {
        let (_, t) = lab.diagnose_json(target);
        if step(&t, want_step)["status"] == "pass" {
            return;
        }
        last = t;
    }
    panic!("{target}: after applying {fix:#}\nstep {want_step} is still not ✓: {last:#}");
}

#[test]
fn every_failure_story_of_the_demo_is_diagnosed_and_its_printed_fix_turns_the_step_green() {
    let mut failed = Vec::new();
    for (target, s, l, r) in STORIES {
        if let Err(e) = std::panic::catch_unwind(|| fix_story(target, s, l, r)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failed.push(format!("{target}: {msg}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

#[test]
fn a_model_not_offered_to_the_account_fails_step_5_which_says_to_trust_the_runtime() {
    let lab = Lab::start();
    let (code, t) = lab.diagnose_json("not-offered");
    assert_eq!(code, 1, "{t:#}");
    assert_eq!(t["failing_step"], "model_access", "{t:#}");
    assert_eq!(t["layer"], "invoke", "{t:#}");
    assert_eq!(t["reason"], "account_not_authorized", "{t:#}");
    let s5 = step(&t, "model_access");
    let findings = s5["findings"].to_string();
    assert!(
        findings.contains("authorization=AUTHORIZED"),
        "the control plane's yes is shown: {s5:#}"
    );
    assert!(
        findings.contains("trust the runtime"),
        "step 5 says which to trust: {s5:#}"
    );
    // No IAM change helps: the fix is advice (a support case), not a policy.
    assert_eq!(s5["fixes"][0]["kind"], "advice", "{s5:#}");
}

#[test]
fn assume_role_denied_with_the_caller_side_allowed_is_narrowed_to_the_target_side() {
    let lab = Lab::start();
    let (_, t) = lab.diagnose_json("untrusted-source");
    let trust = step(&t, "trust_policy");
    assert_eq!(trust["status"], "fail");
    let findings = trust["findings"].to_string();
    assert!(findings.contains("target side"), "{trust:#}");
    let assume = step(&t, "role_assumption");
    let ev = &assume["evidence"][0];
    assert_eq!(ev["outcome"], "read", "{assume:#}");
    assert_eq!(ev["decision"], "allowed", "{assume:#}");
    assert!(
        str_of(ev, "call").starts_with(
            "iam:SimulatePrincipalPolicy arn:aws:iam::111111111111:user/bedrock-prober"
        )
    );
    // The fix trusts the real source account, with the ExternalId as a placeholder.
    let fix = &trust["fixes"][0];
    assert_eq!(fix["kind"], "trust_policy");
    let policy = fix["policy"].to_string();
    assert!(
        policy.contains("arn:aws:iam::111111111111:root"),
        "{policy}"
    );
    assert!(policy.contains(PLACEHOLDER), "{policy}");
}

#[test]
fn a_principal_without_iam_read_permissions_gets_one_could_not_read_line_and_diagnosis_goes_on() {
    let lab = Lab::start();
    // ops-readonly may not simulate its own policies.
    let (_, t) = lab.diagnose_json("caller-without-assumerole");
    let ev = &step(&t, "role_assumption")["evidence"][0];
    assert_eq!(ev["outcome"], "not_permitted", "{ev:#}");
    assert!(
        str_of(ev, "summary").starts_with("could not read"),
        "{ev:#}"
    );
    assert_eq!(
        step(&t, "role_assumption")["fixes"][0]["kind"],
        "identity_policy"
    );
    // The sandbox role may read neither its trust policy nor simulate: SCP diagnosis still works.
    let (_, t) = lab.diagnose_json("scp-deny");
    let trust_ev = &step(&t, "trust_policy")["evidence"][0];
    assert_eq!(trust_ev["outcome"], "not_permitted", "{trust_ev:#}");
    let perm = step(&t, "bedrock_permission");
    assert_eq!(perm["evidence"][0]["outcome"], "not_permitted");
    assert_eq!(perm["fixes"][0]["kind"], "scp");
    assert!(str_of(&perm["fixes"][0], "policy_arn").ends_with("/p-sandbox1"));
    // Text: exactly one line per refused read.
    let (_, text, _) = lab.diagnose(&["--target=scp-deny"]);
    assert_eq!(
        text.matches("could not read the trust policy").count(),
        1,
        "{text}"
    );
}

#[test]
fn a_role_without_invoke_is_shown_as_implicit_deny_with_the_permission_policy_to_add() {
    let lab = Lab::start();
    let (_, t) = lab.diagnose_json("role-without-invoke");
    let perm = step(&t, "bedrock_permission");
    assert_eq!(perm["evidence"][0]["decision"], "implicitDeny", "{perm:#}");
    let fix = &perm["fixes"][0];
    assert_eq!(
        fix["principal"],
        "arn:aws:iam::222222222222:role/ReadOnlyProbeRole"
    );
    let policy = fix["policy"].to_string();
    assert!(policy.contains("bedrock:InvokeModel"));
    assert!(policy.contains(
        "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0"
    ));
    let (_, t) = lab.diagnose_json("identity-deny");
    assert_eq!(
        step(&t, "bedrock_permission")["evidence"][0]["decision"],
        "explicitDeny"
    );
}

#[test]
fn text_output_has_marks_reasons_and_fixes_and_exit_codes_follow_the_verdict() {
    let lab = Lab::start();
    let (code, text, _) = lab.diagnose(&["--target=role-without-invoke"]);
    assert_eq!(code, 1);
    for want in [
        "✓ 1.",
        "✗ 4.",
        "bedrock_not_permitted",
        "AccessDeniedException",
        "request id",
        "fix 1:",
        "\"bedrock:InvokeModel\"",
    ] {
        assert!(text.contains(want), "missing {want:?} in:\n{text}");
    }
    let (code, text, _) = lab.diagnose(&["--target=untrusted-source"]);
    assert_eq!(code, 1);
    assert!(
        text.contains("– 4.") && text.contains("not reached"),
        "{text}"
    );

    let (code, text, _) = lab.diagnose(&["--target=healthy-claude"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(text.matches("✓ 6.").count(), 2, "{text}");
    // The guardrail target passes because it is denied as expected.
    let (code, text, _) = lab.diagnose(&["--target=sandbox-guardrail"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("denied as expected"), "{text}");

    for bad in [
        vec!["--target=no-such-target"],
        vec!["--target=healthy-claude", "--region=eu-west-9"],
        vec!["--target=healthy-claude", "--model=no.such-model"],
        vec!["--output=yaml"],
    ] {
        let (code, stdout, stderr) = lab.diagnose(&bad);
        assert_eq!(code, 2, "{bad:?}: {stdout}{stderr}");
    }
    std::fs::write(lab.path("broken.toml"), "[[targets]]\nname = 1\n").expect("write");
    let out = Command::new(BIN)
        .arg(format!(
            "--config.file={}",
            lab.path("broken.toml").display()
        ))
        .arg("diagnose")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn region_and_model_filters_select_the_tuples() {
    let lab = Lab::start();
    let (code, stdout, stderr) = lab.diagnose(&[
        "--output=json",
        "--target=healthy-claude",
        "--region=us-west-2",
    ]);
    assert_eq!(code, 0, "{stderr}");
    let v: Value = serde_json::from_str(&stdout).expect("json");
    let tuples = v["tuples"].as_array().expect("tuples");
    assert_eq!(tuples.len(), 1);
    assert_eq!(tuples[0]["aws_region"], "us-west-2");

    let (_, stdout, _) = lab.diagnose(&[
        "--output=json",
        "--model=anthropic.claude-3-opus-20240229-v1:0",
    ]);
    let v: Value = serde_json::from_str(&stdout).expect("json");
    let tuples = v["tuples"].as_array().expect("tuples");
    assert_eq!(tuples.len(), 1);
    assert_eq!(tuples[0]["target"], "grant-missing");
}

#[test]
fn no_secret_of_the_scenario_appears_in_any_diagnose_output() {
    let lab = Lab::start();
    let mut all = String::new();
    for args in [vec!["--output=json"], vec![]] {
        let (_, out, err) = lab.diagnose(&args);
        assert!(out.len() > 1000, "diagnose printed too little: {out}{err}");
        all.push_str(&out);
        all.push_str(&err);
    }
    let scenario = lab.scenario();
    let mut secrets: Vec<String> = vec![EXTERNAL_ID.to_string()];
    for u in scenario["users"].as_array().expect("users") {
        for k in u["access_keys"].as_array().expect("keys") {
            secrets.push(k["id"].as_str().expect("id").to_string());
            secrets.push(k["secret"].as_str().expect("secret").to_string());
        }
    }
    assert!(secrets.len() >= 5);
    for s in &secrets {
        assert!(
            !all.contains(s.as_str()),
            "secret {s:?} leaked into diagnose output"
        );
    }
    // Session credentials the simulator issues: tokens start with FwoGZXIvYXdzE, key ids ASIA.
    assert!(!all.contains("FwoGZXIvYXdzE"), "a session token leaked");
    assert!(
        !all.split(|c: char| !c.is_ascii_alphanumeric())
            .any(|w| w.starts_with("ASIA") && w.len() >= 16),
        "a session access key id leaked"
    );
}

#[test]
fn a_same_account_target_without_bedrock_permissions_gets_a_policy_for_the_source_user() {
    let lab = Lab::start();
    let path = lab.path("exporter.toml");
    let mut cfg = std::fs::read_to_string(&path).expect("read");
    cfg.push_str(
        "\n[[targets]]\nname = \"own-account\"\nsource = \"platform\"\nregions = [\"us-east-1\"]\nmodels = [\"anthropic.claude-3-haiku-20240307-v1:0\"]\n",
    );
    std::fs::write(&path, cfg).expect("write");
    let (code, t) = lab.diagnose_json("own-account");
    assert_eq!(code, 1);
    assert_eq!(step(&t, "trust_policy")["status"], "pass");
    assert_eq!(step(&t, "role_assumption")["status"], "pass");
    assert_eq!(t["failing_step"], "bedrock_permission", "{t:#}");
    assert_eq!(t["reason"], "bedrock_not_permitted");
    let perm = step(&t, "bedrock_permission");
    // bedrock-prober may simulate itself: no identity policy allows Bedrock.
    assert_eq!(perm["evidence"][0]["decision"], "implicitDeny", "{perm:#}");
    let fix = perm["fixes"][0].clone();
    assert_eq!(
        fix["principal"],
        "arn:aws:iam::111111111111:user/bedrock-prober"
    );
    apply(&lab, &fix);
    let (code, t) = lab.diagnose_json("own-account");
    assert_eq!(step(&t, "bedrock_permission")["status"], "pass", "{t:#}");
    assert_eq!(code, 0, "{t:#}");
}
