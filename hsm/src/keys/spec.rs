//! What a key is: the key types qtsp creates ([`KeySpec`]), their curves ([`EcCurve`]) and what a
//! token object turns out to be ([`KeyKind`]).

use std::fmt;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType};
use cryptoki::types::Ulong;
use der::Encode;

use crate::error::{HsmError, Result};

/// The key types qtsp creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeySpec {
    /// ECDSA on NIST P-256 (secp256r1).
    EcP256,
    /// ECDSA on NIST P-384 (secp384r1).
    EcP384,
    /// RSA, 2048-bit modulus, public exponent 65537.
    Rsa2048,
    /// RSA, 3072-bit modulus, public exponent 65537.
    Rsa3072,
}

impl KeySpec {
    /// Every supported spec.
    pub const ALL: [KeySpec; 4] = [Self::EcP256, Self::EcP384, Self::Rsa2048, Self::Rsa3072];

    /// The elliptic curve, for EC specs.
    #[must_use]
    pub fn curve(self) -> Option<EcCurve> {
        match self {
            Self::EcP256 => Some(EcCurve::P256),
            Self::EcP384 => Some(EcCurve::P384),
            Self::Rsa2048 | Self::Rsa3072 => None,
        }
    }

    /// The RSA modulus size in bits, for RSA specs.
    #[must_use]
    pub fn rsa_bits(self) -> Option<u64> {
        match self {
            Self::Rsa2048 => Some(2048),
            Self::Rsa3072 => Some(3072),
            Self::EcP256 | Self::EcP384 => None,
        }
    }

    /// Short stable name (`ec-p256`, `rsa-2048`...).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::EcP256 => "ec-p256",
            Self::EcP384 => "ec-p384",
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
        }
    }

    pub(crate) fn key_type(self) -> KeyType {
        match self {
            Self::EcP256 | Self::EcP384 => KeyType::EC,
            Self::Rsa2048 | Self::Rsa3072 => KeyType::RSA,
        }
    }

    pub(crate) fn keygen_mechanism(self) -> Mechanism<'static> {
        match self {
            Self::EcP256 | Self::EcP384 => Mechanism::EccKeyPairGen,
            Self::Rsa2048 | Self::Rsa3072 => Mechanism::RsaPkcsKeyPairGen,
        }
    }

    /// The attributes that define the key itself (curve or modulus size), for the public template.
    pub(crate) fn domain_attributes(self) -> Result<Vec<Attribute>> {
        Ok(match (self.curve(), self.rsa_bits()) {
            (Some(curve), _) => vec![Attribute::EcParams(curve.oid().to_der()?)],
            (None, Some(bits)) => vec![
                Attribute::ModulusBits(Ulong::from(bits)),
                Attribute::PublicExponent(vec![0x01, 0x00, 0x01]),
            ],
            (None, None) => {
                return Err(HsmError::UnsupportedKey(format!(
                    "no domain parameters for {}",
                    self.name()
                )));
            }
        })
    }

    pub(crate) fn matches_kind(self, kind: KeyKind) -> bool {
        match kind {
            KeyKind::Ec(curve) => self.curve() == Some(curve),
            KeyKind::Rsa { modulus_len } => self
                .rsa_bits()
                .is_some_and(|bits| bits == (modulus_len as u64) * 8),
            KeyKind::Aes { .. } => false,
        }
    }
}

impl fmt::Display for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Named elliptic curves supported by qtsp.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EcCurve {
    /// secp256r1.
    P256,
    /// secp384r1.
    P384,
}

impl EcCurve {
    /// The namedCurve OID.
    #[must_use]
    pub fn oid(self) -> const_oid::ObjectIdentifier {
        match self {
            Self::P256 => const_oid::db::rfc5912::SECP_256_R_1,
            Self::P384 => const_oid::db::rfc5912::SECP_384_R_1,
        }
    }

    /// Field (and scalar) size in bytes: r and s each have this width in a raw signature.
    #[must_use]
    pub fn field_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }

    pub(super) fn from_ec_params(params: &[u8]) -> Result<Self> {
        use der::Decode;
        let oid = const_oid::ObjectIdentifier::from_der(params).map_err(|e| {
            HsmError::UnsupportedKey(format!(
                "CKA_EC_PARAMS is not a namedCurve OID ({e}); implicit or explicit curves are not supported"
            ))
        })?;
        [Self::P256, Self::P384]
            .into_iter()
            .find(|c| c.oid() == oid)
            .ok_or_else(|| HsmError::UnsupportedKey(format!("curve {oid} is not supported")))
    }
}

/// What a key object is, as far as signing cares. Read once per key and cached by the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Ec(EcCurve),
    Rsa { modulus_len: usize },
    Aes { value_len: usize },
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ec(EcCurve::P256) => f.write_str("an EC P-256 key"),
            Self::Ec(EcCurve::P384) => f.write_str("an EC P-384 key"),
            Self::Rsa { modulus_len } => write!(f, "an RSA-{} key", modulus_len * 8),
            Self::Aes { value_len } => write!(f, "an AES-{} key", value_len * 8),
        }
    }
}
