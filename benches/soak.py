#!/usr/bin/env python3
"""Soak test of the exporter against the bundled simulator: resources stay flat.

Runs the daemon for many schedule rounds (one round = one `interval`: every tuple is probed
once) against a simulator whose scenario mixes in faults (throttling, 5xx, dropped
connections, malformed bodies, hangs, slow AssumeRole), fires a burst of concurrent `/probe`
requests every round, and samples the exporter's resident memory (VmRSS), open file descriptors
(/proc/PID/fd) and GET /metrics latency. Verdict: no growth beyond a margin between the early
rounds (after warm-up) and the last rounds.

usage: python3 benches/soak.py [--rounds 1000] [--interval 10] [--targets 20] [--regions 2]
                               [--models 25] [--burst 40] [--binary PATH] [--quiet]

Defaults: 1,000 tuples (20 targets x 2 regions x 25 models), interval 10 s (the shortest the
configuration allows), 1,000 rounds (about 2 h 47 min), a burst of 40 concurrent /probe per
round; the release binary is built unless --binary names one. The short form that CI runs
(scripts/test.d/soak.sh) is `--rounds 30 --targets 10 --models 10` with the debug binary.

Margins (after the first 20 % of the rounds, at least 3, as warm-up; "early" is the median of
the next 10 % of rounds, at least 3; "late" the median of the last 10 %, at least 3):
  * RSS: late <= early x 1.10 + 4 MiB
  * open fds: late <= early + 16
  * GET /metrics median: late <= early x 2 + 10 ms (a shared machine's noise)
It prints one line every --every rounds and a verdict, and exits non-zero when a margin is
exceeded or the exporter dies (its logs are then kept). Nothing leaves loopback.
"""
import argparse
import concurrent.futures
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exporter_scale import KEY_ID, REGIONS, ROOT, SECRET, free_port, scenario, wait_port  # noqa: E402

FAULTS = """
[[faults]]
service = "bedrock-runtime"
operation = "Converse"
kind = "throttle"
every = 7

[[faults]]
service = "bedrock"
kind = "unavailable"
probability = 0.03

[[faults]]
service = "sts"
operation = "AssumeRole"
kind = "latency"
latency = "300ms"
probability = 0.1

[[faults]]
service = "bedrock-runtime"
kind = "reset"
probability = 0.02

[[faults]]
service = "bedrock"
kind = "malformed"
probability = 0.01

[[faults]]
service = "bedrock-runtime"
kind = "hang"
probability = 0.003
"""


def exporter_config(targets, models, regions, interval):
    out = [f'''[probe]
interval = "{interval}s"
timeout = "5s"
invoke_interval = "{3 * interval}s"
concurrency = 32

[probe_endpoint]
max_in_flight = 8

# Every target is in one account: let it take the whole schedule (the default pace,
# 10 Bedrock calls per second per account, would stretch each round far past the interval).
[limits]
bedrock_per_second = 1000

[[sources]]
name = "soak"
profile = "soak"''']
    model_list = ", ".join(f'"amazon.bench-model-{i:03d}-v1:0"' for i in range(models))
    region_list = ", ".join(f'"{r}"' for r in regions)
    for t in range(targets):
        out.append(f'''[[targets]]
name = "soak-{t:03d}"
source = "soak"
role_arn = "arn:aws:iam::222222222222:role/BenchProbeRole"
regions = [{region_list}]
models = [{model_list}]''')
    return "\n\n".join(out) + "\n"


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def metrics_ms(port):
    t0 = time.perf_counter()
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        r.read()
    return (time.perf_counter() - t0) * 1000


def probe(port, target):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/probe?target={target}", timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def verdict(rows):
    """The margins of the module docstring over rows of (round, rss, fds, metrics_ms)."""
    n = len(rows)
    warm = max(3, n // 5)
    span = max(3, n // 10)
    if n < warm + 2 * span:
        return [f"only {n} rounds: too few to judge (need {warm + 2 * span})"], None
    early, late = rows[warm:warm + span], rows[-span:]
    e = [median([r[i] for r in early]) for i in (1, 2, 3)]
    l = [median([r[i] for r in late]) for i in (1, 2, 3)]
    failures = []
    if l[0] > e[0] * 1.10 + 4:
        failures.append(f"RSS grows: {e[0]:.1f} -> {l[0]:.1f} MiB")
    if l[1] > e[1] + 16:
        failures.append(f"open fds grow: {e[1]:.0f} -> {l[1]:.0f}")
    if l[2] > e[2] * 2 + 10:
        failures.append(f"GET /metrics slows down: {e[2]:.1f} -> {l[2]:.1f} ms")
    return failures, (e, l)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=1000)
    ap.add_argument("--interval", type=int, default=10)
    ap.add_argument("--targets", type=int, default=20)
    ap.add_argument("--regions", type=int, default=2)
    ap.add_argument("--models", type=int, default=25)
    ap.add_argument("--burst", type=int, default=40)
    ap.add_argument("--every", type=int, default=10, help="print every N rounds")
    ap.add_argument("--binary", help="the exporter binary (default: build the release one)")
    args = ap.parse_args()
    regions = REGIONS[: args.regions]
    tuples = args.targets * args.models * len(regions)

    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "bedrock-access-exporter"],
                       cwd=ROOT, check=True)
        target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
        binary = os.path.join(target_dir, "release", "bedrock-access-exporter")

    tmp = tempfile.mkdtemp(prefix="bae-soak-")
    with open(os.path.join(tmp, "scenario.toml"), "w") as f:
        f.write(scenario(args.models, regions) + FAULTS)
    with open(os.path.join(tmp, "exporter.toml"), "w") as f:
        f.write(exporter_config(args.targets, args.models, regions, args.interval))
    with open(os.path.join(tmp, "aws-config"), "w") as f:
        f.write(f"[profile soak]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
                f"region = us-east-1\n")
    open(os.path.join(tmp, "empty"), "w").close()

    sim_port, exp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    sim = subprocess.Popen([binary, "simulate", f"--scenario={tmp}/scenario.toml",
                            f"--listen=127.0.0.1:{sim_port}", "--log.level=error"], env=env,
                           stdout=open(os.path.join(tmp, "sim.log"), "w"), stderr=subprocess.STDOUT)
    wait_port(sim_port)
    env.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{sim_port}",
                "AWS_CONFIG_FILE": f"{tmp}/aws-config",
                "AWS_SHARED_CREDENTIALS_FILE": f"{tmp}/empty",
                "AWS_EC2_METADATA_DISABLED": "true"})
    exp = subprocess.Popen([binary, f"--config.file={tmp}/exporter.toml",
                            f"--web.listen-address=127.0.0.1:{exp_port}", "--log.level=error"],
                           env=env, stdout=open(os.path.join(tmp, "exporter.log"), "w"),
                           stderr=subprocess.STDOUT)
    wait_port(exp_port)
    print(f"{tuples} tuples ({args.targets} targets x {len(regions)} regions x {args.models} models), "
          f"interval {args.interval}s, {args.rounds} rounds, /probe bursts of {args.burst}, faults mixed in; "
          f"binary {binary}; logs in {tmp}", flush=True)
    print("round  rss_mib  fds  metrics_ms_p50  probe_200  probe_429  probe_other", flush=True)

    names = [f"soak-{t:03d}" for t in range(args.targets)]
    rows = []
    statuses = {}
    died = None
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.burst))
    start = time.time()
    try:
        for rnd in range(1, args.rounds + 1):
            round_end = start + rnd * args.interval
            burst = [pool.submit(probe, exp_port, random.choice(names)) for _ in range(args.burst)]
            scrapes = []
            while time.time() < round_end - 0.5:
                scrapes.append(metrics_ms(exp_port))
                time.sleep(min(2.0, max(0.0, round_end - 0.5 - time.time())))
            got = {}
            for fut in burst:
                code = fut.result()
                got[code] = got.get(code, 0) + 1
                statuses[code] = statuses.get(code, 0) + 1
            if exp.poll() is not None:
                died = f"the exporter exited with {exp.returncode} in round {rnd}"
                break
            rss, fds = rss_mib(exp.pid), open_fds(exp.pid)
            rows.append((rnd, rss, fds, median(scrapes)))
            if rnd % args.every == 0 or rnd == 1:
                other = sum(v for k, v in got.items() if k not in (200, 429))
                print(f"{rnd:5d}  {rss:7.1f}  {fds:3d}  {median(scrapes):14.1f}  {got.get(200, 0):9d}  "
                      f"{got.get(429, 0):9d}  {other:11d}", flush=True)
            time.sleep(max(0.0, round_end - time.time()))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        exp.send_signal(signal.SIGTERM)
        sim.send_signal(signal.SIGTERM)
        exp.wait(30)
        sim.wait(30)

    failures, summary = verdict(rows)
    if died:
        failures.insert(0, died)
    if rows:
        rss = [r[1] for r in rows]
        fds = [r[2] for r in rows]
        lat = [r[3] for r in rows]
        print(f"RSS {min(rss):.1f}-{max(rss):.1f} MiB, open fds {min(fds)}-{max(fds)}, "
              f"GET /metrics median per round {min(lat):.1f}-{max(lat):.1f} ms over {len(rows)} rounds")
    if summary:
        (e, l) = summary
        print(f"early (after warm-up) vs last rounds: RSS {e[0]:.1f} -> {l[0]:.1f} MiB, "
              f"fds {e[1]:.0f} -> {l[1]:.0f}, GET /metrics {e[2]:.1f} -> {l[2]:.1f} ms")
    print("/probe answers: " + ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())))
    print(f"exporter exit status {exp.returncode}")
    for f in failures:
        print("FAIL", f)
    print("PASS" if not failures else f"{len(failures)} margin(s) exceeded; logs kept in {tmp}")
    if not failures:
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if not failures else 1)


if __name__ == "__main__":
    main()
