//! Wall-clock time as integer milliseconds since the Unix epoch.
//!
//! Domain and storage carry plain `i64` milliseconds (cheap, `Copy`, exact in bincode); the
//! HTTP and WebSocket layers render them as RFC 3339 UTC with milliseconds.

use std::sync::atomic::{AtomicI64, Ordering};

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

/// Runs this process's clock `offset` ms off the wall clock from now on. Only the binary's
/// fault injection calls it, once at start-up, before anything reads the time.
pub fn set_clock_offset(offset: Millis) {
    CLOCK_OFFSET_MS.store(offset, Ordering::Relaxed);
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
