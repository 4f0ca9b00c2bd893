# The container image of bedrock-access-exporter: the release binary and the example
# configuration on nothing but the C library the binary links and the CA bundle. No shell, no
# package manager, no busybox; a fixed non-root user (65532); nothing is written at run time, so
# it runs with a read-only root file system.
#
#   cargo build --release --locked          # the binary this image packages (target/release)
#   deploy/container/base.sh                # the build stage's base, from Debian's packages
#   podman build -t bedrock-access-exporter .
#
# The binary is built outside (the same target/release the Debian package takes), so CI compiles
# once; .dockerignore keeps everything but the two files below out of the build context.
# scripts/test.d/container.sh builds this image and runs it against the simulator.

# Debian bookworm with libc6, libgcc-s1, ca-certificates and busybox, made by
# deploy/container/base.sh (mmdebstrap | podman import). The final image takes only files
# from it.
ARG BASE=localhost/bedrock-access-exporter-build-base:bookworm

# Stage 1: assemble the runtime root file system under /rootfs, and prove it is complete.
FROM ${BASE} AS rootfs
COPY target/release/bedrock-access-exporter /rootfs/usr/bin/bedrock-access-exporter
COPY config/example.toml /rootfs/etc/bedrock-access-exporter/config.toml
RUN set -eu; \
    bin=/rootfs/usr/bin/bedrock-access-exporter; \
    chmod 0755 "$bin"; chmod 0644 /rootfs/etc/bedrock-access-exporter/config.toml; \
    # The loader and every shared library the binary needs, as the loader itself resolves them.
    /lib64/ld-linux-x86-64.so.2 --list "$bin" > /tmp/libs; \
    if grep -q 'not found' /tmp/libs; then cat /tmp/libs; exit 1; fi; \
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' /tmp/libs > /tmp/files; \
    grep -q '^/lib64/ld-linux-x86-64.so.2$' /tmp/files; \
    for f in $(cat /tmp/files); do mkdir -p "/rootfs${f%/*}"; cp -L "$f" "/rootfs$f"; done; \
    # TLS roots for the AWS endpoints (rustls-native-certs reads the standard bundle path).
    mkdir -p /rootfs/etc/ssl/certs; \
    cp /etc/ssl/certs/ca-certificates.crt /rootfs/etc/ssl/certs/ca-certificates.crt; \
    # The fixed non-root user, by number and by name; no login shell, no home.
    printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnonroot:x:65532:65532:nonroot:/nonexistent:/usr/sbin/nologin\n' > /rootfs/etc/passwd; \
    printf 'root:x:0:\nnonroot:x:65532:\n' > /rootfs/etc/group; \
    printf 'hosts: files dns\n' > /rootfs/etc/nsswitch.conf; \
    # The file set is complete: the binary starts and validates its configuration in it alone.
    chroot /rootfs /usr/bin/bedrock-access-exporter --version; \
    chroot /rootfs /usr/bin/bedrock-access-exporter check-config \
      --config.file=/etc/bedrock-access-exporter/config.toml > /dev/null; \
    # ... and nothing a shell would need came along.
    for sh in /bin/sh /bin/busybox /usr/bin/env /bin/ls; do test ! -e "/rootfs$sh"; done

# Stage 2: the image.
FROM scratch
COPY --from=rootfs /rootfs/ /
ENV PATH=/usr/bin
USER 65532:65532
EXPOSE 9819
ENTRYPOINT ["/usr/bin/bedrock-access-exporter"]
CMD ["--config.file=/etc/bedrock-access-exporter/config.toml"]
LABEL org.opencontainers.image.title="bedrock-access-exporter" \
      org.opencontainers.image.description="Prometheus exporter that probes cross-account AWS Bedrock access layer by layer" \
      org.opencontainers.image.licenses="Apache-2.0"
