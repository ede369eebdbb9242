# qtsp: multi-stage build; the runtime runs as a non-root user with SoftHSM2 installed.
# Any other PKCS#11 module can be mounted and named with QTSP_HSM_MODULE (plus QTSP_HSM_TOKEN_LABEL and
# QTSP_HSM_USER_PIN_FILE); the data directory is a volume.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin qtsp

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends softhsm2 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system qtsp \
    && useradd --system --gid qtsp --home-dir /var/lib/qtsp --create-home --shell /usr/sbin/nologin qtsp
COPY --from=build /src/target/release/qtsp /usr/local/bin/qtsp
COPY --from=build /src/policies /usr/share/qtsp/policies

USER qtsp
WORKDIR /var/lib/qtsp
ENV QTSP_DATA_DIR=/var/lib/qtsp/var \
    QTSP_PUBLIC_LISTEN=0.0.0.0:8080 \
    QTSP_API_LISTEN=0.0.0.0:8443 \
    QTSP_LOG_FORMAT=json
VOLUME ["/var/lib/qtsp/var"]
EXPOSE 8080 8443
# `qtsp init` is idempotent: the first start creates the token and keys, later starts change nothing.
ENTRYPOINT ["/bin/sh", "-c", "qtsp init && exec qtsp serve"]
