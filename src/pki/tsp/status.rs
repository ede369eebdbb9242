//! The status of a time-stamp response: `PKIStatus`, `PKIFailureInfo` (a named BIT STRING that
//! encodes itself, see the notes of `pki::tsp`) and `PKIStatusInfo`.

use std::fmt;

use der::asn1::BitString;
use der::{
    DecodeValue, EncodeValue, Enumerated, FixedTag, Header, Length, Reader, Sequence, Tag, Writer,
};

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use der::{Decode, Encode};

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
            assert_eq!(hex::encode(info.to_der().unwrap()), expected, "{info:?}");
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
}
