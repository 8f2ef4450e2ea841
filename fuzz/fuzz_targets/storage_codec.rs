//! Arbitrary bytes as stored values (a torn or corrupted record): decoding fails cleanly,
//! never panics or allocates without bound.
#![no_main]

use emporium::{
    domain::{cart::Cart, order::Order, reservation::Reservation},
    persistence::{
        IdempotentAnswer, JournalRecord, LedgerEntry, Movement, Snapshot, StoredEvent,
        codec::{FORMAT, decode},
    },
};
use libfuzzer_sys::fuzz_target;

fn all(bytes: &[u8]) {
    let _ = decode::<Snapshot>(bytes);
    let _ = decode::<JournalRecord>(bytes);
    let _ = decode::<StoredEvent>(bytes);
    let _ = decode::<Movement>(bytes);
    let _ = decode::<Reservation>(bytes);
    let _ = decode::<Order>(bytes);
    let _ = decode::<Cart>(bytes);
    let _ = decode::<LedgerEntry>(bytes);
    let _ = decode::<IdempotentAnswer>(bytes);
}

fuzz_target!(|data: &[u8]| {
    all(data);
    // Most inputs lack the format byte; also try them behind it so bincode sees them.
    let mut framed = Vec::with_capacity(data.len() + 1);
    framed.push(FORMAT);
    framed.extend_from_slice(data);
    all(&framed);
});
