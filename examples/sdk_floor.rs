//! The AWS SDK for Rust's own floor: the CPU one signed call costs through the exporter's
//! clients, with nothing of the exporter around it (no probe, no schedule, no HTTP server).
//! `benches/probe_cost.py` runs it in the same run as the exporter and the other tools, so the
//! per-probe ratios can be read against what four SDK calls cost at the least.
//!
//! usage: sdk_floor [CALLS]   (default 2000, after 50 warm-up calls)
//!
//! It makes CALLS sequential STS `GetCallerIdentity` calls on one current-thread runtime through
//! the exporter's STS client (the process's pooled HTTP client with `AWS_CA_BUNDLE`, the
//! probe's retry policy, static credentials given per operation, as the probes give them) and
//! prints one JSON line: calls, CPU seconds (utime + stime of this process), CPU milliseconds per
//! call, wall milliseconds per call. The endpoint and credentials come from the environment
//! (`AWS_ENDPOINT_URL_STS`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`).

use std::time::{Duration, Instant};

use anyhow::Context;
use aws_credential_types::Credentials;
use bedrock_access_exporter::config::Source;
use bedrock_access_exporter::probe::aws::load_source_config;
use bedrock_access_exporter::probe::clients::{RegionClients, sts_call};

const WARM_UP: usize = 50;

/// utime + stime of this process, in seconds (`/proc/self/stat`, fields 14 and 15).
fn cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<f64> {
        let field = fields.get(i).context("short /proc/self/stat")?;
        Ok(field.parse::<f64>()?)
    };
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12. Their
    // unit is USER_HZ, 100 on Linux (x86-64, arm64).
    let hz = 100.0;
    Ok((ticks(11)? + ticks(12)?) / hz)
}

fn main() -> anyhow::Result<()> {
    let calls: usize = match std::env::args().nth(1) {
        Some(n) => n.parse().context("CALLS must be a number")?,
        None => 2000,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(calls.max(1)))
}

async fn run(calls: usize) -> anyhow::Result<()> {
    let source = Source {
        name: "floor".into(),
        profile: None,
        expected_account: None,
        api_key: None,
    };
    let sdk = load_source_config(&source, None).await;
    let clients = RegionClients::new(&sdk, "us-east-1");
    let key = std::env::var("AWS_ACCESS_KEY_ID").context("AWS_ACCESS_KEY_ID")?;
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").context("AWS_SECRET_ACCESS_KEY")?;
    let creds = Credentials::new(key, secret, None, None, "sdk-floor");
    let call = || {
        clients
            .sts
            .get_caller_identity()
            .customize()
            .config_override(sts_call(creds.clone(), Duration::from_secs(10)))
            .send()
    };
    for _ in 0..WARM_UP {
        call().await.context("GetCallerIdentity (warm-up)")?;
    }
    let (cpu0, wall0) = (cpu_seconds()?, Instant::now());
    for _ in 0..calls {
        call().await.context("GetCallerIdentity")?;
    }
    let cpu = cpu_seconds()? - cpu0;
    let wall = wall0.elapsed().as_secs_f64();
    println!(
        "{{\"calls\": {calls}, \"cpu_s\": {cpu:.3}, \"cpu_ms_per_call\": {:.4}, \"wall_ms_per_call\": {:.4}}}",
        cpu * 1000.0 / calls as f64,
        wall * 1000.0 / calls as f64
    );
    Ok(())
}
