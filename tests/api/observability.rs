//! Observability: `/metrics`, `x-request-id`, JSON logs, and the OpenAPI document (every route
//! listed, every error problem+json, real answers valid against its schemas).

use crate::helpers::*;
use serde_json::{Value, json};
use std::{
    collections::BTreeSet,
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// Every (method, path) the router serves under the OpenAPI document's scope: the REST API,
/// health, metrics and the document itself. A route added to the router must be added here
/// and documented with `#[utoipa::path]`.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
    ("get", "/api/v1/openapi.json"),
    ("get", "/api/v1/asyncapi.json"),
    ("get", "/api/v1/stores"),
    ("post", "/api/v1/stores"),
    ("get", "/api/v1/stores/{id}"),
    ("put", "/api/v1/stores/{id}/status"),
    ("get", "/api/v1/products"),
    ("post", "/api/v1/products"),
    ("get", "/api/v1/products/{id}"),
    ("patch", "/api/v1/products/{id}"),
    ("delete", "/api/v1/products/{id}"),
    ("get", "/api/v1/products/{id}/inventory"),
    ("post", "/api/v1/products/{id}/inventory/adjustments"),
    ("get", "/api/v1/products/{id}/inventory/movements"),
    ("get", "/api/v1/products/{id}/reviews"),
    ("post", "/api/v1/products/{id}/reviews"),
    ("put", "/api/v1/products/{id}/reviews/{review_id}"),
    ("delete", "/api/v1/products/{id}/reviews/{review_id}"),
    ("get", "/api/v1/products/{id}/recommendations"),
    ("get", "/api/v1/products/{id}/images"),
    ("post", "/api/v1/products/{id}/images"),
    ("post", "/api/v1/products/{id}/images/upload-url"),
    ("delete", "/api/v1/products/{id}/images/{image_id}"),
    ("put", "/api/v1/uploads/{token}"),
    ("get", "/media/{file}"),
    ("get", "/api/v1/search"),
    ("get", "/api/v1/search/suggest"),
    ("get", "/api/v1/stores/{id}/synonyms"),
    ("put", "/api/v1/stores/{id}/synonyms"),
    ("post", "/api/v1/reservations"),
    ("get", "/api/v1/reservations/{id}"),
    ("post", "/api/v1/reservations/{id}/commit"),
    ("post", "/api/v1/reservations/{id}/release"),
    ("post", "/api/v1/reservations/{id}/extend"),
    ("post", "/api/v1/carts"),
    ("get", "/api/v1/carts/{id}"),
    ("delete", "/api/v1/carts/{id}"),
    ("put", "/api/v1/carts/{id}/items/{product_id}"),
    ("delete", "/api/v1/carts/{id}/items/{product_id}"),
    ("get", "/api/v1/orders"),
    ("post", "/api/v1/orders"),
    ("get", "/api/v1/orders/{id}"),
    ("put", "/api/v1/orders/{id}/status"),
    ("post", "/api/v1/orders/{id}/cancel"),
    ("get", "/api/v1/orders/{id}/events"),
    ("get", "/api/v1/events"),
    ("get", "/api/v1/admin/payments"),
    ("get", "/api/v1/admin/exchange-rates"),
    ("put", "/api/v1/admin/exchange-rates"),
    ("get", "/api/v1/stores/{id}/exports/orders.csv"),
    ("get", "/api/v1/stores/{id}/exports/movements.csv"),
    ("post", "/api/v1/stores/{id}/imports/products"),
    ("get", "/api/v1/stores/{id}/insights"),
    ("delete", "/api/v1/products/{id}/waitlist"),
    ("get", "/api/v1/me/waitlist"),
    ("get", "/api/v1/products/{id}/waitlist"),
    ("get", "/api/v1/returns"),
    ("get", "/api/v1/stores/{id}/locations"),
    ("patch", "/api/v1/locations/{id}"),
    ("patch", "/api/v1/stores/{id}"),
    ("post", "/api/v1/fulfillments/{id}/events"),
    ("post", "/api/v1/orders/{id}/fulfillments"),
    ("post", "/api/v1/orders/{id}/refunds"),
    ("post", "/api/v1/orders/{id}/returns"),
    ("post", "/api/v1/orders/{id}/undo"),
    ("post", "/api/v1/products/{id}/inventory/transfers"),
    ("post", "/api/v1/products/{id}/waitlist"),
    ("post", "/api/v1/returns/{id}/approve"),
    ("post", "/api/v1/returns/{id}/receive"),
    ("post", "/api/v1/returns/{id}/reject"),
    ("post", "/api/v1/stores/{id}/locations"),
    ("get", "/api/v1/ws"),
    ("post", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks"),
    ("get", "/api/v1/webhooks/{id}"),
    ("patch", "/api/v1/webhooks/{id}"),
    ("delete", "/api/v1/webhooks/{id}"),
    ("post", "/api/v1/webhooks/{id}/rotate-secret"),
    ("get", "/api/v1/webhooks/{id}/deliveries"),
    (
        "post",
        "/api/v1/webhooks/{id}/deliveries/{delivery_id}/redeliver",
    ),
    ("post", "/api/v1/auth/register"),
    ("post", "/api/v1/auth/login"),
    ("post", "/api/v1/auth/refresh"),
    ("post", "/api/v1/auth/logout"),
    ("post", "/api/v1/auth/verify-email"),
    ("post", "/api/v1/auth/password-reset"),
    ("post", "/api/v1/auth/password-reset/confirm"),
    ("get", "/api/v1/me"),
    ("get", "/api/v1/me/notification-preferences"),
    ("put", "/api/v1/me/notification-preferences"),
    ("get", "/api/v1/notifications"),
    ("get", "/api/v1/notifications/{id}"),
    ("post", "/api/v1/users"),
    ("get", "/api/v1/users"),
    ("get", "/api/v1/users/{id}"),
    ("patch", "/api/v1/users/{id}"),
    ("post", "/api/v1/me/password"),
];

const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];

pub(crate) async fn spec(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "application/json"
    );
    serde_json::from_str(&response.text().await.expect("body")).expect("valid JSON")
}

/// Follows `$ref`s inside the document.
fn resolve<'a>(spec: &'a Value, mut node: &'a Value) -> &'a Value {
    while let Some(reference) = node.get("$ref").and_then(Value::as_str) {
        let pointer = reference.strip_prefix('#').expect("local reference");
        node = spec
            .pointer(pointer)
            .unwrap_or_else(|| panic!("dangling {reference}"));
    }
    node
}

/// Checks `value` against the subset of JSON Schema the document uses; returns the first
/// mismatch as `path: problem`.
pub(crate) fn validate(
    spec: &Value,
    schema: &Value,
    value: &Value,
    path: &str,
) -> Result<(), String> {
    let schema = resolve(spec, schema);
    if let Some(expected) = schema.get("const")
        && expected != value
    {
        return Err(format!("{path}: {value} is not {expected}"));
    }
    if let Some(options) = schema.get("oneOf").and_then(Value::as_array) {
        let matching = options
            .iter()
            .filter(|option| validate(spec, option, value, path).is_ok())
            .count();
        return if matching == 1 {
            Ok(())
        } else {
            Err(format!("{path}: {matching} oneOf options match {value}"))
        };
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        return Err(format!("{path}: {value} is not one of {options:?}"));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => return Ok(()),
    };
    let actual = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    if !types
        .iter()
        .any(|t| *t == actual || (*t == "number" && actual == "integer"))
    {
        return Err(format!("{path}: expected {types:?}, got {value}"));
    }
    if let (Some(minimum), Some(n)) = (
        schema.get("minimum").and_then(Value::as_f64),
        value.as_f64(),
    ) && n < minimum
    {
        return Err(format!("{path}: {n} is below {minimum}"));
    }
    match value {
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    validate(spec, item_schema, item, &format!("{path}[{i}]"))?;
                }
            }
        }
        Value::Object(members) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            for required in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = required.as_str().expect("required names");
                if !members.contains_key(name) {
                    return Err(format!("{path}: missing required {name}"));
                }
            }
            for (name, member) in members {
                let member_path = format!("{path}.{name}");
                match (
                    properties.and_then(|p| p.get(name)),
                    schema.get("additionalProperties"),
                ) {
                    (Some(property), _) => validate(spec, property, member, &member_path)?,
                    (None, Some(Value::Bool(false))) => {
                        return Err(format!("{member_path}: not in the schema"));
                    }
                    (None, Some(extra @ Value::Object(_))) => {
                        validate(spec, extra, member, &member_path)?
                    }
                    (None, _) => {}
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Validates a real answer against the document's schema for that operation and status.
///
/// `expected` is the status this request must get: a documented status alone is not enough
/// (a 422 problem is documented for most operations and would validate too).
pub(crate) fn check_answer(
    spec: &Value,
    method: &str,
    path: &str,
    expected: u16,
    status: u16,
    body: &Value,
) {
    assert_eq!(status, expected, "{method} {path}: {body}");
    let operation = &spec["paths"][path][method];
    assert!(operation.is_object(), "{method} {path} is not documented");
    let response = resolve(spec, &operation["responses"][status.to_string()]);
    assert!(
        response.is_object(),
        "{method} {path} does not document {status}; body: {body}"
    );
    let content = response["content"]
        .as_object()
        .expect("a body is documented");
    let (_, media) = content.iter().next().expect("one media type");
    if let Err(error) = validate(spec, &media["schema"], body, "$") {
        panic!("{method} {path} {status} breaks its schema: {error}\nbody: {body}");
    }
}

#[tokio::test]
async fn openapi_document_lists_every_route_and_documents_errors_as_problems() {
    let app = spawn_app().await;
    let spec = spec(&app).await;
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        spec["openapi"]
    );
    let documented: BTreeSet<(String, String)> = spec["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .filter(|key| METHODS.contains(&key.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        documented.difference(&expected).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "documented but not in the route list"
    );
    assert_eq!(
        expected.difference(&documented).collect::<Vec<_>>(),
        Vec::<&(String, String)>::new(),
        "routed but not documented"
    );
    let mut operation_ids = BTreeSet::new();
    for (method, path) in ROUTES {
        let operation = &spec["paths"][path][method];
        let id = operation["operationId"].as_str().expect("operationId");
        assert!(operation_ids.insert(id.to_owned()), "duplicate {id}");
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2') || s == "101"),
            "{method} {path} documents no success"
        );
        if path.starts_with("/api/v1/")
            && !["/api/v1/openapi.json", "/api/v1/asyncapi.json"].contains(path)
        {
            assert!(
                responses.contains_key("503"),
                "{method} {path} lacks its 503"
            );
        }
        for (status, response) in responses {
            if status.as_str() < "400" {
                continue;
            }
            let response = resolve(&spec, response);
            let schema = &response["content"]["application/problem+json"]["schema"];
            assert_eq!(
                schema["$ref"], "#/components/schemas/Problem",
                "{method} {path} {status} is not a problem+json Problem"
            );
        }
    }
    // Every reference resolves.
    fn refs<'a>(node: &'a Value, out: &mut Vec<&'a str>) {
        match node {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&spec, &mut all);
    for reference in all {
        assert!(
            spec.pointer(reference.trim_start_matches('#')).is_some(),
            "dangling {reference}"
        );
    }
    // The docs page is served by the binary and loads nothing from elsewhere.
    let (status, content_type, body) = send_typed(app.client.get(app.url("/api/docs"))).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "text/html");
    let html = body.as_str().expect("html");
    assert!(html.contains("/api/v1/openapi.json"));
    assert!(!html.contains("src=\"http") && !html.contains("href=\"http"));
}

#[tokio::test]
async fn real_answers_match_the_documented_schemas() {
    let app = spawn_app().await;
    let spec = spec(&app).await;
    let (status, store) = app
        .admin_post(
            "/api/v1/stores",
            json!({"name": "Schema Shop", "kind": "retail", "currency": "USD"}),
        )
        .await;
    check_answer(&spec, "post", "/api/v1/stores", 201, status, &store);
    let store_id = store["id"].as_str().unwrap().to_owned();
    let (status, product) = app
        .admin_post(
            "/api/v1/products",
            json!({"store_id": store_id, "sku": "SCHEMA-1", "name": "Schema tee",
                   "price": {"amount": 1500, "currency": "USD"}, "initial_stock": 20,
                   "description": "cotton", "attributes": {"size": "m"}}),
        )
        .await;
    check_answer(&spec, "post", "/api/v1/products", 201, status, &product);
    let product_id = product["id"].as_str().unwrap().to_owned();

    let gets = [
        ("/api/v1/stores", "/api/v1/stores".to_owned()),
        ("/api/v1/stores/{id}", format!("/api/v1/stores/{store_id}")),
        ("/api/v1/products", "/api/v1/products".to_owned()),
        (
            "/api/v1/products/{id}",
            format!("/api/v1/products/{product_id}"),
        ),
        (
            "/api/v1/products/{id}/inventory",
            format!("/api/v1/products/{product_id}/inventory"),
        ),
        (
            "/api/v1/products/{id}/recommendations",
            format!("/api/v1/products/{product_id}/recommendations"),
        ),
        ("/healthz", "/healthz".to_owned()),
        ("/readyz", "/readyz".to_owned()),
    ];
    for (template, url) in &gets {
        let (status, body) = app.get(url).await;
        check_answer(&spec, "get", template, 200, status, &body);
    }
    let (status, body) = app
        .admin_post(
            &format!("/api/v1/products/{product_id}/inventory/adjustments"),
            json!({"delta": 5, "reason": "restock", "note": "delivery"}),
        )
        .await;
    check_answer(
        &spec,
        "post",
        "/api/v1/products/{id}/inventory/adjustments",
        200,
        status,
        &body,
    );
    let (status, body) = app
        .admin_get(&format!(
            "/api/v1/products/{product_id}/inventory/movements"
        ))
        .await;
    check_answer(
        &spec,
        "get",
        "/api/v1/products/{id}/inventory/movements",
        200,
        status,
        &body,
    );
    let (status, reservation) = app
        .admin_post(
            "/api/v1/reservations",
            json!({"items": [{"product_id": product_id, "quantity": 2}], "ref": "r-1"}),
        )
        .await;
    check_answer(
        &spec,
        "post",
        "/api/v1/reservations",
        201,
        status,
        &reservation,
    );
    let reservation_id = reservation["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .admin_post_empty(&format!("/api/v1/reservations/{reservation_id}/commit"))
        .await;
    check_answer(
        &spec,
        "post",
        "/api/v1/reservations/{id}/commit",
        200,
        status,
        &body,
    );

    let (status, cart) = app.admin_post_empty("/api/v1/carts").await;
    check_answer(&spec, "post", "/api/v1/carts", 201, status, &cart);
    let cart_id = cart["id"].as_str().unwrap().to_owned();
    let (status, body) = app
        .admin_put(
            &format!("/api/v1/carts/{cart_id}/items/{product_id}"),
            json!({"quantity": 2}),
        )
        .await;
    check_answer(
        &spec,
        "put",
        "/api/v1/carts/{id}/items/{product_id}",
        200,
        status,
        &body,
    );
    let (status, order) = app
        .admin_post(
            "/api/v1/orders",
            json!({"cart_id": cart_id, "payment": {"method": "card", "token": "tok_visa"},
                   "shipping_address": {"city": "Lyon"}}),
        )
        .await;
    check_answer(&spec, "post", "/api/v1/orders", 201, status, &order);
    let (status, declined) = app
        .admin_post(
            "/api/v1/orders",
            json!({"store_id": store_id, "items": [{"product_id": product_id, "quantity": 1}],
                   "payment": {"method": "card", "token": "tok_chargeDeclined"}}),
        )
        .await;
    assert_eq!(status, 402, "{declined}");
    check_answer(&spec, "post", "/api/v1/orders", 402, status, &declined);
    let (status, body) = app.admin_get("/api/v1/orders").await;
    check_answer(&spec, "get", "/api/v1/orders", 200, status, &body);
    let (status, body) = app.admin_get("/api/v1/admin/payments").await;
    check_answer(&spec, "get", "/api/v1/admin/payments", 200, status, &body);
    let (status, body) = app
        .admin_put(
            "/api/v1/admin/exchange-rates",
            json!({"base": "USD", "rates": {"EUR": "0.92"}}),
        )
        .await;
    check_answer(
        &spec,
        "put",
        "/api/v1/admin/exchange-rates",
        200,
        status,
        &body,
    );
    let (status, body) = app.get("/api/v1/admin/exchange-rates").await;
    check_answer(
        &spec,
        "get",
        "/api/v1/admin/exchange-rates",
        200,
        status,
        &body,
    );
    let (status, body) = app.admin_get("/api/v1/orders?currency=EUR").await;
    check_answer(&spec, "get", "/api/v1/orders", 200, status, &body);
    assert!(body["items"][0]["display_total"].is_object(), "{body}");
    let (status, body) = app
        .get(&format!("/api/v1/products/{product_id}?currency=EUR"))
        .await;
    check_answer(&spec, "get", "/api/v1/products/{id}", 200, status, &body);

    let session = app.new_customer().await;
    check_answer(&spec, "post", "/api/v1/auth/register", 201, 201, &session);
    let token = session["access_token"].as_str().unwrap();
    let (status, me) = send(app.client.get(app.url("/api/v1/me")).bearer_auth(token)).await;
    check_answer(&spec, "get", "/api/v1/me", 200, status, &me);

    // Problems validate too.
    let (status, body) = app.get("/api/v1/stores/str_nope").await;
    check_answer(&spec, "get", "/api/v1/stores/{id}", 404, status, &body);
    let (status, body) = app
        .admin_post(
            "/api/v1/reservations",
            json!({"items": [{"product_id": product_id, "quantity": 100000}]}),
        )
        .await;
    assert_eq!(status, 409);
    check_answer(&spec, "post", "/api/v1/reservations", 409, status, &body);
    // An id that is not even UTF-8 names nothing: a 404 problem, not a plain-text 400.
    let (status, body) = app.get("/api/v1/stores/%FF").await;
    assert_eq!(status, 404, "{body}");
    check_answer(&spec, "get", "/api/v1/stores/{id}", 404, status, &body);
    let (status, body) = app.get("/api/v1/stores?per_page=0").await;
    check_answer(&spec, "get", "/api/v1/stores", 422, status, &body);
    // A plain request to the WebSocket endpoint is a problem too.
    let (status, content_type, body) =
        send_typed(app.client.get(app.ws_url().replace("ws://", "http://"))).await;
    assert_eq!(
        (status, content_type.as_str()),
        (426, "application/problem+json")
    );
    check_answer(&spec, "get", "/api/v1/ws", 426, status, &body);
}

/// The value of the first sample of `series` (a name plus optional labels prefix).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find(|line| line.starts_with(series))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_expose_the_named_series_after_traffic() {
    let app = spawn_app().await;
    let store_id = app.create_store().await;
    let product_id = app.create_product(&store_id, 10).await;
    let mut ws = app.ws().await;
    ws.subscribe(&format!("product:{product_id}")).await;
    let (status, body) = app
        .admin_post(
            "/api/v1/reservations",
            json!({"items": [{"product_id": product_id, "quantity": 1}], "ttl_seconds": 1}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app
        .admin_post(
            "/api/v1/orders",
            json!({"store_id": store_id, "items": [{"product_id": product_id, "quantity": 1}],
                   "payment": {"method": "card", "token": "tok_visa"}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    // The 1 s hold expires.
    eventually(Duration::from_secs(5), || async {
        app.inventory(&product_id).await["reserved"] == 0
    })
    .await;

    let response = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.expect("text");
    for series in [
        "emporium_http_requests_total{method=\"POST\",route=\"/api/v1/reservations\",status=\"201\"}",
        "emporium_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/v1/orders\",status=\"201\",le=\"0.5\"}",
        "emporium_http_requests_total{method=\"GET\",route=\"/api/v1/products/{id}/inventory\",status=\"200\"}",
        "emporium_ws_connections_active",
        "emporium_ws_subscriptions_active",
        "emporium_ws_deliveries_total",
        "emporium_ws_lagged_closes_total",
        "emporium_actors_active{kind=\"product\"}",
        "emporium_actors_active{kind=\"order\"}",
        "emporium_actors_active{kind=\"cart\"}",
        "emporium_holds_active",
        "emporium_holds_expired_total",
        "emporium_journal_batch_size_bucket",
        "emporium_journal_fsync_seconds_bucket",
        "emporium_orders{status=\"confirmed\"}",
        "emporium_orders{status=\"pending\"}",
        "emporium_payment_attempts_total{outcome=\"captured\"}",
    ] {
        assert!(
            sample(&text, series).is_some(),
            "{series} missing from /metrics:\n{text}"
        );
    }
    // Exact counts need a process of their own (the recorder is process-wide, shared by
    // every in-process test): see `promises::metrics_of_a_server_process_of_its_own_…`.
    // An unknown path does not create a series of its own.
    let (status, _) = app.get("/no/such/path/xyz").await;
    assert_eq!(status, 404);
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(!text.contains("/no/such/path"));
    assert!(text.contains("route=\"unmatched\",status=\"404\""));
}

#[tokio::test]
async fn request_ids_are_echoed_and_generated() {
    let app = spawn_app().await;
    let request_id = |response: &reqwest::Response| {
        response.headers()["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_owned()
    };
    let echoed = app
        .client
        .get(app.url("/api/v1/stores"))
        .header("x-request-id", "client-id-42")
        .send()
        .await
        .expect("request");
    assert_eq!(request_id(&echoed), "client-id-42");
    let first = app.client.get(app.url("/healthz")).send().await.unwrap();
    let second = app
        .client
        .get(app.url("/api/v1/stores/str_missing"))
        .send()
        .await
        .unwrap();
    assert_eq!(second.status(), 404, "problems carry one too");
    let (a, b) = (request_id(&first), request_id(&second));
    assert_eq!(a.len(), 36, "{a}");
    assert_ne!(a, b);
    // An unusable id (too long) is replaced.
    let long = "x".repeat(200);
    let replaced = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", &long)
        .send()
        .await
        .unwrap();
    assert_eq!(request_id(&replaced).len(), 36);
}

#[test]
fn json_logs_carry_the_request_id() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_emporium"))
        .args(["--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        // Not configuration keys: the loader must ignore them.
        .env("EMPORIUM_LOG_FORMAT", "json")
        .env("EMPORIUM_LOG", "info")
        .env("EMPORIUM_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start emporium");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let parsed: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
            if tx.send(parsed).is_err() {
                break;
            }
        }
    });
    let next = || {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("a log line within 20 s")
    };
    let addr = listening_addr(&rx);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let client = reqwest::Client::new();
        wait_ready(&client, addr.parse().expect("addr")).await;
        let response = client
            .get(format!("http://{addr}/api/v1/stores"))
            .header("x-request-id", "json-log-test")
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
    });
    let access = loop {
        let line = next();
        if line["span"]["request_id"] == "json-log-test" {
            break line;
        }
    };
    assert_eq!(access["target"], "emporium::access");
    assert_eq!(access["status"], 200);
    assert_eq!(access["span"]["route"], "/api/v1/stores");
    assert_eq!(access["level"], "INFO");
    let _ = child.kill();
    let _ = child.wait();
}
