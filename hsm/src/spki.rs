//! The little ASN.1 this crate produces: SubjectPublicKeyInfo from token attributes, the
//! ECDSA-Sig-Value of a raw ECDSA signature, and the PKCS#1 DigestInfo signed with CKM_RSA_PKCS.
//! All of it is written with the `der` and `spki` crates, never by hand.

use const_oid::ObjectIdentifier;
use const_oid::db::rfc5912::{ID_EC_PUBLIC_KEY, RSA_ENCRYPTION};
use der::asn1::{BitStringRef, Null, OctetStringRef, UintRef};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifier, SubjectPublicKeyInfo};

use crate::error::{HsmError, Result};
use crate::keys::EcCurve;

/// `ECDSA-Sig-Value ::= SEQUENCE { r INTEGER, s INTEGER }` (RFC 3279 / RFC 5480).
#[derive(Sequence)]
struct EcdsaSigValue<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (RFC 8017 A.1.1).
#[derive(Sequence)]
struct RsaPublicKey<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// `DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest OCTET STRING }`
/// (RFC 8017 9.2), with NULL parameters as RFC 8017 prescribes for the SHA-2 family.
#[derive(Sequence)]
struct DigestInfo<'a> {
    digest_algorithm: AlgorithmIdentifier<Null>,
    digest: &'a OctetStringRef,
}

/// Extracts the uncompressed point from `CKA_EC_POINT`.
///
/// PKCS#11 specifies `CKA_EC_POINT` as the DER encoding of an OCTET STRING holding the point
/// (SoftHSM2 does that); some modules return the bare point. Both are accepted, told apart by
/// length, and the result must be an uncompressed point of the right size.
pub(crate) fn ec_point_from_attribute(curve: EcCurve, attr: &[u8]) -> Result<&[u8]> {
    let point_len = 1 + 2 * curve.field_len();
    let point = if attr.len() == point_len {
        attr
    } else {
        <&OctetStringRef>::from_der(attr)
            .map_err(|e| HsmError::Encoding(format!("CKA_EC_POINT is not an OCTET STRING: {e}")))?
            .as_bytes()
    };
    if point.len() != point_len || point.first() != Some(&0x04) {
        return Err(HsmError::Encoding(format!(
            "CKA_EC_POINT is not an uncompressed point of {point_len} bytes"
        )));
    }
    Ok(point)
}

/// SubjectPublicKeyInfo for an EC key: id-ecPublicKey with the namedCurve OID as parameters.
pub(crate) fn ec_spki(curve: EcCurve, ec_point_attr: &[u8]) -> Result<Vec<u8>> {
    let point = ec_point_from_attribute(curve, ec_point_attr)?;
    let info = SubjectPublicKeyInfo::<ObjectIdentifier, BitStringRef<'_>> {
        algorithm: AlgorithmIdentifier {
            oid: ID_EC_PUBLIC_KEY,
            parameters: Some(curve.oid()),
        },
        subject_public_key: BitStringRef::from_bytes(point)?,
    };
    Ok(info.to_der()?)
}

/// SubjectPublicKeyInfo for an RSA key: rsaEncryption with NULL parameters, RSAPublicKey inside.
pub(crate) fn rsa_spki(modulus: &[u8], exponent: &[u8]) -> Result<Vec<u8>> {
    let key = RsaPublicKey {
        modulus: UintRef::new(modulus)?,
        public_exponent: UintRef::new(exponent)?,
    }
    .to_der()?;
    let info = SubjectPublicKeyInfo::<Null, BitStringRef<'_>> {
        algorithm: AlgorithmIdentifier {
            oid: RSA_ENCRYPTION,
            parameters: Some(Null),
        },
        subject_public_key: BitStringRef::from_bytes(&key)?,
    };
    Ok(info.to_der()?)
}

/// DER ECDSA-Sig-Value from the raw `r || s` that CKM_ECDSA returns. INTEGERs are minimally
/// encoded (leading zeros stripped, a 0x00 added when the high bit is set).
pub(crate) fn ecdsa_der_from_raw(raw: &[u8], field_len: usize) -> Result<Vec<u8>> {
    if raw.len() != 2 * field_len {
        return Err(HsmError::Encoding(format!(
            "raw ECDSA signature must be {} bytes, the token returned {}",
            2 * field_len,
            raw.len()
        )));
    }
    let (r, s) = raw.split_at(field_len);
    if r.iter().all(|b| *b == 0) || s.iter().all(|b| *b == 0) {
        return Err(HsmError::Encoding(
            "the token returned an ECDSA signature with r or s equal to zero".into(),
        ));
    }
    Ok(EcdsaSigValue {
        r: UintRef::new(r)?,
        s: UintRef::new(s)?,
    }
    .to_der()?)
}

/// DER DigestInfo for `digest` computed with the hash `oid`.
pub(crate) fn digest_info(oid: ObjectIdentifier, digest: &[u8]) -> Result<Vec<u8>> {
    Ok(DigestInfo {
        digest_algorithm: AlgorithmIdentifier {
            oid,
            parameters: Some(Null),
        },
        digest: OctetStringRef::new(digest)?,
    }
    .to_der()?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use const_oid::db::rfc5912::{ID_SHA_256, ID_SHA_384, ID_SHA_512};

    #[test]
    fn digest_info_prefixes_match_rfc8017() {
        // RFC 8017 section 9.2, notes 1: the DER prefixes T of DigestInfo per hash function.
        let cases: [(ObjectIdentifier, usize, &str); 3] = [
            (ID_SHA_256, 32, "3031300d060960864801650304020105000420"),
            (ID_SHA_384, 48, "3041300d060960864801650304020205000430"),
            (ID_SHA_512, 64, "3051300d060960864801650304020305000440"),
        ];
        for (oid, len, prefix) in cases {
            let digest = vec![0xAB; len];
            let info = digest_info(oid, &digest).unwrap();
            assert_eq!(hex::encode(&info[..info.len() - len]), prefix);
            assert_eq!(&info[info.len() - len..], digest.as_slice());
        }
    }

    #[test]
    fn ecdsa_der_is_minimal() {
        // r with leading zero bytes, s with the high bit set.
        let mut raw = vec![0u8; 64];
        raw[2] = 0x01;
        raw[31] = 0x02;
        raw[32] = 0x80;
        raw[63] = 0x03;
        let der = ecdsa_der_from_raw(&raw, 32).unwrap();
        // SEQUENCE, r = INTEGER of 30 bytes (0x01 ... 0x02), s = INTEGER of 33 bytes (0x00 0x80 ...)
        assert_eq!(der[0], 0x30);
        assert_eq!(&der[2..4], &[0x02, 30]);
        assert_eq!(der[4], 0x01);
        assert_eq!(&der[34..37], &[0x02, 33, 0x00]);
        assert_eq!(der[37], 0x80);
        assert_eq!(der.len(), 2 + 2 + 30 + 2 + 33);
        assert!(ecdsa_der_from_raw(&raw[..63], 32).is_err());
    }

    #[test]
    fn ec_point_both_forms() {
        let mut point = vec![0x04];
        point.extend([7u8; 64]);
        let wrapped = OctetStringRef::new(&point).unwrap().to_der().unwrap();
        assert_eq!(
            ec_point_from_attribute(EcCurve::P256, &wrapped).unwrap(),
            point.as_slice()
        );
        assert_eq!(
            ec_point_from_attribute(EcCurve::P256, &point).unwrap(),
            point.as_slice()
        );
        assert!(ec_point_from_attribute(EcCurve::P384, &wrapped).is_err());
    }
}
