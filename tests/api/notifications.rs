//! Emails (docs/API.md §12) against a real SMTP server in the test process: mailin's SMTP
//! state machine on a tokio listener, each received message parsed with mail-parser.

use crate::helpers::{
    ADMIN_TOKEN, ServerProcess, TestApp, USER_PASSWORD, access_token, create_product, create_store,
    eventually, id_of, rand_suffix, refresh_token, send, spawn_app_with, wait_ready,
};
use crate::observability::check_answer;
use serde_json::{Value, json};
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

const WAIT: Duration = Duration::from_secs(15);

/// One message the SMTP server accepted.
#[derive(Clone, Debug)]
pub(crate) struct Mail {
    pub(crate) to: Vec<String>,
    pub(crate) subject: String,
    pub(crate) text: String,
    pub(crate) html: String,
    pub(crate) message_id: String,
}

/// Collects messages of one SMTP session.
#[derive(Clone)]
struct Capture {
    to: Vec<String>,
    data: Vec<u8>,
    mails: Arc<Mutex<Vec<Mail>>>,
}

impl mailin::Handler for Capture {
    fn data_start(
        &mut self,
        _domain: &str,
        _from: &str,
        _is8bit: bool,
        to: &[String],
    ) -> mailin::Response {
        self.to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }

    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> mailin::Response {
        let message = mail_parser::MessageParser::default()
            .parse(&self.data)
            .expect("a parsable message");
        let mail = Mail {
            to: self.to.clone(),
            subject: message.subject().unwrap_or_default().to_owned(),
            text: message.body_text(0).unwrap_or_default().into_owned(),
            html: message.body_html(0).unwrap_or_default().into_owned(),
            message_id: message.message_id().unwrap_or_default().to_owned(),
        };
        self.mails.lock().expect("mails").push(mail);
        mailin::response::OK
    }
}

/// A real SMTP server on localhost that keeps what it receives.
pub(crate) struct SmtpServer {
    addr: SocketAddr,
    mails: Arc<Mutex<Vec<Mail>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpServer {
    pub(crate) async fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().expect("addr")).await
    }

    async fn start_on(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind smtp");
        let addr = listener.local_addr().expect("addr");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let capture = Capture {
            to: Vec::new(),
            data: Vec::new(),
            mails: Arc::clone(&mails),
        };
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    return;
                };
                let capture = capture.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut read = BufReader::new(read);
                    let mut session =
                        mailin::SessionBuilder::new("test-smtp").build(peer.ip(), capture);
                    let greeting = session.greeting().buffer().expect("greeting");
                    if write.write_all(&greeting).await.is_err() {
                        return;
                    }
                    let mut line = Vec::new();
                    loop {
                        line.clear();
                        match read.read_until(b'\n', &mut line).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        let response = session.process(&line);
                        if response.action != mailin::Action::NoReply {
                            let bytes = response.buffer().expect("response");
                            if write.write_all(&bytes).await.is_err() {
                                return;
                            }
                        }
                        if response.action == mailin::Action::Close {
                            return;
                        }
                    }
                });
            }
        });
        Self { addr, mails, task }
    }

    pub(crate) fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    fn mails(&self) -> Vec<Mail> {
        self.mails.lock().expect("mails").clone()
    }

    pub(crate) fn mails_to(&self, address: &str) -> Vec<Mail> {
        self.mails()
            .into_iter()
            .filter(|m| m.to.iter().any(|to| to == address))
            .collect()
    }

    /// Waits until `address` has received a message whose subject contains `subject`.
    pub(crate) async fn wait_for(&self, address: &str, subject: &str) -> Mail {
        eventually(WAIT, || async {
            self.mails_to(address)
                .iter()
                .any(|m| m.subject.contains(subject))
        })
        .await;
        self.mails_to(address)
            .into_iter()
            .find(|m| m.subject.contains(subject))
            .expect("the mail")
    }
}

/// A server sending to `smtp`, with quick retries.
pub(crate) async fn app_with_smtp(smtp_url: String) -> TestApp {
    spawn_app_with(|c| {
        c.notifications.smtp_url = Some(smtp_url);
        c.notifications.retry_base_ms = 50;
    })
    .await
}

/// Registers `email`; returns the session.
async fn register(app: &TestApp, email: &str) -> Value {
    let (status, session) = app.register(email, USER_PASSWORD, "Ada Lovelace").await;
    assert_eq!(status, 201, "{session}");
    session
}

pub(crate) fn fresh_email(tag: &str) -> String {
    format!("{tag}-{}@example.com", rand_suffix())
}

/// The `token` query value of the first `…?token=` link in `text`.
fn token_in(text: &str, path: &str) -> String {
    let start = text
        .find(&format!("{path}?token="))
        .unwrap_or_else(|| panic!("no {path} link in {text}"))
        + path.len()
        + "?token=".len();
    text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && *c != '"' && *c != '<')
        .collect()
}

/// A store, a product with `stock` units, and a confirmed order of one of them by a new
/// customer registered as `email`; returns (store, customer token, order).
pub(crate) async fn confirmed_order(
    app: &TestApp,
    email: &str,
    stock: i64,
) -> (String, String, Value) {
    let store = app.create_store().await;
    let product = app.create_product(&store, stock).await;
    let token = access_token(&register(app, email).await);
    let cart = app.cart_with(&token, &product, 1).await;
    let (status, order) = app.checkout(&token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    (store, token, order)
}

/// `GET /notifications?{query}` with `token`.
async fn notifications(app: &TestApp, query: &str, token: Option<&str>) -> (u16, Value) {
    send(app.request_as(
        reqwest::Method::GET,
        &format!("/api/v1/notifications?{query}"),
        token,
    ))
    .await
}

/// The notification list items of `query` as the admin sees them.
async fn admin_items(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, page) = notifications(app, query, Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn a_confirmed_order_sends_exactly_one_order_confirmation_email_also_when_replayed_after_kill_9()
 {
    let smtp = SmtpServer::start().await;
    let dir = tempfile::tempdir().expect("dir");
    let smtp_url = smtp.url();
    let env = [
        ("EMPORIUM_NOTIFICATIONS__SMTP_URL", smtp_url.as_str()),
        ("EMPORIUM_NOTIFICATIONS__RETRY_BASE_MS", "50"),
    ];
    let client = reqwest::Client::new();
    let server = ServerProcess::start(dir.path(), &env);
    let addr = server.addr;
    wait_ready(&client, addr).await;
    let store = create_store(&client, addr).await;
    let product = create_product(&client, addr, &store, 5).await;
    let email = fresh_email("buyer");
    let (status, session) = send(
        client
            .post(format!("http://{addr}/api/v1/auth/register"))
            .json(&json!({"email": email, "password": USER_PASSWORD, "name": "Ada Lovelace"})),
    )
    .await;
    assert_eq!(status, 201, "{session}");
    let (status, order) = send(
        client
            .post(format!("http://{addr}/api/v1/orders"))
            .bearer_auth(access_token(&session))
            .json(&json!({
                "store_id": store,
                "items": [{"product_id": product, "quantity": 1}],
                "payment": {"method": "card", "token": "tok_visa"},
            })),
    )
    .await;
    assert_eq!(status, 201, "{order}");
    let number = order["number"].as_str().expect("number").to_owned();
    let mail = smtp.wait_for(&email, "confirmed").await;
    assert!(mail.subject.contains(&number), "{mail:?}");
    assert!(mail.text.contains(&number), "{}", mail.text);
    assert!(
        mail.text.contains("19.99 USD"),
        "money in its currency: {}",
        mail.text
    );
    assert!(mail.text.contains("Test Product"), "{}", mail.text);
    assert!(mail.html.contains(&number), "{}", mail.html);
    assert!(mail.message_id.starts_with("ntf_"), "{mail:?}");
    let order_id = id_of(&order);
    let query = format!("ref={order_id}&template=order_confirmation");
    let listed = |addr: SocketAddr| {
        let client = client.clone();
        let query = query.clone();
        async move {
            let (status, page) = send(
                client
                    .get(format!("http://{addr}/api/v1/notifications?{query}"))
                    .bearer_auth(ADMIN_TOKEN),
            )
            .await;
            assert_eq!(status, 200, "{page}");
            page["items"].as_array().expect("items").clone()
        }
    };
    eventually(WAIT, || async {
        let items = listed(addr).await;
        items.len() == 1 && items[0]["status"] == "sent"
    })
    .await;

    server.kill_9();
    // The worst moment of a crash: notifications made, the consumer's cursor not yet saved.
    // Moving the cursor back makes the restarted consumer read every record again.
    {
        let data_dir =
            emporium::persistence::data_dir::DataDir::open(dir.path()).expect("data dir");
        let storage = emporium::persistence::Storage::open_in(&data_dir, Default::default())
            .expect("storage");
        storage.set_cursor("notifications", 0).expect("cursor");
    }
    let server = ServerProcess::start(dir.path(), &env);
    let addr = server.addr;
    wait_ready(&client, addr).await;
    // Something new after the restart goes out, so the consumer has run past the old records.
    let later = fresh_email("later");
    let (status, _) = send(
        client
            .post(format!("http://{addr}/api/v1/auth/register"))
            .json(&json!({"email": later, "password": USER_PASSWORD, "name": "Later"})),
    )
    .await;
    assert_eq!(status, 201);
    smtp.wait_for(&later, "Welcome").await;
    let confirmations: Vec<_> = smtp
        .mails_to(&email)
        .into_iter()
        .filter(|m| m.subject.contains("confirmed"))
        .collect();
    assert_eq!(confirmations.len(), 1, "{confirmations:?}");
    let items = listed(addr).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["status"], "sent");
}

#[tokio::test]
async fn emails_made_while_the_smtp_server_is_down_are_retried_and_sent_once_each() {
    // A port with nothing listening on it (yet).
    let addr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr")
    };
    let app = app_with_smtp(format!("smtp://{addr}")).await;
    let first = fresh_email("first");
    let second = fresh_email("second");
    register(&app, &first).await;
    register(&app, &second).await;
    eventually(WAIT, || async {
        let items = admin_items(&app, "template=welcome").await;
        items.len() == 2
            && items.iter().all(|n| {
                n["status"] == "queued"
                    && n["attempts"].as_u64() >= Some(1)
                    && n["last_error"].is_string()
            })
    })
    .await;

    let smtp = SmtpServer::start_on(addr).await;
    smtp.wait_for(&first, "Welcome").await;
    smtp.wait_for(&second, "Welcome").await;
    eventually(WAIT, || async {
        let items = admin_items(&app, "template=welcome&status=sent").await;
        items.len() == 2 && items.iter().all(|n| n["sent_at"].is_string())
    })
    .await;
    // A while later still once each.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(smtp.mails_to(&first).len(), 1);
    assert_eq!(smtp.mails_to(&second).len(), 1);
}

/// `POST /auth/password-reset/confirm`.
async fn confirm_reset(app: &TestApp, token: &str, password: &str) -> (u16, Value) {
    send(
        app.client
            .post(app.url("/api/v1/auth/password-reset/confirm"))
            .json(&json!({"token": token, "password": password})),
    )
    .await
}

/// `POST /auth/password-reset`.
async fn ask_reset(app: &TestApp, email: &str) -> u16 {
    send(
        app.client
            .post(app.url("/api/v1/auth/password-reset"))
            .json(&json!({ "email": email })),
    )
    .await
    .0
}

#[tokio::test]
async fn a_password_reset_link_from_the_email_sets_a_new_password_once_and_ends_sessions() {
    let smtp = SmtpServer::start().await;
    let app = app_with_smtp(smtp.url()).await;
    let email = fresh_email("forgetful");
    let session = register(&app, &email).await;
    assert_eq!(ask_reset(&app, &email.to_uppercase()).await, 202);
    let mail = smtp.wait_for(&email, "Reset").await;
    let token = token_in(&mail.text, "/reset-password");
    // (HTML escaping writes the link's slashes as `&#x2f;`, which browsers read as `/`.)
    assert!(mail.html.contains("reset-password?token="), "{}", mail.html);

    let (status, user) = confirm_reset(&app, &token, "a brand new password").await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["email"], email);
    let (status, _) = app.login(&email, "a brand new password").await;
    assert_eq!(status, 200);
    let (status, _) = app.login(&email, USER_PASSWORD).await;
    assert_eq!(status, 401);
    // The old refresh token was revoked.
    let (status, _) = send(
        app.client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": refresh_token(&session)})),
    )
    .await;
    assert_eq!(status, 401);
    // The link works once.
    let (status, body) = confirm_reset(&app, &token, "yet another password").await;
    assert_eq!(status, 401, "{body}");
    // A forged or unknown token.
    let (status, _) = confirm_reset(&app, &format!("{token}x"), "yet another password").await;
    assert_eq!(status, 401);
    let (status, _) = confirm_reset(&app, "pwr_nothing.AAAA", "yet another password").await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn an_expired_password_reset_link_is_refused_and_a_short_password_is_a_422() {
    let smtp = SmtpServer::start().await;
    let app = spawn_app_with(|c| {
        c.notifications.smtp_url = Some(smtp.url());
        // Expired the moment it is made.
        c.auth.password_reset_ttl_seconds = 0;
    })
    .await;
    let email = fresh_email("late");
    register(&app, &email).await;
    assert_eq!(ask_reset(&app, &email).await, 202);
    let mail = smtp.wait_for(&email, "Reset").await;
    let token = token_in(&mail.text, "/reset-password");
    let (status, body) = confirm_reset(&app, &token, "a brand new password").await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = confirm_reset(&app, &token, "short").await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = app.login(&email, USER_PASSWORD).await;
    assert_eq!(status, 200, "the password did not change");
}

#[tokio::test]
async fn a_password_reset_for_an_unknown_email_answers_202_and_sends_nothing() {
    let smtp = SmtpServer::start().await;
    let app = app_with_smtp(smtp.url()).await;
    let nobody = fresh_email("nobody");
    assert_eq!(ask_reset(&app, &nobody).await, 202);
    // Made after the reset request: once its email is out, the request was long handled.
    let someone = fresh_email("someone");
    register(&app, &someone).await;
    smtp.wait_for(&someone, "Welcome").await;
    assert!(smtp.mails_to(&nobody).is_empty());
    assert!(
        admin_items(&app, "template=password_reset")
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn the_verification_link_of_the_welcome_email_verifies_the_user() {
    let smtp = SmtpServer::start().await;
    let app = app_with_smtp(smtp.url()).await;
    let email = fresh_email("new");
    let session = register(&app, &email).await;
    assert_eq!(session["user"]["email_verified"], false);
    let mail = smtp.wait_for(&email, "Welcome").await;
    assert!(mail.text.contains("Ada Lovelace"), "{}", mail.text);
    let token = token_in(&mail.text, "/verify");
    assert!(
        mail.text
            .contains(&format!("http://{}/verify?token=", app.addr)),
        "{}",
        mail.text
    );

    let verify = |token: String| {
        send(
            app.client
                .post(app.url("/api/v1/auth/verify-email"))
                .json(&json!({ "token": token })),
        )
    };
    let (status, user) = verify(format!("{token}x")).await;
    assert_eq!(status, 401, "{user}");
    let (status, user) = verify(token.clone()).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["email_verified"], true);
    let (status, me) = send(app.request_as(
        reqwest::Method::GET,
        "/api/v1/me",
        Some(&access_token(&session)),
    ))
    .await;
    assert_eq!(status, 200);
    assert_eq!(me["email_verified"], true);
    // The storefront has a page for the link.
    let page = app
        .client
        .get(app.url(&format!("/verify?token={token}")))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status(), 200);
}

#[tokio::test]
async fn an_opted_out_order_status_email_is_suppressed_while_confirmations_still_go() {
    let smtp = SmtpServer::start().await;
    let app = app_with_smtp(smtp.url()).await;
    let email = fresh_email("quiet");
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let token = access_token(&register(&app, &email).await);
    let prefs = |body: Option<Value>| {
        let method = if body.is_some() {
            reqwest::Method::PUT
        } else {
            reqwest::Method::GET
        };
        let request = app.request_as(method, "/api/v1/me/notification-preferences", Some(&token));
        send(match body {
            Some(body) => request.json(&body),
            None => request,
        })
    };
    let (status, current) = prefs(None).await;
    assert_eq!(status, 200);
    assert_eq!(
        current,
        json!({"order_updates": true, "review_requests": true, "low_stock": true})
    );
    let (status, updated) = prefs(Some(json!({"order_updates": false}))).await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["order_updates"], false);
    assert_eq!(updated["review_requests"], true);
    let (status, _) = prefs(Some(json!({"order_updates": "no"}))).await;
    assert_eq!(status, 422);

    let cart = app.cart_with(&token, &product, 1).await;
    let (status, order) = app.checkout(&token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    let order_id = id_of(&order);
    let (status, body) = app
        .set_order_status(&order_id, "preparing", ADMIN_TOKEN)
        .await;
    assert_eq!(status, 200, "{body}");
    smtp.wait_for(&email, "confirmed").await;
    eventually(WAIT, || async {
        let items = admin_items(&app, &format!("ref={order_id}&template=order_status")).await;
        items.len() == 1 && items[0]["status"] == "suppressed"
    })
    .await;
    assert!(
        !smtp
            .mails_to(&email)
            .iter()
            .any(|m| m.subject.contains("preparing")),
        "{:?}",
        smtp.mails_to(&email)
    );
}

#[tokio::test]
async fn without_smtp_url_emails_are_recorded_with_bodies_and_shown_by_access_rules() {
    let app = spawn_app_with(|c| {
        c.notifications.review_request_delay_seconds = 1;
    })
    .await;
    let email = fresh_email("recorded");
    let (store, token, order) = confirmed_order(&app, &email, 5).await;
    let order_id = id_of(&order);
    let number = order["number"].as_str().expect("number").to_owned();
    let staff = app.staff(&store).await;
    let other_store = app.create_store().await;
    let outsider = app.staff(&other_store).await;
    let stranger = app.customer().await;

    eventually(WAIT, || async {
        let (status, page) = notifications(&app, "template=order_confirmation", Some(&token)).await;
        status == 200 && page["total"] == 1
    })
    .await;
    let (_, page) = notifications(&app, "template=order_confirmation", Some(&token)).await;
    let confirmation = page["items"][0].clone();
    assert_eq!(confirmation["status"], "recorded", "{confirmation}");
    assert_eq!(confirmation["channel"], "email");
    assert_eq!(confirmation["to"], email);
    assert_eq!(confirmation["ref"], order_id);
    assert_eq!(confirmation["attempts"], 0);
    assert!(confirmation.get("text").is_none(), "the list has no bodies");
    let id = id_of(&confirmation);
    let path = format!("/api/v1/notifications/{id}");
    let (status, detail) = send(app.request_as(reqwest::Method::GET, &path, Some(&token))).await;
    // The answers match their OpenAPI schemas (schemathesis holds the server to them).
    let spec = crate::observability::spec(&app).await;
    check_answer(
        &spec,
        "get",
        "/api/v1/notifications/{id}",
        200,
        status,
        &detail,
    );
    let (status, page) = notifications(&app, "", Some(ADMIN_TOKEN)).await;
    check_answer(&spec, "get", "/api/v1/notifications", 200, status, &page);
    let (status, prefs) = send(app.request_as(
        reqwest::Method::GET,
        "/api/v1/me/notification-preferences",
        Some(&token),
    ))
    .await;
    check_answer(
        &spec,
        "get",
        "/api/v1/me/notification-preferences",
        200,
        status,
        &prefs,
    );
    assert!(detail["text"].as_str().expect("text").contains(&number));
    assert!(detail["html"].as_str().expect("html").contains("<table"));

    // Staff of the store and the admin see it; others do not.
    for (who, expected) in [
        (Some(staff.token.as_str()), 200),
        (Some(ADMIN_TOKEN), 200),
        (Some(outsider.token.as_str()), 404),
        (Some(stranger.token.as_str()), 404),
        (None, 401),
    ] {
        let (status, _) = send(app.request_as(reqwest::Method::GET, &path, who)).await;
        assert_eq!(status, expected, "{who:?}");
    }
    let (status, page) = notifications(&app, "", Some(&stranger.token)).await;
    assert_eq!(status, 200);
    assert!(
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|n| n["to"] != email),
        "{page}"
    );
    let (status, _) = notifications(&app, "", None).await;
    assert_eq!(status, 401);
    let (status, _) = notifications(&app, "template=nonsense", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 422);
    let (status, _) = send(app.request_as(
        reqwest::Method::GET,
        "/api/v1/notifications/ntf_nope",
        Some(ADMIN_TOKEN),
    ))
    .await;
    assert_eq!(status, 404);

    // Delivery: an order_status now, a review request after its (short) delay.
    for to in ["preparing", "ready", "in_transit", "delivered"] {
        let (status, body) = app.set_order_status(&order_id, to, ADMIN_TOKEN).await;
        assert_eq!(status, 200, "{to}: {body}");
    }
    eventually(WAIT, || async {
        let items = admin_items(&app, &format!("ref={order_id}&template=order_status")).await;
        items.len() == 4 && items.iter().all(|n| n["status"] == "recorded")
    })
    .await;
    eventually(WAIT, || async {
        let items = admin_items(&app, &format!("ref={order_id}&template=review_request")).await;
        items.len() == 1 && items[0]["status"] == "recorded"
    })
    .await;
}

#[tokio::test]
async fn low_stock_emails_go_to_the_staff_of_the_store() {
    let app = spawn_app_with(|_| {}).await;
    let store = app.create_store().await;
    let staff = app.staff(&store).await;
    let (status, product) = app
        .admin_post(
            "/api/v1/products",
            json!({"store_id": store, "sku": format!("LOW-{}", rand_suffix()), "name": "Scarce",
                "price": {"amount": 500, "currency": "USD"}, "initial_stock": 3, "low_stock_threshold": 2}),
        )
        .await;
    assert_eq!(status, 201, "{product}");
    let token = app.customer().await.token;
    let cart = app.cart_with(&token, &id_of(&product), 2).await;
    let (status, order) = app.checkout(&token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    eventually(WAIT, || async {
        let (status, page) = notifications(&app, "template=low_stock", Some(&staff.token)).await;
        status == 200 && page["total"] == 1
    })
    .await;
    let (_, page) = notifications(&app, "template=low_stock", Some(&staff.token)).await;
    assert!(
        page["items"][0]["subject"]
            .as_str()
            .expect("subject")
            .contains("Scarce")
    );
}

#[tokio::test]
async fn a_cancelled_order_and_a_declined_card_each_get_their_email() {
    let smtp = SmtpServer::start().await;
    let app = app_with_smtp(smtp.url()).await;
    let email = fresh_email("unlucky");
    let (store, token, order) = confirmed_order(&app, &email, 5).await;
    let (status, body) = app.cancel_order(&id_of(&order), &token).await;
    assert_eq!(status, 200, "{body}");
    let mail = smtp.wait_for(&email, "cancelled").await;
    assert!(mail.text.contains("Refunded: 19.99 USD"), "{}", mail.text);
    assert!(mail.text.contains("changed my mind"), "{}", mail.text);

    let product = app.create_product(&store, 5).await;
    let cart = app.cart_with(&token, &product, 1).await;
    let (status, problem) = app.checkout(&token, &cart, "tok_chargeDeclined").await;
    assert_eq!(status, 402, "{problem}");
    let mail = smtp.wait_for(&email, "failed").await;
    assert!(mail.text.contains("card_declined"), "{}", mail.text);
}

#[tokio::test]
async fn an_auto_disabled_webhook_endpoint_emails_each_admin_once_even_when_edited_after() {
    let app = spawn_app_with(|c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.retry_schedule_seconds = [0.0].into_iter().chain([0.1; 30]).collect();
        c.webhooks.disable_after_seconds = 0.3;
    })
    .await;
    let admin = app.new_user("admin", None).await;
    let admin_email = admin["user"]["email"].as_str().expect("email").to_owned();
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    // Nothing listens on port 9 of loopback: every attempt fails to connect.
    let (status, hook) = app
        .admin_post(
            "/api/v1/webhooks",
            json!({"url": "http://127.0.0.1:9/down", "events": ["*"]}),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let hook_path = format!("/api/v1/webhooks/{}", id_of(&hook));
    crate::helpers::adjust_stock(&app.client, app.addr, &product, 1).await;
    eventually(Duration::from_secs(10), || async {
        app.admin_get(&hook_path).await.1["enabled"] == false
    })
    .await;
    eventually(WAIT, || async {
        !admin_items(&app, "template=webhook_disabled")
            .await
            .is_empty()
    })
    .await;
    // An edit while it stays disabled writes the record again: no second email.
    let (status, _) = app
        .admin_patch(
            &hook_path,
            json!({"description": "the ERP, down for maintenance"}),
        )
        .await;
    assert_eq!(status, 200);
    crate::helpers::adjust_stock(&app.client, app.addr, &product, 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let items = admin_items(&app, "template=webhook_disabled").await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["to"], admin_email.as_str());
    assert_eq!(items[0]["ref"], hook["id"]);
    let (status, mail) = app
        .admin_get(&format!("/api/v1/notifications/{}", id_of(&items[0])))
        .await;
    assert_eq!(status, 200, "{mail}");
    assert!(
        mail["text"]
            .as_str()
            .is_some_and(|t| t.contains("http://127.0.0.1:9/down")),
        "{mail}"
    );
}

#[tokio::test]
async fn password_reset_requests_for_one_email_are_throttled_alike_whether_it_has_an_account() {
    let app = spawn_app_with(|c| {
        c.auth.login_max_failures = 3;
    })
    .await;
    let known = fresh_email("known");
    register(&app, &known).await;
    let unknown = fresh_email("unknown");
    for email in [&known, &unknown] {
        for _ in 0..3 {
            assert_eq!(ask_reset(&app, email).await, 202);
        }
        let problem = crate::helpers::expect_problem(
            app.client
                .post(app.url("/api/v1/auth/password-reset"))
                .json(&json!({ "email": email.to_uppercase() })),
            429,
            "rate_limited",
        )
        .await;
        assert!(problem["detail"].is_string(), "{problem}");
    }
    // Another address is not affected; the known one got exactly three links.
    assert_eq!(ask_reset(&app, &fresh_email("other")).await, 202);
    eventually(WAIT, || async {
        admin_items(&app, "template=password_reset").await.len() == 3
    })
    .await;
}
