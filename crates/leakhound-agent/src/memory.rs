//! Giving freed memory back to the system. glibc's malloc keeps what a large, short-lived
//! allocation used (a 10 MB body, a bounded-but-big goroutine profile) in per-thread arenas
//! after it is freed, so the agent's RSS would climb with every blocking thread that once parsed
//! something big, though nothing uses that memory. `malloc_trim` returns the free pages of every
//! arena; it is called after each dump parse and, at most twice a minute, after a sample write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Return the allocator's free pages to the system (a no-op where the allocator is not glibc's).
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks glibc's own arenas under their locks; it takes no pointer
    // and is safe to call from any thread at any time.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Let every thread allocate from one arena. glibc gives threads their own arenas (up to eight
/// per core), and each keeps pages of its own between trims; the agent's threads (the runtime,
/// the database writer, a few blocking ones) allocate little and rarely at once, so one shared
/// arena costs no waiting and several megabytes less resident memory. Call it first thing in
/// `main`, before any thread starts. A no-op where the allocator is not glibc's.
pub fn use_one_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a tunable of glibc's allocator; M_ARENA_MAX is a documented one.
    #[allow(unsafe_code)]
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// Seconds since the epoch of the last [`release_free_memory_every`] that trimmed.
static LAST_TRIM_S: AtomicU64 = AtomicU64::new(0);

/// [`release_free_memory`], at most once per `every` across the process (cheap to call often).
pub fn release_free_memory_every(every: Duration) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST_TRIM_S.load(Ordering::Relaxed);
    if now.saturating_sub(last) < every.as_secs() {
        return;
    }
    if LAST_TRIM_S
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok()
    {
        release_free_memory();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_is_rate_limited_and_harmless() {
        let big = vec![7u8; 32 << 20];
        drop(big);
        release_free_memory();
        LAST_TRIM_S.store(0, Ordering::Relaxed);
        release_free_memory_every(Duration::from_secs(3600));
        let first = LAST_TRIM_S.load(Ordering::Relaxed);
        assert!(first > 0, "the first call trims and records when");
        release_free_memory_every(Duration::from_secs(3600));
        assert_eq!(
            LAST_TRIM_S.load(Ordering::Relaxed),
            first,
            "the second waits its turn"
        );
    }
}
