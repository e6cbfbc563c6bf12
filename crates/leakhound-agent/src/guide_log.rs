//! The guide's log lines (GUIDE §2) per target on its cadence, target up/down transitions, and
//! GUIDE §8 `continuous_monitor.sh` lines appended to a file.

use crate::agent::AgentError;
use leakhound_core::config::{AgentConfig, Levels};
use leakhound_core::ladder::LogSeverity;
use leakhound_core::units::mb;
use leakhound_core::Sample;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;

/// `2025-10-27 10:30:00` in local time, the guide's timestamp format.
pub use leakhound_notify::template::local_time;

#[derive(Debug, Default)]
struct TargetLog {
    last_logged_ms: Option<i64>,
    last_continuous_ms: Option<i64>,
    down: Option<bool>,
}

/// Writes the guide's lines as samples arrive. Cadence is measured on sample timestamps.
#[derive(Debug)]
pub struct GuideLog {
    levels: Levels,
    log_interval_ms: i64,
    continuous: Option<File>,
    continuous_interval_ms: i64,
    name_targets: bool,
    state: HashMap<String, TargetLog>,
}

impl GuideLog {
    pub fn new(
        agent: &AgentConfig,
        levels: &Levels,
        targets: usize,
    ) -> Result<GuideLog, AgentError> {
        let continuous = match &agent.continuous_log {
            Some(path) => Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| AgentError::ContinuousLog {
                        path: path.display().to_string(),
                        detail: e.to_string(),
                    })?,
            ),
            None => None,
        };
        Ok(GuideLog {
            levels: levels.clone(),
            log_interval_ms: leakhound_core::time::duration_ms(agent.log_interval),
            continuous,
            continuous_interval_ms: leakhound_core::time::duration_ms(
                agent.continuous_log_interval,
            ),
            name_targets: targets > 1,
            state: HashMap::new(),
        })
    }

    pub fn observe(&mut self, sample: &Sample) {
        let state = self.state.entry(sample.target.clone()).or_default();
        let target = sample.target.as_str();
        if !sample.up {
            if state.down != Some(true) {
                tracing::warn!(
                    target_name = target,
                    "target is down: {}",
                    sample.error.as_deref().unwrap_or("no answer")
                );
            }
            state.down = Some(true);
            return;
        }
        if state.down == Some(true) {
            tracing::info!(target_name = target, "target is back up");
        }
        state.down = Some(false);
        let Some(goroutines) = sample.metrics.goroutines else {
            return;
        };
        let due = |last: Option<i64>, every: i64| last.is_none_or(|t| sample.ts_ms - t >= every);
        if due(state.last_logged_ms, self.log_interval_ms) {
            state.last_logged_ms = Some(sample.ts_ms);
            let (severity, line) = self.levels.log.line(goroutines);
            match severity {
                LogSeverity::Debug => tracing::debug!(target_name = target, "{line}"),
                LogSeverity::Warn => tracing::warn!(target_name = target, "{line}"),
                LogSeverity::Error => tracing::error!(target_name = target, "{line}"),
            }
        }
        if let Some(file) = &mut self.continuous {
            if due(state.last_continuous_ms, self.continuous_interval_ms) {
                state.last_continuous_ms = Some(sample.ts_ms);
                let time = local_time(sample.ts_ms);
                let who = if self.name_targets {
                    format!("{target} ")
                } else {
                    String::new()
                };
                let memory = sample
                    .metrics
                    .memory_used_bytes()
                    .map_or_else(|| "?".to_string(), |b| mb(b).to_string());
                let mut text =
                    format!("[{time}] {who}Goroutines: {goroutines}, Memory: {memory}MB\n");
                let limit = self.levels.alert.urgent;
                if goroutines > limit {
                    text.push_str(&format!(
                        "[{time}] {who}ALERT: goroutine count {goroutines} is above {limit}\n"
                    ));
                }
                if let Err(e) = file.write_all(text.as_bytes()) {
                    tracing::error!("cannot append to the continuous log: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakhound_core::Metrics;
    use std::time::Duration;

    fn sample(ts: i64, g: u64) -> Sample {
        Sample {
            target: "one-api".into(),
            ts_ms: ts,
            up: true,
            error: None,
            latency_ms: 1.0,
            source: "health".into(),
            metrics: Metrics {
                goroutines: Some(g),
                sys_bytes: Some(512 << 20),
                ..Metrics::default()
            },
        }
    }

    #[test]
    fn continuous_monitor_lines_on_their_cadence() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oneapi-goroutines.log");
        let agent = AgentConfig {
            continuous_log: Some(path.clone()),
            continuous_log_interval: Duration::from_secs(60),
            ..AgentConfig::default()
        };
        let mut log = GuideLog::new(&agent, &Levels::default(), 1).unwrap();
        log.observe(&sample(0, 856));
        log.observe(&sample(30_000, 900)); // not due yet
        log.observe(&sample(60_000, 5234));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].ends_with("] Goroutines: 856, Memory: 512MB"),
            "{}",
            lines[0]
        );
        assert!(lines[1].ends_with("] Goroutines: 5234, Memory: 512MB"));
        assert!(lines[2].contains("ALERT: goroutine count 5234 is above 5000"));
        assert!(lines[0].starts_with('[') && lines[0].as_bytes()[20] == b']');
    }

    #[test]
    fn unwritable_continuous_log_is_a_clear_error() {
        let agent = AgentConfig {
            continuous_log: Some("/nonexistent-dir/x.log".into()),
            ..AgentConfig::default()
        };
        let err = GuideLog::new(&agent, &Levels::default(), 1).unwrap_err();
        assert!(
            err.to_string().contains("'/nonexistent-dir/x.log'"),
            "{err}"
        );
    }
}
