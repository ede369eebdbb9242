//! Writing DER by hand, for the hot paths that splice pre-encoded parts (time-stamp tokens, OCSP
//! responses) instead of building a value tree per request.
//!
//! Only definite lengths, in the shortest form (X.690 clause 10.1): one octet below 128, else
//! `0x80 | n` followed by `n` big-endian octets.

/// Tag octets used by the hand-written encoders (universal class unless noted).
pub mod tag {
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// OBJECT IDENTIFIER.
    pub const OBJECT_IDENTIFIER: u8 = 0x06;
    /// GeneralizedTime.
    pub const GENERALIZED_TIME: u8 = 0x18;
    /// SEQUENCE / SEQUENCE OF (constructed).
    pub const SEQUENCE: u8 = 0x30;
    /// SET / SET OF (constructed).
    pub const SET: u8 = 0x31;
    /// `[0]`, context-specific, constructed.
    pub const CONTEXT_0: u8 = 0xA0;
    /// `[1]`, context-specific, constructed.
    pub const CONTEXT_1: u8 = 0xA1;
}

/// Octets taken by the header of a value whose content is `len` octets long (one tag octet).
#[must_use]
pub const fn header_len(len: usize) -> usize {
    1 + length_len(len)
}

/// Octets taken by the length field for `len`.
#[must_use]
pub const fn length_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        1 + (usize::BITS as usize / 8) - (len.leading_zeros() as usize / 8)
    }
}

/// Octets taken by a whole TLV with `len` octets of content.
#[must_use]
pub const fn tlv_len(len: usize) -> usize {
    header_len(len) + len
}

/// Appends a tag and the length `len`.
pub fn push_header(out: &mut Vec<u8>, tag: u8, len: usize) {
    out.extend_from_slice(HeaderBytes::new(tag, len).as_bytes());
}

/// A tag and length on the stack, e.g. the header of a value whose content is hashed in place.
#[derive(Clone, Copy, Debug)]
pub struct HeaderBytes {
    bytes: [u8; 2 + usize::BITS as usize / 8],
    len: usize,
}

impl HeaderBytes {
    /// The header of a value of `tag` with `len` octets of content.
    #[must_use]
    pub fn new(tag: u8, len: usize) -> Self {
        let mut bytes = [0u8; 2 + usize::BITS as usize / 8];
        let mut written = 0;
        let mut put = |byte: u8| {
            if let Some(slot) = bytes.get_mut(written) {
                *slot = byte;
                written += 1;
            }
        };
        put(tag);
        if len < 0x80 {
            put(len as u8);
        } else {
            let be = len.to_be_bytes();
            let skip = (len.leading_zeros() / 8) as usize;
            let significant = be.get(skip..).unwrap_or(&be);
            put(0x80 | significant.len() as u8);
            for byte in significant {
                put(*byte);
            }
        }
        Self {
            bytes,
            len: written,
        }
    }

    /// The encoded octets.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

/// Appends a whole TLV.
pub fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    push_header(out, tag, content.len());
    out.extend_from_slice(content);
}

/// A new buffer holding the TLV of `content`.
#[must_use]
pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tlv_len(content.len()));
    push_tlv(&mut out, tag, content);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use der::Encode;
    use der::asn1::OctetString;

    #[test]
    fn lengths_match_the_der_crate() {
        for len in [0usize, 1, 127, 128, 255, 256, 65_535, 65_536, 1 << 24] {
            let content = vec![0x5a; len];
            let ours = tlv(tag::OCTET_STRING, &content);
            let theirs = OctetString::new(content).unwrap().to_der().unwrap();
            assert_eq!(ours, theirs, "length {len}");
            assert_eq!(tlv_len(len), ours.len(), "length {len}");
            assert_eq!(header_len(len), ours.len() - len, "length {len}");
        }
    }

    #[test]
    fn long_form_is_minimal() {
        let mut out = Vec::new();
        push_header(&mut out, tag::SEQUENCE, 0x1234);
        assert_eq!(out, [0x30, 0x82, 0x12, 0x34]);
        out.clear();
        push_header(&mut out, tag::SEQUENCE, 0x80);
        assert_eq!(out, [0x30, 0x81, 0x80]);
        // The largest length still fits the header's room on the stack.
        let largest = HeaderBytes::new(tag::SEQUENCE, usize::MAX);
        assert_eq!(largest.as_bytes().len(), header_len(usize::MAX));
        assert_eq!(largest.as_bytes()[..2], [0x30, 0x80 | 8]);
    }
}
