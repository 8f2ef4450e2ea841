//! Fulfilment, refunds, restaurant orders and the watchdog (docs/API.md §13).

use crate::helpers::{ADMIN_TOKEN, Shopper, TestApp, id_of, spawn_app, spawn_app_with};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// A confirmed order of `items` (product, quantity) placed by a fresh customer.
async fn order_of(app: &TestApp, store: &str, items: &[(&str, i64)]) -> (Shopper, Value) {
    let customer = app.customer().await;
    let items: Vec<Value> = items
        .iter()
        .map(|(p, q)| json!({"product_id": p, "quantity": q}))
        .collect();
    let (status, order) = app
        .call(
            Method::POST,
            "/api/v1/orders",
            Some(&customer.token),
            Some(json!({
                "store_id": store, "items": items,
                "payment": {"method": "card", "token": "tok_visa"},
            })),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    (customer, order)
}

async fn admin(app: &TestApp, method: Method, path: &str, body: Value) -> (u16, Value) {
    app.call(method, path, Some(ADMIN_TOKEN), Some(body)).await
}

async fn fulfil(app: &TestApp, order: &str, items: &[(&str, i64)]) -> (u16, Value) {
    let items: Vec<Value> = items
        .iter()
        .map(|(p, q)| json!({"product_id": p, "quantity": q}))
        .collect();
    admin(
        app,
        Method::POST,
        &format!("/api/v1/orders/{order}/fulfillments"),
        json!({"items": items, "carrier": "UPS", "tracking_number": "1Z999",
               "tracking_url": "https://ups.example/1Z999"}),
    )
    .await
}

async fn order_now(app: &TestApp, order: &str) -> Value {
    let (status, body) = app.get_order(order, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    body
}

#[tokio::test]
async fn a_partial_fulfilment_then_the_rest_then_delivery_moves_the_order_along() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let a = app.create_product(&store, 10).await;
    let b = app.create_product(&store, 10).await;
    let (_, order) = order_of(&app, &store, &[(&a, 3), (&b, 1)]).await;
    let id = id_of(&order);
    assert_eq!(order["fulfillment_status"], "unfulfilled");

    let (status, first) = fulfil(&app, &id, &[(&a, 2)]).await;
    assert_eq!(status, 201, "{first}");
    assert!(first["id"].as_str().is_some_and(|i| i.starts_with("ful_")));
    assert_eq!(first["status"], "shipped");
    assert_eq!(first["order_id"], id.as_str());
    assert_eq!(first["tracking_number"], "1Z999");
    assert_eq!(first["events"][0]["status"], "shipped");
    let now = order_now(&app, &id).await;
    assert_eq!(now["fulfillment_status"], "partially_fulfilled");
    assert_eq!(now["status"], "confirmed");

    let (status, problem) = fulfil(&app, &id, &[(&a, 2)]).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "over_fulfilled");

    let (status, second) = fulfil(&app, &id, &[(&a, 1), (&b, 1)]).await;
    assert_eq!(status, 201, "{second}");
    let now = order_now(&app, &id).await;
    assert_eq!(now["fulfillment_status"], "fulfilled");
    assert_eq!(now["status"], "in_transit");
    assert_eq!(now["history"].as_array().map(Vec::len), Some(3));
    assert_eq!(now["fulfillments"].as_array().map(Vec::len), Some(2));

    for shipment in [&first, &second] {
        let (status, body) = admin(
            &app,
            Method::POST,
            &format!("/api/v1/fulfillments/{}/events", id_of(shipment)),
            json!({"status": "delivered", "note": "left at the door"}),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], "delivered");
        assert_eq!(body["events"][1]["note"], "left at the door");
    }
    let now = order_now(&app, &id).await;
    assert_eq!(now["status"], "delivered");

    // Fulfilling a delivered order is not a step of its lifecycle.
    let (status, problem) = fulfil(&app, &id, &[(&a, 1)]).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "invalid_transition");
}

#[tokio::test]
async fn fulfilling_a_cancelled_order_is_an_invalid_transition_and_customers_may_not_fulfil() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let a = app.create_product(&store, 10).await;
    let (customer, order) = order_of(&app, &store, &[(&a, 1)]).await;
    let id = id_of(&order);
    let (status, _) = app
        .call(
            Method::POST,
            &format!("/api/v1/orders/{id}/fulfillments"),
            Some(&customer.token),
            Some(json!({"items": [{"product_id": a, "quantity": 1}]})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = app.cancel_order(&id, &customer.token).await;
    assert_eq!(status, 200, "{body}");
    let (status, problem) = fulfil(&app, &id, &[(&a, 1)]).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "invalid_transition");
}

#[tokio::test]
async fn partial_refunds_add_up_and_more_than_captured_is_over_refunded() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let a = app.create_product(&store, 10).await;
    let (_, order) = order_of(&app, &store, &[(&a, 2)]).await; // 2 × 1999
    let id = id_of(&order);
    let path = format!("/api/v1/orders/{id}/refunds");
    let refund =
        |amount: i64| json!({"amount": {"amount": amount, "currency": "USD"}, "reason": "late"});

    let (status, first) = admin(&app, Method::POST, &path, refund(1000)).await;
    assert_eq!(status, 201, "{first}");
    assert!(first["id"].as_str().is_some_and(|i| i.starts_with("rfn_")));
    assert_eq!(first["status"], "succeeded");
    let (status, _) = admin(&app, Method::POST, &path, refund(2000)).await;
    assert_eq!(status, 201);
    let (status, problem) = admin(&app, Method::POST, &path, refund(999)).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "over_refunded");
    assert_eq!(problem["refundable"], 998);

    let now = order_now(&app, &id).await;
    assert_eq!(now["payment"]["refunded"]["amount"], 3000);
    assert_eq!(now["payment"]["refunds"].as_array().map(Vec::len), Some(2));
    let ledger = app.ledger(&id).await;
    let refunds: Vec<i64> = ledger
        .iter()
        .filter(|e| e["kind"] == "refund")
        .filter_map(|e| e["amount"]["amount"].as_i64())
        .collect();
    assert_eq!(refunds.len(), 2, "{ledger:?}");
    assert_eq!(refunds.iter().sum::<i64>(), 3000);

    let (status, problem) = admin(
        &app,
        Method::POST,
        &path,
        json!({"amount": {"amount": 1, "currency": "EUR"}, "reason": "x"}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
}

#[tokio::test]
async fn a_dine_in_order_needs_a_table_and_prep_minutes_set_the_ready_time() {
    let app = spawn_app().await;
    let (status, store) = admin(
        &app,
        Method::POST,
        "/api/v1/stores",
        json!({"name": "Diner", "kind": "restaurant", "currency": "USD"}),
    )
    .await;
    assert_eq!(status, 201, "{store}");
    let store = id_of(&store);
    let dish = app.create_product(&store, 10).await;
    let customer = app.customer().await;
    let body = |extra: Value| {
        let mut body = json!({
            "store_id": store, "items": [{"product_id": dish, "quantity": 1}],
            "payment": {"method": "card", "token": "tok_visa"},
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        body
    };
    let (status, problem) = app
        .call(
            Method::POST,
            "/api/v1/orders",
            Some(&customer.token),
            Some(body(json!({"fulfillment_type": "dine_in"}))),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["code"], "validation_failed");

    let (status, pickup) = app
        .call(
            Method::POST,
            "/api/v1/orders",
            Some(&customer.token),
            Some(body(json!({}))),
        )
        .await;
    assert_eq!(status, 201, "{pickup}");
    assert_eq!(pickup["fulfillment_type"], "pickup");

    let (status, order) = app
        .call(
            Method::POST,
            "/api/v1/orders",
            Some(&customer.token),
            Some(body(json!({"fulfillment_type": "dine_in", "table": "T7"}))),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["table"], "T7");
    assert_eq!(order["estimated_ready_at"], Value::Null);
    let id = id_of(&order);

    let (status, problem) = admin(
        &app,
        Method::PUT,
        &format!("/api/v1/orders/{id}/status"),
        json!({"status": "preparing", "prep_minutes": 0}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    let before = chrono_now_ms();
    let (status, preparing) = admin(
        &app,
        Method::PUT,
        &format!("/api/v1/orders/{id}/status"),
        json!({"status": "preparing", "prep_minutes": 15}),
    )
    .await;
    assert_eq!(status, 200, "{preparing}");
    let ready = preparing["estimated_ready_at"]
        .as_str()
        .expect("estimated_ready_at");
    let ready_ms = chrono::DateTime::parse_from_rfc3339(ready)
        .expect("rfc 3339")
        .timestamp_millis();
    let expected = before + 15 * 60_000;
    assert!(
        (ready_ms - expected).abs() < 60_000,
        "{ready_ms} vs {expected}"
    );
}

fn chrono_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

#[tokio::test]
async fn an_order_confirmed_and_not_started_raises_order_stuck_on_the_store_topic() {
    let app = spawn_app_with(|c| c.orders.start_alert_minutes = 0.01).await;
    let store = app.create_store().await;
    let a = app.create_product(&store, 10).await;
    let mut ws = app.ws_as(ADMIN_TOKEN).await;
    let reply = ws.subscribe(&format!("store:{store}:orders")).await;
    assert_eq!(reply["type"], "subscribed", "{reply}");
    let (_, order) = order_of(&app, &store, &[(&a, 1)]).await;
    let id = id_of(&order);
    let stuck = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let frame = ws.next_json().await;
            if frame["event"] == "order.stuck" {
                break frame;
            }
        }
    })
    .await
    .expect("an order.stuck frame within 10 s");
    assert_eq!(stuck["data"]["order_id"], id.as_str());
    assert_eq!(stuck["data"]["reason"], "not_started");
    assert_eq!(stuck["data"]["order"]["status"], "confirmed");
}

#[tokio::test]
async fn a_staff_status_change_is_undone_within_ten_seconds_and_an_undo_is_not_undone() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let a = app.create_product(&store, 10).await;
    let (customer, order) = order_of(&app, &store, &[(&a, 1)]).await;
    let id = id_of(&order);
    let undo = format!("/api/v1/orders/{id}/undo");
    // Nothing staff did yet: confirming was the system's.
    let (status, problem) = app.call(Method::POST, &undo, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 409, "{problem}");
    assert_eq!(problem["code"], "invalid_transition");
    let (status, _) = app.set_order_status(&id, "preparing", ADMIN_TOKEN).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .call(Method::POST, &undo, Some(&customer.token), None)
        .await;
    assert_eq!(status, 403);
    let (status, back) = app.call(Method::POST, &undo, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["status"], "confirmed");
    assert_eq!(back["history"][3]["reason"], "undo");
    let (status, problem) = app.call(Method::POST, &undo, Some(ADMIN_TOKEN), None).await;
    assert_eq!(status, 409, "{problem}");
}

#[tokio::test]
async fn a_refund_retried_with_its_idempotency_key_refunds_once() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let a = app.create_product(&store, 10).await;
    let (_, order) = order_of(&app, &store, &[(&a, 1)]).await;
    let id = id_of(&order);
    let body = json!({"amount": {"amount": 500, "currency": "USD"}, "reason": "scratch"});
    let mut answers = Vec::new();
    for _ in 0..2 {
        answers.push(
            crate::helpers::send(
                app.request_as(
                    Method::POST,
                    &format!("/api/v1/orders/{id}/refunds"),
                    Some(ADMIN_TOKEN),
                )
                .header("Idempotency-Key", "refund-once")
                .json(&body),
            )
            .await,
        );
    }
    assert_eq!(answers[0].0, 201, "{}", answers[0].1);
    assert_eq!(answers[0], answers[1]);
    let now = order_now(&app, &id).await;
    assert_eq!(now["payment"]["refunds"].as_array().map(Vec::len), Some(1));
    let refunds = app
        .ledger(&id)
        .await
        .iter()
        .filter(|e| e["kind"] == "refund")
        .count();
    assert_eq!(refunds, 1);
}
