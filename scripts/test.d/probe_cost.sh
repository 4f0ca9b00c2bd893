#!/usr/bin/env bash
# The side-by-side cost benchmark in its short form (benches/probe_cost.py --short, ~30 s): every
# step runs (the exporter's /probe and background schedule, Debian's blackbox exporter and a
# boto3 script, all over the simulator's HTTPS) against the debug binary `cargo test` built.
# It asserts nothing timed: the figures of a debug build on a shared machine mean nothing; it
# fails only when a step does not work. Fails if prometheus-blackbox-exporter is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v prometheus-blackbox-exporter >/dev/null 2>&1 || {
  echo "probe_cost.sh: prometheus-blackbox-exporter not found (./scripts/install-test-deps installs it)" >&2
  exit 1
}
binary="${CARGO_TARGET_DIR:-target}/debug/bedrock-access-exporter"
[ -x "$binary" ] || cargo build --locked --bin bedrock-access-exporter
python3 benches/probe_cost.py --short --binary "$binary"
