//! `/api/v1/orders`: checkout with every test card, the payment saga across `kill -9`,
//! idempotency, the race for the last units, the order lifecycle on the dashboard topics,
//! cancellation with refund and stock return, and who may see an order.

use crate::helpers::{
    ADMIN_TOKEN, ServerProcess, Shopper, TestApp, assert_rfc3339_millis, create_product,
    create_store, eventually, expect_problem, id_of, inventory_at, ledger_kinds, movements_at,
    payments_ledger, send, spawn_app, spawn_app_with,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::{collections::HashSet, sync::Arc, time::Duration};

/// A shop with one product of `stock` units and a customer.
struct Shop {
    app: TestApp,
    store: String,
    product: String,
    customer: Shopper,
}

async fn shop_with(app: TestApp, stock: i64) -> Shop {
    let store = app.create_store().await;
    let product = app.create_product(&store, stock).await;
    let customer = app.customer().await;
    Shop {
        app,
        store,
        product,
        customer,
    }
}

async fn shop(stock: i64) -> Shop {
    shop_with(spawn_app().await, stock).await
}

fn order_request(app: &TestApp, token: &str, body: &Value) -> reqwest::RequestBuilder {
    app.request_as(Method::POST, "/api/v1/orders", Some(token))
        .json(body)
}

fn cart_body(cart: &str, card: &str) -> Value {
    json!({"cart_id": cart, "payment": {"method": "card", "token": card}})
}

fn items_body(store: &str, product: &str, quantity: i64, card: &str) -> Value {
    json!({
        "store_id": store,
        "items": [{"product_id": product, "quantity": quantity}],
        "payment": {"method": "card", "token": card},
    })
}

/// `(on_hand, reserved)` of a product.
async fn levels(app: &TestApp, product: &str) -> (i64, i64) {
    let inventory = app.inventory(product).await;
    (
        inventory["on_hand"].as_i64().expect("on_hand"),
        inventory["reserved"].as_i64().expect("reserved"),
    )
}

fn statuses(order: &Value) -> Vec<String> {
    order["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["status"].as_str().expect("status").to_owned())
        .collect()
}

/// Places a confirmed order of `quantity` units through a cart; returns it.
async fn confirmed_order(shop: &Shop, quantity: i64) -> Value {
    let cart = shop
        .app
        .cart_with(&shop.customer.token, &shop.product, quantity)
        .await;
    let (status, order) = shop
        .app
        .checkout(&shop.customer.token, &cart, "tok_visa")
        .await;
    assert_eq!(status, 201, "{order}");
    order
}

/// Reads the next event of `topic`, asserting its name.
async fn expect_event(ws: &mut crate::helpers::Ws, topic: &str, name: &str) -> Value {
    let event = ws.next_event().await;
    assert_eq!(event["topic"], topic, "{event}");
    assert_eq!(event["event"], name, "{event}");
    event
}

// ---------------------------------------------------------------- checkout paths

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paying_with_a_good_card_confirms_the_order_sells_the_stock_and_deletes_the_cart() {
    let shop = shop(10).await;
    let app = &shop.app;
    let mut on_hand = 10;
    for card in ["tok_visa", "tok_mastercard"] {
        let cart = app.cart_with(&shop.customer.token, &shop.product, 2).await;

        let (status, order) = app.checkout(&shop.customer.token, &cart, card).await;

        assert_eq!(status, 201, "{card}: {order}");
        let id = id_of(&order);
        assert!(id.starts_with("ord_"), "{order}");
        assert!(
            order["number"].as_str().unwrap().starts_with("EM-"),
            "{order}"
        );
        assert_eq!(order["status"], "confirmed");
        assert_eq!(order["store_id"], shop.store.as_str());
        assert_eq!(order["customer_id"], shop.customer.id.as_str());
        assert_eq!(order["items"][0]["product_id"], shop.product.as_str());
        assert_eq!(order["items"][0]["quantity"], 2);
        assert_eq!(order["total"], json!({"amount": 3998, "currency": "USD"}));
        let payment = &order["payment"];
        assert_eq!(payment["status"], "captured", "{payment}");
        assert_eq!(payment["method"], "card");
        assert_eq!(payment["attempts"], 1);
        assert_eq!(payment["decline_code"], Value::Null);
        assert!(
            payment["transaction_id"]
                .as_str()
                .unwrap()
                .starts_with("txn_")
        );
        assert_eq!(statuses(&order), ["pending", "confirmed"]);
        assert_eq!(order["history"][0]["by"], shop.customer.id.as_str());
        assert_eq!(order["history"][1]["by"], "system");
        assert_rfc3339_millis(&order["created_at"]);

        on_hand -= 2;
        assert_eq!(levels(app, &shop.product).await, (on_hand, 0));
        let sale = &app.movements(&shop.product).await[0];
        assert_eq!(sale["kind"], "sale", "{sale}");
        assert_eq!(sale["delta"], -2);
        assert_eq!(sale["ref"], id.as_str());
        assert_eq!(sale["on_hand_after"], on_hand);
        assert_eq!(app.get_cart(&cart, Some(&shop.customer.token)).await.0, 404);
        let ledger = app.ledger(&id).await;
        assert_eq!(ledger.len(), 1, "{ledger:?}");
        assert_eq!(ledger[0]["kind"], "charge");
        assert_eq!(
            ledger[0]["amount"],
            json!({"amount": 3998, "currency": "USD"})
        );
        assert_eq!(ledger[0]["transaction_id"], payment["transaction_id"]);
        let (status, read) = app.get_order(&id, Some(&shop.customer.token)).await;
        assert_eq!((status, &read["status"]), (200, &json!("confirmed")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_card_answers_402_payment_failed_gives_the_stock_back_and_keeps_the_cart() {
    let shop = shop(5).await;
    let app = &shop.app;
    let mut failed = Vec::new();
    for (card, code) in [
        ("tok_chargeDeclined", "card_declined"),
        ("tok_insufficientFunds", "insufficient_funds"),
        ("tok_nonsense", "invalid_token"),
    ] {
        let cart = app.cart_with(&shop.customer.token, &shop.product, 2).await;

        let problem = expect_problem(
            order_request(app, &shop.customer.token, &cart_body(&cart, card)),
            402,
            "payment_failed",
        )
        .await;

        assert_eq!(problem["decline_code"], code, "{problem}");
        let id = problem["order_id"].as_str().expect("order_id").to_owned();
        assert_eq!(problem["order"]["id"], id.as_str());
        failed.push(id.clone());
        assert_eq!(problem["order"]["status"], "payment_failed");
        assert_eq!(problem["order"]["payment"]["status"], "failed");
        assert_eq!(problem["order"]["payment"]["decline_code"], code);
        assert_eq!(statuses(&problem["order"]), ["pending", "payment_failed"]);
        let (status, read) = app.get_order(&id, Some(&shop.customer.token)).await;
        assert_eq!((status, &read["status"]), (200, &json!("payment_failed")));
        assert_eq!(levels(app, &shop.product).await, (5, 0), "{card}");
        let (status, kept) = app.get_cart(&cart, Some(&shop.customer.token)).await;
        assert_eq!(status, 200, "{card}: the cart stays");
        assert_eq!(kept["items"][0]["quantity"], 2);
        assert!(app.ledger(&id).await.is_empty(), "nothing charged");
        // The cart is still good for a second try with another card.
        let (status, order) = app.checkout(&shop.customer.token, &cart, "tok_visa").await;
        assert_eq!(status, 201, "{order}");
        let (status, order) = app
            .call(
                Method::POST,
                &format!("/api/v1/orders/{}/cancel", id_of(&order)),
                Some(&shop.customer.token),
                None,
            )
            .await;
        assert_eq!((status, &order["status"]), (200, &json!("cancelled")));
    }
    let movements = app.movements(&shop.product).await;
    for failed in &failed {
        assert!(
            movements.iter().all(|m| m["ref"] != failed.as_str()),
            "a failed order sold nothing: {movements:?}"
        );
    }
    assert_eq!(levels(app, &shop.product).await, (5, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_card_is_captured_after_retries_and_charged_exactly_once() {
    let shop = shop_with(
        spawn_app_with(|config| config.payments.backoff_ms = 20).await,
        5,
    )
    .await;
    let app = &shop.app;
    let cart = app.cart_with(&shop.customer.token, &shop.product, 1).await;

    let (status, order) = app.checkout(&shop.customer.token, &cart, "tok_flaky").await;

    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "confirmed");
    assert_eq!(order["payment"]["status"], "captured");
    assert_eq!(order["payment"]["attempts"], 3);
    let ledger = app.ledger(&id_of(&order)).await;
    assert_eq!(ledger_kinds(&ledger, "charge"), 1, "{ledger:?}");
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(levels(app, &shop.product).await, (4, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unavailable_provider_fails_the_payment_with_provider_unavailable_after_max_attempts() {
    let shop = shop_with(
        spawn_app_with(|config| config.payments.backoff_ms = 20).await,
        5,
    )
    .await;
    let app = &shop.app;
    let cart = app.cart_with(&shop.customer.token, &shop.product, 2).await;

    let problem = expect_problem(
        order_request(
            app,
            &shop.customer.token,
            &cart_body(&cart, "tok_unavailable"),
        ),
        402,
        "payment_failed",
    )
    .await;

    assert_eq!(problem["decline_code"], "provider_unavailable", "{problem}");
    assert_eq!(problem["order"]["status"], "payment_failed");
    assert_eq!(problem["order"]["payment"]["attempts"], 3);
    assert_eq!(levels(app, &shop.product).await, (5, 0));
    let id = problem["order_id"].as_str().expect("order_id");
    assert!(app.ledger(id).await.is_empty());
    assert_eq!(app.get_cart(&cart, Some(&shop.customer.token)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_card_answers_202_pending_and_the_confirmation_arrives_on_the_order_topic() {
    let shop = shop_with(
        spawn_app_with(|config| {
            config.payments.slow_ms = 1500;
            config.orders.sync_wait_ms = 300;
        })
        .await,
        5,
    )
    .await;
    let app = &shop.app;
    let cart = app.cart_with(&shop.customer.token, &shop.product, 2).await;

    let (status, order) = app.checkout(&shop.customer.token, &cart, "tok_slow").await;

    assert_eq!(status, 202, "{order}");
    assert_eq!(order["status"], "pending");
    assert_eq!(order["payment"]["status"], "pending");
    let id = id_of(&order);
    let topic = format!("order:{id}");
    let mut ws = app.ws_as(&shop.customer.token).await;
    let subscribed = ws.subscribe(&topic).await;
    assert_eq!(subscribed["snapshot"]["status"], "pending", "{subscribed}");
    assert_eq!(
        levels(app, &shop.product).await,
        (5, 2),
        "held while paying"
    );

    let event = expect_event(&mut ws, &topic, "order.status_changed").await;
    assert_eq!(event["seq"], subscribed["seq"].as_u64().unwrap() + 1);
    assert_eq!(event["data"]["from"], "pending");
    assert_eq!(event["data"]["to"], "confirmed");
    assert_eq!(event["data"]["order"]["status"], "confirmed");
    assert_eq!(event["data"]["order"]["payment"]["status"], "captured");

    assert_eq!(levels(app, &shop.product).await, (3, 0));
    eventually(Duration::from_secs(5), || async {
        app.get_cart(&cart, Some(&shop.customer.token)).await.0 == 404
    })
    .await;
    assert_eq!(ledger_kinds(&app.ledger(&id).await, "charge"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ordering_items_directly_holds_and_sells_them_or_answers_409_with_every_shortage() {
    let shop = shop(3).await;
    let app = &shop.app;
    let other = app.create_product(&shop.store, 1).await;

    let body = json!({
        "store_id": shop.store,
        "items": [{"product_id": shop.product, "quantity": 4}, {"product_id": other, "quantity": 2}],
        "payment": {"method": "card", "token": "tok_visa"},
    });
    let problem = expect_problem(
        order_request(app, &shop.customer.token, &body),
        409,
        "insufficient_stock",
    )
    .await;
    let shortages: HashSet<String> = problem["shortages"]
        .as_array()
        .expect("shortages")
        .iter()
        .map(|s| s["product_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        shortages,
        HashSet::from([shop.product.clone(), other.clone()])
    );
    assert_eq!(levels(app, &shop.product).await, (3, 0));
    assert_eq!(levels(app, &other).await, (1, 0));
    let (_, orders) = app.admin_get("/api/v1/orders").await;
    assert_eq!(orders["total"], 0, "no order exists: {orders}");

    let (status, order) = send(order_request(
        app,
        &shop.customer.token,
        &items_body(&shop.store, &shop.product, 3, "tok_visa"),
    ))
    .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(levels(app, &shop.product).await, (0, 0));
}

// ---------------------------------------------------------------- recovery

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_order_cut_off_by_kill_9_completes_after_restart_and_is_charged_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let env = [
        ("EMPORIUM_PAYMENTS__SLOW_MS", "3000"),
        ("EMPORIUM_ORDERS__SYNC_WAIT_MS", "200"),
    ];
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &env);
    let addr = server.addr;
    crate::helpers::wait_ready(&client, addr).await;
    let store = create_store(&client, addr).await;
    let product = create_product(&client, addr, &store, 5).await;
    let (status, session) = send(client.post(format!("http://{addr}/api/v1/auth/register")).json(
        &json!({"email": "kill9@example.com", "password": "correct horse battery", "name": "K"}),
    ))
    .await;
    assert_eq!(status, 201, "{session}");
    let token = session["access_token"].as_str().expect("token").to_owned();
    let (status, cart) = send(
        client
            .post(format!("http://{addr}/api/v1/carts"))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, 201, "{cart}");
    let cart = id_of(&cart);
    let (status, body) = send(
        client
            .put(format!("http://{addr}/api/v1/carts/{cart}/items/{product}"))
            .bearer_auth(&token)
            .json(&json!({"quantity": 2})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let place = |addr: std::net::SocketAddr| {
        let request = client
            .post(format!("http://{addr}/api/v1/orders"))
            .bearer_auth(&token)
            .header("Idempotency-Key", "kill-9-checkout")
            .json(&cart_body(&cart, "tok_slow"));
        async move {
            let response = request.send().await.expect("sent");
            let status = response.status().as_u16();
            (status, response.text().await.expect("body"))
        }
    };
    let (status, placed) = place(addr).await;
    assert_eq!(status, 202, "{placed}");
    let id = id_of(&serde_json::from_str(&placed).expect("json"));

    server.kill_9();
    let server = ServerProcess::start(dir.path(), &env);
    let addr = server.addr;
    crate::helpers::wait_ready(&client, addr).await;
    // The stored answer outlives the crash: a client retrying its request gets it again.
    assert_eq!(place(addr).await, (202, placed));

    let url = format!("http://{addr}/api/v1/orders/{id}");
    let mut last = Value::Null;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while tokio::time::Instant::now() < deadline {
        let (status, order) = send(client.get(&url).bearer_auth(&token)).await;
        assert_eq!(status, 200, "{order}");
        last = order;
        if last["status"] != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(last["status"], "confirmed", "{last}");
    assert_eq!(last["payment"]["status"], "captured");
    let ledger = payments_ledger(&client, addr, &id).await;
    assert_eq!(ledger_kinds(&ledger, "charge"), 1, "{ledger:?}");
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    let inventory = inventory_at(&client, addr, &product).await;
    assert_eq!(
        (&inventory["on_hand"], &inventory["reserved"]),
        (&json!(3), &json!(0)),
        "{inventory}"
    );
    let sales: Vec<Value> = movements_at(&client, addr, &product)
        .await
        .into_iter()
        .filter(|m| m["kind"] == "sale")
        .collect();
    assert_eq!(sales.len(), 1, "{sales:?}");
    assert_eq!(sales[0]["ref"], id.as_str());
    eventually(Duration::from_secs(5), || async {
        let request = client
            .get(format!("http://{addr}/api/v1/carts/{cart}"))
            .bearer_auth(&token);
        send(request).await.0 == 404
    })
    .await;
    drop(server);
}

// ---------------------------------------------------------------- idempotency

async fn keyed(app: &TestApp, token: &str, key: &str, body: &Value) -> (u16, String, String) {
    let response = order_request(app, token, body)
        .header("Idempotency-Key", key)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_an_order_with_the_same_idempotency_key_answers_the_identical_status_and_body() {
    let shop = shop(10).await;
    let app = &shop.app;
    let token = &shop.customer.token;
    for (card, expected) in [("tok_visa", 201), ("tok_chargeDeclined", 402)] {
        let body = items_body(&shop.store, &shop.product, 1, card);
        let key = format!("key-{card}");

        let first = keyed(app, token, &key, &body).await;
        let again = keyed(app, token, &key, &body).await;

        assert_eq!(first.0, expected, "{first:?}");
        assert_eq!(again, first, "{card}");
    }
    let (_, orders) = app.admin_get("/api/v1/orders").await;
    assert_eq!(orders["total"], 2, "{orders}");
    assert_eq!(levels(app, &shop.product).await, (9, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_requests_with_one_idempotency_key_make_one_order() {
    let shop = Arc::new(shop(50).await);
    let body = items_body(&shop.store, &shop.product, 1, "tok_visa");

    let requests = (0..20).map(|_| {
        let shop = Arc::clone(&shop);
        let body = body.clone();
        tokio::spawn(async move { keyed(&shop.app, &shop.customer.token, "race-key", &body).await })
    });
    let answers: Vec<_> = futures_util::future::join_all(requests)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();

    assert_eq!(answers[0].0, 201, "{:?}", answers[0]);
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    let app = &shop.app;
    let (_, orders) = app
        .admin_get(&format!("/api/v1/orders?store_id={}", shop.store))
        .await;
    assert_eq!(orders["total"], 1, "{orders}");
    let (_, mine) = app
        .call(
            Method::GET,
            "/api/v1/orders",
            Some(&shop.customer.token),
            None,
        )
        .await;
    assert_eq!(mine["total"], 1, "{mine}");
    let (status, ledger) = app.admin_get("/api/v1/admin/payments").await;
    assert_eq!(status, 200, "{ledger}");
    assert_eq!(ledger["total"], 1, "{ledger}");
    assert_eq!(levels(app, &shop.product).await, (49, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_idempotency_key_with_another_body_is_refused_with_422() {
    let shop = shop(10).await;
    let app = &shop.app;
    let token = &shop.customer.token;
    let first = keyed(
        app,
        token,
        "k-1",
        &items_body(&shop.store, &shop.product, 1, "tok_visa"),
    )
    .await;
    assert_eq!(first.0, 201, "{first:?}");

    let problem = expect_problem(
        order_request(
            app,
            token,
            &items_body(&shop.store, &shop.product, 2, "tok_visa"),
        )
        .header("Idempotency-Key", "k-1"),
        422,
        "idempotency_key_reused",
    )
    .await;
    assert!(problem["detail"].is_string());

    // Keys are per caller: someone else's "k-1" is a request of its own.
    let other = app.customer().await;
    let theirs = keyed(
        app,
        &other.token,
        "k-1",
        &items_body(&shop.store, &shop.product, 2, "tok_visa"),
    )
    .await;
    assert_eq!(theirs.0, 201, "{theirs:?}");
    assert_ne!(theirs.2, first.2);
    assert_eq!(levels(app, &shop.product).await, (7, 0));
}

// ---------------------------------------------------------------- the race for the last units

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_customers_racing_for_the_last_ten_units_buy_exactly_ten() {
    let app = Arc::new(spawn_app().await);
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let registrations = (0..100).map(|_| {
        let app = Arc::clone(&app);
        tokio::spawn(async move { app.customer().await })
    });
    let customers: Vec<Shopper> = futures_util::future::join_all(registrations)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();

    // Direct orders (no cart), released together: each one's hold is taken at checkout, so
    // the hundred checkouts really race for the ten units (a cart would hold at add time).
    let start = Arc::new(tokio::sync::Barrier::new(customers.len()));
    let buyers = customers.into_iter().map(|customer| {
        let app = Arc::clone(&app);
        let (store, product, start) = (store.clone(), product.clone(), Arc::clone(&start));
        tokio::spawn(async move {
            let body = items_body(&store, &product, 1, "tok_visa");
            start.wait().await;
            let (status, body) = send(order_request(&app, &customer.token, &body)).await;
            ("order", status, body)
        })
    });
    let outcomes: Vec<(&str, u16, Value)> = futures_util::future::join_all(buyers)
        .await
        .into_iter()
        .map(|r| r.expect("task"))
        .collect();

    let bought: Vec<&Value> = outcomes
        .iter()
        .filter(|(_, status, _)| *status == 201)
        .map(|(_, _, body)| body)
        .collect();
    assert_eq!(bought.len(), 10, "{outcomes:?}");
    assert!(bought.iter().all(|o| o["status"] == "confirmed"));
    for (step, status, body) in outcomes.iter().filter(|(_, status, _)| *status != 201) {
        assert_eq!(*status, 409, "{step}: {body}");
        assert_eq!(body["code"], "insufficient_stock", "{step}: {body}");
    }
    let inventory = app.inventory(&product).await;
    assert_eq!(
        (
            &inventory["on_hand"],
            &inventory["reserved"],
            &inventory["available"]
        ),
        (&json!(0), &json!(0), &json!(0)),
        "{inventory}"
    );
    let (_, confirmed) = app
        .admin_get(&format!("/api/v1/orders?store_id={store}&status=confirmed"))
        .await;
    assert_eq!(confirmed["total"], 10, "{confirmed}");
    let (_, all) = app.admin_get("/api/v1/orders").await;
    assert_eq!(all["total"], 10, "no other order exists: {all}");
    let movements = app.movements(&product).await;
    let sold: i64 = movements
        .iter()
        .filter(|m| m["kind"] == "sale")
        .map(|m| m["delta"].as_i64().unwrap())
        .sum();
    assert_eq!(sold, -10, "{movements:?}");
    assert!(
        movements
            .iter()
            .all(|m| m["on_hand_after"].as_i64().unwrap() >= 0)
    );

    // The payment provider charged exactly the ten buyers, once each, and refunded nobody:
    // a refused checkout never reaches the card.
    let ledger = whole_payments_ledger(&app).await;
    assert_eq!(ledger_kinds(&ledger, "charge"), 10, "{ledger:?}");
    assert_eq!(ledger_kinds(&ledger, "refund"), 0, "{ledger:?}");
    let charged: HashSet<&str> = ledger
        .iter()
        .map(|e| e["order_id"].as_str().expect("order_id"))
        .collect();
    let bought_ids: HashSet<&str> = bought
        .iter()
        .map(|o| o["id"].as_str().expect("id"))
        .collect();
    assert_eq!(charged, bought_ids, "{ledger:?}");
    for id in bought_ids {
        assert_eq!(ledger_kinds(&app.ledger(id).await, "charge"), 1, "{id}");
    }
}

/// Every entry of the payments ledger (admin), whether `/admin/payments` answers every entry
/// at once or pages them (`page`/`per_page`, `items`/`total`): pages of 100 are walked until
/// `total`; a server that knows no paging answers 422 to them and is asked once, unpaged.
async fn whole_payments_ledger(app: &TestApp) -> Vec<Value> {
    let mut entries = Vec::new();
    for page in 1.. {
        let (status, body) = app
            .admin_get(&format!("/api/v1/admin/payments?per_page=100&page={page}"))
            .await;
        if status == 422 && page == 1 {
            let (status, body) = app.admin_get("/api/v1/admin/payments").await;
            assert_eq!(status, 200, "{body}");
            return body["items"].as_array().expect("items").clone();
        }
        assert_eq!(status, 200, "{body}");
        let batch = body["items"].as_array().expect("items").clone();
        let total = body["total"].as_u64().expect("total") as usize;
        let done = batch.is_empty();
        entries.extend(batch);
        if done || entries.len() >= total {
            break;
        }
    }
    entries
}

// ---------------------------------------------------------------- lifecycle and dashboard

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_staff_and_the_shopper_watch_an_order_move_from_created_to_delivered() {
    let shop = shop(10).await;
    let app = &shop.app;
    let staff = app.staff(&shop.store).await;
    let dashboard_topic = format!("store:{}:orders", shop.store);
    let mut dashboard = app.ws_as(&staff.token).await;
    let subscribed = dashboard.subscribe(&dashboard_topic).await;
    assert_eq!(
        subscribed["snapshot"],
        json!({"store_id": shop.store, "open_orders": []}),
        "{subscribed}"
    );

    let order = confirmed_order(&shop, 2).await;
    let id = id_of(&order);

    let created = expect_event(&mut dashboard, &dashboard_topic, "order.created").await;
    assert_eq!(created["data"]["id"], id.as_str());
    assert_eq!(created["data"]["status"], "pending");
    let confirmed = expect_event(&mut dashboard, &dashboard_topic, "order.status_changed").await;
    assert_eq!(
        (&confirmed["data"]["from"], &confirmed["data"]["to"]),
        (&json!("pending"), &json!("confirmed"))
    );
    assert_eq!(confirmed["data"]["order"]["id"], id.as_str());
    let mut late = app.ws_as(&staff.token).await;
    let snapshot = late.subscribe(&dashboard_topic).await["snapshot"].clone();
    assert_eq!(snapshot["open_orders"][0]["id"], id.as_str(), "{snapshot}");
    assert_eq!(snapshot["open_orders"][0]["status"], "confirmed");

    let order_topic = format!("order:{id}");
    let mut shopper = app.ws_as(&shop.customer.token).await;
    let watching = shopper.subscribe(&order_topic).await;
    assert_eq!(watching["snapshot"]["status"], "confirmed");
    let mut seq = watching["seq"].as_u64().expect("seq");

    let mut from = "confirmed";
    for to in ["preparing", "ready", "delivered"] {
        let (status, moved) = app.set_order_status(&id, to, &staff.token).await;
        assert_eq!(status, 200, "{moved}");
        assert_eq!(moved["status"], to);

        let seen = expect_event(&mut dashboard, &dashboard_topic, "order.status_changed").await;
        assert_eq!(
            (seen["data"]["from"].as_str(), seen["data"]["to"].as_str()),
            (Some(from), Some(to))
        );
        let seen = expect_event(&mut shopper, &order_topic, "order.status_changed").await;
        assert_eq!(
            (seen["data"]["from"].as_str(), seen["data"]["to"].as_str()),
            (Some(from), Some(to))
        );
        assert_eq!(seen["data"]["order"]["status"], to);
        seq += 1;
        assert_eq!(seen["seq"], seq, "no gaps on order:{{id}}");
        from = to;
    }

    let (_, done) = app.get_order(&id, Some(&staff.token)).await;
    assert_eq!(
        statuses(&done),
        ["pending", "confirmed", "preparing", "ready", "delivered"]
    );
    assert_eq!(done["history"][4]["by"], staff.id.as_str());
    let mut after = app.ws_as(&staff.token).await;
    let snapshot = after.subscribe(&dashboard_topic).await["snapshot"].clone();
    assert_eq!(snapshot["open_orders"], json!([]), "delivered is terminal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_transition_answers_409_with_the_allowed_statuses() {
    let shop = shop(10).await;
    let app = &shop.app;
    let staff = app.staff(&shop.store).await;
    let id = id_of(&confirmed_order(&shop, 1).await);

    let problem = expect_problem(
        app.request_as(
            Method::PUT,
            &format!("/api/v1/orders/{id}/status"),
            Some(&staff.token),
        )
        .json(&json!({"status": "delivered"})),
        409,
        "invalid_transition",
    )
    .await;

    assert_eq!(problem["from"], "confirmed", "{problem}");
    assert_eq!(problem["to"], "delivered");
    assert_eq!(problem["allowed"], json!(["preparing", "cancelled"]));
    let problem = expect_problem(
        app.request_as(
            Method::PUT,
            &format!("/api/v1/orders/{id}/status"),
            Some(ADMIN_TOKEN),
        )
        .json(&json!({"status": "confirmed"})),
        409,
        "invalid_transition",
    )
    .await;
    assert_eq!(
        problem["allowed"],
        json!(["preparing", "cancelled"]),
        "{problem}"
    );
    expect_problem(
        app.request_as(
            Method::PUT,
            &format!("/api/v1/orders/{id}/status"),
            Some(&staff.token),
        )
        .json(&json!({"status": "shipped"})),
        422,
        "validation_failed",
    )
    .await;
    expect_problem(
        app.request_as(
            Method::PUT,
            &format!("/api/v1/orders/{id}/status"),
            Some(&shop.customer.token),
        )
        .json(&json!({"status": "preparing"})),
        403,
        "forbidden",
    )
    .await;
    let (_, read) = app.get_order(&id, Some(&staff.token)).await;
    assert_eq!(read["status"], "confirmed");
    assert_eq!(statuses(&read), ["pending", "confirmed"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_cancelling_a_confirmed_order_is_refunded_and_the_units_come_back() {
    let shop = shop(5).await;
    let app = &shop.app;
    let id = id_of(&confirmed_order(&shop, 2).await);
    assert_eq!(levels(app, &shop.product).await, (3, 0));
    let topic = format!("order:{id}");
    let mut ws = app.ws_as(&shop.customer.token).await;
    ws.subscribe(&topic).await;

    let (status, order) = app.cancel_order(&id, &shop.customer.token).await;

    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "cancelled");
    assert_eq!(order["payment"]["status"], "refunded");
    assert_eq!(statuses(&order), ["pending", "confirmed", "cancelled"]);
    assert_eq!(order["history"][2]["by"], shop.customer.id.as_str());
    let event = expect_event(&mut ws, &topic, "order.status_changed").await;
    assert_eq!(event["data"]["to"], "cancelled");
    let ledger = app.ledger(&id).await;
    assert_eq!(
        (
            ledger_kinds(&ledger, "charge"),
            ledger_kinds(&ledger, "refund")
        ),
        (1, 1),
        "{ledger:?}"
    );
    let refund = ledger.iter().find(|e| e["kind"] == "refund").unwrap();
    assert_eq!(refund["amount"], json!({"amount": 3998, "currency": "USD"}));
    assert_eq!(levels(app, &shop.product).await, (5, 0));
    let movements = app.movements(&shop.product).await;
    assert_eq!(movements[0]["kind"], "cancellation", "{movements:?}");
    assert_eq!(movements[0]["delta"], 2);
    assert_eq!(movements[0]["ref"], id.as_str());
    assert_eq!(movements[0]["on_hand_after"], 5);

    // A repeated cancel answers the cancelled order (issue 10), doing nothing again.
    let (status, again) = app.cancel_order(&id, &shop.customer.token).await;
    assert_eq!(
        (status, &again["status"]),
        (200, &json!("cancelled")),
        "{again}"
    );
    assert_eq!(statuses(&again), ["pending", "confirmed", "cancelled"]);
    assert_eq!(
        levels(app, &shop.product).await,
        (5, 0),
        "nothing returned twice"
    );
    assert_eq!(ledger_kinds(&app.ledger(&id).await, "refund"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_customer_cannot_cancel_a_preparing_order_but_staff_can() {
    let shop = shop(5).await;
    let app = &shop.app;
    let staff = app.staff(&shop.store).await;
    let id = id_of(&confirmed_order(&shop, 1).await);
    let (status, body) = app.set_order_status(&id, "preparing", &staff.token).await;
    assert_eq!(status, 200, "{body}");

    let problem = expect_problem(
        app.request_as(
            Method::POST,
            &format!("/api/v1/orders/{id}/cancel"),
            Some(&shop.customer.token),
        )
        .json(&json!({})),
        409,
        "invalid_transition",
    )
    .await;
    assert_eq!(problem["from"], "preparing", "{problem}");
    assert_eq!(problem["to"], "cancelled");

    let (status, order) = app.cancel_order(&id, &staff.token).await;
    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "cancelled");
    assert_eq!(order["payment"]["status"], "refunded");
    assert_eq!(levels(app, &shop.product).await, (5, 0));
    assert_eq!(ledger_kinds(&app.ledger(&id).await, "refund"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_pending_order_releases_its_hold_and_refunds_the_charge_that_lands_later() {
    let shop = shop_with(
        spawn_app_with(|config| {
            config.payments.slow_ms = 800;
            config.orders.sync_wait_ms = 100;
        })
        .await,
        5,
    )
    .await;
    let app = &shop.app;
    let cart = app.cart_with(&shop.customer.token, &shop.product, 2).await;
    let (status, order) = app.checkout(&shop.customer.token, &cart, "tok_slow").await;
    assert_eq!(status, 202, "{order}");
    let id = id_of(&order);

    let (status, order) = app.cancel_order(&id, &shop.customer.token).await;

    assert_eq!(status, 200, "{order}");
    assert_eq!(order["status"], "cancelled");
    assert_eq!(levels(app, &shop.product).await, (5, 0));
    eventually(Duration::from_secs(10), || async {
        let ledger = app.ledger(&id).await;
        ledger_kinds(&ledger, "charge") == 1 && ledger_kinds(&ledger, "refund") == 1
    })
    .await;
    eventually(Duration::from_secs(5), || async {
        app.get_order(&id, Some(&shop.customer.token)).await.1["payment"]["status"] == "refunded"
    })
    .await;
    let (_, read) = app.get_order(&id, Some(&shop.customer.token)).await;
    assert_eq!(read["status"], "cancelled", "{read}");
    assert_eq!(levels(app, &shop.product).await, (5, 0), "nothing sold");
}

// ---------------------------------------------------------------- access

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_its_customer_its_stores_staff_and_admins_see_an_order() {
    let shop = shop(5).await;
    let app = &shop.app;
    let elsewhere = app.create_store().await;
    let staff = app.staff(&shop.store).await;
    let foreign_staff = app.staff(&elsewhere).await;
    let stranger = app.customer().await;
    let id = id_of(&confirmed_order(&shop, 1).await);
    let path = format!("/api/v1/orders/{id}");

    for token in [&shop.customer.token, &staff.token, ADMIN_TOKEN] {
        let (status, body) = app.get_order(&id, Some(token)).await;
        assert_eq!((status, &body["id"]), (200, &json!(id)), "{body}");
    }
    for token in [&stranger.token, &foreign_staff.token] {
        expect_problem(
            app.request_as(Method::GET, &path, Some(token)),
            404,
            "not_found",
        )
        .await;
    }
    expect_problem(
        app.request_as(
            Method::PUT,
            &format!("{path}/status"),
            Some(&foreign_staff.token),
        )
        .json(&json!({"status": "preparing"})),
        404,
        "not_found",
    )
    .await;
    expect_problem(
        app.request_as(
            Method::POST,
            &format!("{path}/cancel"),
            Some(&stranger.token),
        ),
        404,
        "not_found",
    )
    .await;

    let topic = format!("order:{id}");
    for token in [&stranger.token, &foreign_staff.token] {
        let mut ws = app.ws_as(token).await;
        let reply = ws.try_subscribe(&topic).await;
        assert_eq!(reply["type"], "error", "{reply}");
        assert_eq!(reply["code"], "not_found", "{reply}");
        let reply = ws
            .try_subscribe(&format!("store:{}:orders", shop.store))
            .await;
        assert_eq!(reply["code"], "not_found", "{reply}");
    }
    let mut anonymous = app.ws().await;
    assert_eq!(anonymous.try_subscribe(&topic).await["code"], "not_found");
    let mut theirs = app.ws_as(&staff.token).await;
    theirs.subscribe(&topic).await;

    expect_problem(
        app.request_as(Method::GET, "/api/v1/orders", None),
        401,
        "unauthorized",
    )
    .await;
    for (token, total) in [
        (shop.customer.token.as_str(), 1),
        (stranger.token.as_str(), 0),
        (staff.token.as_str(), 1),
        (foreign_staff.token.as_str(), 0),
        (ADMIN_TOKEN, 1),
    ] {
        let (status, list) = app
            .call(Method::GET, "/api/v1/orders", Some(token), None)
            .await;
        assert_eq!((status, &list["total"]), (200, &json!(total)), "{list}");
    }
    let (status, _) = app.get_order(&id, Some(&shop.customer.token)).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_customers_and_admins_place_orders() {
    let shop = shop(5).await;
    let app = &shop.app;
    let staff = app.staff(&shop.store).await;
    let body = items_body(&shop.store, &shop.product, 1, "tok_visa");

    expect_problem(
        app.request_as(Method::POST, "/api/v1/orders", None)
            .json(&body),
        401,
        "unauthorized",
    )
    .await;
    expect_problem(order_request(app, &staff.token, &body), 403, "forbidden").await;
    let (status, order) = send(order_request(app, ADMIN_TOKEN, &body)).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["customer_id"], Value::Null);
    assert_eq!(levels(app, &shop.product).await, (4, 0));
}

// ---------------------------------------------------------------- checkout races on one cart

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checking_out_one_cart_twice_at_once_makes_one_order_and_one_charge() {
    let shop = Arc::new(shop(10).await);
    for _ in 0..5 {
        let cart = shop
            .app
            .cart_with(&shop.customer.token, &shop.product, 2)
            .await;
        let clicks = (0..2).map(|_| {
            let shop = Arc::clone(&shop);
            let cart = cart.clone();
            tokio::spawn(async move {
                shop.app
                    .checkout(&shop.customer.token, &cart, "tok_visa")
                    .await
            })
        });
        let mut answers: Vec<(u16, Value)> = futures_util::future::join_all(clicks)
            .await
            .into_iter()
            .map(|r| r.expect("task"))
            .collect();
        answers.sort_by_key(|(status, _)| *status);

        assert_eq!(answers[0].0, 201, "{answers:?}");
        // The second click is the same checkout: it answers that order (or 404 once the
        // cart and the order are both out of reach), never a second one.
        match answers[1].0 {
            201 => assert_eq!(answers[1].1["id"], answers[0].1["id"], "{answers:?}"),
            _ => assert_eq!(answers[1].1["code"], "not_found", "{answers:?}"),
        }
    }
    let app = &shop.app;
    let (_, orders) = app.admin_get("/api/v1/orders").await;
    assert_eq!(orders["total"], 5, "{orders}");
    let (_, ledger) = app.admin_get("/api/v1/admin/payments").await;
    assert_eq!(ledger["total"], 5, "{ledger}");
    assert_eq!(levels(app, &shop.product).await, (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_a_cart_during_its_checkout_never_sells_units_nobody_paid_for() {
    let shop = Arc::new(shop(1000).await);
    let app = &shop.app;
    let mut ordered = 0;
    for _ in 0..20 {
        let cart = app.cart_with(&shop.customer.token, &shop.product, 1).await;
        let checkout = {
            let shop = Arc::clone(&shop);
            let cart = cart.clone();
            tokio::spawn(async move {
                shop.app
                    .checkout(&shop.customer.token, &cart, "tok_visa")
                    .await
            })
        };
        let change = {
            let shop = Arc::clone(&shop);
            let cart = cart.clone();
            tokio::spawn(async move {
                shop.app
                    .set_cart_item(&cart, &shop.product, 3, Some(&shop.customer.token))
                    .await
            })
        };
        let (status, order) = checkout.await.expect("task");
        let _ = change.await.expect("task");
        assert_eq!(status, 201, "{order}");
        ordered += order["items"][0]["quantity"].as_i64().expect("quantity");
        // A cart the change re-created the hold of is gone with the confirmed order.
        let _ = app
            .call(
                Method::DELETE,
                &format!("/api/v1/carts/{cart}"),
                Some(&shop.customer.token),
                None,
            )
            .await;
    }

    let (on_hand, reserved) = levels(app, &shop.product).await;
    assert_eq!(1000 - on_hand, ordered, "sold exactly what the orders say");
    assert_eq!(reserved, 0, "no hold left behind");
    let (_, orders) = app.admin_get("/api/v1/orders?per_page=100").await;
    let charged: i64 = orders["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|o| o["total"]["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(charged, ordered * 1999);
}

// ---------------------------------------------------------------- requests, lists, ledger

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_request_is_validated_and_keeps_its_address_and_note() {
    let shop = shop(5).await;
    let app = &shop.app;
    let token = &shop.customer.token;
    let empty = id_of(&app.create_cart(Some(token)).await);
    let mut long_note = items_body(&shop.store, &shop.product, 1, "tok_visa");
    long_note["note"] = json!("x".repeat(501));
    let mut unknown = items_body(&shop.store, &shop.product, 1, "tok_visa");
    unknown["coupon"] = json!("FREE");
    let mut zero = items_body(&shop.store, &shop.product, 1, "tok_visa");
    zero["items"][0]["quantity"] = json!(0);
    let mut cash = items_body(&shop.store, &shop.product, 1, "tok_visa");
    cash["payment"]["method"] = json!("cash");
    let both = json!({
        "cart_id": empty, "store_id": shop.store, "items": [],
        "payment": {"method": "card", "token": "tok_visa"},
    });
    let no_payment = json!({"cart_id": empty});

    for body in [
        long_note,
        unknown,
        zero,
        cash,
        both,
        no_payment,
        cart_body(&empty, "tok_visa"),
    ] {
        expect_problem(order_request(app, token, &body), 422, "validation_failed").await;
    }
    let (_, orders) = app.admin_get("/api/v1/orders").await;
    assert_eq!(orders["total"], 0, "{orders}");
    assert_eq!(levels(app, &shop.product).await, (5, 0));

    let mut body = items_body(&shop.store, &shop.product, 1, "tok_visa");
    body["note"] = json!("ring twice");
    body["shipping_address"] = json!({"line1": "1 Main St", "city": "Springfield"});
    let (status, order) = send(order_request(app, token, &body)).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["note"], "ring twice");
    assert_eq!(order["shipping_address"]["city"], "Springfield");
    assert!(
        order["payment"].get("token").is_none(),
        "the card token is never shown"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_are_listed_newest_first_and_filtered_by_status() {
    let shop = shop(10).await;
    let app = &shop.app;
    let staff = app.staff(&shop.store).await;
    let first = id_of(&confirmed_order(&shop, 1).await);
    let failed = expect_problem(
        order_request(
            app,
            &shop.customer.token,
            &items_body(&shop.store, &shop.product, 1, "tok_chargeDeclined"),
        ),
        402,
        "payment_failed",
    )
    .await["order_id"]
        .as_str()
        .expect("order_id")
        .to_owned();
    let last = id_of(&confirmed_order(&shop, 1).await);
    let (status, _) = app.set_order_status(&last, "preparing", &staff.token).await;
    assert_eq!(status, 200);

    let ids = |list: &Value| -> Vec<String> {
        list["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(id_of)
            .collect()
    };
    let (_, all) = app
        .call(
            Method::GET,
            "/api/v1/orders",
            Some(&shop.customer.token),
            None,
        )
        .await;
    assert_eq!(ids(&all), [last.as_str(), failed.as_str(), first.as_str()]);
    let (_, some) = app
        .call(
            Method::GET,
            "/api/v1/orders?status=confirmed,preparing",
            Some(&staff.token),
            None,
        )
        .await;
    assert_eq!(ids(&some), [last.as_str(), first.as_str()]);
    assert_eq!(some["total"], 2);
    let (_, paged) = app
        .admin_get(&format!(
            "/api/v1/orders?store_id={}&per_page=1&page=2",
            shop.store
        ))
        .await;
    assert_eq!(ids(&paged), [failed.as_str()]);
    assert_eq!(
        (&paged["total"], &paged["per_page"]),
        (&json!(3), &json!(1))
    );
    expect_problem(
        app.admin_request(Method::GET, "/api/v1/orders?status=lost"),
        422,
        "validation_failed",
    )
    .await;
    expect_problem(
        app.admin_request(Method::GET, "/api/v1/orders?per_page=101"),
        422,
        "validation_failed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payments_ledger_is_for_admins_only() {
    let shop = shop(5).await;
    let app = &shop.app;
    let staff = app.staff(&shop.store).await;
    let id = id_of(&confirmed_order(&shop, 1).await);
    let path = format!("/api/v1/admin/payments?order_id={id}");

    expect_problem(
        app.request_as(Method::GET, &path, None),
        401,
        "unauthorized",
    )
    .await;
    for token in [&shop.customer.token, &staff.token] {
        expect_problem(
            app.request_as(Method::GET, &path, Some(token)),
            403,
            "forbidden",
        )
        .await;
    }
    let ledger = app.ledger(&id).await;
    assert_eq!(ledger.len(), 1);
    assert_eq!(ledger[0]["order_id"], id.as_str());
    assert_rfc3339_millis(&ledger[0]["at"]);
    assert!(app.ledger("ord_someoneelse").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_the_order_topic_replays_the_missed_status_changes() {
    let shop = shop(5).await;
    let app = &shop.app;
    let staff = app.staff(&shop.store).await;
    let id = id_of(&confirmed_order(&shop, 1).await);
    let topic = format!("order:{id}");
    let mut ws = app.ws_as(&shop.customer.token).await;
    let subscribed = ws.subscribe(&topic).await;
    let epoch = subscribed["epoch"].as_str().expect("epoch").to_owned();
    let seq = subscribed["seq"].as_u64().expect("seq");
    drop(ws);

    for to in ["preparing", "ready"] {
        let (status, body) = app.set_order_status(&id, to, &staff.token).await;
        assert_eq!(status, 200, "{body}");
    }
    let mut ws = app.ws_as(&shop.customer.token).await;
    let resumed = ws.subscribe_since(&topic, &epoch, seq).await;

    assert_eq!(resumed["replayed"], 2, "{resumed}");
    for (offset, to) in [(1, "preparing"), (2, "ready")] {
        let event = expect_event(&mut ws, &topic, "order.status_changed").await;
        assert_eq!(event["seq"], seq + offset);
        assert_eq!(event["data"]["to"], to);
    }
    ws.assert_nothing_pending().await;
}
