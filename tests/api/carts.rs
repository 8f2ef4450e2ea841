//! `/api/v1/carts`: lines with price snapshots, the cart's stock hold (taken on add, resized on
//! change, lapsing after `carts.hold_seconds`), the refusals of §8 and who may see a cart.

use crate::helpers::{
    TestApp, assert_rfc3339_millis, error_fields, eventually, expect_problem, id_of, spawn_app,
    spawn_app_with,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

async fn reserved(app: &TestApp, product: &str) -> i64 {
    app.inventory(product).await["reserved"]
        .as_i64()
        .expect("reserved")
}

fn put_item(
    app: &TestApp,
    cart: &str,
    product: &str,
    quantity: i64,
    token: &str,
) -> reqwest::RequestBuilder {
    app.request_as(
        Method::PUT,
        &format!("/api/v1/carts/{cart}/items/{product}"),
        Some(token),
    )
    .json(&json!({ "quantity": quantity }))
}

fn line_quantity(cart: &Value, product: &str) -> Option<i64> {
    cart["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|l| l["product_id"] == product)
        .map(|l| l["quantity"].as_i64().expect("quantity"))
}

// ---------------------------------------------------------------- creating and reading

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_cart_is_empty_and_belongs_to_the_customer_who_made_it() {
    let app = spawn_app().await;
    let owner = app.customer().await;
    let other = app.customer().await;

    let cart = app.create_cart(Some(&owner.token)).await;

    assert!(id_of(&cart).starts_with("cart_"), "{cart}");
    assert_eq!(cart["store_id"], Value::Null);
    assert_eq!(cart["customer_id"], owner.id.as_str());
    assert_eq!(cart["items"], json!([]));
    assert_eq!(cart["item_count"], 0);
    assert_eq!(cart["hold"], Value::Null);
    assert_rfc3339_millis(&cart["expires_at"]);
    assert_rfc3339_millis(&cart["updated_at"]);
    let id = id_of(&cart);
    let (status, read) = app.get_cart(&id, Some(&owner.token)).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["id"], id.as_str());
    for token in [Some(other.token.as_str()), None] {
        expect_problem(
            app.request_as(Method::GET, &format!("/api/v1/carts/{id}"), token),
            404,
            "not_found",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_cart_is_reachable_by_its_id_alone() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;

    let cart = app.create_cart(None).await;
    let id = id_of(&cart);
    assert_eq!(cart["customer_id"], Value::Null);

    let (status, body) = app.set_cart_item(&id, &product, 2, None).await;
    assert_eq!(status, 200, "{body}");
    let someone = app.customer().await;
    let (status, read) = app.get_cart(&id, Some(&someone.token)).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(line_quantity(&read, &product), Some(2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_cart_or_product_is_not_found() {
    let app = spawn_app().await;
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let cart = id_of(&app.create_cart(Some(&shopper.token)).await);

    for missing in ["cart_doesnotexist", "nonsense"] {
        expect_problem(
            app.request_as(Method::GET, &format!("/api/v1/carts/{missing}"), None),
            404,
            "not_found",
        )
        .await;
        expect_problem(
            put_item(&app, missing, &product, 1, &shopper.token),
            404,
            "not_found",
        )
        .await;
    }
    expect_problem(
        put_item(&app, &cart, "prod_doesnotexist", 1, &shopper.token),
        404,
        "not_found",
    )
    .await;
}

// ---------------------------------------------------------------- lines and holds

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_product_holds_its_units_and_raising_the_quantity_holds_only_the_difference() {
    let app = spawn_app().await;
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let cart = id_of(&app.create_cart(Some(&shopper.token)).await);

    let (status, body) = app
        .set_cart_item(&cart, &product, 2, Some(&shopper.token))
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["store_id"], store.as_str());
    assert_eq!(body["item_count"], 2);
    let line = &body["items"][0];
    assert_eq!(line["product_id"], product.as_str());
    assert_eq!(line["quantity"], 2);
    assert_eq!(
        line["unit_price"],
        json!({"amount": 1999, "currency": "USD"})
    );
    assert_eq!(
        line["line_total"],
        json!({"amount": 3998, "currency": "USD"})
    );
    assert!(
        line["sku"].is_string() && line["name"] == "Test Product",
        "{line}"
    );
    assert_eq!(body["subtotal"], json!({"amount": 3998, "currency": "USD"}));
    let hold = &body["hold"];
    assert!(
        hold["reservation_id"].as_str().unwrap().starts_with("res_"),
        "{hold}"
    );
    assert_rfc3339_millis(&hold["expires_at"]);
    let inventory = app.inventory(&product).await;
    assert_eq!(
        (
            &inventory["on_hand"],
            &inventory["reserved"],
            &inventory["available"]
        ),
        (&json!(10), &json!(2), &json!(8))
    );

    let (status, body) = app
        .set_cart_item(&cart, &product, 5, Some(&shopper.token))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(line_quantity(&body, &product), Some(5));
    assert_eq!(
        reserved(&app, &product).await,
        5,
        "only the difference is held"
    );
    assert_eq!(
        body["hold"]["reservation_id"], hold["reservation_id"],
        "one hold per cart"
    );

    let (status, body) = app
        .set_cart_item(&cart, &product, 1, Some(&shopper.token))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        reserved(&app, &product).await,
        1,
        "lowering gives units back"
    );

    let (status, body) = app
        .set_cart_item(&cart, &product, 0, Some(&shopper.token))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"], json!([]));
    assert_eq!(body["hold"], Value::Null);
    assert_eq!(reserved(&app, &product).await, 0);
    assert_eq!(app.inventory(&product).await["on_hand"], 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_line_or_the_cart_gives_the_held_units_back_at_once() {
    let app = spawn_app().await;
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let first = app.create_product(&store, 10).await;
    let second = app.create_product(&store, 10).await;
    let cart = app.cart_with(&shopper.token, &first, 3).await;
    let (status, body) = app
        .set_cart_item(&cart, &second, 4, Some(&shopper.token))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["item_count"], 7);
    assert_eq!(
        (reserved(&app, &first).await, reserved(&app, &second).await),
        (3, 4)
    );

    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/carts/{cart}/items/{first}"),
            Some(&shopper.token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(line_quantity(&body, &first), None);
    assert_eq!(line_quantity(&body, &second), Some(4));
    assert_eq!(reserved(&app, &first).await, 0);

    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/carts/{cart}"),
            Some(&shopper.token),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(reserved(&app, &second).await, 0);
    assert_eq!(app.get_cart(&cart, Some(&shopper.token)).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raising_a_quantity_beyond_the_available_units_answers_409_and_leaves_the_cart_as_it_was() {
    let app = spawn_app().await;
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 3).await;
    let cart = app.cart_with(&shopper.token, &product, 2).await;
    app.reserve_ok(&[(&product, 1)], Some(600)).await;

    let problem = expect_problem(
        put_item(&app, &cart, &product, 3, &shopper.token),
        409,
        "insufficient_stock",
    )
    .await;

    assert_eq!(
        problem["shortages"],
        json!([{"product_id": product, "requested": 1, "available": 0}])
    );
    let (_, read) = app.get_cart(&cart, Some(&shopper.token)).await;
    assert_eq!(line_quantity(&read, &product), Some(2));
    assert!(read["hold"].is_object(), "{read}");
    assert_eq!(reserved(&app, &product).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quantity_over_the_per_product_maximum_is_refused_with_422() {
    let app = spawn_app_with(|config| config.carts.max_quantity_per_product = 3).await;
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 100).await;
    let cart = id_of(&app.create_cart(Some(&shopper.token)).await);

    for quantity in [4, -1] {
        let problem = expect_problem(
            put_item(&app, &cart, &product, quantity, &shopper.token),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&problem), ["quantity"], "{problem}");
    }
    assert_eq!(reserved(&app, &product).await, 0);
    let (status, body) = app
        .set_cart_item(&cart, &product, 3, Some(&shopper.token))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_stores_product_is_refused_with_store_mismatch() {
    let app = spawn_app().await;
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let elsewhere = app.create_store().await;
    let here = app.create_product(&store, 5).await;
    let there = app.create_product(&elsewhere, 5).await;
    let cart = app.cart_with(&shopper.token, &here, 1).await;

    expect_problem(
        put_item(&app, &cart, &there, 1, &shopper.token),
        409,
        "store_mismatch",
    )
    .await;

    assert_eq!(reserved(&app, &there).await, 0);
    let (_, read) = app.get_cart(&cart, Some(&shopper.token)).await;
    assert_eq!(read["store_id"], store.as_str());
    assert_eq!(read["item_count"], 1);

    // An emptied cart forgets its store and may then take the other store's products.
    let (status, emptied) = app
        .set_cart_item(&cart, &here, 0, Some(&shopper.token))
        .await;
    assert_eq!(
        (status, &emptied["store_id"]),
        (200, &Value::Null),
        "{emptied}"
    );
    let (status, moved) = app
        .set_cart_item(&cart, &there, 1, Some(&shopper.token))
        .await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["store_id"], elsewhere.as_str());
    assert_eq!(reserved(&app, &there).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archived_product_is_refused_with_product_unavailable() {
    let app = spawn_app().await;
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let (status, body) = app
        .admin_delete(&format!("/api/v1/products/{product}"))
        .await;
    assert_eq!(status, 200, "{body}");
    let cart = id_of(&app.create_cart(Some(&shopper.token)).await);

    expect_problem(
        put_item(&app, &cart, &product, 1, &shopper.token),
        409,
        "product_unavailable",
    )
    .await;

    assert_eq!(reserved(&app, &product).await, 0);
    let (_, read) = app.get_cart(&cart, Some(&shopper.token)).await;
    assert_eq!(read["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_refuses_new_units_with_store_closed_and_checkout_too() {
    let app = spawn_app().await;
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let cart = app.cart_with(&shopper.token, &product, 1).await;
    let (status, body) = app
        .admin_put(
            &format!("/api/v1/stores/{store}/status"),
            json!({"open": false}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    expect_problem(
        put_item(&app, &cart, &product, 2, &shopper.token),
        409,
        "store_closed",
    )
    .await;
    let fresh = id_of(&app.create_cart(Some(&shopper.token)).await);
    expect_problem(
        put_item(&app, &fresh, &product, 1, &shopper.token),
        409,
        "store_closed",
    )
    .await;
    expect_problem(
        app.request_as(Method::POST, "/api/v1/orders", Some(&shopper.token))
            .json(&json!({"cart_id": cart, "payment": {"method": "card", "token": "tok_visa"}})),
        409,
        "store_closed",
    )
    .await;

    let (_, orders) = app.admin_get("/api/v1/orders").await;
    assert_eq!(orders["total"], 0, "no order exists: {orders}");
    assert_eq!(reserved(&app, &product).await, 1, "the cart keeps its hold");
}

// ---------------------------------------------------------------- the hold lapses

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_hold_gives_the_units_back_keeps_the_lines_and_is_announced_on_the_cart_topic() {
    let app = spawn_app_with(|config| config.carts.hold_seconds = 1).await;
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let cart = id_of(&app.create_cart(Some(&shopper.token)).await);
    let mut ws = app.ws_as(&shopper.token).await;
    let subscribed = ws.subscribe(&format!("cart:{cart}")).await;
    assert_eq!(subscribed["snapshot"]["id"], cart.as_str(), "{subscribed}");
    let seq = subscribed["seq"].as_u64().expect("seq");

    let (status, body) = app
        .set_cart_item(&cart, &product, 2, Some(&shopper.token))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(reserved(&app, &product).await, 2);

    let updated = ws.next_event().await;
    assert_eq!(updated["event"], "cart.updated", "{updated}");
    assert_eq!(updated["seq"], seq + 1);
    assert!(updated["data"]["hold"].is_object(), "{updated}");
    let expired = ws.next_event().await;
    assert_eq!(expired["event"], "cart.hold_expired", "{expired}");
    assert_eq!(expired["topic"], format!("cart:{cart}"));
    assert_eq!(expired["seq"], seq + 2);
    assert_eq!(expired["data"]["hold"], Value::Null);
    assert_eq!(line_quantity(&expired["data"], &product), Some(2));

    // The units are back by the time the expiry is published.
    eventually(Duration::from_millis(500), || async {
        reserved(&app, &product).await == 0
    })
    .await;
    let (_, read) = app.get_cart(&cart, Some(&shopper.token)).await;
    assert_eq!(read["hold"], Value::Null);
    assert_eq!(line_quantity(&read, &product), Some(2), "lines stay");
    assert_eq!(app.inventory(&product).await["available"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_after_a_lapsed_hold_takes_the_hold_again() {
    let app = spawn_app_with(|config| config.carts.hold_seconds = 1).await;
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let cart = app.cart_with(&shopper.token, &product, 2).await;
    // A 1 s hold lapses at most 1 s after it expires (plus polling slack).
    eventually(Duration::from_millis(2500), || async {
        app.get_cart(&cart, Some(&shopper.token)).await.1["hold"].is_null()
            && reserved(&app, &product).await == 0
    })
    .await;

    let (status, order) = app.checkout(&shopper.token, &cart, "tok_visa").await;

    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "confirmed");
    let inventory = app.inventory(&product).await;
    assert_eq!(
        (&inventory["on_hand"], &inventory["reserved"]),
        (&json!(3), &json!(0))
    );
    assert_eq!(app.get_cart(&cart, Some(&shopper.token)).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_after_a_lapsed_hold_answers_409_when_the_stock_went_meanwhile() {
    let app = spawn_app_with(|config| config.carts.hold_seconds = 1).await;
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 2).await;
    let cart = app.cart_with(&shopper.token, &product, 2).await;
    // A 1 s hold lapses at most 1 s after it expires (plus polling slack).
    eventually(Duration::from_millis(2500), || async {
        reserved(&app, &product).await == 0
    })
    .await;
    app.reserve_ok(&[(&product, 1)], Some(600)).await;

    let problem = expect_problem(
        app.request_as(Method::POST, "/api/v1/orders", Some(&shopper.token))
            .json(&json!({"cart_id": cart, "payment": {"method": "card", "token": "tok_visa"}})),
        409,
        "insufficient_stock",
    )
    .await;

    assert_eq!(
        problem["shortages"],
        json!([{"product_id": product, "requested": 2, "available": 1}])
    );
    let (_, orders) = app.admin_get("/api/v1/orders").await;
    assert_eq!(orders["total"], 0, "no order exists: {orders}");
    let (_, read) = app.get_cart(&cart, Some(&shopper.token)).await;
    assert_eq!(
        line_quantity(&read, &product),
        Some(2),
        "the cart keeps its lines"
    );
    assert_eq!(reserved(&app, &product).await, 1, "nothing else stays held");
}

// ---------------------------------------------------------------- access

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_customers_cart_is_not_found_over_http_and_websocket() {
    let app = spawn_app().await;
    let owner = app.customer().await;
    let other = app.customer().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let cart = app.cart_with(&owner.token, &product, 1).await;

    expect_problem(
        app.request_as(
            Method::GET,
            &format!("/api/v1/carts/{cart}"),
            Some(&other.token),
        ),
        404,
        "not_found",
    )
    .await;
    expect_problem(
        put_item(&app, &cart, &product, 3, &other.token),
        404,
        "not_found",
    )
    .await;
    expect_problem(
        app.request_as(
            Method::DELETE,
            &format!("/api/v1/carts/{cart}"),
            Some(&other.token),
        ),
        404,
        "not_found",
    )
    .await;
    expect_problem(
        app.request_as(Method::POST, "/api/v1/orders", Some(&other.token))
            .json(&json!({"cart_id": cart, "payment": {"method": "card", "token": "tok_visa"}})),
        404,
        "not_found",
    )
    .await;

    let topic = format!("cart:{cart}");
    let mut intruder = app.ws_as(&other.token).await;
    let reply = intruder.try_subscribe(&topic).await;
    assert_eq!(reply["type"], "error", "{reply}");
    assert_eq!(reply["code"], "not_found");
    assert_eq!(reply["topic"], topic.as_str());
    let mut anonymous = app.ws().await;
    let reply = anonymous.try_subscribe(&topic).await;
    assert_eq!(reply["code"], "not_found", "{reply}");
    let mut own = app.ws_as(&owner.token).await;
    let reply = own.subscribe(&topic).await;
    assert_eq!(reply["snapshot"]["item_count"], 1, "{reply}");

    let (_, read) = app.get_cart(&cart, Some(&owner.token)).await;
    assert_eq!(line_quantity(&read, &product), Some(1), "untouched");
    assert_eq!(reserved(&app, &product).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_renews_the_hold_of_every_line() {
    let app = spawn_app_with(|config| config.carts.hold_seconds = 2).await;
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let first = app.create_product(&store, 5).await;
    let second = app.create_product(&store, 5).await;
    let cart = app.cart_with(&shopper.token, &first, 1).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    let changed = tokio::time::Instant::now();
    let (status, body) = app
        .set_cart_item(&cart, &second, 1, Some(&shopper.token))
        .await;
    assert_eq!(status, 200, "{body}");
    // Renewed to 2 s from the change, and then it lapses on time: not seconds late.
    eventually(Duration::from_millis(3500), || async {
        reserved(&app, &first).await == 0
    })
    .await;

    assert!(
        changed.elapsed() >= Duration::from_millis(1500),
        "the first line's hold lapsed {:?} after the change; it should live 2 s from it",
        changed.elapsed()
    );
    eventually(Duration::from_secs(2), || async {
        reserved(&app, &second).await == 0
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_line_keeps_the_price_it_was_first_added_at_through_checkout() {
    let app = spawn_app().await;
    let shopper = app.customer().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let cart = app.cart_with(&shopper.token, &product, 1).await;
    let (status, body) = app
        .admin_patch(
            &format!("/api/v1/products/{product}"),
            json!({"price": {"amount": 2500, "currency": "USD"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let (status, body) = app
        .set_cart_item(&cart, &product, 2, Some(&shopper.token))
        .await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["unit_price"]["amount"], 1999);
    assert_eq!(body["subtotal"]["amount"], 3998);
    let (status, order) = app.checkout(&shopper.token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["items"][0]["unit_price"]["amount"], 1999);
    assert_eq!(order["total"]["amount"], 3998);
    let fresh = app.cart_with(&shopper.token, &product, 1).await;
    let (_, read) = app.get_cart(&fresh, Some(&shopper.token)).await;
    assert_eq!(read["items"][0]["unit_price"]["amount"], 2500);
}
