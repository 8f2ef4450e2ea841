//! Wall-clock time as integer milliseconds since the Unix epoch.
//!
//! Domain and storage carry plain `i64` milliseconds (cheap, `Copy`, exact in bincode); the
//! HTTP and WebSocket layers render them as RFC 3339 UTC with milliseconds.

use chrono::{DateTime, SecondsFormat, Utc};

/// Milliseconds since the Unix epoch, UTC.
pub type Millis = i64;

/// The current wall-clock time.
pub fn now_ms() -> Millis {
    Utc::now().timestamp_millis()
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
