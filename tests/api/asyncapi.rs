//! `GET /api/v1/asyncapi.json`: the AsyncAPI 3 document of the live channel. Every event type
//! of docs/API.md §9 is in it, and real frames of a real session validate against it.

use crate::{helpers::*, observability::validate};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The event types of docs/API.md §9 (the contract, written out here on purpose: the
/// document must name each of them).
const EVENTS: &[&str] = &[
    "stock.changed",
    "stock.low",
    "product.updated",
    "store.status_changed",
    "order.created",
    "order.status_changed",
    "cart.updated",
    "cart.hold_expired",
];

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/api/v1/asyncapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    response.json().await.expect("json")
}

fn refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => map.iter().for_each(|(k, v)| match (k.as_str(), v) {
            ("$ref", Value::String(target)) => out.push(target.clone()),
            _ => refs(v, out),
        }),
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_asyncapi_document_names_every_event_type_on_the_socket_and_the_streams() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["channels"]["socket"]["address"], "/api/v1/ws");
    assert_eq!(doc["channels"]["events"]["address"], "/api/v1/events");
    assert_eq!(
        doc["channels"]["orderEvents"]["address"],
        "/api/v1/orders/{id}/events"
    );
    for event in EVENTS {
        let message = &doc["components"]["messages"][event];
        assert_eq!(message["name"], *event, "{message}");
        assert_eq!(
            message["payload"]["properties"]["event"]["const"], *event,
            "{message}"
        );
        for channel in ["socket", "events", "orderEvents"] {
            assert!(
                doc["channels"][channel]["messages"][event].is_object(),
                "{event} is not a message of {channel}"
            );
        }
    }
    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    for target in targets {
        let pointer = target.strip_prefix('#').expect("local reference");
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
    // The client's operations are described by the schema of the type that parses them.
    let op = &doc["components"]["schemas"]["ClientOp"];
    let text = op.to_string();
    for name in ["subscribe", "unsubscribe", "auth", "ping"] {
        assert!(
            text.contains(&format!("\"{name}\"")),
            "{name} missing: {op}"
        );
    }
}

/// The schema a frame must match: its event's message, or its control frame's.
fn payload_of<'a>(doc: &'a Value, frame: &Value) -> &'a Value {
    let key = match frame["type"].as_str() {
        Some("event") => frame["event"].as_str().expect("event name"),
        Some(other) => other,
        None => panic!("a frame without type: {frame}"),
    };
    let payload = &doc["components"]["messages"][key]["payload"];
    assert!(
        payload.is_object(),
        "frame type {key} is not documented: {frame}"
    );
    payload
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_frames_of_a_shopping_session_validate_against_the_asyncapi_document() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let customer = app.customer().await;
    let mut ws = app.ws_as(ADMIN_TOKEN).await;
    let mut frames = Vec::new();
    for topic in [
        format!("product:{product}"),
        format!("store:{store}"),
        format!("store:{store}:orders"),
    ] {
        frames.push(ws.subscribe(&topic).await);
    }
    ws.send_json(json!({"op": "ping", "ref": 7})).await;
    frames.push(ws.next_json().await);
    ws.send_json(json!({"op": "subscribe", "topic": "product:prod_nope"}))
        .await;
    frames.push(ws.next_json().await);

    let cart = id_of(&app.create_cart(Some(&customer.token)).await);
    frames.push(ws.subscribe(&format!("cart:{cart}")).await);
    let (status, body) = app
        .set_cart_item(&cart, &product, 2, Some(&customer.token))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, order) = app.checkout(&customer.token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    let order_id = id_of(&order);
    let (status, body) = app
        .set_order_status(&order_id, "preparing", ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .admin_patch(
            &format!("/api/v1/products/{product}"),
            json!({"low_stock_threshold": 20}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/v1/stores/{store}/status"),
            Some(ADMIN_TOKEN),
            Some(json!({"open": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let wanted: BTreeSet<String> = [
        "stock.changed",
        "stock.low",
        "product.updated",
        "store.status_changed",
        "order.created",
        "order.status_changed",
        "cart.updated",
    ]
    .map(String::from)
    .into();
    let mut seen = BTreeSet::new();
    while !wanted.is_subset(&seen) {
        let frame = ws.next_json().await;
        if let Some(event) = frame["event"].as_str() {
            seen.insert(event.to_owned());
        }
        frames.push(frame);
    }
    for frame in &frames {
        if let Err(error) = validate(&doc, payload_of(&doc, frame), frame, "$") {
            panic!("a frame breaks the AsyncAPI document: {error}\nframe: {frame}");
        }
    }
}
