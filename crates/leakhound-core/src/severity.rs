//! How bad an alert is: the one severity ladder of rules, notifier messages, stored alert events
//! and exports — the guide's L1 warning, L2 urgent, L3 critical (GUIDE §9), and `info` for
//! messages that are not alerts (test messages, notices of actions).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A severity, worst last. Serialized (JSON, TOML, stored rows, Prometheus labels) as its
/// [`name`](Severity::name): `info`, `warning`, `urgent`, `critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Not an alert: a test message or a notice.
    Info,
    /// L1: notify, keep watching.
    Warning,
    /// L2: check now, prepare a restart.
    Urgent,
    /// L3: act now.
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Info,
        Severity::Warning,
        Severity::Urgent,
        Severity::Critical,
    ];

    /// The guide's three alert levels: what a rule's `severity` and an action's `on` may name.
    pub const ALERT_LEVELS: [Severity; 3] =
        [Severity::Warning, Severity::Urgent, Severity::Critical];

    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Urgent => "urgent",
            Severity::Critical => "critical",
        }
    }

    /// One of the three [alert levels](Severity::ALERT_LEVELS) by name (`info` is none).
    pub fn parse_alert_level(text: &str) -> Option<Severity> {
        Severity::ALERT_LEVELS
            .into_iter()
            .find(|s| s.name() == text)
    }

    /// The colour of the guide's tables (GUIDE §7).
    pub fn emoji(self) -> &'static str {
        match self {
            Severity::Info => "🔵",
            Severity::Warning => "🟡",
            Severity::Urgent => "🟠",
            Severity::Critical => "🔴",
        }
    }

    /// The Chinese word operators use (GUIDE §9: 警告 / 紧急 / 严重).
    pub fn chinese(self) -> &'static str {
        match self {
            Severity::Info => "通知",
            Severity::Warning => "警告",
            Severity::Urgent => "紧急",
            Severity::Critical => "严重",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_only_alert_levels_parse() {
        for s in Severity::ALL {
            let json = serde_json::to_string(&s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.name()));
            assert_eq!(serde_json::from_str::<Severity>(&json).unwrap(), s);
            assert_eq!(s.to_string(), s.name());
        }
        assert_eq!(
            Severity::parse_alert_level("urgent"),
            Some(Severity::Urgent)
        );
        assert_eq!(Severity::parse_alert_level("info"), None);
        assert!(Severity::Info < Severity::Warning && Severity::Urgent < Severity::Critical);
    }
}
