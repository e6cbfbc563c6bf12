//! The guide's health tables (GUIDE §7), its log levels (§2) and alert levels (§9).
//!
//! Boundaries are read literally from the guide: the lowest band is `< 1000`, every other band
//! includes its upper bound (`1000–2000` holds 2000), and the top band is `> 10000`. So 999 is
//! excellent, 1000 and 2000 are good, 2001 is notice, 5000 is warning, 5001 is alert, 10000 is
//! alert and 10001 is danger. The same rule gives "`> 5000`" for every alert in the guide.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The six goroutine states of GUIDE §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GoroutineState {
    Excellent,
    Good,
    Notice,
    Warning,
    Alert,
    Danger,
}

impl GoroutineState {
    const ALL: [GoroutineState; 6] = [
        GoroutineState::Excellent,
        GoroutineState::Good,
        GoroutineState::Notice,
        GoroutineState::Warning,
        GoroutineState::Alert,
        GoroutineState::Danger,
    ];

    pub fn word(self) -> &'static str {
        match self {
            GoroutineState::Excellent => "excellent",
            GoroutineState::Good => "good",
            GoroutineState::Notice => "notice",
            GoroutineState::Warning => "warning",
            GoroutineState::Alert => "alert",
            GoroutineState::Danger => "danger",
        }
    }

    /// The guide's emoji for the state.
    pub fn emoji(self) -> &'static str {
        match self {
            GoroutineState::Excellent | GoroutineState::Good => "🟢",
            GoroutineState::Notice | GoroutineState::Warning => "🟡",
            GoroutineState::Alert => "🟠",
            GoroutineState::Danger => "🔴",
        }
    }

    /// What the guide says to do.
    pub fn action(self) -> &'static str {
        match self {
            GoroutineState::Excellent | GoroutineState::Good => "none",
            GoroutineState::Notice => "keep watching",
            GoroutineState::Warning => "check logs",
            GoroutineState::Alert => "investigate",
            GoroutineState::Danger => "act now: probable leak",
        }
    }
}

impl fmt::Display for GoroutineState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// The five memory states of GUIDE §7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemoryState {
    Normal,
    Good,
    Notice,
    Warning,
    Danger,
}

impl MemoryState {
    const ALL: [MemoryState; 5] = [
        MemoryState::Normal,
        MemoryState::Good,
        MemoryState::Notice,
        MemoryState::Warning,
        MemoryState::Danger,
    ];

    pub fn word(self) -> &'static str {
        match self {
            MemoryState::Normal => "normal",
            MemoryState::Good => "good",
            MemoryState::Notice => "notice",
            MemoryState::Warning => "warning",
            MemoryState::Danger => "danger",
        }
    }

    pub fn emoji(self) -> &'static str {
        match self {
            MemoryState::Normal | MemoryState::Good => "🟢",
            MemoryState::Notice => "🟡",
            MemoryState::Warning => "🟠",
            MemoryState::Danger => "🔴",
        }
    }

    pub fn action(self) -> &'static str {
        match self {
            MemoryState::Normal | MemoryState::Good => "none",
            MemoryState::Notice => "keep watching",
            MemoryState::Warning => "check for a leak",
            MemoryState::Danger => "consider a restart",
        }
    }
}

impl fmt::Display for MemoryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// Band index for `value` under ascending `bounds`: `< bounds[0]` is band 0, then each band
/// includes its upper bound, and anything above the last bound is the top band.
fn band(value: u64, bounds: &[u64]) -> usize {
    match bounds.first() {
        Some(&first) if value < first => 0,
        _ => bounds
            .iter()
            .skip(1)
            .position(|&upper| value <= upper)
            .map_or(bounds.len(), |i| i + 1),
    }
}

/// Goroutine ladder: the lower bounds of good, notice, warning, alert and the upper bound of
/// alert (above which is danger). Default: the guide's 1000, 2000, 3000, 5000, 10000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct GoroutineLadder(pub [u64; 5]);

impl Default for GoroutineLadder {
    fn default() -> Self {
        GoroutineLadder([1000, 2000, 3000, 5000, 10000])
    }
}

impl GoroutineLadder {
    pub fn state(&self, goroutines: u64) -> GoroutineState {
        GoroutineState::ALL[band(goroutines, &self.0)]
    }
}

/// Memory ladder in bytes. Default: the guide's 1, 2, 3 and 4 GB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct MemoryLadder(pub [u64; 4]);

impl Default for MemoryLadder {
    fn default() -> Self {
        const GB: u64 = 1 << 30;
        MemoryLadder([GB, 2 * GB, 3 * GB, 4 * GB])
    }
}

impl MemoryLadder {
    pub fn state(&self, bytes: u64) -> MemoryState {
        MemoryState::ALL[band(bytes, &self.0)]
    }
}

/// The severity of the guide's periodic log line (GUIDE §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogSeverity {
    /// Below the warning mark: logged only at debug level.
    Debug,
    Warn,
    Error,
}

/// GUIDE §2: `< 2000` normal (debug only), `2000–5000` warning, `> 5000` error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LogThresholds {
    pub warn_above: u64,
    pub error_above: u64,
}

impl Default for LogThresholds {
    fn default() -> Self {
        LogThresholds {
            warn_above: 2000,
            error_above: 5000,
        }
    }
}

impl LogThresholds {
    /// The guide's line and its severity for a count.
    pub fn line(&self, goroutines: u64) -> (LogSeverity, String) {
        if goroutines > self.error_above {
            (
                LogSeverity::Error,
                format!("⚠️ High goroutine count detected: {goroutines}"),
            )
        } else if goroutines > self.warn_above {
            (
                LogSeverity::Warn,
                format!("⚠️ Goroutine count elevated: {goroutines}"),
            )
        } else {
            (LogSeverity::Debug, format!("Goroutine count: {goroutines}"))
        }
    }
}

/// GUIDE §9 alert levels: L1 warning `> 2000`, L2 urgent `> 5000`, L3 critical `> 10000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertLevel {
    None,
    Warning,
    Urgent,
    Critical,
}

/// Thresholds of the three alert levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AlertLevels {
    pub warning: u64,
    pub urgent: u64,
    pub critical: u64,
}

impl Default for AlertLevels {
    fn default() -> Self {
        AlertLevels {
            warning: 2000,
            urgent: 5000,
            critical: 10000,
        }
    }
}

impl AlertLevels {
    pub fn level(&self, goroutines: u64) -> AlertLevel {
        if goroutines > self.critical {
            AlertLevel::Critical
        } else if goroutines > self.urgent {
            AlertLevel::Urgent
        } else if goroutines > self.warning {
            AlertLevel::Warning
        } else {
            AlertLevel::None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goroutine_boundaries_follow_the_guide() {
        let l = GoroutineLadder::default();
        let cases = [
            (0, GoroutineState::Excellent),
            (999, GoroutineState::Excellent),
            (1000, GoroutineState::Good),
            (2000, GoroutineState::Good),
            (2001, GoroutineState::Notice),
            (3000, GoroutineState::Notice),
            (3001, GoroutineState::Warning),
            (5000, GoroutineState::Warning),
            (5001, GoroutineState::Alert),
            (10000, GoroutineState::Alert),
            (10001, GoroutineState::Danger),
            (169_000, GoroutineState::Danger),
        ];
        for (n, want) in cases {
            assert_eq!(l.state(n), want, "{n}");
        }
    }

    #[test]
    fn memory_boundaries_follow_the_guide() {
        let l = MemoryLadder::default();
        let gb = 1u64 << 30;
        assert_eq!(l.state(gb - 1), MemoryState::Normal);
        assert_eq!(l.state(gb), MemoryState::Good);
        assert_eq!(l.state(2 * gb), MemoryState::Good);
        assert_eq!(l.state(2 * gb + 1), MemoryState::Notice);
        assert_eq!(l.state(4 * gb), MemoryState::Warning);
        assert_eq!(l.state(4 * gb + 1), MemoryState::Danger);
    }

    #[test]
    fn log_lines_match_the_guide() {
        let t = LogThresholds::default();
        assert_eq!(
            t.line(856),
            (LogSeverity::Debug, "Goroutine count: 856".into())
        );
        assert_eq!(t.line(2000).0, LogSeverity::Debug);
        assert_eq!(
            t.line(2156),
            (
                LogSeverity::Warn,
                "⚠️ Goroutine count elevated: 2156".into()
            )
        );
        assert_eq!(t.line(5000).0, LogSeverity::Warn);
        assert_eq!(
            t.line(5234),
            (
                LogSeverity::Error,
                "⚠️ High goroutine count detected: 5234".into()
            )
        );
    }

    #[test]
    fn alert_levels() {
        let a = AlertLevels::default();
        assert_eq!(a.level(2000), AlertLevel::None);
        assert_eq!(a.level(2001), AlertLevel::Warning);
        assert_eq!(a.level(5001), AlertLevel::Urgent);
        assert_eq!(a.level(10001), AlertLevel::Critical);
    }
}
