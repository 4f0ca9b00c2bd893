#!/usr/bin/env bash
# Supply chain: `cargo deny check` (advisories, licences, bans, sources; deny.toml) against the
# RustSec advisory database snapshot beside the repository, ../shared/rustsec-advisory-db/
# (refreshed by hand; never committed here). No git host is reachable, so nothing is fetched:
# the snapshot is copied into a temporary local git repository at the place cargo-deny reads
# its database from (under db-path, $BEDROCK_EXPORTER_ADVISORY_DBS), and cargo-deny runs with
# --offline (no fetch). The snapshot's own date is the repository's commit date, so cargo-deny's
# staleness limit (maximum-db-staleness in deny.toml) applies to the snapshot, not to this run.
# Needs cargo-deny (./scripts/install-test-deps installs it) and git.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "deny.sh: $*" >&2; }
die() { echo "deny.sh: FAIL: $*" >&2; exit 1; }

# ../shared/rustsec-advisory-db/ beside the repository root; from a linked git worktree, beside
# the main checkout's root.
candidates=("$PWD/../shared/rustsec-advisory-db")
if common=$(git rev-parse --path-format=absolute --git-common-dir 2>/dev/null); then
  candidates+=("$(dirname "$common")/../shared/rustsec-advisory-db")
fi
snapshot=""
for c in "${candidates[@]}"; do
  if [ -d "$c/crates" ]; then snapshot=$(cd "$c" && pwd); break; fi
done
[ -n "$snapshot" ] || die "no RustSec advisory database snapshot (../shared/rustsec-advisory-db/ with crates/ inside, beside the repository root); looked at: ${candidates[*]}"
command -v cargo-deny >/dev/null 2>&1 || die "cargo-deny not found (./scripts/install-test-deps installs it)"
command -v git >/dev/null 2>&1 || die "git not found"

snapshot_date=$(grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}' "$snapshot/SNAPSHOT.txt" 2>/dev/null | head -n1 || true)
[ -n "$snapshot_date" ] || die "cannot tell the snapshot's date from $snapshot/SNAPSHOT.txt"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
export BEDROCK_EXPORTER_ADVISORY_DBS="$root/dbs"
mkdir -p "$BEDROCK_EXPORTER_ADVISORY_DBS"

# Where cargo-deny reads the database of deny.toml's db-urls: it says so at debug level.
# (Its directory name is derived from the URL; asking keeps this independent of the scheme.)
probe_log=$(cargo deny --offline --log-level debug check advisories 2>&1 || true)
db=$(printf '%s\n' "$probe_log" | sed -n "s/.*Opening advisory database at '\\([^']*\\)'.*/\\1/p" | head -n1)
[ -n "$db" ] || die "cargo-deny did not say where it reads its advisory database; its output was:
$(printf '%s\n' "$probe_log" | tail -n 20)"
case "$db" in
  "$BEDROCK_EXPORTER_ADVISORY_DBS"/*) ;;
  *) die "cargo-deny reads its database at $db, outside db-path $BEDROCK_EXPORTER_ADVISORY_DBS (deny.toml)" ;;
esac

mkdir -p "$db"
cp -R "$snapshot"/. "$db"/
(
  cd "$db"
  export GIT_AUTHOR_NAME=snapshot GIT_AUTHOR_EMAIL=snapshot@example.invalid
  export GIT_COMMITTER_NAME=snapshot GIT_COMMITTER_EMAIL=snapshot@example.invalid
  export GIT_AUTHOR_DATE="${snapshot_date}T00:00:00Z" GIT_COMMITTER_DATE="${snapshot_date}T00:00:00Z"
  git init -q -b main .
  git add -A
  git commit -q -m "RustSec advisory database snapshot of $snapshot_date"
)
say "advisory database: snapshot of $snapshot_date ($(find "$db/crates" -name 'RUSTSEC-*.md' | wc -l) crate advisories)"

cargo deny --offline --locked check advisories licenses bans sources
say "ok"
