//! Accounts (API.md §7): registration, login and its throttling, access and refresh tokens,
//! admin-created users, and who may do what on §4–§6.

use crate::helpers::{
    ADMIN_TOKEN, ServerProcess, TestApp, USER_PASSWORD, Ws, access_token, error_fields, eventually,
    expect_problem, rand_suffix, refresh_token, send, send_typed, spawn_app, spawn_app_with,
    wait_ready,
};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// Asserts the §7 session shape: exactly `user`, `access_token`, `refresh_token`,
/// `expires_in`, and a user with exactly `id`, `email`, `name`, `role`, `store_id`.
fn assert_session(body: &Value, email: &str, role: &str, expires_in: u64) {
    let keys: Vec<&str> = body
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["access_token", "expires_in", "refresh_token", "user"],
        "{body}"
    );
    assert_user(&body["user"], email, role);
    assert_eq!(body["expires_in"], expires_in, "{body}");
    assert!(
        access_token(body).split('.').count() == 3,
        "access token is a JWT: {body}"
    );
    assert!(!refresh_token(body).is_empty());
}

fn assert_user(user: &Value, email: &str, role: &str) {
    let keys: Vec<&str> = user
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "disabled",
            "email",
            "email_verified",
            "id",
            "name",
            "role",
            "store_id"
        ],
        "{user}"
    );
    assert_eq!(user["disabled"], false, "{user}");
    assert!(
        user["id"].as_str().expect("id").starts_with("usr_"),
        "{user}"
    );
    assert_eq!(user["email"], email, "{user}");
    assert_eq!(user["role"], role, "{user}");
}

fn fresh_email() -> String {
    format!("user-{}@example.com", rand_suffix())
}

async fn me(app: &TestApp, token: &str) -> (u16, Value) {
    send(app.request_as(Method::GET, "/api/v1/me", Some(token))).await
}

async fn refresh(app: &TestApp, token: &str) -> (u16, Value) {
    send(
        app.client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&json!({ "refresh_token": token })),
    )
    .await
}

async fn logout(app: &TestApp, token: &str) -> (u16, Value) {
    send(
        app.client
            .post(app.url("/api/v1/auth/logout"))
            .json(&json!({ "refresh_token": token })),
    )
    .await
}

/// base64url without padding, for crafting forged tokens.
fn b64url(bytes: &[u8]) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(CHARS[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

// ---------------------------------------------------------------- register, login, me

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_login_and_me() {
    let app = spawn_app().await;
    let email = fresh_email();

    let response = app
        .client
        .post(app.url("/api/v1/auth/register"))
        .json(&json!({"email": email, "password": USER_PASSWORD, "name": "Ada Lovelace"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["cache-control"],
        "no-store",
        "token answers must not be cached"
    );
    let text = response.text().await.expect("body");
    assert!(
        !text.contains(USER_PASSWORD),
        "the password came back: {text}"
    );
    assert!(!text.contains("argon2"), "the hash came back: {text}");
    let registered: Value = serde_json::from_str(&text).expect("json");
    assert_session(&registered, &email, "customer", 900);
    assert_eq!(registered["user"]["name"], "Ada Lovelace");
    assert_eq!(registered["user"]["store_id"], Value::Null);

    let (status, user) = me(&app, &access_token(&registered)).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user, registered["user"]);

    // Login compares the email case-insensitively and answers the same shape.
    let (status, session) = app.login(&email.to_uppercase(), USER_PASSWORD).await;
    assert_eq!(status, 200, "{session}");
    assert_session(&session, &email, "customer", 900);
    assert_eq!(session["user"], registered["user"]);
    assert_ne!(refresh_token(&session), refresh_token(&registered));
    let (status, user) = me(&app, &access_token(&session)).await;
    assert_eq!((status, &user["id"]), (200, &registered["user"]["id"]));

    // Wrong password and unknown email look the same.
    let wrong = app.client.post(app.url("/api/v1/auth/login"));
    let problem = expect_problem(
        wrong.json(&json!({"email": email, "password": "not the password"})),
        401,
        "invalid_credentials",
    )
    .await;
    let unknown = expect_problem(
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": "nobody@example.com", "password": USER_PASSWORD})),
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(problem["detail"], unknown["detail"]);

    // /me needs a user.
    expect_problem(app.client.get(app.url("/api/v1/me")), 401, "unauthorized").await;
    expect_problem(
        app.request_as(Method::GET, "/api/v1/me", Some(ADMIN_TOKEN)),
        404,
        "not_found",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emails_are_unique_case_insensitively() {
    let app = spawn_app().await;
    let email = format!("Mixed.Case-{}@Example.COM", rand_suffix());
    let (status, _) = app.register(&email, USER_PASSWORD, "First").await;
    assert_eq!(status, 201);

    for variant in [email.clone(), email.to_lowercase(), email.to_uppercase()] {
        expect_problem(
            app.client
                .post(app.url("/api/v1/auth/register"))
                .json(&json!({"email": variant, "password": USER_PASSWORD, "name": "Second"})),
            409,
            "email_taken",
        )
        .await;
    }
    // The admin cannot create a second account with it either.
    expect_problem(
        app.admin_request(Method::POST, "/api/v1/users").json(&json!({
            "email": email.to_lowercase(), "password": USER_PASSWORD, "name": "X", "role": "admin"
        })),
        409,
        "email_taken",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_registrations_of_one_email_create_exactly_one_account() {
    let app = spawn_app().await;
    let base = format!("race-{}@example.com", rand_suffix());
    let attempts = (0..8).map(|i| {
        let email = if i % 2 == 0 {
            base.clone()
        } else {
            base.to_uppercase()
        };
        let request = app.client.post(app.url("/api/v1/auth/register")).json(
            &json!({"email": email, "password": USER_PASSWORD, "name": format!("Racer {i}")}),
        );
        send_typed(request)
    });
    let results = futures_util::future::join_all(attempts).await;
    let created = results
        .iter()
        .filter(|(status, _, _)| *status == 201)
        .count();
    assert_eq!(created, 1, "{results:?}");
    for (status, _, body) in &results {
        if *status != 201 {
            assert_eq!(*status, 409, "{body}");
            assert_eq!(body["code"], "email_taken", "{body}");
        }
    }
    // Exactly one of the passwords-alike logins works, and it is the created account.
    let winner = &results
        .iter()
        .find(|(status, _, _)| *status == 201)
        .expect("one created")
        .2;
    let (status, session) = app.login(&base, USER_PASSWORD).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user"]["id"], winner["user"]["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_registrations_answer_422_naming_the_fields() {
    let app = spawn_app().await;
    let post = |body: Value| {
        app.client
            .post(app.url("/api/v1/auth/register"))
            .json(&body)
    };
    for bad in [
        "plainaddress",
        "@example.com",
        "a@",
        "a@localhost",
        "a@@example.com",
        "a b@example.com",
        "",
    ] {
        let problem = expect_problem(
            post(json!({"email": bad, "password": USER_PASSWORD, "name": "N"})),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&problem), ["email"], "{bad}: {problem}");
    }
    let too_long = format!("{}@example.com", "a".repeat(250));
    let problem = expect_problem(
        post(json!({"email": too_long, "password": USER_PASSWORD, "name": "N"})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["email"]);

    let problem = expect_problem(
        post(json!({"email": fresh_email(), "password": "1234567", "name": "N"})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["password"]);
    let problem = expect_problem(
        post(json!({"email": fresh_email(), "password": "x".repeat(1025), "name": "N"})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["password"]);
    let problem = expect_problem(
        post(json!({"email": "nope", "password": "short", "name": " "})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["email", "password", "name"]);
    let problem = expect_problem(
        post(json!({"email": fresh_email(), "password": USER_PASSWORD, "name": "x".repeat(201)})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["name"]);

    // Shape errors: unknown, missing and mistyped fields.
    let problem = expect_problem(
        post(json!({"email": fresh_email(), "password": USER_PASSWORD, "name": "N", "role": "admin"})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["role"]);
    let problem = expect_problem(
        post(json!({"email": fresh_email(), "name": "N"})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["password"]);
    expect_problem(
        post(json!({"email": fresh_email(), "password": 12345678, "name": "N"})),
        422,
        "validation_failed",
    )
    .await;

    // Exactly 8 characters is enough, and nothing above was created.
    let (status, body) = app.register(&fresh_email(), "12345678", "N").await;
    assert_eq!(status, 201, "{body}");
    let (status, _) = app.login("nope", "short").await;
    assert_eq!(status, 401);
}

// ---------------------------------------------------------------- throttling

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_throttle_the_email_until_the_window_passes() {
    let app = spawn_app_with(|config| {
        config.auth.login_max_failures = 3;
        config.auth.login_window_seconds = 3;
    })
    .await;
    let email = fresh_email();
    let other = email.replace("user-", "other-");
    assert_eq!(app.register(&email, USER_PASSWORD, "Victim").await.0, 201);
    assert_eq!(
        app.register(&other, USER_PASSWORD, "Bystander").await.0,
        201
    );

    for _ in 0..3 {
        let (status, body) = app.login(&email, "wrong password").await;
        assert_eq!(status, 401, "{body}");
        assert_eq!(body["code"], "invalid_credentials");
    }
    // Now even the right password is refused, with a Retry-After within the window; the
    // email's case does not matter.
    for candidate in [email.clone(), email.to_uppercase()] {
        let response = app
            .client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": candidate, "password": USER_PASSWORD}))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 429);
        let retry_after: u64 = response.headers()["retry-after"]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!((1..=3).contains(&retry_after), "{retry_after}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["code"], "rate_limited", "{body}");
        assert_eq!(body["status"], 429, "{body}");
    }
    // Other emails are not affected.
    assert_eq!(app.login(&other, USER_PASSWORD).await.0, 200);

    // Once the window has passed, the right password works again.
    eventually(Duration::from_secs(10), || async {
        app.login(&email, USER_PASSWORD).await.0 == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_cannot_outrun_the_throttle() {
    let app = spawn_app_with(|config| config.auth.login_max_failures = 3).await;
    let email = fresh_email();
    assert_eq!(app.register(&email, USER_PASSWORD, "Victim").await.0, 201);

    let passwords: Vec<String> = (0..10).map(|i| format!("guess number {i}")).collect();
    let guesses = passwords.iter().map(|password| app.login(&email, password));
    let results = futures_util::future::join_all(guesses).await;
    let checked = results.iter().filter(|(status, _)| *status == 401).count();
    let throttled = results.iter().filter(|(status, _)| *status == 429).count();
    assert_eq!((checked, throttled), (3, 7), "{results:?}");
}

// ---------------------------------------------------------------- access tokens

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_access_token_is_refused_and_a_refresh_brings_a_new_one() {
    let app = spawn_app_with(|config| config.auth.access_ttl_seconds = 1).await;
    let session = app.new_customer().await;
    assert_eq!(session["expires_in"], 1);
    let token = access_token(&session);
    let (status, _) = me(&app, &token).await;
    assert_eq!(status, 200);

    eventually(Duration::from_secs(5), || async {
        me(&app, &token).await.0 == 401
    })
    .await;
    let problem = expect_problem(
        app.request_as(Method::GET, "/api/v1/me", Some(&token)),
        401,
        "unauthorized",
    )
    .await;
    assert!(problem.get("errors").is_none());
    // An expired token is no anonymous pass to public reads either.
    expect_problem(
        app.request_as(Method::GET, "/api/v1/stores", Some(&token)),
        401,
        "unauthorized",
    )
    .await;

    // The refresh endpoint ignores the stale bearer a client still sends along.
    let (status, renewed) = send(
        app.request_as(Method::POST, "/api/v1/auth/refresh", Some(&token))
            .json(&json!({"refresh_token": refresh_token(&session)})),
    )
    .await;
    assert_eq!(status, 200, "{renewed}");
    assert_eq!(me(&app, &access_token(&renewed)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_and_forged_tokens_are_refused() {
    let app = spawn_app().await;
    let session = app.new_customer().await;
    let token = access_token(&session);
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let user_id = session["user"]["id"].as_str().expect("id");
    let now = chrono::Utc::now().timestamp();

    // Claims rewritten to admin, signature kept.
    let escalated = b64url(
        json!({"sub": user_id, "role": "admin", "store_id": null, "iat": now, "exp": now + 600})
            .to_string()
            .as_bytes(),
    );
    // The same claims with no signature at all.
    let unsigned_header = b64url(br#"{"alg":"none","typ":"JWT"}"#);
    // Signed with a key that is not the server's.
    let foreign = emporium::auth::tokens::AccessTokens::new(b"not-the-server-secret", 600)
        .issue(
            &emporium::auth::users::User {
                id: emporium::domain::ids::UserId::parse(user_id).expect("user id"),
                email: "x@example.com".into(),
                email_lower: "x@example.com".into(),
                name: "X".into(),
                role: emporium::auth::users::Role::Admin,
                store_id: None,
                password_hash: String::new(),
                created_at: 0,
                email_verified: true,
                disabled: false,
            },
            0,
            None,
        )
        .expect("signs");
    let mut flipped = token.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).expect("ascii");

    for bad in [
        format!("{}.{escalated}.{}", parts[0], parts[2]),
        format!("{unsigned_header}.{escalated}."),
        foreign,
        flipped,
        format!("{token}x"),
        parts[..2].join("."),
    ] {
        expect_problem(
            app.request_as(Method::GET, "/api/v1/me", Some(&bad)),
            401,
            "unauthorized",
        )
        .await;
        expect_problem(
            app.request_as(Method::POST, "/api/v1/stores", Some(&bad))
                .json(&json!({"name": "Evil", "kind": "retail", "currency": "USD"})),
            401,
            "unauthorized",
        )
        .await;
    }
    assert_eq!(app.get("/api/v1/stores").await.1["total"], 0);
    assert_eq!(me(&app, &token).await.0, 200, "the real token still works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_tokens_work_on_the_websocket() {
    let app = spawn_app().await;
    let session = app.new_customer().await;
    let token = access_token(&session);

    // `?token=` authenticates: the customer's own cart topic, which an anonymous connection
    // may not see, is open to it.
    let cart = crate::helpers::id_of(&app.create_cart(Some(&token)).await);
    let topic = format!("cart:{cart}");
    let mut ws = Ws::connect(&format!("{}?token={token}", app.ws_url())).await;
    let reply = ws.subscribe(&topic).await;
    assert_eq!(reply["snapshot"]["id"], cart.as_str(), "{reply}");
    let mut anonymous = app.ws().await;
    let reply = anonymous.try_subscribe(&topic).await;
    assert_eq!(
        (&reply["type"], &reply["code"]),
        (&json!("error"), &json!("not_found")),
        "{reply}"
    );

    let mut ws = app.ws().await;
    ws.send_json(json!({"op": "auth", "token": token, "ref": "a"}))
        .await;
    assert_eq!(
        ws.next_json().await,
        json!({"type": "authenticated", "role": "customer", "ref": "a"})
    );
}

/// Accounts, refresh tokens and the generated JWT secret are durable: they survive `kill -9`
/// (the real binary, since an in-process server cannot reopen its data dir in one process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_tokens_and_the_generated_secret_survive_kill_9() {
    let dir = tempfile::tempdir().expect("temp dir");
    let client = reqwest::Client::new();
    let post = |addr: std::net::SocketAddr, path: &str, body: Value| {
        client
            .post(format!("http://{addr}/api/v1{path}"))
            .json(&body)
    };
    let get_me = |addr: std::net::SocketAddr, token: &str| {
        client
            .get(format!("http://{addr}/api/v1/me"))
            .bearer_auth(token)
    };

    let server = ServerProcess::start(dir.path(), &[]);
    wait_ready(&client, server.addr).await;
    let email = fresh_email();
    let (status, session) = send(post(
        server.addr,
        "/auth/register",
        json!({"email": email, "password": USER_PASSWORD, "name": "Durable"}),
    ))
    .await;
    assert_eq!(status, 201, "{session}");
    server.kill_9();

    let server = ServerProcess::start(dir.path(), &[]);
    wait_ready(&client, server.addr).await;
    let (status, user) = send(get_me(server.addr, &access_token(&session))).await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user, session["user"]);
    let (status, rotated) = send(post(
        server.addr,
        "/auth/refresh",
        json!({"refresh_token": refresh_token(&session)}),
    ))
    .await;
    assert_eq!(status, 200, "{rotated}");
    server.kill_9();

    // A configured secret replaces the stored one: earlier tokens no longer verify.
    let server = ServerProcess::start(
        dir.path(),
        &[(
            "EMPORIUM_AUTH__JWT_SECRET",
            "a-configured-secret-of-at-least-32-bytes",
        )],
    );
    wait_ready(&client, server.addr).await;
    assert_eq!(
        send(get_me(server.addr, &access_token(&rotated))).await.0,
        401
    );
    // The rotation was durable: the new refresh token works, the spent one does not.
    let (status, _) = send(post(
        server.addr,
        "/auth/refresh",
        json!({"refresh_token": refresh_token(&rotated)}),
    ))
    .await;
    assert_eq!(status, 200);
    let (status, fresh) = send(post(
        server.addr,
        "/auth/login",
        json!({"email": email, "password": USER_PASSWORD}),
    ))
    .await;
    assert_eq!(status, 200, "{fresh}");
    assert_eq!(
        send(get_me(server.addr, &access_token(&fresh))).await.0,
        200
    );
    let (status, _) = send(post(
        server.addr,
        "/auth/refresh",
        json!({"refresh_token": refresh_token(&session)}),
    ))
    .await;
    assert_eq!(status, 401);
    server.kill_9();
}

// ---------------------------------------------------------------- refresh and logout

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_rotates_and_reuse_revokes_every_refresh_token_of_the_user() {
    let app = spawn_app().await;
    let first = app.new_customer().await;
    let email = first["user"]["email"].as_str().expect("email").to_owned();
    let (_, second) = app.login(&email, USER_PASSWORD).await;
    let bystander = app.new_customer().await;

    let (status, rotated) = refresh(&app, &refresh_token(&first)).await;
    assert_eq!(status, 200, "{rotated}");
    assert_session(&rotated, &email, "customer", 900);
    assert_eq!(rotated["user"], first["user"]);
    assert_ne!(refresh_token(&rotated), refresh_token(&first));
    assert_eq!(me(&app, &access_token(&rotated)).await.0, 200);

    // The old token is spent; showing it again revokes the whole user's refresh tokens.
    let problem = expect_problem(
        app.client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": refresh_token(&first)})),
        401,
        "unauthorized",
    )
    .await;
    assert!(problem.get("errors").is_none());
    assert_eq!(refresh(&app, &refresh_token(&rotated)).await.0, 401);
    assert_eq!(refresh(&app, &refresh_token(&second)).await.0, 401);
    // Other users keep theirs.
    assert_eq!(refresh(&app, &refresh_token(&bystander)).await.0, 200);

    // Logging in again starts a working chain.
    let (status, again) = app.login(&email, USER_PASSWORD).await;
    assert_eq!(status, 200);
    let (status, next) = refresh(&app, &refresh_token(&again)).await;
    assert_eq!(status, 200, "{next}");
    assert_eq!(refresh(&app, &refresh_token(&next)).await.0, 200);

    // Garbage is a plain 401.
    assert_eq!(refresh(&app, "rt_not-a-token").await.0, 401);
    let problem = expect_problem(
        app.client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": "x", "extra": 1})),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(error_fields(&problem), ["extra"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_use_of_one_refresh_token_yields_exactly_one_new_pair() {
    let app = spawn_app().await;
    let session = app.new_customer().await;
    let token = refresh_token(&session);
    let results = futures_util::future::join_all((0..6).map(|_| refresh(&app, &token))).await;
    let ok: Vec<&Value> = results
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    // Exactly one winner: a refresh that always fails (or always succeeds) is caught.
    assert_eq!(ok.len(), 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(status, _)| *status == 200 || *status == 401),
        "{results:?}"
    );
    // Reuse happened, so even the winner's new token is revoked.
    for body in ok {
        assert_eq!(refresh(&app, &refresh_token(body)).await.0, 401);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_retires_one_refresh_token() {
    let app = spawn_app().await;
    let first = app.new_customer().await;
    let email = first["user"]["email"].as_str().expect("email").to_owned();
    let (_, second) = app.login(&email, USER_PASSWORD).await;

    let (status, body) = logout(&app, &refresh_token(&first)).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(refresh(&app, &refresh_token(&first)).await.0, 401);
    // Logging out twice, or with an unknown token, is fine.
    assert_eq!(logout(&app, &refresh_token(&first)).await.0, 204);
    assert_eq!(logout(&app, "rt_unknown").await.0, 204);
    // Other sessions of the user go on.
    assert_eq!(refresh(&app, &refresh_token(&second)).await.0, 200);
    // A stale bearer does not get in the way.
    let (status, _) = send(
        app.request_as(Method::POST, "/api/v1/auth/logout", Some("stale-token"))
            .json(&json!({"refresh_token": "rt_whatever"})),
    )
    .await;
    assert_eq!(status, 204);
}

// ---------------------------------------------------------------- users created by the admin

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_creates_staff_customers_and_admins() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let email = fresh_email();

    let (status, user) = app
        .admin_post(
            "/api/v1/users",
            json!({"email": email, "password": USER_PASSWORD, "name": "Sam Staff",
                   "role": "staff", "store_id": store}),
        )
        .await;
    assert_eq!(status, 201, "{user}");
    assert_user(&user, &email, "staff");
    assert_eq!(user["store_id"], store.as_str());
    let (status, session) = app.login(&email, USER_PASSWORD).await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["user"], user);
    assert_eq!(me(&app, &access_token(&session)).await.1, user);

    // An admin user is an admin everywhere, including account creation.
    let admin = app.new_user("admin", None).await;
    assert_eq!(admin["user"]["role"], "admin");
    let admin_token = access_token(&admin);
    let (status, created) = send(
        app.request_as(Method::POST, "/api/v1/users", Some(&admin_token))
            .json(
                &json!({"email": email.replace("user-", "cust-"), "password": USER_PASSWORD,
                          "name": "C", "role": "customer"}),
            ),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["store_id"], Value::Null);
    let (status, _) = send(
        app.request_as(Method::POST, "/api/v1/stores", Some(&admin_token))
            .json(&json!({"name": "Second", "kind": "restaurant", "currency": "EUR"})),
    )
    .await;
    assert_eq!(status, 201);

    // Store rules.
    for (body, field) in [
        (
            json!({"email": fresh_email(), "password": USER_PASSWORD, "name": "N", "role": "staff"}),
            "store_id",
        ),
        (
            json!({"email": fresh_email(), "password": USER_PASSWORD, "name": "N", "role": "staff",
                   "store_id": "str_000000000000000000000000"}),
            "store_id",
        ),
        (
            json!({"email": fresh_email(), "password": USER_PASSWORD, "name": "N", "role": "staff",
                   "store_id": "nonsense"}),
            "store_id",
        ),
        (
            json!({"email": fresh_email(), "password": USER_PASSWORD, "name": "N", "role": "customer",
                   "store_id": store}),
            "store_id",
        ),
        (
            json!({"email": fresh_email(), "password": USER_PASSWORD, "name": "N", "role": "admin",
                   "store_id": store}),
            "store_id",
        ),
        (
            json!({"email": fresh_email(), "password": USER_PASSWORD, "name": "N", "role": "owner"}),
            "role",
        ),
        (
            json!({"email": "bad", "password": USER_PASSWORD, "name": "N", "role": "customer"}),
            "email",
        ),
    ] {
        let problem = expect_problem(
            app.admin_request(Method::POST, "/api/v1/users").json(&body),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(error_fields(&problem), [field], "{body}: {problem}");
    }

    // Only admins create accounts.
    let body =
        json!({"email": fresh_email(), "password": USER_PASSWORD, "name": "N", "role": "admin"});
    expect_problem(
        app.client.post(app.url("/api/v1/users")).json(&body),
        401,
        "unauthorized",
    )
    .await;
    for token in [
        access_token(&session),
        access_token(&app.new_customer().await),
    ] {
        expect_problem(
            app.request_as(Method::POST, "/api/v1/users", Some(&token))
                .json(&body),
            403,
            "forbidden",
        )
        .await;
    }
    assert_eq!(
        app.login(body["email"].as_str().expect("email"), USER_PASSWORD)
            .await
            .0,
        401
    );
}

// ---------------------------------------------------------------- who may do what (§4–§6)

/// The callers of the access matrix.
struct Callers {
    customer: String,
    staff_x: String,
    staff_x_id: String,
    staff_y: String,
    admin_user: String,
}

impl Callers {
    /// (label, token) for every caller, anonymous first.
    fn all(&self) -> [(&'static str, Option<&str>); 6] {
        [
            ("anonymous", None),
            ("customer", Some(self.customer.as_str())),
            ("staff of X", Some(self.staff_x.as_str())),
            ("staff of Y", Some(self.staff_y.as_str())),
            ("admin token", Some(ADMIN_TOKEN)),
            ("admin user", Some(self.admin_user.as_str())),
        ]
    }
}

/// Expected status per caller, in the order of [`Callers::all`].
type Expected = [u16; 6];

/// Sends `request(label, token)` for every caller and asserts the expected status (with the
/// matching problem code for refusals).
async fn check_matrix<F>(callers: &Callers, what: &str, expected: Expected, mut request: F)
where
    F: FnMut(&'static str, Option<&str>) -> reqwest::RequestBuilder,
{
    for ((label, token), want) in callers.all().into_iter().zip(expected) {
        let (status, _, body) = send_typed(request(label, token)).await;
        assert_eq!(status, want, "{what} as {label}: {body}");
        let code = match want {
            401 => Some("unauthorized"),
            403 => Some("forbidden"),
            404 => Some("not_found"),
            _ => None,
        };
        if let Some(code) = code {
            assert_eq!(body["code"], code, "{what} as {label}: {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_decide_who_may_change_and_see_stores_products_and_reservations() {
    let app = spawn_app().await;
    let x = app.create_store().await;
    let y = app.create_store().await;
    let staff_x = app.new_user("staff", Some(&x)).await;
    let callers = Callers {
        customer: access_token(&app.new_customer().await),
        staff_x: access_token(&staff_x),
        staff_x_id: staff_x["user"]["id"].as_str().expect("id").to_owned(),
        staff_y: access_token(&app.new_user("staff", Some(&y)).await),
        admin_user: access_token(&app.new_user("admin", None).await),
    };
    let px = app.create_product(&x, 1000).await;
    let py = app.create_product(&y, 1000).await;
    let p = |path: &str| format!("/api/v1/products/{px}{path}");

    // Product creation: admin and the store's staff.
    check_matrix(
        &callers,
        "POST /products",
        [401, 403, 201, 403, 201, 201],
        |label, token| {
            app.request_as(Method::POST, "/api/v1/products", token)
                .json(
                    &json!({"store_id": x, "sku": format!("NEW-{}", label.replace(' ', "-")),
                              "name": "New", "price": {"amount": 100, "currency": "USD"}}),
                )
        },
    )
    .await;
    let (_, list) = app.get(&format!("/api/v1/products?store_id={x}")).await;
    assert_eq!(
        list["total"], 4,
        "px and the three allowed creations: {list}"
    );
    let (_, list) = app.get(&format!("/api/v1/products?store_id={y}")).await;
    assert_eq!(list["total"], 1, "{list}");

    check_matrix(
        &callers,
        "PATCH product",
        [401, 403, 200, 403, 200, 200],
        |label, token| {
            app.request_as(Method::PATCH, &p(""), token)
                .json(&json!({"name": format!("Renamed by {label}")}))
        },
    )
    .await;
    assert_eq!(
        app.get(&p("")).await.1["name"],
        "Renamed by admin user",
        "refused callers changed nothing"
    );

    check_matrix(
        &callers,
        "adjust stock",
        [401, 403, 200, 403, 200, 200],
        |_, token| {
            app.request_as(Method::POST, &p("/inventory/adjustments"), token)
                .json(&json!({"delta": 1, "reason": "restock"}))
        },
    )
    .await;
    assert_eq!(app.inventory(&px).await["on_hand"], 1003);

    // Movements are the store's books: invisible to others.
    check_matrix(
        &callers,
        "movements",
        [401, 404, 200, 404, 200, 200],
        |_, token| app.request_as(Method::GET, &p("/inventory/movements"), token),
    )
    .await;
    let (_, movements) = app.admin_get(&p("/inventory/movements")).await;
    let bys: Vec<&str> = movements["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["by"].as_str().expect("by"))
        .collect();
    assert_eq!(bys.len(), 4, "{movements}");
    assert_eq!(bys[2], callers.staff_x_id, "movements name the staff user");
    assert_eq!(bys[1], "admin");
    assert!(bys[0].starts_with("usr_"), "the admin user: {bys:?}");

    // Archiving (on products of their own, so each allowed caller archives one).
    for (label, token) in callers.all() {
        let victim = app.create_product(&x, 0).await;
        let allowed = matches!(label, "staff of X" | "admin token" | "admin user");
        let (status, body) =
            send(app.request_as(Method::DELETE, &format!("/api/v1/products/{victim}"), token))
                .await;
        let want = match label {
            "anonymous" => 401,
            _ if allowed => 200,
            _ => 403,
        };
        assert_eq!(status, want, "archive as {label}: {body}");
        let (_, now) = app.get(&format!("/api/v1/products/{victim}")).await;
        let status = if allowed { "archived" } else { "active" };
        assert_eq!(now["status"], status, "{label}");
    }

    // Store status: admin and the store's staff.
    check_matrix(
        &callers,
        "store status",
        [401, 403, 200, 403, 200, 200],
        |label, token| {
            app.request_as(Method::PUT, &format!("/api/v1/stores/{x}/status"), token)
                .json(&json!({"open": label != "staff of X"}))
        },
    )
    .await;
    let (_, store) = app.get(&format!("/api/v1/stores/{x}")).await;
    assert_eq!(store["open"], true, "the last allowed caller reopened it");
    expect_problem(
        app.request_as(
            Method::PUT,
            "/api/v1/stores/str_000000000000000000000000/status",
            Some(&callers.staff_x),
        )
        .json(&json!({"open": false})),
        404,
        "not_found",
    )
    .await;

    // Reservations: staff of the store of every item.
    let reserve = |items: &[&str], token: Option<&str>| {
        let items: Vec<Value> = items
            .iter()
            .map(|id| json!({"product_id": id, "quantity": 1}))
            .collect();
        app.request_as(Method::POST, "/api/v1/reservations", token)
            .json(&json!({ "items": items }))
    };
    check_matrix(
        &callers,
        "reserve from X",
        [401, 403, 201, 403, 201, 201],
        |_, token| reserve(&[&px], token),
    )
    .await;
    check_matrix(
        &callers,
        "reserve from X and Y",
        [401, 403, 403, 403, 201, 201],
        |_, token| reserve(&[&px, &py], token),
    )
    .await;
    assert_eq!(
        app.inventory(&px).await["reserved"],
        5,
        "three single and two mixed holds"
    );
    assert_eq!(app.inventory(&py).await["reserved"], 2);
    expect_problem(
        reserve(&["prod_000000000000000000000000"], Some(&callers.staff_x)),
        404,
        "not_found",
    )
    .await;

    // A reservation is visible to the admin and the staff of its first item's store.
    let (status, created) = send(reserve(&[&px, &py], Some(ADMIN_TOKEN))).await;
    assert_eq!(status, 201, "{created}");
    let rx = created["id"].as_str().expect("id").to_owned();
    let (_, created) = send(reserve(&[&py, &px], Some(ADMIN_TOKEN))).await;
    let ry = created["id"].as_str().expect("id").to_owned();
    check_matrix(
        &callers,
        "GET reservation (first item in X)",
        [401, 404, 200, 404, 200, 200],
        |_, token| app.request_as(Method::GET, &format!("/api/v1/reservations/{rx}"), token),
    )
    .await;
    check_matrix(
        &callers,
        "GET reservation (first item in Y)",
        [401, 404, 404, 200, 200, 200],
        |_, token| app.request_as(Method::GET, &format!("/api/v1/reservations/{ry}"), token),
    )
    .await;

    // Commit: refused callers change nothing; the store's staff commits.
    for (label, token) in &callers.all()[..4] {
        if *label == "staff of X" {
            continue;
        }
        for action in ["commit", "release", "extend"] {
            let request = app
                .request_as(
                    Method::POST,
                    &format!("/api/v1/reservations/{rx}/{action}"),
                    *token,
                )
                .json(&json!({"ttl_seconds": 60}));
            let (status, _, body) = send_typed(request).await;
            let want = if token.is_none() { 401 } else { 404 };
            assert_eq!(status, want, "{action} as {label}: {body}");
        }
    }
    let (_, still) = app.admin_get(&format!("/api/v1/reservations/{rx}")).await;
    assert_eq!(still["status"], "active");
    let (status, committed) = send(app.request_as(
        Method::POST,
        &format!("/api/v1/reservations/{rx}/commit"),
        Some(&callers.staff_x),
    ))
    .await;
    assert_eq!(status, 200, "{committed}");
    assert_eq!(committed["status"], "committed");
    let (_, movements) = app
        .admin_get(&format!("/api/v1/products/{py}/inventory/movements"))
        .await;
    assert_eq!(movements["items"][0]["kind"], "sale");
    assert_eq!(movements["items"][0]["by"], callers.staff_x_id.as_str());
    assert_eq!(movements["items"][0]["ref"], rx.as_str());

    // Reading stays public.
    for path in [
        "/api/v1/stores".to_owned(),
        format!("/api/v1/products/{px}"),
        format!("/api/v1/products/{px}/inventory"),
    ] {
        for (label, token) in callers.all() {
            let (status, body) = send(app.request_as(Method::GET, &path, token)).await;
            assert_eq!(status, 200, "{path} as {label}: {body}");
        }
    }
}

// ---------------------------------------------------------------- demo logins

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_has_a_shopper_and_staff_logins() {
    let app = spawn_app_with(|config| config.demo = true).await;
    eventually(Duration::from_secs(30), || async {
        app.login("shopper@demo.emporium", "demo-password").await.0 == 200
    })
    .await;
    let (_, stores) = app.get("/api/v1/stores").await;
    for (email, store_name) in [
        ("staff-retail@demo.emporium", "Northfold Outfitters"),
        ("staff-restaurant@demo.emporium", "Trattoria Emporio"),
    ] {
        let (status, session) = app.login(email, "demo-password").await;
        assert_eq!(status, 200, "{session}");
        assert_eq!(session["user"]["role"], "staff");
        let store = stores["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|s| s["name"] == store_name)
            .expect("demo store");
        assert_eq!(session["user"]["store_id"], store["id"], "{email}");
    }
    let (_, shopper) = app.login("shopper@demo.emporium", "demo-password").await;
    assert_eq!(shopper["user"]["role"], "customer");
}
