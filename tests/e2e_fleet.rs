//! A platform team's fleet, through the real binary against the simulator:
//!
//! * three replicas share one configuration: every tuple is probed and exported by exactly one
//!   of them, and the simulator saw one AssumeRole per target × account × region per round
//!   across the fleet; a fourth replica moves at most 35% of the tuples;
//! * a target with `accounts = [...]` probes its role in each account, and one account whose
//!   role is missing fails alone, with its own account id;
//! * accounts discovered from AWS Organizations come and go (OU filter honoured), and a failed
//!   discovery keeps the last list and says why;
//! * a burst of `/probe` calls stays under `[limits]`' calls per second in the account.

mod common;
mod fleet_support;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Exporter, Proc, free_port, spawn, tail, wait_listening};
use fleet_support::{REGIONS, account, counts, peak, scenario, write_aws_config};
use serde_json::Value;

/// The simulator with `scenario`, writing its counts to `counts.json` when stopped.
struct CountingSim {
    proc: Proc,
    url: String,
    scenario: PathBuf,
    counts: PathBuf,
}

impl CountingSim {
    fn start(dir: &Path, text: &str) -> CountingSim {
        let scenario = dir.join("scenario.toml");
        std::fs::write(&scenario, text).expect("write scenario");
        let counts = dir.join("counts.json");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let proc = spawn(
            dir,
            "simulate",
            &[
                "simulate".into(),
                format!("--scenario={}", scenario.display()),
                format!("--listen={addr}"),
                format!("--counts-file={}", counts.display()),
            ],
            &[],
        );
        wait_listening(addr, Duration::from_secs(20));
        CountingSim {
            proc,
            url: format!("http://{addr}"),
            scenario,
            counts,
        }
    }

    /// Swaps the scenario (SIGHUP).
    fn reload(&self, text: &str) {
        std::fs::write(&self.scenario, text).expect("write scenario");
        self.proc.signal("HUP");
    }

    /// Stops the simulator and reads what it saw.
    fn stop(mut self) -> Value {
        self.proc.signal("TERM");
        assert!(
            self.proc.wait_exit(Duration::from_secs(10)).is_some(),
            "the simulator stops on SIGTERM"
        );
        counts(&self.counts)
    }
}

fn replica(
    dir: &Path,
    config: &Path,
    aws: &Path,
    url: &str,
    index: usize,
    count: usize,
) -> Exporter {
    let own = dir.join(format!("replica-{index}-of-{count}"));
    std::fs::create_dir_all(&own).expect("mkdir");
    Exporter::start_with(
        &own,
        config,
        aws,
        url,
        &[
            ("BEDROCK_EXPORTER_SHARD_COUNT".into(), count.to_string()),
            ("BEDROCK_EXPORTER_SHARD_INDEX".into(), index.to_string()),
        ],
    )
}

type Key = (String, String, String, String);

/// The tuples a replica exports `probe_success` for.
fn probed(e: &Exporter) -> BTreeMap<Key, f64> {
    e.scrape()
        .find("bedrock_access_probe_success", &[])
        .into_iter()
        .map(|s| {
            let l = |k: &str| s.labels.get(k).cloned().unwrap_or_default();
            (
                (l("target"), l("account_id"), l("aws_region"), l("model_id")),
                s.value,
            )
        })
        .collect()
}

/// The tuples a replica's status API shows (probed or pending).
fn shown(e: &Exporter) -> (Value, BTreeSet<Key>) {
    let (status, body) = e.get("/api/v1/status");
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("status JSON");
    let rows = v["tuples"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    let f = |k: &str| r[k].as_str().unwrap_or_default().to_string();
                    (f("target"), f("account_id"), f("aws_region"), f("model_id"))
                })
                .collect()
        })
        .unwrap_or_default();
    (v["shard"].clone(), rows)
}

fn fleet_config(dir: &Path, accounts: &[usize]) -> PathBuf {
    let list: Vec<String> = accounts
        .iter()
        .map(|i| format!("\"{}\"", account(*i)))
        .collect();
    let text = format!(
        r#"
[probe]
interval = "10s"
timeout = "5s"
concurrency = 16

[[targets]]
name = "fleet"
role_name = "bedrock-prober"
accounts = [{}]
regions = ["us-east-1", "us-west-2"]
models = ["anthropic.claude-3-haiku-20240307-v1:0", "amazon.titan-text-express-v1", "meta.llama3-8b-instruct-v1:0"]

[[targets]]
name = "solo"
role_arn = "arn:aws:iam::{}:role/bedrock-prober"
regions = ["us-east-1", "us-west-2"]
models = ["amazon.titan-text-express-v1"]
"#,
        list.join(", "),
        account(31)
    );
    let p = dir.join("exporter.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

#[test]
fn three_replicas_probe_every_tuple_once_and_a_fourth_moves_a_third_at_most() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Accounts 0 to 30 in the many-account target (30 lacks the role), 31 for the single-role
    // target.
    let with_role: Vec<usize> = (0..30).chain([31]).collect();
    let sim = CountingSim::start(dir.path(), &scenario(&with_role, &[30], &[]));
    let aws = write_aws_config(dir.path());
    let all: Vec<usize> = (0..31).collect();
    let config = fleet_config(dir.path(), &all);
    let total = 31 * 2 * 3 + 2;
    let replicas: Vec<Exporter> = (0..3)
        .map(|i| replica(dir.path(), &config, &aws, &sim.url, i, 3))
        .collect();

    // Each replica exports only its shard, and together they export every tuple once.
    let start = Instant::now();
    let owned: Vec<BTreeMap<Key, f64>> = loop {
        let now: Vec<BTreeMap<Key, f64>> = replicas.iter().map(probed).collect();
        let gauges: Vec<f64> = replicas
            .iter()
            .map(|r| {
                r.scrape()
                    .value("bedrock_access_exporter_tuples", &[])
                    .unwrap_or(-1.0)
            })
            .collect();
        let complete = now.iter().zip(&gauges).all(|(p, g)| p.len() as f64 == *g);
        if complete && gauges.iter().sum::<f64>() == total as f64 {
            break now;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "not every tuple probed: {:?} of {gauges:?}\n{}",
            now.iter().map(BTreeMap::len).collect::<Vec<_>>(),
            tail(&replicas[0].proc.log_text(), 30)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    let mut union: BTreeMap<Key, usize> = BTreeMap::new();
    for (i, p) in owned.iter().enumerate() {
        assert!(!p.is_empty(), "replica {i} owns some tuples");
        for k in p.keys() {
            if let Some(other) = union.insert(k.clone(), i) {
                panic!("{k:?} exported by replicas {other} and {i}");
            }
        }
    }
    assert_eq!(union.len(), total);
    for (i, r) in replicas.iter().enumerate() {
        let m = r.scrape();
        let index = i.to_string();
        assert_eq!(
            m.value(
                "bedrock_access_exporter_shard_info",
                &[("index", index.as_str()), ("count", "3")]
            ),
            Some(1.0)
        );
        let (shard, rows) = shown(r);
        assert_eq!(shard["index"], i);
        assert_eq!(shard["count"], 3);
        assert_eq!(
            rows.len(),
            owned[i].len(),
            "the status page shows this shard's tuples"
        );
    }

    // Each account of the many-account target is probed with its own role: the one without
    // the role fails alone, at assume_role, under its own account id.
    let missing = account(30);
    for p in &owned {
        for ((target, acct, _, _), ok) in p {
            let want = if target == "fleet" && *acct == missing {
                0.0
            } else {
                1.0
            };
            assert_eq!(*ok, want, "{target} {acct}");
        }
    }
    let failing: usize = replicas
        .iter()
        .map(|r| {
            r.scrape()
                .find(
                    "bedrock_access_failure_info",
                    &[("account_id", missing.as_str()), ("layer", "assume_role")],
                )
                .len()
        })
        .sum();
    assert_eq!(
        failing,
        2 * 3,
        "the missing role's 6 tuples fail at assume_role"
    );

    // Two more rounds, then: one AssumeRole per account × region per round across the fleet.
    std::thread::sleep(Duration::from_secs(20));
    drop(replicas);
    let seen = sim.stop();
    let assumed = seen["assume_role"].as_array().cloned().unwrap_or_default();
    let gates: BTreeSet<(String, String)> = assumed
        .iter()
        .map(|a| {
            (
                a["role_arn"].as_str().unwrap_or_default().to_string(),
                a["region"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        gates.len(),
        32 * 2,
        "every account's role in each region: {gates:?}"
    );
    for a in &assumed {
        assert!(a["count"].as_u64().unwrap_or(0) >= 2, "{a}");
        let gap = a["min_gap_seconds"].as_f64().unwrap_or(f64::MAX);
        assert!(
            gap >= 5.0,
            "two AssumeRoles of one role and region within a round: {a}"
        );
    }

    // A fourth replica takes its share; the others keep theirs.
    let four: Vec<Exporter> = (0..4)
        .map(|i| replica(dir.path(), &config, &aws, "http://127.0.0.1:9", i, 4))
        .collect();
    let mut moved = 0;
    let mut seen_four = 0;
    for (i, r) in four.iter().enumerate() {
        let (_, rows) = shown(r);
        seen_four += rows.len();
        moved += rows.iter().filter(|k| union.get(*k) != Some(&i)).count();
    }
    assert_eq!(
        seen_four, total,
        "four replicas still cover every tuple once"
    );
    let share = moved as f64 / total as f64;
    assert!(
        share > 0.0 && share <= 0.35,
        "{moved} of {total} tuples moved"
    );
}

fn org_config(dir: &Path) -> PathBuf {
    let text = r#"
[probe]
interval = "10s"
timeout = "5s"

[[targets]]
name = "org"
role_name = "bedrock-prober"
accounts_from = { organization = true, ous = ["ou-fl01-prod0001"], exclude = ["200000000009"], refresh = "10s" }
regions = ["us-east-1"]
models = ["amazon.titan-text-express-v1"]
"#;
    let p = dir.join("exporter.toml");
    std::fs::write(&p, text).expect("write config");
    p
}

fn accounts_probed(e: &Exporter) -> BTreeSet<String> {
    probed(e).keys().map(|k| k.1.clone()).collect()
}

fn wait_accounts(e: &Exporter, want: &[usize], what: &str) {
    let want: BTreeSet<String> = want.iter().map(|i| account(*i)).collect();
    let start = Instant::now();
    loop {
        let got = accounts_probed(e);
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "{what}: probing {got:?}, want {want:?}\n{}",
            tail(&e.proc.log_text(), 40)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn accounts_discovered_from_the_organization_come_and_go_and_a_failure_keeps_the_last_list() {
    let dir = tempfile::tempdir().expect("tempdir");
    let roles: Vec<usize> = (0..10).collect();
    let prod = "ou-fl01-prod0001";
    let dev = "ou-fl01-devs0001";
    // Accounts 0 and 1 in prod, 2 in dev (not probed: OU filter), 3 in prod but suspended,
    // 9 in prod but excluded.
    let first = [
        (0, prod, "ACTIVE"),
        (1, prod, "ACTIVE"),
        (2, dev, "ACTIVE"),
        (3, prod, "SUSPENDED"),
        (9, prod, "ACTIVE"),
    ];
    let sim = CountingSim::start(dir.path(), &scenario(&roles, &[], &first));
    let aws = write_aws_config(dir.path());
    let config = org_config(dir.path());
    let e = Exporter::start(dir.path(), &config, &aws, &sim.url);
    wait_accounts(&e, &[0, 1], "first discovery");
    let m = e.scrape();
    assert_eq!(
        m.value(
            "bedrock_access_exporter_discovery_success",
            &[("target", "org")]
        ),
        Some(1.0)
    );
    assert_eq!(
        m.value(
            "bedrock_access_exporter_discovery_accounts",
            &[("target", "org")]
        ),
        Some(2.0)
    );

    // Account 4 joins prod, account 1 leaves the organization: after the next refresh the
    // series follow.
    let second = [(0, prod, "ACTIVE"), (2, dev, "ACTIVE"), (4, prod, "ACTIVE")];
    sim.reload(&scenario(&roles, &[], &second));
    wait_accounts(&e, &[0, 4], "an account joined, one left");
    assert!(
        !e.scrape().text.contains(&account(1)),
        "the departed account's series are gone"
    );

    // The organization is gone for this account: discovery fails, the last list stays.
    sim.reload(&scenario(&roles, &[], &[]));
    let m = e.scrape_until(Duration::from_secs(30), "discovery failure exported", |m| {
        m.value(
            "bedrock_access_exporter_discovery_success",
            &[("target", "org")],
        ) == Some(0.0)
    });
    assert_eq!(
        m.value(
            "bedrock_access_exporter_discovery_failure_info",
            &[
                ("target", "org"),
                ("reason", "organizations_not_in_use"),
                ("error_code", "AWSOrganizationsNotInUseException")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        accounts_probed(&e),
        [account(0), account(4)].into_iter().collect()
    );
    assert!(
        e.proc.log_text().contains("the last known list stays"),
        "the failure is logged with what it means"
    );
    drop(e);
    let _ = sim.stop();
}

#[test]
fn a_burst_of_probes_stays_under_the_accounts_limit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sim = CountingSim::start(dir.path(), &scenario(&[0], &[], &[]));
    let aws = write_aws_config(dir.path());
    let text = format!(
        r#"
[probe]
interval = "10m"
timeout = "30s"
concurrency = 16

[limits]
bedrock_per_second = 4

[[targets]]
name = "burst"
role_name = "bedrock-prober"
accounts = ["{}"]
regions = ["{}", "{}"]
models = ["anthropic.claude-3-haiku-20240307-v1:0", "amazon.titan-text-express-v1", "meta.llama3-8b-instruct-v1:0"]
"#,
        account(0),
        REGIONS[0],
        REGIONS[1]
    );
    let config = dir.path().join("exporter.toml");
    std::fs::write(&config, text).expect("write config");
    let e = Exporter::start(dir.path(), &config, &aws, &sim.url);
    // The background round probes the six tuples too; then two bursts on demand.
    let started = Instant::now();
    for _ in 0..2 {
        let (status, body) = e.get(&format!("/probe?target=burst&account={}", account(0)));
        assert_eq!(status, 200, "{body}");
        let probed = common::Metrics::parse(&body);
        let success = probed.find("bedrock_access_probe_success", &[]);
        assert_eq!(success.len(), 6, "{body}");
        assert!(success.iter().all(|s| s.value == 1.0), "{body}");
    }
    let took = started.elapsed();
    let m = e.scrape();
    let delayed = m
        .value(
            "bedrock_access_exporter_pacing_delay_seconds_count",
            &[("service", "bedrock")],
        )
        .unwrap_or(0.0);
    assert!(
        delayed >= 24.0,
        "every Bedrock call went through the pacer: {delayed}"
    );
    assert_eq!(
        m.value(
            "bedrock_access_exporter_pacing_limit",
            &[("service", "bedrock")]
        ),
        Some(4.0)
    );
    drop(e);
    let seen = sim.stop();
    let acct = account(0);
    let p = peak(&seen, &acct, "bedrock");
    assert!(
        (2..=4).contains(&p),
        "peak Bedrock calls per second in the account: {p}"
    );
    let total = seen["accounts"][acct.as_str()]["bedrock"]["total"]
        .as_u64()
        .unwrap_or(0);
    assert!(
        total >= 24,
        "two bursts of six tuples, two calls each: {total}"
    );
    assert!(
        took >= Duration::from_secs(5),
        "24 calls at 4/s take about 6 s: {took:?}"
    );
}
