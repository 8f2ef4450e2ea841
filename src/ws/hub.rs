//! Topics and fan-out.
//!
//! Two kinds of topic:
//! - *durable* (`product:{id}`): `seq` is the product's version, stored with each event, so a
//!   client can resume across restarts; replay reads the product's stored events. The topic
//!   exists only while someone subscribes.
//! - *volatile* (`store:{id}`): the hub numbers events itself, keeps the last
//!   `ws.replay_buffer` in a ring, and the epoch changes with every process start.
//!
//! Every operation on a topic runs under its map entry's lock, so a subscriber's snapshot,
//! replay and live events come in one unbroken order. Fan-out only `try_send`s.

use super::{
    connection::Connection,
    protocol::{self, Since},
};
use crate::domain::time::Millis;
use axum::extract::ws::Utf8Bytes;
use dashmap::DashMap;
use serde_json::Value;
use std::{collections::VecDeque, sync::Arc};

/// The epoch of durable topics: their sequence survives restarts, so it never changes.
pub const DURABLE_EPOCH: &str = "d1";

struct Subscriber {
    conn: Arc<Connection>,
    /// Events with `seq <= after` are already covered by this subscriber's snapshot/replay.
    after: u64,
}

#[derive(Default)]
struct Topic {
    /// Last sequence published (volatile topics number their own events).
    seq: u64,
    /// Recent frames of volatile topics, for resume.
    ring: VecDeque<(u64, Utf8Bytes)>,
    subscribers: Vec<Subscriber>,
}

/// A frame to replay: its sequence and its text.
pub type Replayed = (u64, Utf8Bytes);

/// The topic registry.
pub struct Hub {
    topics: DashMap<String, Topic>,
    /// Epoch of volatile topics in this process.
    epoch: String,
    replay_buffer: usize,
}

impl Hub {
    /// An empty hub keeping `replay_buffer` events per volatile topic.
    pub fn new(replay_buffer: u64) -> Self {
        Self {
            topics: DashMap::new(),
            epoch: format!("v{:x}", rand::random::<u32>()),
            replay_buffer: usize::try_from(replay_buffer).unwrap_or(usize::MAX),
        }
    }

    /// The epoch of volatile topics in this process.
    pub fn volatile_epoch(&self) -> &str {
        &self.epoch
    }

    /// Subscribes `conn` to a durable topic. `snapshot` gives the entity's durable state and
    /// version; `replay(from, to)` gives the stored events in that range (`None` when they are
    /// gone). Sends `subscribed` (with snapshot or replay count) and any replayed events.
    pub fn subscribe_durable(
        &self,
        topic: &str,
        conn: &Arc<Connection>,
        since: Option<&Since>,
        reference: Option<&Value>,
        snapshot: impl FnOnce() -> Option<(u64, Value)>,
        replay: impl FnOnce(u64, u64) -> Option<Vec<Replayed>>,
    ) -> bool {
        let mut entry = self.topics.entry(topic.to_owned()).or_default();
        let Some((version, state)) = snapshot() else {
            return false;
        };
        let replayed = since
            .filter(|s| s.epoch == DURABLE_EPOCH && s.seq <= version)
            .and_then(|s| {
                let frames = if s.seq == version {
                    Vec::new()
                } else {
                    replay(s.seq + 1, version)?
                };
                let complete =
                    frames.len() as u64 == version - s.seq && frames.len() <= self.replay_buffer;
                complete.then_some((s.seq, frames))
            });
        Self::attach(
            &mut entry.subscribers,
            conn,
            version,
            topic,
            DURABLE_EPOCH,
            since.is_some(),
            reference,
            state,
            replayed,
        );
        true
    }

    /// Subscribes `conn` to a volatile topic; `snapshot` gives its current state.
    pub fn subscribe_volatile(
        &self,
        topic: &str,
        conn: &Arc<Connection>,
        since: Option<&Since>,
        reference: Option<&Value>,
        snapshot: impl FnOnce() -> Option<Value>,
    ) -> bool {
        let mut entry = self.topics.entry(topic.to_owned()).or_default();
        let Some(state) = snapshot() else {
            return false;
        };
        let topic_state = &mut *entry;
        let seq = topic_state.seq;
        let replayed = since
            .filter(|s| s.epoch == self.epoch && s.seq <= seq)
            .and_then(|s| {
                let oldest = topic_state
                    .ring
                    .front()
                    .map_or(seq + 1, |(first, _)| *first);
                (s.seq + 1 >= oldest).then(|| {
                    let frames = topic_state
                        .ring
                        .iter()
                        .filter(|(n, _)| *n > s.seq)
                        .cloned()
                        .collect();
                    (s.seq, frames)
                })
            });
        Self::attach(
            &mut topic_state.subscribers,
            conn,
            seq,
            topic,
            &self.epoch,
            since.is_some(),
            reference,
            state,
            replayed,
        );
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn attach(
        subscribers: &mut Vec<Subscriber>,
        conn: &Arc<Connection>,
        seq: u64,
        topic: &str,
        epoch: &str,
        resumed: bool,
        reference: Option<&Value>,
        state: Value,
        replayed: Option<(u64, Vec<Replayed>)>,
    ) {
        subscribers.retain(|s| s.conn.id != conn.id);
        match replayed {
            Some((from, frames)) => {
                conn.push(protocol::subscribed_replay(
                    topic,
                    epoch,
                    from,
                    frames.len(),
                    reference,
                ));
                for (_, frame) in frames {
                    conn.push(frame);
                }
            }
            None => {
                conn.push(protocol::subscribed_snapshot(
                    topic, epoch, seq, state, resumed, reference,
                ));
            }
        }
        subscribers.push(Subscriber {
            conn: Arc::clone(conn),
            after: seq,
        });
    }

    /// Removes `conn` from `topic`; durable topics without subscribers are dropped.
    pub fn unsubscribe(&self, topic: &str, conn_id: u64) {
        let durable = is_durable(topic);
        self.topics.remove_if_mut(topic, |_, t| {
            t.subscribers.retain(|s| s.conn.id != conn_id);
            durable && t.subscribers.is_empty()
        });
    }

    /// Publishes an event of a durable topic with its entity sequence. No-op without
    /// subscribers: the event is already stored for replay.
    pub fn publish_durable(&self, topic: &str, seq: u64, event: &str, data: &Value, at: Millis) {
        if let Some(mut entry) = self.topics.get_mut(topic) {
            let frame = protocol::event(topic, seq, event, data, at);
            let t = &mut *entry;
            t.seq = t.seq.max(seq);
            fan_out(&mut t.subscribers, seq, &frame);
        }
    }

    /// Publishes an event of a volatile topic, numbering it. `update` runs first under the
    /// topic's lock: a state change made there and its event reach every subscriber in one
    /// order, so a snapshot never runs ahead of the sequence it claims.
    pub fn publish_volatile(
        &self,
        topic: &str,
        event: &str,
        data: &Value,
        at: Millis,
        update: impl FnOnce(),
    ) {
        let mut entry = self.topics.entry(topic.to_owned()).or_default();
        update();
        let t = &mut *entry;
        t.seq += 1;
        let frame = protocol::event(topic, t.seq, event, data, at);
        t.ring.push_back((t.seq, frame.clone()));
        while t.ring.len() > self.replay_buffer {
            t.ring.pop_front();
        }
        fan_out(&mut t.subscribers, t.seq, &frame);
    }

    /// Number of subscribers of `topic` (for tests and metrics).
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.topics.get(topic).map_or(0, |t| t.subscribers.len())
    }
}

fn fan_out(subscribers: &mut Vec<Subscriber>, seq: u64, frame: &Utf8Bytes) {
    subscribers.retain(|s| {
        if s.after >= seq {
            return true;
        }
        s.conn.push(frame.clone()) && !s.conn.is_closing()
    });
}

/// Whether `topic` numbers its events by a durable entity version.
pub fn is_durable(topic: &str) -> bool {
    ["product:", "order:", "cart:"]
        .iter()
        .any(|prefix| topic.starts_with(prefix))
}
