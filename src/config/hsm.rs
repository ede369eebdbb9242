//! `[hsm]`: which PKCS#11 module, which token, where the user PIN comes from; and the
//! `SOFTHSM2_CONF` the embedded token needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

use super::raw;
use super::{
    Config, ConfigError, EMBEDDED_TOKEN_LABEL, HsmBackend, HsmSettings, Origin, Pick, PickPath,
    PinSource, TokenSelector, env, parse_in_range, positive,
};

pub(super) fn hsm_settings(
    raw: raw::RawHsm,
    data_dir: &Path,
    env: &BTreeMap<String, String>,
    pick: &Pick<'_>,
    pick_path: &PickPath<'_>,
    origin: &Origin<'_>,
) -> Result<HsmSettings, ConfigError> {
    let hsm_dir = data_dir.join("hsm");
    let backend = match pick_path(env::HSM_MODULE, "hsm.module", raw.module) {
        Some((path, source)) => {
            if !path.is_absolute() {
                return Err(source.invalid(
                    &format!("`{}` is not an absolute path", path.display()),
                    "give the full path of the PKCS#11 module (.so)",
                ));
            }
            HsmBackend::Module { path }
        }
        None => HsmBackend::EmbeddedSoftHsm {
            conf_path: data_dir.join("softhsm2.conf"),
            tokens_dir: data_dir.join("tokens"),
            so_pin_file: hsm_dir.join("so.pin"),
        },
    };
    let label = pick(env::HSM_TOKEN_LABEL, "hsm.token_label", raw.token_label);
    let serial = pick(env::HSM_TOKEN_SERIAL, "hsm.token_serial", raw.token_serial);
    let token = match (label, serial) {
        (Some((_, source)), Some(_)) => {
            return Err(source.invalid(
                "both a token label and a token serial are set",
                "keep only one of hsm.token_label / hsm.token_serial",
            ));
        }
        (Some((label, source)), None) => {
            // PKCS#11 token labels are 32 bytes, blank padded.
            if label.is_empty() || label.len() > 32 {
                return Err(source.invalid(
                    "a token label has 1 to 32 bytes",
                    "shorten or set the label",
                ));
            }
            TokenSelector::Label(label)
        }
        (None, Some((serial, source))) => {
            if serial.is_empty() || serial.len() > 16 {
                return Err(source.invalid(
                    "a token serial number has 1 to 16 characters",
                    "copy it from `pkcs11-tool -L` or the HSM's console",
                ));
            }
            TokenSelector::Serial(serial)
        }
        (None, None) => match backend {
            HsmBackend::EmbeddedSoftHsm { .. } => {
                TokenSelector::Label(EMBEDDED_TOKEN_LABEL.to_owned())
            }
            HsmBackend::Module { .. } => {
                return Err(origin("hsm.token_label").invalid(
                    "a PKCS#11 module is configured but no token is named",
                    "set hsm.token_label or hsm.token_serial (never a slot number: slots move)",
                ));
            }
        },
    };
    let user_pin = match env.get(env::HSM_USER_PIN) {
        Some(pin) => PinSource::Environment(Zeroizing::new(pin.clone())),
        None => match pick_path(
            env::HSM_USER_PIN_FILE,
            "hsm.user_pin_file",
            raw.user_pin_file,
        ) {
            Some((path, _)) => PinSource::File(path),
            None => match backend {
                HsmBackend::EmbeddedSoftHsm { .. } => PinSource::File(hsm_dir.join("user.pin")),
                HsmBackend::Module { .. } => {
                    return Err(origin("hsm.user_pin_file").invalid(
                        "a PKCS#11 module is configured but no user PIN is given",
                        "set hsm.user_pin_file (a file readable only by qtsp) or QTSP_HSM_USER_PIN",
                    ));
                }
            },
        },
    };
    let sessions = match pick(env::HSM_SESSIONS, "hsm.sessions", None) {
        Some((text, source)) => parse_in_range(&text, &source, 1..=256)?,
        None => positive(raw.sessions, origin("hsm.sessions"), 2, 1..=256)?,
    };
    Ok(HsmSettings {
        backend,
        token,
        user_pin,
        sessions: sessions as usize,
        queue_depth: positive(
            raw.queue_depth,
            origin("hsm.queue_depth"),
            4096,
            1..=1_000_000,
        )? as usize,
    })
}

/// For the embedded SoftHSM2: the absolute configuration path to export as `SOFTHSM2_CONF` when the
/// environment does not already name it (`None` when nothing needs doing).
pub fn softhsm_conf_to_export(config: &Config) -> Option<PathBuf> {
    let HsmBackend::EmbeddedSoftHsm { conf_path, .. } = &config.hsm.backend else {
        return None;
    };
    if config.reexecuted {
        return None;
    }
    let wanted = std::path::absolute(conf_path).ok()?;
    let current = config
        .softhsm2_conf_env
        .as_ref()
        .and_then(|p| std::path::absolute(p).ok());
    (current.as_ref() != Some(&wanted)).then_some(wanted)
}
