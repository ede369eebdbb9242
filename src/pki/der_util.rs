//! Small DER helpers: RFC 5280 times (Time, GeneralizedTime) and key identifiers.

use std::time::Duration;

use der::asn1::{GeneralizedTime, UtcTime};
use der::{DateTime, Decode};
use spki::SubjectPublicKeyInfoOwned;
use time::OffsetDateTime;
use x509_cert::time::Time;

use super::PkiError;
use super::alg::DigestAlgorithm;

/// The last year RFC 5280 encodes as UTCTime; later years are GeneralizedTime.
pub const LAST_UTC_TIME_YEAR: i32 = 2049;

/// An X.509 `Time` for `t`, truncated to whole seconds: UTCTime through 2049, GeneralizedTime
/// from 2050 (RFC 5280 section 4.1.2.5). Times before 1970 are refused.
pub fn x509_time(t: OffsetDateTime) -> Result<Time, PkiError> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| PkiError::invalid("Time", format!("{t} is before 1970")))?;
    let dt = DateTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(PkiError::encode("Time"))?;
    if i32::from(dt.year()) <= LAST_UTC_TIME_YEAR {
        Ok(Time::UtcTime(
            UtcTime::from_date_time(dt).map_err(PkiError::encode("UTCTime"))?,
        ))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(dt)))
    }
}

/// A GeneralizedTime for `t`, truncated to whole seconds, in the RFC 5280 form
/// `YYYYMMDDHHMMSSZ` whatever the year (for values that are always GeneralizedTime: the CRL entry
/// extension invalidityDate, expiredCertsOnCRL). Times before 1970 are refused.
pub fn generalized_time(t: OffsetDateTime) -> Result<GeneralizedTime, PkiError> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| PkiError::invalid("GeneralizedTime", format!("{t} is before 1970")))?;
    GeneralizedTime::from_unix_duration(Duration::from_secs(secs))
        .map_err(PkiError::encode("GeneralizedTime"))
}

/// The instant of an X.509 `Time`.
pub fn from_x509_time(t: &Time) -> Result<OffsetDateTime, PkiError> {
    let secs = i64::try_from(t.to_unix_duration().as_secs())
        .map_err(|_| PkiError::invalid("Time", "out of range"))?;
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| PkiError::invalid("Time", e.to_string()))
}

/// `t` truncated to whole seconds (what a certificate can hold).
#[must_use]
pub fn truncate_to_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// The key identifier of a public key: the leftmost 160 bits of the SHA-256 hash of the
/// subjectPublicKey BIT STRING value, excluding tag, length and unused-bits octet (RFC 7093
/// section 2, method 1). Used for subjectKeyIdentifier and authorityKeyIdentifier.
pub fn key_identifier(spki_der: &[u8]) -> Result<Vec<u8>, PkiError> {
    let spki = SubjectPublicKeyInfoOwned::from_der(spki_der)
        .map_err(PkiError::decode("SubjectPublicKeyInfo"))?;
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| PkiError::invalid("subjectPublicKey", "the BIT STRING has unused bits"))?;
    let mut id = DigestAlgorithm::Sha256.digest(bits);
    id.truncate(20);
    Ok(id)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use der::Encode;
    use time::macros::datetime;

    #[test]
    fn utc_time_through_2049_generalized_time_from_2050() {
        let t = x509_time(datetime!(2049-12-31 23:59:59.999 UTC)).unwrap();
        assert!(matches!(t, Time::UtcTime(_)));
        // 17 0d "491231235959Z"
        assert_eq!(
            hex::encode(t.to_der().unwrap()),
            "170d3439313233313233353935395a"
        );
        let t = x509_time(datetime!(2050-01-01 00:00:00 UTC)).unwrap();
        assert!(matches!(t, Time::GeneralTime(_)));
        // 18 0f "20500101000000Z"
        assert_eq!(
            hex::encode(t.to_der().unwrap()),
            "180f32303530303130313030303030305a"
        );
        assert!(x509_time(datetime!(1969-12-31 23:59:59 UTC)).is_err());
    }

    #[test]
    fn generalized_time_is_whole_seconds_in_any_year() {
        let t = generalized_time(datetime!(2026-03-01 12:34:56.75 UTC)).unwrap();
        // 18 0f "20260301123456Z"
        assert_eq!(
            hex::encode(t.to_der().unwrap()),
            "180f32303236303330313132333435365a"
        );
        assert!(generalized_time(datetime!(1969-12-31 23:59:59 UTC)).is_err());
    }

    #[test]
    fn times_round_trip_at_second_precision() {
        for t in [
            datetime!(2026-03-01 12:34:56 UTC),
            datetime!(2071-07-04 00:00:01 UTC),
        ] {
            assert_eq!(from_x509_time(&x509_time(t).unwrap()).unwrap(), t);
        }
        let with_nanos = datetime!(2026-03-01 12:34:56.75 UTC);
        assert_eq!(
            from_x509_time(&x509_time(with_nanos).unwrap()).unwrap(),
            truncate_to_seconds(with_nanos)
        );
    }

    #[test]
    fn key_identifier_is_truncated_sha256_of_the_key_bits() {
        let spki = hex::decode("3059301306072a8648ce3d020106082a8648ce3d0301070342000460fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb67903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299").unwrap();
        let id = key_identifier(&spki).unwrap();
        assert_eq!(id.len(), 20);
        // The hash covers the 65-byte point only, not the SPKI header.
        let point = &spki[spki.len() - 65..];
        assert_eq!(id, DigestAlgorithm::Sha256.digest(point)[..20].to_vec());
        assert!(key_identifier(&spki[..10]).is_err());
        assert!(key_identifier(b"").is_err());
    }
}
