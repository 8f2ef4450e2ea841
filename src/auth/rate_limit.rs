//! Login throttling: sliding windows of unsuccessful attempts, per email *and* client IP and
//! per IP across emails (docs/API.md §12).
//!
//! Counting per email and IP means a stranger guessing the owner's password from elsewhere
//! locks out only themselves; counting per IP across emails stops one address from spraying
//! many accounts. An attempt is counted *before* the password is checked and forgiven only
//! when it succeeds, so parallel guesses cannot slip past the limit while their hashes are
//! being verified. A success forgives the email's failures from that IP but not the IP's
//! failures on other emails (else one valid account would reset a sprayer's count). Counts
//! live in memory: a restart forgets them, which costs an attacker a restart they cannot
//! cause.

use crate::domain::time::Millis;
use dashmap::DashMap;
use std::{
    collections::VecDeque,
    net::IpAddr,
    sync::atomic::{AtomicU64, Ordering},
};

/// Sweep entries whose attempts all left the window every this many attempts, so addresses
/// tried once do not pile up.
const SWEEP_EVERY: u64 = 1024;

/// A refused attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refused {
    /// Seconds until one more attempt is allowed (the `Retry-After`).
    pub retry_after_secs: u64,
    /// Whether this is the first refusal of the lockout (worth one log line, not one per try).
    pub newly_locked: bool,
}

#[derive(Default)]
struct Attempts {
    at: VecDeque<Millis>,
    /// Until when the current lockout was already reported.
    reported_until: Millis,
}

/// Failed-attempt counts per key in a sliding window.
pub struct LoginLimiter {
    max: usize,
    window_ms: Millis,
    attempts: DashMap<String, Attempts>,
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

    /// Counts an attempt for `key` at `now`, or refuses it.
    pub fn begin(&self, key: &str, now: Millis) -> Result<(), Refused> {
        if self.max == 0 {
            return Ok(());
        }
        if self.since_sweep.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.sweep(now);
        }
        let mut entry = self.attempts.entry(key.to_owned()).or_default();
        let attempts = entry.value_mut();
        let horizon = now.saturating_sub(self.window_ms);
        while attempts.at.front().is_some_and(|&at| at <= horizon) {
            attempts.at.pop_front();
        }
        if attempts.at.len() >= self.max {
            // The oldest attempt that keeps the count at the limit; when it leaves the window
            // one more attempt is allowed.
            let pivot = attempts.at[attempts.at.len() - self.max];
            let until = pivot.saturating_add(self.window_ms);
            let wait = u64::try_from(until.saturating_sub(now))
                .unwrap_or(0)
                .div_ceil(1000)
                .max(1);
            let newly_locked = attempts.reported_until <= now;
            if newly_locked {
                attempts.reported_until = until;
            }
            return Err(Refused {
                retry_after_secs: wait,
                newly_locked,
            });
        }
        attempts.at.push_back(now);
        Ok(())
    }

    /// Forgets every failure of `key` (it just logged in).
    pub fn succeeded(&self, key: &str) {
        self.attempts.remove(key);
    }

    /// Takes back the attempt counted for `key` at `at` (it succeeded, or another limit
    /// refused it).
    pub fn forgive(&self, key: &str, at: Millis) {
        if let Some(mut entry) = self.attempts.get_mut(key) {
            let attempts = &mut entry.value_mut().at;
            if let Some(index) = attempts.iter().rposition(|&t| t == at) {
                attempts.remove(index);
            }
        }
    }

    fn sweep(&self, now: Millis) {
        let horizon = now.saturating_sub(self.window_ms);
        self.attempts
            .retain(|_, attempts| attempts.at.back().is_some_and(|&at| at > horizon));
    }
}

/// An attempt both limits let through; hand it back to [`LoginThrottle::succeeded`].
pub struct Attempt {
    pair: String,
    ip: String,
    at: Millis,
}

/// The two limits of a login: per (email, client IP) and per client IP.
pub struct LoginThrottle {
    per_email_and_ip: LoginLimiter,
    per_ip: LoginLimiter,
}

impl LoginThrottle {
    /// `per_email_and_ip` and `per_ip` failures per `window_seconds` (0: that limit is off).
    pub fn new(per_email_and_ip: u32, per_ip: u32, window_seconds: u64) -> Self {
        Self {
            per_email_and_ip: LoginLimiter::new(per_email_and_ip, window_seconds),
            per_ip: LoginLimiter::new(per_ip, window_seconds),
        }
    }

    /// Counts a login for the normalised `email` from `ip` (`None`: unknown, all such share
    /// one count), or refuses it with the seconds to wait. Lockouts are logged at WARN.
    pub fn begin(&self, email: &str, ip: Option<IpAddr>, now: Millis) -> Result<Attempt, u64> {
        let ip = ip.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string());
        // An IP address holds no `/`, so the pair key is unambiguous.
        let pair = format!("{ip}/{email}");
        if let Err(refused) = self.per_ip.begin(&ip, now) {
            if refused.newly_locked {
                tracing::warn!(
                    client_ip = %ip,
                    retry_after_secs = refused.retry_after_secs,
                    "login lockout: too many failed logins from one address"
                );
            }
            return Err(refused.retry_after_secs);
        }
        if let Err(refused) = self.per_email_and_ip.begin(&pair, now) {
            self.per_ip.forgive(&ip, now);
            if refused.newly_locked {
                tracing::warn!(
                    client_ip = %ip,
                    email = %email,
                    retry_after_secs = refused.retry_after_secs,
                    "login lockout: too many failed logins for one email from one address"
                );
            }
            return Err(refused.retry_after_secs);
        }
        Ok(Attempt { pair, ip, at: now })
    }

    /// The attempt logged in: the email's failures from that address are forgiven, and the
    /// attempt itself no longer counts against the address.
    pub fn succeeded(&self, attempt: &Attempt) {
        self.per_email_and_ip.succeeded(&attempt.pair);
        self.per_ip.forgive(&attempt.ip, attempt.at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(result: Result<(), Refused>) -> Result<(), u64> {
        result.map_err(|r| r.retry_after_secs)
    }

    #[test]
    fn refuses_after_max_failures_until_the_window_passes() {
        let limiter = LoginLimiter::new(3, 10);
        for t in [0, 1000, 2000] {
            assert_eq!(wait(limiter.begin("a", t)), Ok(()));
        }
        assert_eq!(wait(limiter.begin("a", 2500)), Err(8));
        assert_eq!(
            wait(limiter.begin("b", 2500)),
            Ok(()),
            "other keys are not affected"
        );
        assert_eq!(wait(limiter.begin("a", 9_999)), Err(1));
        assert_eq!(
            wait(limiter.begin("a", 10_000)),
            Ok(()),
            "the first attempt left"
        );
        assert_eq!(wait(limiter.begin("a", 10_001)), Err(1));
    }

    #[test]
    fn a_lockout_is_new_once() {
        let limiter = LoginLimiter::new(1, 10);
        assert!(limiter.begin("a", 0).is_ok());
        assert!(limiter.begin("a", 1).is_err_and(|r| r.newly_locked));
        assert!(limiter.begin("a", 2).is_err_and(|r| !r.newly_locked));
        assert!(limiter.begin("a", 10_000).is_ok());
        assert!(limiter.begin("a", 10_001).is_err_and(|r| r.newly_locked));
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

    #[test]
    fn counts_per_email_and_ip_and_per_ip() {
        let throttle = LoginThrottle::new(2, 3, 60);
        let here = Some(IpAddr::from([192, 0, 2, 1]));
        let there = Some(IpAddr::from([192, 0, 2, 2]));
        assert!(throttle.begin("owner", here, 0).is_ok());
        assert!(throttle.begin("owner", here, 1).is_ok());
        assert!(throttle.begin("owner", here, 2).is_err(), "email from here");
        assert!(throttle.begin("owner", there, 3).is_ok(), "not from there");
        assert!(throttle.begin("other", here, 4).is_ok(), "third from here");
        assert!(
            throttle.begin("third", here, 5).is_err(),
            "the address is spent"
        );
        // A success takes its own attempt back but forgives nothing else of the address.
        let login = throttle.begin("fresh", there, 6).expect("allowed");
        throttle.succeeded(&login);
        assert!(throttle.begin("x", there, 7).is_ok());
        assert!(throttle.begin("y", there, 8).is_ok());
        assert!(throttle.begin("z", there, 9).is_err());
    }
}
