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

use std::fmt;

use der::asn1::{Any, BitString, Int, OctetString};
use der::{
    Decode, DecodeValue, Encode, EncodeValue, Enumerated, FixedTag, Header, Length, Reader,
    Sequence, Tag, Writer,
};
use spki::{AlgorithmIdentifierOwned, ObjectIdentifier};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::serial_number::SerialNumber;

use super::PkiError;
use super::oid;

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

/// The status of a time-stamp response (RFC 3161 section 2.4.2, from RFC 2510).
///
/// ```text
/// PKIStatus ::= INTEGER {
///    granted                (0),
///    grantedWithMods        (1),
///    rejection              (2),
///    waiting                (3),
///    revocationWarning      (4),
///    revocationNotification (5) }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Enumerated)]
#[asn1(type = "INTEGER")]
#[repr(u8)]
pub enum PkiStatus {
    /// `granted`: the token is present as requested.
    Granted = 0,
    /// `grantedWithMods`: the token is present, with modifications.
    GrantedWithMods = 1,
    /// `rejection`: no token; `failInfo` says why.
    Rejection = 2,
    /// `waiting`: not used by qtsp.
    Waiting = 3,
    /// `revocationWarning`: a revocation is imminent.
    RevocationWarning = 4,
    /// `revocationNotification`: a revocation has occurred.
    RevocationNotification = 5,
}

/// Why a time-stamp request failed (RFC 3161 section 2.4.2): a named BIT STRING.
///
/// ```text
/// PKIFailureInfo ::= BIT STRING {
///    badAlg               (0),
///    badRequest           (2),
///    badDataFormat        (5),
///    timeNotAvailable    (14),
///    unacceptedPolicy    (15),
///    unacceptedExtension (16),
///    addInfoNotAvailable (17),
///    systemFailure       (25) }
/// ```
///
/// Held as a bit mask in which bit `n` of the ASN.1 value is `1 << n`. DER for a named BIT
/// STRING drops trailing zero bits: `badAlg` alone is `03 02 07 80`, `badDataFormat` alone is
/// `03 02 02 04`.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PkiFailureInfo(u32);

impl PkiFailureInfo {
    /// `badAlg`: unrecognized or unsupported algorithm identifier.
    pub const BAD_ALG: Self = Self(1 << 0);
    /// `badRequest`: transaction not permitted or supported.
    pub const BAD_REQUEST: Self = Self(1 << 2);
    /// `badDataFormat`: the data submitted has the wrong format.
    pub const BAD_DATA_FORMAT: Self = Self(1 << 5);
    /// `timeNotAvailable`: the TSA's time source is not available.
    pub const TIME_NOT_AVAILABLE: Self = Self(1 << 14);
    /// `unacceptedPolicy`: the requested TSA policy is not supported.
    pub const UNACCEPTED_POLICY: Self = Self(1 << 15);
    /// `unacceptedExtension`: the requested extension is not supported.
    pub const UNACCEPTED_EXTENSION: Self = Self(1 << 16);
    /// `addInfoNotAvailable`: the additional information requested is not available.
    pub const ADD_INFO_NOT_AVAILABLE: Self = Self(1 << 17);
    /// `systemFailure`: the request cannot be handled due to system failure.
    pub const SYSTEM_FAILURE: Self = Self(1 << 25);

    const NAMES: [(Self, &'static str); 8] = [
        (Self::BAD_ALG, "badAlg"),
        (Self::BAD_REQUEST, "badRequest"),
        (Self::BAD_DATA_FORMAT, "badDataFormat"),
        (Self::TIME_NOT_AVAILABLE, "timeNotAvailable"),
        (Self::UNACCEPTED_POLICY, "unacceptedPolicy"),
        (Self::UNACCEPTED_EXTENSION, "unacceptedExtension"),
        (Self::ADD_INFO_NOT_AVAILABLE, "addInfoNotAvailable"),
        (Self::SYSTEM_FAILURE, "systemFailure"),
    ];

    /// No bit set.
    #[must_use]
    pub const fn empty() -> Self {
        Self(0)
    }

    /// The mask: bit `n` of the ASN.1 value is `1 << n`.
    #[must_use]
    pub const fn bits(self) -> u32 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether no bit is set.
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The union of two sets of bits.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The value octets of the DER BIT STRING: the unused-bits count, then the bits.
    fn der_value(self) -> Vec<u8> {
        if self.0 == 0 {
            return vec![0];
        }
        // Highest set bit number `n` (bit numbers count from the first octet's MSB).
        let highest = 31 - self.0.leading_zeros() as usize;
        let octets = highest / 8 + 1;
        // `highest % 8` is at most 7, so this cannot underflow; the cast is of a value 0..=7.
        let unused = (7 - highest % 8) as u8;
        let mut value = Vec::with_capacity(octets + 1);
        value.push(unused);
        for i in 0..octets {
            let mut octet = 0u8;
            for b in 0..8 {
                let n = i * 8 + b;
                if n < 32 && self.0 & (1 << n) != 0 {
                    octet |= 0x80 >> b;
                }
            }
            value.push(octet);
        }
        value
    }
}

impl fmt::Debug for PkiFailureInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut set = f.debug_set();
        let mut rest = self.0;
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                set.entry(&format_args!("{name}"));
                rest &= !flag.0;
            }
        }
        if rest != 0 {
            set.entry(&format_args!("{rest:#x}"));
        }
        set.finish()
    }
}

impl FixedTag for PkiFailureInfo {
    const TAG: Tag = Tag::BitString;
}

impl EncodeValue for PkiFailureInfo {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.der_value().len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(&self.der_value())
    }
}

impl<'a> DecodeValue<'a> for PkiFailureInfo {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let bits = BitString::decode_value(reader, header)?;
        let mut mask = 0u32;
        let mut last_set = None;
        for (n, bit) in bits.bits().enumerate() {
            if bit {
                if n >= 32 {
                    return Err(Self::TAG.value_error().into());
                }
                mask |= 1 << n;
                last_set = Some(n);
            }
        }
        // DER (X.690 11.2.2): a named BIT STRING has no trailing zero bits.
        let bit_len = bits.bit_len();
        if bit_len > 0 && last_set != Some(bit_len - 1) {
            return Err(Self::TAG.non_canonical_error().into());
        }
        Ok(Self(mask))
    }
}

/// The status of a response (RFC 3161 section 2.4.2).
///
/// ```text
/// PKIStatusInfo ::= SEQUENCE {
///    status        PKIStatus,
///    statusString  PKIFreeText     OPTIONAL,
///    failInfo      PKIFailureInfo  OPTIONAL  }
///
/// PKIFreeText ::= SEQUENCE SIZE (1..MAX) OF UTF8String
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct PkiStatusInfo {
    /// `status`.
    pub status: PkiStatus,
    /// `statusString`: human-readable texts (must not be empty when present).
    pub status_string: Option<Vec<String>>,
    /// `failInfo`.
    pub fail_info: Option<PkiFailureInfo>,
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

/// A `GeneralizedTime` as RFC 3161 section 2.4.2 wants `genTime`: UTC, `YYYYMMDDHHMMSS[.f+]Z`,
/// the fraction (when present) without trailing zeros, so `.5` never `.50`, and no `.` for
/// whole seconds. Precision is the nanosecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TstTime(OffsetDateTime);

impl TstTime {
    /// The time `t`, kept to the nanosecond; refused outside years 0000-9999.
    pub fn new(t: OffsetDateTime) -> Result<Self, PkiError> {
        let t = t.to_offset(UtcOffset::UTC);
        if !(0..=9999).contains(&t.year()) {
            return Err(PkiError::invalid(
                "genTime",
                format!("year {} is out of range", t.year()),
            ));
        }
        Ok(Self(t))
    }

    /// The instant, in UTC.
    #[must_use]
    pub fn to_offset_date_time(self) -> OffsetDateTime {
        self.0
    }

    /// The whole DER TLV (tag, length, characters).
    #[must_use]
    pub fn to_der_bytes(self) -> Vec<u8> {
        let text = self.text();
        let mut out = Vec::with_capacity(2 + text.len());
        // At most 25 characters: the length is one octet.
        out.push(0x18);
        out.push(text.len() as u8);
        out.extend_from_slice(text.as_bytes());
        out
    }

    /// The characters of the value, e.g. `20260301123456.25Z`.
    fn text(self) -> String {
        let t = self.0;
        let mut s = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        );
        let nanos = t.nanosecond();
        if nanos != 0 {
            let fraction = format!("{nanos:09}");
            s.push('.');
            s.push_str(fraction.trim_end_matches('0'));
        }
        s.push('Z');
        s
    }

    /// Parses exactly `YYYYMMDDHHMMSS[.f+]Z` (1 to 9 fraction digits, the last not `0`).
    fn parse(bytes: &[u8]) -> Option<Self> {
        let (body, rest) = bytes.split_at_checked(14)?;
        if !body.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            body.get(r)?
                .iter()
                .try_fold(0u32, |acc, d| Some(acc * 10 + u32::from(d - b'0')))
        };
        let year = i32::try_from(num(0..4)?).ok()?;
        let month = Month::try_from(u8::try_from(num(4..6)?).ok()?).ok()?;
        let day = u8::try_from(num(6..8)?).ok()?;
        let hour = u8::try_from(num(8..10)?).ok()?;
        let minute = u8::try_from(num(10..12)?).ok()?;
        let second = u8::try_from(num(12..14)?).ok()?;
        let (last, fraction) = rest.split_last()?;
        if *last != b'Z' {
            return None;
        }
        let nanos = match fraction {
            [] => 0,
            [b'.', digits @ ..] => {
                if digits.is_empty()
                    || digits.len() > 9
                    || !digits.iter().all(u8::is_ascii_digit)
                    || digits.last() == Some(&b'0')
                {
                    return None;
                }
                let mut n = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'));
                for _ in digits.len()..9 {
                    n *= 10;
                }
                n
            }
            _ => return None,
        };
        let date = Date::from_calendar_date(year, month, day).ok()?;
        let time = Time::from_hms_nano(hour, minute, second, nanos).ok()?;
        Some(Self(PrimitiveDateTime::new(date, time).assume_utc()))
    }
}

impl FixedTag for TstTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl EncodeValue for TstTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.text().len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(self.text().as_bytes())
    }
}

impl<'a> DecodeValue<'a> for TstTime {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        let len = usize::try_from(header.length())?;
        // Longest form: 14 digits, '.', 9 digits, 'Z'.
        if len > 25 {
            return Err(Self::TAG.length_error().into());
        }
        let mut buf = [0u8; 25];
        let value = buf.get_mut(..len).ok_or_else(|| Self::TAG.length_error())?;
        reader.read_into(value)?;
        Self::parse(value).ok_or_else(|| Self::TAG.value_error().into())
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

/// Identifies the signing certificate by hash (RFC 5035 section 4, RFC 5816).
///
/// ```text
/// ESSCertIDv2 ::= SEQUENCE {
///     hashAlgorithm           AlgorithmIdentifier
///            DEFAULT {algorithm id-sha256},
///     certHash                 Hash,
///     issuerSerial             IssuerSerial OPTIONAL
/// }
///
/// Hash ::= OCTET STRING
/// ```
///
/// `hashAlgorithm` is omitted from the encoding when it is SHA-256 without parameters. (The
/// `der` 0.8 derive cannot put `DEFAULT` on a field that is not `Copy`, hence the hand-written
/// DER impls.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EssCertIdV2 {
    /// `hashAlgorithm`.
    pub hash_algorithm: AlgorithmIdentifierOwned,
    /// `certHash`: the hash of the whole DER certificate.
    pub cert_hash: OctetString,
    /// `issuerSerial`.
    pub issuer_serial: Option<IssuerSerial>,
}

impl EssCertIdV2 {
    /// `hashAlgorithm` as encoded: absent when it is the default.
    fn encoded_hash_algorithm(&self) -> Option<&AlgorithmIdentifierOwned> {
        (self.hash_algorithm != sha256_algorithm()).then_some(&self.hash_algorithm)
    }
}

impl EncodeValue for EssCertIdV2 {
    fn value_len(&self) -> der::Result<Length> {
        let mut len = self.cert_hash.encoded_len()?;
        if let Some(alg) = self.encoded_hash_algorithm() {
            len = (len + alg.encoded_len()?)?;
        }
        if let Some(issuer_serial) = &self.issuer_serial {
            len = (len + issuer_serial.encoded_len()?)?;
        }
        Ok(len)
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        if let Some(alg) = self.encoded_hash_algorithm() {
            alg.encode(writer)?;
        }
        self.cert_hash.encode(writer)?;
        if let Some(issuer_serial) = &self.issuer_serial {
            issuer_serial.encode(writer)?;
        }
        Ok(())
    }
}

impl<'a> DecodeValue<'a> for EssCertIdV2 {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, _header: Header) -> der::Result<Self> {
        // Like the derive: an explicitly encoded default is accepted on decoding.
        let hash_algorithm =
            Option::<AlgorithmIdentifierOwned>::decode(reader)?.unwrap_or_else(sha256_algorithm);
        let cert_hash = OctetString::decode(reader)?;
        let issuer_serial = Option::<IssuerSerial>::decode(reader)?;
        Ok(Self {
            hash_algorithm,
            cert_hash,
            issuer_serial,
        })
    }
}

impl Sequence<'_> for EssCertIdV2 {}

/// The default `hashAlgorithm` of [`EssCertIdV2`]: `id-sha256`, parameters absent.
#[must_use]
pub fn sha256_algorithm() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oid::ID_SHA256,
        parameters: None,
    }
}

/// Issuer and serial number of a certificate (RFC 5035 section 4).
///
/// ```text
/// IssuerSerial ::= SEQUENCE {
///     issuer                   GeneralNames,
///     serialNumber             CertificateSerialNumber
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct IssuerSerial {
    /// `issuer`: for a certificate, one `directoryName`.
    pub issuer: Vec<GeneralName>,
    /// `serialNumber`.
    pub serial_number: SerialNumber,
}

/// The `signingCertificateV2` signed attribute (RFC 5035 section 3, RFC 5816).
///
/// ```text
/// SigningCertificateV2 ::=  SEQUENCE {
///     certs        SEQUENCE OF ESSCertIDv2,
///     policies     SEQUENCE OF PolicyInformation OPTIONAL
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Sequence)]
pub struct SigningCertificateV2 {
    /// `certs`: the signing certificate first.
    pub certs: Vec<EssCertIdV2>,
    /// `policies`.
    pub policies: Option<Vec<PolicyInformation>>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use der::{Decode, Encode};
    use time::macros::datetime;

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
    fn failure_info_is_a_minimal_named_bit_string() {
        let cases = [
            (PkiFailureInfo::empty(), "030100"),
            (PkiFailureInfo::BAD_ALG, "03020780"),
            (PkiFailureInfo::BAD_REQUEST, "03020520"),
            (PkiFailureInfo::BAD_DATA_FORMAT, "03020204"),
            (PkiFailureInfo::TIME_NOT_AVAILABLE, "0303010002"),
            (PkiFailureInfo::UNACCEPTED_POLICY, "0303000001"),
            (PkiFailureInfo::UNACCEPTED_EXTENSION, "030407000080"),
            (PkiFailureInfo::ADD_INFO_NOT_AVAILABLE, "030406000040"),
            (PkiFailureInfo::SYSTEM_FAILURE, "03050600000040"),
            (
                PkiFailureInfo::BAD_ALG.union(PkiFailureInfo::BAD_DATA_FORMAT),
                "03020284",
            ),
        ];
        for (info, expected) in cases {
            assert_eq!(h(&info), expected, "{info:?}");
            let der = hex::decode(expected).unwrap();
            assert_eq!(PkiFailureInfo::from_der(&der).unwrap(), info);
        }
    }

    #[test]
    fn failure_info_refuses_trailing_zero_bits_and_huge_bits() {
        // badAlg with 7 trailing zero bits spelled out (unused bits 0): BER, not DER.
        assert!(PkiFailureInfo::from_der(&hex::decode("03020080").unwrap()).is_err());
        // badAlg padded with a zero octet.
        assert!(PkiFailureInfo::from_der(&hex::decode("0303078000").unwrap()).is_err());
        // Bit 32 set: outside any defined bit.
        assert!(PkiFailureInfo::from_der(&hex::decode("0306070000000080").unwrap()).is_err());
        assert_eq!(
            format!(
                "{:?}",
                PkiFailureInfo::BAD_ALG.union(PkiFailureInfo(1 << 3))
            ),
            "{badAlg, 0x8}"
        );
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
        ];
        for (t, text) in cases {
            let g = TstTime::new(t).unwrap();
            let der = g.to_der().unwrap();
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
