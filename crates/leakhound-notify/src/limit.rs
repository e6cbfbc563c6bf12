//! Per-robot send limits: WeCom and DingTalk robots accept 20 messages a minute and throttle
//! (DingTalk: for 10 minutes) a robot that sends more. A sliding window of the last sends per
//! robot — exact, unlike a token bucket, which lets up to twice the rate through in one minute —
//! shared by every notifier that posts to the same robot, keyed by a hash of its URL and key.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// At most `max` sends in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window: Duration,
}

impl RateLimit {
    pub const fn per_minute(max: u32) -> RateLimit {
        RateLimit {
            max,
            window: Duration::from_secs(60),
        }
    }
}

fn windows() -> &'static Mutex<HashMap<String, VecDeque<Instant>>> {
    static W: OnceLock<Mutex<HashMap<String, VecDeque<Instant>>>> = OnceLock::new();
    W.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The id a robot's window is kept under: a hash, so the key never sits in memory twice.
pub fn robot_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..12])
}

/// Take one send from `robot`'s window at `now`, or say how long until one is free.
pub fn acquire(robot: &str, limit: RateLimit, now: Instant) -> Result<(), Duration> {
    if limit.max == 0 {
        return Ok(());
    }
    // A poisoned lock only means another thread panicked mid-update; the deque is still valid.
    let mut all = windows().lock().unwrap_or_else(|p| p.into_inner());
    let sent = all.entry(robot.to_string()).or_default();
    while sent
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= limit.window)
    {
        sent.pop_front();
    }
    if sent.len() >= limit.max as usize {
        let oldest = sent.front().copied().unwrap_or(now);
        let wait = limit
            .window
            .saturating_sub(now.saturating_duration_since(oldest));
        return Err(wait.max(Duration::from_millis(1)));
    }
    sent.push_back(now);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn twenty_per_minute_sliding() {
        let robot = robot_id(&["unit-test", "limit"]);
        let limit = RateLimit::per_minute(20);
        let t0 = Instant::now();
        for i in 0..20 {
            assert!(acquire(&robot, limit, t0 + Duration::from_secs(i)).is_ok());
        }
        let wait = acquire(&robot, limit, t0 + Duration::from_secs(30)).unwrap_err();
        assert_eq!(wait, Duration::from_secs(30));
        // The first send leaves the window at t0+60s: exactly one slot frees up.
        assert!(acquire(&robot, limit, t0 + Duration::from_secs(60)).is_ok());
        assert!(acquire(&robot, limit, t0 + Duration::from_secs(60)).is_err());
        assert!(acquire(&robot, RateLimit::per_minute(0), t0).is_ok());
    }
}
