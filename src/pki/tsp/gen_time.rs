//! `genTime`: a `GeneralizedTime` with the fractional seconds RFC 3161 allows, which
//! `der::asn1::GeneralizedTime` cannot carry.

use der::{DecodeValue, EncodeValue, FixedTag, Header, Length, Reader, Tag, Writer};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::pki::PkiError;

/// A `GeneralizedTime` as RFC 3161 section 2.4.2 wants `genTime`: UTC, `YYYYMMDDHHMMSS[.f+]Z`,
/// the fraction (when present) without trailing zeros, so `.5` never `.50`, and no `.` for
/// whole seconds. Precision is the nanosecond.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TstTime(OffsetDateTime);

/// Longest value: 14 digits, `.`, 9 digits, `Z`.
const TEXT_MAX: usize = 25;
/// Longest TLV: tag, one length octet, the value.
const TLV_MAX: usize = 2 + TEXT_MAX;

/// The characters of a [`TstTime`], on the stack.
struct TimeText {
    bytes: [u8; TEXT_MAX],
    len: usize,
}

impl TimeText {
    fn push(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// `value` in exactly `width` decimal digits, zero-padded (higher digits dropped).
    fn push_digits(&mut self, mut value: u32, width: usize) {
        let start = self.len;
        for _ in 0..width {
            self.push(b'0');
        }
        for slot in self
            .bytes
            .get_mut(start..self.len)
            .into_iter()
            .flatten()
            .rev()
        {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// The DER TLV of a [`TstTime`], on the stack (see [`TstTime::to_tlv`]).
#[derive(Clone, Copy, Debug)]
pub struct TstTimeTlv {
    bytes: [u8; TLV_MAX],
    len: usize,
}

impl TstTimeTlv {
    /// The encoded bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

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
        self.to_tlv().as_bytes().to_vec()
    }

    /// The whole DER TLV (tag, length, characters), without allocating: a token is built per
    /// request.
    #[must_use]
    pub fn to_tlv(self) -> TstTimeTlv {
        let text = self.text();
        let value = text.as_bytes();
        let mut bytes = [0; TLV_MAX];
        // At most 25 characters: the length is one octet.
        let header = [0x18, value.len() as u8];
        for (slot, byte) in bytes.iter_mut().zip(header.iter().chain(value)) {
            *slot = *byte;
        }
        TstTimeTlv {
            bytes,
            len: header.len() + value.len(),
        }
    }

    /// The characters of the value, e.g. `20260301123456.25Z`.
    fn text(self) -> TimeText {
        let t = self.0;
        let mut text = TimeText {
            bytes: [0; TEXT_MAX],
            len: 0,
        };
        // `new` keeps the year within 0000-9999; the other fields are in range by type.
        text.push_digits(u32::try_from(t.year()).unwrap_or(0), 4);
        text.push_digits(u32::from(u8::from(t.month())), 2);
        text.push_digits(u32::from(t.day()), 2);
        text.push_digits(u32::from(t.hour()), 2);
        text.push_digits(u32::from(t.minute()), 2);
        text.push_digits(u32::from(t.second()), 2);
        let mut nanos = t.nanosecond();
        if nanos != 0 {
            let mut digits = 9;
            while nanos.is_multiple_of(10) {
                nanos /= 10;
                digits -= 1;
            }
            text.push(b'.');
            text.push_digits(nanos, digits);
        }
        text.push(b'Z');
        text
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
        Length::try_from(self.text().len)
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
