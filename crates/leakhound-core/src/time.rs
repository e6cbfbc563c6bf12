//! Time as leakhound stores it: whole milliseconds since the Unix epoch ([`UnixMs`]), and
//! durations as whole milliseconds ([`duration_ms`]). Nothing here reads a clock: the agent's
//! clock hands out `UnixMs`, the store and the wire keep plain `i64` milliseconds.
//!
//! ```
//! use leakhound_core::time::{duration_ms, UnixMs};
//! use std::time::Duration;
//!
//! let at = UnixMs(1_700_000_000_000);
//! let later = at + Duration::from_secs(90);
//! assert_eq!(later.as_i64() - at.as_i64(), duration_ms(Duration::from_secs(90)));
//! assert_eq!(later.since(at), Duration::from_secs(90));
//! assert_eq!(at.since(later), Duration::ZERO);
//! ```

use serde::{Deserialize, Serialize};
use std::ops::{Add, Sub};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `d` in whole milliseconds, saturating at `i64::MAX` (a config's "forever").
pub fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A point in time: milliseconds since the Unix epoch (a sample's `ts_ms`, a row's `at_ms`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct UnixMs(pub i64);

impl UnixMs {
    /// The plain milliseconds, as the store and the wire keep them.
    pub fn as_i64(self) -> i64 {
        self.0
    }

    /// How long after `earlier` this is (zero when `earlier` is later).
    pub fn since(self, earlier: UnixMs) -> Duration {
        Duration::from_millis(u64::try_from(self.0.saturating_sub(earlier.0)).unwrap_or(0))
    }
}

impl From<SystemTime> for UnixMs {
    /// A time before the epoch is the epoch.
    fn from(t: SystemTime) -> UnixMs {
        UnixMs(t.duration_since(UNIX_EPOCH).map_or(0, duration_ms))
    }
}

impl From<UnixMs> for i64 {
    fn from(t: UnixMs) -> i64 {
        t.0
    }
}

impl Add<Duration> for UnixMs {
    type Output = UnixMs;
    fn add(self, d: Duration) -> UnixMs {
        UnixMs(self.0.saturating_add(duration_ms(d)))
    }
}

impl Sub<Duration> for UnixMs {
    type Output = UnixMs;
    fn sub(self, d: Duration) -> UnixMs {
        UnixMs(self.0.saturating_sub(duration_ms(d)))
    }
}

impl std::fmt::Display for UnixMs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn conversions_saturate_instead_of_wrapping() {
        assert_eq!(duration_ms(Duration::MAX), i64::MAX);
        assert_eq!(UnixMs(i64::MAX) + Duration::from_secs(1), UnixMs(i64::MAX));
        assert_eq!(UnixMs(i64::MIN) - Duration::from_secs(1), UnixMs(i64::MIN));
        assert_eq!(UnixMs::from(UNIX_EPOCH - Duration::from_secs(5)), UnixMs(0));
        let t = UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
        assert_eq!(i64::from(UnixMs::from(t)), 1_700_000_000_123);
        assert_eq!(serde_json::to_string(&UnixMs(42)).unwrap(), "42");
    }
}
