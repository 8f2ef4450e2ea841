//! WebSocket live updates (docs/API.md §9), driven by a real tokio-tungstenite client.

use crate::helpers::*;
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::{self, Message};

/// Checks one `stock.changed` frame against the product, its expected sequence and numbers.
fn assert_stock_changed(
    frame: &Value,
    product_id: &str,
    store_id: &str,
    seq: u64,
    (on_hand, reserved): (i64, i64),
    cause: &str,
) {
    let topic = format!("product:{product_id}");
    assert_eq!(frame["type"], "event", "{frame}");
    assert_eq!(frame["topic"], topic.as_str(), "{frame}");
    assert_eq!(frame["event"], "stock.changed", "{frame}");
    assert_eq!(frame["seq"], seq, "gap or reorder: {frame}");
    let at = frame["at"].as_str().expect("at is a string");
    assert!(
        at.ends_with('Z') && at.len() == "2026-11-21T23:04:19.123Z".len(),
        "at is RFC 3339 UTC with ms: {at}"
    );
    assert_eq!(
        frame["data"],
        json!({
            "product_id": product_id, "store_id": store_id,
            "on_hand": on_hand, "reserved": reserved, "available": on_hand - reserved,
            "version": seq, "cause": cause,
        }),
        "{frame}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_topic_sends_a_snapshot_then_every_stock_change_in_order_without_gaps() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 50).await;
    let topic = format!("product:{product}");
    let mut ws = app.ws().await;

    ws.send_json(json!({"op": "subscribe", "topic": topic, "ref": "a1"}))
        .await;
    let subscribed = ws.next_json().await;
    let inventory = app.inventory(&product).await;
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");
    assert_eq!(subscribed["topic"], topic.as_str());
    assert_eq!(subscribed["epoch"], "d1");
    assert_eq!(subscribed["ref"], "a1");
    assert_eq!(
        subscribed["snapshot"], inventory,
        "snapshot is the inventory"
    );
    assert_eq!(subscribed["seq"], subscribed["snapshot"]["version"]);
    assert!(subscribed.get("reset").is_none(), "{subscribed}");
    let mut seq = subscribed["seq"].as_u64().expect("seq");

    let (client, addr) = (&app.client, app.addr);
    let first = reserve_stock(client, addr, &product, 3, None).await;
    let second = reserve_stock(client, addr, &product, 2, None).await;
    adjust_stock(client, addr, &product, 5).await;
    reservation_action(client, addr, first["id"].as_str().expect("id"), "commit").await;
    reservation_action(client, addr, second["id"].as_str().expect("id"), "release").await;
    adjust_stock(client, addr, &product, -4).await;
    let expected = [
        ((50, 3), "reservation"),
        ((50, 5), "reservation"),
        ((55, 5), "adjustment"),
        ((52, 2), "sale"),
        ((52, 0), "release"),
        ((48, 0), "adjustment"),
    ];
    for (levels, cause) in expected {
        seq += 1;
        let frame = ws.next_event().await;
        assert_stock_changed(&frame, &product, &store, seq, levels, cause);
    }

    // Concurrent writers: the topic still numbers every event exactly once, in order.
    let writers: Vec<_> = (0..20)
        .map(|_| {
            let (client, product) = (app.client.clone(), product.clone());
            tokio::spawn(async move { adjust_stock(&client, addr, &product, 1).await })
        })
        .collect();
    for writer in writers {
        writer.await.expect("adjustment task");
    }
    for on_hand in 49..=68 {
        seq += 1;
        let frame = ws.next_event().await;
        assert_stock_changed(&frame, &product, &store, seq, (on_hand, 0), "adjustment");
    }
    ws.assert_nothing_pending().await;
    assert_eq!(app.inventory(&product).await["version"], seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_a_product_topic_with_since_replays_exactly_the_missed_events() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let topic = format!("product:{product}");
    let (client, addr) = (&app.client, app.addr);

    let mut ws = app.ws().await;
    let last_seen = ws.subscribe(&topic).await["seq"].as_u64().expect("seq");
    adjust_stock(client, addr, &product, 1).await;
    let last_seen = {
        let frame = ws.next_event().await;
        assert_eq!(frame["seq"], last_seen + 1);
        last_seen + 1
    };
    drop(ws);
    // A witness stays connected and sees the missed events live.
    let mut witness = app.ws().await;
    witness.subscribe(&topic).await;

    // Missed while disconnected.
    adjust_stock(client, addr, &product, 2).await;
    let hold = reserve_stock(client, addr, &product, 4, None).await;
    adjust_stock(client, addr, &product, -1).await;

    let mut ws = app.ws().await;
    let resumed = ws.subscribe_since(&topic, "d1", last_seen).await;
    assert_eq!(resumed["epoch"], "d1", "{resumed}");
    assert_eq!(resumed["replayed"], 3, "{resumed}");
    assert!(resumed.get("snapshot").is_none(), "{resumed}");
    assert!(resumed.get("reset").is_none(), "{resumed}");
    let expected = [
        ((13, 0), "adjustment"),
        ((13, 4), "reservation"),
        ((12, 4), "adjustment"),
    ];
    for (n, (levels, cause)) in (1..).zip(expected) {
        let frame = ws.next_event().await;
        assert_stock_changed(&frame, &product, &store, last_seen + n, levels, cause);
        assert_eq!(frame, witness.next_event().await, "replayed as sent live");
    }
    ws.assert_nothing_pending().await;

    // Live events continue right after the replay: no gap, no duplicate.
    reservation_action(client, addr, hold["id"].as_str().expect("id"), "release").await;
    let frame = ws.next_event().await;
    assert_stock_changed(&frame, &product, &store, last_seen + 4, (12, 0), "release");

    // Resuming from the current seq replays nothing.
    let mut other = app.ws().await;
    let resumed = other.subscribe_since(&topic, "d1", last_seen + 4).await;
    assert_eq!(resumed["replayed"], 0, "{resumed}");
    other.assert_nothing_pending().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_from_an_unknown_epoch_or_beyond_the_replay_buffer_gets_a_snapshot_with_reset() {
    let app = spawn_app_with(|config| config.ws.replay_buffer = 4).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let topic = format!("product:{product}");
    let mut ws = app.ws().await;
    let first = ws.subscribe(&topic).await["seq"].as_u64().expect("seq");
    for _ in 0..10 {
        adjust_stock(&app.client, app.addr, &product, 1).await;
    }
    let current = first + 10;
    let inventory = app.inventory(&product).await;
    assert_eq!(inventory["version"], current);

    let check_reset = async |epoch: &str, seq: u64| {
        let mut ws = app.ws().await;
        let reply = ws.subscribe_since(&topic, epoch, seq).await;
        assert_eq!(reply["reset"], true, "since {epoch}/{seq}: {reply}");
        assert_eq!(reply["snapshot"], inventory, "since {epoch}/{seq}: {reply}");
        assert_eq!(reply["seq"], current, "{reply}");
        assert_eq!(reply["epoch"], "d1", "{reply}");
        assert!(reply.get("replayed").is_none(), "{reply}");
        ws.assert_nothing_pending().await;
    };
    // 10 missed events, but only 4 are kept for resume.
    check_reset("d1", first).await;
    // An epoch this server never issued.
    check_reset("zzz", current).await;
    // A sequence from the future.
    check_reset("d1", current + 100).await;

    // Within the buffer, the same topic still replays.
    let mut ws2 = app.ws().await;
    let reply = ws2.subscribe_since(&topic, "d1", current - 3).await;
    assert_eq!(reply["replayed"], 3, "{reply}");
    for seq in current - 2..=current {
        assert_eq!(ws2.next_event().await["seq"], seq);
    }
    ws2.assert_nothing_pending().await;
    // The original subscriber saw all ten.
    for seq in first + 1..=current {
        assert_eq!(ws.next_event().await["seq"], seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_topic_snapshots_the_store_and_carries_its_products_stock_and_status_changes() {
    let app = spawn_app_with(|config| config.ws.replay_buffer = 4).await;
    let (client, addr) = (&app.client, app.addr);
    let store = app.create_store().await;
    let p1 = app.create_product(&store, 10).await;
    let p2 = app.create_product(&store, 20).await;
    let other_store = app.create_store().await;
    let elsewhere = app.create_product(&other_store, 5).await;
    let topic = format!("store:{store}");

    let mut ws = app.ws().await;
    let subscribed = ws.subscribe(&topic).await;
    let (status, store_body) = app.get(&format!("/api/v1/stores/{store}")).await;
    assert_eq!(status, 200);
    assert_eq!(subscribed["snapshot"], store_body, "snapshot is the store");
    let epoch = subscribed["epoch"].as_str().expect("epoch").to_owned();
    assert_ne!(epoch, "d1", "store topics are volatile");
    let mut seq = subscribed["seq"].as_u64().expect("seq");

    adjust_stock(client, addr, &p1, 5).await;
    reserve_stock(client, addr, &p2, 2, None).await;
    adjust_stock(client, addr, &elsewhere, 1).await; // another store: not on this topic
    let (status, closed) = app
        .admin_put(
            &format!("/api/v1/stores/{store}/status"),
            json!({"open": false}),
        )
        .await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["open"], false);

    let frame = ws.next_event().await;
    seq += 1;
    assert_eq!(frame["topic"], topic.as_str());
    assert_eq!(frame["seq"], seq, "{frame}");
    assert_eq!(frame["event"], "stock.changed");
    assert_eq!(frame["data"]["product_id"], p1.as_str());
    assert_eq!(frame["data"]["store_id"], store.as_str());
    assert_eq!(frame["data"]["on_hand"], 15);
    assert_eq!(frame["data"]["cause"], "adjustment");
    let frame = ws.next_event().await;
    seq += 1;
    assert_eq!(frame["seq"], seq, "{frame}");
    assert_eq!(frame["event"], "stock.changed");
    assert_eq!(frame["data"]["product_id"], p2.as_str());
    assert_eq!(frame["data"]["reserved"], 2);
    assert_eq!(frame["data"]["available"], 18);
    assert_eq!(frame["data"]["cause"], "reservation");
    let frame = ws.next_event().await;
    seq += 1;
    assert_eq!(frame["seq"], seq, "{frame}");
    assert_eq!(frame["event"], "store.status_changed");
    assert_eq!(frame["data"], closed, "data is the store");
    // Closing a closed store changes nothing and publishes nothing.
    let (status, again) = app
        .admin_put(
            &format!("/api/v1/stores/{store}/status"),
            json!({"open": false}),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    ws.assert_nothing_pending().await;
    drop(ws);

    // Missed while away; resume from the ring on the same server.
    adjust_stock(client, addr, &p2, -3).await;
    let (status, reopened) = app
        .admin_put(
            &format!("/api/v1/stores/{store}/status"),
            json!({"open": true}),
        )
        .await;
    assert_eq!(status, 200, "{reopened}");
    let mut ws = app.ws().await;
    let resumed = ws.subscribe_since(&topic, &epoch, seq).await;
    assert_eq!(resumed["replayed"], 2, "{resumed}");
    assert_eq!(resumed["epoch"], epoch.as_str());
    let frame = ws.next_event().await;
    assert_eq!(frame["seq"], seq + 1, "{frame}");
    assert_eq!(frame["data"]["product_id"], p2.as_str());
    assert_eq!(frame["data"]["on_hand"], 17);
    let frame = ws.next_event().await;
    assert_eq!(frame["seq"], seq + 2, "{frame}");
    assert_eq!(frame["event"], "store.status_changed");
    assert_eq!(frame["data"], reopened);
    ws.assert_nothing_pending().await;
    seq += 2;

    // Another epoch, or more missed events than the ring keeps (4): a fresh snapshot.
    let mut other = app.ws().await;
    let reply = other.subscribe_since(&topic, "zzz", seq).await;
    assert_eq!(reply["reset"], true, "{reply}");
    assert_eq!(reply["snapshot"], reopened, "{reply}");
    for _ in 0..6 {
        adjust_stock(client, addr, &p1, 1).await;
    }
    for n in 1..=6 {
        assert_eq!(ws.next_event().await["seq"], seq + n);
    }
    let mut late = app.ws().await;
    let reply = late.subscribe_since(&topic, &epoch, seq).await;
    assert_eq!(reply["reset"], true, "{reply}");
    assert_eq!(reply["seq"], seq + 6, "{reply}");
    assert_eq!(reply["snapshot"]["id"], store.as_str());
    late.assert_nothing_pending().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_frames_get_error_replies_and_the_connection_keeps_working() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let mut ws = app.ws().await;

    ws.send_text("this is not json").await;
    let frame = ws.next_json().await;
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], "invalid_message", "{frame}");

    ws.send_json(json!({"op": "dance", "ref": "d"})).await;
    let frame = ws.next_json().await;
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], "invalid_message", "{frame}");

    ws.send_json(json!({"op": "subscribe"})).await;
    let frame = ws.next_json().await;
    assert_eq!(frame["code"], "invalid_message", "{frame}");

    ws.stream
        .send(Message::Binary(vec![1u8, 2, 3].into()))
        .await
        .expect("send binary");
    let frame = ws.next_json().await;
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], "invalid_message", "{frame}");

    for topic in [
        "product:prod_doesnotexist0000000000000".to_owned(),
        format!("product:{}", product.replace("prod_", "prod_x")),
        "nonsense:1".to_owned(),
        "product".to_owned(),
        format!("store:{store}:nope"),
    ] {
        ws.send_json(json!({"op": "subscribe", "topic": topic, "ref": 7}))
            .await;
        let frame = ws.next_json().await;
        assert_eq!(frame["type"], "error", "{topic}: {frame}");
        assert_eq!(frame["code"], "not_found", "{topic}: {frame}");
        assert_eq!(frame["topic"], topic.as_str(), "{frame}");
        assert_eq!(frame["ref"], 7, "{frame}");
    }

    // Still healthy.
    ws.send_json(json!({"op": "ping", "ref": "p1"})).await;
    assert_eq!(ws.next_json().await, json!({"type": "pong", "ref": "p1"}));
    let topic = format!("product:{product}");
    ws.subscribe(&topic).await;
    adjust_stock(&app.client, app.addr, &product, 1).await;
    assert_eq!(ws.next_event().await["data"]["on_hand"], 11);
    ws.send_json(json!({"op": "unsubscribe", "topic": topic, "ref": "u"}))
        .await;
    assert_eq!(
        ws.next_json().await,
        json!({"type": "unsubscribed", "topic": topic, "ref": "u"})
    );
    adjust_stock(&app.client, app.addr, &product, 1).await;
    ws.assert_nothing_pending().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_than_a_hundred_errors_in_a_minute_close_the_connection_with_1008() {
    let app = spawn_app().await;
    let mut ws = app.ws().await;
    for _ in 0..100 {
        ws.send_text("{").await;
    }
    for _ in 0..100 {
        assert_eq!(ws.next_json().await["type"], "error");
    }
    // A hundred errors are tolerated...
    ws.send_json(json!({"op": "ping"})).await;
    assert_eq!(ws.next_json().await, json!({"type": "pong"}));
    // ...the 101st within the minute is not.
    ws.send_text("{").await;
    assert_eq!(ws.close_code(Duration::from_secs(5)).await, Some(1008));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_over_64_kib_closes_the_connection_with_1008() {
    let app = spawn_app().await;
    let mut ws = app.ws().await;
    // Exactly 64 KiB is still a frame like any other.
    let frame_of = |len: usize| {
        let envelope = r#"{"op":"ping","ref":""}"#.len();
        format!(r#"{{"op":"ping","ref":"{}"}}"#, "x".repeat(len - envelope))
    };
    let text = frame_of(64 * 1024);
    assert_eq!(text.len(), 65_536);
    ws.send_text(&text).await;
    let pong = ws.next_json().await;
    assert_eq!(pong["type"], "pong");
    assert_eq!(pong["ref"].as_str().map(str::len), Some(65_536 - 22));

    // One byte more closes the connection as a policy violation.
    ws.send_text(&frame_of(64 * 1024 + 1)).await;
    assert_eq!(ws.close_code(Duration::from_secs(5)).await, Some(1008));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_is_closed_as_lagged_while_others_get_every_event() {
    // On loopback the kernel buffers megabytes per socket, far more than 60 small events.
    // So the product is made large (~200 KB as JSON) first: each `product.updated` then
    // carries all of it, and a few dozen of them back up a client that does not read.
    const EVENTS: u64 = 60;
    const LARGE: u64 = 30;
    let app = spawn_app_with(|config| config.ws.outbound_queue = 8).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let attributes: serde_json::Map<String, Value> = (0..50)
        .map(|n| {
            (
                format!("{n:0>2}{}", "k".repeat(98)),
                json!("😀".repeat(500)),
            )
        })
        .collect();
    let image_urls: Vec<String> = (0..20)
        .map(|n| format!("https://img.example/{n}/{}", "p".repeat(2000)))
        .collect();
    let (status, body) = app
        .admin_patch(
            &format!("/api/v1/products/{product}"),
            json!({"description": "😀".repeat(10_000), "attributes": attributes, "image_urls": image_urls}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let topic = format!("product:{product}");
    let store_topic = format!("store:{store}");

    // The slow client takes every event twice (product and store topic) and never reads.
    let mut slow = Ws::connect_small_buffer(&app.ws_url(), app.addr).await;
    let first = slow.subscribe(&topic).await["seq"].as_u64().expect("seq");
    let store_first = slow.subscribe(&store_topic).await["seq"]
        .as_u64()
        .expect("seq");
    let mut good = app.ws().await;
    assert_eq!(good.subscribe(&topic).await["seq"], first);

    // Each write is acknowledged, then the good client reads its event. The time from the
    // write to the event (which includes the acknowledgement, since fan-out may run before
    // the answer) is the delivery delay the stalled client must not cause.
    let mut frames = Vec::new();
    let mut delays = Vec::new();
    for n in 0..EVENTS {
        let sent = std::time::Instant::now();
        if n < LARGE {
            let (status, body) = app
                .admin_patch(
                    &format!("/api/v1/products/{product}"),
                    json!({"name": format!("Large product {n}")}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        } else {
            adjust_stock(&app.client, app.addr, &product, 1).await;
        }
        frames.push(good.next_event().await);
        delays.push(sent.elapsed());
    }
    good.assert_nothing_pending().await;
    for (n, frame) in (1..).zip(&frames) {
        assert_eq!(frame["seq"], first + n, "good client saw a gap: {frame}");
        if n > LARGE {
            assert_eq!(frame["event"], "stock.changed", "{frame}");
            assert_eq!(frame["data"]["on_hand"], 10 + (n - LARGE) as i64);
        } else {
            assert_eq!(frame["event"], "product.updated", "{frame}");
            assert_eq!(frame["data"]["name"], format!("Large product {}", n - 1));
        }
    }
    // A generous bound (delivery on loopback takes a few ms; a debug build on a busy machine
    // much more): it only catches fan-out that waits on the stalled socket.
    delays.sort_unstable();
    let p99 = delays[(delays.len() * 99).div_ceil(100) - 1];
    eprintln!(
        "good client: write → event p99 {p99:?}, median {:?}",
        delays[delays.len() / 2]
    );
    assert!(
        p99 < Duration::from_millis(250),
        "the stalled client delayed the good one: write → event p99 {p99:?} (all: {delays:?})"
    );

    // The slow client finds some events, in order, then the lagged close; never all of them.
    let (mut seen, mut store_seen) = (0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let code = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match tokio::time::timeout(left, futures_util::StreamExt::next(&mut slow.stream)).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let frame: Value = serde_json::from_str(&text).expect("json");
                if frame["topic"] == topic.as_str() {
                    seen += 1;
                    assert_eq!(frame["seq"], first + seen, "slow client saw a gap");
                } else {
                    store_seen += 1;
                    assert_eq!(
                        frame["seq"],
                        store_first + store_seen,
                        "slow client saw a gap"
                    );
                }
            }
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close frame after {seen} events, got {other:?}"),
        }
    };
    assert_eq!(code, Some(4008), "closed as lagged");
    assert!(
        seen < EVENTS,
        "the slow client was not lagged ({seen} events)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_on_the_upgrade_is_refused_and_the_auth_op_authenticates() {
    let app = spawn_app().await;
    let refused = tokio_tungstenite::connect_async(format!("{}?token=wrong", app.ws_url())).await;
    match refused {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 401),
        other => panic!(
            "expected HTTP 401, got {:?}",
            other.map(|(_, r)| r.status())
        ),
    }

    let mut admin = Ws::connect(&format!("{}?token={ADMIN_TOKEN}", app.ws_url())).await;
    admin.send_json(json!({"op": "ping"})).await;
    assert_eq!(admin.next_json().await["type"], "pong");

    let mut ws = app.ws().await;
    ws.send_json(json!({"op": "auth", "token": "wrong", "ref": 1}))
        .await;
    let frame = ws.next_json().await;
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["code"], "unauthorized", "{frame}");
    assert_eq!(frame["ref"], 1);
    ws.send_json(json!({"op": "auth", "token": ADMIN_TOKEN, "ref": 2}))
        .await;
    assert_eq!(
        ws.next_json().await,
        json!({"type": "authenticated", "role": "admin", "ref": 2})
    );
    ws.send_json(json!({"op": "ping"})).await;
    assert_eq!(ws.next_json().await["type"], "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_low_and_product_updated_take_their_own_seq_on_the_product_topic() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let topic = format!("product:{product}");
    let mut ws = app.ws().await;
    let mut store_ws = app.ws().await;
    let seq = ws.subscribe(&topic).await["seq"].as_u64().expect("seq");
    let store_seq = store_ws.subscribe(&format!("store:{store}")).await["seq"]
        .as_u64()
        .expect("seq");

    // Raising the threshold above what is available: product.updated, then stock.low.
    let (status, patched) = app
        .admin_patch(
            &format!("/api/v1/products/{product}"),
            json!({"low_stock_threshold": 20}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    let frame = ws.next_event().await;
    assert_eq!(frame["seq"], seq + 1, "{frame}");
    assert_eq!(frame["event"], "product.updated", "{frame}");
    assert_eq!(frame["data"]["id"], product.as_str());
    assert_eq!(frame["data"]["low_stock_threshold"], 20);
    assert_eq!(frame["data"]["stock"]["version"], seq + 1, "{frame}");
    let frame = ws.next_event().await;
    assert_eq!(frame["seq"], seq + 2, "{frame}");
    assert_eq!(frame["event"], "stock.low", "{frame}");
    assert_eq!(
        frame["data"],
        json!({"product_id": product, "available": 10, "threshold": 20})
    );

    // Back above the threshold (re-arms the alert), then below again with a hold.
    adjust_stock(&app.client, app.addr, &product, 15).await;
    reserve_stock(&app.client, app.addr, &product, 6, None).await;
    let frame = ws.next_event().await;
    assert_stock_changed(&frame, &product, &store, seq + 3, (25, 0), "adjustment");
    let frame = ws.next_event().await;
    assert_stock_changed(&frame, &product, &store, seq + 4, (25, 6), "reservation");
    let frame = ws.next_event().await;
    assert_eq!(frame["seq"], seq + 5, "{frame}");
    assert_eq!(frame["event"], "stock.low", "{frame}");
    assert_eq!(frame["data"]["available"], 19);
    ws.assert_nothing_pending().await;
    let inventory = app.inventory(&product).await;
    assert_eq!(
        inventory["version"],
        seq + 5,
        "version counts stock.low too"
    );

    // The store topic carries product.updated and stock.changed, but not stock.low.
    let kinds: Vec<(Value, Value)> = {
        let mut kinds = Vec::new();
        for _ in 0..3 {
            let frame = store_ws.next_event().await;
            kinds.push((frame["seq"].clone(), frame["event"].clone()));
        }
        kinds
    };
    assert_eq!(
        kinds,
        [
            (json!(store_seq + 1), json!("product.updated")),
            (json!(store_seq + 2), json!("stock.changed")),
            (json!(store_seq + 3), json!("stock.changed")),
        ]
    );
    store_ws.assert_nothing_pending().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_hold_is_announced_with_cause_expiry_within_a_second() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let mut ws = app.ws().await;
    let seq = ws.subscribe(&format!("product:{product}")).await["seq"]
        .as_u64()
        .expect("seq");
    let hold = reserve_stock(&app.client, app.addr, &product, 4, Some(1)).await;
    let frame = ws.next_event().await;
    assert_stock_changed(&frame, &product, &store, seq + 1, (10, 4), "reservation");
    let frame = ws.next_event().await;
    assert_stock_changed(&frame, &product, &store, seq + 2, (10, 0), "expiry");
    let parse = |text: &Value| {
        chrono::DateTime::parse_from_rfc3339(text.as_str().expect("time")).expect("rfc3339")
    };
    let late = parse(&frame["at"]) - parse(&hold["expires_at"]);
    assert!(
        late >= chrono::TimeDelta::zero() && late <= chrono::TimeDelta::milliseconds(1000),
        "released {late} after expires_at"
    );
    let (status, body) = app
        .admin_get(&format!(
            "/api/v1/reservations/{}",
            hold["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_joining_during_a_write_burst_see_their_snapshot_then_every_later_event() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 1000).await;
    let topic = format!("product:{product}");
    const WRITES: i64 = 80;
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (client, product, addr) = (app.client.clone(), product.clone(), app.addr);
            tokio::spawn(async move {
                for _ in 0..WRITES / 4 {
                    adjust_stock(&client, addr, &product, 1).await;
                }
            })
        })
        .collect();
    // Clients join at different moments of the burst; some resume, some take a snapshot.
    let mut joiners = Vec::new();
    for n in 0..8u64 {
        let (url, topic) = (app.ws_url(), topic.clone());
        joiners.push(tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(15 * n)).await;
            let mut ws = Ws::connect(&url).await;
            let reply = if n % 2 == 0 {
                ws.subscribe(&topic).await
            } else {
                ws.subscribe_since(&topic, "d1", 1).await
            };
            let (mut seq, mut on_hand) = match reply.get("replayed") {
                Some(_) => (1, 1000),
                None => {
                    let snapshot = &reply["snapshot"];
                    assert_eq!(reply["seq"], snapshot["version"], "{reply}");
                    (
                        snapshot["version"].as_u64().expect("version"),
                        snapshot["on_hand"].as_i64().expect("on_hand"),
                    )
                }
            };
            while on_hand < 1000 + WRITES {
                let frame = ws.next_event().await;
                seq += 1;
                on_hand += 1;
                assert_eq!(frame["seq"], seq, "joiner {n}: gap or duplicate: {frame}");
                assert_eq!(frame["data"]["on_hand"], on_hand, "joiner {n}: {frame}");
            }
            ws.assert_nothing_pending().await;
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    for joiner in joiners {
        joiner.await.expect("joiner saw a consistent stream");
    }
    assert_eq!(app.inventory(&product).await["version"], 1 + WRITES);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_shutdown_closes_websockets_with_1001() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let mut ws = app.ws().await;
    ws.subscribe(&format!("store:{store}")).await;
    let stopping = tokio::spawn(app.stop());
    assert_eq!(ws.close_code(Duration::from_secs(5)).await, Some(1001));
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("server stops promptly")
        .expect("stop task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_message_that_carries_a_ref_gets_its_ref_back_in_the_error() {
    let app = spawn_app().await;
    let mut ws = app.ws().await;
    ws.send_json(json!({"op": "dance", "ref": "r1"})).await;
    let frame = ws.next_json().await;
    assert_eq!(frame["code"], "invalid_message", "{frame}");
    assert_eq!(frame["ref"], "r1", "the reply echoes the ref: {frame}");
    ws.send_json(json!({"op": "subscribe", "ref": "r2"})).await;
    let frame = ws.next_json().await;
    assert_eq!(frame["code"], "invalid_message", "{frame}");
    assert_eq!(frame["ref"], "r2", "the reply echoes the ref: {frame}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_latest_mode_subscription_says_so_and_ends_on_the_newest_state() {
    let app = spawn_app_with(|config| config.ws.latest_interval_ms = 200).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let topic = format!("product:{product}");
    let mut ws = app.ws().await;
    ws.send_json(json!({"op": "subscribe", "topic": topic, "mode": "latest"}))
        .await;
    let reply = ws.next_json().await;
    assert_eq!(reply["type"], "subscribed", "{reply}");
    assert_eq!(reply["mode"], "latest", "{reply}");
    let writers: Vec<_> = (0..20)
        .map(|_| {
            let (client, product, addr) = (app.client.clone(), product.clone(), app.addr);
            tokio::spawn(async move { adjust_stock(&client, addr, &product, 1).await })
        })
        .collect();
    for writer in writers {
        writer.await.expect("writer");
    }
    // Superseded states may be skipped; the newest always arrives, last.
    loop {
        let frame = ws.next_event().await;
        if frame["event"] == "stock.changed" && frame["data"]["on_hand"] == 30 {
            break;
        }
    }
    ws.assert_nothing_pending().await;
}
