//! The kernel's clock discipline status, read with `adjtimex(2)`.
//!
//! This is the one module of the workspace allowed to use `unsafe`: the C call has no safe
//! wrapper in `std`, `nix` or another maintained crate. The call is a read-only query (`modes`
//! is zero) on a zero-initialised `struct timex`; nothing else here is unsafe.
#![allow(unsafe_code)]

use std::io;
use std::time::Duration;

/// `STA_UNSYNC` (`<sys/timex.h>`): the kernel considers the clock unsynchronized.
pub const STA_UNSYNC: i32 = 0x0040;
/// `TIME_ERROR`: the return value of `adjtimex` when the clock is not synchronized.
pub const TIME_ERROR: i32 = 5;

/// What `adjtimex` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KernelClockStatus {
    /// The clock state returned by the call (`TIME_OK` 0 ... `TIME_ERROR` 5).
    pub state: i32,
    /// The `status` bits (`STA_PLL`, `STA_UNSYNC`...).
    pub status: i32,
    /// `maxerror`: the maximum error the kernel assumes, in microseconds.
    pub max_error_us: i64,
    /// `esterror`: the estimated error, in microseconds.
    pub est_error_us: i64,
}

impl KernelClockStatus {
    /// Synchronized as far as the kernel knows: `STA_UNSYNC` clear and the state not
    /// `TIME_ERROR`.
    #[must_use]
    pub fn synchronized(&self) -> bool {
        self.status & STA_UNSYNC == 0 && self.state != TIME_ERROR
    }

    /// `maxerror` as a duration (negative values read as zero).
    #[must_use]
    pub fn max_error(&self) -> Duration {
        Duration::from_micros(u64::try_from(self.max_error_us).unwrap_or(0))
    }
}

/// Reads the kernel's clock status without changing anything.
pub fn read() -> io::Result<KernelClockStatus> {
    // SAFETY: `timex` holds only integers (and a `timeval` of integers), so all-zero bytes are a
    // valid value; zero `modes` makes the call a pure read. The pointer is to a live local.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    // SAFETY: `tx` is a valid, exclusively borrowed `timex` for the duration of the call.
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state == -1 {
        return Err(io::Error::last_os_error());
    }
    // `c_long` is 32 bits on some targets: the conversions are not useless there.
    #[allow(clippy::useless_conversion)]
    Ok(KernelClockStatus {
        state,
        status: tx.status,
        max_error_us: i64::from(tx.maxerror),
        est_error_us: i64::from(tx.esterror),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reading_the_kernel_clock_works_and_is_consistent() {
        let status = read().unwrap();
        assert!((0..=5).contains(&status.state), "{status:?}");
        if status.state == TIME_ERROR {
            assert!(!status.synchronized());
        }
        if status.status & STA_UNSYNC != 0 {
            assert!(!status.synchronized());
        }
    }

    #[test]
    fn unsync_bit_or_error_state_means_unsynchronized() {
        let mut s = KernelClockStatus {
            state: 0,
            status: 0x0001,
            max_error_us: 10,
            est_error_us: 1,
        };
        assert!(s.synchronized());
        s.status |= STA_UNSYNC;
        assert!(!s.synchronized());
        s.status = 0x0001;
        s.state = TIME_ERROR;
        assert!(!s.synchronized());
        assert_eq!(s.max_error(), Duration::from_micros(10));
    }
}
