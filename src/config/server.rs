//! `[server]`: the listeners, the API's TLS pair, request limits and timeouts.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use super::raw;
use super::{ConfigError, Origin, Pick, PickPath, ServerSettings, TlsSettings, env, positive};

pub(super) fn server_settings(
    raw: raw::RawServer,
    data_dir: &Path,
    pick: &Pick<'_>,
    pick_path: &PickPath<'_>,
    origin: &Origin<'_>,
) -> Result<ServerSettings, ConfigError> {
    let listen = |env_var: &str, key: &str, value: Option<String>, default: &str| match pick(
        env_var, key, value,
    ) {
        None => default.parse().map_err(|_| {
            origin(key).invalid("the built-in default does not parse", "report this bug")
        }),
        Some((text, source)) => text.parse::<SocketAddr>().map_err(|_| {
            source.invalid(
                &format!("`{text}` is not an address and port"),
                "use IP:PORT such as 127.0.0.1:8443 or [::1]:8443",
            )
        }),
    };
    let public_listen = listen(
        env::PUBLIC_LISTEN,
        "server.public_listen",
        raw.public_listen,
        "127.0.0.1:8080",
    )?;
    let api_listen = listen(
        env::API_LISTEN,
        "server.api_listen",
        raw.api_listen,
        "127.0.0.1:8443",
    )?;
    // Port 0 (any free port, as tests use) may appear on both.
    if public_listen == api_listen && api_listen.port() != 0 {
        return Err(origin("server.api_listen").invalid(
            &format!("the public and API listeners both use {api_listen}"),
            "give them different ports",
        ));
    }
    let cert = pick_path(
        env::TLS_CERT_FILE,
        "server.tls_cert_file",
        raw.tls_cert_file,
    );
    let key = pick_path(env::TLS_KEY_FILE, "server.tls_key_file", raw.tls_key_file);
    let tls = match (cert, key) {
        (Some((cert_file, _)), Some((key_file, _))) => TlsSettings {
            cert_file,
            key_file,
            generated: false,
        },
        (None, None) => TlsSettings {
            cert_file: data_dir.join("tls").join("api.crt"),
            key_file: data_dir.join("tls").join("api.key"),
            generated: true,
        },
        (Some((_, source)), None) | (None, Some((_, source))) => {
            return Err(source.invalid(
                "only one of the TLS certificate and key files is set",
                "set both server.tls_cert_file and server.tls_key_file, or neither \
                 (qtsp init then generates a local pair)",
            ));
        }
    };
    let millis = |value: Option<i64>, key: &str, default: u64, range| {
        positive(value, origin(key), default, range).map(Duration::from_millis)
    };
    Ok(ServerSettings {
        public_listen,
        api_listen,
        tls,
        max_request_body_bytes: positive(
            raw.max_request_body_bytes,
            origin("server.max_request_body_bytes"),
            1 << 20,
            1..=(64 << 20),
        )? as usize,
        request_timeout: millis(
            raw.request_timeout_ms,
            "server.request_timeout_ms",
            30_000,
            1..=600_000,
        )?,
        shutdown_grace: millis(
            raw.shutdown_grace_ms,
            "server.shutdown_grace_ms",
            30_000,
            0..=600_000,
        )?,
        tls_handshake_timeout: millis(
            raw.tls_handshake_timeout_ms,
            "server.tls_handshake_timeout_ms",
            10_000,
            1..=120_000,
        )?,
    })
}
