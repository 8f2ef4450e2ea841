//! Recommendations, popularity and product views (issue 12, docs/API.md §11): `also_bought`
//! from confirmed orders, `similar` by shared category, brand, attributes and words, ties by
//! popularity (units sold in the last 30 days, a cancellation takes them back), views counted
//! per product and kept across restarts, and counts that a crash never doubles.

use crate::helpers::*;
use emporium::{
    discovery::Views,
    domain::ids::ProductId,
    persistence::{Storage, data_dir::DataDir},
};
use serde_json::{Value, json};
use std::{path::Path, time::Duration};

/// How long the discovery consumer may take to see an acknowledged order.
const CAUGHT_UP: Duration = Duration::from_secs(5);

/// Creates a product from `fields` (merged over a name, SKU, price and stock of 10);
/// returns its id.
async fn product(app: &TestApp, store: &str, fields: Value) -> String {
    let mut body = json!({
        "store_id": store, "sku": format!("SKU-{}", rand_suffix()), "name": "Thing",
        "price": {"amount": 1000, "currency": "USD"}, "initial_stock": 10,
    });
    for (key, value) in fields.as_object().expect("an object") {
        body[key] = value.clone();
    }
    let (status, created) = app.admin_post("/api/v1/products", body).await;
    assert_eq!(status, 201, "{created}");
    id_of(&created)
}

/// A confirmed order of `customer` holding `lines`; returns the order id.
async fn buy(app: &TestApp, customer: &Shopper, lines: &[(&str, i64)]) -> String {
    let cart = id_of(&app.create_cart(Some(&customer.token)).await);
    for (product, quantity) in lines {
        let (status, body) = app
            .set_cart_item(&cart, product, *quantity, Some(&customer.token))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, order) = app.checkout(&customer.token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["status"], "confirmed", "{order}");
    id_of(&order)
}

/// `GET /products/{id}/recommendations?{query}`: status and body.
async fn recommendations(app: &TestApp, product: &str, query: &str) -> (u16, Value) {
    app.get(&format!(
        "/api/v1/products/{product}/recommendations?{query}"
    ))
    .await
}

/// The ids of a 200 recommendations answer of `kind`.
async fn recommended(app: &TestApp, product: &str, kind: &str) -> Vec<String> {
    let (status, body) = recommendations(app, product, &format!("kind={kind}")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], kind, "{body}");
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect()
}

/// Polls until the `kind` recommendations of `product` are exactly `expected`.
async fn eventually_recommended(app: &TestApp, product: &str, kind: &str, expected: &[&str]) {
    let mut last = Vec::new();
    let found = tokio::time::timeout(CAUGHT_UP, async {
        loop {
            last = recommended(app, product, kind).await;
            if last == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "{kind} of {product}: expected {expected:?}, still {last:?}"
    );
}

#[tokio::test]
async fn customers_also_bought_ranks_products_by_how_many_confirmed_orders_held_both() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let a = product(&app, &store, json!({"name": "Alpha"})).await;
    let b = product(&app, &store, json!({"name": "Bravo"})).await;
    let c = product(&app, &store, json!({"name": "Charlie"})).await;
    let archived = product(&app, &store, json!({"name": "Delta"})).await;
    let lonely = product(&app, &store, json!({"name": "Echo"})).await;
    let customer = app.customer().await;
    buy(&app, &customer, &[(&c, 1), (&a, 1)]).await;
    buy(&app, &customer, &[(&a, 1), (&b, 1)]).await;
    buy(&app, &customer, &[(&a, 2), (&b, 1), (&archived, 1)]).await;
    let (status, body) = app
        .admin_delete(&format!("/api/v1/products/{archived}"))
        .await;
    assert_eq!(status, 200, "{body}");

    // A+B twice, A+C once: B before C; never A itself, never the archived product.
    eventually_recommended(&app, &a, "also_bought", &[&b, &c]).await;
    assert_eq!(recommended(&app, &b, "also_bought").await, vec![a.clone()]);
    assert_eq!(recommended(&app, &c, "also_bought").await, vec![a.clone()]);
    assert!(recommended(&app, &lonely, "also_bought").await.is_empty());
    let (_, body) = recommendations(&app, &a, "kind=also_bought").await;
    assert_eq!(
        body["items"][0]["name"], "Bravo",
        "items are products: {body}"
    );
    assert_eq!(body["items"][0]["stock"]["available"], 8, "{body}");

    // In stock first: B sold out falls behind C.
    adjust_stock(&app.client, app.addr, &b, -8).await;
    eventually_recommended(&app, &a, "also_bought", &[&c, &b]).await;
    let (_, body) = recommendations(&app, &a, "kind=also_bought&limit=1").await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1), "{body}");
}

#[tokio::test]
async fn similar_products_rank_by_shared_category_brand_attributes_and_words_in_stock_first() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let other_store = app.create_store().await;
    let tee = json!({"category": "t-shirts", "brand": "basics", "attributes": {"color": "blue"}});
    let a = product(&app, &store, json!({"name": "Cotton Tee", "category": "t-shirts", "brand": "basics", "attributes": {"color": "blue", "size": "m"}})).await;
    // Category, brand, colour and the word "cotton": the most alike.
    let twin = product(&app, &store, json!({"name": "Cotton Crew", "category": "t-shirts", "brand": "basics", "attributes": {"color": "blue"}})).await;
    let same_category = product(
        &app,
        &store,
        json!({"name": "Plain Top", "category": "T-Shirts"}),
    )
    .await;
    let same_brand = product(&app, &store, json!({"name": "Mug", "brand": "basics"})).await;
    let word_only = product(
        &app,
        &store,
        json!({"name": "Towel", "description": "Soft cotton, thick."}),
    )
    .await;
    let _unrelated = product(&app, &store, json!({"name": "Hammer", "category": "tools"})).await;
    let sold_out = product(
        &app,
        &store,
        json!({"name": "Cotton Tank", "category": "t-shirts", "brand": "basics", "attributes": {"color": "blue"}, "initial_stock": 0}),
    )
    .await;
    let archived = product(&app, &store, tee.clone()).await;
    let (status, _) = app
        .admin_delete(&format!("/api/v1/products/{archived}"))
        .await;
    assert_eq!(status, 200);
    let _elsewhere = product(&app, &other_store, tee).await;

    assert_eq!(
        recommended(&app, &a, "similar").await,
        vec![
            twin.clone(),
            same_category.clone(),
            same_brand.clone(),
            word_only.clone(),
            sold_out.clone()
        ]
    );
    // `similar` is the default kind, 10 the default limit.
    let (status, body) = recommendations(&app, &a, "").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["kind"], "similar");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(5), "{body}");
    // Equally alike (A and the twin) fall back to popularity, then the name.
    assert_eq!(
        recommended(&app, &sold_out, "similar").await,
        vec![twin, a, same_category, same_brand, word_only]
    );
}

#[tokio::test]
async fn popularity_counts_units_of_confirmed_orders_and_a_cancellation_takes_them_back() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let a = product(
        &app,
        &store,
        json!({"name": "Alpha Lamp", "category": "lamps"}),
    )
    .await;
    // Equally alike to A; without sales, B comes first by name.
    let b = product(
        &app,
        &store,
        json!({"name": "Bravo Lamp", "category": "lamps"}),
    )
    .await;
    let c = product(
        &app,
        &store,
        json!({"name": "Charlie Lamp", "category": "lamps"}),
    )
    .await;
    assert_eq!(
        recommended(&app, &a, "similar").await,
        vec![b.clone(), c.clone()]
    );

    let customer = app.customer().await;
    let order_c = buy(&app, &customer, &[(&c, 3)]).await;
    eventually_recommended(&app, &a, "similar", &[&c, &b]).await;
    buy(&app, &customer, &[(&b, 2)]).await;
    // A declined order sells nothing.
    let cart = app.cart_with(&customer.token, &b, 5).await;
    let (status, declined) = app
        .checkout(&customer.token, &cart, "tok_chargeDeclined")
        .await;
    assert_eq!(status, 402, "{declined}");
    // C: 3 units, B: 2 (the declined 5 do not count).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        recommended(&app, &a, "similar").await,
        vec![c.clone(), b.clone()]
    );

    let (status, cancelled) = app.cancel_order(&order_c, &customer.token).await;
    assert_eq!(status, 200, "{cancelled}");
    eventually_recommended(&app, &a, "similar", &[&b, &c]).await;
}

#[tokio::test]
async fn a_bad_kind_or_limit_answers_422_and_an_unknown_product_404() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let a = product(&app, &store, json!({"category": "x"})).await;
    for i in 0..21 {
        product(
            &app,
            &store,
            json!({"category": "x", "name": format!("Other {i}")}),
        )
        .await;
    }
    for (query, field) in [
        ("kind=popular", "kind"),
        ("kind=", "kind"),
        ("limit=0", "limit"),
        ("limit=21", "limit"),
        ("limit=-1", "limit"),
        ("limit=ten", "limit"),
        ("sort=name", "sort"),
    ] {
        let url = app.url(&format!("/api/v1/products/{a}/recommendations?{query}"));
        let problem = expect_problem(app.client.get(url), 422, "validation_failed").await;
        assert_eq!(
            error_fields(&problem),
            vec![field.to_owned()],
            "{query}: {problem}"
        );
    }
    for missing in [ProductId::generate().to_string(), "prod_nope".to_owned()] {
        let url = app.url(&format!("/api/v1/products/{missing}/recommendations"));
        expect_problem(app.client.get(url), 404, "not_found").await;
    }
    let (_, body) = recommendations(&app, &a, "").await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(10), "{body}");
    let (_, body) = recommendations(&app, &a, "kind=similar&limit=20").await;
    assert_eq!(body["items"].as_array().map(Vec::len), Some(20), "{body}");
}

/// Every view of `product` stored in the (stopped) server's data dir.
fn stored_views(dir: &Path, product: &str) -> u64 {
    let data_dir = DataDir::open(dir).expect("data dir");
    let storage = Storage::open_in(&data_dir, Default::default()).expect("storage");
    let views = Views::open(&storage, "views").expect("views");
    views
        .product_views(&ProductId::parse(product).expect("product id"))
        .expect("stored views")
}

/// SIGTERM (a clean shutdown), then waits for exit 0.
async fn terminate(mut server: ServerProcess) {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .expect("send SIGTERM");
    assert!(status.success());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(exit) = server.child.try_wait().expect("wait") {
            assert_eq!(exit.code(), Some(0), "exit after SIGTERM");
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no exit after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The real binary on `dir` (views written only at shutdown within a test's time), ready.
async fn start(dir: &Path) -> (ServerProcess, TestApp) {
    let server = ServerProcess::start(dir, &[("EMPORIUM_DISCOVERY__VIEWS_FLUSH_MS", "600000")]);
    let app = TestApp::remote(server.addr);
    app.wait_ready().await;
    (server, app)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_views_are_counted_per_get_and_survive_a_clean_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (server, app) = start(dir.path()).await;
    let store = app.create_store().await;
    let viewed = app.create_product(&store, 1).await;
    let other = app.create_product(&store, 1).await;
    for _ in 0..3 {
        let (status, _) = app.get(&format!("/api/v1/products/{viewed}")).await;
        assert_eq!(status, 200);
    }
    let (status, _) = app.get(&format!("/api/v1/products/{other}")).await;
    assert_eq!(status, 200);
    // Other reads of the product are no views.
    let (status, _) = app
        .get(&format!("/api/v1/products/{viewed}/inventory"))
        .await;
    assert_eq!(status, 200);
    terminate(server).await;
    assert_eq!(stored_views(dir.path(), &viewed), 3);
    assert_eq!(stored_views(dir.path(), &other), 1);

    // The next run starts from the stored counts and adds to them.
    let (server, app) = start(dir.path()).await;
    let (status, _) = app.get(&format!("/api/v1/products/{viewed}")).await;
    assert_eq!(status, 200);
    terminate(server).await;
    assert_eq!(stored_views(dir.path(), &viewed), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn product_views_are_written_every_interval_so_kill_9_loses_at_most_the_last_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path(), &[("EMPORIUM_DISCOVERY__VIEWS_FLUSH_MS", "100")]);
    let app = TestApp::remote(server.addr);
    app.wait_ready().await;
    let store = app.create_store().await;
    let viewed = app.create_product(&store, 1).await;
    for _ in 0..2 {
        let (status, _) = app.get(&format!("/api/v1/products/{viewed}")).await;
        assert_eq!(status, 200);
    }
    // A few intervals pass, then the process dies without any shutdown.
    tokio::time::sleep(Duration::from_millis(500)).await;
    server.kill_9();
    assert_eq!(stored_views(dir.path(), &viewed), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sales_counted_again_after_kill_9_are_not_doubled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(dir.path(), &[]);
    let app = TestApp::remote(server.addr);
    app.wait_ready().await;
    let store = app.create_store().await;
    let a = product(
        &app,
        &store,
        json!({"name": "Alpha Cup", "category": "cups"}),
    )
    .await;
    // By name alone C would come first among A's similar products; B sells more.
    let b = product(
        &app,
        &store,
        json!({"name": "Zulu Cup", "category": "cups"}),
    )
    .await;
    let c = product(
        &app,
        &store,
        json!({"name": "Yankee Cup", "category": "cups"}),
    )
    .await;
    let customer = app.customer().await;
    // B: three orders with A; C: two, the last ones (so the likeliest to come again after the
    // crash, from behind the saved cursor). Counting C's again would put C first.
    for _ in 0..3 {
        buy(&app, &customer, &[(&a, 1), (&b, 1)]).await;
    }
    for _ in 0..2 {
        buy(&app, &customer, &[(&a, 1), (&c, 1)]).await;
    }
    eventually_recommended(&app, &a, "also_bought", &[&b, &c]).await;
    assert_eq!(
        recommended(&app, &a, "similar").await,
        vec![b.clone(), c.clone()]
    );
    server.kill_9();

    // After the first crash: the same ranks; then one more A+C ties C with B on both counts
    // (3 each), so the names decide and C comes first. If the replay had counted anything a
    // second time, B (or C) would lead instead. After the second crash: still the tie.
    let mut expected = vec![b.clone(), c.clone()];
    for restart in 1..=2 {
        let server = ServerProcess::start(dir.path(), &[]);
        let app = TestApp::remote(server.addr);
        app.wait_ready().await;
        // Give the consumer time to replay whatever comes again, then compare.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for kind in ["also_bought", "similar"] {
            assert_eq!(
                recommended(&app, &a, kind).await,
                expected,
                "{kind} after restart {restart}"
            );
        }
        if restart == 1 {
            buy(&app, &customer, &[(&a, 1), (&c, 1)]).await;
            expected = vec![c.clone(), b.clone()];
            eventually_recommended(&app, &a, "also_bought", &[&c, &b]).await;
            assert_eq!(recommended(&app, &a, "similar").await, expected);
        }
        server.kill_9();
    }
}
