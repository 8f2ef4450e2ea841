//! Request edges (issue 10, "Requests"): duplicate JSON keys, `null` in PATCH bodies, 414/431
//! as problem+json with an access-log line, security headers, CORS, and validation messages
//! in words.

use crate::helpers::*;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    sync::mpsc,
    time::Duration,
};

fn raw_json(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: &str,
) -> reqwest::RequestBuilder {
    app.admin_request(method, path)
        .header(CONTENT_TYPE, "application/json")
        .body(body.to_owned())
}

#[tokio::test]
async fn a_body_that_repeats_a_key_at_any_depth_is_invalid_json() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let top = format!(r#"{{"items":[{{"product_id":"{product}","quantity":1}}],"items":[]}}"#);
    let problem = expect_problem(
        raw_json(&app, reqwest::Method::POST, "/api/v1/reservations", &top),
        400,
        "invalid_json",
    )
    .await;
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("duplicate key \"items\""),
        "{problem}"
    );
    let nested = format!(r#"{{"items":[{{"product_id":"{product}","quantity":1,"quantity":2}}]}}"#);
    expect_problem(
        raw_json(&app, reqwest::Method::POST, "/api/v1/reservations", &nested),
        400,
        "invalid_json",
    )
    .await;
    let escaped = r#"{"name":"A","n\u0061me":"B","kind":"retail","currency":"USD"}"#;
    expect_problem(
        raw_json(&app, reqwest::Method::POST, "/api/v1/stores", escaped),
        400,
        "invalid_json",
    )
    .await;
    // Nothing was held.
    assert_eq!(app.inventory(&product).await["reserved"], 0);
}

#[tokio::test]
async fn patch_refuses_null_for_fields_that_cannot_be_null_and_clears_the_nullable_ones() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let path = format!("/api/v1/products/{product}");
    for field in [
        "name",
        "price",
        "attributes",
        "image_urls",
        "low_stock_threshold",
        "status",
    ] {
        let problem = expect_problem(
            app.admin_request(reqwest::Method::PATCH, &path)
                .json(&json!({ field: null })),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(
            problem["errors"],
            json!([{"field": field, "message": "must not be null"}]),
            "{problem}"
        );
    }
    let (status, body) = app
        .admin_patch(&path, json!({"description": "soft", "brand": "Acme"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .admin_patch(&path, json!({"description": null, "brand": null}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["description"], Value::Null);
    assert_eq!(body["brand"], Value::Null);
    assert!(body["name"].is_string());
}

/// Reads the binary's JSON log lines on a thread.
fn json_log_lines(child: &mut std::process::Child) -> mpsc::Receiver<Value> {
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<Value>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(parsed) = serde_json::from_str::<Value>(&line)
                && tx.send(parsed).is_err()
            {
                break;
            }
        }
    });
    rx
}

/// Sends `request` on a fresh connection (a real client refuses to build such requests) and
/// reads the answer to the end: status, lower-cased headers and body.
async fn raw_exchange(
    addr: &str,
    request: &[u8],
) -> (u16, std::collections::HashMap<String, String>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("request written");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes after answering")
        .expect("an answer, not a reset");
    let answer = String::from_utf8(answer).expect("UTF-8 answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("a complete head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|line| line.split_once(": "))
        .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
        .collect();
    (status, headers, body.to_owned())
}

#[test]
fn oversized_request_lines_and_headers_answer_problem_json_and_are_logged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_emporium"))
        .args(["--addr", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("EMPORIUM_LOG_FORMAT", "json")
        .env("EMPORIUM_LOG", "info")
        .env("EMPORIUM_ADMIN_TOKEN", ADMIN_TOKEN)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start emporium");
    let rx = json_log_lines(&mut child);
    let next = || {
        rx.recv_timeout(Duration::from_secs(20))
            .expect("a log line within 20 s")
    };
    let addr = listening_addr(&rx);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ids = runtime.block_on(async {
        let client = reqwest::Client::new();
        wait_ready(&client, addr.parse().expect("addr")).await;
        let mut ids = Vec::new();
        let long_query = format!(
            "GET /api/v1/products?q={} HTTP/1.1\r\nhost: x\r\n\r\n",
            "a".repeat(100 * 1024)
        );
        let big_headers = format!(
            "GET /api/v1/stores HTTP/1.1\r\nhost: x\r\n{}\r\n",
            (0..128)
                .map(|i| format!("x-big-{i}: {}\r\n", "b".repeat(8 * 1024)))
                .collect::<String>()
        );
        for (request, status, code) in [
            (long_query, 414, "uri_too_long"),
            (big_headers, 431, "headers_too_large"),
        ] {
            let (got, headers, body) = raw_exchange(&addr, request.as_bytes()).await;
            assert_eq!(got, status, "{headers:?} {body}");
            assert_eq!(headers["content-type"], "application/problem+json");
            assert_eq!(headers["x-content-type-options"], "nosniff");
            let body: Value = serde_json::from_str(&body).expect("problem json");
            assert_eq!(body["code"], code, "{body}");
            assert_eq!(body["status"], status, "{body}");
            ids.push((headers["x-request-id"].clone(), status));
        }
        // The server keeps serving.
        let (status, _) = send(client.get(format!("http://{addr}/api/v1/stores"))).await;
        assert_eq!(status, 200);
        ids
    });
    for (id, status) in ids {
        let access = loop {
            let line = next();
            if line["span"]["request_id"] == id.as_str() {
                break line;
            }
        };
        assert_eq!(access["target"], "emporium::access", "{access}");
        assert_eq!(access["status"], status, "{access}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn every_answer_says_nosniff_pages_have_a_csp_and_credential_answers_are_not_stored() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/stores",
        "/healthz",
        "/metrics",
        "/api/v1/openapi.json",
        "/api/docs",
        "/",
        "/dashboard",
        "/insights",
        "/assets/app.css",
        "/no/such/page",
        "/api/v1/products?per_page=0",
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{path}"
        );
    }
    let docs = app.client.get(app.url("/api/docs")).send().await.unwrap();
    let csp = docs.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("connect-src 'self'"), "{csp}");
    // The page's inline script and style are allowed by hash, so it still renders.
    let html = docs.text().await.unwrap();
    for tag in ["script", "style"] {
        let inline = html
            .split_once(&format!("<{tag}>"))
            .and_then(|(_, rest)| rest.split_once(&format!("</{tag}>")))
            .map(|(body, _)| body)
            .expect("inline element");
        use base64::Engine;
        use sha2::Digest;
        let hash = base64::engine::general_purpose::STANDARD
            .encode(sha2::Sha256::digest(inline.as_bytes()));
        assert!(csp.contains(&format!("{tag}-src 'sha256-{hash}'")), "{csp}");
    }
    let email = format!("edge-{}@example.com", rand_suffix());
    let credentials = json!({"email": email, "password": "correct horse battery", "name": "E"});
    let answers = [
        app.client
            .post(app.url("/api/v1/auth/register"))
            .json(&credentials),
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": "wrong password!"})),
        app.client.get(app.url("/api/v1/me")),
    ];
    for request in answers {
        let response = request.send().await.unwrap();
        let status = response.status();
        assert_eq!(response.headers()["cache-control"], "no-store", "{status}");
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    }
    let public = app
        .client
        .get(app.url("/api/v1/stores"))
        .send()
        .await
        .unwrap();
    assert!(public.headers().get("cache-control").is_none());
}

const SHOP: &str = "https://shop.example";

#[tokio::test]
async fn listed_origins_get_cors_with_preflight_and_others_get_none() {
    let app = spawn_app_with(|c| c.http.cors_origins = vec![SHOP.to_owned()]).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/carts"))
        .header("origin", SHOP)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, idempotency-key, authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], SHOP);
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in [
        "content-type",
        "idempotency-key",
        "authorization",
        "if-match",
    ] {
        assert!(allowed.contains(header), "{allowed}");
    }
    let vary: Vec<_> = headers
        .get_all("vary")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    assert!(vary.iter().any(|v| v.contains("origin")), "{vary:?}");

    let simple = app
        .client
        .get(app.url("/api/v1/stores"))
        .header("origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(simple.status(), 200);
    assert_eq!(simple.headers()["access-control-allow-origin"], SHOP);
    let exposed = simple.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for header in ["retry-after", "location", "x-request-id"] {
        assert!(exposed.contains(header), "{exposed}");
    }

    for request in [
        app.client.get(app.url("/api/v1/stores")),
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/carts"))
            .header("access-control-request-method", "POST"),
    ] {
        let response = request
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none()
        );
    }

    // Without the key there is no CORS at all.
    let plain = spawn_app().await;
    let response = plain
        .client
        .get(plain.url("/api/v1/stores"))
        .header("origin", SHOP)
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[test]
fn a_cors_origin_that_is_not_an_origin_is_refused_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    for (bad, good) in [
        ("https://shop.example/", "https://shop.example"),
        ("*", "http://localhost:3000"),
        ("shop.example", "http://[::1]:8080"),
    ] {
        for (origin, ok) in [(bad, false), (good, true)] {
            let file = dir.path().join("emporium.toml");
            std::fs::write(&file, format!("[http]\ncors_origins = [\"{origin}\"]\n")).unwrap();
            let loaded =
                emporium::config::Config::load(Some(&file), emporium::config::Overrides::default());
            assert_eq!(loaded.is_ok(), ok, "{origin}: {loaded:?}");
        }
    }
}

#[tokio::test]
async fn validation_messages_say_it_once_in_words() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let cases: Vec<(reqwest::RequestBuilder, &str, &str)> = vec![
        (
            app.client.get(app.url("/api/v1/products?per_page=abc")),
            "per_page",
            "must be a whole number from 1 to 100",
        ),
        (
            app.client.get(app.url("/api/v1/products?per_page=-1")),
            "per_page",
            "must be a whole number from 1 to 100",
        ),
        (
            app.client.get(app.url("/api/v1/products?per_page=0")),
            "per_page",
            "must be a whole number from 1 to 100",
        ),
        (
            app.client.get(app.url("/api/v1/products?page=x")),
            "page",
            "must be a whole number of at least 1",
        ),
        (
            app.client.get(app.url("/api/v1/products?min_price=cheap")),
            "min_price",
            "must be a whole number",
        ),
        (
            app.client.get(app.url("/api/v1/products?in_stock=maybe")),
            "in_stock",
            "must be true or false",
        ),
        (
            app.client.get(app.url("/api/v1/products?status=gone")),
            "status",
            "must be one of active, archived",
        ),
        (
            app.admin_request(reqwest::Method::POST, "/api/v1/products")
                .json(&json!({
                    "store_id": store, "sku": "S-1", "name": "N",
                    "price": {"amount": "x", "currency": "USD"}
                })),
            "price.amount",
            "must be a whole number",
        ),
        (
            app.admin_request(reqwest::Method::POST, "/api/v1/products")
                .json(&json!({
                    "store_id": store, "sku": "S-1", "name": "N",
                    "price": {"amount": 100, "currency": "USD"}, "initial_stock": -1.5
                })),
            "initial_stock",
            "must be a whole number",
        ),
        (
            app.admin_request(reqwest::Method::POST, "/api/v1/reservations")
                .json(
                    &json!({"items": [{"product_id": "prd_x", "quantity": 1}], "ttl_seconds": -5}),
                ),
            "ttl_seconds",
            "must be a whole number of at least 0",
        ),
        (
            app.admin_request(reqwest::Method::POST, "/api/v1/reservations")
                .json(&json!({"items": "all"})),
            "items",
            "must be an array",
        ),
        (
            app.admin_request(reqwest::Method::POST, "/api/v1/stores")
                .json(&json!({"name": "A", "currency": "USD"})),
            "kind",
            "is required",
        ),
        (
            app.admin_request(reqwest::Method::POST, "/api/v1/stores")
                .json(&json!({"name": 5, "kind": "retail", "currency": "USD"})),
            "name",
            "must be a string",
        ),
        (
            app.admin_request(reqwest::Method::POST, "/api/v1/stores")
                .json(&json!({"name": "A", "kind": "bazaar", "currency": "USD"})),
            "kind",
            "must be one of retail, restaurant",
        ),
    ];
    for (request, field, message) in cases {
        let problem = expect_problem(request, 422, "validation_failed").await;
        assert_eq!(
            problem["errors"],
            json!([{"field": field, "message": message}]),
            "{problem}"
        );
        let detail = problem["detail"].as_str().unwrap();
        assert_eq!(detail, format!("{field}: {message}"));
        for word in ["i64", "u32", "u64", "usize", "expected", "`"] {
            assert!(!detail.contains(word), "{detail}");
        }
    }
}
