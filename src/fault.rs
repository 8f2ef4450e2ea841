//! Fault injection for the real-binary tests: `EMPORIUM_FAULT` (docs/API.md §1).
//!
//! Some promises (nothing published before it is durable, no double charge after a crash,
//! 500 without details, not ready before recovery) can only be proven by making the server
//! fail on purpose. The binary reads `EMPORIUM_FAULT` once at start (the library never does,
//! so in-process servers are never affected); unset, every check below is a single atomic
//! load of an empty [`OnceLock`]. Never set it in production.
//!
//! The value is a comma-separated list of:
//! - `flush_fail_if_file:<path>`: every flush of the group committer fails while `<path>`
//!   exists (the test creates the file when it wants storage to break);
//! - `crash_after_capture`: the process aborts right after the payment provider durably
//!   captured a charge, before the order is confirmed;
//! - `crash_during_return_receipt`: the process aborts in the middle of receiving a return,
//!   after its units were restocked and before its refund (the saga resumes at start-up);
//! - `recovery_delay_ms:<n>`: start-up recovery waits `n` ms before it begins;
//! - `panic_in_password_hash`: the password hashing task panics (a bug: 500 `internal`);
//! - `probe_consumer:<path>`: a log consumer (durable cursor `fault-probe`) appends to
//!   `<path>` a line `start <cursor>` when it starts, `e <lsn>` per record it receives and
//!   `c <lsn>` after each durable save of its cursor, so a test can check from outside that
//!   a consumer killed at random points gets every record in order without a gap;
//! - `clock_offset_ms:<n>`: the server's clock (every time it records, every deadline it
//!   compares) runs `n` ms (may be negative) off the wall clock, so a test can write a week of
//!   orders in a few seconds by restarting the binary on the same data dir with a later
//!   offset each time (access tokens keep the real clock).

use std::{path::PathBuf, sync::OnceLock, time::Duration};

/// The faults switched on for this process.
#[derive(Debug, Default)]
struct Faults {
    flush_fail_file: Option<PathBuf>,
    crash_after_capture: bool,
    crash_during_return_receipt: bool,
    recovery_delay_ms: u64,
    panic_in_password_hash: bool,
    probe_consumer: Option<PathBuf>,
}

static FAULTS: OnceLock<Faults> = OnceLock::new();

/// Parses `spec` (see the module docs) and switches those faults on for the process.
pub fn install(spec: &str) -> Result<(), String> {
    let mut faults = Faults::default();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, value) = item.split_once(':').unwrap_or((item, ""));
        match name {
            "flush_fail_if_file" if !value.is_empty() => {
                faults.flush_fail_file = Some(PathBuf::from(value));
            }
            "crash_after_capture" => faults.crash_after_capture = true,
            "crash_during_return_receipt" => faults.crash_during_return_receipt = true,
            "recovery_delay_ms" => {
                faults.recovery_delay_ms = value
                    .parse()
                    .map_err(|_| format!("recovery_delay_ms needs a number, not {value:?}"))?;
            }
            "panic_in_password_hash" => faults.panic_in_password_hash = true,
            "probe_consumer" if !value.is_empty() => {
                faults.probe_consumer = Some(PathBuf::from(value));
            }
            "clock_offset_ms" => {
                let offset = value
                    .parse()
                    .map_err(|_| format!("clock_offset_ms needs a number, not {value:?}"))?;
                crate::domain::time::set_clock_offset(offset);
            }
            _ => return Err(format!("unknown fault {item:?}")),
        }
    }
    tracing::warn!(?faults, "fault injection is on (EMPORIUM_FAULT)");
    FAULTS
        .set(faults)
        .map_err(|_| "faults were already installed".to_owned())
}

/// Whether the committer's next flush must fail.
pub fn flush_fails() -> bool {
    FAULTS
        .get()
        .and_then(|f| f.flush_fail_file.as_ref())
        .is_some_and(|path| path.exists())
}

/// Aborts the process (like `kill -9`) when `crash_after_capture` is on.
pub fn crash_after_capture() {
    if FAULTS.get().is_some_and(|f| f.crash_after_capture) {
        eprintln!("emporium: injected crash after a capture");
        std::process::abort();
    }
}

/// Aborts the process when `crash_during_return_receipt` is on (between a return's restock
/// and its refund).
pub fn crash_during_return_receipt() {
    if FAULTS.get().is_some_and(|f| f.crash_during_return_receipt) {
        eprintln!("emporium: injected crash during a return receipt");
        std::process::abort();
    }
}

/// How long recovery waits before it starts.
pub fn recovery_delay() -> Option<Duration> {
    FAULTS
        .get()
        .map(|f| f.recovery_delay_ms)
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

/// Panics when `panic_in_password_hash` is on (called inside the hashing task).
pub fn password_hash_panics() {
    if FAULTS.get().is_some_and(|f| f.panic_in_password_hash) {
        panic!("injected fault: panic_in_password_hash");
    }
}

/// Where the probe consumer writes, when `probe_consumer` is on.
pub fn probe_consumer_file() -> Option<PathBuf> {
    FAULTS.get().and_then(|f| f.probe_consumer.clone())
}
