//! Time-stamp serial numbers, unique across nodes without any coordination.
//!
//! A serial is 16 octets: an 8-octet instance prefix drawn from the HSM's random generator when
//! the TSA starts, then a 64-bit counter. Two processes share a prefix with probability 2^-62
//! per pair; the database's primary key on the serial catches even that (the batch is refused
//! and its requests answered with systemFailure, never a duplicate token). The first octet is
//! `01xxxxxx`, so the INTEGER is positive, needs no leading zero and is always 16 octets
//! (128 bits, within RFC 3161's 160).

use std::sync::atomic::{AtomicU64, Ordering};

/// Octets of a serial number.
pub const SERIAL_LEN: usize = 16;

/// Hands out serial numbers.
#[derive(Debug)]
pub struct SerialGenerator {
    prefix: [u8; 8],
    counter: AtomicU64,
}

impl SerialGenerator {
    /// A generator whose prefix comes from `random` (8 random octets, e.g. from the HSM).
    #[must_use]
    pub fn new(random: [u8; 8]) -> Self {
        let mut prefix = random;
        prefix[0] = (prefix[0] & 0x3f) | 0x40;
        Self {
            prefix,
            counter: AtomicU64::new(0),
        }
    }

    /// The next serial, as the content octets of a positive DER INTEGER.
    pub fn next_serial(&self) -> [u8; SERIAL_LEN] {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut serial = [0u8; SERIAL_LEN];
        let (prefix, counter) = serial.split_at_mut(8);
        prefix.copy_from_slice(&self.prefix);
        counter.copy_from_slice(&n.to_be_bytes());
        serial
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn serials_are_positive_minimal_and_distinct() {
        for first in [0x00, 0x7f, 0x80, 0xff] {
            let generator = SerialGenerator::new([first, 1, 2, 3, 4, 5, 6, 7]);
            let mut seen = HashSet::new();
            for _ in 0..1000 {
                let s = generator.next_serial();
                assert_eq!(s[0] & 0xc0, 0x40, "positive and minimal: {s:02x?}");
                assert!(seen.insert(s));
            }
        }
    }

    #[test]
    fn concurrent_callers_never_share_a_serial() {
        let generator = std::sync::Arc::new(SerialGenerator::new([9; 8]));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let g = generator.clone();
                std::thread::spawn(move || (0..10_000).map(|_| g.next_serial()).collect::<Vec<_>>())
            })
            .collect();
        let mut all = HashSet::new();
        for h in handles {
            for s in h.join().unwrap() {
                assert!(all.insert(s));
            }
        }
        assert_eq!(all.len(), 40_000);
    }
}
