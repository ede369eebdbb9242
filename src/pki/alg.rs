//! Key and signature algorithm identifiers.
//!
//! * [`KeyAlgorithm`]: what a SubjectPublicKeyInfo holds (EC P-256, EC P-384, RSA of some size).
//! * [`SignatureAlgorithm`]: how an issuer with a given key signs (RFC 5758 for ECDSA, with
//!   absent parameters; RFC 8017 / RFC 4055 for RSA PKCS#1 v1.5, with NULL parameters), the
//!   `AlgorithmIdentifier` to write and the [`DigestAlgorithm`] to hash with before the HSM signs.
//! * [`SignatureAlgorithm::verify_digest`]: checks a signature the HSM returned before anything
//!   built on it is released.

use std::fmt;

use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, UintRef};
use der::{Decode, Sequence};
use sha2::Digest as _;
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

use super::PkiError;
use super::oid;

/// Hash functions of the SHA-2 family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DigestAlgorithm {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl DigestAlgorithm {
    /// The hash OID (`id-sha256`...).
    #[must_use]
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::Sha256 => oid::ID_SHA256,
            Self::Sha384 => oid::ID_SHA384,
            Self::Sha512 => oid::ID_SHA512,
        }
    }

    /// The algorithm for a hash OID.
    pub fn from_oid(oid: &ObjectIdentifier) -> Result<Self, PkiError> {
        [Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|d| d.oid() == *oid)
            .ok_or_else(|| PkiError::UnsupportedAlgorithm(format!("hash {oid}")))
    }

    /// Output length in bytes.
    #[must_use]
    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Name as in FIPS 180-4.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    /// Hashes `data`.
    #[must_use]
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

impl fmt::Display for DigestAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The public key in a SubjectPublicKeyInfo, as far as issuance cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyAlgorithm {
    /// ECDSA key on NIST P-256 (secp256r1).
    EcP256,
    /// ECDSA key on NIST P-384 (secp384r1).
    EcP384,
    /// RSA key with a modulus of this many bits.
    Rsa {
        /// Modulus size in bits.
        bits: u32,
    },
}

/// `RSAPublicKey` (RFC 8017 appendix A.1.1), read to learn the modulus size.
///
/// ```text
/// RSAPublicKey ::= SEQUENCE {
///     modulus           INTEGER,  -- n
///     publicExponent    INTEGER   -- e
/// }
/// ```
#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

impl KeyAlgorithm {
    /// The key algorithm of a DER SubjectPublicKeyInfo, checking its parameters and key size.
    pub fn from_spki_der(spki_der: &[u8]) -> Result<Self, PkiError> {
        let spki = SubjectPublicKeyInfoOwned::from_der(spki_der)
            .map_err(PkiError::decode("SubjectPublicKeyInfo"))?;
        Self::from_spki(&spki)
    }

    /// The key algorithm of a SubjectPublicKeyInfo, checking its parameters and key size.
    pub fn from_spki(spki: &SubjectPublicKeyInfoOwned) -> Result<Self, PkiError> {
        let key_bits = spki.subject_public_key.as_bytes().ok_or_else(|| {
            PkiError::invalid("subjectPublicKey", "the BIT STRING has unused bits")
        })?;
        let alg = &spki.algorithm;
        if alg.oid == oid::ID_EC_PUBLIC_KEY {
            let curve = alg
                .parameters
                .as_ref()
                .ok_or_else(|| PkiError::UnsupportedKey("EC key without a named curve".into()))?
                .decode_as::<ObjectIdentifier>()
                .map_err(|_| {
                    PkiError::UnsupportedKey(
                        "EC key parameters are not a namedCurve OID (RFC 5480)".into(),
                    )
                })?;
            let (kind, point_len) = if curve == oid::SECP256R1 {
                (Self::EcP256, 65)
            } else if curve == oid::SECP384R1 {
                (Self::EcP384, 97)
            } else {
                return Err(PkiError::UnsupportedKey(format!("EC curve {curve}")));
            };
            if key_bits.len() != point_len || key_bits.first() != Some(&0x04) {
                return Err(PkiError::UnsupportedKey(format!(
                    "the EC point of {kind} is not an uncompressed point of {point_len} bytes"
                )));
            }
            Ok(kind)
        } else if alg.oid == oid::RSA_ENCRYPTION {
            let null_params = alg
                .parameters
                .as_ref()
                .is_some_and(|p| AnyRef::from(p).is_null());
            if !null_params {
                return Err(PkiError::UnsupportedKey(
                    "rsaEncryption parameters must be NULL (RFC 3279)".into(),
                ));
            }
            let key = RsaPublicKey::from_der(key_bits).map_err(PkiError::decode("RSAPublicKey"))?;
            let modulus = key.modulus.as_bytes();
            let bits = match modulus.first() {
                Some(first) => {
                    (modulus.len() as u64 * 8).saturating_sub(u64::from(first.leading_zeros()))
                }
                None => 0,
            };
            if key.public_exponent.as_bytes().is_empty() {
                return Err(PkiError::UnsupportedKey("RSA exponent is zero".into()));
            }
            let bits = u32::try_from(bits)
                .map_err(|_| PkiError::UnsupportedKey("RSA modulus too large".into()))?;
            if bits < 2048 {
                return Err(PkiError::UnsupportedKey(format!(
                    "RSA modulus of {bits} bits (at least 2048 required)"
                )));
            }
            Ok(Self::Rsa { bits })
        } else {
            Err(PkiError::UnsupportedKey(format!("algorithm {}", alg.oid)))
        }
    }

    /// Short stable name: `ec-p256`, `ec-p384`, `rsa-3072`... (the names `qtsp-hsm` uses).
    #[must_use]
    pub fn name(&self) -> String {
        match self {
            Self::EcP256 => "ec-p256".into(),
            Self::EcP384 => "ec-p384".into(),
            Self::Rsa { bits } => format!("rsa-{bits}"),
        }
    }

    /// Parses a [`KeyAlgorithm::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "ec-p256" => Some(Self::EcP256),
            "ec-p384" => Some(Self::EcP384),
            _ => name
                .strip_prefix("rsa-")
                .and_then(|b| b.parse::<u32>().ok())
                .filter(|b| *b >= 2048 && b % 8 == 0)
                .map(|bits| Self::Rsa { bits }),
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A certificate / CRL / OCSP signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureAlgorithm {
    /// `ecdsa-with-SHA256` (RFC 5758; parameters absent).
    EcdsaWithSha256,
    /// `ecdsa-with-SHA384`.
    EcdsaWithSha384,
    /// `ecdsa-with-SHA512`.
    EcdsaWithSha512,
    /// `sha256WithRSAEncryption` (RFC 8017 PKCS#1 v1.5; parameters NULL).
    Sha256WithRsa,
    /// `sha384WithRSAEncryption`.
    Sha384WithRsa,
    /// `sha512WithRSAEncryption`.
    Sha512WithRsa,
}

impl SignatureAlgorithm {
    const ALL: [Self; 6] = [
        Self::EcdsaWithSha256,
        Self::EcdsaWithSha384,
        Self::EcdsaWithSha512,
        Self::Sha256WithRsa,
        Self::Sha384WithRsa,
        Self::Sha512WithRsa,
    ];

    /// How an issuer holding a key of `key` signs: P-256 with ECDSA/SHA-256, P-384 with
    /// ECDSA/SHA-384 (matching hash strength to the curve), RSA with PKCS#1 v1.5/SHA-256.
    #[must_use]
    pub fn for_issuer_key(key: KeyAlgorithm) -> Self {
        match key {
            KeyAlgorithm::EcP256 => Self::EcdsaWithSha256,
            KeyAlgorithm::EcP384 => Self::EcdsaWithSha384,
            KeyAlgorithm::Rsa { .. } => Self::Sha256WithRsa,
        }
    }

    /// The signature algorithm OID.
    #[must_use]
    pub fn oid(self) -> ObjectIdentifier {
        match self {
            Self::EcdsaWithSha256 => oid::ECDSA_WITH_SHA256,
            Self::EcdsaWithSha384 => oid::ECDSA_WITH_SHA384,
            Self::EcdsaWithSha512 => oid::ECDSA_WITH_SHA512,
            Self::Sha256WithRsa => oid::SHA256_WITH_RSA_ENCRYPTION,
            Self::Sha384WithRsa => oid::SHA384_WITH_RSA_ENCRYPTION,
            Self::Sha512WithRsa => oid::SHA512_WITH_RSA_ENCRYPTION,
        }
    }

    /// The hash computed over the to-be-signed bytes.
    #[must_use]
    pub fn digest(self) -> DigestAlgorithm {
        match self {
            Self::EcdsaWithSha256 | Self::Sha256WithRsa => DigestAlgorithm::Sha256,
            Self::EcdsaWithSha384 | Self::Sha384WithRsa => DigestAlgorithm::Sha384,
            Self::EcdsaWithSha512 | Self::Sha512WithRsa => DigestAlgorithm::Sha512,
        }
    }

    /// Whether this is an ECDSA algorithm (signature value = DER `ECDSA-Sig-Value`).
    #[must_use]
    pub fn is_ecdsa(self) -> bool {
        matches!(
            self,
            Self::EcdsaWithSha256 | Self::EcdsaWithSha384 | Self::EcdsaWithSha512
        )
    }

    /// The `AlgorithmIdentifier`: parameters absent for ECDSA (RFC 5758 section 3.2), NULL for
    /// RSA (RFC 4055 section 5).
    #[must_use]
    pub fn algorithm_identifier(self) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: self.oid(),
            parameters: if self.is_ecdsa() {
                None
            } else {
                Some(der::asn1::Any::null())
            },
        }
    }

    /// The algorithm of an `AlgorithmIdentifier`, refusing parameters that do not belong.
    pub fn from_algorithm_identifier(ai: &AlgorithmIdentifierOwned) -> Result<Self, PkiError> {
        let alg = Self::ALL
            .into_iter()
            .find(|a| a.oid() == ai.oid)
            .ok_or_else(|| PkiError::UnsupportedAlgorithm(ai.oid.to_string()))?;
        if *ai != alg.algorithm_identifier() {
            return Err(PkiError::invalid(
                "AlgorithmIdentifier.parameters",
                format!("{} with unexpected parameters", ai.oid),
            ));
        }
        Ok(alg)
    }

    /// Whether a key of `key` can make signatures of this algorithm.
    #[must_use]
    pub fn fits_key(self, key: KeyAlgorithm) -> bool {
        matches!(
            (self, key),
            (
                Self::EcdsaWithSha256 | Self::EcdsaWithSha384 | Self::EcdsaWithSha512,
                KeyAlgorithm::EcP256 | KeyAlgorithm::EcP384
            ) | (
                Self::Sha256WithRsa | Self::Sha384WithRsa | Self::Sha512WithRsa,
                KeyAlgorithm::Rsa { .. }
            )
        )
    }

    /// Verifies `signature` (DER `ECDSA-Sig-Value` for ECDSA, the raw PKCS#1 v1.5 block for
    /// RSA) over a `digest` of [`SignatureAlgorithm::digest`] with the public key `spki_der`.
    pub fn verify_digest(
        self,
        spki_der: &[u8],
        digest: &[u8],
        signature: &[u8],
    ) -> Result<(), PkiError> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
        use p256::pkcs8::DecodePublicKey as _;

        if digest.len() != self.digest().output_len() {
            return Err(PkiError::invalid(
                "digest",
                format!(
                    "{} bytes where {} gives {}",
                    digest.len(),
                    self.digest(),
                    self.digest().output_len()
                ),
            ));
        }
        let key = KeyAlgorithm::from_spki_der(spki_der)?;
        if !self.fits_key(key) {
            return Err(PkiError::BadSignature(format!(
                "{self:?} cannot be made with a {key} key"
            )));
        }
        let bad = |e: &dyn fmt::Display| PkiError::BadSignature(e.to_string());
        match key {
            KeyAlgorithm::EcP256 => {
                let vk = p256::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                    .map_err(|e| bad(&e))?;
                let sig = p256::ecdsa::Signature::from_der(signature).map_err(|e| bad(&e))?;
                vk.verify_prehash(digest, &sig).map_err(|e| bad(&e))
            }
            KeyAlgorithm::EcP384 => {
                let vk = p384::ecdsa::VerifyingKey::from_public_key_der(spki_der)
                    .map_err(|e| bad(&e))?;
                let sig = p384::ecdsa::Signature::from_der(signature).map_err(|e| bad(&e))?;
                vk.verify_prehash(digest, &sig).map_err(|e| bad(&e))
            }
            KeyAlgorithm::Rsa { .. } => {
                let pk = rsa::PublicKey::from_public_key_der(spki_der).map_err(|e| bad(&e))?;
                let scheme = match self.digest() {
                    DigestAlgorithm::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                    DigestAlgorithm::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                    DigestAlgorithm::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                };
                pk.verify(scheme, digest, signature).map_err(|e| bad(&e))
            }
        }
    }
}

impl fmt::Display for SignatureAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EcdsaWithSha256 => "ecdsa-with-SHA256",
            Self::EcdsaWithSha384 => "ecdsa-with-SHA384",
            Self::EcdsaWithSha512 => "ecdsa-with-SHA512",
            Self::Sha256WithRsa => "sha256WithRSAEncryption",
            Self::Sha384WithRsa => "sha384WithRSAEncryption",
            Self::Sha512WithRsa => "sha512WithRSAEncryption",
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use der::Encode;

    /// SPKI of a P-256 key (the RFC 6979 A.2.5 test key's public point).
    const P256_SPKI: &str = "3059301306072a8648ce3d020106082a8648ce3d0301070342000460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb67903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299";

    #[test]
    fn issuer_keys_map_to_the_expected_algorithm_identifiers() {
        let p256 = SignatureAlgorithm::for_issuer_key(KeyAlgorithm::EcP256);
        assert_eq!(p256, SignatureAlgorithm::EcdsaWithSha256);
        assert_eq!(p256.digest(), DigestAlgorithm::Sha256);
        // SEQUENCE { OID ecdsa-with-SHA256 } with no parameters.
        assert_eq!(
            hex::encode(p256.algorithm_identifier().to_der().unwrap()),
            "300a06082a8648ce3d040302"
        );
        let p384 = SignatureAlgorithm::for_issuer_key(KeyAlgorithm::EcP384);
        assert_eq!(p384, SignatureAlgorithm::EcdsaWithSha384);
        assert_eq!(p384.digest(), DigestAlgorithm::Sha384);
        assert_eq!(
            hex::encode(p384.algorithm_identifier().to_der().unwrap()),
            "300a06082a8648ce3d040303"
        );
        let rsa = SignatureAlgorithm::for_issuer_key(KeyAlgorithm::Rsa { bits: 3072 });
        assert_eq!(rsa, SignatureAlgorithm::Sha256WithRsa);
        assert_eq!(rsa.digest(), DigestAlgorithm::Sha256);
        // SEQUENCE { OID sha256WithRSAEncryption, NULL }.
        assert_eq!(
            hex::encode(rsa.algorithm_identifier().to_der().unwrap()),
            "300d06092a864886f70d01010b0500"
        );
    }

    #[test]
    fn algorithm_identifiers_round_trip_and_refuse_wrong_parameters() {
        for alg in SignatureAlgorithm::ALL {
            let ai = alg.algorithm_identifier();
            assert_eq!(
                SignatureAlgorithm::from_algorithm_identifier(&ai).unwrap(),
                alg
            );
        }
        let mut ecdsa_with_null = SignatureAlgorithm::EcdsaWithSha256.algorithm_identifier();
        ecdsa_with_null.parameters = Some(der::asn1::Any::null());
        assert!(SignatureAlgorithm::from_algorithm_identifier(&ecdsa_with_null).is_err());
        let mut rsa_without = SignatureAlgorithm::Sha256WithRsa.algorithm_identifier();
        rsa_without.parameters = None;
        assert!(SignatureAlgorithm::from_algorithm_identifier(&rsa_without).is_err());
        let unknown = AlgorithmIdentifierOwned {
            oid: oid::ID_RSASSA_PSS,
            parameters: None,
        };
        assert!(matches!(
            SignatureAlgorithm::from_algorithm_identifier(&unknown),
            Err(PkiError::UnsupportedAlgorithm(_))
        ));
    }

    #[test]
    fn digests_have_their_lengths_and_oids() {
        for d in [
            DigestAlgorithm::Sha256,
            DigestAlgorithm::Sha384,
            DigestAlgorithm::Sha512,
        ] {
            assert_eq!(d.digest(b"abc").len(), d.output_len());
            assert_eq!(DigestAlgorithm::from_oid(&d.oid()).unwrap(), d);
        }
        // FIPS 180-4 example "abc".
        assert_eq!(
            hex::encode(DigestAlgorithm::Sha256.digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn key_algorithm_of_an_spki() {
        let spki = hex::decode(P256_SPKI).unwrap();
        assert_eq!(
            KeyAlgorithm::from_spki_der(&spki).unwrap(),
            KeyAlgorithm::EcP256
        );
        for name in ["ec-p256", "ec-p384", "rsa-2048", "rsa-3072"] {
            assert_eq!(KeyAlgorithm::from_name(name).unwrap().name(), name);
        }
        assert!(KeyAlgorithm::from_name("rsa-1024").is_none());
        assert!(KeyAlgorithm::from_name("ed25519").is_none());
    }

    #[test]
    fn malformed_spkis_are_errors() {
        let good = hex::decode(P256_SPKI).unwrap();
        let mut truncated_point = good.clone();
        truncated_point.truncate(good.len() - 1);
        let mut compressed = good.clone();
        compressed[26] = 0x02;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", vec![]),
            ("garbage", vec![0x30, 0x03, 0x02, 0x01]),
            ("truncated", truncated_point),
            ("compressed point marker", compressed),
            // SEQUENCE { SEQUENCE { id-ecPublicKey } BIT STRING 04 } : no curve
            (
                "no curve",
                hex::decode("300f300906072a8648ce3d020103020004").unwrap(),
            ),
            // RSA with a tiny modulus
            (
                "rsa 8-bit",
                hex::decode("301a300d06092a864886f70d0101010500030900300602010f020103").unwrap(),
            ),
        ];
        for (name, der) in cases {
            assert!(KeyAlgorithm::from_spki_der(&der).is_err(), "{name}");
        }
    }

    #[test]
    fn verify_refuses_garbage_and_mismatches() {
        let spki = hex::decode(P256_SPKI).unwrap();
        let digest = DigestAlgorithm::Sha256.digest(b"x");
        let alg = SignatureAlgorithm::EcdsaWithSha256;
        // Not DER, wrong length digest, algorithm for another key type.
        assert!(alg.verify_digest(&spki, &digest, b"\x30\x00").is_err());
        assert!(
            alg.verify_digest(&spki, &digest[..31], b"\x30\x00")
                .is_err()
        );
        assert!(
            SignatureAlgorithm::Sha256WithRsa
                .verify_digest(&spki, &digest, &[0; 256])
                .is_err()
        );
        // A well-formed signature that is not this key's.
        let sig = hex::decode("3006020101020101").unwrap();
        assert!(matches!(
            alg.verify_digest(&spki, &digest, &sig),
            Err(PkiError::BadSignature(_))
        ));
    }
}
