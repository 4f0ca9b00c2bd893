#!/usr/bin/env bash
# The Debian package and the hardened unit, as an operator gets them:
#   1. `cargo deb` builds the package with the release profile, as a release does (cargo-deb is
#      installed if missing); this is also the test run's release build of the binary, which
#      `cargo run --release -- demo` in the README needs;
#   2. the package holds the binary, the unit, the two conffiles, the dashboards and their
#      provisioning, the Prometheus rules and scrape config and the README, and its maintainer
#      scripts neither enable nor start the service;
#   3. the packaged binary runs under the packaged unit's system-call filter, W^X, address
#      families and an unprivileged identity against the simulator (systemd/sandbox-check.py).
# Installs, if missing: cargo-deb (crates.io), python3-seccomp and util-linux (Debian).
set -euo pipefail
[ -f Cargo.toml ] && [ -d systemd ] || { echo "package.sh: run from the repository root" >&2; exit 1; }

say() { echo "package.sh: $*" >&2; }
die() { echo "package.sh: FAIL: $*" >&2; exit 1; }

if ! command -v cargo-deb >/dev/null 2>&1; then
  say "installing cargo-deb"
  cargo install --locked --quiet cargo-deb --version '~3.8'
fi
if ! /usr/bin/python3 -c 'import seccomp' >/dev/null 2>&1 || ! command -v setpriv >/dev/null 2>&1; then
  say "installing python3-seccomp and util-linux (seccomp bindings, setpriv) for the sandbox check"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends python3 python3-seccomp util-linux >/dev/null
fi

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

say "building the package (cargo deb, release profile, fast compression)"
cargo deb --locked --fast --quiet -o "$out/"
deb=$(ls "$out"/*.deb 2>/dev/null | head -n1)
[ -n "$deb" ] || die "cargo deb produced no .deb"
say "built $(basename "$deb") ($(du -h "$deb" | cut -f1))"

list=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's#^\./#/#')
has() { grep -qxF "$1" <<<"$list" || die "the package lacks $1"; }
has /usr/bin/bedrock-access-exporter
unit_path=$(grep -E '^/(usr/)?lib/systemd/system/bedrock-access-exporter\.service$' <<<"$list" | head -n1)
[ -n "$unit_path" ] || die "the package lacks the systemd unit"
has /etc/bedrock-access-exporter/config.toml
has /etc/default/bedrock-access-exporter
has /usr/share/doc/bedrock-access-exporter/README.md
for f in dashboards/*.json dashboards/provisioning/*.yml prometheus/*.yml; do
  [ -e "$f" ] || die "$f does not exist in the repository"
done
has /usr/share/bedrock-access-exporter/dashboards/bedrock-access-overview.json
has /usr/share/bedrock-access-exporter/dashboards/bedrock-access-tuple.json
has /usr/share/bedrock-access-exporter/dashboards/provisioning/dashboards.yml
has /usr/share/bedrock-access-exporter/dashboards/provisioning/datasource.yml
has /usr/share/bedrock-access-exporter/prometheus/alerts.yml
has /usr/share/bedrock-access-exporter/prometheus/recording.yml
has /usr/share/bedrock-access-exporter/prometheus/scrape-config.yml
if grep -q '/prometheus/tests/' <<<"$list"; then die "prometheus/tests/ must not be packaged"; fi

ctrl="$out/control"
dpkg-deb -e "$deb" "$ctrl"
for c in /etc/bedrock-access-exporter/config.toml /etc/default/bedrock-access-exporter; do
  grep -qxF "$c" "$ctrl/conffiles" || die "$c is not a conffile"
done
grep -q '^Depends: .*libc6' "$ctrl/control" || die "no Depends on libc6 in the control file"
[ -f "$ctrl/postinst" ] || die "no postinst (systemd daemon-reload and restart after upgrade)"
grep -q 'daemon-reload' "$ctrl/postinst" || die "postinst does not reload systemd"
# Installation must neither start the service nor enable it (the example config.toml probes
# accounts that are not yours); re-enabling after an upgrade what the operator enabled is fine.
# (cargo-deb's snippets: start=true adds `deb-systemd-invoke $_dh_action`; enable=true runs
# `deb-systemd-helper enable` without the `debian-installed` guard of the no-enable snippet.)
if grep -qE 'deb-systemd-invoke (start|\$_dh_action)' "$ctrl/postinst"; then
  die "postinst starts the service on installation"
fi
if grep -q 'deb-systemd-helper enable' "$ctrl/postinst" && ! grep -q 'deb-systemd-helper debian-installed' "$ctrl/postinst"; then
  die "postinst enables the service on installation"
fi

root="$out/root"
dpkg-deb -x "$deb" "$root"
cmp -s "$root$unit_path" systemd/bedrock-access-exporter.service || die "the packaged unit differs from systemd/bedrock-access-exporter.service"
cmp -s "$root/etc/bedrock-access-exporter/config.toml" config/example.toml || die "the packaged config.toml is not config/example.toml"
"$root/usr/bin/bedrock-access-exporter" --version >/dev/null || die "the packaged binary does not run"
"$root/usr/bin/bedrock-access-exporter" check-config --config.file="$root/etc/bedrock-access-exporter/config.toml" >/dev/null \
  || die "the packaged example configuration does not validate"
say "package content OK"

/usr/bin/python3 systemd/sandbox-check.py "$root/usr/bin/bedrock-access-exporter" "$root$unit_path" .
say "OK"
