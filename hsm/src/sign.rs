//! Signature mechanisms over precomputed digests.
//!
//! qtsp always hashes in software and hands the token a digest (that is what CSC `signHash`
//! needs, and SoftHSM2 2.6.1 does not offer CKM_ECDSA_SHA384 anyway):
//!
//! * ECDSA: CKM_ECDSA on the digest; the token returns `r || s`, we also produce the DER form.
//! * RSA PKCS#1 v1.5: CKM_RSA_PKCS over a DigestInfo built here.
//! * RSA-PSS: CKM_RSA_PKCS_PSS on the digest, MGF1 with the same hash, salt length = hash length.

use std::fmt;

use cryptoki::mechanism::rsa::{PkcsMgfType, PkcsPssParams};
use cryptoki::mechanism::{Mechanism, MechanismType};
use cryptoki::object::ObjectHandle;
use cryptoki::session::Session;
use cryptoki::types::Ulong;
use sha2::Digest as _;

use crate::error::{HsmError, Result};
use crate::keys::{Class, KeyKind, KeyRef};
use crate::spki;

/// Hash algorithms of the SHA-2 family accepted for signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestAlg {
    /// SHA-256 (32 bytes).
    Sha256,
    /// SHA-384 (48 bytes).
    Sha384,
    /// SHA-512 (64 bytes).
    Sha512,
}

impl DigestAlg {
    /// Every accepted hash.
    pub const ALL: [DigestAlg; 3] = [Self::Sha256, Self::Sha384, Self::Sha512];

    /// Output length in bytes.
    #[must_use]
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    /// Name as in FIPS 180-4.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "SHA-256",
            Self::Sha384 => "SHA-384",
            Self::Sha512 => "SHA-512",
        }
    }

    /// The hash OID (id-sha256...).
    #[must_use]
    pub fn oid(self) -> const_oid::ObjectIdentifier {
        use const_oid::db::rfc5912::{ID_SHA_256, ID_SHA_384, ID_SHA_512};
        match self {
            Self::Sha256 => ID_SHA_256,
            Self::Sha384 => ID_SHA_384,
            Self::Sha512 => ID_SHA_512,
        }
    }

    /// Hashes `msg` in software.
    #[must_use]
    pub fn digest(self, msg: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => sha2::Sha256::digest(msg).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(msg).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(msg).to_vec(),
        }
    }

    /// Fails with [`HsmError::BadDigestLength`] unless `digest` has this algorithm's length.
    pub fn check(self, digest: &[u8]) -> Result<()> {
        if digest.len() == self.output_len() {
            Ok(())
        } else {
            Err(HsmError::BadDigestLength {
                alg: self.name(),
                expected: self.output_len(),
                got: digest.len(),
            })
        }
    }

    fn pkcs11_hash(self) -> MechanismType {
        match self {
            Self::Sha256 => MechanismType::SHA256,
            Self::Sha384 => MechanismType::SHA384,
            Self::Sha512 => MechanismType::SHA512,
        }
    }

    fn mgf1(self) -> PkcsMgfType {
        match self {
            Self::Sha256 => PkcsMgfType::MGF1_SHA256,
            Self::Sha384 => PkcsMgfType::MGF1_SHA384,
            Self::Sha512 => PkcsMgfType::MGF1_SHA512,
        }
    }
}

impl fmt::Display for DigestAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to sign a digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignMechanism {
    /// ECDSA (CKM_ECDSA) over a digest of the given hash.
    Ecdsa(DigestAlg),
    /// RSASSA-PKCS1-v1_5 (CKM_RSA_PKCS over a DigestInfo).
    RsaPkcs1v15(DigestAlg),
    /// RSASSA-PSS (CKM_RSA_PKCS_PSS), MGF1 with the same hash, salt length = hash length.
    RsaPss(DigestAlg),
}

impl SignMechanism {
    /// The hash whose digest is signed.
    #[must_use]
    pub fn digest_alg(self) -> DigestAlg {
        match self {
            Self::Ecdsa(d) | Self::RsaPkcs1v15(d) | Self::RsaPss(d) => d,
        }
    }

    /// Prepares the input and the PKCS#11 mechanism for one signature with a key of `kind`.
    fn prepare<'d>(self, kind: KeyKind, digest: &'d [u8]) -> Result<Prepared<'d>> {
        self.digest_alg().check(digest)?;
        match (self, kind) {
            (Self::Ecdsa(_), KeyKind::Ec(curve)) => Ok(Prepared {
                mechanism: Mechanism::Ecdsa,
                input: Input::Borrowed(digest),
                ec_field_len: Some(curve.field_len()),
            }),
            (Self::RsaPkcs1v15(alg), KeyKind::Rsa { .. }) => Ok(Prepared {
                mechanism: Mechanism::RsaPkcs,
                input: Input::Owned(spki::digest_info(alg.oid(), digest)?),
                ec_field_len: None,
            }),
            (Self::RsaPss(alg), KeyKind::Rsa { .. }) => Ok(Prepared {
                mechanism: Mechanism::RsaPkcsPss(PkcsPssParams {
                    hash_alg: alg.pkcs11_hash(),
                    mgf: alg.mgf1(),
                    s_len: Ulong::from(alg.output_len() as u64),
                }),
                input: Input::Borrowed(digest),
                ec_field_len: None,
            }),
            (mech, kind) => Err(HsmError::UnsupportedMechanism {
                mechanism: mech.to_string(),
                key: kind.to_string(),
            }),
        }
    }
}

impl fmt::Display for SignMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ecdsa(d) => write!(f, "ECDSA with {d}"),
            Self::RsaPkcs1v15(d) => write!(f, "RSA PKCS#1 v1.5 with {d}"),
            Self::RsaPss(d) => write!(f, "RSA-PSS with {d}"),
        }
    }
}

enum Input<'d> {
    Borrowed(&'d [u8]),
    Owned(Vec<u8>),
}

struct Prepared<'d> {
    mechanism: Mechanism<'static>,
    input: Input<'d>,
    ec_field_len: Option<usize>,
}

/// An ECDSA signature in both of its usual encodings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EcdsaSignature {
    /// `r || s`, each left-padded to the field size (what JWS/COSE and PKCS#11 use).
    pub raw: Vec<u8>,
    /// DER `ECDSA-Sig-Value` (what X.509, CMS and RFC 3161 use).
    pub der: Vec<u8>,
}

/// A signature produced by the token.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Signature {
    /// ECDSA.
    Ecdsa(EcdsaSignature),
    /// RSA (PKCS#1 v1.5 or PSS): the signature octets, as long as the modulus.
    Rsa(Vec<u8>),
}

impl Signature {
    /// The encoding X.509 / CMS / RFC 3161 put in a BIT STRING or OCTET STRING: DER for ECDSA,
    /// the octets for RSA.
    #[must_use]
    pub fn to_x509_bytes(&self) -> &[u8] {
        match self {
            Self::Ecdsa(s) => &s.der,
            Self::Rsa(s) => s,
        }
    }

    /// `r || s` for ECDSA, the octets for RSA.
    #[must_use]
    pub fn raw(&self) -> &[u8] {
        match self {
            Self::Ecdsa(s) => &s.raw,
            Self::Rsa(s) => s,
        }
    }
}

/// What the token returned, before the DER form of an ECDSA signature is added. Jobs return this
/// so that the encoding happens on the caller's side, not on the worker thread that talks to the
/// token.
#[derive(Debug)]
pub(crate) struct RawSignature {
    bytes: Vec<u8>,
    ec_field_len: Option<usize>,
}

impl RawSignature {
    /// Adds the DER form for ECDSA (and checks the raw width).
    pub(crate) fn finish(self) -> Result<Signature> {
        match self.ec_field_len {
            Some(field_len) => {
                let der = spki::ecdsa_der_from_raw(&self.bytes, field_len)?;
                Ok(Signature::Ecdsa(EcdsaSignature {
                    raw: self.bytes,
                    der,
                }))
            }
            None => Ok(Signature::Rsa(self.bytes)),
        }
    }
}

/// Finishes every signature of a batch.
pub(crate) fn finish_all(raw: Vec<RawSignature>) -> Result<Vec<Signature>> {
    raw.into_iter().map(RawSignature::finish).collect()
}

/// Signs one digest with the key `handle` of kind `kind` on `session`.
pub(crate) fn sign_digest_with(
    session: &Session,
    handle: ObjectHandle,
    kind: KeyKind,
    mech: SignMechanism,
    digest: &[u8],
) -> Result<RawSignature> {
    let prepared = mech.prepare(kind, digest)?;
    let input = match &prepared.input {
        Input::Borrowed(d) => d,
        Input::Owned(v) => v.as_slice(),
    };
    let bytes = session
        .sign(&prepared.mechanism, handle, input)
        .map_err(HsmError::pkcs11("C_Sign"))?;
    Ok(RawSignature {
        bytes,
        ec_field_len: prepared.ec_field_len,
    })
}

/// Checks every digest's length before anything is sent to the token.
pub(crate) fn check_digests<D: AsRef<[u8]>>(mech: SignMechanism, digests: &[D]) -> Result<()> {
    let alg = mech.digest_alg();
    digests.iter().try_for_each(|d| alg.check(d.as_ref()))
}

/// A digest carried inside the job without a heap allocation (the longest is SHA-512).
#[derive(Clone, Copy)]
pub(crate) struct DigestBuf {
    len: usize,
    bytes: [u8; 64],
}

impl DigestBuf {
    pub(crate) fn new(digest: &[u8]) -> Result<Self> {
        let mut bytes = [0u8; 64];
        bytes
            .get_mut(..digest.len())
            .ok_or_else(|| HsmError::InvalidArgument("digest longer than 64 bytes".into()))?
            .copy_from_slice(digest);
        Ok(Self {
            len: digest.len(),
            bytes,
        })
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// Messages longer than this are hashed on a blocking thread rather than on the async caller's.
const INLINE_HASH_LIMIT: usize = 64 * 1024;

impl crate::Hsm {
    /// Signs a precomputed digest with the token private key `key`.
    ///
    /// The digest length must match the mechanism's hash ([`HsmError::BadDigestLength`]), the
    /// mechanism must fit the key type ([`HsmError::UnsupportedMechanism`]).
    pub async fn sign_digest(
        &self,
        key: &KeyRef,
        mech: SignMechanism,
        digest: &[u8],
    ) -> Result<Signature> {
        mech.digest_alg().check(digest)?;
        let digest = DigestBuf::new(digest)?;
        let id = key.id.clone();
        self.submit(move |ctx| {
            let k = ctx.key(Class::Private, &id)?;
            sign_digest_with(ctx.session()?, k.handle, k.kind, mech, digest.as_slice())
        })
        .await?
        .finish()
    }

    /// Signs several digests with one key in one worker job (a CSC `signHash` batch). All digests
    /// are checked before anything is signed; the signatures come back in the same order.
    pub async fn sign_digests(
        &self,
        key: &KeyRef,
        mech: SignMechanism,
        digests: Vec<Vec<u8>>,
    ) -> Result<Vec<Signature>> {
        check_digests(mech, &digests)?;
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        let id = key.id.clone();
        let raw = self
            .submit(move |ctx| {
                let k = ctx.key(Class::Private, &id)?;
                let session = ctx.session()?;
                digests
                    .iter()
                    .map(|d| sign_digest_with(session, k.handle, k.kind, mech, d))
                    .collect::<Result<Vec<_>>>()
            })
            .await?;
        finish_all(raw)
    }

    /// Hashes `msg` in software with the mechanism's hash, then signs the digest on the token.
    pub async fn sign_message(
        &self,
        key: &KeyRef,
        mech: SignMechanism,
        msg: &[u8],
    ) -> Result<Signature> {
        let alg = mech.digest_alg();
        let digest = if msg.len() <= INLINE_HASH_LIMIT {
            alg.digest(msg)
        } else {
            let owned = msg.to_vec();
            tokio::task::spawn_blocking(move || alg.digest(&owned))
                .await
                .map_err(|_| HsmError::WorkerLost)?
        };
        self.sign_digest(key, mech, &digest).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::keys::EcCurve;

    #[test]
    fn digest_lengths_are_checked() {
        let err = SignMechanism::Ecdsa(DigestAlg::Sha384)
            .prepare(KeyKind::Ec(EcCurve::P384), &[0u8; 32])
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "HSM011 digest for SHA-384 must be 48 bytes, got 32"
        );
    }

    #[test]
    fn mechanism_must_fit_key() {
        let err = SignMechanism::Ecdsa(DigestAlg::Sha256)
            .prepare(KeyKind::Rsa { modulus_len: 256 }, &[0u8; 32])
            .err()
            .unwrap();
        assert_eq!(err.code(), "HSM010");
        let err = SignMechanism::RsaPss(DigestAlg::Sha256)
            .prepare(KeyKind::Ec(EcCurve::P256), &[0u8; 32])
            .err()
            .unwrap();
        assert_eq!(err.code(), "HSM010");
    }

    #[test]
    fn software_hashes_have_the_announced_length() {
        for alg in DigestAlg::ALL {
            assert_eq!(alg.digest(b"abc").len(), alg.output_len());
        }
    }
}
