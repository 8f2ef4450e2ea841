//! The error model (API.md §2): every failure is `application/problem+json` with the
//! contract's status and `code`, and field errors name their field.

use crate::helpers::{
    ADMIN_TOKEN, TestApp, error_fields, expect_problem, spawn_app, spawn_app_with,
};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

const UNKNOWN_STORE: &str = "str_000000000000000000000000";
const UNKNOWN_PRODUCT: &str = "prod_000000000000000000000000";
const UNKNOWN_RESERVATION: &str = "res_000000000000000000000000";

/// A store and a product with 10 units.
async fn fixture() -> (TestApp, String, String) {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    (app, store, product)
}

/// An admin request with a raw body and `Content-Type: application/json`.
fn raw_json(app: &TestApp, method: Method, path: &str, body: &str) -> RequestBuilder {
    app.admin_request(method, path)
        .header("content-type", "application/json")
        .body(body.to_owned())
}

/// Asserts a 422 `validation_failed` naming exactly `field` for an admin POST of `body`.
async fn assert_invalid(app: &TestApp, path: &str, body: serde_json::Value, field: &str) {
    let problem = expect_problem(
        app.admin_request(Method::POST, path).json(&body),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), [field], "{body} -> {problem}");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{problem}"
    );
}

// ---------------------------------------------------------------- 400

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_json_body_answers_400_invalid_json() {
    let (app, store, product) = fixture().await;

    for (path, body) in [
        ("/api/v1/stores", r#"{"name": "Shop", "kind": "retail""#),
        ("/api/v1/products", "not json at all"),
        ("/api/v1/reservations", r#"{"items": [}"#),
        ("/api/v1/reservations", ""),
    ] {
        expect_problem(
            raw_json(&app, Method::POST, path, body),
            400,
            "invalid_json",
        )
        .await;
    }
    expect_problem(
        raw_json(
            &app,
            Method::PUT,
            &format!("/api/v1/stores/{store}/status"),
            "{open: false}",
        ),
        400,
        "invalid_json",
    )
    .await;
    expect_problem(
        raw_json(
            &app,
            Method::PATCH,
            &format!("/api/v1/products/{product}"),
            "{,}",
        ),
        400,
        "invalid_json",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_body_that_is_not_an_object_answers_400() {
    let (app, _, product) = fixture().await;

    for body in [
        r#"[{"name": "Shop", "kind": "retail", "currency": "USD"}]"#,
        r#""a string""#,
        "42",
        "null",
    ] {
        expect_problem(
            raw_json(&app, Method::POST, "/api/v1/stores", body),
            400,
            "invalid_json",
        )
        .await;
    }
    expect_problem(
        raw_json(
            &app,
            Method::POST,
            "/api/v1/reservations",
            &format!(r#"[{{"product_id": "{product}", "quantity": 1}}]"#),
        ),
        400,
        "invalid_json",
    )
    .await;
    assert_eq!(app.inventory(&product).await["reserved"], 0);
}

// ---------------------------------------------------------------- 422

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_of_the_wrong_type_answers_422_naming_the_field() {
    let (app, store, product) = fixture().await;

    assert_invalid(
        &app,
        "/api/v1/stores",
        json!({"name": 5, "kind": "retail", "currency": "USD"}),
        "name",
    )
    .await;
    assert_invalid(
        &app,
        "/api/v1/products",
        json!({"store_id": store, "sku": "A", "name": "A",
               "price": {"amount": "12.50", "currency": "USD"}}),
        "price.amount",
    )
    .await;
    assert_invalid(
        &app,
        "/api/v1/reservations",
        json!({"items": [{"product_id": product, "quantity": "two"}]}),
        "items[0].quantity",
    )
    .await;
    assert_invalid(
        &app,
        "/api/v1/reservations",
        json!({"items": {"product_id": product, "quantity": 1}}),
        "items",
    )
    .await;
    assert_invalid(
        &app,
        &format!("/api/v1/products/{product}/inventory/adjustments"),
        json!({"delta": 1.5, "reason": "restock"}),
        "delta",
    )
    .await;
    let problem = expect_problem(
        app.admin_request(Method::PUT, &format!("/api/v1/stores/{store}/status"))
            .json(&json!({"open": "no"})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["open"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_required_field_answers_422_naming_the_field() {
    let (app, store, product) = fixture().await;

    assert_invalid(
        &app,
        "/api/v1/stores",
        json!({"name": "Shop", "kind": "retail"}),
        "currency",
    )
    .await;
    assert_invalid(
        &app,
        "/api/v1/products",
        json!({"store_id": store, "sku": "A", "name": "A"}),
        "price",
    )
    .await;
    assert_invalid(
        &app,
        "/api/v1/reservations",
        json!({"items": [{"product_id": product}]}),
        "items[0].quantity",
    )
    .await;
    assert_invalid(
        &app,
        &format!("/api/v1/reservations/{UNKNOWN_RESERVATION}/extend"),
        json!({}),
        "ttl_seconds",
    )
    .await;
}

/// Bodies with one unknown field each: (method, path, body, the unknown key, its exact path).
fn unknown_fields(
    store: &str,
    product: &str,
) -> Vec<(Method, String, Value, &'static str, &'static str)> {
    vec![
        (
            Method::POST,
            "/api/v1/stores".into(),
            json!({"name": "Shop", "kind": "retail", "currency": "USD", "colour": "red"}),
            "colour",
            "colour",
        ),
        (
            Method::POST,
            "/api/v1/products".into(),
            json!({"store_id": store, "sku": "A", "name": "A",
                   "price": {"amount": 1, "currency": "USD"}, "stock": 5}),
            "stock",
            "stock",
        ),
        (
            Method::POST,
            "/api/v1/reservations".into(),
            json!({"items": [{"product_id": product, "quantity": 1, "qty": 1}]}),
            "qty",
            "items[0].qty",
        ),
        (
            Method::POST,
            "/api/v1/reservations".into(),
            json!({"items": [{"product_id": product, "quantity": 1}], "ttl": 60}),
            "ttl",
            "ttl",
        ),
        (
            Method::PATCH,
            format!("/api/v1/products/{product}"),
            json!({"nmae": "typo"}),
            "nmae",
            "nmae",
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_field_answers_422_naming_the_field() {
    let (app, store, product) = fixture().await;

    for (method, path, body, key, _) in unknown_fields(&store, &product) {
        let problem = expect_problem(
            app.admin_request(method, &path).json(&body),
            422,
            "validation_failed",
        )
        .await;
        let fields = error_fields(&problem);
        assert_eq!(fields.len(), 1, "{problem}");
        assert!(fields[0].contains(key), "{body} -> {problem}");
        assert_eq!(
            problem["errors"][0]["message"], "is not a known field",
            "{problem}"
        );
    }
    // Nothing slipped through.
    let (_, stores) = app.get("/api/v1/stores").await;
    assert_eq!(stores["total"], 1);
    let (_, products) = app.get("/api/v1/products").await;
    assert_eq!(products["total"], 1);
    assert_eq!(app.inventory(&product).await["reserved"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_field_is_reported_by_its_exact_path() {
    let (app, store, product) = fixture().await;

    for (method, path, body, _, exact) in unknown_fields(&store, &product) {
        let problem = expect_problem(
            app.admin_request(method, &path).json(&body),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&problem), [exact], "{body} -> {problem}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_field_inside_price_answers_422() {
    let (app, store, _) = fixture().await;

    let problem = expect_problem(
        app.admin_request(Method::POST, "/api/v1/products")
            .json(&json!({"store_id": store, "sku": "A", "name": "A",
                          "price": {"amount": 1, "currency": "USD", "cents": true}})),
        422,
        "validation_failed",
    )
    .await;

    assert!(error_fields(&problem)[0].contains("cents"), "{problem}");
    let (_, products) = app.get("/api/v1/products").await;
    assert_eq!(products["total"], 1, "only the fixture's product");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_page_outside_one_to_a_hundred_or_page_zero_answers_422() {
    let (app, _, product) = fixture().await;

    for path in [
        "/api/v1/stores".to_owned(),
        "/api/v1/products".to_owned(),
        format!("/api/v1/products/{product}/inventory/movements"),
    ] {
        for (query, field) in [
            ("per_page=0", "per_page"),
            ("per_page=101", "per_page"),
            ("page=0", "page"),
        ] {
            let problem = expect_problem(
                app.admin_request(Method::GET, &format!("{path}?{query}")),
                422,
                "validation_failed",
            )
            .await;
            assert_eq!(error_fields(&problem), [field], "{path}?{query}");
        }
        for query in ["per_page=1", "per_page=100"] {
            let (status, body) = app.admin_get(&format!("{path}?{query}")).await;
            assert_eq!(status, 200, "{path}?{query}: {body}");
        }
    }
}

/// Malformed `GET /products` queries: (query, the parameter at fault).
const BAD_QUERIES: [(&str, &str); 8] = [
    ("sort=cheapest", "sort"),
    ("min_price=-1", "min_price"),
    ("max_price=-5", "max_price"),
    ("per_page=many", "per_page"),
    ("page=-1", "page"),
    ("in_stock=maybe", "in_stock"),
    ("status=deleted", "status"),
    ("colour=red", "colour"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_list_queries_answer_422_mentioning_the_parameter() {
    let (app, _, _) = fixture().await;

    for (query, parameter) in BAD_QUERIES {
        let problem = expect_problem(
            app.client
                .get(app.url(&format!("/api/v1/products?{query}"))),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&problem).len(), 1, "{query}: {problem}");
        let error = &problem["errors"][0];
        assert!(
            error["field"] == parameter || error["message"].as_str().unwrap().contains(parameter),
            "{query}: {problem}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_list_queries_name_the_parameter_as_the_field() {
    let (app, _, _) = fixture().await;

    for (query, parameter) in BAD_QUERIES {
        let problem = expect_problem(
            app.client
                .get(app.url(&format!("/api/v1/products?{query}"))),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&problem), [parameter], "{query}: {problem}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_reservation_values_answer_422() {
    let (app, _, product) = fixture().await;
    let item = |quantity: i64| json!([{"product_id": product, "quantity": quantity}]);

    for quantity in [0, -1, 1_000_001] {
        assert_invalid(
            &app,
            "/api/v1/reservations",
            json!({"items": item(quantity)}),
            "items[0].quantity",
        )
        .await;
    }
    for ttl in [0, 86_401] {
        assert_invalid(
            &app,
            "/api/v1/reservations",
            json!({"items": item(1), "ttl_seconds": ttl}),
            "ttl_seconds",
        )
        .await;
    }
    assert_invalid(
        &app,
        "/api/v1/reservations",
        json!({"items": item(1), "ttl_seconds": -1}),
        "ttl_seconds",
    )
    .await;
    let too_many: Vec<_> = (0..101)
        .map(|i| json!({"product_id": format!("prod_{i:0>24}"), "quantity": 1}))
        .collect();
    assert_invalid(
        &app,
        "/api/v1/reservations",
        json!({"items": too_many}),
        "items",
    )
    .await;
    // The largest ttl is fine.
    let (status, body) = app.reserve(&[(&product, 1)], Some(86_400)).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_max_ttl_from_the_configuration_bounds_ttl_seconds() {
    let app = spawn_app_with(|config| config.reservations.max_ttl_seconds = 60).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 1).await;

    assert_invalid(
        &app,
        "/api/v1/reservations",
        json!({"items": [{"product_id": product, "quantity": 1}], "ttl_seconds": 61}),
        "ttl_seconds",
    )
    .await;
    let (status, body) = app.reserve(&[(&product, 1)], Some(60)).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_range_product_values_answer_422() {
    let (app, store, product) = fixture().await;
    let base = |patch: serde_json::Value| {
        let mut body = json!({"store_id": store, "sku": "OK-1", "name": "Thing",
                              "price": {"amount": 100, "currency": "USD"}});
        for (key, value) in patch.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    };

    let cases = [
        (
            json!({"price": {"amount": -1, "currency": "USD"}}),
            "price.amount",
        ),
        (
            json!({"price": {"amount": 100, "currency": "usd"}}),
            "price.currency",
        ),
        (
            json!({"price": {"amount": 100, "currency": "EUR"}}),
            "price.currency",
        ),
        (json!({"sku": "has space"}), "sku"),
        (json!({"sku": ""}), "sku"),
        (json!({"sku": "x".repeat(65)}), "sku"),
        (json!({"sku": "bad/slash"}), "sku"),
        (json!({"name": ""}), "name"),
        (json!({"name": "n".repeat(201)}), "name"),
        (json!({"category": "c".repeat(101)}), "category"),
        (json!({"brand": "b".repeat(101)}), "brand"),
        (json!({"description": "d".repeat(10_001)}), "description"),
        (json!({"initial_stock": -1}), "initial_stock"),
        (json!({"low_stock_threshold": -1}), "low_stock_threshold"),
        (
            json!({"image_urls": ["javascript:alert(1)"]}),
            "image_urls[0]",
        ),
    ];
    for (patch, field) in cases {
        assert_invalid(&app, "/api/v1/products", base(patch), field).await;
    }
    // Nothing was created; the SKU is still free.
    let (status, body) = app.admin_post("/api/v1/products", base(json!({}))).await;
    assert_eq!(status, 201, "{body}");

    let problem = expect_problem(
        app.admin_request(Method::PATCH, &format!("/api/v1/products/{product}"))
            .json(&json!({"price": {"amount": -5, "currency": "USD"}, "name": ""})),
        422,
        "validation_failed",
    )
    .await;
    let mut fields = error_fields(&problem);
    fields.sort();
    assert_eq!(fields, ["name", "price.amount"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_an_unknown_currency_answers_422() {
    let app = spawn_app().await;

    for currency in ["XYZ", "usd", "US", ""] {
        assert_invalid(
            &app,
            "/api/v1/stores",
            json!({"name": "Shop", "kind": "retail", "currency": currency}),
            "currency",
        )
        .await;
    }
}

// ---------------------------------------------------------------- 413 and 415

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_max_body_bytes_answers_413() {
    let app = spawn_app_with(|config| config.http.max_body_bytes = 256).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;

    expect_problem(
        app.admin_request(Method::POST, "/api/v1/stores")
            .json(&json!({
                "name": "n".repeat(300), "kind": "retail", "currency": "USD"
            })),
        413,
        "payload_too_large",
    )
    .await;
    expect_problem(
        app.admin_request(Method::PATCH, &format!("/api/v1/products/{product}"))
            .json(&json!({"description": "d".repeat(1000)})),
        413,
        "payload_too_large",
    )
    .await;
    // A body just under the limit is fine.
    let (status, body) = app
        .admin_post(
            "/api/v1/stores",
            json!({"name": "n".repeat(100), "kind": "retail", "currency": "USD"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_chunked_body_without_content_length_answers_413() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app_with(|config| config.http.max_body_bytes = 256).await;
    let body = format!(
        r#"{{"name": "{}", "kind": "retail", "currency": "USD"}}"#,
        "n".repeat(1000)
    );
    let (head, tail) = body.split_at(500);
    let request = format!(
        "POST /api/v1/stores HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n\
         {:x}\r\n{head}\r\n{:x}\r\n{tail}\r\n0\r\n\r\n",
        app.addr,
        head.len(),
        tail.len()
    );
    let mut stream = tokio::net::TcpStream::connect(app.addr)
        .await
        .expect("connect");
    // The server may answer and close before it read everything; a failed write is fine.
    let _ = stream.write_all(request.as_bytes()).await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer).to_lowercase();

    assert!(answer.starts_with("http/1.1 413"), "{answer}");
    assert!(
        answer.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(answer.contains(r#""code":"payload_too_large""#), "{answer}");
    let (_, stores) = app.get("/api/v1/stores").await;
    assert_eq!(stores["total"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_without_json_content_type_answers_415() {
    let (app, store, product) = fixture().await;
    let store_body = r#"{"name": "Shop", "kind": "retail", "currency": "USD"}"#;

    expect_problem(
        app.admin_request(Method::POST, "/api/v1/stores")
            .body(store_body),
        415,
        "unsupported_media_type",
    )
    .await;
    expect_problem(
        app.admin_request(Method::POST, "/api/v1/stores")
            .header("content-type", "text/plain")
            .body(store_body),
        415,
        "unsupported_media_type",
    )
    .await;
    expect_problem(
        app.admin_request(Method::POST, "/api/v1/reservations")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("product_id={product}&quantity=1")),
        415,
        "unsupported_media_type",
    )
    .await;
    expect_problem(
        app.admin_request(Method::PUT, &format!("/api/v1/stores/{store}/status"))
            .body(r#"{"open": false}"#),
        415,
        "unsupported_media_type",
    )
    .await;
    // A charset parameter is fine.
    let (status, body) = crate::helpers::send(
        app.admin_request(Method::POST, "/api/v1/stores")
            .header("content-type", "application/json; charset=utf-8")
            .body(store_body),
    )
    .await;
    assert_eq!(status, 201, "{body}");
}

// ---------------------------------------------------------------- 401

/// Every write endpoint with a valid body.
fn writes(
    store: &str,
    product: &str,
    reservation: &str,
) -> Vec<(Method, String, serde_json::Value)> {
    vec![
        (
            Method::POST,
            "/api/v1/stores".into(),
            json!({"name": "Shop", "kind": "retail", "currency": "USD"}),
        ),
        (
            Method::PUT,
            format!("/api/v1/stores/{store}/status"),
            json!({"open": false}),
        ),
        (
            Method::POST,
            "/api/v1/products".into(),
            json!({"store_id": store, "sku": "NEW-1", "name": "New",
                   "price": {"amount": 1, "currency": "USD"}}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/products/{product}"),
            json!({"name": "Renamed"}),
        ),
        (
            Method::DELETE,
            format!("/api/v1/products/{product}"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/products/{product}/inventory/adjustments"),
            json!({"delta": 5, "reason": "restock"}),
        ),
        (
            Method::POST,
            "/api/v1/reservations".into(),
            json!({"items": [{"product_id": product, "quantity": 1}]}),
        ),
        (
            Method::POST,
            format!("/api/v1/reservations/{reservation}/commit"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/reservations/{reservation}/release"),
            json!({}),
        ),
        (
            Method::POST,
            format!("/api/v1/reservations/{reservation}/extend"),
            json!({"ttl_seconds": 60}),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_without_the_admin_token_answer_401_and_change_nothing() {
    let (app, store, product) = fixture().await;
    let reservation = app.reserve_ok(&[(&product, 1)], None).await;
    let before = app.get(&format!("/api/v1/products/{product}")).await.1;

    for (method, path, body) in writes(&store, &product, &reservation) {
        let request = app
            .client
            .request(method.clone(), app.url(&path))
            .json(&body);
        let problem = expect_problem(request, 401, "unauthorized").await;
        assert!(
            problem.get("errors").is_none(),
            "{method} {path}: {problem}"
        );
    }

    assert_eq!(
        app.get(&format!("/api/v1/products/{product}")).await.1,
        before
    );
    let (_, stores) = app.get("/api/v1/stores").await;
    assert_eq!(stores["total"], 1);
    assert_eq!(stores["items"][0]["open"], true);
    let (_, fetched) = app
        .admin_get(&format!("/api/v1/reservations/{reservation}"))
        .await;
    assert_eq!(fetched["status"], "active");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_with_a_wrong_or_malformed_token_answer_401() {
    let (app, store, product) = fixture().await;
    let reservation = app.reserve_ok(&[(&product, 1)], None).await;

    for (method, path, body) in writes(&store, &product, &reservation) {
        for authorization in [
            "Bearer wrong-token".to_owned(),
            format!("Bearer {ADMIN_TOKEN}x"),
            format!("Basic {ADMIN_TOKEN}"),
            "Bearer ".to_owned(),
            ADMIN_TOKEN.to_owned(),
        ] {
            let request = app
                .client
                .request(method.clone(), app.url(&path))
                .header("authorization", &authorization)
                .json(&body);
            expect_problem(request, 401, "unauthorized").await;
        }
    }
    assert_eq!(app.inventory(&product).await["on_hand"], 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reads_without_or_with_a_wrong_token_answer_401() {
    let (app, _, product) = fixture().await;
    let reservation = app.reserve_ok(&[(&product, 1)], None).await;

    for path in [
        format!("/api/v1/reservations/{reservation}"),
        format!("/api/v1/products/{product}/inventory/movements"),
    ] {
        expect_problem(app.client.get(app.url(&path)), 401, "unauthorized").await;
        expect_problem(
            app.client.get(app.url(&path)).bearer_auth("wrong-token"),
            401,
            "unauthorized",
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_reads_with_a_wrong_token_answer_401_rather_than_anonymous() {
    let (app, store, product) = fixture().await;

    for path in [
        "/api/v1/stores".to_owned(),
        format!("/api/v1/stores/{store}"),
        "/api/v1/products".to_owned(),
        format!("/api/v1/products/{product}"),
        format!("/api/v1/products/{product}/inventory"),
    ] {
        // Anonymous is fine…
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 200, "{path}: {body}");
        // …but a token that is not valid is a 401, never silently anonymous.
        expect_problem(
            app.client.get(app.url(&path)).bearer_auth("wrong-token"),
            401,
            "unauthorized",
        )
        .await;
    }
}

// ---------------------------------------------------------------- 404

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_and_malformed_ids_answer_404_not_found() {
    let (app, _, product) = fixture().await;

    let mut paths = Vec::new();
    for store in [
        UNKNOWN_STORE,
        "str_short",
        "nope",
        "prod_000000000000000000000000",
    ] {
        paths.push((Method::GET, format!("/api/v1/stores/{store}"), None));
        paths.push((
            Method::PUT,
            format!("/api/v1/stores/{store}/status"),
            Some(json!({"open": false})),
        ));
    }
    for id in [UNKNOWN_PRODUCT, "prod_bad", "x", UNKNOWN_STORE] {
        paths.push((Method::GET, format!("/api/v1/products/{id}"), None));
        paths.push((
            Method::GET,
            format!("/api/v1/products/{id}/inventory"),
            None,
        ));
        paths.push((
            Method::GET,
            format!("/api/v1/products/{id}/inventory/movements"),
            None,
        ));
        paths.push((
            Method::PATCH,
            format!("/api/v1/products/{id}"),
            Some(json!({"name": "X"})),
        ));
        paths.push((Method::DELETE, format!("/api/v1/products/{id}"), None));
        paths.push((
            Method::POST,
            format!("/api/v1/products/{id}/inventory/adjustments"),
            Some(json!({"delta": 1, "reason": "restock"})),
        ));
    }
    for id in [UNKNOWN_RESERVATION, "res_", "res_!!", &product] {
        paths.push((Method::GET, format!("/api/v1/reservations/{id}"), None));
        paths.push((
            Method::POST,
            format!("/api/v1/reservations/{id}/commit"),
            None,
        ));
        paths.push((
            Method::POST,
            format!("/api/v1/reservations/{id}/release"),
            None,
        ));
        paths.push((
            Method::POST,
            format!("/api/v1/reservations/{id}/extend"),
            Some(json!({"ttl_seconds": 60})),
        ));
    }

    for (method, path, body) in paths {
        let mut request = app.admin_request(method, &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        expect_problem(request, 404, "not_found").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_route_answers_404_problem() {
    let app = spawn_app().await;

    for path in [
        "/nope",
        "/api/v1/nope",
        "/api/v2/stores",
        "/api/v1/stores/x/y/z",
        "/api/v1/",
    ] {
        expect_problem(app.client.get(app.url(path)), 404, "not_found").await;
        expect_problem(app.admin_request(Method::POST, path), 404, "not_found").await;
    }
}

// ---------------------------------------------------------------- 405

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_method_on_a_known_route_answers_405_problem() {
    let (app, store, product) = fixture().await;

    for (method, path) in [
        (Method::DELETE, "/api/v1/stores".to_owned()),
        (Method::PUT, format!("/api/v1/stores/{store}")),
        (Method::GET, format!("/api/v1/stores/{store}/status")),
        (Method::PUT, "/api/v1/products".to_owned()),
        (Method::POST, format!("/api/v1/products/{product}")),
        (
            Method::DELETE,
            format!("/api/v1/products/{product}/inventory"),
        ),
        (
            Method::GET,
            format!("/api/v1/products/{product}/inventory/adjustments"),
        ),
        (
            Method::POST,
            format!("/api/v1/products/{product}/inventory/movements"),
        ),
        (Method::GET, "/api/v1/reservations".to_owned()),
        (
            Method::DELETE,
            format!("/api/v1/reservations/{UNKNOWN_RESERVATION}"),
        ),
        (
            Method::GET,
            format!("/api/v1/reservations/{UNKNOWN_RESERVATION}/commit"),
        ),
        (Method::POST, "/healthz".to_owned()),
    ] {
        expect_problem(app.admin_request(method, &path), 405, "method_not_allowed").await;
    }
    // The answer says which methods the route has.
    let response = app
        .admin_request(Method::DELETE, "/api/v1/stores")
        .send()
        .await
        .expect("sent");
    let allow = response.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}
