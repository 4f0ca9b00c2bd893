#!/usr/bin/env bash
# Kubernetes manifests (deploy/kubernetes), offline: no cluster is involved.
#   1. the generated PrometheusRule and dashboards ConfigMap are up to date (generate.py --check);
#   2. kustomize renders the base, the example overlay, and the overlay with both components
#      (pod-identity, pod-monitor);
#   3. deploy/kubernetes/check.py: every Kubernetes kind against the schemas kubernetes-validate
#      ships (strict, oldest and newest version), and what the manifests promise (rules equal to
#      prometheus/*.yml, dashboards equal to dashboards/*.json, configuration valid, pod
#      hardened, probes, resources, ports, labels, scrape job, identity);
#   4. the ServiceMonitor, PodMonitor and PrometheusRule against the prometheus-operator CRD
#      models (@kubernetes-models/prometheus-operator, npm, pinned in tools/k8s-schema);
#   5. the rules inside each PrometheusRule with `promtool check rules`;
#   6. deliberately broken copies must be rejected, so the checks cannot pass vacuously.
# kustomize: `kustomize build` if installed, else `kubectl kustomize` (Debian, PyPI and npm have
# no kustomize for this machine; kubectl with its built-in kustomize comes with the machine
# image). Without either, the base's files and the patches are checked as they are, unrendered,
# and the script says so. kubernetes-validate (PyPI) and promtool come from
# scripts/install-test-deps; Node.js and npm from Debian if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "kubernetes.sh: $*" >&2; }
die() { echo "kubernetes.sh: FAIL: $*" >&2; exit 1; }

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "installing Debian packages nodejs npm"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
command -v promtool >/dev/null 2>&1 || die "promtool not found (./scripts/install-test-deps installs it)"
python3 -c 'import kubernetes_validate, yaml' 2>/dev/null || die "kubernetes-validate not found (./scripts/install-test-deps installs it)"

python3 deploy/kubernetes/generate.py --check

# The exporter binary, for check-config on the ConfigMaps: the release build the other checks
# share (a no-op when package.sh or container.sh built it already).
cargo build --release --locked --quiet
bin=target/release/bedrock-access-exporter

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

renderer=()
if command -v kustomize >/dev/null 2>&1; then
  renderer=(kustomize build)
elif command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1; then
  renderer=(kubectl kustomize)
fi
render() { "${renderer[@]}" "$1"; }

k8s=deploy/kubernetes
if [ "${#renderer[@]}" -gt 0 ]; then
  say "rendering with ${renderer[*]}"
  render "$k8s/base" >"$tmp/base.yaml"
  render "$k8s/overlays/example" >"$tmp/overlay.yaml"
  # The example overlay with both components, as its comment shows (kustomize wants relative paths).
  mkdir -p "$tmp/both"
  rel() { python3 -c 'import os, sys; print(os.path.relpath(sys.argv[1], sys.argv[2]))' "$PWD/$1" "$tmp/both"; }
  cat >"$tmp/both/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(rel "$k8s/overlays/example")
components:
  - $(rel "$k8s/components/pod-identity")
  - $(rel "$k8s/components/pod-monitor")
EOF
  render "$tmp/both" >"$tmp/both.yaml"
  python3 "$k8s/check.py" --out "$tmp" --binary "$bin" \
    base="$tmp/base.yaml" overlay="$tmp/overlay.yaml" pod-identity+pod-monitor="$tmp/both.yaml"
else
  say "NOTE: no kustomize (neither kustomize nor kubectl): base and overlay are NOT rendered;"
  say "checking the base's, overlays' and components' files as they are, and the patches' targets"
  for f in $(python3 -c 'import sys, yaml; print(" ".join(yaml.safe_load(open(sys.argv[1]))["resources"]))' "$k8s/base/kustomization.yaml"); do
    cat "$k8s/base/$f"
    echo "---"
  done >"$tmp/base.yaml"
  python3 "$k8s/check.py" --out "$tmp" --binary "$bin" --unrendered base="$tmp/base.yaml"
fi

(cd tools/k8s-schema && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
node tools/k8s-schema/check.mjs "$tmp/crds.json"
for rules in "$tmp"/rules-*.yml; do
  promtool check rules "$rules" >/dev/null || die "promtool rejects the rules of $(basename "$rules")"
done

# The checks must be able to fail.
python3 - "$tmp/broken-crds.json" "$tmp/base.yaml" <<'PY'
import json, sys, yaml
import kubernetes_validate
docs = [d for d in yaml.safe_load_all(open(sys.argv[2])) if d]
sts = next(d for d in docs if d["kind"] == "StatefulSet")
sts["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesytem"] = True
try:
    kubernetes_validate.validate(sts, kubernetes_validate.latest_version(), strict=True)
    sys.exit("a StatefulSet with a misspelt securityContext field passed kubernetes-validate")
except kubernetes_validate.ValidationError as e:
    assert "readOnlyRootFilesytem" in e.message, e.message
sm = next(d for d in docs if d["kind"] == "ServiceMonitor")
sm["spec"]["endpoints"][0]["scrapeTimout"] = "10s"
json.dump([{"source": "broken", "doc": sm}], open(sys.argv[1], "w"))
PY
if node tools/k8s-schema/check.mjs "$tmp/broken-crds.json" >"$tmp/out" 2>&1; then
  cat "$tmp/out" >&2
  die "a ServiceMonitor with a misspelt field passed the CRD check"
fi
grep -q scrapeTimout "$tmp/out" || { cat "$tmp/out" >&2; die "broken ServiceMonitor rejected for the wrong reason"; }
rules=$(ls "$tmp"/rules-*.yml | head -n1)
sed 's/for: 10m$/for: ten minutes/' "$rules" >"$tmp/broken-rules.yml"
cmp -s "$rules" "$tmp/broken-rules.yml" && die "no rule with for: 10m to break"
if promtool check rules "$tmp/broken-rules.yml" >/dev/null 2>&1; then
  die "promtool accepted a rule with a malformed duration"
fi
echo "kubernetes.sh: ok"
