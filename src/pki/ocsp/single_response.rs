//! One certificate's status in a basic response: `SingleResponse`, `CertStatus` and
//! `RevokedInfo` (RFC 6960 section 4.2.1), where the module's only IMPLICIT tags are.

use der::asn1::{GeneralizedTime, Null};
use der::{Choice, Sequence};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::CrlReason;

use super::CertId;

/// The status of one certificate (RFC 6960 section 4.2.1).
///
/// ```text
/// SingleResponse ::= SEQUENCE {
///    certID                       CertID,
///    certStatus                   CertStatus,
///    thisUpdate                   GeneralizedTime,
///    nextUpdate         [0]       EXPLICIT GeneralizedTime OPTIONAL,
///    singleExtensions   [1]       EXPLICIT Extensions OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SingleResponse {
    /// `certID`: the request's `CertID`, echoed.
    pub cert_id: CertId,
    /// `certStatus`.
    pub cert_status: CertStatus,
    /// `thisUpdate`: when the status was known to be correct.
    pub this_update: GeneralizedTime,
    /// `nextUpdate`: when newer information will be available.
    #[asn1(context_specific = "0", optional = "true")]
    pub next_update: Option<GeneralizedTime>,
    /// `singleExtensions`.
    #[asn1(context_specific = "1", optional = "true")]
    pub single_extensions: Option<Vec<Extension>>,
}

/// A certificate's status (RFC 6960 section 4.2.1).
///
/// ```text
/// CertStatus ::= CHOICE {
///     good        [0]     IMPLICIT NULL,
///     revoked     [1]     IMPLICIT RevokedInfo,
///     unknown     [2]     IMPLICIT UnknownInfo }
///
/// UnknownInfo ::= NULL
/// ```
///
/// The only IMPLICIT tags of the module: `good` is `80 00`, `revoked` is `a1 ..` (the
/// `RevokedInfo` SEQUENCE's contents directly inside), `unknown` is `82 00`.
#[derive(Clone, Debug, PartialEq, Eq, Choice)]
pub enum CertStatus {
    /// `good`: not revoked (which says nothing of validity).
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT")]
    Good(Null),
    /// `revoked`: revoked, with the time and maybe the reason.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", constructed = "true")]
    Revoked(RevokedInfo),
    /// `unknown`: the responder does not know the certificate.
    #[asn1(context_specific = "2", tag_mode = "IMPLICIT")]
    Unknown(Null),
}

/// When and why a certificate was revoked (RFC 6960 section 4.2.1).
///
/// ```text
/// RevokedInfo ::= SEQUENCE {
///     revocationTime              GeneralizedTime,
///     revocationReason    [0]     EXPLICIT CRLReason OPTIONAL }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct RevokedInfo {
    /// `revocationTime`.
    pub revocation_time: GeneralizedTime,
    /// `revocationReason` (RFC 5280 `CRLReason`, an ENUMERATED).
    #[asn1(context_specific = "0", optional = "true")]
    pub revocation_reason: Option<CrlReason>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::pki::ocsp::tests::{T0, round_trip, sha1_cert_id, sha1_cert_id_hex, t0, unhex};
    use crate::pki::oid;
    use der::Decode;
    use der::asn1::OctetString;

    #[test]
    fn cert_status_tags_are_80_a1_82() {
        // good [0] IMPLICIT NULL: context-specific, primitive, number 0, empty.
        round_trip(&CertStatus::Good(Null), "8000");
        // unknown [2] IMPLICIT UnknownInfo (NULL).
        round_trip(&CertStatus::Unknown(Null), "8200");
        // revoked [1] IMPLICIT RevokedInfo: constructed (a SEQUENCE), no inner 30.
        let revoked = CertStatus::Revoked(RevokedInfo {
            revocation_time: t0(),
            revocation_reason: None,
        });
        round_trip(&revoked, &format!("a111{T0}"));
        // revocationReason [0] EXPLICIT CRLReason: a0 03 0a 01 01 (keyCompromise).
        let revoked = CertStatus::Revoked(RevokedInfo {
            revocation_time: t0(),
            revocation_reason: Some(CrlReason::KeyCompromise),
        });
        round_trip(&revoked, &format!("a116{T0}a0030a0101"));
        // A0 (constructed [0]) is not `good`, nor is an explicit [0] around NULL.
        assert!(CertStatus::from_der(&unhex("a000")).is_err());
        assert!(CertStatus::from_der(&unhex("a0020500")).is_err());
        // An explicitly tagged RevokedInfo (a1 .. 30 ..) is not what the RFC says either.
        assert!(CertStatus::from_der(&unhex(&format!("a1133011{T0}"))).is_err());
        // Tag [3] is no status.
        assert!(CertStatus::from_der(&unhex("8300")).is_err());
    }

    #[test]
    fn revoked_info_reason_is_explicitly_tagged() {
        for (reason, byte) in [
            (CrlReason::Unspecified, 0u8),
            (CrlReason::KeyCompromise, 1),
            (CrlReason::CaCompromise, 2),
            (CrlReason::Superseded, 4),
            (CrlReason::CessationOfOperation, 5),
            (CrlReason::CertificateHold, 6),
            (CrlReason::RemoveFromCRL, 8),
            (CrlReason::PrivilegeWithdrawn, 9),
            (CrlReason::AaCompromise, 10),
        ] {
            let info = RevokedInfo {
                revocation_time: t0(),
                revocation_reason: Some(reason),
            };
            round_trip(&info, &format!("3016{T0}a0030a01{byte:02x}"));
        }
        // 7 is not a CRLReason.
        assert!(RevokedInfo::from_der(&unhex(&format!("3016{T0}a0030a0107"))).is_err());
    }

    #[test]
    fn single_responses_round_trip_good_revoked_unknown() {
        let cert_id = sha1_cert_id(&[0x01, 0x02]);
        let id = sha1_cert_id_hex();
        let next =
            GeneralizedTime::from_der(&unhex("180f 32303236303330323132333435365a")).unwrap();
        let next_hex = "180f32303236303330323132333435365a";

        let good = SingleResponse {
            cert_id: cert_id.clone(),
            cert_status: CertStatus::Good(Null),
            this_update: t0(),
            next_update: Some(next),
            single_extensions: None,
        };
        // 61 + 2 + 17 + (2 + 17) = 99 = 0x63; nextUpdate [0] EXPLICIT: a0 11 18 0f ...
        round_trip(&good, &format!("3063{id}8000{T0}a011{next_hex}"));

        let revoked = SingleResponse {
            cert_status: CertStatus::Revoked(RevokedInfo {
                revocation_time: t0(),
                revocation_reason: Some(CrlReason::Superseded),
            }),
            next_update: None,
            ..good.clone()
        };
        round_trip(&revoked, &format!("3066{id}a116{T0}a0030a0104{T0}"));

        let unknown = SingleResponse {
            cert_status: CertStatus::Unknown(Null),
            next_update: None,
            single_extensions: Some(vec![Extension {
                extn_id: oid::ID_PKIX_OCSP_ARCHIVE_CUTOFF,
                critical: false,
                extn_value: OctetString::new(unhex(T0)).unwrap(),
            }]),
            ..good
        };
        // singleExtensions [1] EXPLICIT: a1, then the SEQUENCE OF (30), then the Extension.
        let ext = format!("06092b0601050507300106 0411{T0}").replace(' ', "");
        round_trip(&unknown, &format!("3074{id}8200{T0}a1223020 301e{ext}"));
    }
}
