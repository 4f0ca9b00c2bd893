#!/usr/bin/env bash
# Soak, short form: 30 schedule rounds (10 s each, about 5 minutes) of 200 tuples against the
# simulator with faults mixed in and a burst of 40 concurrent /probe per round; the exporter's
# RSS, open file descriptors and GET /metrics latency must not grow beyond the margins of
# benches/soak.py (which runs the long form: 1,000 rounds of 1,000 tuples, by hand).
set -euo pipefail
cd "$(dirname "$0")/../.."

cargo build --locked --bin bedrock-access-exporter
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
python3 benches/soak.py --rounds 30 --targets 10 --models 10 --regions 2 --burst 40 --every 5 \
  --binary "$target_dir/debug/bedrock-access-exporter"
echo "soak.sh: ok"
