#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use super::*;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn from_file(text: &str) -> Result<Config, ConfigError> {
    load_from(Some((Path::new("qtsp.toml"), text)), &BTreeMap::new())
}

fn message(result: Result<Config, ConfigError>) -> String {
    result.expect_err("config should be refused").to_string()
}

#[test]
fn defaults_without_file_are_the_embedded_setup() {
    let config = load_from(None, &BTreeMap::new()).unwrap();
    assert_eq!(config.data_dir, PathBuf::from("var"));
    assert_eq!(config.database.url, "sqlite://var/qtsp.db");
    assert_eq!(config.server.public_listen.to_string(), "127.0.0.1:8080");
    assert_eq!(config.server.api_listen.to_string(), "127.0.0.1:8443");
    assert!(matches!(
        config.hsm.backend,
        HsmBackend::EmbeddedSoftHsm { .. }
    ));
    assert_eq!(config.hsm.token, TokenSelector::Label("qtsp".into()));
    assert!(config.server.tls.generated);
    assert_eq!(config.log.format, LogFormat::Text);
}

#[test]
fn full_file_is_read() {
    let config = from_file(
        r#"
        version = 1
        data_dir = "/srv/qtsp"
        database_url = "postgres://qtsp:s3cret@db.internal:5432/qtsp"
        node_id = "paris-1"
        [hsm]
        module = "/usr/lib/vendor/libpkcs11.so"
        token_serial = "0123456789abcdef"
        user_pin_file = "/run/secrets/hsm-pin"
        sessions = 8
        [server]
        public_listen = "0.0.0.0:80"
        api_listen = "[::]:443"
        tls_cert_file = "/etc/qtsp/api.crt"
        tls_key_file = "/etc/qtsp/api.key"
        [log]
        format = "json"
        filter = "qtsp=debug,info"
        "#,
    )
    .unwrap();
    assert_eq!(config.data_dir, PathBuf::from("/srv/qtsp"));
    assert_eq!(
        config.database.redacted_url(),
        "postgres://qtsp:***@db.internal:5432/qtsp"
    );
    assert_eq!(
        config.hsm.backend,
        HsmBackend::Module {
            path: "/usr/lib/vendor/libpkcs11.so".into()
        }
    );
    assert_eq!(
        config.hsm.token,
        TokenSelector::Serial("0123456789abcdef".into())
    );
    assert_eq!(config.hsm.sessions, 8);
    assert!(!config.server.tls.generated);
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.node_id, "paris-1");
}

#[test]
fn environment_overrides_file() {
    let config = load_from(
        Some((
            Path::new("qtsp.toml"),
            "version = 1\n[server]\napi_listen = \"127.0.0.1:9443\"\n",
        )),
        &env(&[
            ("QTSP_API_LISTEN", "127.0.0.1:10443"),
            ("QTSP_DATA_DIR", "/tmp/x"),
            ("QTSP_DATABASE_URL", "postgres://postgres@127.0.0.1/test"),
            ("QTSP_HSM_USER_PIN", "1234"),
        ]),
    )
    .unwrap();
    assert_eq!(config.server.api_listen.to_string(), "127.0.0.1:10443");
    assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
    assert_eq!(config.database.url, "postgres://postgres@127.0.0.1/test");
    assert_eq!(config.hsm.user_pin.read().unwrap().as_str(), "1234");
    assert!(!format!("{:?}", config.hsm.user_pin).contains("1234"));
}

#[test]
fn missing_version_is_refused() {
    let msg = message(from_file("data_dir = \"var\"\n"));
    assert!(msg.starts_with("CFG003"), "{msg}");
    assert!(msg.contains("version = 1"), "{msg}");
}

#[test]
fn other_version_is_refused() {
    let msg = message(from_file("version = 2\n"));
    assert!(msg.starts_with("CFG004"), "{msg}");
    assert!(msg.contains("version = 2"), "{msg}");
}

#[test]
fn non_integer_version_is_refused() {
    let msg = message(from_file("version = \"1\"\n"));
    assert!(msg.starts_with("CFG005"), "{msg}");
    assert!(msg.contains("`version`"), "{msg}");
}

#[test]
fn unknown_key_is_refused_with_its_name() {
    let msg = message(from_file("version = 1\n[server]\napi_listn = \"x\"\n"));
    assert!(msg.starts_with("CFG002"), "{msg}");
    assert!(msg.contains("api_listn"), "{msg}");
}

#[test]
fn broken_toml_is_refused_with_position() {
    let msg = message(from_file("version = 1\n[server\n"));
    assert!(msg.starts_with("CFG002"), "{msg}");
    assert!(msg.contains("line 2"), "{msg}");
}

#[test]
fn wrong_type_is_refused() {
    let msg = message(from_file("version = 1\n[hsm]\nsessions = \"two\"\n"));
    assert!(msg.starts_with("CFG002"), "{msg}");
    assert!(msg.contains("sessions"), "{msg}");
}

#[test]
fn bad_listen_address_names_key_and_fix() {
    let msg = message(from_file(
        "version = 1\n[server]\npublic_listen = \"localhost\"\n",
    ));
    assert!(msg.contains("`server.public_listen`"), "{msg}");
    assert!(msg.contains("IP:PORT"), "{msg}");
    let msg = message(load_from(None, &env(&[("QTSP_API_LISTEN", "8443")])));
    assert!(
        msg.contains("`QTSP_API_LISTEN` (from the environment)"),
        "{msg}"
    );
}

#[test]
fn same_port_for_both_listeners_is_refused() {
    let msg = message(load_from(
        None,
        &env(&[
            ("QTSP_API_LISTEN", "127.0.0.1:8080"),
            ("QTSP_PUBLIC_LISTEN", "127.0.0.1:8080"),
        ]),
    ));
    assert!(msg.contains("different ports"), "{msg}");
}

#[test]
fn bad_database_url_is_refused_without_its_password() {
    let msg = message(load_from(
        None,
        &env(&[("QTSP_DATABASE_URL", "mysql://root:hunter2@db/x")]),
    ));
    assert!(msg.contains("QTSP_DATABASE_URL"), "{msg}");
    assert!(!msg.contains("hunter2"), "{msg}");
    assert!(msg.contains("postgres://"), "{msg}");
}

#[test]
fn out_of_range_numbers_are_refused() {
    let msg = message(from_file("version = 1\n[hsm]\nsessions = 0\n"));
    assert!(
        msg.contains("`hsm.sessions`") && msg.contains("1 to 256"),
        "{msg}"
    );
    let msg = message(from_file(
        "version = 1\n[server]\nmax_request_body_bytes = -5\n",
    ));
    assert!(msg.contains("max_request_body_bytes"), "{msg}");
    let msg = message(load_from(None, &env(&[("QTSP_HSM_SESSIONS", "lots")])));
    assert!(
        msg.contains("QTSP_HSM_SESSIONS") && msg.contains("not a number"),
        "{msg}"
    );
}

#[test]
fn module_without_token_or_pin_is_refused() {
    let msg = message(from_file(
        "version = 1\n[hsm]\nmodule = \"/usr/lib/x.so\"\nuser_pin_file = \"/p\"\n",
    ));
    assert!(msg.contains("hsm.token_label"), "{msg}");
    let msg = message(from_file(
        "version = 1\n[hsm]\nmodule = \"/usr/lib/x.so\"\ntoken_label = \"t\"\n",
    ));
    assert!(msg.contains("hsm.user_pin_file"), "{msg}");
}

#[test]
fn relative_module_path_is_refused() {
    let msg = message(from_file(
        "version = 1\n[hsm]\nmodule = \"libsofthsm2.so\"\ntoken_label = \"t\"\n",
    ));
    assert!(msg.contains("absolute path"), "{msg}");
}

#[test]
fn label_and_serial_together_are_refused() {
    let msg = message(from_file(
        "version = 1\n[hsm]\ntoken_label = \"a\"\ntoken_serial = \"b\"\n",
    ));
    assert!(msg.contains("keep only one"), "{msg}");
}

#[test]
fn overlong_label_is_refused() {
    let msg = message(from_file(&format!(
        "version = 1\n[hsm]\ntoken_label = \"{}\"\n",
        "x".repeat(33)
    )));
    assert!(msg.contains("32 bytes"), "{msg}");
}

#[test]
fn half_a_tls_pair_is_refused() {
    let msg = message(from_file(
        "version = 1\n[server]\ntls_cert_file = \"/etc/a.crt\"\n",
    ));
    assert!(msg.contains("set both"), "{msg}");
}

#[test]
fn bad_log_format_and_node_id_are_refused() {
    let msg = message(from_file("version = 1\n[log]\nformat = \"xml\"\n"));
    assert!(
        msg.contains("`log.format`") && msg.contains("\"json\""),
        "{msg}"
    );
    let msg = message(from_file("version = 1\nnode_id = \"a b\"\n"));
    assert!(msg.contains("`node_id`"), "{msg}");
}

#[test]
fn missing_config_and_secret_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.toml");
    let msg = load(Some(&missing)).unwrap_err().to_string();
    assert!(
        msg.starts_with("CFG001") && msg.contains("nope.toml"),
        "{msg}"
    );
    let pin = PinSource::File(dir.path().join("user.pin"));
    let msg = pin.read().unwrap_err().to_string();
    assert!(
        msg.starts_with("CFG006") && msg.contains("user.pin"),
        "{msg}"
    );
}

#[test]
fn secret_file_loses_its_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pin");
    std::fs::write(&path, "98765\n").unwrap();
    assert_eq!(PinSource::File(path).read().unwrap().as_str(), "98765");
}

#[test]
fn password_redaction() {
    assert_eq!(
        redact_url_password("postgres://u:p@h/db"),
        "postgres://u:***@h/db"
    );
    assert_eq!(
        redact_url_password("postgres://u@h/db"),
        "postgres://u@h/db"
    );
    assert_eq!(
        redact_url_password("sqlite://var/q.db"),
        "sqlite://var/q.db"
    );
}

#[test]
fn pki_urls_default_to_the_listeners_and_are_checked() {
    let config = load_from(None, &BTreeMap::new()).unwrap();
    assert_eq!(config.pki.public_base_url, "http://127.0.0.1:8080");
    assert_eq!(config.pki.pds_base_url, "https://127.0.0.1:8443/pds");
    let msg = message(from_file(
        "version = 1\n[pki]\npds_base_url = \"http://example.eu/pds\"\n",
    ));
    assert!(
        msg.contains("`pki.pds_base_url`") && msg.contains("https://"),
        "{msg}"
    );
    let msg = message(load_from(
        None,
        &env(&[("QTSP_PUBLIC_BASE_URL", "http://qtsp.example.eu/")]),
    ));
    assert!(
        msg.contains("QTSP_PUBLIC_BASE_URL") && msg.contains("trailing"),
        "{msg}"
    );
}

#[test]
fn clock_report_default_file_environment_and_bounds() {
    let config = load_from(None, &BTreeMap::new()).unwrap();
    assert_eq!(config.tsa.clock_report, Duration::from_secs(3600));
    let config = from_file("version = 1\n[tsa]\nclock_report_seconds = 600\n").unwrap();
    assert_eq!(config.tsa.clock_report, Duration::from_secs(600));
    let config = load_from(None, &env(&[("QTSP_TSA_CLOCK_REPORT_SECONDS", "5")])).unwrap();
    assert_eq!(config.tsa.clock_report, Duration::from_secs(5));
    for bad in ["0", "86401", "-1"] {
        let msg = message(from_file(&format!(
            "version = 1\n[tsa]\nclock_report_seconds = {bad}\n"
        )));
        assert!(
            msg.contains("tsa.clock_report_seconds") && msg.contains("1 to 86400"),
            "{msg}"
        );
    }
    let msg = message(load_from(
        None,
        &env(&[("QTSP_TSA_CLOCK_REPORT_SECONDS", "hourly")]),
    ));
    assert!(
        msg.contains("QTSP_TSA_CLOCK_REPORT_SECONDS") && msg.contains("not a number"),
        "{msg}"
    );
}

#[test]
fn crl_settings_default_and_bounds() {
    let config = load_from(None, &BTreeMap::new()).unwrap();
    assert_eq!(config.crl.next_update, Duration::from_secs(24 * 3600));
    assert_eq!(config.crl.refresh, Duration::from_secs(3600));
    let config = from_file(
        r#"
        version = 1
        [crl]
        next_update_hours = 48
        refresh_minutes = 30
        "#,
    )
    .unwrap();
    assert_eq!(config.crl.next_update, Duration::from_secs(48 * 3600));
    assert_eq!(config.crl.refresh, Duration::from_secs(30 * 60));
    let too_long = message(from_file("version = 1\n[crl]\nnext_update_hours = 169\n"));
    assert!(too_long.contains("crl.next_update_hours"), "{too_long}");
    let not_shorter = message(from_file(
        "version = 1\n[crl]\nnext_update_hours = 1\nrefresh_minutes = 60\n",
    ));
    assert!(not_shorter.contains("crl.refresh_minutes"), "{not_shorter}");
}

#[test]
fn crl_refresh_in_seconds_and_revocation_poll() {
    let config = load_from(None, &BTreeMap::new()).unwrap();
    assert_eq!(config.crl.revocation_poll, Duration::from_secs(5));
    let config = from_file(
        "version = 1\n[crl]\nnext_update_hours = 1\nrefresh_seconds = 2\nrevocation_poll_ms = 250\n",
    )
    .unwrap();
    assert_eq!(config.crl.refresh, Duration::from_secs(2));
    assert_eq!(config.crl.revocation_poll, Duration::from_millis(250));
    let both = message(from_file(
        "version = 1\n[crl]\nrefresh_minutes = 1\nrefresh_seconds = 2\n",
    ));
    assert!(
        both.contains("crl.refresh_seconds") && both.contains("only one"),
        "{both}"
    );
    let not_shorter = message(from_file(
        "version = 1\n[crl]\nnext_update_hours = 1\nrefresh_seconds = 3600\n",
    ));
    assert!(not_shorter.contains("crl.refresh_seconds"), "{not_shorter}");
    for (key, bad) in [
        ("refresh_seconds", "0"),
        ("revocation_poll_ms", "99"),
        ("revocation_poll_ms", "600001"),
    ] {
        let error = message(from_file(&format!("version = 1\n[crl]\n{key} = {bad}\n")));
        assert!(error.contains(&format!("crl.{key}")), "{error}");
    }
}

#[test]
fn ocsp_settings_default_and_bounds() {
    let config = load_from(None, &BTreeMap::new()).unwrap();
    assert_eq!(config.ocsp.next_update, Duration::from_secs(3600));
    let config = from_file("version = 1\n[ocsp]\nnext_update_minutes = 15\n").unwrap();
    assert_eq!(config.ocsp.next_update, Duration::from_secs(15 * 60));
    for bad in ["0", "10081"] {
        let error = message(from_file(&format!(
            "version = 1\n[ocsp]\nnext_update_minutes = {bad}\n"
        )));
        assert!(error.contains("ocsp.next_update_minutes"), "{error}");
    }
    let config = from_file("version = 1\n[ocsp]\nnext_update_seconds = 6\n").unwrap();
    assert_eq!(config.ocsp.next_update, Duration::from_secs(6));
    let both = message(from_file(
        "version = 1\n[ocsp]\nnext_update_minutes = 1\nnext_update_seconds = 6\n",
    ));
    assert!(both.contains("ocsp.next_update_seconds"), "{both}");
    for bad in ["0", "604801"] {
        let error = message(from_file(&format!(
            "version = 1\n[ocsp]\nnext_update_seconds = {bad}\n"
        )));
        assert!(error.contains("ocsp.next_update_seconds"), "{error}");
    }
}

#[test]
fn ocsp_cache_settings_default_and_bounds() {
    let config = load_from(None, &BTreeMap::new()).unwrap();
    assert_eq!(config.ocsp.cache, crate::ocsp::OcspCacheSettings::default());
    assert_eq!(config.ocsp.cache.max_entries, 10_000);
    assert_eq!(config.ocsp.cache.revocation_check, Duration::ZERO);
    let config =
        from_file("version = 1\n[ocsp]\ncache_max_entries = 0\nrevocation_check_ms = 250\n")
            .unwrap();
    assert_eq!(config.ocsp.cache.max_entries, 0);
    assert_eq!(
        config.ocsp.cache.revocation_check,
        Duration::from_millis(250)
    );
    for (key, bad) in [
        ("cache_max_entries", "-1"),
        ("cache_max_entries", "1000001"),
        ("revocation_check_ms", "60001"),
    ] {
        let error = message(from_file(&format!("version = 1\n[ocsp]\n{key} = {bad}\n")));
        assert!(error.contains(&format!("ocsp.{key}")), "{error}");
    }
}

const DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[test]
fn admin_is_disabled_by_default() {
    let config = load_from(None, &BTreeMap::new()).unwrap();
    assert_eq!(config.admin.token_sha256, None);
}

#[test]
fn admin_token_digest_from_the_environment() {
    let config = load_from(None, &env(&[("QTSP_ADMIN_TOKEN_SHA256", DIGEST)])).unwrap();
    let digest = config.admin.token_sha256.unwrap().read().unwrap();
    assert_eq!(hex::encode(digest), DIGEST);
    // Uppercase is the same digest.
    let upper = DIGEST.to_uppercase();
    let config = load_from(None, &env(&[("QTSP_ADMIN_TOKEN_SHA256", &upper)])).unwrap();
    assert_eq!(
        hex::encode(config.admin.token_sha256.unwrap().read().unwrap()),
        DIGEST
    );
}

#[test]
fn admin_token_in_place_of_its_digest_is_refused() {
    for bad in ["s3cret-token", "", &DIGEST[..63], &format!("{DIGEST}00")] {
        let msg = message(load_from(None, &env(&[("QTSP_ADMIN_TOKEN_SHA256", bad)])));
        assert!(
            msg.starts_with("CFG005") && msg.contains("QTSP_ADMIN_TOKEN_SHA256"),
            "{msg}"
        );
        // The value (which might be the token itself) is not repeated.
        if !bad.is_empty() {
            assert!(!msg.contains(bad), "{msg}");
        }
    }
}

#[test]
fn admin_token_digest_file_is_read_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.sha256");
    let config = from_file(&format!(
        "version = 1\n[admin]\ntoken_sha256_file = \"{}\"\n",
        path.display()
    ))
    .unwrap();
    let source = config.admin.token_sha256.unwrap();
    assert_eq!(source, AdminTokenDigest::File(path.clone()));
    // Missing file: named, with the key.
    let msg = source.read().unwrap_err().to_string();
    assert!(
        msg.starts_with("CFG006") && msg.contains("admin.token_sha256_file"),
        "{msg}"
    );
    // `sha256sum` output is accepted.
    std::fs::write(&path, format!("{DIGEST}  -\n")).unwrap();
    assert_eq!(hex::encode(source.read().unwrap()), DIGEST);
    // Anything else is refused without echoing the content.
    std::fs::write(&path, "the-token-itself\n").unwrap();
    let msg = source.read().unwrap_err().to_string();
    assert!(
        msg.starts_with("CFG005") && msg.contains("admin.token_sha256_file"),
        "{msg}"
    );
    assert!(!msg.contains("the-token-itself"), "{msg}");
}

#[test]
fn admin_environment_digest_wins_over_the_file() {
    let config = load_from(
        Some((
            Path::new("qtsp.toml"),
            "version = 1\n[admin]\ntoken_sha256_file = \"/run/secrets/admin\"\n",
        )),
        &env(&[("QTSP_ADMIN_TOKEN_SHA256", DIGEST)]),
    )
    .unwrap();
    assert!(matches!(
        config.admin.token_sha256,
        Some(AdminTokenDigest::Digest(_))
    ));
}

#[test]
fn admin_unknown_key_and_empty_path_are_refused() {
    let msg = message(from_file("version = 1\n[admin]\ntoken = \"s3cret\"\n"));
    assert!(msg.starts_with("CFG002") && msg.contains("token"), "{msg}");
    let msg = message(from_file(
        "version = 1\n[admin]\ntoken_sha256_file = \"\"\n",
    ));
    assert!(
        msg.starts_with("CFG005") && msg.contains("admin.token_sha256_file"),
        "{msg}"
    );
}
