#!/usr/bin/env bash
# The container image (Dockerfile), built and run as an operator would:
#   1. the release binary: the one build the test run shares with package.sh and kubernetes.sh
#      (whichever runs first compiles; cargo finds it fresh afterwards);
#   2. the build stage's base from Debian's packages (deploy/container/base.sh: mmdebstrap |
#      podman import; kept between runs, rebuilt when its recipe changes);
#   3. `podman build` of the Dockerfile, from the repository;
#   4. the image holds the binary and the example configuration (byte for byte), the loader and
#      libraries the binary links, the CA bundle, passwd/group/nsswitch.conf, and nothing else:
#      no shell; it runs as 65532:65532;
#   5. the image runs the daemon against the simulator's demo on the host's loopback: host
#      network, read-only root file system, user 65532, no capabilities, no new privileges,
#      config/demo/aws-config and exporter.toml mounted read-only, AWS_ENDPOINT_URL pointing at
#      the simulator; /-/healthy and /-/ready answer, and /metrics shows the demo's healthy
#      tuples succeeding on all four layers (and a denied one failing); `diagnose` runs through
#      exec (no shell needed), a shell does not; SIGTERM stops it with status 0.
# Podman on this machine: crun refuses the hybrid cgroup hierarchy, so runc; podman's default
# container rlimits exceed the sandbox's hard limits (no CAP_SYS_RESOURCE), so lower ones are
# passed explicitly; cgroupfs and file events, as there is no systemd to talk to.
# podman, runc and mmdebstrap come from scripts/install-test-deps (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "container.sh: $*" >&2; }
die() { echo "container.sh: FAIL: $*" >&2; exit 1; }
started=$SECONDS
step() { say "[$((SECONDS - started))s] $*"; }

for cmd in podman runc mmdebstrap; do
  command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found (./scripts/install-test-deps installs it)"
done
podman=(podman --cgroup-manager=cgroupfs --events-backend=file)
# Open files: the host's hard limit, at most 65536. Processes (counted per user, threads
# included): 4096 is plenty for one daemon, and under what runc may set here (32768 worked,
# 35000 did not).
nofile=$(ulimit -Hn)
{ [ "$nofile" = unlimited ] || [ "$nofile" -gt 65536 ]; } && nofile=65536
limits=(--runtime=runc --ulimit="nofile=$nofile:$nofile" --ulimit="nproc=4096:4096")

image=localhost/bedrock-access-exporter:test
name=bedrock-access-exporter-test-$$
tmp=$(mktemp -d)
sim_pid=""
cleanup() {
  "${podman[@]}" rm --force --ignore "$name" >/dev/null 2>&1 || true
  "${podman[@]}" image unmount "$image" >/dev/null 2>&1 || true
  "${podman[@]}" rmi --force "$image" >/dev/null 2>&1 || true
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

step "release binary (cargo build --release; no-op when already built)"
cargo build --release --locked --quiet
bin=target/release/bedrock-access-exporter

step "base image (deploy/container/base.sh)"
base=$(deploy/container/base.sh)

step "podman build"
"${podman[@]}" build --quiet --layers=false "${limits[@]}" --network=none --build-arg "BASE=$base" -t "$image" -f Dockerfile . >/dev/null \
  || die "podman build failed"
size=$("${podman[@]}" image inspect --format '{{.Size}}' "$image")
say "image $image: $((size / 1024 / 1024)) MiB"

step "image content and configuration"
[ "$("${podman[@]}" image inspect --format '{{.Config.User}}' "$image")" = "65532:65532" ] || die "the image does not run as 65532:65532"
[ "$("${podman[@]}" image inspect --format '{{json .Config.Entrypoint}}' "$image")" = '["/usr/bin/bedrock-access-exporter"]' ] \
  || die "the entrypoint is not the exporter"
root=$("${podman[@]}" image mount "$image")
(cd "$root" && find . -mindepth 1 \( -type f -o -type l \) | sed 's#^\./##' | sort) >"$tmp/files"
cmp -s "$root/usr/bin/bedrock-access-exporter" "$bin" || die "the image's binary is not target/release's"
cmp -s "$root/etc/bedrock-access-exporter/config.toml" config/example.toml || die "the image's config.toml is not config/example.toml"
grep -q 'BEGIN CERTIFICATE' "$root/etc/ssl/certs/ca-certificates.crt" || die "no CA bundle in the image"
grep -qx 'nonroot:x:65532:65532:.*' "$root/etc/passwd" || die "no user 65532 in /etc/passwd"
"${podman[@]}" image unmount "$image" >/dev/null
allowed='^(usr/bin/bedrock-access-exporter|etc/bedrock-access-exporter/config\.toml|etc/ssl/certs/ca-certificates\.crt|etc/(passwd|group|nsswitch\.conf)|lib64/ld-linux-x86-64\.so\.2|(usr/)?lib/x86_64-linux-gnu/lib[a-z_]+\.so\.[0-9]+)$'
if grep -vE "$allowed" "$tmp/files" >"$tmp/extra"; then
  cat "$tmp/extra" >&2
  die "the image holds files beyond the binary, its libraries, the configuration and the CA bundle"
fi
grep -qx 'usr/lib/x86_64-linux-gnu/libc.so.6\|lib/x86_64-linux-gnu/libc.so.6' "$tmp/files" || die "no libc in the image"
say "image files: $(tr '\n' ' ' <"$tmp/files")"

step "simulator (demo scenario) on the host's loopback"
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
sim_port=$(free_port)
web_port=$(free_port)
"$bin" simulate --scenario=config/demo/scenario.toml --listen="127.0.0.1:$sim_port" >"$tmp/sim.log" 2>&1 &
sim_pid=$!

step "the image against it: --read-only, --user 65532:65532, --cap-drop=ALL, host network"
"${podman[@]}" run --detach --name "$name" "${limits[@]}" \
  --network=host --read-only --user=65532:65532 --cap-drop=ALL --security-opt=no-new-privileges \
  -e AWS_ENDPOINT_URL="http://127.0.0.1:$sim_port" \
  -e AWS_CONFIG_FILE=/etc/bedrock-access-exporter/aws-config \
  -e AWS_EC2_METADATA_DISABLED=true \
  -e NO_PROXY=127.0.0.1,localhost,::1 -e no_proxy=127.0.0.1,localhost,::1 \
  -v "$PWD/config/demo/aws-config:/etc/bedrock-access-exporter/aws-config:ro" \
  -v "$PWD/config/demo/exporter.toml:/etc/bedrock-access-exporter/exporter.toml:ro" \
  "$image" --config.file=/etc/bedrock-access-exporter/exporter.toml \
  --web.listen-address="127.0.0.1:$web_port" >/dev/null || die "podman run failed"

# The container's process, seen from the host: user, capabilities, no_new_privs, read-only root.
pid=$("${podman[@]}" inspect --format '{{.State.Pid}}' "$name")
[ "${pid:-0}" -gt 0 ] || { "${podman[@]}" logs "$name" >&2; die "the container is not running"; }
grep -qE '^Uid:\s+65532\s+65532\s+65532\s+65532$' "/proc/$pid/status" || die "the daemon does not run as 65532: $(grep Uid "/proc/$pid/status")"
grep -qE '^CapEff:\s+0+$' "/proc/$pid/status" || die "the daemon has capabilities: $(grep CapEff "/proc/$pid/status")"
grep -qE '^NoNewPrivs:\s+1$' "/proc/$pid/status" || die "the daemon may gain privileges"
awk '$5 == "/" { split($6, o, ","); for (i in o) if (o[i] == "ro") ro = 1 } END { exit !ro }' "/proc/$pid/mountinfo" \
  || die "the container's root file system is not read-only"

step "waiting for /metrics to show the demo's healthy tuples"
if ! python3 - "$web_port" <<'PY'
import re, sys, time, urllib.request
port = sys.argv[1]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
def get(path):
    with opener.open(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
        return r.status, r.read().decode()
# (target, region) -> the tuple's expected probe_success; all four layers pass for the healthy ones
want = {
    ("healthy-claude", "us-east-1"): 1, ("healthy-claude", "us-west-2"): 1,
    ("healthy-profile", "us-east-1"): 1, ("healthy-embeddings", "us-east-1"): 1,
    ("scp-deny", "us-east-1"): 0,
}
layers = ["credentials", "assume_role", "model_access", "invoke"]
deadline, last = time.time() + 90, "nothing yet"
while time.time() < deadline:
    try:
        assert get("/-/healthy")[0] == 200
        if get("/-/ready")[0] != 200:
            raise OSError("not ready")
        text = get("/metrics")[1]
    except Exception as e:  # not listening yet, or 503
        last = str(e)
        time.sleep(1)
        continue
    got, layer_ok = {}, {}
    for line in text.splitlines():
        m = re.match(r'(bedrock_access_probe_success|bedrock_access_layer_success)\{(.*)\} (\S+)$', line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2)))
        key = (labels["target"], labels["aws_region"])
        if m.group(1) == "bedrock_access_probe_success":
            got[key] = float(m.group(3))
        elif float(m.group(3)) == 1:
            layer_ok.setdefault(key, set()).add(labels["layer"])
    missing = [k for k in want if k not in got]
    if not missing:
        wrong = [(k, got[k]) for k in want if got[k] != want[k]]
        wrong += [(k, sorted(layer_ok.get(k, []))) for k in want if want[k] and layer_ok.get(k) != set(layers)]
        if wrong:
            sys.exit(f"unexpected results: {wrong}")
        print(f"container.sh: {sum(want.values())} healthy tuples succeed on {', '.join(layers)}; scp-deny fails", file=sys.stderr)
        sys.exit(0)
    last = f"not yet probed: {missing}"
    time.sleep(1)
sys.exit(f"timed out: {last}")
PY
then
  "${podman[@]}" logs "$name" 2>&1 | tail -n 30 >&2
  die "the containerised daemon did not report the demo's healthy tuples"
fi
step "diagnose through exec, without a shell (as kubectl exec POD -- bedrock-access-exporter diagnose)"
"${podman[@]}" exec "$name" bedrock-access-exporter diagnose \
  --config.file=/etc/bedrock-access-exporter/exporter.toml --target=healthy-claude >"$tmp/diagnose" 2>&1 \
  || { cat "$tmp/diagnose" >&2; die "diagnose inside the container failed"; }
grep -q 'healthy-claude' "$tmp/diagnose" || { cat "$tmp/diagnose" >&2; die "diagnose printed no checklist"; }
"${podman[@]}" exec "$name" /bin/sh -c true >/dev/null 2>&1 && die "the image has a shell"
"${podman[@]}" stop --time=10 "$name" >/dev/null
[ "$("${podman[@]}" inspect --format '{{.State.ExitCode}}' "$name")" = 0 ] || die "the daemon did not stop cleanly on SIGTERM"
step "ok"
echo "container.sh: ok"
