//! Promises that need a crash, a fault or a race to prove (issue 16): acknowledged writes of
//! every kind survive `kill -9`, no double charge after a crash between capture and
//! confirmation, events only after they are durable, gap-free resume across a restart, no
//! oversell for crossing multi-product orders, 404 for foreign list filters, and the 503 /
//! 500 / not-ready answers. Faults come from the binary's `EMPORIUM_FAULT` (src/fault.rs).

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// Starts the real binary on `dir` with `env` and waits until it is ready; returns the
/// process and a [`TestApp`] handle speaking to it.
async fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> (ServerProcess, TestApp) {
    let server = ServerProcess::start(dir, env);
    let app = TestApp::remote(server.addr);
    app.wait_ready().await;
    (server, app)
}

fn cart_body(cart: &str, card: &str) -> Value {
    json!({"cart_id": cart, "payment": {"method": "card", "token": card}})
}

/// `(status, Retry-After, problem code, detail, body text)` of a request.
async fn answer(request: reqwest::RequestBuilder) -> (u16, Option<String>, Value, String) {
    let response = request.send().await.expect("sent");
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("body");
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, retry_after, body["code"].clone(), text)
}

/// Asserts a 503 `unavailable` problem with a `Retry-After` header.
async fn expect_unavailable(request: reqwest::RequestBuilder, what: &str) {
    let (status, retry_after, code, text) = answer(request).await;
    assert_eq!(status, 503, "{what}: {text}");
    assert_eq!(code, "unavailable", "{what}: {text}");
    assert!(
        retry_after.is_some_and(|v| v.parse::<u64>().is_ok()),
        "{what}: 503 without a numeric Retry-After"
    );
}

async fn refresh(app: &TestApp, token: &str) -> (u16, Value) {
    app.call(
        Method::POST,
        "/api/v1/auth/refresh",
        None,
        Some(json!({ "refresh_token": token })),
    )
    .await
}

/// A confirmed order of `customer` for `quantity` of `product`.
async fn confirmed_order(app: &TestApp, customer: &Shopper, product: &str, quantity: i64) -> Value {
    let cart = app.cart_with(&customer.token, product, quantity).await;
    let (status, order) = app.checkout(&customer.token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "confirmed", "{order}");
    order
}

// ------------------------------------------------------------------ kill -9 and restart

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_catalog_orders_carts_and_idempotency_records_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [("EMPORIUM_CARTS__HOLD_SECONDS", "6")];
    let (server, app) = start(dir.path(), &env).await;
    let store = app.create_store().await;
    let closed_store = app.create_store().await;
    let product = app.create_product(&store, 20).await;
    let archived = app.create_product(&store, 5).await;
    let staff = app.staff(&store).await;
    let customer = app.customer().await;

    // Store open/close, product PATCH and archive.
    let (status, body) = app
        .admin_put(
            &format!("/api/v1/stores/{closed_store}/status"),
            json!({"open": false}),
        )
        .await;
    assert_eq!((status, &body["open"]), (200, &json!(false)), "{body}");
    let (status, body) = app
        .admin_patch(
            &format!("/api/v1/products/{product}"),
            json!({"name": "Renamed", "price": {"amount": 2500, "currency": "USD"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .admin_delete(&format!("/api/v1/products/{archived}"))
        .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("archived")),
        "{body}"
    );

    // A user the admin created; a logged-out session; a reused (so revoked) refresh token;
    // and an untouched session as the control.
    let email = format!("made-by-admin-{}@example.com", rand_suffix());
    let (status, body) = app
        .admin_post(
            "/api/v1/users",
            json!({"email": email, "password": USER_PASSWORD, "name": "Made", "role": "staff",
                   "store_id": store}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let logged_out = refresh_token(&app.new_customer().await);
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/auth/logout",
            None,
            Some(json!({ "refresh_token": logged_out })),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let reused = refresh_token(&app.new_customer().await);
    let (status, rotated) = refresh(&app, &reused).await;
    assert_eq!(status, 200, "{rotated}");
    let rotated = refresh_token(&rotated);
    let (status, body) = refresh(&app, &reused).await;
    assert_eq!(status, 401, "a reused refresh token: {body}");
    let control = refresh_token(&app.new_customer().await);

    // Order status changes and a staff cancellation (refunded, stock back).
    let preparing = id_of(&confirmed_order(&app, &customer, &product, 2).await);
    let (status, body) = app
        .set_order_status(&preparing, "preparing", &staff.token)
        .await;
    assert_eq!(status, 200, "{body}");
    let cancelled = id_of(&confirmed_order(&app, &customer, &product, 3).await);
    let (status, body) = app.cancel_order(&cancelled, &staff.token).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("cancelled")),
        "{body}"
    );

    // A reservation made with an Idempotency-Key.
    let reserve = |app: &TestApp| {
        app.admin_request(Method::POST, "/api/v1/reservations")
            .header("Idempotency-Key", "restart-reservation")
            .json(&json!({"items": [{"product_id": product, "quantity": 4}], "ttl_seconds": 3600}))
    };
    let (status, reservation) = send(reserve(&app)).await;
    assert_eq!(status, 201, "{reservation}");

    // Last, so its 6 s hold is still running after the restart: a cart with a held line.
    let cart = app.cart_with(&customer.token, &product, 1).await;
    let (_, held) = app.get_cart(&cart, Some(&customer.token)).await;
    assert!(held["hold"]["reservation_id"].is_string(), "{held}");
    let before = app.inventory(&product).await;
    assert_eq!(
        (&before["on_hand"], &before["reserved"]),
        (&json!(18), &json!(5)),
        "20 - 2 sold (3 sold and cancelled back); 4 reserved + 1 in the cart: {before}"
    );
    server.kill_9();

    let (server, app) = start(dir.path(), &env).await;
    // The cart keeps its line and its hold (same reservation), and the stock stays held.
    let (status, after) = app.get_cart(&cart, Some(&customer.token)).await;
    assert_eq!(status, 200, "{after}");
    assert_eq!(after["items"], held["items"], "{after}");
    assert_eq!(after["hold"], held["hold"], "{after}");
    assert_eq!(app.inventory(&product).await, before);

    // And the hold lapses on time after the restart, untouched: units back, lines kept.
    let within = until_after(&held["hold"]["expires_at"], 1500);
    eventually(within, || async {
        app.get_cart(&cart, Some(&customer.token)).await.1["hold"].is_null()
    })
    .await;
    let (_, lapsed) = app.get_cart(&cart, Some(&customer.token)).await;
    // The same lines, no longer held anywhere (API.md §13: allocations are the hold's).
    let mut unheld = held["items"].clone();
    for line in unheld.as_array_mut().expect("lines") {
        line["allocations"] = json!([]);
    }
    assert_eq!(lapsed["items"], unheld, "{lapsed}");
    assert_eq!(app.inventory(&product).await["reserved"], 4);

    let (_, body) = app.get(&format!("/api/v1/stores/{closed_store}")).await;
    assert_eq!(body["open"], false, "{body}");
    let (status, body) = app.set_cart_item(&cart, &product, 1, None).await;
    assert_eq!(status, 404, "not the anonymous caller's cart: {body}");
    let (_, body) = app.get(&format!("/api/v1/products/{product}")).await;
    assert_eq!(
        (&body["name"], &body["price"]["amount"]),
        (&json!("Renamed"), &json!(2500)),
        "{body}"
    );
    let (_, body) = app.get(&format!("/api/v1/products/{archived}")).await;
    assert_eq!(body["status"], "archived", "{body}");
    let (status, body) = app.reserve(&[(&archived, 1)], None).await;
    assert_eq!(
        (status, &body["code"]),
        (409, &json!("product_unavailable"))
    );

    let (status, body) = app.login(&email, USER_PASSWORD).await;
    assert_eq!(status, 200, "the admin's user can log in: {body}");
    assert_eq!(body["user"]["role"], "staff", "{body}");
    let (status, body) = refresh(&app, &control).await;
    assert_eq!(status, 200, "an untouched session still refreshes: {body}");
    let (status, body) = refresh(&app, &logged_out).await;
    assert_eq!(status, 401, "a logged-out session stays out: {body}");
    let (status, body) = refresh(&app, &rotated).await;
    assert_eq!(
        status, 401,
        "reuse revoked the rotated token for good: {body}"
    );

    let (_, order) = app.get_order(&preparing, Some(&customer.token)).await;
    assert_eq!(order["status"], "preparing", "{order}");
    let (_, order) = app.get_order(&cancelled, Some(&customer.token)).await;
    assert_eq!(order["status"], "cancelled", "{order}");
    assert_eq!(order["payment"]["status"], "refunded", "{order}");
    let ledger = app.ledger(&cancelled).await;
    assert_eq!(ledger_kinds(&ledger, "refund"), 1, "{ledger:?}");

    // The stored answer is replayed, and nothing more is held.
    let (status, again) = send(reserve(&app)).await;
    assert_eq!((status, &again), (201, &reservation));
    assert_eq!(app.inventory(&product).await["reserved"], 4);

    server.kill_9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_checkout_after_a_crash_between_capture_and_confirmation_charges_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, app) = start(dir.path(), &[("EMPORIUM_FAULT", "crash_after_capture")]).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let customer = app.customer().await;
    let cart = app.cart_with(&customer.token, &product, 2).await;
    let checkout = |app: &TestApp| {
        app.request_as(Method::POST, "/api/v1/orders", Some(&customer.token))
            .header("Idempotency-Key", "crash-after-capture")
            .json(&cart_body(&cart, "tok_visa"))
    };
    // The provider captures, then the process dies before the order is confirmed.
    let cut_off = checkout(&app).send().await;
    assert!(
        cut_off.is_err(),
        "the injected crash answered {:?}",
        cut_off.map(|r| r.status())
    );
    let mut child = server;
    assert!(
        child.child.wait().expect("wait").code().is_none(),
        "aborted"
    );

    let (server, app) = start(dir.path(), &[]).await;
    // The client retries with the same key.
    let (status, order) = send(checkout(&app)).await;
    assert!(matches!(status, 201 | 202), "{status}: {order}");
    let id = id_of(&order);
    eventually(Duration::from_secs(10), || async {
        app.get_order(&id, Some(&customer.token)).await.1["status"] == "confirmed"
    })
    .await;
    let (_, orders) = app
        .call(Method::GET, "/api/v1/orders", Some(&customer.token), None)
        .await;
    let orders = orders["items"].as_array().expect("items").clone();
    assert_eq!(orders.len(), 1, "one order: {orders:?}");
    let (status, ledger) = app.admin_get("/api/v1/admin/payments").await;
    assert_eq!(status, 200, "{ledger}");
    let charges = ledger["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["kind"] == "charge")
        .count();
    assert_eq!(charges, 1, "charged exactly once: {ledger}");
    let inventory = app.inventory(&product).await;
    assert_eq!(
        (&inventory["on_hand"], &inventory["reserved"]),
        (&json!(3), &json!(0)),
        "sold once: {inventory}"
    );
    // And the answer is stored now: the same key replays the same order.
    let (status, again) = send(checkout(&app)).await;
    assert!(matches!(status, 201 | 202), "{status}: {again}");
    assert_eq!(id_of(&again), id);
    server.kill_9();
}

// ------------------------------------------------------------ published only when durable

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_flush_publishes_nothing_answers_503_and_turns_the_server_not_ready() {
    let dir = tempfile::tempdir().expect("temp dir");
    let switch = tempfile::tempdir().expect("temp dir");
    let flag = switch.path().join("fail-flush");
    let fault = format!("flush_fail_if_file:{}", flag.display());
    let env = [("EMPORIUM_FAULT", fault.as_str())];
    let (server, app) = start(dir.path(), &env).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let staff = app.staff(&store).await;
    let customer = app.customer().await;
    let order = id_of(&confirmed_order(&app, &customer, &product, 1).await);
    let cart = app.cart_with(&customer.token, &product, 1).await;
    let other_cart = app.cart_with(&customer.token, &product, 1).await;
    server.kill_9();

    // After the first failed flush every request is refused, so each kind of write gets a
    // server of its own: a cart change (cart:), a status change (order: and the store's
    // feed) and a checkout (order.created on the store's feed).
    let status_change = json!({"status": "preparing"});
    let writes: [(&str, Method, String, Value); 3] = [
        (
            "a cart change",
            Method::PUT,
            format!("/api/v1/carts/{cart}/items/{product}"),
            json!({"quantity": 2}),
        ),
        (
            "a status change",
            Method::PUT,
            format!("/api/v1/orders/{order}/status"),
            status_change,
        ),
        (
            "a checkout",
            Method::POST,
            "/api/v1/orders".to_owned(),
            cart_body(&other_cart, "tok_visa"),
        ),
    ];
    for (what, method, path, body) in writes {
        let (server, app) = start(dir.path(), &env).await;
        let mut cart_ws = app.ws_as(&customer.token).await;
        cart_ws.subscribe(&format!("cart:{cart}")).await;
        cart_ws.subscribe(&format!("cart:{other_cart}")).await;
        let mut order_ws = app.ws_as(&customer.token).await;
        order_ws.subscribe(&format!("order:{order}")).await;
        let mut staff_ws = app.ws_as(&staff.token).await;
        staff_ws.subscribe(&format!("store:{store}:orders")).await;
        let mut product_ws = app.ws().await;
        product_ws.subscribe(&format!("product:{product}")).await;

        std::fs::write(&flag, b"").expect("arm the fault");
        let token = if what == "a status change" {
            &staff.token
        } else {
            &customer.token
        };
        expect_unavailable(app.request_as(method, &path, Some(token)).json(&body), what).await;
        std::fs::remove_file(&flag).expect("disarm");
        // Storage broke once: not ready, and writes stay refused until a restart, even
        // though the disk would flush again now.
        expect_unavailable(app.client.get(app.url("/readyz")), "readyz").await;
        expect_unavailable(
            app.request_as(
                Method::PUT,
                &format!("/api/v1/carts/{cart}/items/{product}"),
                Some(&customer.token),
            )
            .json(&json!({"quantity": 3})),
            "a later write",
        )
        .await;
        for ws in [&mut cart_ws, &mut order_ws, &mut staff_ws, &mut product_ws] {
            ws.assert_nothing_pending().await;
        }
        server.kill_9();
    }

    // Nothing unacknowledged became real.
    let (server, app) = start(dir.path(), &[]).await;
    let (_, body) = app.get_cart(&cart, Some(&customer.token)).await;
    assert_eq!(body["items"][0]["quantity"], 1, "{body}");
    let (_, body) = app.get_order(&order, Some(&customer.token)).await;
    assert_eq!(body["status"], "confirmed", "{body}");
    let (_, orders) = app
        .call(Method::GET, "/api/v1/orders", Some(&customer.token), None)
        .await;
    assert_eq!(orders["total"], 1, "{orders}");
    assert_eq!(
        app.inventory(&product).await["reserved"],
        2,
        "the two carts' holds"
    );
    server.kill_9();
}

// ------------------------------------------------------------ resume across a restart

/// Reads events of `topic` (skipping other topics' frames) until one has `seq`.
async fn event_at(ws: &mut Ws, topic: &str, seq: u64) -> Value {
    loop {
        let frame = ws.next_event().await;
        if frame["topic"] == topic && frame["seq"] == seq {
            return frame;
        }
        assert!(
            frame["topic"] != topic || frame["seq"].as_u64() < Some(seq),
            "skipped past {seq}: {frame}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn order_cart_and_store_orders_topics_resume_across_kill_9_without_a_gap() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, app) = start(dir.path(), &[]).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 50).await;
    let staff = app.staff(&store).await;
    let customer = app.customer().await;
    let order = id_of(&confirmed_order(&app, &customer, &product, 1).await);
    let cart = app.cart_with(&customer.token, &product, 1).await;
    let order_topic = format!("order:{order}");
    let cart_topic = format!("cart:{cart}");
    let orders_topic = format!("store:{store}:orders");

    let mut ws = app.ws_as(&staff.token).await;
    let order_sub = ws.subscribe(&order_topic).await;
    let orders_sub = ws.subscribe(&orders_topic).await;
    let mut cart_ws = app.ws_as(&customer.token).await;
    let cart_sub = cart_ws.subscribe(&cart_topic).await;
    let order_seq = order_sub["seq"].as_u64().expect("seq");
    let cart_seq = cart_sub["seq"].as_u64().expect("seq");
    // One event of each seen live ...
    app.set_order_status(&order, "preparing", &staff.token)
        .await;
    app.set_cart_item(&cart, &product, 2, Some(&customer.token))
        .await;
    // The two topics' frames interleave on one connection.
    let (mut seen_order, mut seen_orders) = (Value::Null, Value::Null);
    while seen_order.is_null() || seen_orders.is_null() {
        let frame = ws.next_event().await;
        if frame["topic"] == order_topic.as_str() {
            assert_eq!(frame["seq"], order_seq + 1, "{frame}");
            seen_order = frame;
        } else if frame["topic"] == orders_topic.as_str() {
            assert_eq!(
                frame["seq"],
                orders_sub["seq"].as_u64().expect("seq") + 1,
                "{frame}"
            );
            seen_orders = frame;
        }
    }
    let seen_cart = event_at(&mut cart_ws, &cart_topic, cart_seq + 1).await;
    drop((ws, cart_ws));
    // ... and one acknowledged but never seen.
    let (status, body) = app.set_order_status(&order, "ready", &staff.token).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .set_cart_item(&cart, &product, 3, Some(&customer.token))
        .await;
    assert_eq!(status, 200, "{body}");
    server.kill_9();

    let (server, app) = start(dir.path(), &[]).await;
    let mut ws = app.ws_as(&staff.token).await;
    let reply = ws
        .subscribe_since(
            &order_topic,
            order_sub["epoch"].as_str().expect("epoch"),
            order_seq,
        )
        .await;
    assert_eq!(reply["replayed"], 2, "{reply}");
    assert_eq!(ws.next_event().await, seen_order, "replayed as sent live");
    let missed = ws.next_event().await;
    assert_eq!(missed["seq"], order_seq + 2, "{missed}");
    assert_eq!(missed["data"]["to"], "ready", "{missed}");
    ws.assert_nothing_pending().await;

    // The store's order feed is volatile: it cannot continue its old epoch, so it says so
    // (reset, new epoch) and gives the current state rather than silently skipping.
    let orders_epoch = orders_sub["epoch"].as_str().expect("epoch");
    let reply = ws
        .subscribe_since(
            &orders_topic,
            orders_epoch,
            seen_orders["seq"].as_u64().expect("seq"),
        )
        .await;
    assert_eq!(reply["reset"], true, "{reply}");
    assert_ne!(reply["epoch"], orders_epoch, "{reply}");
    let open = reply["snapshot"]["open_orders"].as_array().expect("open");
    assert!(
        open.iter()
            .any(|o| o["id"] == order.as_str() && o["status"] == "ready"),
        "{reply}"
    );
    // Live events follow on from the new snapshot's seq.
    let base = reply["seq"].as_u64().expect("seq");
    let (status, body) = app
        .set_order_status(&order, "delivered", &staff.token)
        .await;
    assert_eq!(status, 200, "{body}");
    let mut live = Value::Null;
    let mut order_live = false;
    while live.is_null() || !order_live {
        let frame = ws.next_event().await;
        if frame["topic"] == order_topic.as_str() {
            assert_eq!(frame["seq"], order_seq + 3, "{frame}");
            order_live = true;
        } else if frame["topic"] == orders_topic.as_str() {
            assert_eq!(frame["seq"], base + 1, "{frame}");
            live = frame;
        }
    }
    assert_eq!(live["data"]["to"], "delivered", "{live}");

    let mut cart_ws = app.ws_as(&customer.token).await;
    let reply = cart_ws
        .subscribe_since(
            &cart_topic,
            cart_sub["epoch"].as_str().expect("epoch"),
            cart_seq,
        )
        .await;
    assert_eq!(reply["replayed"], 2, "{reply}");
    assert_eq!(
        cart_ws.next_event().await,
        seen_cart,
        "replayed as sent live"
    );
    let missed = cart_ws.next_event().await;
    assert_eq!(missed["seq"], cart_seq + 2, "{missed}");
    assert_eq!(missed["data"]["items"][0]["quantity"], 3, "{missed}");
    cart_ws.assert_nothing_pending().await;
    server.kill_9();
}

// ------------------------------------------------------------------------ no oversell

/// `POST /orders` (admin) for `items` directly; the status.
async fn order_items(app: &TestApp, store: &str, items: &[(&str, i64)]) -> u16 {
    let items: Vec<Value> = items
        .iter()
        .map(|(p, q)| json!({"product_id": p, "quantity": q}))
        .collect();
    app.admin_post(
        "/api/v1/orders",
        json!({"store_id": store, "items": items,
               "payment": {"method": "card", "token": "tok_visa"}}),
    )
    .await
    .0
}

/// `buyers` racing at once, half for A+B and half for B+A, a third of them reserving and the
/// rest ordering; returns the statuses.
async fn crossing_buyers(app: &TestApp, store: &str, a: &str, b: &str, buyers: usize) -> Vec<u16> {
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(buyers));
    let tasks: Vec<_> = (0..buyers)
        .map(|i| {
            let app = TestApp::remote(app.addr);
            let (store, a, b, start) =
                (store.to_owned(), a.to_owned(), b.to_owned(), start.clone());
            tokio::spawn(async move {
                let items = if i % 2 == 0 {
                    [(&*a, 1), (&*b, 1)]
                } else {
                    [(&*b, 1), (&*a, 1)]
                };
                start.wait().await;
                if i % 3 == 0 {
                    app.reserve(&items, Some(3600)).await.0
                } else {
                    order_items(&app, &store, &items).await
                }
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("buyer"));
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crossing_multi_product_orders_never_oversell_even_across_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, app) = start(dir.path(), &[]).await;
    let store = app.create_store().await;
    let a = app.create_product(&store, 5).await;
    let b = app.create_product(&store, 5).await;
    // Crossing holds (A then B against B then A) may both be refused while each holds the
    // other's last unit, so buyers come in rounds until the stock is gone. After every round
    // both products have sold exactly the same number of units (all or nothing per order),
    // and across the rounds exactly the 5 pairs in stock were sold: never more.
    let mut won = 0;
    for _round in 0..20 {
        let statuses = crossing_buyers(&app, &store, &a, &b, 16).await;
        assert!(
            statuses.iter().all(|s| matches!(s, 200 | 201 | 409)),
            "{statuses:?}"
        );
        won += statuses.iter().filter(|s| matches!(s, 200 | 201)).count();
        assert!(won <= 5, "more pairs sold than in stock: {won}");
        let (ia, ib) = (app.inventory(&a).await, app.inventory(&b).await);
        assert_eq!(
            ia["available"], ib["available"],
            "all or nothing: {ia} {ib}"
        );
        assert_eq!(ia["available"].as_u64(), Some(5 - won as u64), "{ia}");
        if won == 5 {
            break;
        }
    }
    assert_eq!(won, 5, "the 5 pairs in stock sell out");
    let (ia, ib) = (app.inventory(&a).await, app.inventory(&b).await);
    assert_eq!(ia["available"], 0, "{ia}");
    assert_eq!(ib["available"], 0, "{ib}");
    server.kill_9();

    // After the crash the scarce stock is still all taken: nothing more sells.
    let (server, app) = start(dir.path(), &[]).await;
    assert_eq!(app.inventory(&a).await, ia);
    assert_eq!(app.inventory(&b).await, ib);
    let statuses = crossing_buyers(&app, &store, &a, &b, 4).await;
    assert!(statuses.iter().all(|s| *s == 409), "{statuses:?}");
    for (p, before) in [(&a, &ia), (&b, &ib)] {
        let now = app.inventory(p).await;
        assert_eq!(&now, before, "{now}");
        let on_hand = now["on_hand"].as_i64().expect("on_hand");
        let reserved = now["reserved"].as_i64().expect("reserved");
        assert_eq!(on_hand - reserved, 0);
        let sold: i64 = app
            .movements(p)
            .await
            .iter()
            .filter(|m| m["kind"] == "sale")
            .map(|m| -m["delta"].as_i64().expect("delta"))
            .sum();
        assert_eq!(sold + reserved, 5, "every unit sold or held once: {now}");
    }

    // All or nothing when only one side is short: A is restocked, B stays sold out, so
    // every buyer's hold on A must be given back when B refuses.
    adjust_stock(&app.client, app.addr, &a, 3).await;
    let statuses = crossing_buyers(&app, &store, &a, &b, 8).await;
    assert!(statuses.iter().all(|s| *s == 409), "{statuses:?}");
    let now = app.inventory(&a).await;
    assert_eq!(
        (&now["available"], &now["reserved"]),
        (&json!(3), &ia["reserved"]),
        "a refused pair holds nothing of A: {now}"
    );
    server.kill_9();
}

// --------------------------------------------------------- 404 on foreign list filters

#[tokio::test]
async fn filtering_orders_by_a_store_the_caller_may_not_see_answers_404_not_403() {
    let app = spawn_app().await;
    let mine = app.create_store().await;
    let other = app.create_store().await;
    let product = app.create_product(&other, 5).await;
    let staff = app.staff(&mine).await;
    let buyer = app.customer().await;
    let customer = app.customer().await;
    confirmed_order(&app, &buyer, &product, 1).await;
    let list = |token: &str, query: &str| {
        app.request_as(Method::GET, &format!("/api/v1/orders?{query}"), Some(token))
    };
    // Staff naming another store (which has orders), and anyone naming an unknown store.
    expect_problem(
        list(&staff.token, &format!("store_id={other}")),
        404,
        "not_found",
    )
    .await;
    for token in [&staff.token, &customer.token] {
        expect_problem(list(token, "store_id=str_unknown"), 404, "not_found").await;
    }
    // Their own scope is fine: staff their store, a customer any store, showing only their
    // own orders (none here: the buyer's order does not leak).
    let (status, body) = send(list(&staff.token, &format!("store_id={mine}"))).await;
    assert_eq!((status, &body["total"]), (200, &json!(0)), "{body}");
    let (status, body) = send(list(&customer.token, &format!("store_id={other}"))).await;
    assert_eq!((status, &body["total"]), (200, &json!(0)), "{body}");
    let (status, body) = send(list(&buyer.token, &format!("store_id={other}"))).await;
    assert_eq!((status, &body["total"]), (200, &json!(1)), "{body}");
}

// ------------------------------------------------------ 503, 500 and not ready

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_recovery_finished_readyz_and_requests_answer_503_with_retry_after() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path(), &[("EMPORIUM_FAULT", "recovery_delay_ms:3000")]);
    let app = TestApp::remote(server.addr);
    let (status, body) = app.get("/healthz").await;
    assert_eq!(status, 200, "alive while recovering: {body}");
    expect_unavailable(app.client.get(app.url("/readyz")), "readyz").await;
    expect_unavailable(app.client.get(app.url("/api/v1/stores")), "a read").await;
    expect_unavailable(
        app.admin_request(Method::POST, "/api/v1/stores")
            .json(&json!({"name": "Early", "kind": "retail", "currency": "USD"})),
        "a write",
    )
    .await;
    app.wait_ready().await;
    assert_eq!(app.get("/api/v1/stores").await.0, 200);
    server.kill_9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bug_answers_500_internal_without_any_detail_of_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, app) = start(dir.path(), &[("EMPORIUM_FAULT", "panic_in_password_hash")]).await;
    let request = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"email": "bug@example.com", "password": USER_PASSWORD, "name": "B"}));
    let (status, _, code, text) = answer(request).await;
    assert_eq!((status, code), (500, json!("internal")), "{text}");
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["detail"], "An internal error occurred.", "{body}");
    for secret in ["panic", "injected", "hash", "task"] {
        assert!(
            !text.to_lowercase().contains(secret),
            "leaks {secret:?}: {text}"
        );
    }
    // A bug in one request leaves the server serving others.
    assert_eq!(app.get("/readyz").await.0, 200);
    server.kill_9();
}

// ------------------------------------------------------------ metrics, exactly

async fn metrics(app: &TestApp) -> String {
    metrics_text(&app.client, app.addr).await
}

/// A server process of its own has nobody else's counts, so every number is exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_of_a_server_process_of_its_own_count_exactly_what_it_did() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, app) = start(dir.path(), &[]).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let before = metrics(&app).await;
    let mut ws = app.ws().await;
    let topic = format!("product:{product}");
    ws.subscribe(&topic).await;
    let (status, reservation) = app.reserve(&[(&product, 1)], Some(1)).await;
    assert_eq!(status, 201, "{reservation}");
    let (status, order) = app
        .admin_post(
            "/api/v1/orders",
            json!({"store_id": store, "items": [{"product_id": product, "quantity": 1}],
                   "payment": {"method": "card", "token": "tok_visa"}}),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    let mut events = 0;
    loop {
        let frame = ws.next_event().await;
        events += 1;
        if frame["data"]["cause"] == "expiry" {
            break;
        }
    }
    let after = metrics(&app).await;
    let get = |text: &str, series: &str| metric_sample(text, series).unwrap_or(0.0);
    let delta = |series: &str| get(&after, series) - get(&before, series);
    let exact = [
        (
            "emporium_http_requests_total{method=\"POST\",route=\"/api/v1/reservations\",status=\"201\"}",
            delta(
                "emporium_http_requests_total{method=\"POST\",route=\"/api/v1/reservations\",status=\"201\"}",
            ),
            1.0,
        ),
        (
            "emporium_http_requests_total{method=\"POST\",route=\"/api/v1/orders\",status=\"201\"}",
            delta(
                "emporium_http_requests_total{method=\"POST\",route=\"/api/v1/orders\",status=\"201\"}",
            ),
            1.0,
        ),
        (
            "orders confirmed",
            get(&after, "emporium_orders{status=\"confirmed\"}"),
            1.0,
        ),
        (
            "payment attempts captured",
            delta("emporium_payment_attempts_total{outcome=\"captured\"}"),
            1.0,
        ),
        ("holds expired", delta("emporium_holds_expired_total"), 1.0),
        ("holds active", get(&after, "emporium_holds_active"), 0.0),
        (
            "ws connections",
            get(&after, "emporium_ws_connections_active"),
            1.0,
        ),
        (
            "ws subscriptions",
            get(&after, "emporium_ws_subscriptions_active"),
            1.0,
        ),
        (
            // The `subscribed` reply counts as a delivery too.
            "ws deliveries",
            delta("emporium_ws_deliveries_total"),
            f64::from(events + 1),
        ),
    ];
    for (what, got, want) in exact {
        assert_eq!(got, want, "{what}:\n{after}");
    }
    drop(ws);
    eventually(Duration::from_secs(5), || async {
        get(&metrics(&app).await, "emporium_ws_connections_active") == 0.0
    })
    .await;
    server.kill_9();
}
