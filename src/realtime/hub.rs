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
//!
//! Conflation (`mode: "latest"`): a topic with latest-mode subscribers keeps, per product, the
//! time of its last `stock.changed` delivery to them and at most one pending (newest) frame.
//! A `stock.changed` within `latest_interval` of the last delivery replaces the pending frame;
//! one timer task per topic (armed only while something is pending) flushes due frames. So a
//! latest-mode subscriber gets at most one `stock.changed` per product per interval, always
//! the newest, and fan-out still never waits. Other events go out at once, after flushing
//! what is pending so that a product's events are never overtaken by its older stock.

use super::EventType;
use super::Frame;
use super::{
    connection::Connection,
    protocol::{self, Since},
};
use crate::domain::time::Millis;
use dashmap::DashMap;
use serde_json::Value;
use std::{
    collections::{HashMap, VecDeque},
    sync::Arc,
    time::Duration,
};
use tokio::time::Instant;

/// The epoch of durable topics: their sequence survives restarts, so it never changes.
pub const DURABLE_EPOCH: &str = "d1";

struct Subscriber {
    conn: Arc<Connection>,
    /// Events with `seq <= after` are already covered by this subscriber's snapshot/replay.
    after: u64,
    /// `mode: "latest"`: `stock.changed` events are conflated.
    latest: bool,
}

/// Conflation state of one product within a topic, shared by its latest-mode subscribers.
#[derive(Default)]
struct Slot {
    /// When a `stock.changed` of this product last went to the latest-mode subscribers.
    last: Option<Instant>,
    /// The newest `stock.changed` not yet delivered to them.
    pending: Option<(u64, Frame)>,
}

#[derive(Default)]
struct Topic {
    /// Last sequence published (volatile topics number their own events).
    seq: u64,
    /// Recent frames of volatile topics, for resume.
    ring: VecDeque<(u64, Frame)>,
    subscribers: Vec<Subscriber>,
    /// Conflation slots by product id (only while latest-mode subscribers exist).
    latest: HashMap<String, Slot>,
    /// Whether a flush timer task is running for this topic.
    timer_armed: bool,
}

/// A frame to replay: its sequence and its text.
pub type Replayed = (u64, Frame);

/// The topic registry.
pub struct Hub {
    topics: Arc<DashMap<String, Topic>>,
    /// Epoch of volatile topics in this process.
    epoch: String,
    replay_buffer: usize,
    /// Shortest gap between two `stock.changed` of one product in latest mode.
    latest_interval: Duration,
}

impl Hub {
    /// An empty hub keeping `replay_buffer` events per volatile topic.
    pub fn new(replay_buffer: u64) -> Self {
        Self {
            topics: Arc::new(DashMap::new()),
            epoch: format!("v{:x}", rand::random::<u32>()),
            replay_buffer: usize::try_from(replay_buffer).unwrap_or(usize::MAX),
            latest_interval: Duration::from_millis(100),
        }
    }

    /// Sets the latest-mode interval (`ws.latest_interval_ms`).
    #[must_use]
    pub fn with_latest_interval(mut self, interval: Duration) -> Self {
        self.latest_interval = interval;
        self
    }

    /// The epoch of volatile topics in this process.
    pub fn volatile_epoch(&self) -> &str {
        &self.epoch
    }

    /// Subscribes `conn` to a durable topic. `snapshot` gives the entity's durable state and
    /// version; `replay(from, to)` gives the stored events in that range (`None` when they are
    /// gone). Sends `subscribed` (with snapshot or replay count) and any replayed events.
    #[allow(clippy::too_many_arguments)]
    pub fn subscribe_durable(
        &self,
        topic: &str,
        conn: &Arc<Connection>,
        latest: bool,
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
            latest,
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
        latest: bool,
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
            latest,
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
        latest: bool,
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
                    latest,
                    reference,
                ));
                for (_, frame) in frames {
                    conn.push(frame);
                }
            }
            None => {
                conn.push(protocol::subscribed_snapshot(
                    topic, epoch, seq, state, resumed, latest, reference,
                ));
            }
        }
        subscribers.push(Subscriber {
            conn: Arc::clone(conn),
            after: seq,
            latest,
        });
    }

    /// Removes `conn` from `topic`; durable topics without subscribers are dropped.
    pub fn unsubscribe(&self, topic: &str, conn_id: u64) {
        let durable = is_durable(topic);
        self.topics.remove_if_mut(topic, |_, t| {
            t.subscribers.retain(|s| s.conn.id != conn_id);
            if !t.subscribers.iter().any(|s| s.latest) {
                t.latest.clear();
            }
            durable && t.subscribers.is_empty()
        });
    }

    /// Publishes an event of a durable topic with its entity sequence. No-op without
    /// subscribers: the event is already stored for replay.
    pub fn publish_durable(
        &self,
        topic: &str,
        seq: u64,
        event: EventType,
        data: &Value,
        at: Millis,
    ) {
        if let Some(mut entry) = self.topics.get_mut(topic) {
            let frame = protocol::event(topic, seq, event.as_str(), data, at);
            let t = &mut *entry;
            t.seq = t.seq.max(seq);
            self.deliver(topic, t, seq, event, data, frame);
        }
    }

    /// Publishes an event of a volatile topic, numbering it. `update` runs first under the
    /// topic's lock: a state change made there and its event reach every subscriber in one
    /// order, so a snapshot never runs ahead of the sequence it claims.
    pub fn publish_volatile(
        &self,
        topic: &str,
        event: EventType,
        data: &Value,
        at: Millis,
        update: impl FnOnce(),
    ) {
        let mut entry = self.topics.entry(topic.to_owned()).or_default();
        update();
        let t = &mut *entry;
        t.seq += 1;
        let frame = protocol::event(topic, t.seq, event.as_str(), data, at);
        t.ring.push_back((t.seq, frame.clone()));
        while t.ring.len() > self.replay_buffer {
            t.ring.pop_front();
        }
        let seq = t.seq;
        self.deliver(topic, t, seq, event, data, frame);
    }

    /// Sends one event to a topic's subscribers, conflating `stock.changed` for latest-mode
    /// subscribers. Runs under the topic's lock.
    fn deliver(
        &self,
        name: &str,
        t: &mut Topic,
        seq: u64,
        event: EventType,
        data: &Value,
        frame: Frame,
    ) {
        if !t.subscribers.iter().any(|s| s.latest) {
            fan_out(&mut t.subscribers, seq, &frame, |_| true);
            return;
        }
        let product = (event == EventType::StockChanged)
            .then(|| data.get("product_id").and_then(Value::as_str))
            .flatten();
        let Some(product) = product else {
            // Not conflated: whatever stock is pending goes first, then the event, to everyone.
            flush(t, None);
            fan_out(&mut t.subscribers, seq, &frame, |_| true);
            return;
        };
        fan_out(&mut t.subscribers, seq, &frame, |s| !s.latest);
        let now = Instant::now();
        let interval = self.latest_interval;
        let slot = t.latest.entry(product.to_owned()).or_default();
        let due = slot.pending.is_none() && slot.last.is_none_or(|last| now >= last + interval);
        if due {
            slot.last = Some(now);
            fan_out(&mut t.subscribers, seq, &frame, |s| s.latest);
            if t.latest.len() > 64 && !t.timer_armed {
                t.latest
                    .retain(|_, slot| slot.last.is_some_and(|l| now < l + interval));
            }
            return;
        }
        let at = slot.last.map_or(now, |last| last + interval);
        slot.pending = Some((seq, frame));
        if !t.timer_armed {
            t.timer_armed = true;
            self.arm(name.to_owned(), at);
        }
    }

    /// Spawns the topic's flush task: it wakes when the earliest pending frame is due, sends
    /// every due frame, and ends when nothing is pending.
    fn arm(&self, name: String, mut at: Instant) {
        let topics = Arc::clone(&self.topics);
        let interval = self.latest_interval;
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime (only in unit tests): deliver at once.
            if let Some(mut entry) = topics.get_mut(&name) {
                entry.timer_armed = false;
                flush(&mut entry, None);
            }
            return;
        };
        runtime.spawn(async move {
            loop {
                tokio::time::sleep_until(at).await;
                let Some(mut entry) = topics.get_mut(&name) else {
                    return;
                };
                let now = Instant::now();
                let t = &mut *entry;
                flush(t, Some((now, interval)));
                let next = t
                    .latest
                    .values()
                    .filter(|slot| slot.pending.is_some())
                    .filter_map(|slot| slot.last)
                    .map(|last| last + interval)
                    .min();
                match next {
                    Some(next) => at = next.max(now + Duration::from_millis(1)),
                    None => {
                        t.latest
                            .retain(|_, slot| slot.last.is_some_and(|l| now < l + interval));
                        t.timer_armed = false;
                        return;
                    }
                }
            }
        });
    }

    /// Number of subscribers of `topic` (for tests and metrics).
    pub fn subscriber_count(&self, topic: &str) -> usize {
        self.topics.get(topic).map_or(0, |t| t.subscribers.len())
    }
}

/// Pushes `frame` to the subscribers `to` selects that have not yet covered `seq`; drops
/// those whose connection is gone or lagged.
fn fan_out(
    subscribers: &mut Vec<Subscriber>,
    seq: u64,
    frame: &Frame,
    to: impl Fn(&Subscriber) -> bool,
) {
    let mut delivered = 0u64;
    subscribers.retain(|s| {
        if s.after >= seq || !to(s) {
            return true;
        }
        let queued = s.conn.push_uncounted(frame.clone());
        delivered += u64::from(queued);
        queued && !s.conn.is_closing()
    });
    crate::observability::HOT.ws_deliveries.increment(delivered);
}

/// Sends pending conflated frames to the latest-mode subscribers: all of them, or with
/// `Some((now, interval))` only those whose product's interval has passed.
fn flush(t: &mut Topic, due: Option<(Instant, Duration)>) {
    let mut frames: Vec<(u64, Frame)> = Vec::new();
    for slot in t.latest.values_mut() {
        let ready = match due {
            None => true,
            Some((now, interval)) => slot.last.is_none_or(|last| now >= last + interval),
        };
        if ready && let Some(frame) = slot.pending.take() {
            slot.last = Some(due.map_or_else(Instant::now, |(now, _)| now));
            frames.push(frame);
        }
    }
    frames.sort_unstable_by_key(|(seq, _)| *seq);
    for (seq, frame) in frames {
        fan_out(&mut t.subscribers, seq, &frame, |s| s.latest);
    }
}

/// Whether `topic` numbers its events by a durable entity version.
pub fn is_durable(topic: &str) -> bool {
    ["product:", "order:", "cart:"]
        .iter()
        .any(|prefix| topic.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stock(product: &str, available: i64) -> Value {
        json!({"product_id": product, "available": available})
    }

    #[tokio::test]
    async fn latest_mode_sends_at_most_one_stock_change_per_interval_and_always_the_newest() {
        let hub = Hub::new(16).with_latest_interval(Duration::from_millis(100));
        let (latest, mut latest_rx) = Connection::new(1, 64);
        let (all, mut all_rx) = Connection::new(2, 64);
        let (latest, all) = (Arc::new(latest), Arc::new(all));
        let topic = "product:p1";
        for (conn, mode) in [(&latest, true), (&all, false)] {
            assert!(hub.subscribe_durable(
                topic,
                conn,
                mode,
                None,
                None,
                || Some((0, json!({}))),
                |_, _| None
            ));
        }
        let _ = (latest_rx.recv().await, all_rx.recv().await);
        let published = tokio::time::Instant::now();
        for seq in 1..=5 {
            hub.publish_durable(
                topic,
                seq,
                EventType::StockChanged,
                &stock("p1", seq as i64),
                0,
            );
        }
        let seqs = |rx: &mut tokio::sync::mpsc::Receiver<Frame>| {
            let mut out = Vec::new();
            while let Ok(frame) = rx.try_recv() {
                let v: Value = serde_json::from_str(frame.as_str()).expect("json");
                out.push(v["seq"].as_u64().expect("seq"));
            }
            out
        };
        assert_eq!(seqs(&mut all_rx), [1, 2, 3, 4, 5]);
        assert_eq!(
            seqs(&mut latest_rx),
            [1],
            "the first change goes out at once"
        );
        // Poll rather than sleep: the newest must come, and not before the interval is over.
        let flushed = loop {
            let got = seqs(&mut latest_rx);
            if !got.is_empty() {
                break got;
            }
            assert!(
                published.elapsed() < Duration::from_secs(2),
                "never flushed"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert!(
            published.elapsed() >= Duration::from_millis(95),
            "flushed after {:?}, inside the 100 ms interval",
            published.elapsed()
        );
        assert_eq!(flushed, [5], "then only the newest, after the interval");
        hub.publish_durable(topic, 6, EventType::StockChanged, &stock("p1", 6), 0);
        hub.publish_durable(topic, 7, EventType::ProductUpdated, &json!({"id": "p1"}), 0);
        assert_eq!(
            seqs(&mut latest_rx),
            [6, 7],
            "other events flush what is pending first"
        );
    }
}
