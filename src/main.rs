//! `bedrock-access-exporter`: the daemon and its subcommands (`docs/interface.md`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

use bedrock_access_exporter::config;
use bedrock_access_exporter::daemon::{self, DaemonOptions};
use bedrock_access_exporter::diagnose;
use bedrock_access_exporter::logging::{self, LEVELS, LogFormat};
use bedrock_access_exporter::metrics::{VERSION, revision};
use bedrock_access_exporter::shard::{Shard, ShardError};
use bedrock_access_exporter::shutdown::{self, Signals};
use bedrock_access_exporter::sim;
use bedrock_access_exporter::web;

/// The process's allocator: mimalloc costs less CPU per probe than the system's malloc (the
/// SDK's calls allocate and free many small objects; README, "What one probe costs").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Probes cross-account AWS Bedrock access layer by layer and exports the results for
/// Prometheus.
#[derive(Debug, Parser)]
#[command(name = "bedrock-access-exporter", disable_version_flag = true)]
struct Cli {
    /// Configuration file (TOML, or YAML when it ends in .yaml/.yml).
    #[arg(long = "config.file", global = true, default_value = config::DEFAULT_PATH, value_name = "PATH")]
    config_file: PathBuf,

    #[command(flatten)]
    web: web::WebFlags,

    /// Log level.
    #[arg(long = "log.level", global = true, default_value = "info", value_parser = LEVELS)]
    log_level: String,

    /// Log format.
    #[arg(
        long = "log.format",
        global = true,
        value_enum,
        default_value = "logfmt"
    )]
    log_format: LogFormat,

    /// How many replicas share the tuples (each probes and exports only its shard).
    #[arg(
        long = "shard.count",
        env = "BEDROCK_EXPORTER_SHARD_COUNT",
        default_value_t = 1,
        value_name = "N"
    )]
    shard_count: u32,

    /// This replica's shard, 0 to N-1, or `auto`: the ordinal of a StatefulSet pod's hostname
    /// (`name-3` → 3).
    #[arg(
        long = "shard.index",
        env = "BEDROCK_EXPORTER_SHARD_INDEX",
        default_value = "0",
        value_name = "I|auto"
    )]
    shard_index: String,

    /// Print the version and revision, and exit.
    #[arg(long = "version")]
    version: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate the configuration and print the expanded tuples (exit 0 valid, 1 invalid).
    CheckConfig,
    /// Probe now, once, and print the diagnostic checklist per tuple (exit 0 all pass, 1 any
    /// fail, 2 bad usage or configuration).
    Diagnose {
        /// Only this target.
        #[arg(long, value_name = "NAME")]
        target: Option<String>,
        /// Only this account (of a many-account target).
        #[arg(long, value_name = "ACCOUNT")]
        account: Option<String>,
        /// Only this region.
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        /// Only this model id.
        #[arg(long, value_name = "MODEL")]
        model: Option<String>,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        output: DiagnoseOutput,
    },
    /// Run the bundled AWS simulator with the demo scenario and the daemon against it.
    Demo {
        /// The simulator over HTTPS, with a CA made up at start that the daemon trusts through
        /// AWS_CA_BUNDLE.
        #[arg(long)]
        tls: bool,
    },
    /// Run the bundled AWS simulator alone.
    Simulate {
        /// Scenario file.
        #[arg(long, value_name = "PATH")]
        scenario: PathBuf,
        /// Loopback address to listen on; repeat it for several listeners (e.g. one per
        /// service, set with AWS_ENDPOINT_URL_STS, _BEDROCK, _BEDROCK_RUNTIME).
        #[arg(long, default_value = "127.0.0.1:4566")]
        listen: Vec<SocketAddr>,
        #[command(flatten)]
        tls: SimTlsArgs,
        /// Write what the simulator saw (calls per operation, peak calls per second per account,
        /// AssumeRole per role and region) to this JSON file when it stops.
        #[arg(long = "counts-file", value_name = "PATH")]
        counts_file: Option<PathBuf>,
    },
}

/// `simulate`'s HTTPS flags.
#[derive(Debug, clap::Args)]
struct SimTlsArgs {
    /// Serve HTTPS with a certificate signed by a CA made up at start (for 127.0.0.1, ::1,
    /// localhost and sts./iam./bedrock./bedrock-runtime.localhost); the CA's PEM file is
    /// printed, for AWS_CA_BUNDLE.
    #[arg(long)]
    tls: bool,
    /// Where to write the made-up CA's certificate (default: a file in the temporary
    /// directory, removed at exit).
    #[arg(long = "tls.ca-file", value_name = "PATH", requires = "tls")]
    ca_file: Option<PathBuf>,
    /// Another name (DNS name or IP address) for the generated server certificate; repeatable.
    #[arg(long = "tls.hostname", value_name = "NAME", requires = "tls")]
    hostnames: Vec<String>,
    /// Serve HTTPS with this certificate chain (PEM) instead of a made-up CA.
    #[arg(long = "tls.cert-file", value_name = "PATH", requires = "key_file", conflicts_with_all = ["ca_file", "hostnames"])]
    cert_file: Option<PathBuf>,
    /// The private key (PEM) of --tls.cert-file.
    #[arg(long = "tls.key-file", value_name = "PATH", requires = "cert_file")]
    key_file: Option<PathBuf>,
}

impl SimTlsArgs {
    fn options(&self) -> Option<sim::TlsOptions> {
        if let (Some(cert), Some(key)) = (&self.cert_file, &self.key_file) {
            return Some(sim::TlsOptions::Files {
                cert: cert.clone(),
                key: key.clone(),
            });
        }
        self.tls.then(|| sim::TlsOptions::Generate {
            ca_file: self.ca_file.clone(),
            hostnames: self.hostnames.clone(),
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.version {
        println!(
            "bedrock-access-exporter {VERSION} (revision {})",
            revision()
        );
        return ExitCode::SUCCESS;
    }
    if let Err(e) = logging::init(&cli.log_level, cli.log_format) {
        eprintln!("bedrock-access-exporter: {e}");
        return ExitCode::from(2);
    }
    match cli.command {
        Some(Command::CheckConfig) => check_config(&cli.config_file),
        Some(Command::Diagnose {
            ref target,
            ref account,
            ref region,
            ref model,
            output,
        }) => {
            let selection = diagnose::Selection {
                target: target.clone(),
                account: account.clone(),
                region: region.clone(),
                model: model.clone(),
            };
            run_diagnose(&cli.config_file, &selection, output)
        }
        Some(Command::Simulate {
            ref scenario,
            ref listen,
            ref tls,
            ref counts_file,
        }) => {
            let options = sim::SimulateOptions {
                scenario: scenario.clone(),
                listen: listen.clone(),
                tls: tls.options(),
                counts_file: counts_file.clone(),
            };
            exit_from(
                runtime().and_then(|rt| rt.block_on(sim::run(&options)).context("AWS simulator")),
            )
        }
        Some(Command::Demo { tls }) => {
            match runtime().and_then(|rt| rt.block_on(demo(&cli, tls))) {
                Ok(code) => code,
                Err(e) => {
                    eprintln!("bedrock-access-exporter demo: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        None => {
            let shard = match shard_of(&cli) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("bedrock-access-exporter: {e}");
                    return ExitCode::from(2);
                }
            };
            let opts = DaemonOptions {
                config_file: cli.config_file.clone(),
                listen_address: cli.web.first_address().to_string(),
                shard,
            };
            let web = cli.web.options();
            exit_from(runtime().and_then(|rt| {
                rt.block_on(daemon::run(opts, web))
                    .map_err(anyhow::Error::from)
            }))
        }
    }
}

/// The shard of `--shard.index`/`--shard.count`; `auto` reads the hostname (`HOSTNAME`, else
/// the kernel's).
fn shard_of(cli: &Cli) -> Result<Shard, ShardError> {
    let hostname = std::env::var("HOSTNAME").ok().or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
    });
    Shard::parse(&cli.shard_index, cli.shard_count, hostname.as_deref())
}

/// `diagnose --output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DiagnoseOutput {
    Text,
    Json,
}

/// Every problem of an invalid configuration file, on stderr.
fn print_config_problems(path: &Path, e: &config::ConfigError) {
    let text = format!(
        "{}: invalid, {} problem(s):\n{e}\n",
        path.display(),
        e.problems.len()
    );
    write_quietly(&mut std::io::stderr().lock(), &text);
}

/// Writes `text`; a closed pipe (`check-config | head -1`) or a full disk ends the output
/// quietly instead of panicking as `print!` would.
fn write_quietly(out: &mut dyn std::io::Write, text: &str) {
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// `diagnose`: load, select, probe now, print; exit 0 all pass, 1 any fail, 2 bad usage/config.
fn run_diagnose(path: &Path, selection: &diagnose::Selection, output: DiagnoseOutput) -> ExitCode {
    let cfg = match config::load(path) {
        Ok(cfg) => cfg,
        Err(e) => {
            print_config_problems(path, &e);
            return ExitCode::from(2);
        }
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bedrock-access-exporter diagnose: {e:#}");
            return ExitCode::from(2);
        }
    };
    let cfg = rt.block_on(discover_accounts(cfg));
    let tuples = match diagnose::select(&cfg, selection) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("bedrock-access-exporter diagnose: {e}");
            return ExitCode::from(2);
        }
    };
    let result = rt.block_on(async {
        let prober = bedrock_access_exporter::probe::Prober::new(&cfg).await;
        diagnose::diagnose(&prober, &tuples).await
    });
    let text = match output {
        DiagnoseOutput::Text => diagnose::render::text(&result),
        DiagnoseOutput::Json => format!("{}\n", diagnose::render::json(&result)),
    };
    write_quietly(&mut std::io::stdout().lock(), &text);
    if result.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// `cfg` with the accounts its `accounts_from` targets find now (a failure is printed, and that
/// target has no accounts to diagnose).
async fn discover_accounts(cfg: config::Config) -> config::Config {
    if cfg.discovering().next().is_none() {
        return cfg;
    }
    let prober = bedrock_access_exporter::probe::Prober::new(&cfg).await;
    let mut found = std::collections::HashMap::new();
    for (t, d) in cfg.discovering() {
        match prober.discover(t, d).await {
            Ok(accounts) => {
                found.insert(t.name.clone(), accounts);
            }
            Err(f) => eprintln!(
                "bedrock-access-exporter diagnose: target {:?}: discovering accounts failed: {} ({}): {}; fix: {}",
                t.name,
                f.reason.as_str(),
                f.error_code.as_deref().unwrap_or("no error code"),
                f.message,
                f.reason.fix()
            ),
        }
    }
    cfg.with_discovered(|name| found.get(name).cloned())
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn exit_from(r: anyhow::Result<()>) -> ExitCode {
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bedrock-access-exporter: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(path: &Path) -> ExitCode {
    match config::load(path) {
        Ok(cfg) => {
            let text = format!(
                "{}: valid, {} target(s), {} tuple(s)\n{}",
                path.display(),
                cfg.targets.len(),
                cfg.tuples().len(),
                cfg.describe_tuples()
            );
            write_quietly(&mut std::io::stdout().lock(), &text);
            ExitCode::SUCCESS
        }
        Err(e) => {
            print_config_problems(path, &e);
            ExitCode::FAILURE
        }
    }
}

/// Environment variables that could point the demo daemon at real AWS credentials.
const AWS_CREDENTIAL_ENV: [&str; 10] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
];

/// Loopback hosts the demo daemon must reach directly (the simulator listens on 127.0.0.1).
const LOOPBACK_NO_PROXY: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

/// The user's `NO_PROXY` list with the loopback hosts appended (once).
fn demo_no_proxy(existing: Option<&str>) -> String {
    let mut entries: Vec<String> = existing
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .collect();
    for host in LOOPBACK_NO_PROXY {
        if !entries.iter().any(|e| e.eq_ignore_ascii_case(host)) {
            entries.push(host.to_string());
        }
    }
    entries.join(",")
}

/// `demo`: the simulator in-process with the demo scenario, and this binary as a child running
/// the daemon against it. Signals are forwarded; exits with the child's status.
async fn demo(cli: &Cli, sim_https: bool) -> anyhow::Result<ExitCode> {
    // The daemon child reads the same web configuration; a bad one stops the demo here.
    let tls = match &cli.web.config_file {
        Some(p) => web::WebState::load(Some(p), false)?.tls(),
        None => false,
    };
    let scheme = if tls { "https" } else { "http" };
    let simulator = sim::Simulator::from_toml(sim::DEMO_SCENARIO, "demo")
        .context("loading the demo scenario")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the simulator to a loopback port")?;
    let sim_addr = listener.local_addr().context("simulator address")?;
    let dir = std::env::temp_dir().join(format!(
        "bedrock-access-exporter-demo-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let sim_tls = if sim_https {
        Some(sim::SimTls::generate(&[]).context("the simulator's certificate")?)
    } else {
        None
    };
    let ca_file = dir.join("simulator-ca.pem");
    if let Some(pem) = sim_tls.as_ref().and_then(sim::SimTls::ca_pem) {
        std::fs::write(&ca_file, pem).context("writing the simulator's CA certificate")?;
    }
    let sim_scheme = if sim_https { "https" } else { "http" };
    let stop = tokio_util::sync::CancellationToken::new();
    let sim_task = tokio::spawn(sim::serve_with(
        simulator,
        listener,
        sim_tls,
        stop.clone().cancelled_owned(),
    ));

    let config_path = dir.join("exporter.toml");
    let aws_config = dir.join("aws-config");
    let empty = dir.join("empty");
    std::fs::write(&config_path, sim::DEMO_EXPORTER_CONFIG).context("writing the demo config")?;
    std::fs::write(&aws_config, sim::DEMO_AWS_CONFIG).context("writing the demo AWS config")?;
    std::fs::write(&empty, "").context("writing the empty credentials file")?;
    for (name, key) in sim::DEMO_API_KEY_FILES {
        write_private(&dir.join(name), key).context("writing a demo API key file")?;
    }

    let exe = std::env::current_exe().context("locating this binary")?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg(format!("--config.file={}", config_path.display()))
        .args(cli.web.forwarded())
        .arg(format!("--log.level={}", cli.log_level))
        .arg(format!(
            "--log.format={}",
            match cli.log_format {
                LogFormat::Logfmt => "logfmt",
                LogFormat::Json => "json",
            }
        ))
        .env("AWS_ENDPOINT_URL", format!("{sim_scheme}://{sim_addr}"))
        .env("AWS_CONFIG_FILE", &aws_config)
        .env("AWS_SHARED_CREDENTIALS_FILE", &empty)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .kill_on_drop(true);
    // The SDK honours HTTP(S)_PROXY, and its matcher does not exempt loopback by itself: keep a
    // proxy of the user's environment from capturing the daemon's calls to the local simulator.
    let no_proxy = demo_no_proxy(
        std::env::var("NO_PROXY")
            .or_else(|_| std::env::var("no_proxy"))
            .ok()
            .as_deref(),
    );
    cmd.env("NO_PROXY", &no_proxy).env("no_proxy", &no_proxy);
    for v in AWS_CREDENTIAL_ENV {
        cmd.env_remove(v);
    }
    if sim_https {
        cmd.env("AWS_CA_BUNDLE", &ca_file);
    }
    // The daemon must not outlive the demo, even one killed with SIGKILL. The parent-death
    // signal follows the spawning thread: this runs on the main thread (`block_on`).
    shutdown::die_with_parent(&mut cmd);
    // Installed before the child starts, so no signal of the demo's falls between the two.
    let mut signals = Signals::install().context("installing the signal handlers")?;
    let mut child = cmd.spawn().context("starting the daemon")?;

    let web = daemon::listen_address(cli.web.first_address())?;
    let web = web.replacen("0.0.0.0:", "127.0.0.1:", 1);
    println!("bedrock-access-exporter demo");
    println!("  metrics:   {scheme}://{web}/metrics");
    println!("  status:    {scheme}://{web}/");
    println!("  simulator: {sim_scheme}://{sim_addr} (AWS_ENDPOINT_URL)");
    if sim_https {
        println!(
            "  CA:        {} (AWS_CA_BUNDLE; made up for this run)",
            ca_file.display()
        );
    }
    println!("  config:    {}", config_path.display());
    println!("Stop with Ctrl-C.");

    let status = wait_forwarding_signals(&mut child, &mut signals).await?;
    stop.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(3), sim_task).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::FAILURE,
    })
}

/// Writes a file only its owner may read (a demo API key).
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}

/// Waits for the daemon to exit, passing SIGTERM, SIGINT and SIGHUP on to it.
async fn wait_forwarding_signals(
    child: &mut tokio::process::Child,
    signals: &mut Signals,
) -> anyhow::Result<std::process::ExitStatus> {
    loop {
        tokio::select! {
            status = child.wait() => return status.context("waiting for the daemon"),
            signal = signals.recv() => {
                if let Err(e) = shutdown::forward(child, signal) {
                    tracing::warn!(error = %e, signal = signal.name(), "cannot pass the signal on to the daemon");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::demo_no_proxy;

    #[test]
    fn demo_daemon_bypasses_a_users_proxy_for_the_loopback_simulator() {
        assert_eq!(demo_no_proxy(None), "127.0.0.1,localhost,::1");
        assert_eq!(
            demo_no_proxy(Some(" .corp.example, 10.0.0.0/8 ,")),
            ".corp.example,10.0.0.0/8,127.0.0.1,localhost,::1"
        );
        assert_eq!(
            demo_no_proxy(Some("LOCALHOST,127.0.0.1")),
            "LOCALHOST,127.0.0.1,::1"
        );
    }
}
