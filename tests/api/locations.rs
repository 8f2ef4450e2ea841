//! Stock locations, stock per location, allocation of holds and transfers (API.md §13).

use crate::helpers::{TestApp, expect_problem, spawn_app};
use serde_json::{Value, json};

/// Adds a location to `store`; answers its id.
async fn add_location(app: &TestApp, store: &str, name: &str, priority: i64) -> String {
    let (status, body) = app
        .admin_post(
            &format!("/api/v1/stores/{store}/locations"),
            json!({"name": name, "kind": "shop", "priority": priority}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["default"], false);
    assert_eq!(body["active"], true);
    body["id"].as_str().expect("id").to_owned()
}

async fn default_location(app: &TestApp, store: &str) -> String {
    let (status, body) = app.get(&format!("/api/v1/stores/{store}/locations")).await;
    assert_eq!(status, 200, "{body}");
    let items = body["items"].as_array().expect("items");
    let default: Vec<&Value> = items.iter().filter(|l| l["default"] == true).collect();
    assert_eq!(default.len(), 1, "{body}");
    default[0]["id"].as_str().expect("id").to_owned()
}

async fn adjust_at(app: &TestApp, product: &str, location: &str, delta: i64) -> Value {
    let (status, body) = app
        .admin_post(
            &format!("/api/v1/products/{product}/inventory/adjustments"),
            json!({"delta": delta, "reason": "restock", "location_id": location}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn inventory(app: &TestApp, product: &str) -> Value {
    let (status, body) = app
        .get(&format!("/api/v1/products/{product}/inventory"))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// `available` at `location` in an inventory object.
fn available_at(inventory: &Value, location: &str) -> i64 {
    inventory["locations"]
        .as_array()
        .expect("locations")
        .iter()
        .find(|l| l["location_id"] == location)
        .map_or(0, |l| l["available"].as_i64().expect("available"))
}

/// A store with three locations (the default one and two more, priorities 2, 0, 1) and a
/// product with `units` at each.
async fn three_locations(app: &TestApp, units: i64) -> (String, String, [String; 3]) {
    let store = app.create_store().await;
    let main = default_location(app, &store).await;
    let (status, body) = app
        .admin_patch(&format!("/api/v1/locations/{main}"), json!({"priority": 2}))
        .await;
    assert_eq!((status, &body["priority"]), (200, &json!(2)), "{body}");
    let shop = add_location(app, &store, "Shop", 0).await;
    let back = add_location(app, &store, "Back room", 1).await;
    let product = app.create_product(&store, 0).await;
    for location in [&main, &shop, &back] {
        adjust_at(app, &product, location, units).await;
    }
    (store, product, [main, shop, back])
}

async fn hold(app: &TestApp, product: &str, quantity: i64) -> (u16, Value) {
    app.admin_post(
        "/api/v1/reservations",
        json!({"items": [{"product_id": product, "quantity": quantity}]}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_starts_with_one_default_location_that_holds_the_initial_stock() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let (_, body) = app.get(&format!("/api/v1/stores/{store}")).await;
    assert_eq!(body["allocation"], "priority", "{body}");
    let (_, list) = app.get(&format!("/api/v1/stores/{store}/locations")).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");
    let main = &list["items"][0];
    assert_eq!(
        (
            &main["default"],
            &main["active"],
            &main["kind"],
            &main["store_id"]
        ),
        (
            &json!(true),
            &json!(true),
            &json!("warehouse"),
            &json!(store)
        )
    );
    let product = app.create_product(&store, 7).await;
    let inventory = inventory(&app, &product).await;
    assert_eq!(
        inventory["locations"],
        json!([{"location_id": main["id"], "on_hand": 7, "reserved": 0, "available": 7}])
    );
    // The default location cannot be deactivated; an unknown location is a 404.
    let main = main["id"].as_str().expect("id");
    let problem = expect_problem(
        app.admin_request(reqwest::Method::PATCH, &format!("/api/v1/locations/{main}"))
            .json(&json!({"active": false})),
        409,
        "default_location",
    )
    .await;
    assert!(problem["detail"].as_str().is_some(), "{problem}");
    expect_problem(
        app.admin_request(
            reqwest::Method::PATCH,
            "/api/v1/locations/loc_000000000000000000000000",
        )
        .json(&json!({"active": false})),
        404,
        "not_found",
    )
    .await;
    // Adjusting at another store's location is a client mistake.
    let other = app.create_store().await;
    let elsewhere = default_location(&app, &other).await;
    expect_problem(
        app.admin_request(
            reqwest::Method::POST,
            &format!("/api/v1/products/{product}/inventory/adjustments"),
        )
        .json(&json!({"delta": 1, "reason": "restock", "location_id": elsewhere})),
        422,
        "validation_failed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_holds_over_three_locations_sell_exactly_sixty() {
    let app = spawn_app().await;
    let (_, product, locations) = three_locations(&app, 20).await;
    let attempts = (0..200).map(|_| {
        let app = &app;
        let product = &product;
        async move { hold(app, product, 1).await }
    });
    let answers = futures_util::future::join_all(attempts).await;
    let granted: Vec<&Value> = answers
        .iter()
        .filter(|(status, _)| *status == 201)
        .map(|(_, body)| body)
        .collect();
    let refused = answers
        .iter()
        .filter(|(status, body)| *status == 409 && body["code"] == "insufficient_stock")
        .count();
    assert_eq!((granted.len(), refused), (60, 140));
    let inventory = inventory(&app, &product).await;
    assert_eq!(
        (
            &inventory["on_hand"],
            &inventory["reserved"],
            &inventory["available"]
        ),
        (&json!(60), &json!(60), &json!(0))
    );
    for location in &locations {
        assert_eq!(available_at(&inventory, location), 0, "{inventory}");
    }
    for level in inventory["locations"].as_array().expect("locations") {
        assert_eq!(
            (&level["on_hand"], &level["reserved"]),
            (&json!(20), &json!(20))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_takes_from_locations_in_the_stores_order_and_splits() {
    let app = spawn_app().await;
    let (store, product, [main, shop, back]) = three_locations(&app, 3).await;
    // Priority: shop (0) then back room (1) then main (2); 5 units split 3 + 2.
    let (status, reservation) = hold(&app, &product, 5).await;
    assert_eq!(status, 201, "{reservation}");
    let levels = inventory(&app, &product).await;
    assert_eq!(
        [&main, &shop, &back].map(|l| available_at(&levels, l)),
        [3, 0, 1],
        "{levels}"
    );
    // Most stock: main (3) before back room (1).
    let (status, body) = app
        .admin_patch(
            &format!("/api/v1/stores/{store}"),
            json!({"allocation": "most_stock"}),
        )
        .await;
    assert_eq!(
        (status, &body["allocation"]),
        (200, &json!("most_stock")),
        "{body}"
    );
    adjust_at(&app, &product, &back, 1).await;
    // Main has 3, the back room 2: 4 units take main's 3 and one of the back room's.
    let (status, reservation) = hold(&app, &product, 4).await;
    assert_eq!(status, 201, "{reservation}");
    let levels = inventory(&app, &product).await;
    assert_eq!(
        [&main, &shop, &back].map(|l| available_at(&levels, l)),
        [0, 0, 1],
        "{levels}"
    );
    // An inactive location gives nothing: the back room's last unit stays.
    adjust_at(&app, &product, &main, 2).await;
    let (status, _) = app
        .admin_patch(
            &format!("/api/v1/locations/{back}"),
            json!({"active": false}),
        )
        .await;
    assert_eq!(status, 200);
    let levels = inventory(&app, &product).await;
    assert_eq!(available_at(&levels, &back), 1, "{levels}");
    let (status, refused) = hold(&app, &product, 3).await;
    assert_eq!(
        (status, &refused["code"]),
        (409, &json!("insufficient_stock")),
        "{refused}"
    );
    assert_eq!(refused["shortages"][0]["available"], 2, "{refused}");
    let (status, reservation) = hold(&app, &product, 2).await;
    assert_eq!(status, 201, "{reservation}");
    let levels = inventory(&app, &product).await;
    assert_eq!(
        [&main, &shop, &back].map(|l| available_at(&levels, l)),
        [0, 0, 1],
        "{levels}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_moves_available_units_and_refuses_more() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let main = default_location(&app, &store).await;
    let shop = add_location(&app, &store, "Shop", 1).await;
    let product = app.create_product(&store, 10).await;
    let (status, reservation) = hold(&app, &product, 4).await;
    assert_eq!(status, 201, "{reservation}");
    let path = format!("/api/v1/products/{product}/inventory/transfers");
    let (status, inventory) = app
        .admin_post(
            &path,
            json!({"from": main, "to": shop, "quantity": 6, "note": "stock the shop"}),
        )
        .await;
    assert_eq!(status, 200, "{inventory}");
    assert_eq!(
        (&inventory["on_hand"], &inventory["available"]),
        (&json!(10), &json!(6))
    );
    assert_eq!(available_at(&inventory, &main), 0, "{inventory}");
    assert_eq!(available_at(&inventory, &shop), 6, "{inventory}");
    // Held units stay put.
    expect_problem(
        app.admin_request(reqwest::Method::POST, &path)
            .json(&json!({"from": main, "to": shop, "quantity": 1})),
        409,
        "insufficient_stock",
    )
    .await;
    expect_problem(
        app.admin_request(reqwest::Method::POST, &path)
            .json(&json!({"from": shop, "to": shop, "quantity": 1})),
        422,
        "validation_failed",
    )
    .await;
    let (status, movements) = app
        .admin_get(&format!("/api/v1/products/{product}/inventory/movements"))
        .await;
    assert_eq!(status, 200, "{movements}");
    let items = movements["items"].as_array().expect("items");
    assert_eq!(items[0]["kind"], "transfer", "{movements}");
    assert_eq!(
        (&items[0]["delta"], &items[0]["location_id"]),
        (&json!(6), &json!(shop))
    );
    assert_eq!(
        (&items[1]["kind"], &items[1]["delta"]),
        (&json!("transfer"), &json!(-6))
    );
    assert_eq!(items[1]["location_id"], json!(main));
    assert_eq!(
        items[2]["location_id"],
        json!(main),
        "the initial stock: {movements}"
    );
}
