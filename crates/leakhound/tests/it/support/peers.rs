//! Who may run beside whom, now that every test of the crate shares one process.
//!
//! Before issue 14 each `tests/*.rs` file was its own binary and cargo ran the binaries one
//! after another, so a file with a single test ran alone. The 6-minute trend test relies on
//! that: its three fixtures under Poisson traffic, and the noise the detector must not mistake
//! for a leak, assume no other peer is eating the two CPUs. Now libtest runs the tests of every
//! module on parallel threads of one process, so:
//!
//! - every launcher of a peer process (the Go fixture, the agent, Prometheus, a container)
//!   holds a [`PeerSlot`] for as long as the peer lives;
//! - a test that must be alone takes [`alone`] first: it waits until no other test holds a
//!   slot, and while it holds the guard no other test can take one (they wait). Its own
//!   launchers pass (the lock is re-entrant per thread).
//!
//! A reader/writer lock, writer-preferring, re-entrant per thread (a test starts several peers;
//! std's `RwLock` may deadlock a thread that read-locks twice while a writer waits).

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::ThreadId;
use std::time::Duration;

struct State {
    /// Slots held, by the thread that took them.
    readers: Vec<(ThreadId, usize)>,
    /// The thread of the test that runs alone.
    writer: Option<ThreadId>,
    /// Tests waiting to run alone: new slots wait for them.
    writers_waiting: usize,
}

static STATE: Mutex<State> = Mutex::new(State {
    readers: Vec::new(),
    writer: None,
    writers_waiting: 0,
});
static CHANGED: Condvar = Condvar::new();

fn state() -> MutexGuard<'static, State> {
    // A panicking test never panics while holding this mutex; the state stays consistent.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

fn wait(s: MutexGuard<'static, State>) -> MutexGuard<'static, State> {
    CHANGED
        .wait_timeout(s, Duration::from_millis(500))
        .unwrap_or_else(PoisonError::into_inner)
        .0
}

/// A peer process may run: held by the launcher for the peer's lifetime.
#[derive(Debug)]
pub struct PeerSlot {
    thread: ThreadId,
}

impl PeerSlot {
    /// Wait (without a bound: the test running alone ends) until no test runs alone.
    pub fn take() -> PeerSlot {
        let me = std::thread::current().id();
        let mut s = state();
        loop {
            let mine = s.writer == Some(me) || s.readers.iter().any(|(t, _)| *t == me);
            if mine || (s.writer.is_none() && s.writers_waiting == 0) {
                break;
            }
            s = wait(s);
        }
        match s.readers.iter_mut().find(|(t, _)| *t == me) {
            Some((_, n)) => *n += 1,
            None => s.readers.push((me, 1)),
        }
        PeerSlot { thread: me }
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut s = state();
        if let Some(i) = s.readers.iter().position(|(t, _)| *t == self.thread) {
            s.readers[i].1 -= 1;
            if s.readers[i].1 == 0 {
                s.readers.swap_remove(i);
            }
        }
        drop(s);
        CHANGED.notify_all();
    }
}

/// The test runs alone until this is dropped (see the module doc).
#[must_use = "the test runs alone only while the guard lives"]
pub struct Alone {
    thread: ThreadId,
}

/// Wait until no other test has a peer running, then keep them from starting any.
pub fn alone() -> Alone {
    let me = std::thread::current().id();
    let mut s = state();
    s.writers_waiting += 1;
    let mut ticker = super::Progress::new("other tests' peers to end (this test runs alone)");
    while s.writer.is_some() || s.readers.iter().any(|(t, _)| *t != me) {
        let busy = s.readers.len();
        ticker.tick(|| format!("{busy} test(s) still have peers"));
        s = wait(s);
    }
    s.writers_waiting -= 1;
    s.writer = Some(me);
    Alone { thread: me }
}

impl Drop for Alone {
    fn drop(&mut self) {
        let mut s = state();
        if s.writer == Some(self.thread) {
            s.writer = None;
        }
        drop(s);
        CHANGED.notify_all();
    }
}
