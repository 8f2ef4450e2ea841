//! `/api/v1/reservations`: holds, commit, release, extend, expiry, idempotency and the
//! no-oversell guarantee (API.md §6).

use crate::helpers::{
    ADMIN_TOKEN, TestApp, assert_rfc3339_millis, error_fields, eventually, expect_problem,
    spawn_app,
};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::{collections::HashSet, time::Duration};

fn at(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().expect("timestamp"))
        .expect("rfc 3339")
        .with_timezone(&Utc)
}

async fn post_empty(app: &TestApp, id: &str, action: &str) -> (u16, Value) {
    app.admin_post_empty(&format!("/api/v1/reservations/{id}/{action}"))
        .await
}

fn action(app: &TestApp, id: &str, action: &str) -> reqwest::RequestBuilder {
    app.admin_request(
        reqwest::Method::POST,
        &format!("/api/v1/reservations/{id}/{action}"),
    )
}

/// Sends `POST /reservations` with an `Idempotency-Key`; answers status, content type and
/// the raw body text (replays must be byte-identical).
async fn keyed(app: &TestApp, key: &str, body: &Value) -> (u16, String, String) {
    let response = app
        .admin_request(reqwest::Method::POST, "/api/v1/reservations")
        .header("Idempotency-Key", key)
        .json(body)
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, content_type, response.text().await.expect("body"))
}

// ---------------------------------------------------------------- create and get

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_reservation_answers_201_and_holds_the_units() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;

    let (status, reservation) = app
        .admin_post(
            "/api/v1/reservations",
            json!({"items": [{"product_id": product, "quantity": 3}],
                   "ttl_seconds": 120, "ref": "checkout-42"}),
        )
        .await;

    assert_eq!(status, 201, "{reservation}");
    assert!(reservation["id"].as_str().unwrap().starts_with("res_"));
    assert_eq!(reservation["status"], "active");
    // All three units come from the store's one (default) location (API.md §13).
    let (_, locations) = app.get(&format!("/api/v1/stores/{store}/locations")).await;
    assert_eq!(
        reservation["items"],
        json!([{"product_id": product, "quantity": 3,
                "allocations": [{"location_id": locations["items"][0]["id"], "quantity": 3}]}])
    );
    assert_eq!(reservation["ref"], "checkout-42");
    assert_rfc3339_millis(&reservation["created_at"]);
    assert_rfc3339_millis(&reservation["expires_at"]);
    let ttl = at(&reservation["expires_at"]) - at(&reservation["created_at"]);
    assert_eq!(ttl.num_seconds(), 120);
    let inventory = app.inventory(&product).await;
    assert_eq!(inventory["on_hand"], 10);
    assert_eq!(inventory["reserved"], 3);
    assert_eq!(inventory["available"], 7);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_without_ttl_holds_for_the_default_900_seconds() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 1).await;

    let (status, reservation) = app.reserve(&[(&product, 1)], None).await;

    assert_eq!(status, 201, "{reservation}");
    let ttl = at(&reservation["expires_at"]) - at(&reservation["created_at"]);
    assert_eq!(ttl.num_seconds(), 900);
    assert_eq!(reservation["ref"], Value::Null);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getting_a_reservation_answers_what_was_created() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let (_, created) = app.reserve(&[(&product, 2)], Some(300)).await;
    let id = created["id"].as_str().unwrap();

    let (status, fetched) = app.admin_get(&format!("/api/v1/reservations/{id}")).await;

    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched, created);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reserving_a_product_that_does_not_exist_answers_404_and_holds_nothing() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;

    for missing in ["prod_000000000000000000000000", "prod_nope", "str_x"] {
        expect_problem(
            app.admin_request(reqwest::Method::POST, "/api/v1/reservations")
                .json(&json!({"items": [{"product_id": product, "quantity": 1},
                                        {"product_id": missing, "quantity": 1}]})),
            404,
            "not_found",
        )
        .await;
    }
    assert_eq!(app.inventory(&product).await["reserved"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reservation_naming_a_product_twice_or_nothing_at_all_answers_422() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;

    let problem = expect_problem(
        app.admin_request(reqwest::Method::POST, "/api/v1/reservations")
            .json(&json!({"items": [{"product_id": product, "quantity": 1},
                                    {"product_id": product, "quantity": 2}]})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["items[1].product_id"]);

    let problem = expect_problem(
        app.admin_request(reqwest::Method::POST, "/api/v1/reservations")
            .json(&json!({"items": []})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["items"]);

    let problem = expect_problem(
        app.admin_request(reqwest::Method::POST, "/api/v1/reservations")
            .json(&json!({"items": [{"product_id": product, "quantity": 1}],
                          "ref": "r".repeat(201)})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["ref"]);
    assert_eq!(app.inventory(&product).await["reserved"], 0);
}

// ---------------------------------------------------------------- commit

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committing_a_reservation_sells_the_units_with_a_sale_movement() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let id = app.reserve_ok(&[(&product, 4)], None).await;

    let (status, committed) = post_empty(&app, &id, "commit").await;

    assert_eq!(status, 200, "{committed}");
    assert_eq!(committed["id"], id.as_str());
    assert_eq!(committed["status"], "committed");
    let inventory = app.inventory(&product).await;
    assert_eq!(inventory["on_hand"], 6);
    assert_eq!(inventory["reserved"], 0);
    assert_eq!(inventory["available"], 6);
    let (_, movements) = app
        .admin_get(&format!("/api/v1/products/{product}/inventory/movements"))
        .await;
    assert_eq!(movements["total"], 2);
    let sale = &movements["items"][0];
    assert_eq!(sale["kind"], "sale");
    assert_eq!(sale["delta"], -4);
    assert_eq!(sale["on_hand_after"], 6);
    assert_eq!(sale["ref"], id.as_str());
    let (_, fetched) = app.admin_get(&format!("/api/v1/reservations/{id}")).await;
    assert_eq!(fetched["status"], "committed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committing_twice_answers_200_again_and_sells_once() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let id = app.reserve_ok(&[(&product, 4)], None).await;
    let (status, first) = post_empty(&app, &id, "commit").await;
    assert_eq!(status, 200, "{first}");

    let (status, second) = post_empty(&app, &id, "commit").await;

    assert_eq!(status, 200, "{second}");
    assert_eq!(second["status"], "committed");
    assert_eq!(second["items"], first["items"]);
    assert_eq!(app.inventory(&product).await["on_hand"], 6);
    let (_, movements) = app
        .admin_get(&format!("/api/v1/products/{product}/inventory/movements"))
        .await;
    assert_eq!(movements["total"], 2, "one sale only: {movements}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committing_a_multi_product_reservation_sells_every_product() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let a = app.create_product(&store, 5).await;
    let b = app.create_product(&store, 7).await;
    let id = app.reserve_ok(&[(&a, 2), (&b, 3)], None).await;

    let (status, committed) = post_empty(&app, &id, "commit").await;

    assert_eq!(status, 200, "{committed}");
    assert_eq!(committed["status"], "committed");
    for (product, on_hand) in [(&a, 3), (&b, 4)] {
        let inventory = app.inventory(product).await;
        assert_eq!(inventory["on_hand"], on_hand, "{inventory}");
        assert_eq!(inventory["reserved"], 0, "{inventory}");
        let (_, movements) = app
            .admin_get(&format!("/api/v1/products/{product}/inventory/movements"))
            .await;
        assert_eq!(movements["items"][0]["kind"], "sale");
        assert_eq!(movements["items"][0]["ref"], id.as_str());
    }
}

// ---------------------------------------------------------------- release

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_a_reservation_gives_the_units_back_and_repeating_answers_200() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let id = app.reserve_ok(&[(&product, 4)], None).await;

    let (status, released) = post_empty(&app, &id, "release").await;

    assert_eq!(status, 200, "{released}");
    assert_eq!(released["status"], "released");
    let inventory = app.inventory(&product).await;
    assert_eq!(inventory["on_hand"], 10);
    assert_eq!(inventory["reserved"], 0);
    assert_eq!(inventory["available"], 10);

    let (status, again) = post_empty(&app, &id, "release").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["status"], "released");
    assert_eq!(app.inventory(&product).await["available"], 10);
    let (_, movements) = app
        .admin_get(&format!("/api/v1/products/{product}/inventory/movements"))
        .await;
    assert_eq!(movements["total"], 1, "holds are no movements: {movements}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releasing_a_committed_reservation_answers_409_invalid_transition() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let id = app.reserve_ok(&[(&product, 4)], None).await;
    assert_eq!(post_empty(&app, &id, "commit").await.0, 200);

    let problem = expect_problem(action(&app, &id, "release"), 409, "invalid_transition").await;

    assert_eq!(problem["from"], "committed");
    assert_eq!(problem["to"], "released");
    assert!(problem["allowed"].is_array(), "{problem}");
    assert_eq!(app.inventory(&product).await["on_hand"], 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committing_a_released_reservation_answers_409_reservation_inactive() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let id = app.reserve_ok(&[(&product, 4)], None).await;
    assert_eq!(post_empty(&app, &id, "release").await.0, 200);

    let problem = expect_problem(action(&app, &id, "commit"), 409, "reservation_inactive").await;

    assert_eq!(problem["reservation_status"], "released");
    let inventory = app.inventory(&product).await;
    assert_eq!(inventory["on_hand"], 10);
    assert_eq!(inventory["reserved"], 0);
}

// ---------------------------------------------------------------- extend

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extending_a_reservation_answers_the_new_expires_at() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let (_, created) = app.reserve(&[(&product, 1)], Some(60)).await;
    let id = created["id"].as_str().unwrap();

    let before = Utc::now();
    let (status, extended) = app
        .admin_post(
            &format!("/api/v1/reservations/{id}/extend"),
            json!({"ttl_seconds": 600}),
        )
        .await;
    let after = Utc::now();

    assert_eq!(status, 200, "{extended}");
    assert_eq!(extended["status"], "active");
    let expires_at = at(&extended["expires_at"]);
    assert!(expires_at > at(&created["expires_at"]), "{extended}");
    let slack = chrono::Duration::milliseconds(5);
    assert!(expires_at >= before + chrono::Duration::seconds(600) - slack);
    assert!(expires_at <= after + chrono::Duration::seconds(600) + slack);
    let (_, fetched) = app.admin_get(&format!("/api/v1/reservations/{id}")).await;
    assert_eq!(fetched["expires_at"], extended["expires_at"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn extending_an_inactive_reservation_answers_409_and_a_bad_ttl_answers_422() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let id = app.reserve_ok(&[(&product, 1)], None).await;

    for ttl in [0, 86_401] {
        let problem = expect_problem(
            action(&app, &id, "extend").json(&json!({"ttl_seconds": ttl})),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&problem), ["ttl_seconds"]);
    }

    assert_eq!(post_empty(&app, &id, "release").await.0, 200);
    let problem = expect_problem(
        action(&app, &id, "extend").json(&json!({"ttl_seconds": 60})),
        409,
        "reservation_inactive",
    )
    .await;
    assert_eq!(problem["reservation_status"], "released");
}

// ---------------------------------------------------------------- all or nothing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multi_product_reservation_with_shortages_lists_them_all_and_holds_nothing() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let plenty = app.create_product(&store, 5).await;
    let short = app.create_product(&store, 2).await;
    let shorter = app.create_product(&store, 1).await;

    let problem = expect_problem(
        app.admin_request(reqwest::Method::POST, "/api/v1/reservations")
            .json(&json!({"items": [
                {"product_id": plenty, "quantity": 3},
                {"product_id": short, "quantity": 5},
                {"product_id": shorter, "quantity": 4},
            ]})),
        409,
        "insufficient_stock",
    )
    .await;

    let mut shortages = problem["shortages"].as_array().expect("shortages").clone();
    shortages.sort_by_key(|s| s["requested"].as_i64());
    assert_eq!(
        shortages,
        [
            json!({"product_id": shorter, "requested": 4, "available": 1}),
            json!({"product_id": short, "requested": 5, "available": 2}),
        ]
    );
    for (product, on_hand) in [(&plenty, 5), (&short, 2), (&shorter, 1)] {
        let inventory = app.inventory(product).await;
        assert_eq!(inventory["reserved"], 0, "{inventory}");
        assert_eq!(inventory["available"], on_hand, "{inventory}");
    }
    // Everything is still there to take.
    app.reserve_ok(&[(&plenty, 5), (&short, 2), (&shorter, 1)], None)
        .await;
}

// ---------------------------------------------------------------- idempotency

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_an_idempotency_key_answers_the_identical_status_and_body() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let body = json!({"items": [{"product_id": product, "quantity": 2}], "ref": "order-1"});

    let first = keyed(&app, "key-1", &body).await;
    let second = keyed(&app, "key-1", &body).await;

    assert_eq!(first.0, 201, "{}", first.2);
    assert_eq!(first.1, "application/json");
    assert_eq!(second, first);
    assert_eq!(app.inventory(&product).await["reserved"], 2);
    // The same body with its keys in another order is the same request.
    let reordered: Value = serde_json::from_str(&format!(
        r#"{{"ref": "order-1", "items": [{{"quantity": 2, "product_id": "{product}"}}]}}"#
    ))
    .unwrap();
    assert_eq!(keyed(&app, "key-1", &reordered).await, first);
    // Another key is another reservation.
    let other = keyed(&app, "key-2", &body).await;
    assert_eq!(other.0, 201);
    assert_ne!(other.2, first.2);
    assert_eq!(app.inventory(&product).await["reserved"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_an_idempotency_key_of_a_refusal_answers_the_same_refusal() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 1).await;
    let body = json!({"items": [{"product_id": product, "quantity": 5}]});

    let first = keyed(&app, "short-1", &body).await;
    assert_eq!(first.0, 409, "{}", first.2);
    assert_eq!(first.1, "application/problem+json");
    // Even once stock arrived, the key answers what it answered the first time.
    let (status, _) = app
        .admin_post(
            &format!("/api/v1/products/{product}/inventory/adjustments"),
            json!({"delta": 10, "reason": "restock"}),
        )
        .await;
    assert_eq!(status, 200);

    assert_eq!(keyed(&app, "short-1", &body).await, first);
    assert_eq!(app.inventory(&product).await["reserved"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reusing_an_idempotency_key_with_another_body_answers_422() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let first = keyed(
        &app,
        "key-x",
        &json!({"items": [{"product_id": product, "quantity": 1}]}),
    )
    .await;
    assert_eq!(first.0, 201, "{}", first.2);

    let problem = expect_problem(
        app.admin_request(reqwest::Method::POST, "/api/v1/reservations")
            .header("Idempotency-Key", "key-x")
            .json(&json!({"items": [{"product_id": product, "quantity": 2}]})),
        422,
        "idempotency_key_reused",
    )
    .await;

    assert!(problem.get("errors").is_none(), "{problem}");
    assert_eq!(app.inventory(&product).await["reserved"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_concurrent_requests_with_one_idempotency_key_create_one_reservation() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 100).await;
    let body = json!({"items": [{"product_id": product, "quantity": 3}]});

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let request = app
                .admin_request(reqwest::Method::POST, "/api/v1/reservations")
                .header("Idempotency-Key", "race-key")
                .json(&body);
            tokio::spawn(async move {
                let response = request.send().await.expect("sent");
                let status = response.status().as_u16();
                (status, response.text().await.expect("body"))
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("task"));
    }

    assert!(
        answers.iter().all(|(status, _)| *status == 201),
        "{answers:?}"
    );
    let bodies: HashSet<&String> = answers.iter().map(|(_, body)| body).collect();
    assert_eq!(bodies.len(), 1, "every answer is the same: {bodies:?}");
    let inventory = app.inventory(&product).await;
    assert_eq!(inventory["reserved"], 3, "{inventory}");
    assert_eq!(inventory["available"], 97, "{inventory}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlong_idempotency_key_answers_422() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;

    expect_problem(
        app.admin_request(reqwest::Method::POST, "/api/v1/reservations")
            .header("Idempotency-Key", "k".repeat(256))
            .json(&json!({"items": [{"product_id": product, "quantity": 1}]})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(app.inventory(&product).await["reserved"], 0);
}

// ---------------------------------------------------------------- no oversell

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_clients_never_oversell_fifty_units() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 50).await;
    let body = json!({"items": [{"product_id": product, "quantity": 1}]});

    let tasks: Vec<_> = (0..200)
        .map(|_| {
            // One client per caller: separate connection pools, like separate shoppers.
            let request = reqwest::Client::new()
                .post(app.url("/api/v1/reservations"))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body);
            tokio::spawn(async move {
                let response = request.send().await.expect("sent");
                let status = response.status().as_u16();
                let body: Value = response.json().await.expect("json body");
                (status, body)
            })
        })
        .collect();
    let mut created = 0;
    let mut refused = 0;
    for task in tasks {
        let (status, body) = task.await.expect("task");
        match status {
            201 => created += 1,
            409 => {
                assert_eq!(body["code"], "insufficient_stock", "{body}");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }

    assert_eq!(created, 50);
    assert_eq!(refused, 150);
    let inventory = app.inventory(&product).await;
    assert_eq!(inventory["on_hand"], 50);
    assert_eq!(inventory["reserved"], 50);
    assert_eq!(inventory["available"], 0);
}

// ---------------------------------------------------------------- expiry

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_reservation_gives_its_units_back_within_a_second_and_publishes_expiry() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let mut ws = app.ws().await;
    ws.subscribe(&format!("product:{product}")).await;

    let (status, reservation) = app.reserve(&[(&product, 4)], Some(1)).await;
    assert_eq!(status, 201, "{reservation}");
    let id = reservation["id"].as_str().unwrap();
    assert_eq!(app.inventory(&product).await["reserved"], 4);

    // ttl 1 s + at most 1 s until the units are back.
    eventually(Duration::from_secs(2), || async {
        app.inventory(&product).await["reserved"] == 0
    })
    .await;
    let inventory = app.inventory(&product).await;
    assert_eq!(inventory["available"], 10);
    assert_eq!(inventory["on_hand"], 10);

    let (status, fetched) = app.admin_get(&format!("/api/v1/reservations/{id}")).await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(fetched["status"], "expired");

    // The hold's stock.changed (cause reservation), then the expiry one.
    let expiry = loop {
        let frame = ws.next_json().await;
        if frame["type"] == "event"
            && frame["event"] == "stock.changed"
            && frame["data"]["cause"] == "expiry"
        {
            break frame;
        }
    };
    assert_eq!(expiry["topic"], format!("product:{product}"));
    assert_eq!(expiry["data"]["product_id"], product.as_str());
    assert_eq!(expiry["data"]["reserved"], 0);
    assert_eq!(expiry["data"]["available"], 10);

    // An expired reservation cannot be committed or extended; releasing it is a no-op.
    let problem = expect_problem(action(&app, id, "commit"), 409, "reservation_inactive").await;
    assert_eq!(problem["reservation_status"], "expired");
    expect_problem(
        action(&app, id, "extend").json(&json!({"ttl_seconds": 60})),
        409,
        "reservation_inactive",
    )
    .await;
    assert_eq!(app.inventory(&product).await["on_hand"], 10);
}
