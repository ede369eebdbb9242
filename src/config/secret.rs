//! Secrets: reading secret files, the admin token's digest, passwords kept out of messages.

use std::path::Path;
use zeroize::Zeroizing;

use super::ConfigError;

/// Reads a secret from a file; the content is zeroized when dropped.
pub fn read_secret_file(key: &str, path: &Path) -> Result<Zeroizing<String>, ConfigError> {
    let secret_error = |source| ConfigError::SecretFile {
        key: key.to_owned(),
        path: path.to_owned(),
        source,
    };
    let bytes = Zeroizing::new(std::fs::read(path).map_err(secret_error)?);
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        secret_error(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8",
        ))
    })?;
    Ok(Zeroizing::new(
        text.trim_end_matches(['\n', '\r']).to_owned(),
    ))
}

/// 64 hex digits (any case) as 32 bytes.
pub(super) fn parse_sha256_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let bytes = hex::decode(text).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

/// Replaces the password of `scheme://user:password@host` with `***`.
pub fn redact_url_password(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match (authority.rfind('@'), authority.find(':')) {
        (Some(at), Some(colon)) if colon < at => format!(
            "{}://{}:***{}",
            &url[..scheme_end],
            &authority[..colon],
            &rest[at..]
        ),
        _ => url.to_owned(),
    }
}
