//! `/api/v1/products`, inventory, adjustments and movements (API.md §5).

use crate::helpers::{TestApp, assert_rfc3339_millis, error_fields, expect_problem, spawn_app};
use serde_json::{Value, json};
use std::time::Duration;

/// Creates a product from `body` (admin) and asserts 201.
async fn create(app: &TestApp, body: Value) -> Value {
    let (status, product) = app.admin_post("/api/v1/products", body).await;
    assert_eq!(status, 201, "{product}");
    product
}

/// A small catalog over two stores, created one after another (so `created_at` orders them):
///
/// | name            | store | category | brand  | price | stock | description           |
/// |-----------------|-------|----------|--------|-------|-------|-----------------------|
/// | Blue Cotton Tee | A     | t-shirts | basics | 1500  | 10    | Soft cotton, blue     |
/// | Red Wool Sweater| A     | sweaters | cozy   | 5000  | 0     | Warm wool             |
/// | Cotton Socks    | A     | socks    | basics | 500   | 3     | —                     |
/// | Green Tee       | B     | t-shirts | other  | 2500  | 5     | Made of organic COTTON|
/// | Straw Hat       | A     | hats     | sunny  | 900   | 2     | archived              |
struct Catalog {
    app: TestApp,
    store_a: &'static str,
    store_b: &'static str,
    tee: &'static str,
    sweater: &'static str,
    socks: &'static str,
    green: &'static str,
    hat: &'static str,
}

/// store, name, category, brand, price, initial stock, description
type Row<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    i64,
    i64,
    Option<&'a str>,
);

async fn catalog() -> Catalog {
    let app = spawn_app().await;
    let store_a = app.create_store().await;
    let store_b = app.create_store().await;
    let rows: [Row; 5] = [
        (
            &store_a,
            "Blue Cotton Tee",
            "t-shirts",
            "basics",
            1500,
            10,
            Some("Soft cotton, blue"),
        ),
        (
            &store_a,
            "Red Wool Sweater",
            "sweaters",
            "cozy",
            5000,
            0,
            Some("Warm wool"),
        ),
        (&store_a, "Cotton Socks", "socks", "basics", 500, 3, None),
        (
            &store_b,
            "Green Tee",
            "t-shirts",
            "other",
            2500,
            5,
            Some("Made of organic COTTON"),
        ),
        (&store_a, "Straw Hat", "hats", "sunny", 900, 2, None),
    ];
    let mut ids = Vec::new();
    for (i, (store, name, category, brand, price, stock, description)) in
        rows.into_iter().enumerate()
    {
        let product = create(
            &app,
            json!({
                "store_id": store, "sku": format!("CAT-{i}"), "name": name,
                "category": category, "brand": brand, "description": description,
                "price": {"amount": price, "currency": "USD"}, "initial_stock": stock,
            }),
        )
        .await;
        ids.push(product["id"].as_str().unwrap().to_owned());
        // Distinct creation milliseconds keep `-created_at` deterministic.
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let (status, archived) = app
        .admin_delete(&format!("/api/v1/products/{}", ids[4]))
        .await;
    assert_eq!(status, 200, "{archived}");
    // Leaked so the tests can compare `Vec<String>` answers with arrays of `&str`.
    let leak = |id: String| -> &'static str { Box::leak(id.into_boxed_str()) };
    let [tee, sweater, socks, green, hat] = <[String; 5]>::try_from(ids).unwrap().map(leak);
    Catalog {
        app,
        store_a: leak(store_a),
        store_b: leak(store_b),
        tee,
        sweater,
        socks,
        green,
        hat,
    }
}

impl Catalog {
    /// The ids `GET /products?{query}` answers, in order, and the whole page.
    async fn list(&self, query: &str) -> (Vec<String>, Value) {
        let (status, page) = self.app.get(&format!("/api/v1/products?{query}")).await;
        assert_eq!(status, 200, "{query}: {page}");
        let ids = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect();
        (ids, page)
    }

    async fn ids(&self, query: &str) -> Vec<String> {
        self.list(query).await.0
    }
}

// ---------------------------------------------------------------- create and get

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_product_answers_201_with_every_field_and_its_stock() {
    let app = spawn_app().await;
    let store = app.create_store().await;

    let (status, product) = app
        .admin_post(
            "/api/v1/products",
            json!({
                "store_id": store, "sku": "TEE-BLUE-M", "name": "Basic Cotton T-Shirt",
                "description": "Soft", "category": "t-shirts", "brand": "basics",
                "price": {"amount": 8990, "currency": "USD"},
                "attributes": {"color": "blue", "size": "m"},
                "image_urls": ["https://img.example.com/tee.png"],
                "initial_stock": 10, "low_stock_threshold": 5
            }),
        )
        .await;

    assert_eq!(status, 201, "{product}");
    assert!(product["id"].as_str().unwrap().starts_with("prod_"));
    assert_eq!(product["store_id"], store.as_str());
    assert_eq!(product["sku"], "TEE-BLUE-M");
    assert_eq!(product["name"], "Basic Cotton T-Shirt");
    assert_eq!(product["description"], "Soft");
    assert_eq!(product["category"], "t-shirts");
    assert_eq!(product["brand"], "basics");
    assert_eq!(product["price"], json!({"amount": 8990, "currency": "USD"}));
    assert_eq!(product["attributes"], json!({"color": "blue", "size": "m"}));
    assert_eq!(
        product["image_urls"],
        json!(["https://img.example.com/tee.png"])
    );
    assert_eq!(product["status"], "active");
    assert_eq!(product["low_stock_threshold"], 5);
    assert_eq!(product["stock"]["on_hand"], 10);
    assert_eq!(product["stock"]["reserved"], 0);
    assert_eq!(product["stock"]["available"], 10);
    assert!(product["stock"]["version"].as_u64().is_some(), "{product}");
    assert_rfc3339_millis(&product["created_at"]);
    assert_rfc3339_millis(&product["updated_at"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_created_with_only_required_fields_gets_the_defaults() {
    let app = spawn_app().await;
    let store = app.create_store().await;

    let product = create(
        &app,
        json!({"store_id": store, "sku": "PLAIN", "name": "Plain",
               "price": {"amount": 0, "currency": "USD"}}),
    )
    .await;

    assert_eq!(product["description"], Value::Null);
    assert_eq!(product["category"], Value::Null);
    assert_eq!(product["brand"], Value::Null);
    assert_eq!(product["attributes"], json!({}));
    assert_eq!(product["image_urls"], json!([]));
    assert_eq!(product["low_stock_threshold"], 0);
    assert_eq!(product["stock"]["on_hand"], 0);
    assert_eq!(product["stock"]["available"], 0);
    let (status, movements) = app
        .admin_get(&format!(
            "/api/v1/products/{}/inventory/movements",
            product["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, 200, "{movements}");
    assert_eq!(movements["total"], 0, "no stock, no movement: {movements}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_created_with_initial_stock_starts_with_an_initial_adjustment_movement() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let id = app.create_product(&store, 7).await;

    let (status, movements) = app
        .admin_get(&format!("/api/v1/products/{id}/inventory/movements"))
        .await;

    assert_eq!(status, 200, "{movements}");
    assert_eq!(movements["total"], 1);
    let movement = &movements["items"][0];
    assert!(movement["id"].is_string(), "{movement}");
    assert_eq!(movement["kind"], "adjustment");
    assert_eq!(movement["reason"], "initial");
    assert_eq!(movement["delta"], 7);
    assert_eq!(movement["on_hand_after"], 7);
    assert_eq!(movement["note"], Value::Null);
    assert_eq!(movement["ref"], Value::Null);
    assert_eq!(movement["by"], "admin");
    assert_rfc3339_millis(&movement["at"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getting_a_product_answers_what_was_created_to_anyone() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let created = create(
        &app,
        json!({"store_id": store, "sku": "GET-1", "name": "Lamp",
               "price": {"amount": 4200, "currency": "USD"}, "initial_stock": 3}),
    )
    .await;

    let (status, fetched) = app
        .get(&format!(
            "/api/v1/products/{}",
            created["id"].as_str().unwrap()
        ))
        .await;

    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched, created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_product_with_a_taken_sku_answers_409() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let other_store = app.create_store().await;
    let body = |store: &str, sku: &str| {
        json!({"store_id": store, "sku": sku, "name": "Mug",
               "price": {"amount": 100, "currency": "USD"}})
    };
    create(&app, body(&store, "MUG-1")).await;

    expect_problem(
        app.admin_request(reqwest::Method::POST, "/api/v1/products")
            .json(&body(&store, "MUG-1")),
        409,
        "sku_taken",
    )
    .await;
    // SKUs are unique per store: another store may use it.
    create(&app, body(&other_store, "MUG-1")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_product_in_an_unknown_store_answers_404() {
    let app = spawn_app().await;

    expect_problem(
        app.admin_request(reqwest::Method::POST, "/api/v1/products")
            .json(
                &json!({"store_id": "str_000000000000000000000000", "sku": "X",
                          "name": "X", "price": {"amount": 1, "currency": "USD"}}),
            ),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_product_with_several_bad_fields_lists_every_field() {
    let app = spawn_app().await;
    let store = app.create_store().await;

    let problem = expect_problem(
        app.admin_request(reqwest::Method::POST, "/api/v1/products")
            .json(&json!({
                "store_id": store, "sku": "no spaces allowed", "name": "",
                "price": {"amount": -1, "currency": "EUR"},
                "image_urls": ["ftp://example.com/x.png"],
                "initial_stock": -5
            })),
        422,
        "validation_failed",
    )
    .await;

    let fields = error_fields(&problem);
    for field in [
        "sku",
        "name",
        "price.amount",
        "price.currency",
        "image_urls[0]",
        "initial_stock",
    ] {
        assert!(fields.iter().any(|f| f == field), "{field} in {problem}");
    }
}

// ---------------------------------------------------------------- list

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_products_answers_active_products_newest_first_by_default() {
    let c = catalog().await;

    let (ids, page) = c.list("").await;

    assert_eq!(ids, [c.green, c.socks, c.sweater, c.tee]);
    assert_eq!(page["total"], 4);
    assert_eq!(page["page"], 1);
    assert_eq!(page["per_page"], 20);
    assert_eq!(page["items"][0]["stock"]["available"], 5, "{page}");
    assert_eq!(c.ids("sort=-created_at").await, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_products_filters_by_store() {
    let c = catalog().await;

    assert_eq!(
        c.ids(&format!("store_id={}", c.store_a)).await,
        [c.socks, c.sweater, c.tee]
    );
    assert_eq!(c.ids(&format!("store_id={}", c.store_b)).await, [c.green]);
    let (ids, page) = c.list("store_id=str_000000000000000000000000").await;
    assert!(ids.is_empty());
    assert_eq!(page["total"], 0);
    assert!(c.ids("store_id=not-a-store").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_products_filters_by_category_and_brand() {
    let c = catalog().await;

    assert_eq!(c.ids("category=t-shirts").await, [c.green, c.tee]);
    assert_eq!(c.ids("brand=basics").await, [c.socks, c.tee]);
    assert_eq!(c.ids("category=t-shirts&brand=basics").await, [c.tee]);
    assert!(c.ids("category=shoes").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_products_filters_by_price_range_in_minor_units() {
    let c = catalog().await;

    assert_eq!(
        c.ids("min_price=1000&max_price=3000").await,
        [c.green, c.tee]
    );
    assert_eq!(c.ids("min_price=2500").await, [c.green, c.sweater]);
    assert_eq!(c.ids("max_price=1500").await, [c.socks, c.tee]);
    // Both bounds are inclusive.
    assert_eq!(c.ids("min_price=500&max_price=500").await, [c.socks]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_products_in_stock_leaves_out_products_with_nothing_available() {
    let c = catalog().await;

    assert_eq!(c.ids("in_stock=true").await, [c.green, c.socks, c.tee]);

    // Held units are not available: holding all the socks takes them out too.
    c.app.reserve_ok(&[(c.socks, 3)], None).await;
    assert_eq!(c.ids("in_stock=true").await, [c.green, c.tee]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_products_with_q_matches_words_case_insensitively_by_relevance() {
    let c = catalog().await;

    // "cotton": name of the tee (and its description) > name of the socks > description of
    // the green tee (upper case there).
    let (ids, page) = c.list("q=COTTON").await;
    assert_eq!(ids, [c.tee, c.socks, c.green]);
    assert_eq!(page["total"], 3);
    // Every word must match somewhere.
    assert_eq!(c.ids("q=cotton%20tee").await, [c.tee, c.green]);
    // Category and brand count too.
    assert_eq!(c.ids("q=sweaters").await, [c.sweater]);
    assert_eq!(c.ids("q=cozy").await, [c.sweater]);
    assert!(c.ids("q=velvet").await.is_empty());
    // An explicit sort wins over relevance.
    assert_eq!(
        c.ids("q=cotton&sort=price").await,
        [c.socks, c.tee, c.green]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_archived_products_needs_status_archived() {
    let c = catalog().await;

    let (ids, page) = c.list("status=archived").await;

    assert_eq!(ids, [c.hat]);
    assert_eq!(page["items"][0]["status"], "archived");
    assert!(!c.ids("").await.iter().any(|id| id == c.hat));
    assert_eq!(c.ids("status=active").await.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_products_sorts_by_price_name_and_creation() {
    let c = catalog().await;

    assert_eq!(
        c.ids("sort=price").await,
        [c.socks, c.tee, c.green, c.sweater]
    );
    assert_eq!(
        c.ids("sort=-price").await,
        [c.sweater, c.green, c.tee, c.socks]
    );
    // Blue Cotton Tee < Cotton Socks < Green Tee < Red Wool Sweater
    assert_eq!(
        c.ids("sort=name").await,
        [c.tee, c.socks, c.green, c.sweater]
    );
    assert_eq!(
        c.ids("sort=-created_at").await,
        [c.green, c.socks, c.sweater, c.tee]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_products_paginates_with_page_per_page_and_total() {
    let c = catalog().await;

    let (first, page1) = c.list("sort=price&per_page=3").await;
    assert_eq!(first, [c.socks, c.tee, c.green]);
    assert_eq!(page1["page"], 1);
    assert_eq!(page1["per_page"], 3);
    assert_eq!(page1["total"], 4);

    let (second, page2) = c.list("sort=price&per_page=3&page=2").await;
    assert_eq!(second, [c.sweater]);
    assert_eq!(page2["page"], 2);
    assert_eq!(page2["total"], 4);

    let (third, page3) = c.list("sort=price&per_page=3&page=3").await;
    assert!(third.is_empty());
    assert_eq!(page3["total"], 4);

    let (all, _) = c.list("sort=price&per_page=100").await;
    assert_eq!(all.len(), 4);
}

// ---------------------------------------------------------------- patch and delete

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patching_a_product_changes_only_the_given_fields() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let created = create(
        &app,
        json!({"store_id": store, "sku": "P-1", "name": "Old", "description": "Long text",
               "category": "misc", "brand": "acme",
               "price": {"amount": 100, "currency": "USD"}, "initial_stock": 4}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    tokio::time::sleep(Duration::from_millis(3)).await;

    let (status, patched) = app
        .admin_patch(
            &format!("/api/v1/products/{id}"),
            json!({"name": "New", "price": {"amount": 250, "currency": "USD"},
                   "attributes": {"size": "xl"}, "low_stock_threshold": 2}),
        )
        .await;

    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["name"], "New");
    assert_eq!(patched["price"]["amount"], 250);
    assert_eq!(patched["attributes"], json!({"size": "xl"}));
    assert_eq!(patched["low_stock_threshold"], 2);
    assert_eq!(patched["description"], "Long text");
    assert_eq!(patched["category"], "misc");
    assert_eq!(patched["brand"], "acme");
    assert_eq!(patched["sku"], "P-1");
    assert_eq!(patched["stock"]["on_hand"], 4);
    assert_eq!(patched["created_at"], created["created_at"]);
    assert_ne!(patched["updated_at"], created["updated_at"]);
    assert!(
        patched["stock"]["version"].as_u64() > created["stock"]["version"].as_u64(),
        "product.updated takes a version: {patched}"
    );
    let (_, fetched) = app.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(fetched, patched);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patching_description_to_null_clears_it_while_absent_fields_stay() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let created = create(
        &app,
        json!({"store_id": store, "sku": "P-2", "name": "Thing", "description": "Words",
               "brand": "acme", "price": {"amount": 100, "currency": "USD"}}),
    )
    .await;
    let id = created["id"].as_str().unwrap();

    let (status, patched) = app
        .admin_patch(
            &format!("/api/v1/products/{id}"),
            json!({"description": null}),
        )
        .await;

    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["description"], Value::Null);
    assert_eq!(patched["brand"], "acme");
    let (_, fetched) = app.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(fetched["description"], Value::Null);
    assert_eq!(fetched["brand"], "acme");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patching_a_price_in_another_currency_answers_422() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let id = app.create_product(&store, 1).await;

    let problem = expect_problem(
        app.admin_request(reqwest::Method::PATCH, &format!("/api/v1/products/{id}"))
            .json(&json!({"price": {"amount": 100, "currency": "EUR"}})),
        422,
        "validation_failed",
    )
    .await;

    assert_eq!(error_fields(&problem), ["price.currency"]);
    let (_, product) = app.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(product["price"]["currency"], "USD");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_product_archives_it_and_answers_the_product() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let id = app.create_product(&store, 5).await;

    let (status, archived) = app.admin_delete(&format!("/api/v1/products/{id}")).await;

    assert_eq!(status, 200, "{archived}");
    assert_eq!(archived["id"], id.as_str());
    assert_eq!(archived["status"], "archived");
    // Still readable, just archived; deleting again answers the same.
    let (status, fetched) = app.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(fetched["status"], "archived");
    let (status, again) = app.admin_delete(&format!("/api/v1/products/{id}")).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["status"], "archived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserving_an_archived_product_answers_409_product_unavailable() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let id = app.create_product(&store, 5).await;
    let (status, archived) = app.admin_delete(&format!("/api/v1/products/{id}")).await;
    assert_eq!(
        (status, &archived["status"]),
        (200, &json!("archived")),
        "{archived}"
    );

    expect_problem(
        app.admin_request(reqwest::Method::POST, "/api/v1/reservations")
            .json(&json!({"items": [{"product_id": id, "quantity": 1}]})),
        409,
        "product_unavailable",
    )
    .await;

    let inventory = app.inventory(&id).await;
    assert_eq!(inventory["reserved"], 0);
    assert_eq!(inventory["available"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hold_taken_before_archiving_still_commits() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let id = app.create_product(&store, 5).await;
    let reservation = app.reserve_ok(&[(&id, 2)], None).await;
    let (status, archived) = app.admin_delete(&format!("/api/v1/products/{id}")).await;
    assert_eq!(
        (status, &archived["status"]),
        (200, &json!("archived")),
        "{archived}"
    );

    let (status, committed) = app
        .admin_post_empty(&format!("/api/v1/reservations/{reservation}/commit"))
        .await;

    assert_eq!(status, 200, "{committed}");
    assert_eq!(committed["status"], "committed");
    let inventory = app.inventory(&id).await;
    assert_eq!(inventory["on_hand"], 3);
    assert_eq!(inventory["reserved"], 0);
    // The product really was archived (and stays so): nothing new can be held.
    let (_, product) = app.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(product["status"], "archived", "{product}");
    expect_problem(
        app.admin_request(reqwest::Method::POST, "/api/v1/reservations")
            .json(&json!({"items": [{"product_id": id, "quantity": 1}]})),
        409,
        "product_unavailable",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_can_bring_an_archived_product_back() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let id = app.create_product(&store, 5).await;
    let (status, archived) = app.admin_delete(&format!("/api/v1/products/{id}")).await;
    assert_eq!(
        (status, &archived["status"]),
        (200, &json!("archived")),
        "{archived}"
    );
    // Archived for real first, so what follows shows the PATCH bringing it back.
    expect_problem(
        app.admin_request(reqwest::Method::POST, "/api/v1/reservations")
            .json(&json!({"items": [{"product_id": id, "quantity": 1}]})),
        409,
        "product_unavailable",
    )
    .await;

    let (status, product) = app
        .admin_patch(
            &format!("/api/v1/products/{id}"),
            json!({"status": "active"}),
        )
        .await;

    assert_eq!(status, 200, "{product}");
    assert_eq!(product["status"], "active");
    app.reserve_ok(&[(&id, 1)], None).await;
}

// ---------------------------------------------------------------- inventory

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_answers_on_hand_reserved_available_and_version_to_anyone() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = create(
        &app,
        json!({"store_id": store, "sku": "INV-1", "name": "Inv",
               "price": {"amount": 100, "currency": "USD"},
               "initial_stock": 10, "low_stock_threshold": 3}),
    )
    .await;
    let id = product["id"].as_str().unwrap();
    app.reserve_ok(&[(id, 4)], None).await;

    let inventory = app.inventory(id).await;

    assert_eq!(inventory["product_id"], id);
    assert_eq!(inventory["on_hand"], 10);
    assert_eq!(inventory["reserved"], 4);
    assert_eq!(inventory["available"], 6);
    assert_eq!(inventory["low_stock_threshold"], 3);
    let (_, fetched) = app.get(&format!("/api/v1/products/{id}")).await;
    assert_eq!(fetched["stock"]["version"], inventory["version"]);
    assert!(
        inventory["version"].as_u64() > product["stock"]["version"].as_u64(),
        "{inventory}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restock_adjustment_raises_on_hand_and_records_its_note() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let id = app.create_product(&store, 10).await;

    let (status, inventory) = app
        .admin_post(
            &format!("/api/v1/products/{id}/inventory/adjustments"),
            json!({"delta": 25, "reason": "restock", "note": "truck 7"}),
        )
        .await;

    assert_eq!(status, 200, "{inventory}");
    assert_eq!(inventory["product_id"], id.as_str());
    assert_eq!(inventory["on_hand"], 35);
    assert_eq!(inventory["available"], 35);
    let (_, movements) = app
        .admin_get(&format!("/api/v1/products/{id}/inventory/movements"))
        .await;
    let newest = &movements["items"][0];
    assert_eq!(newest["kind"], "adjustment");
    assert_eq!(newest["reason"], "restock");
    assert_eq!(newest["note"], "truck 7");
    assert_eq!(newest["delta"], 25);
    assert_eq!(newest["on_hand_after"], 35);
    assert_eq!(newest["by"], "admin");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adjustment_with_the_current_expected_version_succeeds() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let id = app.create_product(&store, 10).await;
    let version = app.inventory(&id).await["version"].clone();

    let (status, inventory) = app
        .admin_post(
            &format!("/api/v1/products/{id}/inventory/adjustments"),
            json!({"delta": -3, "reason": "damage", "expected_version": version}),
        )
        .await;

    assert_eq!(status, 200, "{inventory}");
    assert_eq!(inventory["on_hand"], 7);
    assert!(inventory["version"].as_u64() > version.as_u64());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adjustment_with_a_stale_expected_version_answers_409_with_the_current_version() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let id = app.create_product(&store, 10).await;
    let stale = app.inventory(&id).await["version"].as_u64().unwrap();
    app.reserve_ok(&[(&id, 1)], None).await;
    let current = app.inventory(&id).await["version"].as_u64().unwrap();
    assert!(current > stale);

    let problem = expect_problem(
        app.admin_request(
            reqwest::Method::POST,
            &format!("/api/v1/products/{id}/inventory/adjustments"),
        )
        .json(&json!({"delta": 5, "reason": "restock", "expected_version": stale})),
        409,
        "version_mismatch",
    )
    .await;

    assert_eq!(problem["current_version"], current);
    let inventory = app.inventory(&id).await;
    assert_eq!(inventory["on_hand"], 10, "nothing changed");
    assert_eq!(inventory["version"], current);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adjustment_that_would_remove_held_units_answers_409_insufficient_stock() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let id = app.create_product(&store, 10).await;
    app.reserve_ok(&[(&id, 8)], None).await;

    expect_problem(
        app.admin_request(
            reqwest::Method::POST,
            &format!("/api/v1/products/{id}/inventory/adjustments"),
        )
        .json(&json!({"delta": -3, "reason": "shrinkage"})),
        409,
        "insufficient_stock",
    )
    .await;
    assert_eq!(app.inventory(&id).await["on_hand"], 10);

    // Removing exactly the unheld units is fine.
    let (status, inventory) = app
        .admin_post(
            &format!("/api/v1/products/{id}/inventory/adjustments"),
            json!({"delta": -2, "reason": "shrinkage"}),
        )
        .await;
    assert_eq!(status, 200, "{inventory}");
    assert_eq!(inventory["on_hand"], 8);
    assert_eq!(inventory["reserved"], 8);
    assert_eq!(inventory["available"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_adjustment_of_zero_or_with_reason_initial_answers_422() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let id = app.create_product(&store, 10).await;
    let path = format!("/api/v1/products/{id}/inventory/adjustments");

    let problem = expect_problem(
        app.admin_request(reqwest::Method::POST, &path)
            .json(&json!({"delta": 0, "reason": "restock"})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["delta"]);

    let problem = expect_problem(
        app.admin_request(reqwest::Method::POST, &path)
            .json(&json!({"delta": 1, "reason": "initial"})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["reason"]);

    let problem = expect_problem(
        app.admin_request(reqwest::Method::POST, &path)
            .json(&json!({"delta": 1, "reason": "gift"})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["reason"]);
    assert_eq!(app.inventory(&id).await["on_hand"], 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movements_are_newest_first_and_sum_to_on_hand() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let id = app.create_product(&store, 10).await;
    let adjust = |delta: i64, reason: &'static str| {
        let app = &app;
        let id = &id;
        async move {
            let (status, body) = app
                .admin_post(
                    &format!("/api/v1/products/{id}/inventory/adjustments"),
                    json!({"delta": delta, "reason": reason}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    };
    adjust(5, "restock").await;
    adjust(-2, "damage").await;
    let reservation = app.reserve_ok(&[(&id, 3)], None).await;
    let (status, _) = app
        .admin_post_empty(&format!("/api/v1/reservations/{reservation}/commit"))
        .await;
    assert_eq!(status, 200);
    adjust(1, "return").await;

    let (status, movements) = app
        .admin_get(&format!("/api/v1/products/{id}/inventory/movements"))
        .await;

    assert_eq!(status, 200, "{movements}");
    assert_eq!(movements["total"], 5);
    let items = movements["items"].as_array().unwrap();
    let kinds: Vec<(&str, i64, Option<&str>)> = items
        .iter()
        .map(|m| {
            (
                m["kind"].as_str().unwrap(),
                m["delta"].as_i64().unwrap(),
                m["reason"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            ("adjustment", 1, Some("return")),
            ("sale", -3, None),
            ("adjustment", -2, Some("damage")),
            ("adjustment", 5, Some("restock")),
            ("adjustment", 10, Some("initial")),
        ]
    );
    assert_eq!(items[1]["ref"], reservation.as_str(), "{}", items[1]);
    let on_hand = app.inventory(&id).await["on_hand"].as_i64().unwrap();
    assert_eq!(on_hand, 11);
    let sum: i64 = items.iter().map(|m| m["delta"].as_i64().unwrap()).sum();
    assert_eq!(sum, on_hand);
    assert_eq!(items[0]["on_hand_after"], on_hand);
    // Each movement's on_hand_after is the previous one's plus its delta.
    for pair in items.windows(2) {
        let (newer, older) = (&pair[0], &pair[1]);
        assert_eq!(
            older["on_hand_after"].as_i64().unwrap() + newer["delta"].as_i64().unwrap(),
            newer["on_hand_after"].as_i64().unwrap()
        );
    }

    let (status, page2) = app
        .admin_get(&format!(
            "/api/v1/products/{id}/inventory/movements?per_page=2&page=2"
        ))
        .await;
    assert_eq!(status, 200, "{page2}");
    assert_eq!(page2["total"], 5);
    assert_eq!(page2["items"].as_array().unwrap(), &items[2..4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn movements_need_the_admin_token() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let id = app.create_product(&store, 1).await;
    let path = format!("/api/v1/products/{id}/inventory/movements");

    expect_problem(app.client.get(app.url(&path)), 401, "unauthorized").await;
    expect_problem(
        app.client.get(app.url(&path)).bearer_auth("not-the-token"),
        401,
        "unauthorized",
    )
    .await;
    let (status, _) = app.admin_get(&path).await;
    assert_eq!(status, 200);
}
