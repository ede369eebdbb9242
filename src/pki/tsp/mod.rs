//! Time-stamp protocol: the ASN.1 types of RFC 3161 (requests, responses, `TSTInfo`) and of
//! RFC 5816 / RFC 5035 (`SigningCertificateV2`, `ESSCertIDv2`), owned.
//!
//! Notes on `der` 0.8 that shape these types:
//!
//! - `der::asn1::GeneralizedTime` is the RFC 5280 profile: exactly `YYYYMMDDHHMMSSZ` (15 bytes),
//!   no fractional seconds, so it can neither encode nor decode a sub-second `genTime`. RFC 3161
//!   `genTime` uses [`TstTime`], which encodes `YYYYMMDDHHMMSS[.f+]Z` with no trailing zero in
//!   the fraction and decodes only that form.
//! - `#[asn1(default = "...")]` omits a field equal to its default when encoding, as DER
//!   requires, but the decoder *accepts* an explicitly encoded default value (it decodes
//!   `Option<T>` and falls back to the default). So `der` alone does not reject
//!   `certReq FALSE` written out; [`crate::tsa::request`] rejects non-canonical requests by
//!   re-encoding and comparing.
//! - `der` only maps named BIT STRINGs onto `flagset` (a feature not enabled here), so
//!   [`PkiFailureInfo`] encodes itself: trailing zero bits removed, minimal unused-bits count,
//!   and decoding refuses a trailing zero bit (X.690 clause 11.2.2).

use der::Sequence;
use der::asn1::{Any, Int, OctetString};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::name::GeneralName;

use super::PkiError;

mod ess;
mod gen_time;
mod status;

pub use ess::{EssCertIdV2, IssuerSerial, SigningCertificateV2, sha256_algorithm};
pub use gen_time::{TstTime, TstTimeTlv};
pub use status::{PkiFailureInfo, PkiStatus, PkiStatusInfo};

/// The hash of the data to be time-stamped (RFC 3161 section 2.4.1).
///
/// ```text
/// MessageImprint ::= SEQUENCE  {
///      hashAlgorithm                AlgorithmIdentifier,
///      hashedMessage                OCTET STRING  }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct MessageImprint {
    /// `hashAlgorithm`.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// `hashedMessage`.
    pub hashed_message: OctetString,
}

/// A time-stamp request (RFC 3161 section 2.4.1).
///
/// ```text
/// TimeStampReq ::= SEQUENCE  {
///    version                      INTEGER  { v1(1) },
///    messageImprint               MessageImprint,
///    reqPolicy             TSAPolicyId              OPTIONAL,
///    nonce                 INTEGER                  OPTIONAL,
///    certReq               BOOLEAN                  DEFAULT FALSE,
///    extensions            [0] IMPLICIT Extensions  OPTIONAL  }
///
/// TSAPolicyId ::= OBJECT IDENTIFIER
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TimeStampReq {
    /// `version`; 1 is the only defined value (kept as a number so that a wrong version can be
    /// told apart from malformed DER).
    pub version: u8,
    /// `messageImprint`.
    pub message_imprint: MessageImprint,
    /// `reqPolicy`.
    pub req_policy: Option<ObjectIdentifier>,
    /// `nonce`.
    pub nonce: Option<Int>,
    /// `certReq`, omitted from the encoding when false.
    #[asn1(default = "default_false")]
    pub cert_req: bool,
    /// `extensions`.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Vec<Extension>>,
}

fn default_false() -> bool {
    false
}

/// A time-stamp response (RFC 3161 section 2.4.2).
///
/// ```text
/// TimeStampResp ::= SEQUENCE  {
///    status                  PKIStatusInfo,
///    timeStampToken          TimeStampToken     OPTIONAL  }
///
/// TimeStampToken ::= ContentInfo
///    -- contentType is id-signedData ([CMS])
///    -- content is SignedData ([CMS])
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TimeStampResp {
    /// `status`.
    pub status: PkiStatusInfo,
    /// `timeStampToken`: the CMS `ContentInfo`, kept as raw DER.
    pub time_stamp_token: Option<Any>,
}

/// The declared accuracy of `genTime` (RFC 3161 section 2.4.2).
///
/// ```text
/// Accuracy ::= SEQUENCE {
///    seconds        INTEGER              OPTIONAL,
///    millis     [0] INTEGER  (1..999)    OPTIONAL,
///    micros     [1] INTEGER  (1..999)    OPTIONAL  }
/// ```
///
/// The module is `IMPLICIT TAGS`, so `millis` and `micros` are implicitly tagged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Sequence)]
pub struct Accuracy {
    /// `seconds`.
    pub seconds: Option<u32>,
    /// `millis`, 1..=999.
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    pub millis: Option<u16>,
    /// `micros`, 1..=999.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub micros: Option<u16>,
}

impl Accuracy {
    /// Checks the `(1..999)` ranges of `millis` and `micros`.
    pub fn validate(&self) -> Result<(), PkiError> {
        for (what, v) in [
            ("Accuracy.millis", self.millis),
            ("Accuracy.micros", self.micros),
        ] {
            if let Some(v) = v
                && !(1..=999).contains(&v)
            {
                return Err(PkiError::invalid(what, format!("{v} is outside 1..999")));
            }
        }
        Ok(())
    }
}

/// The content of a time-stamp token (RFC 3161 section 2.4.2, RFC 5816).
///
/// ```text
/// TSTInfo ::= SEQUENCE  {
///    version                      INTEGER  { v1(1) },
///    policy                       TSAPolicyId,
///    messageImprint               MessageImprint,
///      -- MUST have the same value as the similar field in
///      -- TimeStampReq
///    serialNumber                 INTEGER,
///     -- Time-Stamping users MUST be ready to accommodate integers
///     -- up to 160 bits.
///    genTime                      GeneralizedTime,
///    accuracy                     Accuracy                 OPTIONAL,
///    ordering                     BOOLEAN             DEFAULT FALSE,
///    nonce                        INTEGER                  OPTIONAL,
///      -- MUST be present if the similar field was present
///      -- in TimeStampReq.  In that case it MUST have the same value.
///    tsa                          [0] GeneralName          OPTIONAL,
///    extensions                   [1] IMPLICIT Extensions   OPTIONAL  }
/// ```
///
/// `tsa` is a CHOICE, so its `[0]` tag is explicit despite the module's IMPLICIT TAGS.
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct TstInfo {
    /// `version`, 1.
    pub version: u8,
    /// `policy`.
    pub policy: ObjectIdentifier,
    /// `messageImprint`.
    pub message_imprint: MessageImprint,
    /// `serialNumber`: positive, at most 160 bits (see [`TstInfo::validate`]).
    pub serial_number: Int,
    /// `genTime`.
    pub gen_time: TstTime,
    /// `accuracy`.
    pub accuracy: Option<Accuracy>,
    /// `ordering`, omitted from the encoding when false.
    #[asn1(default = "default_false")]
    pub ordering: bool,
    /// `nonce`.
    pub nonce: Option<Int>,
    /// `tsa`.
    #[asn1(context_specific = "0", optional = "true")]
    pub tsa: Option<GeneralName>,
    /// `extensions`.
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Vec<Extension>>,
}

impl TstInfo {
    /// Checks what the ASN.1 cannot say: version 1, a positive serial number of at most 160
    /// bits, and the accuracy ranges.
    pub fn validate(&self) -> Result<(), PkiError> {
        if self.version != 1 {
            return Err(PkiError::invalid(
                "TSTInfo.version",
                format!("{} is not v1", self.version),
            ));
        }
        check_serial(&self.serial_number)?;
        if let Some(accuracy) = &self.accuracy {
            accuracy.validate()?;
        }
        Ok(())
    }
}

/// A positive INTEGER of at most 160 bits (RFC 3161 `serialNumber`).
fn check_serial(serial: &Int) -> Result<(), PkiError> {
    let bytes = serial.as_bytes();
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let magnitude = match bytes {
        [0, rest @ ..] => rest,
        all => all,
    };
    if negative || magnitude.iter().all(|b| *b == 0) {
        return Err(PkiError::invalid(
            "TSTInfo.serialNumber",
            "must be positive",
        ));
    }
    if magnitude.len() > 20 {
        return Err(PkiError::invalid(
            "TSTInfo.serialNumber",
            "longer than 160 bits",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::pki::oid;
    use der::{Decode, Encode};
    use time::macros::datetime;
    use x509_cert::serial_number::SerialNumber;

    fn h(v: &impl Encode) -> String {
        hex::encode(v.to_der().unwrap())
    }

    fn sha256_imprint(byte: u8) -> MessageImprint {
        MessageImprint {
            hash_algorithm: sha256_algorithm(),
            hashed_message: OctetString::new(vec![byte; 32]).unwrap(),
        }
    }

    #[test]
    fn request_round_trips_and_omits_cert_req_false() {
        let req = TimeStampReq {
            version: 1,
            message_imprint: sha256_imprint(0xab),
            req_policy: None,
            nonce: None,
            cert_req: false,
            extensions: None,
        };
        let imprint = format!(
            "302f300b0609608648016503040201{}",
            format_args!("0420{}", "ab".repeat(32))
        );
        let expected = format!("3034020101{imprint}");
        assert_eq!(h(&req), expected);
        assert_eq!(TimeStampReq::from_der(&req.to_der().unwrap()).unwrap(), req);

        let req = TimeStampReq {
            req_policy: Some(oid::TSA_BASELINE_POLICY),
            nonce: Some(Int::new(&[0x00, 0x80]).unwrap()),
            cert_req: true,
            ..req
        };
        // reqPolicy 06 06 04 00 8f 67 01 01, nonce 02 02 00 80, certReq 01 01 ff.
        let expected =
            format!("3043020101{imprint}060604008f6701010202008001 01ff").replace(' ', "");
        assert_eq!(h(&req), expected);
        assert_eq!(TimeStampReq::from_der(&req.to_der().unwrap()).unwrap(), req);
    }

    #[test]
    fn der_decoder_accepts_an_explicit_default() {
        // certReq FALSE written out (01 01 00): not DER, yet der 0.8 decodes it. Documented in
        // the module header; the TSA request check refuses it by re-encoding.
        let imprint = format!("302f300b06096086480165030402010420{}", "ab".repeat(32));
        let der = hex::decode(format!("3037020101{imprint}010100")).unwrap();
        let req = TimeStampReq::from_der(&der).unwrap();
        assert!(!req.cert_req);
        assert_ne!(req.to_der().unwrap(), der);
    }

    #[test]
    fn request_extensions_are_implicitly_tagged() {
        let req = TimeStampReq {
            version: 1,
            message_imprint: sha256_imprint(1),
            req_policy: None,
            nonce: None,
            cert_req: false,
            extensions: Some(vec![Extension {
                extn_id: ObjectIdentifier::new_unwrap("1.2.3.4"),
                critical: true,
                extn_value: OctetString::new(vec![0x05, 0x00]).unwrap(),
            }]),
        };
        let der = req.to_der().unwrap();
        // [0] constructed (a0), then the Extension SEQUENCE directly (no inner 30 for the
        // SEQUENCE OF): a0 0e 30 0c 06 03 2a 03 04 01 01 ff 04 02 05 00.
        let tail = "a00e300c06032a03040101ff04020500";
        assert!(hex::encode(&der).ends_with(tail), "{}", hex::encode(&der));
        assert_eq!(TimeStampReq::from_der(&der).unwrap(), req);
    }

    #[test]
    fn status_info_and_rejection_response_bytes() {
        let resp = TimeStampResp {
            status: PkiStatusInfo {
                status: PkiStatus::Rejection,
                status_string: Some(vec!["no".into()]),
                fail_info: Some(PkiFailureInfo::BAD_ALG),
            },
            time_stamp_token: None,
        };
        // 30 0f { 30 0d { 02 01 02, 30 04 { 0c 02 "no" }, 03 02 07 80 } }
        assert_eq!(h(&resp), "300f300d02010230040c026e6f03020780");
        assert_eq!(
            TimeStampResp::from_der(&resp.to_der().unwrap()).unwrap(),
            resp
        );
        // Status 6 is not defined.
        assert!(PkiStatus::from_der(&[0x02, 0x01, 0x06]).is_err());
        assert_eq!(h(&PkiStatus::Granted), "020100");
    }

    #[test]
    fn gen_time_encodes_fractions_without_trailing_zeros() {
        let cases = [
            (datetime!(2026-03-01 12:34:56 UTC), "20260301123456Z"),
            (datetime!(2026-03-01 12:34:56.5 UTC), "20260301123456.5Z"),
            (datetime!(2026-03-01 12:34:56.25 UTC), "20260301123456.25Z"),
            (datetime!(2026-03-01 12:34:56.1 UTC), "20260301123456.1Z"),
            (
                datetime!(2026-03-01 12:34:56.000000001 UTC),
                "20260301123456.000000001Z",
            ),
            (
                datetime!(9999-12-31 23:59:59.999999999 UTC),
                "99991231235959.999999999Z",
            ),
            (datetime!(0000-01-01 00:00:00.1 UTC), "00000101000000.1Z"),
            (datetime!(2026-03-01 12:34:56.12 UTC), "20260301123456.12Z"),
        ];
        for (t, text) in cases {
            let g = TstTime::new(t).unwrap();
            let der = g.to_der().unwrap();
            // The stack encoding used per token is the same TLV.
            assert_eq!(g.to_tlv().as_bytes(), der.as_slice(), "{text}");
            assert_eq!(g.to_der_bytes(), der, "{text}");
            assert_eq!(der[0], 0x18);
            assert_eq!(usize::from(der[1]), text.len());
            assert_eq!(&der[2..], text.as_bytes());
            assert_eq!(TstTime::from_der(&der).unwrap(), g);
        }
        // An offset is converted to UTC.
        let g = TstTime::new(datetime!(2026-03-01 13:34:56 +01:00)).unwrap();
        assert_eq!(&g.to_der().unwrap()[2..], b"20260301123456Z");
    }

    #[test]
    fn gen_time_refuses_non_canonical_text() {
        for bad in [
            "20260301123456.50Z",
            "20260301123456.Z",
            "20260301123456",
            "202603011234Z",
            "20260301123456+0100",
            "20260301123456,5Z",
            "20261301123456Z",
            "20260230123456Z",
            "20260301246000Z",
            "20260301123456.1234567891Z",
            "2026030112345aZ",
            "",
        ] {
            let mut der = vec![0x18, u8::try_from(bad.len()).unwrap()];
            der.extend_from_slice(bad.as_bytes());
            assert!(TstTime::from_der(&der).is_err(), "{bad}");
        }
        // der's own GeneralizedTime refuses any fraction at all.
        let mut der = vec![0x18, 17];
        der.extend_from_slice(b"20260301123456.5Z");
        assert!(der::asn1::GeneralizedTime::from_der(&der).is_err());
    }

    fn tst_info() -> TstInfo {
        TstInfo {
            version: 1,
            policy: oid::TSA_BASELINE_POLICY,
            message_imprint: sha256_imprint(0xcd),
            serial_number: Int::new(&[0x01, 0x02]).unwrap(),
            gen_time: TstTime::new(datetime!(2026-03-01 12:34:56.5 UTC)).unwrap(),
            accuracy: Some(Accuracy {
                seconds: Some(1),
                millis: None,
                micros: None,
            }),
            ordering: false,
            nonce: Some(Int::new(&[0x2a]).unwrap()),
            tsa: None,
            extensions: None,
        }
    }

    #[test]
    fn tst_info_round_trips_and_omits_ordering_false() {
        let info = tst_info();
        info.validate().unwrap();
        let imprint = format!("302f300b06096086480165030402010420{}", "cd".repeat(32));
        let expected = format!(
            "305b020101{}{imprint}{}{}{}{}",
            "060604008f670101",
            "02020102",
            "181132303236303330313132333435362e355a",
            "3003020101",
            "02012a"
        );
        assert_eq!(h(&info), expected);
        assert_eq!(TstInfo::from_der(&info.to_der().unwrap()).unwrap(), info);

        let info = TstInfo {
            ordering: true,
            tsa: Some(GeneralName::Rfc822Name(
                der::asn1::Ia5String::new("a@b").unwrap(),
            )),
            ..tst_info()
        };
        let der = info.to_der().unwrap();
        // ordering 01 01 ff before the nonce; tsa [0] EXPLICIT around [1] IMPLICIT IA5String.
        assert!(hex::encode(&der).ends_with("0101ff02012aa0058103614062"));
        assert_eq!(TstInfo::from_der(&der).unwrap(), info);
    }

    #[test]
    fn accuracy_uses_implicit_tags_and_checks_ranges() {
        let a = Accuracy {
            seconds: None,
            millis: Some(500),
            micros: Some(1),
        };
        assert_eq!(h(&a), "3007800201f4810101");
        assert_eq!(Accuracy::from_der(&a.to_der().unwrap()).unwrap(), a);
        a.validate().unwrap();
        assert!(
            Accuracy {
                millis: Some(1000),
                ..a
            }
            .validate()
            .is_err()
        );
        assert!(
            Accuracy {
                micros: Some(0),
                ..a
            }
            .validate()
            .is_err()
        );
    }

    #[test]
    fn serial_numbers_are_positive_and_at_most_160_bits() {
        let mut info = tst_info();
        for (bytes, ok) in [
            (vec![0x01], true),
            (vec![0x00, 0xff], true),
            ([vec![0x00], vec![0xff; 20]].concat(), true),
            (vec![0x7f; 20], true),
            (vec![0x01; 21], false),
            (vec![0x00], false),
            (vec![0x80], false),
        ] {
            info.serial_number = Int::new(&bytes).unwrap();
            assert_eq!(info.validate().is_ok(), ok, "{}", hex::encode(&bytes));
        }
        info.serial_number = Int::new(&[1]).unwrap();
        info.version = 2;
        assert!(info.validate().is_err());
    }

    #[test]
    fn ess_cert_id_v2_omits_the_sha256_default() {
        let id = EssCertIdV2 {
            hash_algorithm: sha256_algorithm(),
            cert_hash: OctetString::new(vec![0x11; 32]).unwrap(),
            issuer_serial: None,
        };
        assert_eq!(h(&id), format!("30220420{}", "11".repeat(32)));
        assert_eq!(EssCertIdV2::from_der(&id.to_der().unwrap()).unwrap(), id);

        let id384 = EssCertIdV2 {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: oid::ID_SHA384,
                parameters: None,
            },
            cert_hash: OctetString::new(vec![0x22; 48]).unwrap(),
            issuer_serial: None,
        };
        assert_eq!(
            h(&id384),
            format!("303f300b06096086480165030402020430{}", "22".repeat(48))
        );

        let signing = SigningCertificateV2 {
            certs: vec![id.clone()],
            policies: None,
        };
        assert_eq!(h(&signing), format!("3026302430220420{}", "11".repeat(32)));
        assert_eq!(
            SigningCertificateV2::from_der(&signing.to_der().unwrap()).unwrap(),
            signing
        );
    }

    #[test]
    fn issuer_serial_round_trips() {
        let name = x509_cert::name::Name::default();
        let id = EssCertIdV2 {
            hash_algorithm: sha256_algorithm(),
            cert_hash: OctetString::new(vec![0x11; 32]).unwrap(),
            issuer_serial: Some(IssuerSerial {
                issuer: vec![GeneralName::DirectoryName(name)],
                serial_number: SerialNumber::new(&[0x05]).unwrap(),
            }),
        };
        let der = id.to_der().unwrap();
        // issuerSerial: 30 09 { 30 04 { a4 02 { 30 00 } } 02 01 05 }
        assert!(hex::encode(&der).ends_with("30093004a4023000020105"));
        assert_eq!(EssCertIdV2::from_der(&der).unwrap(), id);
    }
}
