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
    let split = json!([{"location_id": shop, "quantity": 3}, {"location_id": back, "quantity": 2}]);
    assert_eq!(
        reservation["items"][0]["allocations"], split,
        "{reservation}"
    );
    let id = reservation["id"].as_str().expect("id");
    let (_, stored) = app.admin_get(&format!("/api/v1/reservations/{id}")).await;
    assert_eq!(stored["items"][0]["allocations"], split, "{stored}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn carts_and_orders_show_where_their_units_come_from() {
    let app = spawn_app().await;
    let (_, product, [main, shop, back]) = three_locations(&app, 2).await;
    let customer = app.customer().await;
    let token = customer.token.as_str();
    let cart = app.cart_with(token, &product, 3).await;
    let (status, body) = app.get_cart(&cart, Some(token)).await;
    assert_eq!(status, 200, "{body}");
    let split = json!([{"location_id": shop, "quantity": 2}, {"location_id": back, "quantity": 1}]);
    assert_eq!(body["items"][0]["allocations"], split, "{body}");
    let (status, order) = app.checkout(token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().expect("id");
    let (_, order) = app.get_order(id, Some(token)).await;
    assert_eq!(order["items"][0]["allocations"], split, "{order}");
    let levels = inventory(&app, &product).await;
    assert_eq!(available_at(&levels, &main), 2, "{levels}");
    assert_eq!(available_at(&levels, &shop), 0, "{levels}");
}

/// One `put` of a log record's body (`ProductWrite::encode`'s layout): tree tag, key, value.
fn put_op(out: &mut Vec<u8>, tree: u8, key: &[u8], value: &[u8]) {
    out.push(tree);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.push(1);
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_dir_from_before_locations_puts_every_products_stock_in_its_default_location() {
    use emporium::domain::{
        ids::{ProductId, ReservationId, StoreId},
        money::Money,
        product::{Catalog, ProductStatus},
        review::Rating,
        store::StoreKind,
    };
    use emporium::persistence::{
        ProductWrite, Storage, codec, committer::Committer, data_dir::DataDir,
    };
    use std::{collections::BTreeMap, sync::Arc};

    let dir = tempfile::tempdir().expect("temp dir");
    let store = StoreId::generate();
    let product = ProductId::generate();
    let held = ReservationId::generate();
    {
        // What the build before locations wrote: a format-1 store (no allocation strategy)
        // and a format-2 snapshot whose ledger knows no locations (7 on hand, 2 held).
        let store_v1 = (&store, "Old shop", StoreKind::Retail, "USD", true, 1_000i64);
        let catalog = Arc::new(Catalog {
            id: product.clone(),
            store_id: store.clone(),
            sku: "OLD-1".into(),
            name: "Old".into(),
            description: None,
            category: None,
            brand: None,
            price: Money {
                amount: 100,
                currency: "USD".into(),
            },
            attributes: BTreeMap::new(),
            image_urls: Vec::new(),
            status: ProductStatus::Active,
            low_stock_threshold: 0,
            created_at: 1_000,
            updated_at: 1_000,
        });
        let far = 4_000_000_000_000i64;
        let holds = BTreeMap::from([(held.clone(), (2i64, far))]);
        let ledger_v1 = (7i64, 2i64, holds, 3u64, false, 1u64);
        let snapshot_v2 = (0u64, (&catalog, ledger_v1, Rating::default()));
        let mut body = Vec::new();
        let mut store_key = b"store\0".to_vec();
        store_key.extend_from_slice(store.as_str().as_bytes());
        put_op(
            &mut body,
            2,
            &store_key,
            &codec::encode(&store_v1).expect("store"),
        );
        let mut snapshot_key = b"s".to_vec();
        snapshot_key.extend_from_slice(product.as_str().as_bytes());
        snapshot_key.push(0);
        put_op(
            &mut body,
            1,
            &snapshot_key,
            &codec::encode_v2(&snapshot_v2).expect("snapshot"),
        );
        let write = ProductWrite::decode(&body).expect("a write");
        let data_dir = DataDir::open(dir.path()).expect("data dir");
        let storage = Storage::open_in(&data_dir, Default::default()).expect("storage");
        let committer = Committer::start(storage.clone());
        committer.write_durable(write).await.expect("durable");
        storage.checkpoint().expect("checkpoint");
    }
    // The committer's threads let go of the data dir shortly after their last handle.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while DataDir::open(dir.path())
        .ok()
        .and_then(|d| Storage::open_in(&d, Default::default()).ok())
        .is_none()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "data dir still locked"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    let server = crate::helpers::ServerProcess::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    crate::helpers::wait_ready(&client, server.addr).await;
    let get = |path: String| {
        let client = client.clone();
        let addr = server.addr;
        async move {
            let response = client
                .get(format!("http://{addr}{path}"))
                .send()
                .await
                .expect("sent");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        }
    };
    let (status, body) = get(format!("/api/v1/stores/{store}")).await;
    assert_eq!(
        (status, &body["allocation"]),
        (200, &json!("priority")),
        "{body}"
    );
    let (_, locations) = get(format!("/api/v1/stores/{store}/locations")).await;
    let items = locations["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{locations}");
    assert_eq!(
        (&items[0]["default"], &items[0]["active"]),
        (&json!(true), &json!(true))
    );
    let main = items[0]["id"].clone();
    let (status, inventory) = get(format!("/api/v1/products/{product}/inventory")).await;
    assert_eq!(status, 200, "{inventory}");
    assert_eq!(
        inventory["locations"],
        json!([{"location_id": main, "on_hand": 7, "reserved": 2, "available": 5}])
    );
    // The old hold sells from there, and new stock lands there too.
    let (status, body) = crate::helpers::send(
        client
            .post(format!(
                "http://{}/api/v1/products/{product}/inventory/adjustments",
                server.addr
            ))
            .bearer_auth(crate::helpers::ADMIN_TOKEN)
            .json(&json!({"delta": 3, "reason": "restock"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["locations"],
        json!([{"location_id": main, "on_hand": 10, "reserved": 2, "available": 8}])
    );
}
