//! Errors of the `profile` module. Every message starts with a stable code (`PRF0nn`).

use std::fmt;

use crate::pki::PkiError;

/// One failed pre-issuance check ([`crate::profile::check()`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckFailure {
    /// Stable rule name (`validity-within-issuer`, `key-usage`...).
    pub rule: &'static str,
    /// What was found.
    pub detail: String,
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.rule, self.detail)
    }
}

fn join(failures: &[CheckFailure]) -> String {
    failures
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why a profile could not be loaded or a certificate could not be prepared or assembled.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProfileError {
    /// The profile is not valid TOML for the schema (syntax, unknown or missing key, wrong type);
    /// the message names the key and the line.
    #[error("PRF001 profile {profile}: {message}")]
    Toml {
        /// Profile file or name.
        profile: String,
        /// The TOML reader's message.
        message: String,
    },

    /// The profile's `version` is not one this qtsp reads.
    #[error("PRF002 profile {profile}: version = {found}, this qtsp reads version {supported}")]
    UnsupportedVersion {
        /// Profile file or name.
        profile: String,
        /// The version in the file.
        found: i64,
        /// The version this code reads.
        supported: u32,
    },

    /// A key has a value the schema accepts but the profile rules do not.
    #[error("PRF003 profile {profile}: invalid `{key}`: {problem}")]
    InvalidValue {
        /// Profile file or name.
        profile: String,
        /// The TOML key (`key_usage.usages[1]`).
        key: String,
        /// What is wrong.
        problem: String,
    },

    /// No built-in profile has this name.
    #[error("PRF004 no certificate profile named {0:?}")]
    UnknownProfile(String),

    /// A field of the issuance request is unusable.
    #[error("PRF010 invalid request: `{field}`: {problem}")]
    InvalidRequest {
        /// The request field (`serial`, `not_after`, `urls.public_base_url`...).
        field: &'static str,
        /// What is wrong.
        problem: String,
    },

    /// The issuer certificate or key cannot issue (not a CA, no key identifier...).
    #[error("PRF011 unusable issuer: {0}")]
    InvalidIssuer(String),

    /// Building or reading DER failed.
    #[error("PRF012 {0}")]
    Pki(#[from] PkiError),

    /// The prepared to-be-signed certificate failed pre-issuance checks: nothing may be signed.
    #[error("PRF020 pre-issuance checks failed: {}", join(.0))]
    CheckFailed(Vec<CheckFailure>),

    /// The signature returned for the to-be-signed bytes does not verify with the issuer's key:
    /// nothing is released.
    #[error("PRF021 the signature does not verify with the issuer's public key: {0}")]
    BadSignature(String),
}

impl ProfileError {
    /// The stable code at the start of the message (`PRF001`...).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Toml { .. } => "PRF001",
            Self::UnsupportedVersion { .. } => "PRF002",
            Self::InvalidValue { .. } => "PRF003",
            Self::UnknownProfile(_) => "PRF004",
            Self::InvalidRequest { .. } => "PRF010",
            Self::InvalidIssuer(_) => "PRF011",
            Self::Pki(_) => "PRF012",
            Self::CheckFailed(_) => "PRF020",
            Self::BadSignature(_) => "PRF021",
        }
    }

    pub(crate) fn request(field: &'static str, problem: impl Into<String>) -> Self {
        Self::InvalidRequest {
            field,
            problem: problem.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_start_with_their_code() {
        let errors = [
            ProfileError::Toml {
                profile: "p".into(),
                message: "m".into(),
            },
            ProfileError::UnsupportedVersion {
                profile: "p".into(),
                found: 2,
                supported: 1,
            },
            ProfileError::InvalidValue {
                profile: "p".into(),
                key: "k".into(),
                problem: "x".into(),
            },
            ProfileError::UnknownProfile("x".into()),
            ProfileError::request("serial", "zero"),
            ProfileError::InvalidIssuer("x".into()),
            ProfileError::Pki(PkiError::UnsupportedKey("k".into())),
            ProfileError::CheckFailed(vec![CheckFailure {
                rule: "r",
                detail: "d".into(),
            }]),
            ProfileError::BadSignature("s".into()),
        ];
        for e in errors {
            assert!(e.to_string().starts_with(e.code()), "{e}");
        }
    }
}
