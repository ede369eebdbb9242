//! Errors of the `pki` module. Every message starts with a stable code (`PKI0nn`).

/// Why a DER value could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PkiError {
    /// Encoding a value we built failed (a length overflow or a string outside its character set).
    #[error("PKI001 cannot encode {what}: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The DER library's error.
        #[source]
        source: der::Error,
    },

    /// Bytes that should hold a DER value of some type do not.
    #[error("PKI002 malformed {what}: {source}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// The DER library's error.
        #[source]
        source: der::Error,
    },

    /// A value decodes but breaks a constraint of its definition (size, range, character set...).
    #[error("PKI003 invalid {what}: {problem}")]
    Invalid {
        /// The field or type at fault.
        what: &'static str,
        /// What is wrong with it.
        problem: String,
    },

    /// A public key whose algorithm or parameters qtsp does not issue for or sign with.
    #[error("PKI004 unsupported key: {0}")]
    UnsupportedKey(String),

    /// A signature algorithm identifier qtsp does not use.
    #[error("PKI005 unsupported signature algorithm {0}")]
    UnsupportedAlgorithm(String),

    /// A signature does not verify with the key it should come from.
    #[error("PKI006 signature does not verify: {0}")]
    BadSignature(String),
}

impl PkiError {
    /// The stable code at the start of the message (`PKI001`...).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Encode { .. } => "PKI001",
            Self::Decode { .. } => "PKI002",
            Self::Invalid { .. } => "PKI003",
            Self::UnsupportedKey(_) => "PKI004",
            Self::UnsupportedAlgorithm(_) => "PKI005",
            Self::BadSignature(_) => "PKI006",
        }
    }

    /// A closure mapping a [`der::Error`] met while encoding `what`.
    pub(crate) fn encode(what: &'static str) -> impl FnOnce(der::Error) -> Self {
        move |source| Self::Encode { what, source }
    }

    /// A closure mapping a [`der::Error`] met while decoding `what`.
    pub(crate) fn decode(what: &'static str) -> impl FnOnce(der::Error) -> Self {
        move |source| Self::Decode { what, source }
    }

    /// An [`PkiError::Invalid`] value.
    pub(crate) fn invalid(what: &'static str, problem: impl Into<String>) -> Self {
        Self::Invalid {
            what,
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
            PkiError::encode("x")(der::ErrorKind::Overflow.into()),
            PkiError::decode("x")(der::ErrorKind::Overflow.into()),
            PkiError::invalid("x", "y"),
            PkiError::UnsupportedKey("k".into()),
            PkiError::UnsupportedAlgorithm("a".into()),
            PkiError::BadSignature("s".into()),
        ];
        for e in errors {
            assert!(e.to_string().starts_with(e.code()), "{e}");
        }
    }
}
