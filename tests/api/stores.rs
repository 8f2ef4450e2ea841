//! `/api/v1/stores` (API.md §4).

use crate::helpers::{
    ADMIN_TOKEN, assert_rfc3339_millis, error_fields, expect_problem, send, spawn_app,
};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_store_answers_201_with_the_store() {
    let app = spawn_app().await;

    let (status, store) = app
        .admin_post(
            "/api/v1/stores",
            json!({"name": "Corner Shop", "kind": "retail", "currency": "USD"}),
        )
        .await;

    assert_eq!(status, 201, "{store}");
    assert!(store["id"].as_str().unwrap().starts_with("str_"), "{store}");
    assert_eq!(store["name"], "Corner Shop");
    assert_eq!(store["kind"], "retail");
    assert_eq!(store["currency"], "USD");
    assert_eq!(store["open"], true);
    assert_rfc3339_millis(&store["created_at"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restaurant_store_in_yen_can_be_created() {
    let app = spawn_app().await;

    let (status, store) = app
        .admin_post(
            "/api/v1/stores",
            json!({"name": "Ramen Bar", "kind": "restaurant", "currency": "JPY"}),
        )
        .await;

    assert_eq!(status, 201, "{store}");
    assert_eq!(store["kind"], "restaurant");
    assert_eq!(store["currency"], "JPY");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_created_store_can_be_fetched_by_id_without_a_token() {
    let app = spawn_app().await;
    let id = app.create_store().await;

    let (status, store) = app.get(&format!("/api/v1/stores/{id}")).await;

    assert_eq!(status, 200, "{store}");
    assert_eq!(store["id"], id.as_str());
    assert_eq!(store["name"], "Test Shop");
    assert_eq!(store["open"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_stores_answers_every_store_oldest_first_with_pagination() {
    let app = spawn_app().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(app.create_store().await);
        // `created_at` has millisecond resolution; distinct milliseconds fix the order.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }

    let (status, all) = app.get("/api/v1/stores").await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(all["page"], 1);
    assert_eq!(all["per_page"], 20);
    assert_eq!(all["total"], 3);
    let listed: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ids);

    let (status, second) = app.get("/api/v1/stores?page=2&per_page=2").await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["page"], 2);
    assert_eq!(second["per_page"], 2);
    assert_eq!(second["total"], 3);
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["items"][0]["id"], ids[2].as_str());

    let (status, beyond) = app.get("/api/v1/stores?page=5&per_page=2").await;
    assert_eq!(status, 200, "{beyond}");
    assert_eq!(beyond["items"], json!([]));
    assert_eq!(beyond["total"], 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_server_lists_no_stores() {
    let app = spawn_app().await;

    let (status, body) = app.get("/api/v1/stores").await;

    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"items": [], "page": 1, "per_page": 20, "total": 0})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_and_reopening_a_store_answers_the_store_and_sticks() {
    let app = spawn_app().await;
    let id = app.create_store().await;
    let path = format!("/api/v1/stores/{id}/status");

    let (status, closed) = app.admin_put(&path, json!({"open": false})).await;
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["id"], id.as_str());
    assert_eq!(closed["open"], false);
    let (_, fetched) = app.get(&format!("/api/v1/stores/{id}")).await;
    assert_eq!(fetched["open"], false);

    // Closing again is a no-op that still answers the store.
    let (status, again) = app.admin_put(&path, json!({"open": false})).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["open"], false);

    let (status, reopened) = app.admin_put(&path, json!({"open": true})).await;
    assert_eq!(status, 200, "{reopened}");
    assert_eq!(reopened["open"], true);
    let (_, fetched) = app.get(&format!("/api/v1/stores/{id}")).await;
    assert_eq!(fetched["open"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setting_the_status_of_an_unknown_store_answers_404() {
    let app = spawn_app().await;

    expect_problem(
        app.client
            .put(app.url("/api/v1/stores/str_000000000000000000000000/status"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"open": false})),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_store_with_an_unknown_currency_answers_422_naming_currency() {
    let app = spawn_app().await;

    let problem = expect_problem(
        app.client
            .post(app.url("/api/v1/stores"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "Shop", "kind": "retail", "currency": "UDS"})),
        422,
        "validation_failed",
    )
    .await;

    assert_eq!(error_fields(&problem), ["currency"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_store_with_a_blank_name_answers_422_naming_name() {
    let app = spawn_app().await;

    let problem = expect_problem(
        app.client
            .post(app.url("/api/v1/stores"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "   ", "kind": "retail", "currency": "USD"})),
        422,
        "validation_failed",
    )
    .await;

    assert_eq!(error_fields(&problem), ["name"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_store_of_an_unknown_kind_answers_422_naming_kind() {
    let app = spawn_app().await;

    let problem = expect_problem(
        app.client
            .post(app.url("/api/v1/stores"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "Shop", "kind": "warehouse", "currency": "USD"})),
        422,
        "validation_failed",
    )
    .await;

    assert_eq!(error_fields(&problem), ["kind"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_store_creation_leaves_no_store_behind() {
    let app = spawn_app().await;

    let (status, _) = app
        .admin_post(
            "/api/v1/stores",
            json!({"name": "Shop", "kind": "retail", "currency": "XXX"}),
        )
        .await;
    assert_eq!(status, 422);
    let (status, _) = send(
        app.client
            .post(app.url("/api/v1/stores"))
            .json(&json!({"name": "Shop", "kind": "retail", "currency": "USD"})),
    )
    .await;
    assert_eq!(status, 401);

    let (_, list) = app.get("/api/v1/stores").await;
    assert_eq!(list["total"], 0, "{list}");
}
