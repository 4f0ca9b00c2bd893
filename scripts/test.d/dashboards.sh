#!/usr/bin/env bash
# Grafana dashboards: generated JSON up to date, then type-checked against Grafana's published
# dashboard schema (@grafana/schema, pinned in tools/grafana-schema/package-lock.json, installed
# with `npm ci` from the npm registry), including a broken copy that must be rejected (so the check
# cannot pass vacuously). No Grafana server runs here: nothing is rendered.
set -euo pipefail
cd "$(dirname "$0")/../.."

# Node.js and npm (Debian packages nodejs, npm) if missing; then they must be there.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "dashboards.sh: installing Debian packages nodejs npm" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
command -v node >/dev/null 2>&1 || { echo "dashboards.sh: node not found (Node.js 18+ needed)" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "dashboards.sh: npm not found" >&2; exit 1; }

python3 dashboards/generate.py --check

(cd tools/grafana-schema && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
node tools/grafana-schema/check.mjs

# The check must be able to fail: a dashboard with a misspelt panel option is rejected.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp/broken.json" <<'PY'
import json, sys
d = json.load(open("dashboards/bedrock-access-overview.json"))
table = next(p for p in d["panels"] if p["type"] == "table")
table["options"]["showHeadr"] = True
json.dump(d, open(sys.argv[1], "w"))
PY
if node tools/grafana-schema/check.mjs "$tmp/broken.json" >"$tmp/out" 2>&1; then
  cat "$tmp/out" >&2
  echo "dashboards.sh: a deliberately broken dashboard passed the schema check" >&2
  exit 1
fi
grep -q "showHeadr" "$tmp/out" || { cat "$tmp/out" >&2; echo "dashboards.sh: broken dashboard rejected for the wrong reason" >&2; exit 1; }
# leave the generated sources of the real dashboards, not of the broken copy
node tools/grafana-schema/check.mjs >/dev/null
echo "dashboards.sh: ok"
