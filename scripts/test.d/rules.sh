#!/usr/bin/env bash
# Prometheus rules: generated alerts.yml up to date, `promtool check rules`, the promtool unit
# tests (every alert fires when it should and stays silent on a transient blip, a guardrail and a
# never-succeeded tuple), and the example scrape configuration. Fails if promtool is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

command -v promtool >/dev/null 2>&1 || {
  echo "rules.sh: promtool not found (Debian package prometheus; ./scripts/install-test-deps installs it)" >&2
  exit 1
}
python3 prometheus/generate.py --check
promtool check rules prometheus/alerts.yml prometheus/recording.yml
promtool test rules prometheus/tests/*.yml
# check config also checks the rule files it names; those are install paths, so check a copy
# pointing at the repository's files.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/usr/share/bedrock-access-exporter/prometheus/|$PWD/prometheus/|" prometheus/scrape-config.yml >"$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml"
echo "rules.sh: ok"
