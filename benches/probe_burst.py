#!/usr/bin/env python3
"""A hostile /probe client against the demo, measured: bursts of concurrent /probe requests for
one tuple, while the demo's background schedule runs.

usage: python3 benches/probe_burst.py [--bursts 200,1000] [--binary PATH]

It starts `simulate` with the demo scenario, a counting relay in front of it (every
Converse/InvokeModel request line of the burst tuple's model is counted where it would cost
money), and the daemon with the demo configuration plus one target `burst-N` (model
amazon.titan-text-express-v1, used by no demo target; hourly, named so that its first
background probe comes after the run). Per burst it fires that many concurrent
`GET /probe?target=burst-N`, and reports: the answers by status, the paid invocations counted
at the relay, the exporter's RSS and open file descriptors before/after (and the highest fd
count sampled during), GET /metrics latency during the burst, and whether any background probe
of the demo's targets failed with a `timeout` or `network_error` it does not fail with
otherwise. The release binary is built unless --binary names one. Nothing leaves loopback.
"""
import argparse
import concurrent.futures
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from exporter_scale import ROOT, free_port, wait_port  # noqa: E402
from soak import open_fds, rss_mib  # noqa: E402

MODEL = "amazon.titan-text-express-v1"


def target_phase(name, interval_s, n):
    """The scheduler's phase of a target (src/schedule.rs: FNV-1a of the name)."""
    h = 0xcbf29ce484222325
    for b in name.encode():
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    slot = interval_s * 1_000_000_000 // n
    return (h % slot) / 1e9 if slot else 0.0


class Relay:
    """Forwards loopback TCP to the simulator and counts the paid calls of MODEL."""

    def __init__(self, upstream_port):
        self.count = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.port = self.sock.getsockname()[1]
        self.upstream = upstream_port
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.sock.accept()
            server = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self.pump, args=(server, client, False), daemon=True).start()
            threading.Thread(target=self.pump, args=(client, server, True), daemon=True).start()

    def pump(self, src, dst, count):
        line = b""
        try:
            while True:
                data = src.recv(16384)
                if not data:
                    break
                if count:
                    line += data
                    *done, line = line.split(b"\n")
                    line = line[-32768:]
                    for text in done:
                        if b"POST /model/" + MODEL.encode() in text and (
                                b"/converse HTTP/1.1" in text or b"/invoke HTTP/1.1" in text):
                            with self.lock:
                                self.count += 1
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def get(url, timeout=60):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, ""
    except OSError:
        return 0, ""


FAILURE = re.compile(r'^bedrock_access_failure_info\{([^}]*)\} 1', re.M)


def false_failures(body):
    """Background series failing with timeout or network_error (the demo has none)."""
    return sorted(m.group(1) for m in FAILURE.finditer(body)
                  if 'reason="timeout"' in m.group(1) or 'reason="network_error"' in m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bursts", default="200,1000")
    ap.add_argument("--binary")
    args = ap.parse_args()
    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--locked", "--bin", "bedrock-access-exporter"],
                       cwd=ROOT, check=True)
        binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")),
                              "release", "bedrock-access-exporter")
    name = next(f"burst-{i}" for i in range(1000) if target_phase(f"burst-{i}", 3600, 1) > 900)
    tmp = tempfile.mkdtemp(prefix="bae-burst-")
    with open(os.path.join(ROOT, "config/demo/exporter.toml")) as f:
        config = f.read()
    config += f'''
[[targets]]
name = "{name}"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockProbeRole"
external_id = "demo-external-id"
regions = ["us-east-1"]
models = ["{MODEL}"]
interval = "1h"
'''
    with open(os.path.join(tmp, "exporter.toml"), "w") as f:
        f.write(config)
    open(os.path.join(tmp, "empty"), "w").close()

    sim_port, exp_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    sim = subprocess.Popen([binary, "simulate", f"--scenario={ROOT}/config/demo/scenario.toml",
                            f"--listen=127.0.0.1:{sim_port}", "--log.level=error"], env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(sim_port)
    relay = Relay(sim_port)
    env.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{relay.port}",
                "AWS_CONFIG_FILE": f"{ROOT}/config/demo/aws-config",
                "AWS_SHARED_CREDENTIALS_FILE": f"{tmp}/empty",
                "AWS_EC2_METADATA_DISABLED": "true"})
    exp = subprocess.Popen([binary, f"--config.file={tmp}/exporter.toml",
                            f"--web.listen-address=127.0.0.1:{exp_port}", "--log.level=error"],
                           env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{exp_port}"
    try:
        wait_port(exp_port)
        while get(f"{base}/-/ready")[0] != 200:
            time.sleep(0.2)
        time.sleep(12)  # one background round of the demo's 10 s interval
        print(f"demo + target {name} ({MODEL}); binary {binary}")
        print("burst  answers                      invocations  rss_mib_before  rss_mib_after  "
              "fds_before  fds_max  fds_after  metrics_ms_max  false_background_failures")
        for n in [int(x) for x in args.bursts.split(",")]:
            before_rss, before_fds = rss_mib(exp.pid), open_fds(exp.pid)
            before_inv = relay.count
            pool = concurrent.futures.ThreadPoolExecutor(max_workers=n)
            futs = [pool.submit(get, f"{base}/probe?target={name}") for _ in range(n)]
            fds_max, scrape_max = before_fds, 0.0
            while not all(f.done() for f in futs):
                fds_max = max(fds_max, open_fds(exp.pid))
                t0 = time.perf_counter()
                get(f"{base}/metrics")
                scrape_max = max(scrape_max, (time.perf_counter() - t0) * 1000)
                time.sleep(0.05)
            codes = {}
            for f in futs:
                codes[f.result()[0]] = codes.get(f.result()[0], 0) + 1
            pool.shutdown()
            time.sleep(11)  # a background round after the burst
            body = get(f"{base}/metrics")[1]
            answers = ", ".join(f"{k}: {v}" for k, v in sorted(codes.items()))
            print(f"{n:5d}  {answers:27s}  {relay.count - before_inv:11d}  {before_rss:14.1f}  "
                  f"{rss_mib(exp.pid):13.1f}  {before_fds:10d}  {fds_max:7d}  {open_fds(exp.pid):9d}  "
                  f"{scrape_max:14.1f}  {len(false_failures(body))}", flush=True)
    finally:
        exp.send_signal(signal.SIGTERM)
        sim.send_signal(signal.SIGTERM)
        exp.wait(30)
        sim.wait(30)


if __name__ == "__main__":
    main()
