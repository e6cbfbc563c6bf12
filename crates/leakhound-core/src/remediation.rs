//! The remediation policy of one action on one target, as a pure state machine: `for`,
//! cooldown, the storm guard (at most `max_runs` within `window`, then "needs a human", as
//! monit's "if N restarts within M cycles then unmonitor"), the kill switch, and the recovery
//! watch with its deadline. No IO and no clock: every call gets `now` (Unix ms), so tests drive
//! time by hand.
//!
//! ```
//! use leakhound_core::remediation::{Decision, Policy, PolicyState};
//!
//! let policy = Policy { hold_ms: 60_000, cooldown_ms: 900_000, max_runs: 3, window_ms: 3_600_000,
//!                       recover_below: 4500, recover_within_ms: 300_000 };
//! let mut state = PolicyState::new(policy, &[]);
//! // L3 fired at t=0: nothing before `for` has passed…
//! assert_eq!(state.observe(30_000, Some(0), Some(12_000), true), None);
//! // …then run (the caller saves the evidence first).
//! assert_eq!(state.observe(60_000, Some(0), Some(12_500), true), Some(Decision::Run));
//! state.finished(61_000, true);
//! assert_eq!(state.observe(70_000, None, Some(8), true), Some(Decision::Recovered { after: 8 }));
//! ```

use serde::Serialize;

/// The numbers of one action's policy, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Policy {
    /// The trigger must have fired this long.
    pub hold_ms: i64,
    /// Least time between two runs' starts.
    pub cooldown_ms: i64,
    /// Storm guard: at most this many runs…
    pub max_runs: u32,
    /// …within this long.
    pub window_ms: i64,
    /// Recovered: goroutines under this…
    pub recover_below: u64,
    /// …within this long after the run ended.
    pub recover_within_ms: i64,
}

impl Policy {
    /// The policy of a configured action.
    pub fn from_config(a: &crate::config::ActionConfig) -> Policy {
        let ms = crate::time::duration_ms;
        Policy {
            hold_ms: ms(a.hold),
            cooldown_ms: ms(a.cooldown),
            max_runs: a.max_runs,
            window_ms: ms(a.window),
            recover_below: a.recover_below,
            recover_within_ms: ms(a.recover_within),
        }
    }
}

/// Where the action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for the trigger (and its `for`, and the cooldown).
    Idle,
    /// A run is in flight (evidence capture included).
    Running { started_ms: i64 },
    /// The run ended; waiting for goroutines to fall under the mark until `deadline_ms`.
    Watching { deadline_ms: i64 },
    /// The storm guard tripped: no more runs until a human looks (the agent restarts, or the
    /// window passes without the trigger).
    NeedsHuman { since_ms: i64 },
}

/// What the caller must do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// Save the evidence, then run the action, then call [`PolicyState::finished`].
    Run,
    /// Goroutines fell under the mark in time.
    Recovered { after: u64 },
    /// The deadline passed: escalate.
    NotRecovered { after: Option<u64> },
    /// The storm guard tripped (announced once): stop acting, escalate.
    NeedsHuman { runs: u32 },
}

/// One action's state on one target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyState {
    policy: Policy,
    phase: Phase,
    /// Start times of runs (newest last), for the cooldown and the storm guard.
    runs: Vec<i64>,
}

impl PolicyState {
    /// A fresh state; `history` holds the start times of earlier runs (from the store), so a
    /// restarted agent keeps its cooldown and storm guard.
    pub fn new(policy: Policy, history: &[i64]) -> PolicyState {
        let mut runs = history.to_vec();
        runs.sort_unstable();
        PolicyState {
            policy,
            phase: Phase::Idle,
            runs,
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Runs started within the window ending at `now`.
    pub fn runs_in_window(&self, now: i64) -> u32 {
        let from = now.saturating_sub(self.policy.window_ms);
        u32::try_from(self.runs.iter().filter(|&&t| t > from).count()).unwrap_or(u32::MAX)
    }

    /// A new reading of the target. `trigger_since`: since when the trigger has been firing
    /// (`None`: it is not); `enabled`: the kill switch.
    pub fn observe(
        &mut self,
        now: i64,
        trigger_since: Option<i64>,
        goroutines: Option<u64>,
        enabled: bool,
    ) -> Option<Decision> {
        match self.phase {
            Phase::Running { .. } => None,
            Phase::Watching { deadline_ms } => match goroutines {
                Some(g) if g < self.policy.recover_below => {
                    self.phase = Phase::Idle;
                    Some(Decision::Recovered { after: g })
                }
                _ if now >= deadline_ms => {
                    self.phase = Phase::Idle;
                    Some(Decision::NotRecovered { after: goroutines })
                }
                _ => None,
            },
            Phase::NeedsHuman { since_ms } => {
                // Sticky while the storm goes on; a whole quiet window (no trigger, no run)
                // ends it.
                let last = self.runs.last().copied().unwrap_or(since_ms).max(since_ms);
                if trigger_since.is_none() && now - last >= self.policy.window_ms {
                    self.phase = Phase::Idle;
                }
                None
            }
            Phase::Idle => {
                let since = trigger_since?;
                if !enabled || now - since < self.policy.hold_ms {
                    return None;
                }
                if let Some(&last) = self.runs.last() {
                    if now - last < self.policy.cooldown_ms {
                        return None;
                    }
                }
                let runs = self.runs_in_window(now);
                if runs >= self.policy.max_runs {
                    self.phase = Phase::NeedsHuman { since_ms: now };
                    return Some(Decision::NeedsHuman { runs });
                }
                self.runs.push(now);
                let from = now.saturating_sub(self.policy.window_ms);
                self.runs.retain(|&t| t > from);
                self.phase = Phase::Running { started_ms: now };
                Some(Decision::Run)
            }
        }
    }

    /// The run ended. `watch`: it ran and should have fixed things (false for a failed run,
    /// which the caller escalates at once, and for a dry run).
    pub fn finished(&mut self, now: i64, watch: bool) {
        if let Phase::Running { .. } = self.phase {
            self.phase = if watch {
                Phase::Watching {
                    deadline_ms: now.saturating_add(self.policy.recover_within_ms),
                }
            } else {
                Phase::Idle
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    fn policy() -> Policy {
        Policy {
            hold_ms: 2 * MIN,
            cooldown_ms: 15 * MIN,
            max_runs: 3,
            window_ms: 60 * MIN,
            recover_below: 4500,
            recover_within_ms: 5 * MIN,
        }
    }

    #[test]
    fn waits_for_its_for() {
        let mut s = PolicyState::new(policy(), &[]);
        assert_eq!(s.observe(0, None, Some(12_000), true), None);
        assert_eq!(s.observe(MIN, Some(0), Some(12_000), true), None);
        assert_eq!(s.observe(2 * MIN - 1, Some(0), Some(12_000), true), None);
        assert_eq!(
            s.observe(2 * MIN, Some(0), Some(12_000), true),
            Some(Decision::Run)
        );
        // Nothing more while it runs.
        assert_eq!(s.observe(3 * MIN, Some(0), Some(12_000), true), None);
        assert_eq!(
            s.phase(),
            Phase::Running {
                started_ms: 2 * MIN
            }
        );
    }

    #[test]
    fn the_kill_switch_stops_every_run() {
        let mut s = PolicyState::new(policy(), &[]);
        for i in 0..100 {
            assert_eq!(s.observe(i * MIN, Some(0), Some(20_000), false), None);
        }
        assert_eq!(s.phase(), Phase::Idle);
        // Switched back on: runs at once (the trigger has held long enough).
        assert_eq!(
            s.observe(100 * MIN, Some(0), Some(20_000), true),
            Some(Decision::Run)
        );
    }

    #[test]
    fn recovery_within_the_deadline_and_escalation_after_it() {
        let mut s = PolicyState::new(policy(), &[]);
        assert_eq!(
            s.observe(2 * MIN, Some(0), Some(12_000), true),
            Some(Decision::Run)
        );
        s.finished(2 * MIN + 5_000, true);
        assert_eq!(s.observe(3 * MIN, None, Some(6000), true), None);
        assert_eq!(
            s.observe(4 * MIN, None, Some(4499), true),
            Some(Decision::Recovered { after: 4499 })
        );
        // A second incident, after the cooldown: it runs, does not recover, and escalates
        // exactly at the deadline.
        let start = 30 * MIN;
        assert_eq!(
            s.observe(start, Some(start - 3 * MIN), Some(12_000), true),
            Some(Decision::Run)
        );
        s.finished(start, true);
        assert_eq!(
            s.observe(start + 5 * MIN - 1, Some(start), Some(11_000), true),
            None
        );
        assert_eq!(
            s.observe(start + 5 * MIN, Some(start), Some(11_000), true),
            Some(Decision::NotRecovered {
                after: Some(11_000)
            })
        );
        assert_eq!(s.phase(), Phase::Idle);
    }

    #[test]
    fn cooldown_between_runs() {
        let mut s = PolicyState::new(policy(), &[]);
        assert_eq!(
            s.observe(2 * MIN, Some(0), Some(12_000), true),
            Some(Decision::Run)
        );
        s.finished(2 * MIN, false); // failed: no watch, straight back to idle
        assert_eq!(s.phase(), Phase::Idle);
        assert_eq!(s.observe(10 * MIN, Some(0), Some(12_000), true), None);
        assert_eq!(s.observe(17 * MIN - 1, Some(0), Some(12_000), true), None);
        assert_eq!(
            s.observe(17 * MIN, Some(0), Some(12_000), true),
            Some(Decision::Run)
        );
    }

    #[test]
    fn the_storm_guard_trips_once_after_max_runs() {
        let mut s = PolicyState::new(policy(), &[]);
        let mut runs = 0;
        let mut humans = 0;
        let mut t = 0;
        // The service leaks again right after every restart, for hours.
        while t < 5 * 60 * MIN {
            match s.observe(t, Some(t - 3 * MIN), Some(12_000), true) {
                Some(Decision::Run) => {
                    runs += 1;
                    s.finished(t, true);
                }
                Some(Decision::NeedsHuman { runs }) => {
                    humans += 1;
                    assert_eq!(runs, 3);
                }
                Some(Decision::NotRecovered { .. }) | None => {}
                Some(other) => panic!("{other:?}"),
            }
            t += 30_000;
        }
        assert_eq!(runs, 3);
        assert_eq!(humans, 1);
        assert!(matches!(s.phase(), Phase::NeedsHuman { .. }));
        // Once the trigger stays quiet for a whole window, it is armed again.
        assert_eq!(s.observe(t, None, Some(10), true), None);
        assert_eq!(s.phase(), Phase::Idle);
    }

    #[test]
    fn history_from_the_store_keeps_the_guard_across_agent_restarts() {
        let now = 100 * MIN;
        let mut s = PolicyState::new(policy(), &[now - 50 * MIN, now - 30 * MIN, now - 16 * MIN]);
        assert_eq!(s.runs_in_window(now), 3);
        assert_eq!(
            s.observe(now, Some(now - 3 * MIN), Some(12_000), true),
            Some(Decision::NeedsHuman { runs: 3 })
        );
        // Older runs outside the window do not count.
        let mut s = PolicyState::new(policy(), &[now - 90 * MIN, now - 70 * MIN]);
        assert_eq!(
            s.observe(now, Some(now - 3 * MIN), Some(12_000), true),
            Some(Decision::Run)
        );
    }

    #[test]
    fn from_config() {
        let c = crate::config::Config::parse(
            "[[targets]]\nurl = \"http://127.0.0.1:1\"\n[[actions]]\nkind = \"command\"\nargv = [\"true\"]\non = \"goroutines_critical\"\nfor = \"1m\"\n",
            &|_| None,
        )
        .unwrap();
        let p = Policy::from_config(&c.actions.actions[0]);
        assert_eq!(p.hold_ms, MIN);
        assert_eq!(p.cooldown_ms, 15 * MIN);
        assert_eq!(p.recover_below, 9000);
    }
}
