//! The agent's wall clock, handed to its parts instead of each reading the system clock: the
//! probers' sample stamps, outbox delivery, remediation. [`Clock::system`] in production,
//! [`Clock::manual`] in tests: it moves only when [advanced](Clock::advance).

use leakhound_core::time::UnixMs;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The system clock, or a manual one shared by its clones. Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Clock {
        Clock { manual: None }
    }

    /// A clock standing at `start` until [`advance`](Clock::advance)d.
    pub fn manual(start: UnixMs) -> Clock {
        Clock {
            manual: Some(Arc::new(AtomicI64::new(start.as_i64()))),
        }
    }

    /// Now.
    pub fn now(&self) -> UnixMs {
        match &self.manual {
            Some(t) => UnixMs(t.load(Ordering::SeqCst)),
            None => UnixMs::from(SystemTime::now()),
        }
    }

    /// Now, as the store keeps it.
    pub fn now_ms(&self) -> i64 {
        self.now().as_i64()
    }

    /// Move a manual clock forward (the system clock ignores it).
    pub fn advance(&self, d: Duration) {
        if let Some(t) = &self.manual {
            let _ = t.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |ms| {
                Some((UnixMs(ms) + d).as_i64())
            });
        }
    }
}
