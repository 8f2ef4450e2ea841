//! Login throttling per email: a sliding window of unsuccessful attempts.
//!
//! An attempt is counted *before* the password is checked and forgiven only when it succeeds,
//! so parallel guesses cannot slip past the limit while their hashes are being verified. Once
//! `max` attempts within the window failed, every login for that email (the right password
//! included) is refused until the oldest of them leaves the window. Counts live in memory: a
//! restart forgets them, which costs an attacker a restart they cannot cause.

use crate::domain::time::Millis;
use dashmap::DashMap;
use std::{
    collections::VecDeque,
    sync::atomic::{AtomicU64, Ordering},
};

/// Sweep entries whose attempts all left the window every this many attempts, so addresses
/// tried once do not pile up.
const SWEEP_EVERY: u64 = 1024;

/// Failed-login counts per normalised email.
pub struct LoginLimiter {
    max: usize,
    window_ms: Millis,
    attempts: DashMap<String, VecDeque<Millis>>,
    since_sweep: AtomicU64,
}

impl LoginLimiter {
    /// At most `max` failures per `window_seconds` (`max` 0 turns throttling off).
    pub fn new(max: u32, window_seconds: u64) -> Self {
        Self {
            max: usize::try_from(max).unwrap_or(usize::MAX),
            window_ms: Millis::try_from(window_seconds.saturating_mul(1000)).unwrap_or(Millis::MAX),
            attempts: DashMap::new(),
            since_sweep: AtomicU64::new(0),
        }
    }

    /// Counts an attempt for `email` at `now`, or refuses it with the seconds to wait.
    pub fn begin(&self, email: &str, now: Millis) -> Result<(), u64> {
        if self.max == 0 {
            return Ok(());
        }
        if self.since_sweep.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(now);
        }
        let mut entry = self.attempts.entry(email.to_owned()).or_default();
        let attempts = entry.value_mut();
        let horizon = now.saturating_sub(self.window_ms);
        while attempts.front().is_some_and(|&at| at <= horizon) {
            attempts.pop_front();
        }
        if attempts.len() >= self.max {
            // The oldest attempt that keeps the count at the limit; when it leaves the window
            // one more attempt is allowed.
            let pivot = attempts[attempts.len() - self.max];
            let wait_ms = pivot.saturating_add(self.window_ms).saturating_sub(now);
            let wait = u64::try_from(wait_ms).unwrap_or(0).div_ceil(1000).max(1);
            return Err(wait);
        }
        attempts.push_back(now);
        Ok(())
    }

    /// Forgets every failure of `email` (it just logged in).
    pub fn succeeded(&self, email: &str) {
        self.attempts.remove(email);
    }

    fn sweep(&self, now: Millis) {
        let horizon = now.saturating_sub(self.window_ms);
        self.attempts
            .retain(|_, attempts| attempts.back().is_some_and(|&at| at > horizon));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_max_failures_until_the_window_passes() {
        let limiter = LoginLimiter::new(3, 10);
        for t in [0, 1000, 2000] {
            assert_eq!(limiter.begin("a", t), Ok(()));
        }
        assert_eq!(limiter.begin("a", 2500), Err(8));
        assert_eq!(
            limiter.begin("b", 2500),
            Ok(()),
            "other emails are not affected"
        );
        assert_eq!(limiter.begin("a", 9_999), Err(1));
        assert_eq!(limiter.begin("a", 10_000), Ok(()), "the first attempt left");
        assert_eq!(limiter.begin("a", 10_001), Err(1));
    }

    #[test]
    fn success_forgives_and_zero_disables() {
        let limiter = LoginLimiter::new(2, 60);
        assert!(limiter.begin("a", 0).is_ok());
        limiter.succeeded("a");
        assert!(limiter.begin("a", 1).is_ok());
        assert!(limiter.begin("a", 2).is_ok());
        assert!(limiter.begin("a", 3).is_err());
        let off = LoginLimiter::new(0, 60);
        assert!((0..100).all(|t| off.begin("a", t).is_ok()));
    }
}
