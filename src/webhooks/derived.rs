//! One derivation per log record for every endpoint's worker.
//!
//! Every worker reads the same log, so without sharing each record's events (and their
//! request bodies) would be derived once per endpoint: ten endpoints, ten times the JSON.
//! The workers of endpoints that keep up read the same records within milliseconds of each
//! other, so a small map of the latest records' events serves all of them; a worker far
//! behind (retrying a failing endpoint for hours) derives its old records again itself, as
//! the derivation is deterministic ([`super::events`]).

use super::events::{self, WebhookEvent};
use crate::{persistence::consumer::LogEvent, read_model::ReadModel};
use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

/// Records whose events are kept (a few seconds of a busy log; a record without events
/// costs an entry and no allocation beyond it).
const KEEP: usize = 4096;

/// An event with its request body, built once.
pub struct Prepared {
    /// The event.
    pub event: WebhookEvent,
    /// [`WebhookEvent::body`].
    pub body: String,
}

/// The events of the latest records, by LSN.
#[derive(Default)]
pub struct Derived {
    recent: Mutex<BTreeMap<u64, Arc<[Prepared]>>>,
}

impl Derived {
    /// The events of `record`, derived by the first worker that asks.
    pub fn of(&self, record: &LogEvent, read_model: &ReadModel) -> Arc<[Prepared]> {
        if let Some(found) = self
            .recent
            .lock()
            .ok()
            .and_then(|recent| recent.get(&record.lsn).cloned())
        {
            return found;
        }
        // Derived outside the lock: two workers may both derive a record, to the same events.
        let prepared: Arc<[Prepared]> = events::derive(record, read_model)
            .into_iter()
            .map(|event| Prepared {
                body: event.body(),
                event,
            })
            .collect();
        if let Ok(mut recent) = self.recent.lock() {
            recent.insert(record.lsn, Arc::clone(&prepared));
            while recent.len() > KEEP {
                recent.pop_first();
            }
        }
        prepared
    }
}
