//! Webhooks (docs/API.md §10): signed deliveries to a real HTTP receiver started by the test,
//! retries, crash safety with the real binary, the SSRF guard, CRUD and access.

use crate::helpers::*;
use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, http::Uri};
use hmac::{Hmac, Mac};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::Sha256;
use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: String,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("JSON body")
    }
}

/// What the receiver records and how it answers.
#[derive(Default)]
struct Behaviour {
    received: Mutex<Vec<Received>>,
    /// Answer 500 to this many requests first.
    fail_next: AtomicUsize,
    /// Hang (past any timeout) on this many requests first.
    hang_next: AtomicUsize,
    /// Answer 500 to everything.
    always_fail: AtomicBool,
}

/// A real HTTP receiver on 127.0.0.1.
struct Receiver {
    addr: SocketAddr,
    behaviour: Arc<Behaviour>,
    server: Option<tokio::task::JoinHandle<()>>,
}

async fn record(
    State(behaviour): State<Arc<Behaviour>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    behaviour.received.lock().expect("lock").push(Received {
        path: uri.path().to_owned(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    if behaviour
        .hang_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        tokio::time::sleep(Duration::from_secs(30)).await;
    }
    if behaviour.always_fail.load(Ordering::SeqCst)
        || behaviour
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    StatusCode::OK
}

impl Receiver {
    async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("addr"), Arc::default()).await
    }

    async fn start_on(addr: SocketAddr, behaviour: Arc<Behaviour>) -> Self {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = axum::Router::new()
            .fallback(record)
            .with_state(Arc::clone(&behaviour));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Self {
            addr,
            behaviour,
            server: Some(server),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.behaviour.received.lock().expect("lock").clone()
    }

    fn at(&self, path: &str) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| r.path == path)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

/// A server that may deliver to loopback, with fast retries.
async fn webhook_app(tweak: impl FnOnce(&mut emporium::config::Config)) -> TestApp {
    spawn_app_with(|c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.retry_schedule_seconds = vec![0.0, 0.2, 0.2, 0.2];
        c.webhooks.timeout_ms = 2000;
        tweak(c);
    })
    .await
}

async fn register(app: &TestApp, body: Value) -> Value {
    let (status, created) = app.admin_post("/api/v1/webhooks", body).await;
    assert_eq!(status, 201, "{created}");
    created
}

/// Recomputes the signature header of a delivery with `secret`.
fn verify(received: &Received, secret: &str) {
    let header = received.headers["emporium-signature"]
        .to_str()
        .expect("ascii");
    let (t, v1) = header
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
        .unwrap_or_else(|| panic!("malformed signature {header}"));
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{}", received.body).as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(v1, expected, "signature of {}", received.body);
    let t: i64 = t.parse().expect("unix seconds");
    let now = chrono::Utc::now().timestamp();
    assert!((now - t).abs() < 60, "signature time {t} is now-ish");
}

fn types(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.json()["type"].as_str().expect("type").to_owned())
        .collect()
}

#[tokio::test]
async fn a_confirmed_order_reaches_each_matching_endpoint_once_per_event_with_a_valid_signature() {
    let receiver = Receiver::start().await;
    let app = webhook_app(|_| {}).await;
    let store = app.create_store().await;
    let other_store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let orders_of_store = register(
        &app,
        json!({"url": receiver.url("/orders"), "events": ["order.created", "order.status_changed"], "store_id": store}),
    )
    .await;
    let everything = register(&app, json!({"url": receiver.url("/all"), "events": ["*"]})).await;
    register(
        &app,
        json!({"url": receiver.url("/low"), "events": ["stock.low"], "store_id": store}),
    )
    .await;
    register(
        &app,
        json!({"url": receiver.url("/other"), "events": ["*"], "store_id": other_store}),
    )
    .await;

    let customer = app.customer().await;
    let cart = app.cart_with(&customer.token, &product, 2).await;
    let (status, order) = app.checkout(&customer.token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    let order_id = id_of(&order);
    // A later event of the store, so that "nothing more" can be awaited on the catch-all.
    adjust_stock(&app.client, app.addr, &product, 1).await;

    eventually(Duration::from_secs(10), || async {
        receiver.at("/orders").len() >= 2
            && types(&receiver.at("/all"))
                .iter()
                .filter(|t| *t == "stock.changed")
                .count()
                >= 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let got = receiver.at("/orders");
    assert_eq!(
        types(&got),
        ["order.created", "order.status_changed"],
        "exactly one of each, in order"
    );
    let created = got[0].json();
    assert_eq!(created["data"]["id"], order_id);
    assert_eq!(created["data"]["status"], "pending");
    assert_eq!(created["store_id"], store);
    assert_rfc3339_millis(&created["created_at"]);
    let changed = got[1].json();
    assert_eq!(changed["data"]["from"], "pending");
    assert_eq!(changed["data"]["to"], "confirmed");
    assert_eq!(changed["data"]["order"]["id"], order_id);
    for r in &got {
        let body = r.json();
        assert!(body["id"].as_str().expect("id").starts_with("evt_"));
        assert_eq!(
            r.headers["emporium-event-id"],
            body["id"].as_str().expect("id")
        );
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.headers["user-agent"], "Emporium-Webhooks/1");
        verify(r, orders_of_store["secret"].as_str().expect("secret"));
    }

    let all = receiver.at("/all");
    let all_types = types(&all);
    for kind in ["order.created", "order.status_changed", "payment.captured"] {
        assert_eq!(
            all_types.iter().filter(|t| *t == kind).count(),
            1,
            "{kind} once in {all_types:?}"
        );
    }
    assert!(
        all_types.contains(&"user.registered".to_owned()),
        "{all_types:?}"
    );
    assert!(
        all_types.contains(&"cart.updated".to_owned()),
        "{all_types:?}"
    );
    // The same event carries the same id on every endpoint.
    let created_on_all = all
        .iter()
        .find(|r| r.json()["type"] == "order.created")
        .expect("order.created");
    assert_eq!(created_on_all.json()["id"], created["id"]);
    for r in &all {
        verify(r, everything["secret"].as_str().expect("secret"));
    }
    assert!(receiver.at("/low").is_empty(), "filtered to other events");
    assert!(receiver.at("/other").is_empty(), "another store's endpoint");
}

#[tokio::test]
async fn a_receiver_failing_three_times_gets_the_event_on_the_fourth_attempt_then_the_rest_in_order()
 {
    let receiver = Receiver::start().await;
    receiver.behaviour.fail_next.store(3, Ordering::SeqCst);
    let app = webhook_app(|_| {}).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let hook = register(
        &app,
        json!({"url": receiver.url("/stock"), "events": ["stock.changed"], "store_id": store}),
    )
    .await;
    let hook_id = id_of(&hook);
    for _ in 0..3 {
        adjust_stock(&app.client, app.addr, &product, 1).await;
    }
    eventually(Duration::from_secs(10), || async {
        receiver.at("/stock").len() >= 6
    })
    .await;
    let got = receiver.at("/stock");
    let on_hand: Vec<i64> = got
        .iter()
        .map(|r| r.json()["data"]["on_hand"].as_i64().expect("on_hand"))
        .collect();
    assert_eq!(on_hand, [11, 11, 11, 11, 12, 13], "retried, then in order");
    let ids: Vec<Value> = got.iter().map(|r| r.json()["id"].clone()).collect();
    assert!(
        ids[..4].iter().all(|id| *id == ids[0]),
        "one id on every attempt"
    );

    let path = format!("/api/v1/webhooks/{hook_id}/deliveries");
    eventually(Duration::from_secs(5), || async {
        let (status, list) = app.admin_get(&path).await;
        assert_eq!(status, 200, "{list}");
        list["total"] == 3 && list["items"][0]["status"] == "delivered"
    })
    .await;
    let (_, list) = app.admin_get(&path).await;
    let first = &list["items"][2];
    assert_eq!(first["status"], "delivered", "{list}");
    assert_eq!(first["event_id"], ids[0]);
    assert_eq!(first["type"], "stock.changed");
    assert_eq!(first["next_attempt_at"], Value::Null);
    let codes: Vec<Value> = first["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["status_code"].clone())
        .collect();
    assert_eq!(codes, [json!(500), json!(500), json!(500), json!(200)]);
    assert!(first["attempts"][0]["error"].is_string());
    assert_eq!(first["attempts"][3]["error"], Value::Null);
    assert_rfc3339_millis(&first["attempts"][0]["at"]);

    let (status, failed) = app.admin_get(&format!("{path}?status=retrying")).await;
    assert_eq!(
        (status, failed["total"].clone()),
        (200, json!(0)),
        "{failed}"
    );
    let (status, _) = app.admin_get(&format!("{path}?status=bogus")).await;
    assert_eq!(status, 422);

    let dlv = first["id"].as_str().expect("dlv id");
    let (status, body) = app
        .admin_post_empty(&format!("{path}/{dlv}/redeliver"))
        .await;
    assert_eq!(status, 202, "{body}");
    eventually(Duration::from_secs(5), || async {
        receiver.at("/stock").len() == 7
    })
    .await;
    assert_eq!(receiver.at("/stock")[6].json()["id"], ids[0]);
    eventually(Duration::from_secs(5), || async {
        let (_, list) = app.admin_get(&path).await;
        list["items"][2]["attempts"].as_array().map(Vec::len) == Some(5)
    })
    .await;
    let (status, _) = app
        .admin_post_empty(&format!("{path}/dlv_00000000000000ffffff/redeliver"))
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn a_receiver_that_hangs_past_the_timeout_is_retried() {
    let receiver = Receiver::start().await;
    receiver.behaviour.hang_next.store(1, Ordering::SeqCst);
    let app = webhook_app(|c| c.webhooks.timeout_ms = 300).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let hook = register(
        &app,
        json!({"url": receiver.url("/slow"), "events": ["stock.changed"], "store_id": store}),
    )
    .await;
    adjust_stock(&app.client, app.addr, &product, 1).await;
    let path = format!("/api/v1/webhooks/{}/deliveries", id_of(&hook));
    eventually(Duration::from_secs(10), || async {
        let (_, list) = app.admin_get(&path).await;
        list["items"][0]["status"] == "delivered"
    })
    .await;
    let (_, list) = app.admin_get(&path).await;
    let attempts = &list["items"][0]["attempts"];
    assert_eq!(attempts[0]["status_code"], Value::Null, "{list}");
    assert!(
        attempts[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("300 ms")),
        "{list}"
    );
    assert_eq!(attempts[1]["status_code"], 200);
}

#[tokio::test]
async fn an_endpoint_failing_longer_than_disable_after_seconds_is_disabled_and_can_be_re_enabled() {
    let receiver = Receiver::start().await;
    receiver.behaviour.always_fail.store(true, Ordering::SeqCst);
    let app = webhook_app(|c| {
        c.webhooks.retry_schedule_seconds = vec![0.0; 1].into_iter().chain([0.1; 30]).collect();
        c.webhooks.disable_after_seconds = 0.5;
    })
    .await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let hook = register(
        &app,
        json!({"url": receiver.url("/down"), "events": ["*"], "store_id": store}),
    )
    .await;
    let hook_path = format!("/api/v1/webhooks/{}", id_of(&hook));
    adjust_stock(&app.client, app.addr, &product, 1).await;
    eventually(Duration::from_secs(10), || async {
        let (_, hook) = app.admin_get(&hook_path).await;
        hook["enabled"] == false
    })
    .await;
    let (_, disabled) = app.admin_get(&hook_path).await;
    assert!(disabled["disabled_reason"].is_string(), "{disabled}");
    let (_, list) = app.admin_get(&format!("{hook_path}/deliveries")).await;
    assert_eq!(list["items"][0]["status"], "failed", "{list}");

    // Disabled: nothing more is attempted.
    let before = receiver.received().len();
    adjust_stock(&app.client, app.addr, &product, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), before);

    // Re-enabled: events from now on.
    receiver
        .behaviour
        .always_fail
        .store(false, Ordering::SeqCst);
    let (status, enabled) = app.admin_patch(&hook_path, json!({"enabled": true})).await;
    assert_eq!(status, 200, "{enabled}");
    assert_eq!(enabled["disabled_reason"], Value::Null);
    adjust_stock(&app.client, app.addr, &product, 1).await;
    eventually(Duration::from_secs(5), || async {
        receiver
            .received()
            .iter()
            .any(|r| r.json()["data"]["on_hand"] == 13)
    })
    .await;
    assert!(
        !receiver.received()[before..]
            .iter()
            .any(|r| r.json()["data"]["on_hand"] == 12),
        "the event of the disabled time is not delivered"
    );
}

#[tokio::test]
async fn loopback_and_private_targets_are_refused_without_allow_private_targets() {
    let app = spawn_app().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:9/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "ftp://example.com/hook",
        "not a url",
    ] {
        let problem = expect_problem(
            app.admin_request(Method::POST, "/api/v1/webhooks")
                .json(&json!({"url": url, "events": ["*"]})),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&problem), ["url"], "{url}: {problem}");
    }
    let (_, list) = app.admin_get("/api/v1/webhooks").await;
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn webhooks_are_managed_by_admins_and_their_stores_staff_and_the_secret_shows_only_on_create_and_rotate()
 {
    let receiver = Receiver::start().await;
    let app = webhook_app(|_| {}).await;
    let store = app.create_store().await;
    let other = app.create_store().await;
    let staff = app.staff(&store).await;
    let customer = app.customer().await;

    // Validation.
    for (body, field) in [
        (json!({"url": receiver.url("/x"), "events": []}), "events"),
        (
            json!({"url": receiver.url("/x"), "events": ["order.exploded"]}),
            "events[0]",
        ),
        (
            json!({"url": receiver.url("/x"), "events": ["*"], "store_id": "str_nope"}),
            "store_id",
        ),
    ] {
        let problem = expect_problem(
            app.admin_request(Method::POST, "/api/v1/webhooks")
                .json(&body),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&problem), [field], "{problem}");
    }
    expect_problem(
        app.admin_request(Method::POST, "/api/v1/webhooks")
            .json(&json!({"url": receiver.url("/x"), "events": ["*"], "colour": "red"})),
        422,
        "validation_failed",
    )
    .await;

    let created = register(
        &app,
        json!({"url": receiver.url("/a"), "events": ["order.created"], "description": "ERP"}),
    )
    .await;
    let id = id_of(&created);
    assert!(id.starts_with("whk_"));
    let secret = created["secret"].as_str().expect("secret").to_owned();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(created["enabled"], true);
    assert_eq!(created["store_id"], Value::Null);
    assert_eq!(created["description"], "ERP");
    assert_rfc3339_millis(&created["created_at"]);

    let (status, got) = app.admin_get(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, 200);
    assert!(got.get("secret").is_none(), "{got}");
    let (_, list) = app.admin_get("/api/v1/webhooks").await;
    assert_eq!(list["total"], 1);
    assert!(list["items"][0].get("secret").is_none());

    let (status, patched) = app
        .admin_patch(
            &format!("/api/v1/webhooks/{id}"),
            json!({"events": ["order.created", "order.status_changed"], "description": null}),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["events"],
        json!(["order.created", "order.status_changed"])
    );
    assert_eq!(patched["description"], Value::Null);
    assert!(patched.get("secret").is_none());
    let (status, _) = app
        .admin_patch(&format!("/api/v1/webhooks/{id}"), json!({"url": "http://"}))
        .await;
    assert_eq!(status, 422);

    let (status, rotated) = app
        .admin_post_empty(&format!("/api/v1/webhooks/{id}/rotate-secret"))
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new_secret = rotated["secret"].as_str().expect("secret");
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);

    // Staff: only their store, and must name it.
    let staff_token = Some(staff.token.as_str());
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/webhooks",
            staff_token,
            Some(json!({"url": receiver.url("/s"), "events": ["*"]})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/webhooks",
            staff_token,
            Some(json!({"url": receiver.url("/s"), "events": ["*"], "store_id": other})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, own) = app
        .call(
            Method::POST,
            "/api/v1/webhooks",
            staff_token,
            Some(json!({"url": receiver.url("/s"), "events": ["*"], "store_id": store})),
        )
        .await;
    assert_eq!(status, 201, "{own}");
    let other_hook = register(
        &app,
        json!({"url": receiver.url("/o"), "events": ["*"], "store_id": other}),
    )
    .await;
    let (_, list) = app
        .call(Method::GET, "/api/v1/webhooks", staff_token, None)
        .await;
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["id"], own["id"]);
    for hidden in [&id, &id_of(&other_hook)] {
        let (status, _) = app
            .call(
                Method::GET,
                &format!("/api/v1/webhooks/{hidden}"),
                staff_token,
                None,
            )
            .await;
        assert_eq!(status, 404);
        let (status, _) = app
            .call(
                Method::DELETE,
                &format!("/api/v1/webhooks/{hidden}"),
                staff_token,
                None,
            )
            .await;
        assert_eq!(status, 404);
    }
    let (_, admin_list) = app.admin_get("/api/v1/webhooks?per_page=2&page=2").await;
    assert_eq!(
        (
            admin_list["total"].clone(),
            admin_list["items"].as_array().map(Vec::len)
        ),
        (json!(3), Some(1))
    );

    // Customers and anonymous callers.
    let customer_token = Some(customer.token.as_str());
    let (status, _) = app
        .call(Method::GET, "/api/v1/webhooks", customer_token, None)
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/webhooks",
            customer_token,
            Some(json!({"url": receiver.url("/c"), "events": ["*"]})),
        )
        .await;
    assert_eq!(status, 403);
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            customer_token,
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.call(Method::GET, "/api/v1/webhooks", None, None).await;
    assert_eq!(status, 401);

    let (status, _) = app.admin_delete(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, 204);
    let (status, _) = app.admin_get(&format!("/api/v1/webhooks/{id}")).await;
    assert_eq!(status, 404);
    let (status, _) = app.admin_get("/api/v1/webhooks/whk_nope").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn every_event_arrives_in_order_across_two_kill_9_restarts_while_the_receiver_was_down() {
    // A free port for the receiver, which is down at first.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("emporium.toml");
    let schedule: Vec<String> = std::iter::once("0".to_owned())
        .chain(std::iter::repeat_n("0.2".to_owned(), 300))
        .collect();
    std::fs::write(
        &config,
        format!(
            "[webhooks]\nallow_private_targets = true\ntimeout_ms = 1000\nretry_schedule_seconds = [{}]\n",
            schedule.join(", ")
        ),
    )
    .expect("config");
    let data = dir.path().join("data");
    let config_arg = config.to_str().expect("utf-8 path");
    let client = reqwest::Client::new();

    let server = ServerProcess::start_with_args(&data, &["--config", config_arg], &[]);
    wait_ready(&client, server.addr).await;
    let store = create_store(&client, server.addr).await;
    let product = create_product(&client, server.addr, &store, 1000).await;
    let (status, hook) = send(
        client
            .post(format!("http://{}/api/v1/webhooks", server.addr))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"url": format!("http://{port}/in"), "events": ["stock.changed"], "store_id": store})),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    for _ in 0..100 {
        adjust_stock(&client, server.addr, &product, 1).await;
    }
    server.kill_9();

    let server = ServerProcess::start_with_args(&data, &["--config", config_arg], &[]);
    wait_ready(&client, server.addr).await;
    for _ in 0..100 {
        adjust_stock(&client, server.addr, &product, 1).await;
    }
    server.kill_9();

    let server = ServerProcess::start_with_args(&data, &["--config", config_arg], &[]);
    wait_ready(&client, server.addr).await;
    let receiver = Receiver::start_on(port, Arc::default()).await;
    eventually(Duration::from_secs(60), || async {
        let got = receiver.received();
        got.last()
            .is_some_and(|r| r.json()["data"]["on_hand"] == 1200)
    })
    .await;
    let got = receiver.received();
    let mut seen: Vec<(String, i64)> = Vec::new();
    for r in &got {
        let body = r.json();
        let id = body["id"].as_str().expect("id").to_owned();
        let on_hand = body["data"]["on_hand"].as_i64().expect("on_hand");
        match seen.iter().find(|(seen_id, _)| *seen_id == id) {
            Some((_, earlier)) => assert_eq!(*earlier, on_hand, "a duplicate keeps its id"),
            None => seen.push((id, on_hand)),
        }
    }
    let on_hand: Vec<i64> = seen.iter().map(|(_, n)| *n).collect();
    assert_eq!(
        on_hand,
        (1001..=1200).collect::<Vec<_>>(),
        "all 200, in order"
    );
    drop(server);
}
