//! The waitlist of a sold-out product (API.md §13).

use crate::helpers::{TestApp, eventually, expect_problem, spawn_app_with};
use serde_json::{Value, json};
use std::time::Duration;

async fn join(app: &TestApp, product: &str, token: &str) -> (u16, Value) {
    app.call(
        reqwest::Method::POST,
        &format!("/api/v1/products/{product}/waitlist"),
        Some(token),
        Some(json!({"quantity": 1})),
    )
    .await
}

async fn mine(app: &TestApp, token: &str) -> Value {
    let (status, body) = app
        .call(
            reqwest::Method::GET,
            "/api/v1/me/waitlist",
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["items"][0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn units_that_come_back_are_held_for_the_first_in_line_in_a_cart_of_theirs() {
    let app = spawn_app_with(|config| config.carts.hold_seconds = 60).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 1).await;
    let (first, second, third) = (
        app.customer().await,
        app.customer().await,
        app.customer().await,
    );

    // Not sold out yet: hold it instead.
    expect_problem(
        app.request_as(
            reqwest::Method::POST,
            &format!("/api/v1/products/{product}/waitlist"),
            Some(&first.token),
        )
        .json(&json!({"quantity": 1})),
        409,
        "not_sold_out",
    )
    .await;
    // Sold out by a one-second hold.
    let (status, held) = app
        .admin_post(
            "/api/v1/reservations",
            json!({"items": [{"product_id": product, "quantity": 1}], "ttl_seconds": 1}),
        )
        .await;
    assert_eq!(status, 201, "{held}");
    let (status, entry) = join(&app, &product, &first.token).await;
    assert_eq!((status, &entry["position"]), (201, &json!(1)), "{entry}");
    assert!(entry["id"].as_str().is_some_and(|id| id.starts_with("wl_")));
    let (status, entry) = join(&app, &product, &second.token).await;
    assert_eq!((status, &entry["position"]), (201, &json!(2)), "{entry}");
    expect_problem(
        app.request_as(
            reqwest::Method::POST,
            &format!("/api/v1/products/{product}/waitlist"),
            Some(&second.token),
        )
        .json(&json!({})),
        409,
        "already_waiting",
    )
    .await;

    // The hold lapses: the unit goes to the first in line, in a new cart of theirs.
    eventually(Duration::from_secs(10), || async {
        mine(&app, &first.token).await["status"] == "served"
    })
    .await;
    let served = mine(&app, &first.token).await;
    let cart = served["cart_id"].as_str().expect("cart id").to_owned();
    assert_eq!(served["position"], Value::Null, "{served}");
    let (status, body) = app.get_cart(&cart, Some(&first.token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["items"][0]["product_id"], json!(product), "{body}");
    assert!(body["hold"]["reservation_id"].is_string(), "{body}");
    // The second is first in line now; nobody else can take the unit meanwhile.
    let waiting = mine(&app, &second.token).await;
    assert_eq!(
        (&waiting["status"], &waiting["position"]),
        (&json!("waiting"), &json!(1))
    );
    let (status, body) = app.cart_attempt(&third.token, &product).await;
    assert_eq!(
        (status, &body["code"]),
        (409, &json!("insufficient_stock")),
        "{body}"
    );
    // Staff see the line in order; the second may leave it.
    let (status, line) = app
        .admin_get(&format!("/api/v1/products/{product}/waitlist"))
        .await;
    assert_eq!(status, 200, "{line}");
    let statuses: Vec<&Value> = line["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| &e["status"])
        .collect();
    assert_eq!(statuses, [&json!("served"), &json!("waiting")], "{line}");
    let (status, left) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/products/{product}/waitlist"),
            Some(&second.token),
            None,
        )
        .await;
    assert_eq!((status, &left["status"]), (200, &json!("left")), "{left}");
}

impl TestApp {
    /// A new cart of `token`'s user asking for one unit of `product`: status and body.
    async fn cart_attempt(&self, token: &str, product: &str) -> (u16, Value) {
        let cart = self.create_cart(Some(token)).await;
        let id = cart["id"].as_str().expect("id");
        self.set_cart_item(id, product, 1, Some(token)).await
    }
}
