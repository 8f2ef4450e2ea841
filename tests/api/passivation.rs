//! Product actors are bounded: idle ones passivate, and `actors.max_active_products` caps how
//! many run at once, without losing state (the next message re-activates from disk) and
//! without stopping an actor whose holds still need its expiry timer.
//!
//! These tests run the real binary: the `emporium_actors_active` gauge is process-wide, so
//! an in-process server would see other tests' actors.

use crate::helpers::*;
use std::time::Duration;

/// `emporium_actors_active{kind="product"}` from the server's `/metrics`.
async fn product_actors(client: &reqwest::Client, server: &ServerProcess) -> u64 {
    active_actors_of_kind(client, server, "product").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cap_passivates_the_oldest_quiet_actors_and_they_come_back_with_their_state() {
    // `actors.evictable_after_ms`: how long an actor must be quiet before the cap may stop it.
    const QUIET: Duration = Duration::from_millis(400);
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(
        dir.path(),
        &[
            ("EMPORIUM_ACTORS__MAX_ACTIVE_PRODUCTS", "4"),
            ("EMPORIUM_ACTORS__EVICTABLE_AFTER_MS", "400"),
        ],
    );
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let store = create_store(&client, addr).await;
    let mut products = Vec::new();
    for _ in 0..10 {
        products.push(create_product(&client, addr, &store, 10).await);
    }
    // Ten become active at once (well within `QUIET` of each other): over the cap, but hot
    // ones are kept.
    futures_util::future::join_all(
        products
            .iter()
            .map(|product| adjust_stock(&client, addr, product, 1)),
    )
    .await;
    assert_eq!(product_actors(&client, &server).await, 10);
    // Then one more activation per round, rounds `QUIET` apart: the actors the cap asks to
    // go are quiet by then, so the count falls to the cap (the eviction messages are handled
    // asynchronously, hence the rounds).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        tokio::time::sleep(QUIET).await;
        let product = create_product(&client, addr, &store, 10).await;
        adjust_stock(&client, addr, &product, 1).await;
        products.push(product);
        let active = product_actors(&client, &server).await;
        if active <= 4 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still {active} product actors after {} activations (cap 4)",
            products.len()
        );
    }
    // Every product still has its writes: a re-activated actor loads them from disk.
    for product in &products {
        let adjusted = adjust_stock(&client, addr, product, 1).await;
        assert_eq!(adjusted["on_hand"], 12, "{adjusted}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_actors_passivate_but_one_with_a_hold_stays_until_its_hold_lapses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &[("EMPORIUM_ACTORS__IDLE_SECONDS", "1")]);
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let store = create_store(&client, addr).await;
    let idle = create_product(&client, addr, &store, 10).await;
    let held = create_product(&client, addr, &store, 10).await;
    adjust_stock(&client, addr, &idle, 1).await;
    reserve_stock(&client, addr, &held, 3, Some(4)).await;
    assert_eq!(product_actors(&client, &server).await, 2);
    // The idle one goes within a couple of sweeps; the holder stays while it holds.
    eventually(Duration::from_secs(4), || async {
        product_actors(&client, &server).await == 1
    })
    .await;
    let inventory = inventory_at(&client, addr, &held).await;
    assert_eq!(inventory["reserved"], 3, "{inventory}");
    // Its timer releases the hold; then it passivates too.
    eventually(Duration::from_secs(10), || async {
        inventory_at(&client, addr, &held).await["reserved"] == 0
    })
    .await;
    eventually(Duration::from_secs(5), || async {
        product_actors(&client, &server).await == 0
    })
    .await;
    assert_eq!(inventory_at(&client, addr, &idle).await["on_hand"], 11);
}

// ---- Every kind of actor under one cap and idle policy (orders, carts) ----

/// `emporium_actors_active{kind}` from the server's own `/metrics`. A missing line fails the
/// test: an absent gauge is not a zero.
async fn active_actors_of_kind(
    client: &reqwest::Client,
    server: &ServerProcess,
    kind: &str,
) -> u64 {
    let text = client
        .get(format!("http://{}/metrics", server.addr))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    let label = format!("kind=\"{kind}\"");
    let line = text
        .lines()
        .find(|l| l.starts_with("emporium_actors_active{") && l.contains(&label))
        .unwrap_or_else(|| panic!("no emporium_actors_active{{{label}}} in /metrics:\n{text}"));
    let value: f64 = line
        .split_whitespace()
        .last()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("unreadable gauge line {line:?}"));
    value as u64
}

/// `POST /orders` by the admin: one unit of `product` paid with `card`; answers the body.
async fn place_order(
    client: &reqwest::Client,
    server: &ServerProcess,
    store: &str,
    product: &str,
    card: &str,
) -> serde_json::Value {
    let (status, body) = send(
        client
            .post(format!("http://{}/api/v1/orders", server.addr))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({
                "store_id": store,
                "items": [{"product_id": product, "quantity": 1}],
                "payment": {"method": "card", "token": card},
            })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// `PUT /orders/{id}/status` by the admin; answers status and body.
async fn advance_order(
    client: &reqwest::Client,
    server: &ServerProcess,
    order: &str,
    to: &str,
) -> (u16, serde_json::Value) {
    send(
        client
            .put(format!(
                "http://{}/api/v1/orders/{order}/status",
                server.addr
            ))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({ "status": to })),
    )
    .await
}

/// `GET /orders/{id}` by the admin.
async fn order_at(
    client: &reqwest::Client,
    server: &ServerProcess,
    order: &str,
) -> serde_json::Value {
    let (status, body) = send(
        client
            .get(format!("http://{}/api/v1/orders/{order}", server.addr))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_orders_keeps_the_order_actors_under_their_cap() {
    const CAP: u64 = 20;
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(
        dir.path(),
        &[
            ("EMPORIUM_ACTORS__MAX_ACTIVE_ORDERS", "20"),
            ("EMPORIUM_ACTORS__IDLE_SECONDS", "1"),
        ],
    );
    wait_ready(&client, server.addr).await;
    let store = create_store(&client, server.addr).await;
    let product = create_product(&client, server.addr, &store, 1_000).await;
    let mut most = 0;
    for n in 1..=200u64 {
        let order = place_order(&client, &server, &store, &product, "tok_visa").await;
        assert_eq!(order["status"], "confirmed", "{order}");
        let active = active_actors_of_kind(&client, &server, "order").await;
        most = most.max(active);
        // Orders are placed one at a time, so at most one is pending (busy) when the next
        // activation pushes the count over the cap, and the cap asks a couple more than the
        // excess to stop. The margin of 1 covers an eviction message not yet handled.
        assert!(
            active <= CAP + 1,
            "{active} order actors after {n} orders (cap {CAP})"
        );
    }
    assert!(most >= CAP, "the stream filled the cap ({most})");
    // Confirmed orders nobody touches passivate by idling, too.
    eventually(Duration::from_secs(10), || async {
        active_actors_of_kind(&client, &server, "order").await == 0
    })
    .await;
    let inventory = inventory_at(&client, server.addr, &product).await;
    assert_eq!(inventory["on_hand"], 800, "{inventory}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passivated_order_comes_back_intact_and_its_lifecycle_goes_on() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &[("EMPORIUM_ACTORS__IDLE_SECONDS", "1")]);
    wait_ready(&client, server.addr).await;
    let store = create_store(&client, server.addr).await;
    let product = create_product(&client, server.addr, &store, 10).await;
    let placed = place_order(&client, &server, &store, &product, "tok_visa").await;
    let id = placed["id"].as_str().expect("order id").to_owned();
    let before = order_at(&client, &server, &id).await;
    assert_eq!(before, placed);
    assert_eq!(active_actors_of_kind(&client, &server, "order").await, 1);
    // A confirmed order nobody touches passivates after `actors.idle_seconds`.
    eventually(Duration::from_secs(10), || async {
        active_actors_of_kind(&client, &server, "order").await == 0
    })
    .await;
    assert_eq!(order_at(&client, &server, &id).await, before);

    // Staff move it on: the re-activated actor has all of it.
    let (status, preparing) = advance_order(&client, &server, &id, "preparing").await;
    assert_eq!(status, 200, "{preparing}");
    assert_eq!(active_actors_of_kind(&client, &server, "order").await, 1);
    assert_eq!(preparing["status"], "preparing");
    for field in [
        "id",
        "number",
        "store_id",
        "customer_id",
        "items",
        "subtotal",
        "total",
        "payment",
        "shipping_address",
        "note",
        "created_at",
    ] {
        assert_eq!(preparing[field], before[field], "{field}");
    }
    let history = preparing["history"].as_array().expect("history");
    let statuses: Vec<&str> = history
        .iter()
        .map(|h| h["status"].as_str().unwrap_or("?"))
        .collect();
    assert_eq!(
        statuses,
        ["pending", "confirmed", "preparing"],
        "{preparing}"
    );
    assert_eq!(
        history[..2],
        before["history"].as_array().expect("history")[..]
    );
    assert_eq!(order_at(&client, &server, &id).await, preparing);

    // Once more: the second activation starts from the transition the first one made.
    eventually(Duration::from_secs(10), || async {
        active_actors_of_kind(&client, &server, "order").await == 0
    })
    .await;
    let (status, ready) = advance_order(&client, &server, &id, "ready").await;
    assert_eq!(status, 200, "{ready}");
    let history = ready["history"].as_array().expect("history");
    assert_eq!(history.len(), 4, "{ready}");
    assert_eq!(
        history[..3],
        preparing["history"].as_array().expect("history")[..]
    );
    assert_eq!(history[3]["status"], "ready");
    // An invalid transition is still refused with the order's real state.
    let (status, refused) = advance_order(&client, &server, &id, "preparing").await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "invalid_transition", "{refused}");
    assert_eq!(refused["from"], "ready", "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_actor_passivates_once_its_hold_lapsed_and_comes_back_with_its_lines() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(
        dir.path(),
        &[
            ("EMPORIUM_ACTORS__IDLE_SECONDS", "1"),
            ("EMPORIUM_CARTS__HOLD_SECONDS", "2"),
        ],
    );
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let store = create_store(&client, addr).await;
    let product = create_product(&client, addr, &store, 10).await;
    let (status, cart) = send(
        client
            .post(format!("http://{addr}/api/v1/carts"))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 201, "{cart}");
    let cart = cart["id"].as_str().expect("cart id").to_owned();
    let held_at = std::time::Instant::now();
    let (status, body) = send(
        client
            .put(format!("http://{addr}/api/v1/carts/{cart}/items/{product}"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&serde_json::json!({"quantity": 2})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["hold"].is_object(), "{body}");
    assert_eq!(active_actors_of_kind(&client, &server, "cart").await, 1);
    // Idle for a second is not enough while the hold needs the cart's timer; once it lapsed
    // (2 s) and the cart recorded it, the cart idles out.
    eventually(Duration::from_secs(10), || async {
        active_actors_of_kind(&client, &server, "cart").await == 0
    })
    .await;
    assert!(
        held_at.elapsed() >= Duration::from_secs(2),
        "passivated after {:?}, before its hold lapsed",
        held_at.elapsed()
    );
    assert_eq!(inventory_at(&client, addr, &product).await["reserved"], 0);
    let (status, back) = send(
        client
            .get(format!("http://{addr}/api/v1/carts/{cart}"))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["items"][0]["quantity"], 2, "{back}");
    assert_eq!(back["hold"], serde_json::Value::Null, "{back}");
    assert_eq!(active_actors_of_kind(&client, &server, "cart").await, 1);
}
