//! Request handling of issue 10: `Idempotency-Key` on every state-changing POST (also across a
//! restart), `POST /carts` bodies, cancellation reasons and repeated cancels, and the
//! paginated payment ledger.

use crate::helpers::{
    ADMIN_TOKEN, ServerProcess, TestApp, create_product, create_store, expect_problem, id_of,
    inventory_at, send, send_typed, spawn_app,
};
use reqwest::Method;
use serde_json::{Value, json};

/// Sends an admin request with `Idempotency-Key: key`; answers status, media type and body.
async fn admin_with_key(
    app: &TestApp,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, String, Value) {
    let request = app
        .admin_request(method, path)
        .header("Idempotency-Key", key);
    send_typed(match body {
        Some(body) => request.json(&body),
        None => request,
    })
    .await
}

fn on_hand(inventory: &Value) -> i64 {
    inventory["on_hand"].as_i64().expect("on_hand")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adjustment_sent_twice_with_one_idempotency_key_is_applied_once() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let path = format!("/api/v1/products/{product}/inventory/adjustments");
    let body = json!({"delta": 3, "reason": "restock", "note": "truck 7"});

    let first = admin_with_key(&app, Method::POST, &path, "adj-1", Some(body.clone())).await;
    assert_eq!(first.0, 200, "{first:?}");
    let again = admin_with_key(&app, Method::POST, &path, "adj-1", Some(body.clone())).await;
    assert_eq!(again, first, "the retry replays the first answer");
    assert_eq!(on_hand(&app.inventory(&product).await), 8, "applied once");
    let restocks = app
        .admin_get(&format!("/api/v1/products/{product}/inventory/movements"))
        .await
        .1["items"]
        .as_array()
        .expect("movements")
        .iter()
        .filter(|m| m["reason"] == "restock")
        .count();
    assert_eq!(restocks, 1, "one movement");

    // The same key with another body, or on another product, is another request.
    let other = json!({"delta": 4, "reason": "restock"});
    expect_problem(
        app.admin_request(Method::POST, &path)
            .header("Idempotency-Key", "adj-1")
            .json(&other),
        422,
        "idempotency_key_reused",
    )
    .await;
    let elsewhere = app.create_product(&store, 5).await;
    expect_problem(
        app.admin_request(
            Method::POST,
            &format!("/api/v1/products/{elsewhere}/inventory/adjustments"),
        )
        .header("Idempotency-Key", "adj-1")
        .json(&body),
        422,
        "idempotency_key_reused",
    )
    .await;
    assert_eq!(on_hand(&app.inventory(&product).await), 8);
    assert_eq!(on_hand(&app.inventory(&elsewhere).await), 5);

    // Without a key every request applies.
    let (status, _) = app.admin_post(&path, body.clone()).await;
    assert_eq!(status, 200);
    let (status, _) = app.admin_post(&path, body).await;
    assert_eq!(status, 200);
    assert_eq!(on_hand(&app.inventory(&product).await), 14);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_adjustments_with_one_key_apply_once() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 0).await;
    let path = format!("/api/v1/products/{product}/inventory/adjustments");
    let body = json!({"delta": 1, "reason": "restock"});
    let answers = futures_util::future::join_all(
        (0..8).map(|_| admin_with_key(&app, Method::POST, &path, "race", Some(body.clone()))),
    )
    .await;
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert_eq!(on_hand(&app.inventory(&product).await), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_cart_store_product_or_user_twice_with_one_key_creates_one() {
    let app = spawn_app().await;

    let customer = app.customer().await;
    let cart = |key: &'static str| {
        send_typed(
            app.request_as(Method::POST, "/api/v1/carts", Some(&customer.token))
                .header("Idempotency-Key", key),
        )
    };
    let first = cart("cart-1").await;
    assert_eq!(first.0, 201, "{first:?}");
    assert_eq!(cart("cart-1").await, first);
    assert_ne!(id_of(&cart("cart-2").await.2), id_of(&first.2));
    // The key is the caller's: another caller with the same key gets its own cart.
    let other = app.customer().await;
    let (status, _, theirs) = send_typed(
        app.request_as(Method::POST, "/api/v1/carts", Some(&other.token))
            .header("Idempotency-Key", "cart-1"),
    )
    .await;
    assert_eq!(status, 201);
    assert_ne!(id_of(&theirs), id_of(&first.2));

    let store_body = json!({"name": "Once", "kind": "retail", "currency": "USD"});
    let store = admin_with_key(
        &app,
        Method::POST,
        "/api/v1/stores",
        "s-1",
        Some(store_body.clone()),
    )
    .await;
    assert_eq!(store.0, 201, "{store:?}");
    assert_eq!(
        admin_with_key(
            &app,
            Method::POST,
            "/api/v1/stores",
            "s-1",
            Some(store_body)
        )
        .await,
        store
    );
    assert_eq!(app.get("/api/v1/stores").await.1["total"], 1);
    let store_id = id_of(&store.2);

    let product_body = json!({
        "store_id": store_id, "sku": "ONCE-1", "name": "Once",
        "price": {"amount": 100, "currency": "USD"}, "initial_stock": 1
    });
    let product = admin_with_key(
        &app,
        Method::POST,
        "/api/v1/products",
        "p-1",
        Some(product_body.clone()),
    )
    .await;
    assert_eq!(product.0, 201, "{product:?}");
    assert_eq!(
        admin_with_key(
            &app,
            Method::POST,
            "/api/v1/products",
            "p-1",
            Some(product_body)
        )
        .await,
        product,
        "a replay, not 409 sku_taken"
    );

    let user_body = json!({
        "email": "once@example.com", "password": "correct horse battery",
        "name": "Once", "role": "staff", "store_id": store_id
    });
    let user = admin_with_key(
        &app,
        Method::POST,
        "/api/v1/users",
        "u-1",
        Some(user_body.clone()),
    )
    .await;
    assert_eq!(user.0, 201, "{user:?}");
    assert_eq!(
        admin_with_key(&app, Method::POST, "/api/v1/users", "u-1", Some(user_body)).await,
        user,
        "a replay, not 409 email_taken"
    );

    // A reservation's extension: the retry must not move `expires_at` again.
    let reservation = app.reserve_ok(&[(&id_of(&product.2), 1)], Some(60)).await;
    let path = format!("/api/v1/reservations/{reservation}/extend");
    let extended = admin_with_key(
        &app,
        Method::POST,
        &path,
        "x-1",
        Some(json!({"ttl_seconds": 120})),
    )
    .await;
    assert_eq!(extended.0, 200, "{extended:?}");
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(
        admin_with_key(
            &app,
            Method::POST,
            &path,
            "x-1",
            Some(json!({"ttl_seconds": 120}))
        )
        .await,
        extended
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_carts_validates_its_body_and_store_id_binds_the_cart() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let other_store = app.create_store().await;
    let theirs = app.create_product(&other_store, 5).await;
    let ours = app.create_product(&store, 5).await;
    let carts = || app.client.post(app.url("/api/v1/carts"));

    expect_problem(carts().body("garbage"), 400, "invalid_json").await;
    expect_problem(
        carts()
            .header("Content-Type", "application/json")
            .body("[1]"),
        400,
        "invalid_json",
    )
    .await;
    let problem = expect_problem(
        carts().json(&json!({"store": store})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(crate::helpers::error_fields(&problem), ["store"]);
    expect_problem(
        carts().json(&json!({"store_id": 7})),
        422,
        "validation_failed",
    )
    .await;
    expect_problem(
        carts().json(&json!({"store_id": "str_nope"})),
        404,
        "not_found",
    )
    .await;

    // No body and an empty object still make an unbound cart.
    let (status, cart) = send(carts()).await;
    assert_eq!((status, &cart["store_id"]), (201, &Value::Null), "{cart}");
    let (status, cart) = send(carts().json(&json!({}))).await;
    assert_eq!((status, &cart["store_id"]), (201, &Value::Null), "{cart}");

    let (status, cart) = send(carts().json(&json!({"store_id": store}))).await;
    assert_eq!(status, 201, "{cart}");
    assert_eq!(cart["store_id"], store.as_str());
    let id = id_of(&cart);
    let (status, problem) = app.set_cart_item(&id, &theirs, 1, None).await;
    assert_eq!(
        (status, &problem["code"]),
        (409, &json!("store_mismatch")),
        "{problem}"
    );
    let (status, cart) = app.set_cart_item(&id, &ours, 1, None).await;
    assert_eq!(status, 200, "{cart}");
    // Emptied, it stays the store's cart.
    let (status, cart) = app.set_cart_item(&id, &ours, 0, None).await;
    assert_eq!((status, &cart["store_id"]), (200, &json!(store)), "{cart}");
    let (status, _) = app.set_cart_item(&id, &theirs, 1, None).await;
    assert_eq!(status, 409);
}

/// A confirmed order of one unit, for a fresh customer; returns (app, customer token, order).
async fn confirmed_order() -> (TestApp, String, String, Value) {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let customer = app.customer().await;
    let cart = app.cart_with(&customer.token, &product, 1).await;
    let (status, order) = app.checkout(&customer.token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    (app, customer.token, product, order)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_keeps_its_reason_and_a_repeated_cancel_answers_the_cancelled_order() {
    let (app, token, product, order) = confirmed_order().await;
    let id = id_of(&order);
    let path = format!("/api/v1/orders/{id}/cancel");
    let (status, cancelled) = app
        .call(
            Method::POST,
            &path,
            Some(&token),
            Some(json!({"reason": "  wrong size  "})),
        )
        .await;
    assert_eq!(status, 200, "{cancelled}");
    let history = cancelled["history"].as_array().expect("history");
    let last = history.last().expect("an entry");
    assert_eq!(last["status"], "cancelled");
    assert_eq!(last["reason"], "wrong size");
    assert_eq!(history[0]["reason"], Value::Null);
    let (_, read) = app.get_order(&id, Some(&token)).await;
    assert_eq!(read["history"], cancelled["history"], "kept on the order");

    // Again (the first answer was lost, say): 200 with the order as it is, nothing redone.
    let (status, again) = app
        .call(
            Method::POST,
            &path,
            Some(&token),
            Some(json!({"reason": "again"})),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["status"], "cancelled");
    assert_eq!(again["history"], cancelled["history"]);
    let (status, again) = app.call(Method::POST, &path, Some(&token), None).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        crate::helpers::ledger_kinds(&app.ledger(&id).await, "refund"),
        1
    );
    assert_eq!(on_hand(&app.inventory(&product).await), 10, "returned once");

    let problem = expect_problem(
        app.request_as(Method::POST, &path, Some(&token))
            .json(&json!({"reason": "x".repeat(501)})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(crate::helpers::error_fields(&problem), ["reason"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_with_an_idempotency_key_replays_and_refuses_another_body() {
    let (app, token, _, order) = confirmed_order().await;
    let path = format!("/api/v1/orders/{}/cancel", id_of(&order));
    let cancel = |body: Value| {
        send_typed(
            app.request_as(Method::POST, &path, Some(&token))
                .header("Idempotency-Key", "cancel-1")
                .json(&body),
        )
    };
    let first = cancel(json!({"reason": "late"})).await;
    assert_eq!(first.0, 200, "{first:?}");
    assert_eq!(cancel(json!({"reason": "late"})).await, first);
    let (status, _, problem) = cancel(json!({"reason": "other"})).await;
    assert_eq!(
        (status, &problem["code"]),
        (422, &json!("idempotency_key_reused"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payment_ledger_is_paginated_like_every_list() {
    let (app, token, product, first) = confirmed_order().await;
    for _ in 0..2 {
        let cart = app.cart_with(&token, &product, 1).await;
        let (status, order) = app.checkout(&token, &cart, "tok_visa").await;
        assert_eq!(status, 201, "{order}");
    }
    let (status, all) = app.admin_get("/api/v1/admin/payments").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(
        (
            all["page"].clone(),
            all["per_page"].clone(),
            all["total"].clone()
        ),
        (json!(1), json!(20), json!(3))
    );
    let (_, page1) = app.admin_get("/api/v1/admin/payments?per_page=2").await;
    let (_, page2) = app
        .admin_get("/api/v1/admin/payments?per_page=2&page=2")
        .await;
    assert_eq!(
        page1["items"].as_array().expect("items").len(),
        2,
        "{page1}"
    );
    assert_eq!(
        page2["items"].as_array().expect("items").len(),
        1,
        "{page2}"
    );
    assert_eq!(
        (page2["page"].clone(), page2["total"].clone()),
        (json!(2), json!(3))
    );
    let mut joined = page1["items"].as_array().expect("items").clone();
    joined.extend(page2["items"].as_array().expect("items").iter().cloned());
    assert_eq!(Value::Array(joined), all["items"], "pages follow one order");
    let (_, far) = app.admin_get("/api/v1/admin/payments?page=9").await;
    assert_eq!(
        (far["items"].clone(), far["total"].clone()),
        (json!([]), json!(3))
    );

    let (_, mine) = app
        .admin_get(&format!(
            "/api/v1/admin/payments?order_id={}&per_page=1",
            id_of(&first)
        ))
        .await;
    assert_eq!(mine["total"], 1, "{mine}");
    assert_eq!(mine["items"][0]["order_id"], id_of(&first).as_str());

    for query in ["per_page=0", "per_page=101", "page=0", "per_page=x"] {
        expect_problem(
            app.admin_request(Method::GET, &format!("/api/v1/admin/payments?{query}")),
            422,
            "validation_failed",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adjustment_retried_after_a_kill_9_and_restart_replays_without_applying_again() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &[]);
    let addr = server.addr;
    crate::helpers::wait_ready(&client, addr).await;
    let store = create_store(&client, addr).await;
    let product = create_product(&client, addr, &store, 5).await;
    let adjust = |addr: std::net::SocketAddr| {
        send_typed(
            client
                .post(format!(
                    "http://{addr}/api/v1/products/{product}/inventory/adjustments"
                ))
                .bearer_auth(ADMIN_TOKEN)
                .header("Idempotency-Key", "restart-1")
                .json(&json!({"delta": 2, "reason": "restock"})),
        )
    };
    let first = adjust(addr).await;
    assert_eq!(first.0, 200, "{first:?}");
    server.kill_9();

    let server = ServerProcess::start(dir.path(), &[]);
    crate::helpers::wait_ready(&client, server.addr).await;
    assert_eq!(adjust(server.addr).await, first);
    assert_eq!(
        on_hand(&inventory_at(&client, server.addr, &product).await),
        7
    );
}
