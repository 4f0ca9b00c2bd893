//! Fakes shared by the runtime tests: configurations built in code, scripted probe reports and
//! a fake prober that records its calls and counts concurrency.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bedrock_access_exporter::config::{
    Config, ConfigError, Expect, InvokeMode, ProbeSettings, Problem, Source, Target, TupleKey,
};
use bedrock_access_exporter::probe::{
    Availability, Failure, LayerResult, LayerStatus, ProbeReport, Round,
};
use bedrock_access_exporter::reason::{Layer, Reason};
use bedrock_access_exporter::schedule::ProbeFn;

pub fn settings(interval: Duration) -> ProbeSettings {
    ProbeSettings {
        interval,
        timeout: Duration::from_secs(30).min(interval),
        concurrency: 8,
        invoke: InvokeMode::Converse,
        invoke_interval: interval,
        model_access: true,
        session_name: "bedrock-access-exporter".into(),
        session_duration: Duration::from_secs(900),
        max_tokens: 1,
        expect: Expect::Allow,
        stream: false,
        service_tier: None,
    }
}

pub fn target(name: &str, regions: &[&str], models: &[&str], interval: Duration) -> Target {
    Target {
        name: name.into(),
        source: "default".into(),
        role_arn: Some("arn:aws:iam::222222222222:role/bedrock-prober".into()),
        external_id: Some("secret-external-id".into()),
        regions: regions.iter().map(|s| s.to_string()).collect(),
        models: models.iter().map(|s| s.to_string()).collect(),
        settings: settings(interval),
        accounts: Default::default(),
    }
}

pub fn config(targets: Vec<Target>) -> Config {
    let defaults = targets
        .first()
        .map(|t| t.settings.clone())
        .unwrap_or_else(|| settings(Duration::from_secs(300)));
    Config {
        path: PathBuf::from("/test/config.toml"),
        defaults,
        sources: vec![Source {
            name: "default".into(),
            profile: None,
            expected_account: None,
            api_key: None,
        }],
        targets,
        limits: Default::default(),
        probe_endpoint: Default::default(),
    }
}

pub fn key(target: &str, region: &str, model: &str) -> TupleKey {
    TupleKey {
        target: target.into(),
        account: String::new(),
        aws_region: region.into(),
        model_id: model.into(),
    }
}

pub fn pass(layer: Layer) -> LayerResult {
    LayerResult {
        layer,
        status: LayerStatus::Passed,
        duration: Duration::from_millis(12),
        call: format!("{layer} call"),
    }
}

pub fn fail(layer: Layer, reason: Reason, code: Option<&str>) -> LayerResult {
    LayerResult {
        layer,
        status: LayerStatus::Failed(Failure {
            reason,
            error_code: code.map(str::to_string),
            http_status: Some(403),
            request_id: Some("req-0001".into()),
            message: "User is not authorized to perform the action".into(),
        }),
        duration: Duration::from_millis(40),
        call: format!("{layer} call"),
    }
}

pub fn available() -> Availability {
    Availability {
        agreement: "AVAILABLE".into(),
        authorization: "AUTHORIZED".into(),
        entitlement: "AVAILABLE".into(),
        region: "AVAILABLE".into(),
    }
}

/// A report for `key` with these layers; invoke_ran when an invoke layer is present.
pub fn report(key: &TupleKey, layers: Vec<LayerResult>) -> ProbeReport {
    let invoke_ran = layers.iter().any(|l| l.layer == Layer::Invoke);
    let reached_model = layers.iter().any(|l| l.layer == Layer::ModelAccess);
    ProbeReport {
        key: key.clone(),
        account_id: "222222222222".into(),
        role_name: "bedrock-prober".into(),
        layers,
        availability: reached_model.then(available),
        tokens: invoke_ran.then_some((9, 1)),
        invoke_ran,
        finished_at: SystemTime::now(),
        lifecycle: None,
    }
}

/// Every layer passed (invoke only if `run_invoke`).
pub fn all_passed(key: &TupleKey, run_invoke: bool) -> ProbeReport {
    let mut layers = vec![
        pass(Layer::Credentials),
        pass(Layer::AssumeRole),
        pass(Layer::ModelAccess),
    ];
    if run_invoke {
        layers.push(pass(Layer::Invoke));
    }
    report(key, layers)
}

/// One recorded call of the fake prober.
#[derive(Debug, Clone)]
pub struct Call {
    pub key: TupleKey,
    pub run_invoke: bool,
    pub at: tokio::time::Instant,
    pub round: usize,
}

type Script = Box<dyn Fn(&TupleKey, bool) -> ProbeReport + Send + Sync>;

/// A prober that answers from a script after `delay`, recording every call.
pub struct FakeProber {
    script: Script,
    pub delay: Duration,
    pub calls: Mutex<Vec<Call>>,
    pub rounds: AtomicUsize,
    in_flight: AtomicUsize,
    pub max_in_flight: AtomicUsize,
}

impl FakeProber {
    pub fn new(
        delay: Duration,
        script: impl Fn(&TupleKey, bool) -> ProbeReport + Send + Sync + 'static,
    ) -> Arc<FakeProber> {
        Arc::new(FakeProber::owned(delay, script))
    }

    pub fn owned(
        delay: Duration,
        script: impl Fn(&TupleKey, bool) -> ProbeReport + Send + Sync + 'static,
    ) -> FakeProber {
        FakeProber {
            script: Box::new(script),
            delay,
            calls: Mutex::new(Vec::new()),
            rounds: AtomicUsize::new(0),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        }
    }

    /// A prober where every layer passes.
    pub fn passing(delay: Duration) -> Arc<FakeProber> {
        FakeProber::new(delay, all_passed)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().map(|c| c.clone()).unwrap_or_default()
    }

    pub fn calls_for(&self, key: &TupleKey) -> Vec<Call> {
        self.calls().into_iter().filter(|c| &c.key == key).collect()
    }
}

// Rounds are told apart by the order they were made in: `new_round` bumps the counter, and a
// call records the counter's value when it starts (tuples of one period start after their
// period's round was made and before the next one is).
impl ProbeFn for FakeProber {
    fn new_round(&self) -> Round {
        self.rounds.fetch_add(1, Ordering::SeqCst);
        Round::default()
    }

    async fn probe(
        &self,
        target: &Target,
        region: &str,
        model: &str,
        _round: &Round,
        run_invoke: bool,
    ) -> ProbeReport {
        let key = TupleKey {
            target: target.name.clone(),
            account: String::new(),
            aws_region: region.into(),
            model_id: model.into(),
        };
        let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_in_flight.fetch_max(now, Ordering::SeqCst);
        if let Ok(mut c) = self.calls.lock() {
            c.push(Call {
                key: key.clone(),
                run_invoke,
                at: tokio::time::Instant::now(),
                round: self.rounds.load(Ordering::SeqCst),
            });
        }
        struct Leave<'a>(&'a AtomicUsize);
        impl Drop for Leave<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let _leave = Leave(&self.in_flight);
        tokio::time::sleep(self.delay).await;
        (self.script)(&key, run_invoke)
    }
}

/// The sample lines of `text` for metric `name` whose labels contain every `want` pair.
pub fn samples<'a>(text: &'a str, name: &str, want: &[(&str, &str)]) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            l.split_once('{')
                .map(|(n, _)| n == name)
                .unwrap_or_else(|| l.split(' ').next() == Some(name))
        })
        .filter(|l| {
            want.iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .collect()
}

/// The value of the single sample matching, if exactly one.
pub fn value(text: &str, name: &str, want: &[(&str, &str)]) -> Option<f64> {
    let s = samples(text, name, want);
    if s.len() != 1 {
        return None;
    }
    s[0].rsplit(' ').next().and_then(|v| v.parse().ok())
}

/// A fake configuration loader: one target per line, `NAME REGION MODEL [deny]` (lines of the
/// same name add regions and models); a line `bad FIELD MESSAGE` is a validation problem.
pub fn load_lines(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        problems: vec![Problem {
            file: path.to_owned(),
            line: None,
            target: None,
            field: String::new(),
            message: e.to_string(),
        }],
    })?;
    let mut targets: Vec<Target> = Vec::new();
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["bad", field, msg @ ..] => problems.push(Problem {
                file: path.to_owned(),
                line: Some(n + 1),
                target: None,
                field: field.to_string(),
                message: msg.join(" "),
            }),
            [name, region, model, rest @ ..] => {
                let mut t = target(name, &[region], &[model], Duration::from_secs(3600));
                if rest.contains(&"deny") {
                    t.settings.expect = Expect::Deny;
                }
                if rest.contains(&"stream") {
                    t.settings.stream = true;
                }
                match targets.iter_mut().find(|x| x.name == *name) {
                    Some(x) => {
                        if !x.regions.contains(&region.to_string()) {
                            x.regions.push(region.to_string());
                        }
                        if !x.models.contains(&model.to_string()) {
                            x.models.push(model.to_string());
                        }
                    }
                    None => targets.push(t),
                }
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(config(targets))
    } else {
        Err(ConfigError { problems })
    }
}

/// prod fails at assume_role (trust), every other target passes.
pub fn scripted() -> FakeProber {
    FakeProber::owned(Duration::from_millis(5), |k, run_invoke| {
        if k.target == "prod" {
            report(
                k,
                vec![
                    pass(Layer::Credentials),
                    fail(
                        Layer::AssumeRole,
                        Reason::TrustPolicyDenied,
                        Some("AccessDenied"),
                    ),
                ],
            )
        } else {
            all_passed(k, run_invoke)
        }
    })
}
