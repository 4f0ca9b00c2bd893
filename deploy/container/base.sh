#!/usr/bin/env bash
# Builds the local base image the Dockerfile's first stage starts FROM, from Debian's own
# packages (no image registry needed): Debian 12 "bookworm" with its security updates, the
# packages libc6, libgcc-s1, ca-certificates (and what they depend on) and busybox, unpacked by
# mmdebstrap (variant "extract": no maintainer scripts, no dpkg database) and imported with
# podman. busybox is only the build stage's shell; the final image is FROM scratch and takes
# from this one nothing but the binary's loader and libraries and the CA bundle.
#
# Usage: deploy/container/base.sh [--force]     (podman and mmdebstrap: Debian packages)
# Idempotent: an existing image of the same recipe is kept; --force rebuilds it (for instance
# to pick up new security updates). Prints the image name.
set -euo pipefail
cd "$(dirname "$0")"

IMAGE=${BASE_IMAGE:-localhost/bedrock-access-exporter-build-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SECURITY=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
PACKAGES=libc6,libgcc-s1,ca-certificates,busybox

say() { echo "base.sh: $*" >&2; }

for cmd in podman mmdebstrap; do
  command -v "$cmd" >/dev/null 2>&1 || { say "$cmd not found (Debian package $cmd)"; exit 1; }
done

# The recipe's fingerprint: this script. An image built by another version is rebuilt.
recipe=$(sha256sum "$(basename "$0")" | cut -c1-16)
if [ "${1:-}" != "--force" ] && podman image exists "$IMAGE"; then
  have=$(podman image inspect --format '{{ index .Labels "recipe" }}' "$IMAGE" 2>/dev/null || true)
  if [ "$have" = "$recipe" ]; then
    echo "$IMAGE"
    exit 0
  fi
fi

old=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
say "building $IMAGE from Debian bookworm ($PACKAGES)"
# Extract hooks (the only ones the extract variant runs) run on the host with the tree as $1:
#   - /bin/sh and the other busybox applets for the Dockerfile's RUN (an extracted busybox is
#     linked to no name);
#   - the CA bundle that ca-certificates' maintainer script would have written
#     (update-ca-certificates: every certificate of /usr/share/ca-certificates, one after the
#     other, each ending with a newline);
#   - no documentation, manual pages or locales (the build stage does not need them).
mmdebstrap --quiet --variant=extract --include="$PACKAGES" \
  --extract-hook='mkdir -p "$1/sbin" "$1/usr/sbin" && chroot "$1" /bin/busybox --install -s' \
  --extract-hook='mkdir -p "$1/etc/ssl/certs" && for c in "$1"/usr/share/ca-certificates/*/*.crt; do sed -e "\$a\\" "$c"; done > "$1/etc/ssl/certs/ca-certificates.crt"' \
  --extract-hook='test -s "$1/etc/ssl/certs/ca-certificates.crt"' \
  --extract-hook='rm -rf "$1"/usr/share/doc "$1"/usr/share/man "$1"/usr/share/locale "$1"/usr/share/info "$1"/var/cache/apt "$1"/var/lib/apt' \
  bookworm - \
  "deb $MIRROR bookworm main" \
  "deb $MIRROR bookworm-updates main" \
  "deb $SECURITY bookworm-security main" |
  podman import --quiet \
    --change 'CMD ["/bin/sh"]' \
    --change "LABEL recipe=$recipe" \
    --change 'LABEL org.opencontainers.image.description="Debian bookworm libc6, libgcc-s1, ca-certificates and busybox: build stage of bedrock-access-exporter"' \
    - "$IMAGE" >/dev/null
# The image this one replaces, unless something still uses it.
[ -z "$old" ] || podman rmi "$old" >/dev/null 2>&1 || true
echo "$IMAGE"
