//! Wall-clock time as integer milliseconds since the Unix epoch.
//!
//! Domain and storage carry plain `i64` milliseconds (cheap, `Copy`, exact in bincode); the
//! HTTP and WebSocket layers render them as RFC 3339 UTC with milliseconds.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// How far this process's clock runs from the wall clock: 0, except in the real-binary tests
/// that write orders on past days (`EMPORIUM_FAULT=clock_offset_ms:…`, see `crate::fault`).
static CLOCK_OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// The current time: the wall clock (plus the test offset, when one is set).
pub fn now_ms() -> Millis {
    Utc::now().timestamp_millis() + CLOCK_OFFSET_MS.load(Ordering::Relaxed)
}

/// The offset the clock returns to after a [`travel_to`] (the fault's, else 0).
static BASE_OFFSET_MS: AtomicI64 = AtomicI64::new(0);

/// Whether this process may move its clock: only the binary says so (one server per process),
/// never a library user such as the in-process test servers, which share one clock.
static TRAVEL_ALLOWED: AtomicBool = AtomicBool::new(false);

/// Runs this process's clock `offset` ms off the wall clock from now on. Only the binary's
/// fault injection calls it, once at start-up, before anything reads the time.
pub fn set_clock_offset(offset: Millis) {
    BASE_OFFSET_MS.store(offset, Ordering::Relaxed);
    CLOCK_OFFSET_MS.store(offset, Ordering::Relaxed);
}

/// Lets [`travel_to`] move this process's clock (the binary calls it: it is the only server
/// in its process).
pub fn allow_travel() {
    TRAVEL_ALLOWED.store(true, Ordering::Relaxed);
}

/// Sets the clock to `at` (it runs on from there) when this process allows it; answers
/// whether it did. The demo writes its past orders this way, through the real order path,
/// before the server is ready; [`end_travel`] brings the clock back.
pub fn travel_to(at: Millis) -> bool {
    if !TRAVEL_ALLOWED.load(Ordering::Relaxed) {
        return false;
    }
    CLOCK_OFFSET_MS.store(at - Utc::now().timestamp_millis(), Ordering::Relaxed);
    true
}

/// Brings the clock back from a [`travel_to`].
pub fn end_travel() {
    CLOCK_OFFSET_MS.store(BASE_OFFSET_MS.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// Whether [`travel_to`] may move the clock in this process.
pub fn travel_allowed() -> bool {
    TRAVEL_ALLOWED.load(Ordering::Relaxed)
}

/// Renders `ms` as `2026-11-21T23:04:19.123Z`.
pub fn rfc3339(ms: Millis) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 time (any offset) to milliseconds; `None` when it is not one.
pub fn parse_rfc3339(text: &str) -> Option<Millis> {
    DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|t| t.timestamp_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_milliseconds_and_z() {
        assert_eq!(rfc3339(1_795_302_259_123), "2026-11-21T23:04:19.123Z");
    }
}
