//! Units in types: simulated time is an integer count of nanoseconds ([`Nanos`]), token counts
//! are [`Tokens`], memory sizes are [`Bytes`]. Every conversion between them and plain numbers
//! lives here, so a seconds/milliseconds or bytes/GiB mix-up cannot hide in the core.
//!
//! Time never accumulates in floating point: a step's duration is computed once in `f64`
//! seconds, rounded to whole nanoseconds, and from then on only integers are added.

use serde::{Deserialize, Serialize};
use std::ops::{Add, AddAssign, Sub};

/// Simulated (or measured) time, in nanoseconds since the start of a run.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Nanos(pub u64);

impl Nanos {
    pub const ZERO: Nanos = Nanos(0);
    pub const MAX: Nanos = Nanos(u64::MAX);

    /// Rounds to the nearest nanosecond; negative or NaN inputs give zero, huge ones saturate.
    pub fn from_secs_f64(seconds: f64) -> Nanos {
        Nanos(round_half_away(seconds * 1e9))
    }

    pub fn from_millis_f64(ms: f64) -> Nanos {
        Nanos::from_secs_f64(ms / 1e3)
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    pub fn as_millis_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// This duration times `factor` (≥ 0), to the nearest nanosecond.
    pub fn scaled(self, factor: f64) -> Nanos {
        Nanos::from_secs_f64(self.as_secs_f64() * factor)
    }

    pub fn saturating_sub(self, other: Nanos) -> Nanos {
        Nanos(self.0.saturating_sub(other.0))
    }
}

/// `x.round() as u64` (halves away from zero; negative or NaN give 0, huge values saturate)
/// without the libm call `f64::round` compiles to: the integer part by truncation, then the
/// fraction compared with one half (exact: below 2^53 the subtraction is exact, above it every
/// f64 is an integer).
#[inline]
pub fn round_half_away(x: f64) -> u64 {
    let whole = x as u64;
    whole.saturating_add(u64::from(x - whole as f64 >= 0.5))
}

impl Add for Nanos {
    type Output = Nanos;
    fn add(self, rhs: Nanos) -> Nanos {
        Nanos(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Nanos {
    fn add_assign(&mut self, rhs: Nanos) {
        self.0 = self.0.saturating_add(rhs.0);
    }
}

impl Sub for Nanos {
    type Output = Nanos;
    /// Saturates at zero: a time difference is never negative.
    fn sub(self, rhs: Nanos) -> Nanos {
        self.saturating_sub(rhs)
    }
}

/// A count of tokens (prompt, output or context length).
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Tokens(pub u32);

impl Tokens {
    pub fn get(self) -> u32 {
        self.0
    }
    pub fn as_u64(self) -> u64 {
        self.0 as u64
    }
}

/// A memory size or a count of bytes moved, in bytes. Fractional because quantised weights
/// (4.5 bits per parameter) do not come in whole bytes.
#[derive(Copy, Clone, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct Bytes(pub f64);

impl Bytes {
    pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

    pub fn from_gib(gib: f64) -> Bytes {
        Bytes(gib * Self::GIB)
    }
    pub fn gib(self) -> f64 {
        self.0 / Self::GIB
    }
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Add for Bytes {
    type Output = Bytes;
    fn add(self, rhs: Bytes) -> Bytes {
        Bytes(self.0 + rhs.0)
    }
}

impl Sub for Bytes {
    type Output = Bytes;
    fn sub(self, rhs: Bytes) -> Bytes {
        Bytes(self.0 - rhs.0)
    }
}

/// A transfer rate in bytes per second (memory or link bandwidth).
#[derive(Copy, Clone, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct BytesPerSec(pub f64);

impl BytesPerSec {
    /// Vendor sheets quote decimal gigabytes per second.
    pub fn from_gb_s(gb_s: f64) -> BytesPerSec {
        BytesPerSec(gb_s * 1e9)
    }
    pub fn gb_s(self) -> f64 {
        self.0 / 1e9
    }
}

/// A compute rate in floating-point (or integer) operations per second.
#[derive(Copy, Clone, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
pub struct FlopsPerSec(pub f64);

impl FlopsPerSec {
    pub fn from_tflops(tflops: f64) -> FlopsPerSec {
        FlopsPerSec(tflops * 1e12)
    }
    pub fn tflops(self) -> f64 {
        self.0 / 1e12
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn rounding_without_libm_equals_f64_round(x in proptest::prelude::any::<f64>()) {
            let x = x.abs();
            proptest::prop_assert_eq!(round_half_away(x), x.round() as u64);
        }
    }

    #[test]
    fn rounding_handles_halves_and_the_edges() {
        for (x, want) in [
            (0.0, 0),
            (0.49999999999999994, 0),
            (0.5, 1),
            (2.5, 3),
            (4503599627370495.5, 4503599627370496),
            (9007199254740993.0, 9007199254740992),
            (1e30, u64::MAX),
            (-3.0, 0),
            (f64::NAN, 0),
        ] {
            assert_eq!(round_half_away(x), want, "{x}");
            assert_eq!(round_half_away(x), x.round() as u64, "{x}");
        }
    }

    #[test]
    fn nanos_round_trip_and_saturate() {
        assert_eq!(Nanos::from_secs_f64(1.5), Nanos(1_500_000_000));
        assert_eq!(Nanos::from_millis_f64(0.0004), Nanos(400));
        assert_eq!(Nanos::from_secs_f64(-1.0), Nanos::ZERO);
        assert_eq!(Nanos::from_secs_f64(f64::NAN), Nanos::ZERO);
        assert_eq!(Nanos::from_secs_f64(1e30), Nanos::MAX);
        assert_eq!(Nanos(5) - Nanos(7), Nanos::ZERO);
        assert_eq!(Nanos::MAX + Nanos(1), Nanos::MAX);
    }

    #[test]
    fn bytes_and_rates_convert() {
        assert!((Bytes::from_gib(2.0).gib() - 2.0).abs() < 1e-12);
        assert_eq!(BytesPerSec::from_gb_s(1008.0).0, 1.008e12);
        assert_eq!(FlopsPerSec::from_tflops(165.2).tflops(), 165.2);
    }
}
