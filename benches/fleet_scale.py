#!/usr/bin/env python3
"""Fleet benchmark: 50,000 tuples over four sharded replicas against the bundled simulator.

Goals (organisation scale):
  * every tuple is probed every interval, by exactly one replica,
  * schedule lag p99 under 1 s on every replica,
  * resident memory under 150 MiB per replica,
  * the peak calls per second the simulator saw in any one account stays under the configured
    [limits] (STS in the source account, Bedrock in each target account).

usage: python3 benches/fleet_scale.py [--accounts 500] [--regions 5] [--models 20]
                                      [--replicas 4] [--interval 300] [--rounds 2]
                                      [--sts-limit 100] [--bedrock-limit 10] [--no-build]

It builds the release binary (unless --no-build), generates a scenario (one source account,
--accounts member accounts each with the role `bedrock-prober`, --models models in --regions
regions, every grant given) and one many-account target (`role_name` with `accounts = [...]`),
starts `simulate --counts-file` and --replicas daemons with `--shard.count/--shard.index` on
loopback, samples every replica every 10 s (RSS and CPU from /proc, GET /metrics time and size,
the schedule lag histogram, probes), checks at the end of every round that each replica's tuples
all finished a probe within the last interval, then stops the simulator and reads its counts.
It prints per replica: RSS, CPU per probe, schedule lag p99, /metrics time and size, and the
peak calls per second per account seen by the simulator, then a verdict; it exits non-zero when
a goal is missed. Nothing leaves loopback; the temporary directory is removed at the end.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY_ID, SECRET = "AKIAFLEETBENCH000001", "fleetBenchSecretKey00000000000000000001"
SOURCE = "111111111111"
ALL_REGIONS = ["us-east-1", "us-west-2", "eu-central-1", "eu-west-1", "ap-northeast-1",
               "ap-southeast-2", "ca-central-1", "sa-east-1"]
LAG_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0]
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, limit=60):
    end = time.time() + limit
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def account(i):
    return str(200_000_000_000 + i)


def scenario(accounts, models, regions):
    trust = ('{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},'
             '"Action":"sts:AssumeRole"}]}' % SOURCE)
    allow = '{"Statement":[{"Effect":"Allow","Action":"bedrock:*","Resource":"*"}]}'
    out = ['default_grant = "granted"', f'[[accounts]]\nid = "{SOURCE}"']
    out.append(f'''[[users]]
account = "{SOURCE}"
name = "fleet-bench"
access_keys = [{{ id = "{KEY_ID}", secret = "{SECRET}" }}]
policies = ['{{"Statement":[{{"Effect":"Allow","Action":"sts:AssumeRole","Resource":"*"}}]}}']''')
    for i in range(accounts):
        out.append(f'[[accounts]]\nid = "{account(i)}"')
        out.append(f"[[roles]]\naccount = \"{account(i)}\"\nname = \"bedrock-prober\"\n"
                   f"trust_policy = '{trust}'\npolicies = ['{allow}']")
    region_list = ", ".join(f'"{r}"' for r in regions)
    for m in range(models):
        out.append(f'[[models]]\nid = "amazon.fleet-model-{m:03d}-v1:0"\nprovider = "Amazon"\n'
                   f'regions = [{region_list}]')
    return "\n\n".join(out) + "\n"


def exporter_config(accounts, models, regions, interval, sts_limit, bedrock_limit, concurrency):
    account_list = ", ".join(f'"{account(i)}"' for i in range(accounts))
    model_list = ", ".join(f'"amazon.fleet-model-{m:03d}-v1:0"' for m in range(models))
    region_list = ", ".join(f'"{r}"' for r in regions)
    return f'''[probe]
interval = "{interval}s"
timeout = "30s"
concurrency = {concurrency}

[limits]
sts_per_second = {sts_limit}
bedrock_per_second = {bedrock_limit}

[[targets]]
name = "fleet"
role_name = "bedrock-prober"
accounts = [{account_list}]
regions = [{region_list}]
models = [{model_list}]
'''


def get(url, timeout=30):
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=timeout) as r:
        body = r.read()
    return body, time.perf_counter() - start


def proc_stats(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) * 1024
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return rss, cpu


SAMPLE = re.compile(rb'^([a-z_]+)(?:\{([^}]*)\})? (\S+)$', re.M)


def own_metrics(text):
    """The exporter's own (unlabelled or `le`-labelled) samples: name -> value / buckets."""
    out = {"lag": {}, "lag_count": 0.0, "tuples": 0.0, "probes": 0.0}
    for m in re.finditer(rb'^bedrock_access_exporter_schedule_lag_seconds_bucket\{le="([^"]+)"\} (\S+)$', text, re.M):
        out["lag"][m.group(1).decode()] = float(m.group(2))
    m = re.search(rb'^bedrock_access_exporter_schedule_lag_seconds_count (\S+)$', text, re.M)
    out["lag_count"] = float(m.group(1)) if m else 0.0
    m = re.search(rb'^bedrock_access_exporter_tuples (\S+)$', text, re.M)
    out["tuples"] = float(m.group(1)) if m else 0.0
    out["probes"] = sum(float(v) for v in re.findall(rb'^bedrock_access_probes_total\{[^}]*\} (\S+)$', text, re.M))
    return out


def lag_p99(buckets, count):
    if count <= 0:
        return 0.0
    for le in LAG_BUCKETS:
        label = str(int(le)) if le == int(le) else str(le)
        if buckets.get(label, 0.0) >= 0.99 * count:
            return le
    return float("inf")


def stale_tuples(text, now, interval):
    stamps = re.findall(rb'^bedrock_access_probe_timestamp_seconds\{[^}]*\} (\S+)$', text, re.M)
    return len(stamps), sum(1 for s in stamps if now - float(s) > interval + 5)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--accounts", type=int, default=500)
    ap.add_argument("--regions", type=int, default=5)
    ap.add_argument("--models", type=int, default=20)
    ap.add_argument("--replicas", type=int, default=4)
    ap.add_argument("--interval", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sts-limit", type=float, default=100)
    ap.add_argument("--bedrock-limit", type=float, default=10)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    regions = ALL_REGIONS[:a.regions]
    tuples = a.accounts * a.regions * a.models
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "bedrock-access-exporter"],
                       cwd=ROOT, check=True)
    binary = os.path.join(ROOT, "target", "release", "bedrock-access-exporter")
    work = tempfile.mkdtemp(prefix="fleet-scale-")
    procs = []
    try:
        with open(os.path.join(work, "scenario.toml"), "w") as f:
            f.write(scenario(a.accounts, a.models, regions))
        with open(os.path.join(work, "exporter.toml"), "w") as f:
            f.write(exporter_config(a.accounts, a.models, regions, a.interval, a.sts_limit,
                                    a.bedrock_limit, a.concurrency))
        with open(os.path.join(work, "aws-config"), "w") as f:
            f.write(f"[default]\naws_access_key_id = {KEY_ID}\naws_secret_access_key = {SECRET}\nregion = us-east-1\n")
        open(os.path.join(work, "empty"), "w").close()
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "BEDROCK_EXPORTER")) and k.upper() not in
               ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")}
        sim_port = free_port()
        counts_file = os.path.join(work, "counts.json")
        sim = subprocess.Popen([binary, "simulate", f"--scenario={work}/scenario.toml",
                                f"--listen=127.0.0.1:{sim_port}", f"--counts-file={counts_file}"],
                               env=env, stdout=open(f"{work}/sim.log", "w"), stderr=subprocess.STDOUT)
        procs.append(sim)
        wait_port(sim_port)
        env.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{sim_port}",
                    "AWS_CONFIG_FILE": f"{work}/aws-config",
                    "AWS_SHARED_CREDENTIALS_FILE": f"{work}/empty",
                    "AWS_EC2_METADATA_DISABLED": "true",
                    "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
        replicas = []
        for i in range(a.replicas):
            port = free_port()
            p = subprocess.Popen([binary, f"--config.file={work}/exporter.toml",
                                  f"--web.listen-address=127.0.0.1:{port}",
                                  f"--shard.count={a.replicas}", f"--shard.index={i}"],
                                 env=env, stdout=open(f"{work}/replica-{i}.log", "w"),
                                 stderr=subprocess.STDOUT)
            procs.append(p)
            replicas.append({"i": i, "proc": p, "port": port, "rss": 0, "metrics_s": [],
                             "metrics_bytes": 0, "stale": [], "owned": 0})
        for r in replicas:
            wait_port(r["port"])
        print(f"{tuples} tuples ({a.accounts} accounts x {a.regions} regions x {a.models} models), "
              f"{a.replicas} replicas, interval {a.interval}s, {a.rounds} rounds; "
              f"limits sts {a.sts_limit}/s, bedrock {a.bedrock_limit}/s per account", flush=True)
        start = time.time()
        for r in replicas:
            r["cpu0"] = proc_stats(r["proc"].pid)[1]
        # One sampling period past the last round's end, so that the last round is checked too.
        end = start + a.interval * a.rounds + 15 + 12
        next_round = start + a.interval + 15
        round_no = 0
        while time.time() < end:
            time.sleep(10)
            now = time.time()
            for r in replicas:
                rss, _ = proc_stats(r["proc"].pid)
                r["rss"] = max(r["rss"], rss)
                body, took = get(f"http://127.0.0.1:{r['port']}/metrics")
                r["metrics_s"].append(took)
                r["metrics_bytes"] = len(body)
                r["last"] = own_metrics(body)
                if now >= next_round and "warm" not in r:
                    r["warm"] = dict(r["last"]["lag"]), r["last"]["lag_count"], r["last"]["probes"], proc_stats(r["proc"].pid)[1]
                if now >= next_round:
                    seen, stale = stale_tuples(body, now, a.interval)
                    r["stale"].append((seen, stale))
                    r["owned"] = r["last"]["tuples"]
            if now >= next_round:
                round_no += 1
                line = ", ".join(f"r{r['i']}: {r['stale'][-1][0]} probed/{int(r['owned'])} owned, "
                                 f"{r['stale'][-1][1]} stale" for r in replicas)
                print(f"round {round_no}: {line}", flush=True)
                next_round += a.interval
        results = []
        for r in replicas:
            _, cpu = proc_stats(r["proc"].pid)
            last = r["last"]
            probes = max(last["probes"], 1.0)
            ms = sorted(r["metrics_s"])
            warm_lag, warm_count, warm_probes, warm_cpu = r.get("warm", ({}, 0.0, 0.0, r["cpu0"]))
            steady = {k: v - warm_lag.get(k, 0.0) for k, v in last["lag"].items()}
            results.append({
                "replica": r["i"], "tuples": int(last["tuples"]),
                "rss_mib": r["rss"] / 2**20,
                "cpu_ms_per_probe": (cpu - warm_cpu) * 1000 / max(last["probes"] - warm_probes, 1.0),
                "lag_p99_s": lag_p99(steady, last["lag_count"] - warm_count),
                "lag_p99_all_s": lag_p99(last["lag"], last["lag_count"]),
                "metrics_ms_median": 1000 * ms[len(ms) // 2],
                "metrics_ms_max": 1000 * ms[-1],
                "metrics_mib": r["metrics_bytes"] / 2**20,
                "probes": int(last["probes"]),
                "every_round_fresh": len(r["stale"]) > 1 and all(stale == 0 and seen == int(last["tuples"]) for seen, stale in r["stale"][1:]),
            })
        for p in procs[1:]:
            p.send_signal(signal.SIGTERM)
        for p in procs[1:]:
            p.wait(timeout=30)
        sim.send_signal(signal.SIGTERM)
        sim.wait(timeout=30)
        with open(counts_file) as f:
            counts = json.load(f)
        peaks = {"sts": (0, ""), "bedrock": (0, "")}
        for acct, fams in counts["accounts"].items():
            for fam in peaks:
                p = fams.get(fam, {}).get("peak_per_second", 0)
                if p > peaks[fam][0]:
                    peaks[fam] = (p, acct)
        assume = counts["assume_role"]
        min_gap = min((x["min_gap_seconds"] for x in assume if x["min_gap_seconds"] is not None), default=None)
        print()
        print("replica | tuples | RSS MiB (max) | CPU ms/probe | lag p99 s (after round 1; whole run) | /metrics ms median (max) | /metrics MiB | probes | fresh every round")
        for x in results:
            print(f"{x['replica']} | {x['tuples']} | {x['rss_mib']:.1f} | {x['cpu_ms_per_probe']:.2f} | "
                  f"{x['lag_p99_s']}; {x['lag_p99_all_s']} | {x['metrics_ms_median']:.0f} ({x['metrics_ms_max']:.0f}) | "
                  f"{x['metrics_mib']:.1f} | {x['probes']} | {x['every_round_fresh']}")
        print(f"simulator: peak STS calls/s in one account {peaks['sts'][0]} (account {peaks['sts'][1]}, "
              f"limit {a.sts_limit}); peak Bedrock calls/s in one account {peaks['bedrock'][0]} "
              f"(account {peaks['bedrock'][1]}, limit {a.bedrock_limit}); "
              f"{len(assume)} role x region gates assumed, shortest gap between two AssumeRoles "
              f"of one gate {min_gap:.1f} s" if min_gap is not None else "")
        owned = sum(x["tuples"] for x in results)
        goals = {
            "every tuple owned by one replica": owned == tuples,
            "every tuple probed every interval (after the first)": all(x["every_round_fresh"] for x in results),
            "lag p99 < 1 s (after the first interval)": all(x["lag_p99_s"] <= 1.0 for x in results),
            "RSS < 150 MiB per replica": all(x["rss_mib"] < 150 for x in results),
            "peak per-account rate under the limit": peaks["sts"][0] <= a.sts_limit and peaks["bedrock"][0] <= a.bedrock_limit,
        }
        for g, ok in goals.items():
            print(f"{'PASS' if ok else 'FAIL'}: {g}")
        print("verdict:", "PASS" if all(goals.values()) else "FAIL")
        return 0 if all(goals.values()) else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
