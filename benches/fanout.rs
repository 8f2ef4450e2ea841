//! Cost of one publish fanned out to N in-process subscribers, against a bare broadcast channel.
//!
//! - `hub_fanout/emporium/{N}`: N [`Connection`]s (the hub's handle on a WebSocket connection,
//!   with the server's default outbound queue of 4096 frames) subscribe to one `product:` topic
//!   through [`Hub::subscribe_durable`], as `http::socket` does for a client's `subscribe` (the
//!   `subscribed` frames are drained before measuring). One iteration is one
//!   [`Hub::publish_durable`] of a `stock.changed` event — render the frame once, then push it
//!   into every subscriber's queue under the topic's lock — followed by draining every queue
//!   with `try_recv`, so it ends when all N subscribers have the frame. No sockets: this is the
//!   hub's own cost, not the writer tasks' or the kernel's.
//! - `hub_fanout/broadcast/{N}`, the baseline, in the same run: a `tokio::sync::broadcast`
//!   channel with N receivers; one iteration renders the same frame with the same function,
//!   `send`s it once and `try_recv`s it on all N receivers.
//! - `hub_fanout/render_frame`: rendering the frame alone, the part both share.
//!
//! Criterion's throughput line is deliveries per second (N per iteration). The production
//! metrics recorder is installed, so the per-delivery counter costs what it does in the server.
//!
//! Run: `cargo bench --bench fanout` (under a minute on two cores).

mod common;

use criterion::{BenchmarkId, Criterion, Throughput};
use emporium::{
    domain::{
        ids::{ProductId, StoreId},
        time::now_ms,
    },
    observability,
    realtime::{Frame, Hub, connection::Connection, protocol},
};
use serde_json::{Value, json};
use std::{hint::black_box, sync::Arc};
use tokio::sync::{broadcast, mpsc};

/// Subscriber counts.
const SUBSCRIBERS: [usize; 3] = [100, 1_000, 10_000];
/// The server's default `ws.outbound_queue` and `ws.replay_buffer`.
const OUTBOUND_QUEUE: usize = 4096;
const REPLAY_BUFFER: u64 = 1024;

/// `stock.changed` data shaped as the product actor renders it.
fn stock_changed(product: &ProductId, store: &StoreId, version: u64) -> Value {
    json!({
        "product_id": product,
        "store_id": store,
        "on_hand": 1_000_000,
        "reserved": version,
        "available": 1_000_000 - version as i64,
        "version": version,
        "cause": "reservation",
    })
}

/// A hub with `n` subscribers on `topic`; returns their outbound queues (already drained of
/// the `subscribed` frame) and keeps the connections alive through the hub.
fn subscribed_hub(topic: &str, n: usize) -> (Hub, Vec<mpsc::Receiver<Frame>>) {
    let hub = Hub::new(REPLAY_BUFFER);
    let queues = (1..=n as u64)
        .map(|id| {
            let (conn, mut queue) = Connection::new(id, OUTBOUND_QUEUE);
            let conn = Arc::new(conn);
            let subscribed = hub.subscribe_durable(
                topic,
                &conn,
                false,
                None,
                None,
                || Some((0, json!({"available": 1_000_000}))),
                |_, _| None,
            );
            assert!(subscribed, "subscribe");
            queue.try_recv().expect("subscribed frame");
            queue
        })
        .collect();
    assert_eq!(hub.subscriber_count(topic), n);
    (hub, queues)
}

fn fanout_benches(c: &mut Criterion) {
    let product = ProductId::generate();
    let store = StoreId::generate();
    let topic = format!("product:{product}");
    let mut group = c.benchmark_group("hub_fanout");

    group.throughput(Throughput::Elements(1));
    group.bench_function("render_frame", |b| {
        let data = stock_changed(&product, &store, 1);
        b.iter(|| black_box(protocol::event(&topic, 1, "stock.changed", &data, now_ms())));
    });

    for n in SUBSCRIBERS {
        group.throughput(Throughput::Elements(n as u64));

        let (hub, mut queues) = subscribed_hub(&topic, n);
        let mut seq = 0;
        group.bench_function(BenchmarkId::new("emporium", n), |b| {
            b.iter(|| {
                seq += 1;
                let data = stock_changed(&product, &store, seq);
                hub.publish_durable(
                    &topic,
                    seq,
                    emporium::realtime::EventType::StockChanged,
                    &data,
                    now_ms(),
                );
                for queue in &mut queues {
                    black_box(queue.try_recv().expect("frame delivered"));
                }
            });
        });
        // Nobody lagged or was dropped.
        assert_eq!(hub.subscriber_count(&topic), n);
        drop((hub, queues));

        let (tx, _) = broadcast::channel::<Frame>(16);
        let mut receivers: Vec<_> = (0..n).map(|_| tx.subscribe()).collect();
        let mut seq = 0;
        group.bench_function(BenchmarkId::new("broadcast", n), |b| {
            b.iter(|| {
                seq += 1;
                let data = stock_changed(&product, &store, seq);
                let frame = protocol::event(&topic, seq, "stock.changed", &data, now_ms());
                tx.send(frame).expect("send");
                for rx in &mut receivers {
                    black_box(rx.try_recv().expect("frame delivered"));
                }
            });
        });
    }
    group.finish();
}

fn main() {
    observability::install();
    let mut c = common::config();
    fanout_benches(&mut c);
    c.final_summary();
}
