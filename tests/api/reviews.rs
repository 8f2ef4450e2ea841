//! Reviews (docs/API.md §11): verified purchase only, one per customer and product (also
//! under a race), the product's rating following every change, author edits, moderation,
//! sorted pages, validation, and reviews and ratings across a `kill -9` of the real binary.

use crate::helpers::{
    ADMIN_TOKEN, ServerProcess, Shopper, TestApp, error_fields, expect_problem, id_of, spawn_app,
};
use crate::observability::{check_answer, spec};
use reqwest::Method;
use serde_json::{Value, json};

const REVIEWS: &str = "/api/v1/products/{id}/reviews";
const REVIEW: &str = "/api/v1/products/{id}/reviews/{review_id}";

fn reviews_path(product: &str) -> String {
    format!("/api/v1/products/{product}/reviews")
}

fn review_path(product: &str, review: &str) -> String {
    format!("/api/v1/products/{product}/reviews/{review}")
}

/// A fresh customer whose order of one unit of each of `products` went to `last`, moved by
/// the store's staff through the status API (`confirmed` leaves it as checkout left it).
pub(crate) async fn buyer(app: &TestApp, products: &[impl AsRef<str>], last: &str) -> Shopper {
    let customer = app.customer().await;
    let cart = app
        .cart_with(&customer.token, products[0].as_ref(), 1)
        .await;
    for product in &products[1..] {
        let (status, body) = app
            .set_cart_item(&cart, product.as_ref(), 1, Some(&customer.token))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, order) = app.checkout(&customer.token, &cart, "tok_visa").await;
    assert_eq!(
        (status, &order["status"]),
        (201, &json!("confirmed")),
        "{order}"
    );
    let order = id_of(&order);
    if last != "confirmed" {
        for step in ["preparing", "ready", "delivered"] {
            let (status, moved) = app.set_order_status(&order, step, ADMIN_TOKEN).await;
            assert_eq!(status, 200, "{moved}");
            if step == last {
                break;
            }
        }
    }
    customer
}

/// `POST` a review as `token`; answers status and body.
async fn post_review(app: &TestApp, product: &str, token: &str, body: Value) -> (u16, Value) {
    app.call(
        Method::POST,
        &reviews_path(product),
        Some(token),
        Some(body),
    )
    .await
}

/// Posts a review that must be accepted; returns it.
async fn review_ok(app: &TestApp, product: &str, token: &str, stars: i64) -> Value {
    let (status, review) = post_review(app, product, token, json!({"rating": stars})).await;
    assert_eq!(status, 201, "{review}");
    review
}

/// The product's `rating` member.
async fn rating(app: &TestApp, product: &str) -> Value {
    let (status, body) = app.get(&format!("/api/v1/products/{product}")).await;
    assert_eq!(status, 200, "{body}");
    body["rating"].clone()
}

/// A shop with one product and a customer who received it.
async fn shop() -> (TestApp, String, String, Shopper) {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 50).await;
    let customer = buyer(&app, &[&product], "delivered").await;
    (app, store, product, customer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_customer_whose_order_was_delivered_reviews_and_only_once() {
    let app = spawn_app().await;
    let spec = spec(&app).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 50).await;

    let (status, body) = app
        .call(
            Method::POST,
            &reviews_path(&product),
            None,
            Some(json!({"rating": 5})),
        )
        .await;
    assert_eq!(status, 401, "anonymous: {body}");

    let stranger = app.customer().await;
    let (status, problem) =
        post_review(&app, &product, &stranger.token, json!({"rating": 5})).await;
    assert_eq!(
        (status, &problem["code"]),
        (403, &json!("not_purchased")),
        "{problem}"
    );
    check_answer(&spec, "post", REVIEWS, 403, status, &problem);

    // Bought, paid and even shipped, but not delivered yet.
    for last in ["confirmed", "ready"] {
        let waiting = buyer(&app, &[&product], last).await;
        let (status, problem) =
            post_review(&app, &product, &waiting.token, json!({"rating": 4})).await;
        assert_eq!(
            (status, &problem["code"]),
            (403, &json!("not_purchased")),
            "order {last}: {problem}"
        );
    }

    let customer = buyer(&app, &[&product], "delivered").await;
    let (status, review) = post_review(
        &app,
        &product,
        &customer.token,
        json!({"rating": 4, "title": "Soft", "body": "Washes well."}),
    )
    .await;
    check_answer(&spec, "post", REVIEWS, 201, status, &review);
    let keys: Vec<&str> = review
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    let mut expected = vec![
        "id",
        "product_id",
        "customer_id",
        "author_name",
        "rating",
        "title",
        "body",
        "verified_purchase",
        "created_at",
        "updated_at",
    ];
    expected.sort_unstable();
    assert_eq!(keys, expected, "{review}");
    assert!(
        review["id"].as_str().unwrap().starts_with("rev_"),
        "{review}"
    );
    assert_eq!(review["product_id"], product.as_str());
    assert_eq!(review["customer_id"], customer.id.as_str());
    assert_eq!(review["author_name"], "Cus Tomer");
    assert_eq!(
        (&review["rating"], &review["title"], &review["body"]),
        (&json!(4), &json!("Soft"), &json!("Washes well."))
    );
    assert_eq!(review["verified_purchase"], true);
    assert_eq!(review["created_at"], review["updated_at"]);

    let (status, problem) =
        post_review(&app, &product, &customer.token, json!({"rating": 1})).await;
    assert_eq!(
        (status, &problem["code"]),
        (409, &json!("already_reviewed")),
        "{problem}"
    );
    check_answer(&spec, "post", REVIEWS, 409, status, &problem);
    assert_eq!(
        rating(&app, &product).await,
        json!({"average": 4.0, "count": 1})
    );

    // A product the customer did not receive, and one that does not exist.
    let other = app.create_product(&store, 5).await;
    let (status, problem) = post_review(&app, &other, &customer.token, json!({"rating": 5})).await;
    assert_eq!((status, &problem["code"]), (403, &json!("not_purchased")));
    let (status, _) = post_review(
        &app,
        "prod_000000000000000000000000",
        &customer.token,
        json!({"rating": 5}),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_reviews_posted_at_once_by_one_customer_make_exactly_one() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let mut products = Vec::new();
    for _ in 0..4 {
        products.push(app.create_product(&store, 10).await);
    }
    let customer = buyer(&app, &products, "delivered").await;
    for product in &products {
        let (a, b) = tokio::join!(
            post_review(&app, product, &customer.token, json!({"rating": 5})),
            post_review(&app, product, &customer.token, json!({"rating": 1})),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 409], "{} / {}", a.1, b.1);
        let loser = if a.0 == 409 { &a.1 } else { &b.1 };
        assert_eq!(loser["code"], "already_reviewed", "{loser}");
        let (_, page) = app.get(&reviews_path(product)).await;
        assert_eq!(page["total"], 1, "{page}");
        assert_eq!(rating(&app, product).await["count"], 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_product_rating_follows_every_review_written_edited_and_deleted() {
    let (app, store, product, first) = shop().await;
    let spec = spec(&app).await;
    assert_eq!(
        rating(&app, &product).await,
        json!({"average": null, "count": 0})
    );
    let (status, body) = app.get(&format!("/api/v1/products/{product}")).await;
    check_answer(&spec, "get", "/api/v1/products/{id}", 200, status, &body);

    let version = |body: &Value| body["stock"]["version"].as_u64().expect("version");
    let five = review_ok(&app, &product, &first.token, 5).await;
    let second = buyer(&app, &[&product], "delivered").await;
    review_ok(&app, &product, &second.token, 4).await;
    assert_eq!(
        rating(&app, &product).await,
        json!({"average": 4.5, "count": 2})
    );

    let third = buyer(&app, &[&product], "delivered").await;
    let (_, body) = app.get(&format!("/api/v1/products/{product}")).await;
    let before = version(&body);
    let mut ws = app.ws().await;
    ws.subscribe(&format!("product:{product}")).await;
    let four = review_ok(&app, &product, &third.token, 4).await;
    assert_eq!(
        rating(&app, &product).await,
        json!({"average": 4.33, "count": 3})
    );
    // Every rating change is a product change: it moves the version and is published as
    // `product.updated` with that version as its seq.
    let (_, body) = app.get(&format!("/api/v1/products/{product}")).await;
    assert_eq!(version(&body), before + 1, "{body}");
    let event = ws.next_event().await;
    assert_eq!(
        (&event["event"], &event["seq"], &event["data"]["rating"]),
        (
            &json!("product.updated"),
            &json!(before + 1),
            &json!({"average": 4.33, "count": 3})
        ),
        "{event}"
    );

    // Lists show the rating too.
    let (status, page) = app.get(&format!("/api/v1/products?store_id={store}")).await;
    check_answer(&spec, "get", "/api/v1/products", 200, status, &page);
    assert_eq!(
        page["items"][0]["rating"],
        json!({"average": 4.33, "count": 3})
    );

    // 5 + 4 + 4 → 5 + 4 + 5.
    let (status, edited) = app
        .call(
            Method::PUT,
            &review_path(&product, &id_of(&four)),
            Some(&third.token),
            Some(json!({"rating": 5, "title": "Even better"})),
        )
        .await;
    check_answer(&spec, "put", REVIEW, 200, status, &edited);
    assert_eq!(
        rating(&app, &product).await,
        json!({"average": 4.67, "count": 3})
    );

    // Delete the first 5 → 4 + 5.
    let (status, body) = app
        .call(
            Method::DELETE,
            &review_path(&product, &id_of(&five)),
            Some(&first.token),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        rating(&app, &product).await,
        json!({"average": 4.5, "count": 2})
    );
    // The author may write a new one once theirs is gone.
    review_ok(&app, &product, &first.token, 3).await;
    assert_eq!(
        rating(&app, &product).await,
        json!({"average": 4.0, "count": 3})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_author_edits_and_the_author_staff_of_the_store_or_an_admin_delete() {
    let (app, store, product, author) = shop().await;
    let review = review_ok(&app, &product, &author.token, 2).await;
    let id = id_of(&review);
    let path = review_path(&product, &id);

    let other = buyer(&app, &[&product], "delivered").await;
    let other_store = app.create_store().await;
    let outsider_staff = app.staff(&other_store).await;
    for token in [
        other.token.as_str(),
        outsider_staff.token.as_str(),
        ADMIN_TOKEN,
    ] {
        let (status, problem) = app
            .call(Method::PUT, &path, Some(token), Some(json!({"rating": 5})))
            .await;
        assert_eq!(
            (status, &problem["code"]),
            (403, &json!("forbidden")),
            "{problem}"
        );
    }
    let (status, _) = app
        .call(Method::PUT, &path, None, Some(json!({"rating": 5})))
        .await;
    assert_eq!(status, 401);

    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let (status, edited) = app
        .call(
            Method::PUT,
            &path,
            Some(&author.token),
            Some(json!({"rating": 3, "body": "Grew on me."})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(
        (
            &edited["id"],
            &edited["rating"],
            &edited["title"],
            &edited["body"]
        ),
        (&json!(id), &json!(3), &Value::Null, &json!("Grew on me."))
    );
    assert_eq!(edited["created_at"], review["created_at"]);
    assert_ne!(edited["updated_at"], review["updated_at"]);
    assert_eq!(
        rating(&app, &product).await,
        json!({"average": 3.0, "count": 1})
    );

    // Nobody but the author, the store's staff and admins may delete.
    for token in [other.token.as_str(), outsider_staff.token.as_str()] {
        let (status, problem) = app.call(Method::DELETE, &path, Some(token), None).await;
        assert_eq!(
            (status, &problem["code"]),
            (403, &json!("forbidden")),
            "{problem}"
        );
    }
    let (status, _) = app.call(Method::DELETE, &path, None, None).await;
    assert_eq!(status, 401);

    // Moderation: the store's staff removes this one…
    let staff = app.staff(&store).await;
    let (status, body) = app
        .call(Method::DELETE, &path, Some(&staff.token), None)
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, problem) = app
        .call(Method::DELETE, &path, Some(&staff.token), None)
        .await;
    assert_eq!((status, &problem["code"]), (404, &json!("not_found")));
    let (status, _) = app
        .call(
            Method::PUT,
            &path,
            Some(&author.token),
            Some(json!({"rating": 1})),
        )
        .await;
    assert_eq!(status, 404, "a deleted review cannot be edited");
    assert_eq!(
        rating(&app, &product).await,
        json!({"average": null, "count": 0})
    );

    // …and an admin (the token and an admin user) the next ones.
    let admin_user = crate::helpers::access_token(&app.new_user("admin", None).await);
    for token in [ADMIN_TOKEN, admin_user.as_str()] {
        let review = review_ok(&app, &product, &other.token, 1).await;
        let (status, body) = app
            .call(
                Method::DELETE,
                &review_path(&product, &id_of(&review)),
                Some(token),
                None,
            )
            .await;
        assert_eq!(status, 204, "{body}");
    }
    // The author deletes their own.
    let review = review_ok(&app, &product, &author.token, 4).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &review_path(&product, &id_of(&review)),
            Some(&author.token),
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        rating(&app, &product).await,
        json!({"average": null, "count": 0})
    );

    // Unknown and malformed ids, and a review addressed under another product.
    let elsewhere = app.create_product(&store, 1).await;
    let review = review_ok(&app, &product, &author.token, 4).await;
    for path in [
        review_path(&product, "rev_000000000000000000000000"),
        review_path(&product, "nonsense"),
        review_path(&elsewhere, &id_of(&review)),
        review_path("prod_000000000000000000000000", &id_of(&review)),
    ] {
        let (status, _) = app
            .call(
                Method::PUT,
                &path,
                Some(&author.token),
                Some(json!({"rating": 2})),
            )
            .await;
        assert_eq!(status, 404, "PUT {path}");
        let (status, _) = app
            .call(Method::DELETE, &path, Some(ADMIN_TOKEN), None)
            .await;
        assert_eq!(status, 404, "DELETE {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_are_listed_newest_first_or_by_rating_page_by_page() {
    let app = spawn_app().await;
    let spec = spec(&app).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 50).await;
    let mut ids = Vec::new();
    for stars in [3, 5, 1] {
        let customer = buyer(&app, &[&product], "delivered").await;
        ids.push(id_of(
            &review_ok(&app, &product, &customer.token, stars).await,
        ));
        // Distinct creation times.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let listed = |page: &Value| -> Vec<(String, i64)> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|r| (id_of(r), r["rating"].as_i64().expect("rating")))
            .collect()
    };
    let (status, page) = app.get(&reviews_path(&product)).await;
    check_answer(&spec, "get", REVIEWS, 200, status, &page);
    assert_eq!(
        listed(&page),
        [
            (ids[2].clone(), 1),
            (ids[1].clone(), 5),
            (ids[0].clone(), 3)
        ]
    );
    assert_eq!(
        (&page["page"], &page["per_page"], &page["total"]),
        (&json!(1), &json!(20), &json!(3))
    );
    let (_, same) = app
        .get(&format!("{}?sort=-created_at", reviews_path(&product)))
        .await;
    assert_eq!(listed(&same), listed(&page));
    let (_, best) = app
        .get(&format!("{}?sort=-rating", reviews_path(&product)))
        .await;
    assert_eq!(
        listed(&best),
        [
            (ids[1].clone(), 5),
            (ids[0].clone(), 3),
            (ids[2].clone(), 1)
        ]
    );
    let (_, worst) = app
        .get(&format!("{}?sort=rating", reviews_path(&product)))
        .await;
    assert_eq!(
        listed(&worst),
        [
            (ids[2].clone(), 1),
            (ids[0].clone(), 3),
            (ids[1].clone(), 5)
        ]
    );
    let (_, second) = app
        .get(&format!(
            "{}?sort=-rating&per_page=2&page=2",
            reviews_path(&product)
        ))
        .await;
    assert_eq!(listed(&second), [(ids[2].clone(), 1)]);
    assert_eq!(
        (&second["page"], &second["per_page"], &second["total"]),
        (&json!(2), &json!(2), &json!(3))
    );
    let (_, beyond) = app.get(&format!("{}?page=9", reviews_path(&product))).await;
    assert_eq!(
        (beyond["items"].as_array().map(Vec::len), &beyond["total"]),
        (Some(0), &json!(3))
    );

    for query in [
        "sort=newest",
        "sort=created_at",
        "per_page=0",
        "per_page=101",
        "page=0",
        "color=red",
    ] {
        let problem = expect_problem(
            app.client
                .get(app.url(&format!("{}?{query}", reviews_path(&product)))),
            422,
            "validation_failed",
        )
        .await;
        check_answer(&spec, "get", REVIEWS, 422, 422, &problem);
    }
    let (status, _) = app
        .get(&reviews_path("prod_000000000000000000000000"))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reviews_are_refused_field_by_field_and_nothing_is_written() {
    let (app, _store, product, customer) = shop().await;
    let spec = spec(&app).await;
    let cases = [
        (json!({"rating": 0}), vec!["rating"]),
        (json!({"rating": 6}), vec!["rating"]),
        (json!({"rating": -1}), vec!["rating"]),
        (json!({"rating": 4.5}), vec!["rating"]),
        (json!({"rating": "5"}), vec!["rating"]),
        (json!({}), vec!["rating"]),
        (
            json!({"rating": 5, "title": "t".repeat(121)}),
            vec!["title"],
        ),
        (json!({"rating": 5, "body": "b".repeat(5001)}), vec!["body"]),
        (
            json!({"rating": 9, "title": "é".repeat(121), "body": "b".repeat(5001)}),
            vec!["rating", "title", "body"],
        ),
        (json!({"rating": 5, "stars": 5}), vec!["stars"]),
    ];
    for (body, fields) in cases {
        let (status, problem) = post_review(&app, &product, &customer.token, body.clone()).await;
        assert_eq!(
            (status, &problem["code"]),
            (422, &json!("validation_failed")),
            "{body}: {problem}"
        );
        check_answer(&spec, "post", REVIEWS, 422, status, &problem);
        assert_eq!(error_fields(&problem), fields, "{body}: {problem}");
    }
    assert_eq!(rating(&app, &product).await["count"], 0);
    // The limits themselves are fine (characters, not bytes).
    let review = post_review(
        &app,
        &product,
        &customer.token,
        json!({"rating": 1, "title": "é".repeat(120), "body": "b".repeat(5000)}),
    )
    .await;
    assert_eq!(review.0, 201, "{}", review.1);
    let (status, problem) = app
        .call(
            Method::PUT,
            &review_path(&product, &id_of(&review.1)),
            Some(&customer.token),
            Some(json!({"rating": 6, "title": "t".repeat(121)})),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(error_fields(&problem), ["rating", "title"]);
    assert_eq!(
        rating(&app, &product).await,
        json!({"average": 1.0, "count": 1})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reviews_and_ratings_survive_kill_9_of_the_real_binary() {
    let dir = tempfile::tempdir().expect("temp dir");
    let start = || async {
        let server = ServerProcess::start(dir.path(), &[]);
        let app = TestApp::remote(server.addr);
        app.wait_ready().await;
        (server, app)
    };
    let (server, app) = start().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 50).await;
    let snapshotted = app.create_product(&store, 50).await;
    let mut buyers = Vec::new();
    for _ in 0..3 {
        buyers.push(buyer(&app, &[&product, &snapshotted], "delivered").await);
    }
    let mut kept = Vec::new();
    for (customer, stars) in buyers.iter().zip([5, 4, 4]) {
        kept.push(review_ok(&app, &product, &customer.token, stars).await);
        review_ok(&app, &snapshotted, &customer.token, stars).await;
    }
    let (status, edited) = app
        .call(
            Method::PUT,
            &review_path(&product, &id_of(&kept[1])),
            Some(&buyers[1].token),
            Some(json!({"rating": 2, "title": "Shrank"})),
        )
        .await;
    assert_eq!(status, 200, "{edited}");
    kept[1] = edited;
    let (status, _) = app
        .call(
            Method::DELETE,
            &review_path(&product, &id_of(&kept[2])),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, 204);
    kept.pop();
    // Enough stock changes after the reviews that the second product's rating lives in a
    // snapshot, not only in journal records.
    for _ in 0..70 {
        let (status, body) = app
            .admin_post(
                &format!("/api/v1/products/{snapshotted}/inventory/adjustments"),
                json!({"delta": 1, "reason": "restock"}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let (_, before) = app.get(&reviews_path(&product)).await;
    let (_, product_before) = app.get(&format!("/api/v1/products/{product}")).await;
    let (_, snapshotted_before) = app.get(&format!("/api/v1/products/{snapshotted}")).await;
    assert_eq!(
        product_before["rating"],
        json!({"average": 3.5, "count": 2})
    );
    assert_eq!(
        snapshotted_before["rating"],
        json!({"average": 4.33, "count": 3})
    );
    server.kill_9();

    let (server, app) = start().await;
    let (_, after) = app.get(&reviews_path(&product)).await;
    assert_eq!(after, before);
    assert_eq!(after["total"], 2);
    let mut ids: Vec<String> = after["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    ids.sort();
    let mut expected: Vec<String> = kept.iter().map(id_of).collect();
    expected.sort();
    assert_eq!(ids, expected);
    let (_, product_after) = app.get(&format!("/api/v1/products/{product}")).await;
    assert_eq!(product_after, product_before);
    let (_, snapshotted_after) = app.get(&format!("/api/v1/products/{snapshotted}")).await;
    assert_eq!(snapshotted_after, snapshotted_before);

    // The restarted product still knows who reviewed it and keeps counting from its rating.
    let (status, problem) =
        post_review(&app, &product, &buyers[0].token, json!({"rating": 1})).await;
    assert_eq!(
        (status, &problem["code"]),
        (409, &json!("already_reviewed")),
        "{problem}"
    );
    review_ok(&app, &product, &buyers[2].token, 5).await;
    assert_eq!(
        rating(&app, &product).await,
        json!({"average": 4.0, "count": 3})
    );
    let (status, _) = app
        .call(
            Method::PUT,
            &review_path(&snapshotted, &id_of(&after["items"][0])),
            Some(&buyers[0].token),
            Some(json!({"rating": 1})),
        )
        .await;
    assert_eq!(status, 404, "a review of another product");
    server.kill_9();
}

// ---------------------------------------------------------------- the storefront in Chromium

/// The product page in headless Chromium: a shopper who did not receive the product is told
/// so; a buyer posts a review with the star form; the summary and the grid card show the
/// rating; every user-written text (author name, title, body) is shown as text, not markup.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_buyer_reviews_a_product_on_its_page_and_the_grid_shows_its_stars() {
    use crate::browser::{
        Driver, card, click, eval, fill, open, programs, screenshot, shop_sign_in, wait_text,
        wait_until,
    };
    use futures_util::FutureExt;
    let Some(programs) = programs() else {
        return;
    };
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 20).await;
    let buyer_email = format!("reviewer-{}@example.com", crate::helpers::rand_suffix());
    let (status, session) = app
        .register(
            &buyer_email,
            crate::helpers::USER_PASSWORD,
            "Ana <b>Bold</b>",
        )
        .await;
    assert_eq!(status, 201, "{session}");
    let buyer_token = crate::helpers::access_token(&session);
    let cart = app.cart_with(&buyer_token, &product, 1).await;
    let (status, order) = app.checkout(&buyer_token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    for step in ["preparing", "ready", "delivered"] {
        let (status, body) = app
            .set_order_status(&id_of(&order), step, ADMIN_TOKEN)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let stranger_email = format!("stranger-{}@example.com", crate::helpers::rand_suffix());
    let (status, _) = app
        .register(&stranger_email, crate::helpers::USER_PASSWORD, "Stranger")
        .await;
    assert_eq!(status, 201);

    let mut driver = Driver::start(&programs).await;
    let browser = driver.session(1280, 900).await;
    let outcome = std::panic::AssertUnwindSafe(async {
        open(&browser, &app.url(&format!("/?store={store}"))).await;
        wait_text(
            &browser,
            &format!("{} .product-rating", card(&product)),
            "No reviews yet",
        )
        .await;
        click(&browser, &format!("{} .product-name a", card(&product))).await;
        wait_until(
            &browser,
            "the product page",
            "document.querySelector('#product-title')?.textContent === 'Test Product'",
        )
        .await;
        wait_text(&browser, "#no-reviews", "No reviews yet.").await;

        // Someone who never received it.
        shop_sign_in(&browser, &stranger_email).await;
        click(&browser, ".star-choice:has(input[value='5'])").await;
        click(&browser, "#review-submit").await;
        wait_text(
            &browser,
            "#review-message",
            "Only customers who received this product can review it",
        )
        .await;
        click(&browser, "#sign-out").await;
        click(&browser, "#review-sign-in").await;
        click(&browser, "#auth-cancel").await;

        // The buyer, with markup in every text field.
        shop_sign_in(&browser, &buyer_email).await;
        click(&browser, ".star-choice:has(input[value='4'])").await;
        fill(&browser, "#review-title", "<img src=x onerror=alert(1)>Great").await;
        fill(&browser, "#review-body", "<script>window.pwned=1</script>Fits well.").await;
        click(&browser, "#review-submit").await;
        wait_text(&browser, "#review-message", "Thanks! Your review is posted.").await;
        wait_text(&browser, "#reviews-title", "Reviews (1)").await;
        wait_text(
            &browser,
            "#review-list .review-title",
            "<img src=x onerror=alert(1)>Great",
        )
        .await;
        wait_text(
            &browser,
            "#review-list .review-body",
            "<script>window.pwned=1</script>Fits well.",
        )
        .await;
        wait_text(&browser, "#review-list .review-author", "Ana <b>Bold</b>").await;
        let injected = eval(
            &browser,
            "document.querySelectorAll('#review-list img, #review-list script, #review-list b').length \
             + (window.pwned ? 100 : 0)",
        )
        .await;
        assert_eq!(injected, json!(0), "user text became markup");
        wait_until(
            &browser,
            "the summary to show the rating",
            "document.querySelector('#product-rating [role=img]')?.getAttribute('aria-label') \
             === 'Rated 4 out of 5 by 1 customer'",
        )
        .await;
        // Their review is theirs to edit now: the form says so and keeps the stars.
        wait_text(&browser, "#review-form-title", "Edit your review").await;
        screenshot(&browser, "reviews-product-page").await;

        // Back in the grid, the card carries the stars (from the live product.updated too).
        click(&browser, "#product-back").await;
        wait_until(
            &browser,
            "the card to show the rating",
            &format!(
                "document.querySelector(\"{} .product-rating [role=img]\")?.getAttribute('aria-label') \
                 === 'Rated 4 out of 5 by 1 customer'",
                card(&product)
            ),
        )
        .await;
    })
    .catch_unwind()
    .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
    let (_, page) = app.get(&reviews_path(&product)).await;
    assert_eq!(
        page["items"][0]["title"],
        "<img src=x onerror=alert(1)>Great"
    );
    assert_eq!(page["items"][0]["rating"], 4);
}
