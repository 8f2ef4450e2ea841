//! Acknowledged writes survive `kill -9` of the real binary (docs/API.md §2, §6, §9).

use crate::helpers::*;
use serde_json::{Value, json};
use std::time::Duration;

/// Inventory numbers without the threshold: `(on_hand, reserved, available, version)`.
fn levels(inventory: &Value) -> (i64, i64, i64, u64) {
    (
        inventory["on_hand"].as_i64().expect("on_hand"),
        inventory["reserved"].as_i64().expect("reserved"),
        inventory["available"].as_i64().expect("available"),
        inventory["version"].as_u64().expect("version"),
    )
}

async fn reservation_status(client: &reqwest::Client, server: &ServerProcess, id: &Value) -> Value {
    let id = id.as_str().expect("reservation id");
    let (status, body) = send(
        client
            .get(format!("http://{}/api/v1/reservations/{id}", server.addr))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["status"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_and_holds_that_lapsed_meanwhile_are_released() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &[]);
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let store = create_store(&client, addr).await;
    let product = create_product(&client, addr, &store, 100).await;
    let mut acknowledged = Vec::new();
    acknowledged.push(levels(&inventory_at(&client, addr, &product).await));
    assert_eq!(acknowledged[0], (100, 0, 100, 1));

    let adjusted = adjust_stock(&client, addr, &product, 10).await;
    acknowledged.push(levels(&adjusted));
    let sold = reserve_stock(&client, addr, &product, 5, None).await;
    acknowledged.push(levels(&inventory_at(&client, addr, &product).await));
    reservation_action(&client, addr, sold["id"].as_str().expect("id"), "commit").await;
    acknowledged.push(levels(&inventory_at(&client, addr, &product).await));
    let kept = reserve_stock(&client, addr, &product, 7, Some(3600)).await;
    acknowledged.push(levels(&inventory_at(&client, addr, &product).await));
    // A short hold that is extended: the extension must survive too (it is no event).
    let extended = reserve_stock(&client, addr, &product, 2, Some(2)).await;
    acknowledged.push(levels(&inventory_at(&client, addr, &product).await));
    let (status, body) = send(
        client
            .post(format!(
                "http://{addr}/api/v1/reservations/{}/extend",
                extended["id"].as_str().expect("id")
            ))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"ttl_seconds": 3600})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    acknowledged.push(levels(&inventory_at(&client, addr, &product).await));
    let lapsing = reserve_stock(&client, addr, &product, 3, Some(1)).await;
    acknowledged.push(levels(&inventory_at(&client, addr, &product).await));
    let adjusted = adjust_stock(&client, addr, &product, -2).await;
    acknowledged.push(levels(&adjusted));
    assert_eq!(
        acknowledged,
        [
            (100, 0, 100, 1),
            (110, 0, 110, 2),
            (110, 5, 105, 3),
            (105, 0, 105, 4),
            (105, 7, 98, 5),
            (105, 9, 96, 6),
            (105, 9, 96, 6),
            (105, 12, 93, 7),
            (103, 12, 91, 8),
        ],
        "each acknowledged write moved the stock by one event (an extension by none)"
    );
    server.kill_9();

    // Let the 1-second hold lapse, and the extended hold's original 2 seconds pass, while
    // the server is down.
    let expires_at = extended["expires_at"].as_str().expect("expires_at");
    let expires_at = chrono::DateTime::parse_from_rfc3339(expires_at).expect("rfc3339");
    let wait = (expires_at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;

    let server = ServerProcess::start(dir.path(), &[]);
    let addr = server.addr;
    wait_ready(&client, addr).await;
    // Ready means recovered: the lapsed hold is already back, as one more event.
    let inventory = inventory_at(&client, addr, &product).await;
    assert_eq!(levels(&inventory), (103, 9, 94, 9), "{inventory}");
    for (reservation, expected) in [
        (&sold, "committed"),
        (&kept, "active"),
        (&extended, "active"),
        (&lapsing, "expired"),
    ] {
        assert_eq!(
            reservation_status(&client, &server, &reservation["id"]).await,
            expected,
            "{reservation}"
        );
    }

    // The version sequence continues after the restart.
    let adjusted = adjust_stock(&client, addr, &product, 1).await;
    assert_eq!(levels(&adjusted), (104, 9, 95, 10));
    // The surviving holds still commit and release.
    reservation_action(&client, addr, kept["id"].as_str().expect("id"), "commit").await;
    reservation_action(
        &client,
        addr,
        extended["id"].as_str().expect("id"),
        "release",
    )
    .await;
    let inventory = inventory_at(&client, addr, &product).await;
    assert_eq!(levels(&inventory), (97, 0, 97, 12));

    let (status, movements) = send(
        client
            .get(format!(
                "http://{addr}/api/v1/products/{product}/inventory/movements?per_page=100"
            ))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{movements}");
    let items = movements["items"].as_array().expect("items");
    let deltas: Vec<i64> = items
        .iter()
        .map(|m| m["delta"].as_i64().expect("delta"))
        .collect();
    assert_eq!(
        deltas,
        [-7, 1, -2, -5, 10, 100],
        "newest first: {movements}"
    );
    assert_eq!(deltas.iter().sum::<i64>(), 97, "movements sum to on_hand");
    assert_eq!(items[0]["on_hand_after"], 97);
    assert_eq!(items[0]["kind"], "sale");
    assert_eq!(items[5]["reason"], "initial");
    server.kill_9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_topic_resumes_across_a_kill_9_restart_without_a_gap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &[]);
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let store = create_store(&client, addr).await;
    let product = create_product(&client, addr, &store, 10).await;
    let topic = format!("product:{product}");
    let store_topic = format!("store:{store}");

    let mut ws = Ws::connect(&format!("ws://{addr}/api/v1/ws")).await;
    let subscribed = ws.subscribe(&topic).await;
    assert_eq!(subscribed["epoch"], "d1");
    let store_subscribed = ws.subscribe(&store_topic).await;
    let store_epoch = store_subscribed["epoch"]
        .as_str()
        .expect("epoch")
        .to_owned();
    adjust_stock(&client, addr, &product, 2).await;
    adjust_stock(&client, addr, &product, 3).await;
    let mut last = 0;
    let mut seen_live = Vec::new();
    for _ in 0..2 {
        // Product and store frames interleave; keep the product topic's.
        loop {
            let frame = ws.next_event().await;
            if frame["topic"] == topic.as_str() {
                last = frame["seq"].as_u64().expect("seq");
                seen_live.push(frame);
                break;
            }
        }
    }
    assert_eq!(last, subscribed["seq"].as_u64().expect("seq") + 2);
    // Acknowledged but never seen by this client.
    let unseen = adjust_stock(&client, addr, &product, -1).await;
    server.kill_9();
    drop(ws);

    let server = ServerProcess::start(dir.path(), &[]);
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let after_restart = adjust_stock(&client, addr, &product, 4).await;
    assert_eq!(after_restart["version"], last + 2, "versions continue");

    let mut ws = Ws::connect(&format!("ws://{addr}/api/v1/ws")).await;
    let resumed = ws.subscribe_since(&topic, "d1", last).await;
    assert_eq!(resumed["replayed"], 2, "{resumed}");
    let frame = ws.next_event().await;
    assert_eq!(frame["seq"], last + 1, "{frame}");
    assert_eq!(frame["data"], {
        let mut data = json!({"product_id": product, "store_id": store, "cause": "adjustment"});
        for key in ["on_hand", "reserved", "available", "version"] {
            data[key] = unseen[key].clone();
        }
        data
    });
    let frame = ws.next_event().await;
    assert_eq!(frame["seq"], last + 2, "{frame}");
    assert_eq!(frame["data"]["on_hand"], after_restart["on_hand"]);
    assert_eq!(frame["data"]["version"], last + 2);
    ws.assert_nothing_pending().await;

    // Events from before the crash replay exactly as they were sent live.
    let mut again = Ws::connect(&format!("ws://{addr}/api/v1/ws")).await;
    let resumed = again.subscribe_since(&topic, "d1", last - 2).await;
    assert_eq!(resumed["replayed"], 4, "{resumed}");
    for live in &seen_live {
        assert_eq!(&again.next_event().await, live);
    }

    // The store topic is volatile: its old epoch cannot continue after a restart.
    let reply = ws.subscribe_since(&store_topic, &store_epoch, 2).await;
    assert_eq!(reply["reset"], true, "{reply}");
    assert_ne!(reply["epoch"], store_epoch.as_str(), "{reply}");
    assert_eq!(reply["snapshot"]["id"], store.as_str(), "{reply}");

    // And live events follow the replay.
    adjust_stock(&client, addr, &product, 1).await;
    let mut product_seq = None;
    while product_seq.is_none() {
        let frame = ws.next_event().await;
        if frame["topic"] == topic.as_str() {
            product_seq = frame["seq"].as_u64();
        }
    }
    assert_eq!(product_seq, Some(last + 3));
    server.kill_9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_a_burst_of_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &[]);
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let store = create_store(&client, addr).await;
    let product = create_product(&client, addr, &store, 100).await;

    // Four writers adjust +1 as fast as they can until the server disappears under them.
    let (acknowledged, attempted) = adjust_until_killed(server, &product, 50, 100).await;
    assert!(acknowledged >= 50, "{acknowledged} acknowledged");

    let server = ServerProcess::start(dir.path(), &[]);
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let inventory = inventory_at(&client, addr, &product).await;
    let on_hand = inventory["on_hand"].as_i64().expect("on_hand");
    assert!(
        (100 + acknowledged..=100 + attempted).contains(&on_hand),
        "on_hand {on_hand}: {acknowledged} acknowledged of {attempted} attempted"
    );
    let applied = u64::try_from(on_hand - 100).expect("non-negative");
    assert_eq!(
        inventory["version"],
        1 + applied,
        "one event per applied write"
    );

    // Movements and stored events agree with the recovered state.
    let mut total = 0;
    let mut count = 0;
    for page in 1.. {
        let (status, body) = send(
            client
                .get(format!(
                    "http://{addr}/api/v1/products/{product}/inventory/movements?per_page=100&page={page}"
                ))
                .bearer_auth(ADMIN_TOKEN),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let items = body["items"].as_array().expect("items");
        if items.is_empty() {
            break;
        }
        count += items.len() as u64;
        total += items
            .iter()
            .map(|m| m["delta"].as_i64().expect("delta"))
            .sum::<i64>();
    }
    assert_eq!(total, on_hand, "movements sum to on_hand");
    assert_eq!(count, 1 + applied, "one movement per applied write");

    let mut ws = Ws::connect(&format!("ws://{addr}/api/v1/ws")).await;
    let resumed = ws
        .subscribe_since(&format!("product:{product}"), "d1", 1)
        .await;
    assert_eq!(resumed["replayed"], applied, "{resumed}");
    for seq in 2..=1 + applied {
        let frame = ws.next_event().await;
        assert_eq!(frame["seq"], seq, "{frame}");
        assert_eq!(frame["data"]["on_hand"], 100 + seq as i64 - 1, "{frame}");
    }
    ws.assert_nothing_pending().await;

    // And the sequence continues.
    let adjusted = adjust_stock(&client, addr, &product, 1).await;
    assert_eq!(adjusted["version"], 2 + applied);
    server.kill_9();
}
