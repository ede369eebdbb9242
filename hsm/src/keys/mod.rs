//! Key identities, key specifications, templates and token look-ups.
//!
//! The look-ups and attribute reads run on a pool worker thread against its logged-in session;
//! the async key operations callers use ([`crate::Hsm::generate_key_pair`], `find_key`, ...) are
//! in `ops`, and submit those to [`crate::pool`].

mod attributes;
mod lookup;
mod ops;
mod spec;
mod template;

use std::fmt;
use std::sync::Arc;

use crate::error::{HsmError, Result};

pub use attributes::PrivateKeyAttributes;
pub(crate) use attributes::{get_bools, public_key_spki, read_kind, read_label};
pub(crate) use lookup::{Class, ensure_id_free, find_one, require_one};
pub use ops::GeneratedKey;
pub(crate) use spec::KeyKind;
pub use spec::{EcCurve, KeySpec};
pub(crate) use template::{token_private_template, token_public_template};

/// `CKA_ID` of a key: the stable name qtsp stores in its database. Cheap to clone.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(Arc<[u8]>);

impl KeyId {
    /// Longest CKA_ID accepted.
    pub const MAX_LEN: usize = 64;

    /// A key id from raw bytes (1 to [`Self::MAX_LEN`] bytes).
    pub fn new(bytes: impl AsRef<[u8]>) -> Result<Self> {
        let bytes = bytes.as_ref();
        if bytes.is_empty() || bytes.len() > Self::MAX_LEN {
            return Err(HsmError::InvalidArgument(format!(
                "a CKA_ID must have 1 to {} bytes, got {}",
                Self::MAX_LEN,
                bytes.len()
            )));
        }
        Ok(Self(Arc::from(bytes)))
    }

    /// A key id from its lowercase or uppercase hexadecimal form.
    pub fn from_hex(hex_id: &str) -> Result<Self> {
        let bytes = hex::decode(hex_id)
            .map_err(|e| HsmError::InvalidArgument(format!("CKA_ID is not hexadecimal: {e}")))?;
        Self::new(bytes)
    }

    /// For ids built internally whose length is known to be in range.
    pub(crate) fn from_vec_in_range(bytes: Vec<u8>) -> Self {
        debug_assert!(!bytes.is_empty() && bytes.len() <= Self::MAX_LEN);
        Self(bytes.into())
    }

    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lowercase hexadecimal form (how ids appear in logs and errors).
    #[must_use]
    pub fn to_hex(&self) -> String {
        hex::encode(&self.0)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.to_hex())
    }
}

/// A key on the token: its `CKA_ID` (what operations use) and its `CKA_LABEL` (for humans).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRef {
    /// `CKA_ID`, shared by the private and the public half.
    pub id: KeyId,
    /// `CKA_LABEL`.
    pub label: String,
}
