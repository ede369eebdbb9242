//! Signed checkpoints: the statement, the audit key in the HSM, and signature checks.
//!
//! A checkpoint statement is a small text file (each line ends with one LF, 0x0A):
//!
//! ```text
//! qtsp-audit-checkpoint-v1
//! seq: 500
//! record-hash: <64 lowercase hex digits: the hash of record 500>
//! signed-at: 2026-11-23T17:04:05.123456Z
//! key-id: <64 lowercase hex digits: SHA-256 of the audit key's SubjectPublicKeyInfo DER>
//! algorithm: ecdsa-p256-sha256
//! ```
//!
//! It is signed with ECDSA on P-256 over its SHA-256 digest, inside the HSM; the signature is
//! the DER `ECDSA-Sig-Value`. That is exactly what
//! `openssl dgst -sha256 -verify audit-key.pem -signature cp-500.sig cp-500.txt` checks.

use std::collections::BTreeMap;
use std::fmt;

use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use p256::ecdsa::{Signature as EcdsaSignature, VerifyingKey};
use p256::pkcs8::{DecodePublicKey as _, EncodePublicKey as _, LineEnding};
use qtsp_hsm::{DigestAlg, Hsm, KeyId, KeyRef, KeySpec, SignMechanism, Signature};
use time::OffsetDateTime;

use super::AuditError;
use super::chain::{format_time, parse_time, sha256, truncate_to_micros};

/// First line of every checkpoint statement.
pub const CHECKPOINT_STATEMENT_HEADER: &str = "qtsp-audit-checkpoint-v1";

/// The only checkpoint signature algorithm: ECDSA, P-256, SHA-256, DER signature.
pub const CHECKPOINT_ALGORITHM: &str = "ecdsa-p256-sha256";

/// What a checkpoint signs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointStatement {
    /// Last record covered.
    pub seq: u64,
    /// Hash of record `seq` (it chains every earlier record).
    pub record_hash: Vec<u8>,
    /// When the checkpoint was signed (microseconds, UTC).
    pub signed_at: OffsetDateTime,
    /// SHA-256 of the signing key's SubjectPublicKeyInfo DER, lowercase hex.
    pub key_id: String,
    /// Signature algorithm name, [`CHECKPOINT_ALGORITHM`].
    pub algorithm: String,
}

impl CheckpointStatement {
    /// The statement text, the exact bytes that are signed.
    pub fn to_text(&self) -> String {
        format!(
            "{CHECKPOINT_STATEMENT_HEADER}\nseq: {}\nrecord-hash: {}\nsigned-at: {}\nkey-id: {}\nalgorithm: {}\n",
            self.seq,
            hex::encode(&self.record_hash),
            format_time(self.signed_at),
            self.key_id,
            self.algorithm
        )
    }

    /// Parses a statement. Only the exact form [`Self::to_text`] writes is accepted, so that a
    /// statement has one byte representation.
    pub fn parse(text: &str) -> Result<CheckpointStatement, String> {
        let mut lines = text.split_inclusive('\n');
        let mut field = |name: &str| -> Result<String, String> {
            let line = lines.next().ok_or_else(|| format!("missing line {name}"))?;
            let value = line
                .strip_suffix('\n')
                .ok_or_else(|| format!("line {name} does not end with LF"))?;
            if name.is_empty() {
                return Ok(value.to_owned());
            }
            value
                .strip_prefix(name)
                .and_then(|v| v.strip_prefix(": "))
                .map(str::to_owned)
                .ok_or_else(|| format!("expected line \"{name}: ...\", found {value:?}"))
        };
        if field("")? != CHECKPOINT_STATEMENT_HEADER {
            return Err(format!("first line is not {CHECKPOINT_STATEMENT_HEADER}"));
        }
        let seq = field("seq")?;
        let seq: u64 = seq
            .parse()
            .map_err(|_| format!("seq {seq:?} is not a decimal number"))?;
        let record_hash = field("record-hash")?;
        let record_hash = hex::decode(&record_hash)
            .ok()
            .filter(|h| h.len() == 32)
            .ok_or_else(|| format!("record-hash {record_hash:?} is not 64 hex digits"))?;
        let signed_at = field("signed-at")?;
        let signed_at = parse_time(&signed_at)
            .ok_or_else(|| format!("signed-at {signed_at:?} is not YYYY-MM-DDTHH:MM:SS.ffffffZ"))?;
        let statement = CheckpointStatement {
            seq,
            record_hash,
            signed_at,
            key_id: field("key-id")?,
            algorithm: field("algorithm")?,
        };
        if lines.next().is_some() {
            return Err("text after the algorithm line".to_owned());
        }
        if statement.to_text() != text {
            return Err("not in canonical form (leading zeros, uppercase hex...)".to_owned());
        }
        Ok(statement)
    }
}

/// The key id of a public key: SHA-256 of its SubjectPublicKeyInfo DER, lowercase hex.
/// `openssl pkey -pubin -in audit-key.pem -outform DER | sha256sum` prints the same.
pub fn key_id_of_spki(spki_der: &[u8]) -> String {
    hex::encode(sha256(spki_der))
}

/// Parses a P-256 SubjectPublicKeyInfo (DER).
pub(crate) fn p256_key(spki_der: &[u8]) -> Result<VerifyingKey, AuditError> {
    VerifyingKey::from_public_key_der(spki_der).map_err(|e| AuditError::UnsupportedKey {
        detail: format!("not an ECDSA P-256 SubjectPublicKeyInfo: {e}"),
    })
}

/// `-----BEGIN PUBLIC KEY-----` PEM of a P-256 SubjectPublicKeyInfo.
pub fn spki_pem(spki_der: &[u8]) -> Result<String, AuditError> {
    p256_key(spki_der)?
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| AuditError::UnsupportedKey {
            detail: format!("cannot write PEM: {e}"),
        })
}

/// Reads a `PUBLIC KEY` PEM into SubjectPublicKeyInfo DER (P-256 only).
pub fn spki_der_from_pem(pem: &str) -> Result<Vec<u8>, AuditError> {
    let key = VerifyingKey::from_public_key_pem(pem).map_err(|e| AuditError::UnsupportedKey {
        detail: format!("not an ECDSA P-256 public key PEM: {e}"),
    })?;
    let der = key
        .to_public_key_der()
        .map_err(|e| AuditError::UnsupportedKey {
            detail: format!("cannot re-encode the key: {e}"),
        })?;
    Ok(der.as_bytes().to_vec())
}

/// Why a checkpoint signature was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureProblem {
    /// No trusted key has this key id.
    UntrustedKey,
    /// Not [`CHECKPOINT_ALGORITHM`].
    UnsupportedAlgorithm,
    /// Not a DER ECDSA signature, or it does not verify.
    Invalid,
}

/// The audit public keys a verifier trusts, by key id.
#[derive(Clone, Default)]
pub struct TrustedKeys {
    keys: BTreeMap<String, VerifyingKey>,
}

impl fmt::Debug for TrustedKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.keys.keys()).finish()
    }
}

impl TrustedKeys {
    /// Trusts each SubjectPublicKeyInfo DER (ECDSA P-256 only).
    pub fn from_spki_ders<K: AsRef<[u8]>>(spki_ders: &[K]) -> Result<TrustedKeys, AuditError> {
        let mut keys = BTreeMap::new();
        for der in spki_ders {
            let der = der.as_ref();
            keys.insert(key_id_of_spki(der), p256_key(der)?);
        }
        Ok(TrustedKeys { keys })
    }

    /// The trusted key ids, sorted.
    pub fn key_ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// Whether no key is trusted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Checks a checkpoint signature over `statement_text`.
    pub(crate) fn check(
        &self,
        key_id: &str,
        algorithm: &str,
        statement_text: &[u8],
        signature_der: &[u8],
    ) -> Result<(), SignatureProblem> {
        let key = self
            .keys
            .get(key_id)
            .ok_or(SignatureProblem::UntrustedKey)?;
        if algorithm != CHECKPOINT_ALGORITHM {
            return Err(SignatureProblem::UnsupportedAlgorithm);
        }
        let signature =
            EcdsaSignature::from_der(signature_der).map_err(|_| SignatureProblem::Invalid)?;
        key.verify_prehash(&sha256(statement_text), &signature)
            .map_err(|_| SignatureProblem::Invalid)
    }
}

/// Signs checkpoint statements with the audit key, an ECDSA P-256 key that never leaves the HSM.
#[derive(Clone)]
pub struct CheckpointSigner {
    hsm: Hsm,
    key: KeyRef,
    spki_der: Vec<u8>,
    key_id: String,
    verifying_key: VerifyingKey,
}

impl fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("key", &self.key)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    /// Uses the existing audit key `key` (its public half must be a P-256 key).
    pub async fn new(hsm: Hsm, key: KeyRef) -> Result<CheckpointSigner, AuditError> {
        let spki_der = hsm
            .public_key_spki(&key)
            .await
            .map_err(AuditError::hsm("read audit public key"))?;
        Self::with_spki(hsm, key, spki_der)
    }

    /// Generates a new audit key pair in the HSM (P-256, not extractable). Journal the
    /// [`AuditEvent::KeyGenerated`](super::AuditEvent::KeyGenerated) of the ceremony yourself.
    pub async fn generate(
        hsm: Hsm,
        label: &str,
        id: &KeyId,
    ) -> Result<CheckpointSigner, AuditError> {
        let generated = hsm
            .generate_key_pair(KeySpec::EcP256, label, id)
            .await
            .map_err(AuditError::hsm("generate audit key"))?;
        Self::with_spki(hsm, generated.key, generated.spki_der)
    }

    fn with_spki(hsm: Hsm, key: KeyRef, spki_der: Vec<u8>) -> Result<CheckpointSigner, AuditError> {
        let verifying_key = p256_key(&spki_der)?;
        Ok(CheckpointSigner {
            hsm,
            key,
            key_id: key_id_of_spki(&spki_der),
            spki_der,
            verifying_key,
        })
    }

    /// The key id written in statements: SHA-256 of the SubjectPublicKeyInfo DER, hex.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The audit public key, SubjectPublicKeyInfo DER.
    pub fn public_key_spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The audit public key as `PUBLIC KEY` PEM.
    pub fn public_key_pem(&self) -> Result<String, AuditError> {
        spki_pem(&self.spki_der)
    }

    /// The key in the HSM.
    pub fn key_ref(&self) -> &KeyRef {
        &self.key
    }

    /// A statement for record `seq` with hash `record_hash`, signed now.
    pub fn statement(
        &self,
        seq: u64,
        record_hash: Vec<u8>,
        signed_at: OffsetDateTime,
    ) -> CheckpointStatement {
        CheckpointStatement {
            seq,
            record_hash,
            signed_at: truncate_to_micros(signed_at),
            key_id: self.key_id.clone(),
            algorithm: CHECKPOINT_ALGORITHM.to_owned(),
        }
    }

    /// Signs the statement in the HSM and returns the DER signature, after checking it with the
    /// public key (a faulty token must not produce a checkpoint nobody can verify).
    pub async fn sign(&self, statement: &CheckpointStatement) -> Result<Vec<u8>, AuditError> {
        let text = statement.to_text();
        let digest = sha256(text.as_bytes());
        let signature = self
            .hsm
            .sign_digest(&self.key, SignMechanism::Ecdsa(DigestAlg::Sha256), &digest)
            .await
            .map_err(AuditError::hsm("sign checkpoint"))?;
        let Signature::Ecdsa(signature) = signature else {
            return Err(AuditError::UnsupportedKey {
                detail: "the audit key did not produce an ECDSA signature".to_owned(),
            });
        };
        let parsed = EcdsaSignature::from_der(&signature.der)
            .map_err(|_| AuditError::SignatureSelfCheck { seq: statement.seq })?;
        self.verifying_key
            .verify_prehash(&digest, &parsed)
            .map_err(|_| AuditError::SignatureSelfCheck { seq: statement.seq })?;
        Ok(signature.der)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use time::macros::datetime;

    fn statement() -> CheckpointStatement {
        CheckpointStatement {
            seq: 500,
            record_hash: vec![0xab; 32],
            signed_at: datetime!(2026-11-23 17:04:05.123456 UTC),
            key_id: "cd".repeat(32),
            algorithm: CHECKPOINT_ALGORITHM.to_owned(),
        }
    }

    #[test]
    fn statement_text_round_trips() {
        let text = statement().to_text();
        assert_eq!(
            text,
            format!(
                "qtsp-audit-checkpoint-v1\nseq: 500\nrecord-hash: {}\nsigned-at: 2026-11-23T17:04:05.123456Z\nkey-id: {}\nalgorithm: ecdsa-p256-sha256\n",
                "ab".repeat(32),
                "cd".repeat(32)
            )
        );
        assert_eq!(CheckpointStatement::parse(&text).unwrap(), statement());
    }

    #[test]
    fn statement_parse_is_strict() {
        let text = statement().to_text();
        for bad in [
            text.replace("seq: 500", "seq: 0500"),
            text.replace("seq: 500", "seq:500"),
            text.replace(&"ab".repeat(32), &"AB".repeat(32)),
            text.replace(&"ab".repeat(32), "abab"),
            text.trim_end().to_owned(),
            format!("{text}extra\n"),
            text.replace("\n", "\r\n"),
            text.replace(".123456Z", "Z"),
        ] {
            assert!(CheckpointStatement::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
