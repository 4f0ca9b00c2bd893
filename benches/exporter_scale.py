#!/usr/bin/env python3
"""Scale benchmark of the exporter against the bundled simulator (release build).

Goals (issue: the exporter):
  * 10,000 tuples at a 60 s interval are all probed every interval,
  * schedule lag p99 under 1 s,
  * GET /metrics with 10,000 tuples answers in under 50 ms (uncompressed),
  * the gzip body Prometheus gets (Accept-Encoding: gzip) is at most 1/8 of the plain one,
  * resident memory stays under 150 MiB and does not grow over 30 rounds.

usage: python3 benches/exporter_scale.py [--rounds 30] [--interval 60] [--targets 100]
                                         [--models 50] [--regions 2] [--concurrency 16]

It builds the release binary, generates a scenario (one source account, one target account,
`--models` models in `--regions` regions) and an exporter configuration with
targets x regions x models tuples, starts `simulate` and the daemon on loopback, and samples
every few seconds: the exporter's RSS (/proc), GET /metrics latency, `probes_total`,
`probe_timestamp_seconds` freshness (GET /metrics timed with curl) and the `schedule_lag_seconds` histogram. It prints one line
per round and a verdict, and exits non-zero when a goal is missed. At the end of every round it
also scrapes once with `Accept-Encoding: gzip` (timed with curl, as Prometheus asks) and reports
the gzip body's size against the plain one. Nothing leaves loopback.
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY_ID, SECRET = "AKIABENCHSOURCE00001", "benchSourceSecretKey000000000000000000001"
REGIONS = ["us-east-1", "us-west-2", "eu-central-1", "eu-west-1"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit=30):
    end = time.time() + limit
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def scenario(models, regions):
    out = [
        'default_grant = "granted"',
        '[[accounts]]\nid = "111111111111"\nname = "bench-source"',
        '[[accounts]]\nid = "222222222222"\nname = "bench-target"',
        f'''[[users]]
account = "111111111111"
name = "bench-prober"
access_keys = [{{ id = "{KEY_ID}", secret = "{SECRET}" }}]
policies = [\'\'\'{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}]}}\'\'\']''',
        '''[[roles]]
account = "222222222222"
name = "BenchProbeRole"
trust_policy = \'\'\'{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"Action":"sts:AssumeRole"}]}\'\'\'
policies = [\'\'\'{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}\'\'\']''',
    ]
    for i in range(models):
        out.append(f'''[[models]]
id = "amazon.bench-model-{i:03d}-v1:0"
name = "Bench model {i}"
provider = "Amazon"
regions = {regions!r}'''.replace("'", '"'))
    return "\n\n".join(out) + "\n"


def exporter_config(targets, models, regions, interval, concurrency):
    out = [f'''[probe]
interval = "{interval}s"
timeout = "10s"
concurrency = {concurrency}

# Every target is in one account: let it take the whole schedule (the default pace,
# 10 Bedrock calls per second per account, would stretch each round far past the interval).
[limits]
bedrock_per_second = 1000

[[sources]]
name = "bench"
profile = "bench"''']
    model_list = ", ".join(f'"amazon.bench-model-{i:03d}-v1:0"' for i in range(models))
    region_list = ", ".join(f'"{r}"' for r in regions)
    for t in range(targets):
        out.append(f'''[[targets]]
name = "bench-{t:04d}"
source = "bench"
role_arn = "arn:aws:iam::222222222222:role/BenchProbeRole"
regions = [{region_list}]
models = [{model_list}]''')
    return "\n\n".join(out) + "\n"


LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')


def scrape_time(port):
    """Seconds for one complete GET /metrics, timed by curl (a C client, so the figure is the
    exporter's and the loopback's, not Python's chunked-decoding)."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{time_total}",
                          f"http://127.0.0.1:{port}/metrics"], capture_output=True, text=True,
                         timeout=30, check=True)
    return float(out.stdout)


def gzip_scrape(port):
    """(seconds, bytes) of one GET /metrics with Accept-Encoding: gzip, the body left compressed."""
    out = subprocess.run(["curl", "-s", "-o", "/dev/null", "-H", "Accept-Encoding: gzip",
                          "-w", "%{time_total} %{size_download}",
                          f"http://127.0.0.1:{port}/metrics"], capture_output=True, text=True,
                         timeout=30, check=True)
    seconds, size = out.stdout.split()
    return float(seconds), int(size)


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as r:
        return r.read().decode()


def summarise(body, now):
    probes = 0.0
    fresh_stamps = []
    lag_buckets = {}
    lag_count = 0.0
    for line in body.splitlines():
        if line.startswith("#"):
            continue
        m = LINE.match(line)
        if not m:
            continue
        name, labels, value = m.group(1), m.group(2) or "", float(m.group(3))
        if name == "bedrock_access_probes_total":
            probes += value
        elif name == "bedrock_access_probe_timestamp_seconds":
            fresh_stamps.append(value)
        elif name == "bedrock_access_exporter_schedule_lag_seconds_bucket":
            le = re.search(r'le="([^"]+)"', labels).group(1)
            lag_buckets[le] = value
        elif name == "bedrock_access_exporter_schedule_lag_seconds_count":
            lag_count = value
    return probes, fresh_stamps, lag_buckets, lag_count


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=30)
    ap.add_argument("--interval", type=int, default=60)
    ap.add_argument("--targets", type=int, default=100)
    ap.add_argument("--models", type=int, default=50)
    ap.add_argument("--regions", type=int, default=2)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    regions = REGIONS[: args.regions]
    tuples = args.targets * args.models * len(regions)

    subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "bedrock-access-exporter"],
                   cwd=ROOT, check=True)
    target_dir = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target_dir, "release", "bedrock-access-exporter")

    tmp = tempfile.mkdtemp(prefix="bae-scale-")
    with open(os.path.join(tmp, "scenario.toml"), "w") as f:
        f.write(scenario(args.models, regions))
    with open(os.path.join(tmp, "exporter.toml"), "w") as f:
        f.write(exporter_config(args.targets, args.models, regions, args.interval, args.concurrency))
    with open(os.path.join(tmp, "aws-config"), "w") as f:
        f.write(f"[profile bench]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\n"
                f"region = us-east-1\n")
    open(os.path.join(tmp, "empty"), "w").close()

    sim_port, exp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    sim = subprocess.Popen([binary, "simulate", f"--scenario={tmp}/scenario.toml",
                            f"--listen=127.0.0.1:{sim_port}"], env=env,
                           stdout=open(os.path.join(tmp, "sim.log"), "w"), stderr=subprocess.STDOUT)
    wait_port(sim_port)
    env.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{sim_port}",
                "AWS_CONFIG_FILE": f"{tmp}/aws-config",
                "AWS_SHARED_CREDENTIALS_FILE": f"{tmp}/empty",
                "AWS_EC2_METADATA_DISABLED": "true"})
    exp = subprocess.Popen([binary, f"--config.file={tmp}/exporter.toml",
                            f"--web.listen-address=127.0.0.1:{exp_port}", "--log.level=warn"],
                           env=env, stdout=open(os.path.join(tmp, "exporter.log"), "w"),
                           stderr=subprocess.STDOUT)
    wait_port(exp_port)
    print(f"{tuples} tuples ({args.targets} targets x {len(regions)} regions x {args.models} models), "
          f"interval {args.interval}s, concurrency {args.concurrency}, {args.rounds} rounds; logs in {tmp}")
    print("round  probes  fresh_tuples  lag_p99<=1s  lag_over_1s  rss_mib  metrics_ms_p50  metrics_ms_max"
          "  gzip_ms  gzip_ratio")

    failures = []
    rss_by_round = []
    all_scrapes = []
    gzip_ratios = []
    gzip_times = []
    prev_probes, prev_buckets, prev_count = 0.0, {}, 0.0
    start = time.time()
    try:
        for rnd in range(1, args.rounds + 1):
            scrape_times = []
            round_end = start + rnd * args.interval
            while time.time() < round_end:
                scrape_times.append(scrape_time(exp_port))
                time.sleep(min(5.0, max(0.0, round_end - time.time())))
            gz_seconds, gz_size = gzip_scrape(exp_port)
            body = scrape(exp_port)
            now = time.time()
            ratio = gz_size / max(1, len(body.encode()))
            probes, stamps, buckets, count = summarise(body, now)
            fresh = sum(1 for s in stamps if now - s <= args.interval + 1)
            d_count = count - prev_count
            d_le1 = buckets.get("1", 0.0) - prev_buckets.get("1", 0.0)
            over = d_count - d_le1
            ok_lag = d_count > 0 and d_le1 / d_count >= 0.99
            rss = rss_mib(exp.pid)
            rss_by_round.append(rss)
            scrape_times.sort()
            p50 = scrape_times[len(scrape_times) // 2] * 1000
            mx = scrape_times[-1] * 1000
            print(f"{rnd:5d}  {probes - prev_probes:6.0f}  {fresh:12d}  {str(ok_lag):>11}  {over:11.0f}  "
                  f"{rss:7.1f}  {p50:14.1f}  {mx:14.1f}  {gz_seconds * 1000:7.1f}  1/{1 / ratio:.1f}",
                  flush=True)
            if rnd >= 2:  # the first round is the ramp-up
                all_scrapes.extend(scrape_times)
                gzip_ratios.append(ratio)
                gzip_times.append(gz_seconds)
                if fresh < tuples:
                    failures.append(f"round {rnd}: only {fresh}/{tuples} tuples probed within the interval")
                if not ok_lag:
                    failures.append(f"round {rnd}: schedule lag p99 over 1 s ({over:.0f} late of {d_count:.0f})")
            if rss > 150:
                failures.append(f"round {rnd}: RSS {rss:.1f} MiB over 150 MiB")
            prev_probes, prev_buckets, prev_count = probes, buckets, count
    finally:
        exp.send_signal(signal.SIGTERM)
        sim.send_signal(signal.SIGTERM)
        exp.wait(30)
        sim.wait(30)
    if all_scrapes:
        all_scrapes.sort()
        med = all_scrapes[len(all_scrapes) // 2] * 1000
        p90 = all_scrapes[int(len(all_scrapes) * 0.9)] * 1000
        print(f"GET /metrics over rounds 2-{args.rounds}: {len(all_scrapes)} scrapes, "
              f"median {med:.1f} ms, p90 {p90:.1f} ms, max {all_scrapes[-1] * 1000:.1f} ms")
        if med > 50:
            failures.append(f"GET /metrics median {med:.1f} ms over 50 ms")
    if gzip_ratios:
        worst = max(gzip_ratios)
        gzip_times.sort()
        print(f"gzip (Accept-Encoding: gzip) over rounds 2-{args.rounds}: body 1/{1 / worst:.1f} of the plain "
              f"one at worst, median {gzip_times[len(gzip_times) // 2] * 1000:.1f} ms per scrape")
        if worst > 1 / 8:
            failures.append(f"gzip body 1/{1 / worst:.1f} of the plain one, goal at most 1/8")
    if len(rss_by_round) >= 10:
        early = sum(rss_by_round[2:5]) / 3
        late = sum(rss_by_round[-3:]) / 3
        print(f"RSS rounds 3-5 avg {early:.1f} MiB, last 3 avg {late:.1f} MiB")
        if late > early * 1.10 + 2:
            failures.append(f"RSS grows: {early:.1f} MiB -> {late:.1f} MiB")
    print(f"exporter exit status {exp.returncode}")
    for f in failures:
        print("FAIL", f)
    print("PASS" if not failures else f"{len(failures)} goal(s) missed")
    sys.exit(0 if not failures else 1)


if __name__ == "__main__":
    main()
