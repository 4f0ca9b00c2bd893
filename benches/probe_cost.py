#!/usr/bin/env python3
"""What one four-layer probe costs the exporter: CPU time and connections (release build).

usage: python3 benches/probe_cost.py [--binary target/release/bedrock-access-exporter]
                                     [--requests 200] [--https]

It starts `simulate` with the demo scenario and, in front of it, a relay that counts the
connections it accepts (with --https it terminates TLS with a certificate of a CA made up for
the run by `openssl`, which the exporter trusts through AWS_CA_BUNDLE and SSL_CERT_FILE). The
daemon runs with one tuple (the demo's healthy-claude, us-east-1) whose background probes are
an hour apart, and the benchmark sends `--requests` sequential `GET /probe?target=...` (each
probes credentials, AssumeRole, model access and invoke now). It reports the exporter's CPU
time (utime + stime from /proc) per probe, the connections the relay accepted, and the
sockets to the relay left in TIME-WAIT and ESTABLISHED afterwards (ss). Nothing leaves
loopback. Build first: cargo build --release.
"""
import argparse
import http.client
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")

CONFIG = """
[probe]
interval = "1h"
timeout = "10s"
concurrency = 4

[[sources]]
name = "platform"
profile = "demo-platform"
expected_account = "111111111111"

[[targets]]
name = "healthy-claude"
source = "platform"
role_arn = "arn:aws:iam::222222222222:role/BedrockProbeRole"
external_id = "demo-external-id"
regions = ["us-east-1"]
models = ["anthropic.claude-3-haiku-20240307-v1:0"]
"""


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


def make_pki(d):
    """A CA and a server certificate for 127.0.0.1 signed by it (openssl CLI)."""
    ca_key, ca, key, csr, crt = (os.path.join(d, n) for n in ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem"))
    ext = os.path.join(d, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=probe-cost bench CA")
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    run("openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "2", "-extfile", ext)
    return ca, crt, key


class Relay:
    """Accepts connections on a free port (optionally terminating TLS) and relays them."""

    def __init__(self, upstream, tls=None):
        self.upstream, self.tls, self.accepted, self.resumed = upstream, tls, 0, 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            conn, _ = self.sock.accept()
            self.accepted += 1
            threading.Thread(target=self.pipe, args=(conn,), daemon=True).start()

    def pipe(self, conn):
        try:
            if self.tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
                if conn.session_reused:
                    self.resumed += 1
            up = socket.create_connection(("127.0.0.1", self.upstream))
        except OSError:
            conn.close()
            return

        def copy(src, dst):
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    dst.sendall(data)
            except OSError:
                pass
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        t = threading.Thread(target=copy, args=(up, conn), daemon=True)
        t.start()
        copy(conn, up)
        t.join()
        conn.close()
        up.close()


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def sockets(port):
    out = subprocess.run(["ss", "-tanH"], capture_output=True, text=True).stdout
    counts = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 5 and (parts[3].endswith(f":{port}") or parts[4].endswith(f":{port}")):
            counts[parts[0]] = counts.get(parts[0], 0) + 1
    return counts


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "target/release/bedrock-access-exporter"))
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--https", action="store_true")
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="probe-cost-")
    procs = []
    try:
        sim_port = free_port()
        procs.append(subprocess.Popen(
            [args.binary, "simulate", f"--scenario={ROOT}/config/demo/scenario.toml", f"--listen=127.0.0.1:{sim_port}"],
            stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "sim.log"), "w")))
        wait_port(sim_port)
        env = dict(os.environ)
        for k in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            env.pop(k, None)
        tls = None
        if args.https:
            ca, crt, key = make_pki(tmp)
            tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls.load_cert_chain(crt, key)
            env["AWS_CA_BUNDLE"] = ca
            env["SSL_CERT_FILE"] = ca
        relay = Relay(sim_port, tls)
        scheme = "https" if args.https else "http"
        config = os.path.join(tmp, "exporter.toml")
        with open(config, "w") as f:
            f.write(CONFIG)
        empty = os.path.join(tmp, "credentials")
        open(empty, "w").close()
        env.update({
            "AWS_ENDPOINT_URL": f"{scheme}://127.0.0.1:{relay.port}",
            "AWS_CONFIG_FILE": f"{ROOT}/config/demo/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": empty,
            "NO_PROXY": "127.0.0.1,localhost,::1",
        })
        web = free_port()
        exporter = subprocess.Popen(
            [args.binary, f"--config.file={config}", f"--web.listen-address=127.0.0.1:{web}", "--log.level=warn"],
            env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "exporter.log"), "w"))
        procs.append(exporter)
        wait_port(web)
        client = http.client.HTTPConnection("127.0.0.1", web, timeout=30)

        def probe():
            client.request("GET", "/probe?target=healthy-claude")
            body = client.getresponse().read().decode()
            if 'bedrock_access_probe_success{' not in body or "} 1" not in body.split("bedrock_access_probe_success{", 1)[1].split("\n", 1)[0]:
                sys.exit(f"probe did not pass:\n{body}\n--- exporter log ---\n{open(os.path.join(tmp, 'exporter.log')).read()[-3000:]}")

        for _ in range(5):
            probe()
        accepted0, resumed0, ticks0, t0 = relay.accepted, relay.resumed, cpu_ticks(exporter.pid), time.time()
        for _ in range(args.requests):
            probe()
        ticks, wall = cpu_ticks(exporter.pid) - ticks0, time.time() - t0
        accepted, resumed = relay.accepted - accepted0, relay.resumed - resumed0
        time.sleep(1)
        socks = sockets(relay.port)
        cpu_ms = ticks * 1000 / CLK_TCK / args.requests
        print(f"binary: {args.binary}")
        print(f"endpoint: {scheme}, {args.requests} sequential /probe (4 layers each), after 5 warm-up probes")
        print(f"exporter CPU: {ticks * 1000 / CLK_TCK:.0f} ms = {cpu_ms:.2f} ms per probe (wall {wall * 1000 / args.requests:.1f} ms per probe)")
        print(f"connections accepted by the endpoint: {accepted} ({accepted / args.requests:.2f} per probe)")
        if args.https:
            print(f"TLS handshakes resumed: {resumed} of {accepted} (warm-up: {relay.resumed} of {relay.accepted} in all)")
        print(f"sockets to the endpoint afterwards: {dict(sorted(socks.items()))}")
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


if __name__ == "__main__":
    main()
