//! `spawn_app()` starts a real server on port 0 with a temp data dir; the helpers below speak
//! to it over HTTP and WebSocket like any client would.
#![allow(dead_code)]

use emporium::config::Config;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::{
    future::Future,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, tungstenite::Message};

pub const ADMIN_TOKEN: &str = "test-admin-token";

/// A running in-process server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    dir: Option<TempDir>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

/// The configuration tests use: short TTLs, a known admin token, a temp data dir.
pub fn test_config(data_dir: &Path) -> Config {
    Config {
        data_dir: data_dir.to_path_buf(),
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        addr: "127.0.0.1:0".parse().expect("addr"),
        ..Config::default()
    }
}

/// Starts a server with the default test configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts a server after `tweak` adjusted its configuration.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_in(tempfile::tempdir().expect("temp dir"), tweak).await
}

/// Starts a server on an existing data dir. Not for a restart on the dir of a server stopped
/// in this process (its data-dir lock may outlive it here): restarts use [`ServerProcess`].
pub async fn spawn_app_in(dir: TempDir, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config(dir.path());
    tweak(&mut config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(emporium::run(config, listener, async {
        let _ = rx.await;
    }));
    // Ready, or the server's own error at once when it could not start (rather than a
    // readiness timeout that hides why).
    let client = reqwest::Client::new();
    let ready = format!("http://{addr}/readyz");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        if matches!(client.get(&ready).send().await, Ok(r) if r.status() == 200) {
            break;
        }
        if server.is_finished() {
            panic!(
                "the server stopped while starting: {:?}",
                (&mut server).await
            );
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the server was not ready within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    TestApp {
        addr,
        client,
        dir: Some(dir),
        shutdown: Some(tx),
        server: Some(server),
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/api/v1/ws", self.addr)
    }

    pub async fn wait_ready(&self) {
        wait_ready(&self.client, self.addr).await;
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.as_ref().expect("data dir").path()
    }

    /// Stops the server gracefully, waits for it, and hands back its data dir.
    pub async fn stop(mut self) -> TempDir {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let result = server.await.expect("server task");
            assert!(result.is_ok(), "server stopped with {result:?}");
        }
        self.dir.take().expect("data dir")
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        send(self.client.get(self.url(path))).await
    }

    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        send(self.client.get(self.url(path)).bearer_auth(ADMIN_TOKEN)).await
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, Value) {
        send(
            self.client
                .post(self.url(path))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body),
        )
        .await
    }

    pub async fn admin_post_empty(&self, path: &str) -> (u16, Value) {
        send(self.client.post(self.url(path)).bearer_auth(ADMIN_TOKEN)).await
    }

    pub async fn admin_patch(&self, path: &str, body: Value) -> (u16, Value) {
        send(
            self.client
                .patch(self.url(path))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body),
        )
        .await
    }

    pub async fn admin_put(&self, path: &str, body: Value) -> (u16, Value) {
        send(
            self.client
                .put(self.url(path))
                .bearer_auth(ADMIN_TOKEN)
                .json(&body),
        )
        .await
    }

    pub async fn admin_delete(&self, path: &str) -> (u16, Value) {
        send(self.client.delete(self.url(path)).bearer_auth(ADMIN_TOKEN)).await
    }

    /// Creates a USD retail store; returns its id.
    pub async fn create_store(&self) -> String {
        create_store(&self.client, self.addr).await
    }

    /// Creates a product with `stock` units; returns its id.
    pub async fn create_product(&self, store_id: &str, stock: i64) -> String {
        create_product(&self.client, self.addr, store_id, stock).await
    }

    pub async fn inventory(&self, product_id: &str) -> Value {
        let (status, body) = self
            .get(&format!("/api/v1/products/{product_id}/inventory"))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn ws(&self) -> Ws {
        Ws::connect(&self.ws_url()).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, body)
}

pub async fn wait_ready(client: &reqwest::Client, addr: SocketAddr) {
    let url = format!("http://{addr}/readyz");
    eventually(Duration::from_secs(30), || async {
        matches!(client.get(&url).send().await, Ok(r) if r.status() == 200)
    })
    .await;
}

pub async fn create_store(client: &reqwest::Client, addr: SocketAddr) -> String {
    let (status, body) = send(
        client
            .post(format!("http://{addr}/api/v1/stores"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"name": "Test Shop", "kind": "retail", "currency": "USD"})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

pub async fn create_product(
    client: &reqwest::Client,
    addr: SocketAddr,
    store_id: &str,
    stock: i64,
) -> String {
    let sku = format!("SKU-{}", rand_suffix());
    let (status, body) = send(
        client
            .post(format!("http://{addr}/api/v1/products"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({
                "store_id": store_id, "sku": sku, "name": "Test Product",
                "price": {"amount": 1999, "currency": "USD"}, "initial_stock": stock
            })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

pub fn rand_suffix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Polls `check` until it returns true or `timeout` passes (then panics).
pub async fn eventually<F, Fut>(timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {timeout:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A WebSocket client speaking the JSON protocol.
pub struct Ws {
    pub stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Ws {
    pub async fn connect(url: &str) -> Self {
        let (stream, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        Self { stream }
    }

    pub async fn send_json(&mut self, value: Value) {
        self.stream
            .send(Message::Text(value.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, text: &str) {
        self.stream
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("send");
    }

    /// The next JSON text frame (panics after 5 s or on close).
    pub async fn next_json(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), self.stream.next())
                .await
                .expect("a frame within 5 s")
                .expect("stream open")
                .expect("frame ok");
            match frame {
                Message::Text(text) => return serde_json::from_str(&text).expect("json frame"),
                Message::Close(close) => panic!("connection closed: {close:?}"),
                _ => continue,
            }
        }
    }

    /// Subscribes and returns the `subscribed` reply.
    pub async fn subscribe(&mut self, topic: &str) -> Value {
        self.send_json(json!({"op": "subscribe", "topic": topic}))
            .await;
        let reply = self.next_json().await;
        assert_eq!(reply["type"], "subscribed", "{reply}");
        reply
    }

    /// Reads frames until the server closes; returns the close code.
    pub async fn close_code(&mut self, within: Duration) -> Option<u16> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, self.stream.next()).await {
                Ok(Some(Ok(Message::Close(Some(frame))))) => return Some(frame.code.into()),
                Ok(Some(Ok(Message::Close(None)))) | Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(_))) => continue,
                Err(_) => panic!("no close within {within:?}"),
            }
        }
    }
}

/// The real `emporium` binary as a child process (for kill -9 tests).
pub struct ServerProcess {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
}

impl ServerProcess {
    /// Starts the binary on port 0 with `data_dir` and waits for its `listening on` line.
    pub fn start(data_dir: &Path, extra_env: &[(&str, &str)]) -> Self {
        Self::start_with_args(data_dir, &[], extra_env)
    }

    /// Like [`ServerProcess::start`] with extra command-line arguments.
    pub fn start_with_args(data_dir: &Path, args: &[&str], extra_env: &[(&str, &str)]) -> Self {
        use std::io::{BufRead, BufReader};
        let mut command = Command::new(env!("CARGO_BIN_EXE_emporium"));
        command
            .args(["--addr", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(args)
            .env("EMPORIUM_ADMIN_TOKEN", ADMIN_TOKEN)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in extra_env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("start emporium");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("server printed a line")
                .expect("readable line");
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().expect("address");
                break addr.parse().expect("socket address");
            }
        };
        // Keep draining the log so the child never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            addr,
            data_dir: data_dir.to_path_buf(),
        }
    }

    /// SIGTERM, then waits (at most 10 s) for a clean exit: everything flushed.
    pub fn terminate(mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -TERM {pid}");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running 10 s after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "exit status after SIGTERM: {status}");
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill_9(mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---- Problem answers, reservations and JSON bodies (stores/products/reservations/errors) ----

/// Sends a request; returns the status, the media type of `Content-Type` (without parameters)
/// and the body as JSON (or as a JSON string when it is not JSON).
pub async fn send_typed(request: reqwest::RequestBuilder) -> (u16, String, Value) {
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_owned())
        .unwrap_or_default();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, content_type, body)
}

/// Sends a request and asserts an `application/problem+json` answer with `status` and `code`
/// (and the RFC 9457 members `status`, `title`, `detail`); returns the problem document.
pub async fn expect_problem(request: reqwest::RequestBuilder, status: u16, code: &str) -> Value {
    let (got, content_type, body) = send_typed(request).await;
    assert_eq!(got, status, "unexpected status; body: {body}");
    assert_eq!(
        content_type, "application/problem+json",
        "problem answers must be problem+json; body: {body}"
    );
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert!(body["detail"].is_string(), "{body}");
    body
}

/// The `field` of every entry of a 422 problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors array in {problem}"))
        .iter()
        .map(|e| e["field"].as_str().expect("field").to_owned())
        .collect()
}

impl TestApp {
    /// A request with the admin token.
    pub fn admin_request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN)
    }

    /// `POST /reservations` for `items` (product id, quantity) with an optional TTL.
    pub async fn reserve(&self, items: &[(&str, i64)], ttl_seconds: Option<u64>) -> (u16, Value) {
        let items: Vec<Value> = items
            .iter()
            .map(|(product_id, quantity)| json!({"product_id": product_id, "quantity": quantity}))
            .collect();
        let mut body = json!({ "items": items });
        if let Some(ttl) = ttl_seconds {
            body["ttl_seconds"] = json!(ttl);
        }
        self.admin_post("/api/v1/reservations", body).await
    }

    /// Reserves `items` and asserts 201; returns the reservation id.
    pub async fn reserve_ok(&self, items: &[(&str, i64)], ttl_seconds: Option<u64>) -> String {
        let (status, body) = self.reserve(items, ttl_seconds).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().expect("reservation id").to_owned()
    }
}

/// Asserts an RFC 3339 UTC timestamp with milliseconds (`2026-11-21T23:04:19.123Z`).
pub fn assert_rfc3339_millis(value: &Value) {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("{value} is no string"));
    assert_eq!(text.len(), 24, "{text}");
    assert!(text.ends_with('Z'), "{text}");
    assert_eq!(&text[19..20], ".", "{text}");
    assert!(chrono::DateTime::parse_from_rfc3339(text).is_ok(), "{text}");
}

// ---- Helpers for the WebSocket and durability tests (they take an address, so they work
// ---- with both `TestApp` and `ServerProcess`).

/// `POST /products/{id}/inventory/adjustments`; asserts 200 and returns the inventory.
pub async fn adjust_stock(
    client: &reqwest::Client,
    addr: SocketAddr,
    product_id: &str,
    delta: i64,
) -> Value {
    let reason = if delta > 0 { "restock" } else { "correction" };
    let (status, body) = send(
        client
            .post(format!(
                "http://{addr}/api/v1/products/{product_id}/inventory/adjustments"
            ))
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"delta": delta, "reason": reason})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// `POST /reservations` holding `quantity` of one product; asserts 201 and returns it.
pub async fn reserve_stock(
    client: &reqwest::Client,
    addr: SocketAddr,
    product_id: &str,
    quantity: i64,
    ttl_seconds: Option<u64>,
) -> Value {
    let mut body = json!({"items": [{"product_id": product_id, "quantity": quantity}]});
    if let Some(ttl) = ttl_seconds {
        body["ttl_seconds"] = json!(ttl);
    }
    let (status, body) = send(
        client
            .post(format!("http://{addr}/api/v1/reservations"))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body
}

/// `POST /reservations/{id}/{action}` (commit, release); asserts 200 and returns it.
pub async fn reservation_action(
    client: &reqwest::Client,
    addr: SocketAddr,
    reservation_id: &str,
    action: &str,
) -> Value {
    let (status, body) = send(
        client
            .post(format!(
                "http://{addr}/api/v1/reservations/{reservation_id}/{action}"
            ))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{action}: {body}");
    body
}

/// `GET /products/{id}/inventory`; asserts 200.
pub async fn inventory_at(client: &reqwest::Client, addr: SocketAddr, product_id: &str) -> Value {
    let (status, body) = send(client.get(format!(
        "http://{addr}/api/v1/products/{product_id}/inventory"
    )))
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

impl Ws {
    /// The next frame, which must be an `event`.
    pub async fn next_event(&mut self) -> Value {
        let frame = self.next_json().await;
        assert_eq!(frame["type"], "event", "expected an event, got {frame}");
        frame
    }

    /// Subscribes with a resume point; returns the `subscribed` reply.
    pub async fn subscribe_since(&mut self, topic: &str, epoch: &str, seq: u64) -> Value {
        self.send_json(json!({
            "op": "subscribe", "topic": topic, "since": {"epoch": epoch, "seq": seq}
        }))
        .await;
        let reply = self.next_json().await;
        assert_eq!(reply["type"], "subscribed", "{reply}");
        reply
    }

    /// Asserts that nothing is queued for this client: a ping's pong is the very next frame.
    pub async fn assert_nothing_pending(&mut self) {
        self.send_json(json!({"op": "ping", "ref": "drain-check"}))
            .await;
        let frame = self.next_json().await;
        assert_eq!(
            frame,
            json!({"type": "pong", "ref": "drain-check"}),
            "expected nothing before the pong"
        );
    }

    /// Connects through a socket with a tiny receive buffer, so a client that stops reading
    /// backs up the server after a few frames.
    pub async fn connect_small_buffer(url: &str, addr: SocketAddr) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .set_recv_buffer_size(2048)
            .expect("small receive buffer");
        let tcp = socket.connect(addr).await.expect("tcp connects");
        let (stream, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(tcp))
            .await
            .expect("websocket connects");
        Self { stream }
    }
}

// ---- Accounts (auth tests): registering, logging in and acting with a user's token.

/// The password the account helpers give every user they create.
pub const USER_PASSWORD: &str = "correct horse battery";

impl TestApp {
    /// A request with `token` as bearer (none: anonymous).
    pub fn request_as(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let request = self.client.request(method, self.url(path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// `POST /auth/register`; answers status and body.
    pub async fn register(&self, email: &str, password: &str, name: &str) -> (u16, Value) {
        send(
            self.client
                .post(self.url("/api/v1/auth/register"))
                .json(&json!({"email": email, "password": password, "name": name})),
        )
        .await
    }

    /// `POST /auth/login`; answers status and body.
    pub async fn login(&self, email: &str, password: &str) -> (u16, Value) {
        send(
            self.client
                .post(self.url("/api/v1/auth/login"))
                .json(&json!({"email": email, "password": password})),
        )
        .await
    }

    /// Registers a fresh customer; returns the 201 session body.
    pub async fn new_customer(&self) -> Value {
        let email = format!("customer-{}@example.com", rand_suffix());
        let (status, body) = self.register(&email, USER_PASSWORD, "Cus Tomer").await;
        assert_eq!(status, 201, "{body}");
        body
    }

    /// Creates (with the admin token) a user of `role`, logs in, and returns the session body.
    pub async fn new_user(&self, role: &str, store_id: Option<&str>) -> Value {
        let email = format!("{role}-{}@example.com", rand_suffix());
        let mut body = json!({
            "email": email, "password": USER_PASSWORD, "name": format!("A {role}"), "role": role
        });
        if let Some(store_id) = store_id {
            body["store_id"] = json!(store_id);
        }
        let (status, created) = self.admin_post("/api/v1/users", body).await;
        assert_eq!(status, 201, "{created}");
        let (status, session) = self.login(&email, USER_PASSWORD).await;
        assert_eq!(status, 200, "{session}");
        session
    }
}

/// The access token of a session body.
pub fn access_token(session: &Value) -> String {
    session["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access_token in {session}"))
        .to_owned()
}

/// The refresh token of a session body.
pub fn refresh_token(session: &Value) -> String {
    session["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no refresh_token in {session}"))
        .to_owned()
}

// ---- Carts and orders (carts/orders tests): calls with a user's token, checkout, ledger.

/// The `id` of a JSON object.
pub fn id_of(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {value}"))
        .to_owned()
}

/// A logged-in user: id and access token.
#[derive(Clone, Debug)]
pub struct Shopper {
    pub id: String,
    pub token: String,
}

impl Shopper {
    fn from_session(session: &Value) -> Self {
        Self {
            id: session["user"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("no user id in {session}"))
                .to_owned(),
            token: access_token(session),
        }
    }
}

impl TestApp {
    /// Registers a fresh customer.
    pub async fn customer(&self) -> Shopper {
        Shopper::from_session(&self.new_customer().await)
    }

    /// Creates a staff member of `store_id` (admin `POST /users`) and logs them in.
    pub async fn staff(&self, store_id: &str) -> Shopper {
        Shopper::from_session(&self.new_user("staff", Some(store_id)).await)
    }

    /// A JSON request with `token` (none: anonymous); answers status and body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let request = self.request_as(method, path, token);
        send(match body {
            Some(body) => request.json(&body),
            None => request,
        })
        .await
    }

    /// `POST /carts`; asserts 201 and returns the cart.
    pub async fn create_cart(&self, token: Option<&str>) -> Value {
        let (status, cart) = self
            .call(reqwest::Method::POST, "/api/v1/carts", token, None)
            .await;
        assert_eq!(status, 201, "{cart}");
        cart
    }

    /// `PUT /carts/{id}/items/{product}`; answers status and body.
    pub async fn set_cart_item(
        &self,
        cart_id: &str,
        product_id: &str,
        quantity: i64,
        token: Option<&str>,
    ) -> (u16, Value) {
        self.call(
            reqwest::Method::PUT,
            &format!("/api/v1/carts/{cart_id}/items/{product_id}"),
            token,
            Some(json!({ "quantity": quantity })),
        )
        .await
    }

    /// A cart of `token`'s user holding `quantity` of `product_id`; returns the cart id.
    pub async fn cart_with(&self, token: &str, product_id: &str, quantity: i64) -> String {
        let cart = id_of(&self.create_cart(Some(token)).await);
        let (status, body) = self
            .set_cart_item(&cart, product_id, quantity, Some(token))
            .await;
        assert_eq!(status, 200, "{body}");
        cart
    }

    /// `GET /carts/{id}`; answers status and body.
    pub async fn get_cart(&self, cart_id: &str, token: Option<&str>) -> (u16, Value) {
        self.call(
            reqwest::Method::GET,
            &format!("/api/v1/carts/{cart_id}"),
            token,
            None,
        )
        .await
    }

    /// `POST /orders` checking out `cart_id` with the card `card`; answers status and body.
    pub async fn checkout(&self, token: &str, cart_id: &str, card: &str) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            "/api/v1/orders",
            Some(token),
            Some(json!({"cart_id": cart_id, "payment": {"method": "card", "token": card}})),
        )
        .await
    }

    /// `GET /orders/{id}` with `token`; answers status and body.
    pub async fn get_order(&self, order_id: &str, token: Option<&str>) -> (u16, Value) {
        self.call(
            reqwest::Method::GET,
            &format!("/api/v1/orders/{order_id}"),
            token,
            None,
        )
        .await
    }

    /// `PUT /orders/{id}/status` with `token`; answers status and body.
    pub async fn set_order_status(&self, order_id: &str, to: &str, token: &str) -> (u16, Value) {
        self.call(
            reqwest::Method::PUT,
            &format!("/api/v1/orders/{order_id}/status"),
            Some(token),
            Some(json!({ "status": to })),
        )
        .await
    }

    /// `POST /orders/{id}/cancel` with `token`; answers status and body.
    pub async fn cancel_order(&self, order_id: &str, token: &str) -> (u16, Value) {
        self.call(
            reqwest::Method::POST,
            &format!("/api/v1/orders/{order_id}/cancel"),
            Some(token),
            Some(json!({"reason": "changed my mind"})),
        )
        .await
    }

    /// The provider's ledger entries of `order_id` (admin).
    pub async fn ledger(&self, order_id: &str) -> Vec<Value> {
        payments_ledger(&self.client, self.addr, order_id).await
    }

    /// The product's stock movements, newest first (admin, up to 100).
    pub async fn movements(&self, product_id: &str) -> Vec<Value> {
        movements_at(&self.client, self.addr, product_id).await
    }

    /// Opens a WebSocket authenticated with `token`.
    pub async fn ws_as(&self, token: &str) -> Ws {
        Ws::connect(&format!("{}?token={token}", self.ws_url())).await
    }
}

/// `GET /admin/payments?order_id=…`; asserts 200 and returns the entries.
pub async fn payments_ledger(
    client: &reqwest::Client,
    addr: SocketAddr,
    order_id: &str,
) -> Vec<Value> {
    let (status, body) = send(
        client
            .get(format!("http://{addr}/api/v1/admin/payments"))
            .query(&[("order_id", order_id), ("per_page", "100")])
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {body}"))
        .clone()
}

/// `GET /products/{id}/inventory/movements?per_page=100` (admin); the items, newest first.
pub async fn movements_at(
    client: &reqwest::Client,
    addr: SocketAddr,
    product_id: &str,
) -> Vec<Value> {
    let (status, body) = send(
        client
            .get(format!(
                "http://{addr}/api/v1/products/{product_id}/inventory/movements?per_page=100"
            ))
            .bearer_auth(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {body}"))
        .clone()
}

/// The entries of `kind` (`charge`, `refund`) in a ledger listing.
pub fn ledger_kinds(entries: &[Value], kind: &str) -> usize {
    entries.iter().filter(|e| e["kind"] == kind).count()
}

impl Ws {
    /// Subscribes to `topic` and returns the reply, whatever it is (`subscribed` or `error`).
    pub async fn try_subscribe(&mut self, topic: &str) -> Value {
        self.send_json(json!({"op": "subscribe", "topic": topic}))
            .await;
        self.next_json().await
    }
}

impl TestApp {
    /// A handle on a server running elsewhere (e.g. a [`ServerProcess`]), so the request
    /// helpers above work against it too. It owns no data dir and stops nothing.
    pub fn remote(addr: SocketAddr) -> Self {
        Self {
            addr,
            client: reqwest::Client::new(),
            dir: None,
            shutdown: None,
            server: None,
        }
    }
}

/// Time from now until `grace_ms` after the RFC 3339 instant `expires_at` (zero if past):
/// the timeout for polling a "within N ms of expiry" promise.
pub fn until_after(expires_at: &Value, grace_ms: i64) -> Duration {
    let at = expires_at
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("{expires_at} is no RFC 3339 instant"));
    (at.with_timezone(&chrono::Utc) + chrono::Duration::milliseconds(grace_ms) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default()
}

/// The address of the binary's `listening on http://…` line, read from its JSON log lines
/// (`EMPORIUM_LOG_FORMAT=json`); the lines before it are dropped.
pub fn listening_addr(log: &std::sync::mpsc::Receiver<Value>) -> String {
    loop {
        let line = log
            .recv_timeout(Duration::from_secs(20))
            .expect("a log line within 20 s");
        if let Some(rest) = line["message"]
            .as_str()
            .and_then(|m| m.strip_prefix("listening on http://"))
        {
            return rest.to_owned();
        }
    }
}

/// Four writers adjust +1 until the server is killed under them; returns (acknowledged,
/// attempted).
pub async fn adjust_until_killed(
    server: ServerProcess,
    product: &str,
    at_least: i64,
    start_on_hand: i64,
) -> (i64, i64) {
    let client = reqwest::Client::new();
    let addr = server.addr;
    // Acknowledgements the writers have read in full, all together: the kill waits for
    // these (the server's own count may run ahead of replies still in flight).
    let read = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|_| {
            let (client, product) = (client.clone(), product.to_owned());
            let read = std::sync::Arc::clone(&read);
            tokio::spawn(async move {
                let (mut acknowledged, mut attempted) = (0i64, 0i64);
                loop {
                    attempted += 1;
                    let response = client
                        .post(format!(
                            "http://{addr}/api/v1/products/{product}/inventory/adjustments"
                        ))
                        .bearer_auth(ADMIN_TOKEN)
                        .json(&json!({"delta": 1, "reason": "restock"}))
                        .send()
                        .await;
                    let ok = match response {
                        Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                        _ => false,
                    };
                    if !ok {
                        return (acknowledged, attempted);
                    }
                    acknowledged += 1;
                    read.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            })
        })
        .collect();
    eventually(Duration::from_secs(20), || async {
        read.load(std::sync::atomic::Ordering::SeqCst) >= at_least
            && inventory_at(&client, addr, product).await["on_hand"]
                .as_i64()
                .is_some_and(|n| n >= start_on_hand + at_least)
    })
    .await;
    server.kill_9();
    let (mut acknowledged, mut attempted) = (0, 0);
    for writer in writers {
        let (a, t) = writer.await.expect("writer");
        acknowledged += a;
        attempted += t;
    }
    (acknowledged, attempted)
}

/// The text of a server's `/metrics`.
pub async fn metrics_text(client: &reqwest::Client, addr: SocketAddr) -> String {
    let response = client
        .get(format!("http://{addr}/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(response.status(), 200);
    response.text().await.expect("metrics text")
}

/// The value of `series` (name plus labels, exactly as exposed) in a `/metrics` text.
pub fn metric_sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}
