//! `[admin]`: where the SHA-256 of the admin bearer token comes from.

use std::collections::BTreeMap;

use super::raw;
use super::secret::parse_sha256_hex;
use super::{AdminSettings, AdminTokenDigest, ConfigError, Origin, Source, env};

pub(super) fn admin_settings(
    raw: raw::RawAdmin,
    origin: &Origin<'_>,
    env: &BTreeMap<String, String>,
) -> Result<AdminSettings, ConfigError> {
    let file = raw
        .token_sha256_file
        .map(|path| (path, origin("admin.token_sha256_file")));
    let token_sha256 = match (env.get(env::ADMIN_TOKEN_SHA256), file) {
        (Some(hex), _) => {
            let source = Source::Env(env::ADMIN_TOKEN_SHA256.to_owned());
            match parse_sha256_hex(hex.trim()) {
                Some(digest) => Some(AdminTokenDigest::Digest(digest)),
                None => {
                    return Err(source.invalid(
                        "is not a hex SHA-256 (64 hex digits)",
                        "set the digest of the token, not the token: `printf %s \"$TOKEN\" | sha256sum`",
                    ));
                }
            }
        }
        (None, Some((path, source))) => {
            if path.as_os_str().is_empty() {
                return Err(source.invalid(
                    "is empty",
                    "name the file holding the token's SHA-256, or remove the key",
                ));
            }
            Some(AdminTokenDigest::File(path))
        }
        (None, None) => None,
    };
    Ok(AdminSettings { token_sha256 })
}
