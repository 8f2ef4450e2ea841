//! WebSocket fuzz (issue 5): hostile clients send random bytes, random JSON, malformed and
//! oversized frames and random ops and topics, while a well-behaved subscriber keeps getting
//! every event of its product in order and its pings answered; the server never goes down.
//!
//! `WS_FUZZ_SEED=<n>` replays a run's random frames (the seed is printed).

use crate::helpers::*;
use futures_util::{SinkExt, StreamExt};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};
use tokio_tungstenite::tungstenite::{
    Message,
    protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    },
};

const FUZZERS: u64 = 4;
/// Each fuzzer sends at least this many frames, and goes on until the writes are done.
const FRAMES_PER_FUZZER: usize = 400;
const WRITES: u64 = 120;

fn random_string(rng: &mut StdRng, max: usize) -> String {
    let len = rng.random_range(0..=max);
    match rng.random_range(0..3) {
        0 => (0..len)
            .map(|_| rng.random_range(b' '..=b'~') as char)
            .collect(),
        1 => (0..len).map(|_| rng.random::<char>()).collect(),
        _ => "\u{0}\u{FEFF}\u{202E}💥🛒".repeat(len / 4 + 1),
    }
}

fn random_json(rng: &mut StdRng, depth: u32) -> Value {
    match rng.random_range(0..if depth == 0 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => match rng.random_range(0..4) {
            0 => json!(rng.random::<i64>()),
            1 => json!(rng.random::<u64>()),
            2 => json!(rng.random::<f64>() * 1e300),
            _ => json!(-1),
        },
        3 | 4 => json!(random_string(rng, 40)),
        5 => Value::Array(
            (0..rng.random_range(0..5))
                .map(|_| random_json(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Object(
            (0..rng.random_range(0..5))
                .map(|_| (random_string(rng, 10), random_json(rng, depth - 1)))
                .collect(),
        ),
    }
}

/// A protocol-shaped message with random ops, topics, resume points and extra fields.
fn random_op(rng: &mut StdRng, product: &str, store: &str) -> Value {
    const OPS: &[&str] = &[
        "subscribe",
        "unsubscribe",
        "auth",
        "ping",
        "pong",
        "",
        "SUBSCRIBE",
        "publish",
    ];
    let topics = [
        format!("product:{product}"),
        format!("store:{store}"),
        format!("store:{store}:orders"),
        format!("product:{}", random_string(rng, 30)),
        "order:ord_nope".to_owned(),
        "cart:cart_nope".to_owned(),
        "product:".to_owned(),
        ":".repeat(rng.random_range(0..50)),
        random_string(rng, 300),
    ];
    let mut op = serde_json::Map::new();
    if rng.random_range(0..10) > 0 {
        let name = if rng.random_bool(0.9) {
            json!(OPS[rng.random_range(0..OPS.len())])
        } else {
            random_json(rng, 1)
        };
        op.insert("op".into(), name);
    }
    if rng.random_bool(0.8) {
        let topic = if rng.random_bool(0.9) {
            json!(topics[rng.random_range(0..topics.len())])
        } else {
            random_json(rng, 1)
        };
        op.insert("topic".into(), topic);
    }
    if rng.random_bool(0.3) {
        let since = match rng.random_range(0..4) {
            0 => json!({"epoch": "d1", "seq": rng.random::<u64>()}),
            1 => json!({"epoch": random_string(rng, 8), "seq": rng.random_range(0..50)}),
            2 => json!({"epoch": "d1", "seq": -1}),
            _ => random_json(rng, 2),
        };
        op.insert("since".into(), since);
    }
    if rng.random_bool(0.2) {
        let mode = if rng.random_bool(0.5) {
            json!("latest")
        } else {
            random_json(rng, 1)
        };
        op.insert("mode".into(), mode);
    }
    if rng.random_bool(0.3) {
        op.insert("ref".into(), random_json(rng, 2));
    }
    if rng.random_bool(0.2) {
        let token = if rng.random_bool(0.5) {
            json!(format!(
                "ey{}.{}.x",
                random_string(rng, 20),
                random_string(rng, 20)
            ))
        } else {
            random_json(rng, 1)
        };
        op.insert("token".into(), token);
    }
    if rng.random_bool(0.1) {
        op.insert(random_string(rng, 12), random_json(rng, 2));
    }
    Value::Object(op)
}

/// One hostile frame.
fn random_frame(rng: &mut StdRng, product: &str, store: &str) -> Message {
    match rng.random_range(0..100) {
        0..=9 => Message::Binary(
            (0..rng.random_range(0..512))
                .map(|_| rng.random::<u8>())
                .collect::<Vec<u8>>()
                .into(),
        ),
        10..=19 => Message::Text(random_string(rng, 200).into()),
        20..=34 => Message::Text(random_json(rng, 4).to_string().into()),
        35..=79 => Message::Text(random_op(rng, product, store).to_string().into()),
        80..=84 => {
            // Truncated or garbled JSON.
            let text = random_op(rng, product, store).to_string();
            let cut = rng.random_range(0..=text.len());
            Message::Text(text.get(..cut).unwrap_or("{").to_owned().into())
        }
        85..=87 => {
            // Deep nesting.
            let depth = rng.random_range(100..20_000);
            Message::Text(format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into())
        }
        88..=89 => {
            // Invalid UTF-8 in a text frame.
            let mut bytes: Vec<u8> = br#"{"op":"ping","ref":""#.to_vec();
            bytes.extend([0xff, 0xfe, 0xc3, 0x28]);
            bytes.extend(br#""}"#);
            Message::Frame(Frame::message(bytes, OpCode::Data(Data::Text), true))
        }
        90..=91 => {
            // A fragment that never finishes, or a continuation out of nowhere.
            let opcode = if rng.random_bool(0.5) {
                OpCode::Data(Data::Text)
            } else {
                OpCode::Data(Data::Continue)
            };
            Message::Frame(Frame::message(&b"{\"op\":"[..], opcode, false))
        }
        92..=93 => {
            // Over the 64 KiB frame limit: close 1008 expected.
            let size = rng.random_range(65 * 1024..300 * 1024);
            Message::Text(format!("{{\"op\":\"ping\",\"ref\":\"{}\"}}", "x".repeat(size)).into())
        }
        94..=96 => Message::Ping(
            (0..rng.random_range(0..=125))
                .map(|_| rng.random::<u8>())
                .collect::<Vec<u8>>()
                .into(),
        ),
        _ => Message::Pong(vec![1, 2, 3].into()),
    }
}

#[derive(Default)]
struct Tally {
    done: AtomicBool,
    frames: AtomicUsize,
    connections: AtomicUsize,
    replies: AtomicUsize,
}

/// Sends `FRAMES_PER_FUZZER` hostile frames, reconnecting whenever the server hangs up.
async fn fuzzer(addr: SocketAddr, seed: u64, product: String, store: String, tally: Arc<Tally>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let url = format!("ws://{addr}/api/v1/ws");
    let mut sent = 0;
    let more = |sent: usize| sent < FRAMES_PER_FUZZER || !tally.done.load(Ordering::Relaxed);
    while more(sent) {
        let Ok((stream, _)) = tokio_tungstenite::connect_async(&url).await else {
            panic!("the server refused a new WebSocket after {sent} frames");
        };
        tally.connections.fetch_add(1, Ordering::Relaxed);
        let (mut sink, mut source) = stream.split();
        // Drain whatever the server answers, so its queue for us never backs up.
        let drain = {
            let tally = tally.clone();
            tokio::spawn(async move {
                while let Some(Ok(_)) = source.next().await {
                    tally.replies.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        while more(sent) {
            let frame = random_frame(&mut rng, &product, &store);
            sent += 1;
            tally.frames.fetch_add(1, Ordering::Relaxed);
            // A server that stopped reading us (it closed after a bad frame) must not stall
            // a big send forever: give up on the connection instead.
            let sent_ok = tokio::time::timeout(Duration::from_secs(2), sink.send(frame)).await;
            if !matches!(sent_ok, Ok(Ok(()))) || drain.is_finished() {
                break;
            }
            if rng.random_range(0..8) == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.close()).await;
        drain.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_fuzz_hostile_frames_leave_other_clients_and_the_server_unharmed() {
    let seed: u64 = std::env::var("WS_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    eprintln!("ws_fuzz: seed {seed} (WS_FUZZ_SEED={seed} replays the frames)");
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let mut server = tokio::task::spawn_blocking({
        let dir = dir.path().to_path_buf();
        move || ServerProcess::start(&dir, &[])
    })
    .await
    .expect("server starts");
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let store = create_store(&client, addr).await;
    let product = create_product(&client, addr, &store, 1000).await;

    // The well-behaved subscriber.
    let mut good = Ws::connect(&format!("ws://{addr}/api/v1/ws")).await;
    let reply = good.subscribe(&format!("product:{product}")).await;
    let first = reply["seq"].as_u64().expect("seq");
    assert_eq!(reply["snapshot"]["on_hand"], 1000, "{reply}");

    let tally = Arc::new(Tally::default());
    let fuzzers: Vec<_> = (0..FUZZERS)
        .map(|n| {
            tokio::spawn(fuzzer(
                addr,
                seed.wrapping_add(n),
                product.clone(),
                store.clone(),
                tally.clone(),
            ))
        })
        .collect();
    let writer = {
        let (client, product) = (client.clone(), product.clone());
        tokio::spawn(async move {
            for _ in 0..WRITES {
                adjust_stock(&client, addr, &product, 1).await;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    };

    // Every event, in order, with pings answered along the way.
    let (mut seq, mut on_hand, mut pings, mut pongs) = (first, 1000, 0u64, 0u64);
    let mut pinged_at = None;
    while seq < first + WRITES {
        if (seq - first) % 10 == 0 && pinged_at != Some(seq) {
            pinged_at = Some(seq);
            pings += 1;
            good.send_json(json!({"op": "ping", "ref": format!("good-{pings}")}))
                .await;
        }
        let frame = good.next_json().await;
        if frame["type"] == "pong" {
            pongs += 1;
            assert_eq!(frame["ref"], format!("good-{pongs}"), "{frame}");
            continue;
        }
        seq += 1;
        on_hand += 1;
        assert_eq!(frame["type"], "event", "{frame}");
        assert_eq!(frame["seq"], seq, "gap or duplicate: {frame}");
        assert_eq!(frame["data"]["on_hand"], on_hand, "{frame}");
    }
    while pongs < pings {
        let frame = good.next_json().await;
        assert_eq!(frame["type"], "pong", "{frame}");
        pongs += 1;
    }
    writer.await.expect("writer");
    tally.done.store(true, Ordering::Relaxed);
    for fuzzer in fuzzers {
        tokio::time::timeout(Duration::from_secs(30), fuzzer)
            .await
            .expect("fuzzer finishes")
            .expect("fuzzer");
    }
    good.assert_nothing_pending().await;

    // Still up and serving: health, a fresh subscriber, and the process never died.
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .expect("healthz answers");
    assert_eq!(health.status(), 200);
    let mut fresh = Ws::connect(&format!("ws://{addr}/api/v1/ws")).await;
    let reply = fresh.subscribe(&format!("product:{product}")).await;
    assert_eq!(reply["seq"], first + WRITES, "{reply}");
    assert!(
        server.child.try_wait().expect("try_wait").is_none(),
        "the server exited"
    );
    println!(
        "ws_fuzz: {} hostile frames over {} connections ({} server frames back); \
         the subscriber got all {WRITES} events in order and {pongs} pongs",
        tally.frames.load(Ordering::Relaxed),
        tally.connections.load(Ordering::Relaxed),
        tally.replies.load(Ordering::Relaxed),
    );
    drop(server);
}
