#!/usr/bin/env python3
"""What one probe costs, side by side, in one run, over HTTPS (release build).

usage: python3 benches/probe_cost.py [--binary target/release/bedrock-access-exporter]
                                     [--requests 1000] [--tuples 1000] [--rounds 3]
                                     [--short]

It starts `simulate --tls` (a CA made up at start; one listener per service, as AWS has one
host per service) pinned to CPU 0 with `taskset` when the machine has more than one, and runs
every client on the other CPUs, one after the other, against the same TLS endpoint:

  1. the exporter's `GET /probe` for one tuple (credentials, AssumeRole, model access, invoke),
     `--requests` sequential requests after a warm-up;
  2. the exporter's background schedule at `--tuples` tuples (10 targets x 2 regions x N models,
     the minimum interval of 10 s, concurrency 16), over `--rounds` rounds after the first;
  3. Debian's `prometheus-blackbox-exporter` probing the simulator's tiny HTTPS page
     (`/_sim/healthy`) with an `http_2xx` module that trusts the CA, `--requests` sequential
     `GET /probe` requests;
  4. a boto3 script making the same four calls as one probe (GetCallerIdentity, AssumeRole,
     GetFoundationModelAvailability, Converse) with its clients built once, `--requests`
     times;
  5. the AWS SDK for Rust's own floor (`examples/sdk_floor.rs`, built next to `--binary`):
     sequential STS GetCallerIdentity calls through the exporter's client, nothing else, on
     one thread, `--requests` x 2 calls.

For each it reports the whole process's CPU time (utime + stime from /proc, or getrusage for
the boto3 script's own process) per probe, and the connections the simulator accepted and the
AWS calls it answered (its `GET /_sim/metrics`), then the ratios and the goals: a four-layer probe at most 0.15 x
blackbox's one HTTPS probe (aim 0.1) and at most 0.05 x the boto3 script; background probing of
10,000 tuples at a 60 s interval under 10 % of one core (derived from the per-probe figure of
step 2). With the floor it also prints what the SDK's calls alone cost per probe (the floor
times the AWS calls one `/probe` made) against blackbox: the least any probe built on the SDK
could cost. `--short` is the quick form (a few probes, 100 tuples, one measured round) that checks
that every step works; it asserts nothing timed. Nothing leaves loopback.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")
KEY_ID, SECRET = "AKIACOSTBENCHSOURCE1", "costBenchSourceSecretKey0000000000000001"
ROLE_ARN = "arn:aws:iam::222222222222:role/CostProbeRole"
EXTERNAL_ID = "cost-bench-external-id"
MODEL = "amazon.cost-model-000-v1:0"
REGIONS = ["us-east-1", "us-west-2"]
SERVICES = ["sts", "bedrock", "runtime", "reader"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit=30):
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port} after {limit} s")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def pinning():
    """(simulator prefix, clients prefix): the simulator on CPU 0, the rest on the others."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2 or not shutil.which("taskset"):
        return [], []
    rest = ",".join(str(c) for c in cpus[1:])
    return ["taskset", "-c", str(cpus[0])], ["taskset", "-c", rest]


def scenario(models):
    out = [textwrap.dedent(f'''\
        default_grant = "granted"

        [[accounts]]
        id = "111111111111"

        [[accounts]]
        id = "222222222222"

        [[users]]
        account = "111111111111"
        name = "cost-prober"
        access_keys = [{{ id = "{KEY_ID}", secret = "{SECRET}" }}]
        policies = ['{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}]}}']

        [[roles]]
        account = "222222222222"
        name = "CostProbeRole"
        trust_policy = '{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::111111111111:root"}},"Action":"sts:AssumeRole","Condition":{{"StringEquals":{{"sts:ExternalId":"{EXTERNAL_ID}"}}}}}}]}}'
        policies = ['{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}}]}}']
        ''')]
    for i in range(models):
        out.append(f'[[models]]\nid = "amazon.cost-model-{i:03d}-v1:0"\nname = "Cost model {i}"\n'
                   f'provider = "Amazon"\nregions = {json.dumps(REGIONS)}\n')
    return "\n".join(out)


def exporter_config(targets, models, interval):
    model_list = ", ".join(f'"amazon.cost-model-{i:03d}-v1:0"' for i in range(models))
    out = [f'[probe]\ninterval = "{interval}"\ntimeout = "10s"\nconcurrency = 16\n\n'
           # One account for every target: the pace must not be what is measured.
           '[limits]\nsts_per_second = 1000\nbedrock_per_second = 1000\n\n'
           '[[sources]]\nname = "bench"\nprofile = "bench"\n']
    for t in range(targets):
        out.append(f'[[targets]]\nname = "cost-{t:03d}"\nsource = "bench"\nrole_arn = "{ROLE_ARN}"\n'
                   f'external_id = "{EXTERNAL_ID}"\nregions = {json.dumps(REGIONS)}\nmodels = [{model_list}]\n')
    return "\n".join(out)


class Bench:
    def __init__(self, args, tmp):
        self.args, self.tmp = args, tmp
        self.sim_pin, self.pin = pinning()
        self.procs = []
        self.ports = {s: free_port() for s in SERVICES}
        self.ca = os.path.join(tmp, "simulator-ca.pem")
        self.tls = None  # the CA exists once the simulator has started

    def start(self, cmd, name, env=None, pin=None):
        log = open(os.path.join(self.tmp, f"{name}.log"), "w")
        p = subprocess.Popen((self.pin if pin is None else pin) + cmd, env=env, stdout=log,
                             stderr=subprocess.STDOUT)
        self.procs.append(p)
        return p

    def stop(self, p):
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()

    def url(self, service):
        return f"https://127.0.0.1:{self.ports[service]}"

    def start_simulator(self, models):
        path = os.path.join(self.tmp, "scenario.toml")
        with open(path, "w") as f:
            f.write(scenario(models))
        cmd = [self.args.binary, "simulate", f"--scenario={path}", "--tls", f"--tls.ca-file={self.ca}",
               "--log.level=warn"]
        cmd += [f"--listen=127.0.0.1:{self.ports[s]}" for s in SERVICES]
        self.sim = self.start(cmd, "simulator", pin=self.sim_pin)
        for s in SERVICES:
            wait_port(self.ports[s])
        self.tls = ssl.create_default_context(cafile=self.ca)

    def sim_counters(self):
        """{(name, labels): value} from the simulator's GET /_sim/metrics (on its reader listener)."""
        with urllib.request.urlopen(f"{self.url('reader')}/_sim/metrics", context=self.tls, timeout=10) as r:
            text = r.read().decode()
        out = {}
        for line in text.splitlines():
            if line.startswith("#") or " " not in line:
                continue
            head, value = line.rsplit(" ", 1)
            out[head] = float(value)
        return out

    def aws_calls(self, before, after):
        """AWS requests the simulator answered between two counter readings."""
        def total(c):
            return sum(v for k, v in c.items() if k.startswith("aws_simulator_requests_total{"))
        return total(after) - total(before)

    def connections(self, before, after, service):
        key = f'aws_simulator_connections_accepted_total{{listener="127.0.0.1:{self.ports[service]}"}}'
        return after.get(key, 0) - before.get(key, 0)

    def exporter_env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
        aws_config = os.path.join(self.tmp, "aws-config")
        with open(aws_config, "w") as f:
            f.write(f"[profile bench]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
                    "region = us-east-1\n")
        empty = os.path.join(self.tmp, "credentials")
        open(empty, "w").close()
        env.update({
            "AWS_ENDPOINT_URL": self.url("sts"),
            "AWS_ENDPOINT_URL_STS": self.url("sts"),
            "AWS_ENDPOINT_URL_BEDROCK": self.url("bedrock"),
            "AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.url("runtime"),
            "AWS_CA_BUNDLE": self.ca,
            "AWS_CONFIG_FILE": aws_config,
            "AWS_SHARED_CREDENTIALS_FILE": empty,
            "AWS_EC2_METADATA_DISABLED": "true",
            "NO_PROXY": "127.0.0.1,localhost,::1",
        })
        return env

    def start_exporter(self, name, config):
        path = os.path.join(self.tmp, f"{name}.toml")
        with open(path, "w") as f:
            f.write(config)
        port = free_port()
        p = self.start([self.args.binary, f"--config.file={path}", f"--web.listen-address=127.0.0.1:{port}",
                        "--log.level=warn"], name, env=self.exporter_env())
        wait_port(port)
        return p, port

    def sequential(self, port, path, check, n):
        """n sequential GETs on one keep-alive connection; each answer must pass `check`."""
        import http.client
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(n):
            client.request("GET", path)
            body = client.getresponse().read().decode()
            if not check(body):
                sys.exit(f"GET {path} did not pass:\n{body[-2000:]}\nlogs in {self.tmp}")
        client.close()

    def measure_sequential(self, proc, port, path, check, n, warmup):
        self.sequential(port, path, check, warmup)
        c0, t0, w0 = self.sim_counters(), cpu_ticks(proc.pid), time.time()
        self.sequential(port, path, check, n)
        ticks, wall = cpu_ticks(proc.pid) - t0, time.time() - w0
        c1 = self.sim_counters()
        return ticks * 1000 / CLK_TCK / n, wall * 1000 / n, c0, c1


def passed(body):
    line = next((l for l in body.splitlines() if l.startswith("bedrock_access_probe_success{")), "")
    return line.endswith(" 1")


def step_probe(b, n):
    exporter, port = b.start_exporter("probe", exporter_config(1, 1, "1h"))
    cpu, wall, c0, c1 = b.measure_sequential(exporter, port, "/probe?target=cost-000&region=us-east-1",
                                             passed, n, warmup=5)
    b.stop(exporter)
    conns = {s: b.connections(c0, c1, s) for s in ("sts", "bedrock", "runtime")}
    return {"cpu_ms": cpu, "wall_ms": wall, "connections": conns, "calls": b.aws_calls(c0, c1) / n}


def probes_total(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        text = r.read().decode()
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith("bedrock_access_probes_total{"))


def step_background(b, tuples, rounds):
    models = max(1, tuples // 20)
    exporter, port = b.start_exporter("background", exporter_config(10, models, "10s"))
    total = 10 * 2 * models
    # The first round warms up (connections, TLS sessions, clients, the store).
    deadline = time.time() + 120
    while probes_total(port) < total:
        if time.time() > deadline:
            sys.exit(f"the first round of {total} tuples did not finish in 120 s; logs in {b.tmp}")
        time.sleep(0.5)
    p0, t0, c0, w0 = probes_total(port), cpu_ticks(exporter.pid), b.sim_counters(), time.time()
    time.sleep(10 * rounds)
    p1, t1, c1, w1 = probes_total(port), cpu_ticks(exporter.pid), b.sim_counters(), time.time()
    b.stop(exporter)
    probes = p1 - p0
    cpu_ms = (t1 - t0) * 1000 / CLK_TCK
    conns = {s: b.connections(c0, c1, s) for s in ("sts", "bedrock", "runtime")}
    return {"tuples": total, "probes": probes, "seconds": w1 - w0, "cpu_ms": cpu_ms / max(probes, 1),
            "core_fraction": cpu_ms / 1000 / (w1 - w0), "connections": conns}


def step_blackbox(b, n):
    binary = shutil.which("prometheus-blackbox-exporter")
    if not binary:
        sys.exit("prometheus-blackbox-exporter not found (apt-get install prometheus-blackbox-exporter)")
    config = os.path.join(b.tmp, "blackbox.yml")
    with open(config, "w") as f:
        f.write(textwrap.dedent(f"""\
            modules:
              http_2xx:
                prober: http
                timeout: 5s
                http:
                  method: GET
                  valid_status_codes: [200]
                  preferred_ip_protocol: ip4
                  tls_config:
                    ca_file: {b.ca}
            """))
    port = free_port()
    proc = b.start([binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{port}",
                    "--log.level=warn"], "blackbox")
    wait_port(port)
    target = urllib.request.quote(f"{b.url('bedrock')}/_sim/healthy", safe="")
    cpu, wall, c0, c1 = b.measure_sequential(proc, port, f"/probe?module=http_2xx&target={target}",
                                             lambda body: "\nprobe_success 1" in body, n, warmup=5)
    b.stop(proc)
    return {"cpu_ms": cpu, "wall_ms": wall, "connections": b.connections(c0, c1, "bedrock")}


BOTO3_SCRIPT = r'''
import json, os, resource, sys, time
import boto3
from botocore.config import Config

n, warmup = int(sys.argv[1]), 5
ca, sts_url, bedrock_url, runtime_url = sys.argv[2:6]
key, secret, role, external_id, model = sys.argv[6:11]
cfg = Config(retries={"max_attempts": 3, "mode": "standard"})
source = boto3.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1")
sts = source.client("sts", endpoint_url=sts_url, verify=ca, config=cfg)
# The Bedrock clients are built once; each probe's assumed credentials are set into the
# credentials object they sign with.
assumed = boto3.Session(aws_access_key_id="-", aws_secret_access_key="-", aws_session_token="-",
                        region_name="us-east-1")
creds = assumed.get_credentials()
bedrock = assumed.client("bedrock", endpoint_url=bedrock_url, verify=ca, config=cfg)
runtime = assumed.client("bedrock-runtime", endpoint_url=runtime_url, verify=ca, config=cfg)

def probe():
    sts.get_caller_identity()
    c = sts.assume_role(RoleArn=role, RoleSessionName="bedrock-access-exporter",
                        ExternalId=external_id, DurationSeconds=900)["Credentials"]
    creds.access_key, creds.secret_key, creds.token = c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]
    a = bedrock.get_foundation_model_availability(modelId=model)
    assert a["authorizationStatus"] == "AUTHORIZED", a
    r = runtime.converse(modelId=model, messages=[{"role": "user", "content": [{"text": "ping"}]}],
                         inferenceConfig={"maxTokens": 1})
    assert r["usage"]["outputTokens"] >= 0, r

for _ in range(warmup):
    probe()
print("ready", flush=True)
sys.stdin.readline()
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.time()
for _ in range(n):
    probe()
r1, t1 = resource.getrusage(resource.RUSAGE_SELF), time.time()
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print(json.dumps({"cpu_ms": cpu * 1000 / n, "wall_ms": (t1 - t0) * 1000 / n}), flush=True)
'''


def step_boto3(b, n):
    script = os.path.join(b.tmp, "boto3_probe.py")
    with open(script, "w") as f:
        f.write(BOTO3_SCRIPT)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull, "NO_PROXY": "127.0.0.1,localhost"})
    p = subprocess.Popen(b.pin + [sys.executable, script, str(n), b.ca, b.url("sts"), b.url("bedrock"),
                                  b.url("runtime"), KEY_ID, SECRET, ROLE_ARN, EXTERNAL_ID, MODEL],
                         env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if p.stdout.readline().strip() != "ready":
        sys.exit("the boto3 script failed in its warm-up")
    c0 = b.sim_counters()
    p.stdin.write("\n")
    p.stdin.flush()
    result = json.loads(p.stdout.readline())
    c1 = b.sim_counters()
    p.wait(timeout=30)
    result["connections"] = {s: b.connections(c0, c1, s) for s in ("sts", "bedrock", "runtime")}
    return result


def step_floor(b, n):
    binary = os.path.join(os.path.dirname(b.args.binary), "examples", "sdk_floor")
    if not os.path.exists(binary):
        profile = ["--release"] if os.sep + "release" + os.sep in binary else []
        subprocess.run(["cargo", "build", "--locked", "--example", "sdk_floor"] + profile,
                       cwd=ROOT, check=True)
    env = b.exporter_env()
    env.update({"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET,
                "AWS_CONFIG_FILE": os.devnull, "AWS_REGION": "us-east-1"})
    c0 = b.sim_counters()
    out = subprocess.run(b.pin + [binary, str(n)], env=env, check=True, capture_output=True, text=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["connections"] = b.connections(c0, b.sim_counters(), "sts")
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/bedrock-access-exporter"))
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--tuples", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--short", action="store_true", help="a quick check that every step works")
    args = ap.parse_args()
    # Everything is on loopback: no proxy of this machine may carry it (urllib here, Go's
    # client in blackbox, botocore, the exporter's SDK).
    for k in ("NO_PROXY", "no_proxy"):
        os.environ[k] = "127.0.0.1,localhost,::1"
    if args.short:
        args.requests, args.tuples, args.rounds = 20, 100, 1
    tmp = tempfile.mkdtemp(prefix="probe-cost-")
    b = Bench(args, tmp)
    try:
        b.start_simulator(max(1, args.tuples // 20))
        print(f"binary: {args.binary}")
        print(f"simulator: {'pinned to CPU ' + b.sim_pin[-1] if b.sim_pin else 'not pinned (one CPU)'}; "
              f"clients: {'CPUs ' + b.pin[-1] if b.pin else 'not pinned'}; HTTPS, one listener per service; "
              f"logs in {tmp}")
        probe = step_probe(b, args.requests)
        print(f"exporter /probe (4 layers, 1 tuple, sequential, {args.requests} probes): "
              f"{probe['cpu_ms']:.3f} ms CPU per probe, wall {probe['wall_ms']:.2f} ms, "
              f"{probe['calls']:.2f} AWS calls per probe (invoke reused within invoke_interval), "
              f"new connections (sts, bedrock, runtime) {tuple(probe['connections'].values())}")
        bg = step_background(b, args.tuples, args.rounds)
        print(f"exporter background ({bg['tuples']} tuples, interval 10s, {bg['probes']:.0f} probes in "
              f"{bg['seconds']:.1f} s): {bg['cpu_ms']:.3f} ms CPU per probe, {bg['core_fraction'] * 100:.1f} % "
              f"of one core, new connections {tuple(bg['connections'].values())}")
        bb = step_blackbox(b, args.requests)
        print(f"blackbox http_2xx over HTTPS ({args.requests} probes): {bb['cpu_ms']:.3f} ms CPU per probe, "
              f"wall {bb['wall_ms']:.2f} ms, new connections {bb['connections']:.0f}")
        bo = step_boto3(b, args.requests)
        print(f"boto3, the same four calls, clients built once ({args.requests} probes): {bo['cpu_ms']:.3f} ms "
              f"CPU per probe, wall {bo['wall_ms']:.2f} ms, new connections {tuple(bo['connections'].values())}")
        floor = step_floor(b, args.requests * 2)
        print(f"AWS SDK for Rust floor, STS GetCallerIdentity through the exporter's client, one thread "
              f"({floor['calls']} calls): {floor['cpu_ms_per_call']:.3f} ms CPU per call, wall "
              f"{floor['wall_ms_per_call']:.2f} ms, new connections {floor['connections']:.0f}")
    finally:
        for p in b.procs:
            if p.poll() is None:
                b.stop(p)
    vs_bb = probe["cpu_ms"] / bb["cpu_ms"]
    vs_boto3 = probe["cpu_ms"] / bo["cpu_ms"]
    fleet = bg["cpu_ms"] / 1000 * 10_000 / 60
    print(f"ratio /probe : blackbox = {vs_bb:.3f} (goal <= 0.15, aim 0.1)")
    print(f"ratio /probe : boto3    = {vs_boto3:.3f} (goal <= 0.05)")
    print(f"10,000 tuples every 60 s at {bg['cpu_ms']:.3f} ms per probe: {fleet * 100:.1f} % of one core (goal < 10 %)")
    sdk_only = floor["cpu_ms_per_call"] * probe["calls"]
    print(f"the SDK's calls alone, {probe['calls']:.2f} per /probe at the floor: {sdk_only:.3f} ms = "
          f"{sdk_only / bb['cpu_ms']:.3f} x blackbox, {sdk_only / bo['cpu_ms']:.3f} x boto3; the rest of "
          f"/probe: {probe['cpu_ms'] - sdk_only:.3f} ms")
    if not args.short:
        missed = [g for g, ok in (("blackbox", vs_bb <= 0.15), ("boto3", vs_boto3 <= 0.05),
                                  ("10,000 tuples", fleet < 0.10)) if not ok]
        print("goals met" if not missed else f"goals missed: {', '.join(missed)}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
