//! Sessions and the live channel (API.md §9, §12): a WebSocket lives as long as its
//! credentials, re-authentication drops what the new caller may not see, error floods end in
//! a clean 1008, strict op parsing, and login throttling per email *and* client IP.

use crate::helpers::{
    ADMIN_TOKEN, USER_PASSWORD, Ws, access_token, id_of, rand_suffix, send, spawn_app,
    spawn_app_with,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Sends `{"op":"auth"}` with `token` and returns the frames up to and including the
/// `authenticated` reply.
async fn auth(ws: &mut Ws, token: &str) -> Vec<Value> {
    ws.send_json(json!({"op": "auth", "token": token})).await;
    let mut frames = Vec::new();
    loop {
        let frame = ws.next_json().await;
        let done = frame["type"] == "authenticated";
        frames.push(frame);
        if done {
            return frames;
        }
    }
}

/// Frames up to the reply of a ping (the pong itself left out).
async fn frames_until_pong(ws: &mut Ws) -> Vec<Value> {
    ws.send_json(json!({"op": "ping", "ref": "until"})).await;
    let mut frames = Vec::new();
    loop {
        let frame = ws.next_json().await;
        if frame == json!({"type": "pong", "ref": "until"}) {
            return frames;
        }
        frames.push(frame);
    }
}

// ---------------------------------------------------------------- credentials and expiry

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_closes_with_4001_when_its_access_token_expires_unless_a_fresh_auth_extends_it()
{
    let app = spawn_app_with(|config| config.auth.access_ttl_seconds = 2).await;
    let customer = app.customer().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let cart = app.cart_with(&customer.token, &product, 1).await;

    // `?token=` and the `auth` op both bind the connection to the token's lifetime.
    let mut by_query = app.ws_as(&customer.token).await;
    by_query.subscribe(&format!("cart:{cart}")).await;
    let mut by_op = app.ws().await;
    auth(&mut by_op, &customer.token).await;
    by_op.subscribe(&format!("store:{store}")).await;
    // An `auth` op with credentials that do not expire (the admin token) extends it.
    let mut extended = app.ws().await;
    auth(&mut extended, &customer.token).await;
    auth(&mut extended, ADMIN_TOKEN).await;

    // Events flow while the token is valid.
    let (status, body) = app
        .set_cart_item(&cart, &product, 2, Some(&customer.token))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(by_query.next_event().await["event"], "cart.updated");

    assert_eq!(
        by_query.close_code(Duration::from_secs(5)).await,
        Some(4001)
    );
    assert_eq!(by_op.close_code(Duration::from_secs(5)).await, Some(4001));
    // The others' token expired by now; the extended connection still answers.
    extended.assert_nothing_pending().await;
    assert_eq!(
        extended
            .try_subscribe(&format!("store:{store}:orders"))
            .await["type"],
        "subscribed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reauthenticating_as_another_caller_unsubscribes_every_topic_they_may_not_see() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 10).await;
    let orders_topic = format!("store:{store}:orders");
    let product_topic = format!("product:{product}");

    let mut ws = app.ws().await;
    auth(&mut ws, ADMIN_TOKEN).await;
    ws.subscribe(&orders_topic).await;
    ws.subscribe(&product_topic).await;

    let customer = app.customer().await;
    let frames = auth(&mut ws, &customer.token).await;
    assert_eq!(
        frames,
        vec![
            json!({"type": "unsubscribed", "topic": orders_topic, "reason": "forbidden"}),
            json!({"type": "authenticated", "role": "customer"}),
        ],
        "only the topic the customer may not see is dropped"
    );

    // The customer's own order: the admin's order feed does not reach this connection any
    // more; the public product topic still does.
    let mut watcher = app.ws_as(ADMIN_TOKEN).await;
    watcher.subscribe(&orders_topic).await;
    let cart = app.cart_with(&customer.token, &product, 1).await;
    let (status, order) = app.checkout(&customer.token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    loop {
        let event = watcher.next_event().await;
        if event["event"] == "order.status_changed" {
            assert_eq!(event["data"]["order"]["id"], id_of(&order).as_str());
            break;
        }
    }
    let mut seen = frames_until_pong(&mut ws).await;
    if seen.is_empty() {
        seen.push(ws.next_event().await);
    }
    assert!(
        seen.iter().all(|f| f["topic"] == product_topic.as_str()),
        "{seen:?}"
    );
    // Subscribing again is refused like any forbidden topic.
    assert_eq!(ws.try_subscribe(&orders_topic).await["code"], "not_found");
}

// ---------------------------------------------------------------- error floods and parsing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_bad_subscribes_at_once_get_exactly_a_hundred_errors_then_close_1008() {
    let app = spawn_app().await;
    let mut ws = app.ws().await;
    for i in 0..2000 {
        let op = json!({"op": "subscribe", "topic": format!("nope:{i}"), "ref": i});
        ws.stream
            .feed(Message::Text(op.to_string().into()))
            .await
            .expect("feed");
    }
    ws.stream.flush().await.expect("flush");

    let mut errors = 0;
    let code = loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.stream.next())
            .await
            .expect("a frame within 10 s");
        match frame {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(&text).expect("json");
                assert_eq!(frame["type"], "error", "{frame}");
                assert_eq!(frame["code"], "not_found", "{frame}");
                assert_eq!(frame["ref"], errors, "replies in order");
                errors += 1;
            }
            Some(Ok(Message::Close(close))) => break close.map(|c| u16::from(c.code)),
            Some(Ok(_)) => {}
            other => panic!(
                "connection torn down without a close frame after {errors} errors: {other:?}"
            ),
        }
    };
    assert_eq!((errors, code), (100, Some(1008)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_mode_or_key_in_an_op_is_an_invalid_message() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 1).await;
    let topic = format!("product:{product}");
    let mut ws = app.ws().await;
    for op in [
        json!({"op": "subscribe", "topic": topic, "mode": "bogus", "ref": "m"}),
        json!({"op": "subscribe", "topic": topic, "snce": {"epoch": "x", "seq": 1}, "ref": "m"}),
        json!({"op": "ping", "colour": "blue", "ref": "m"}),
    ] {
        ws.send_json(op.clone()).await;
        let reply = ws.next_json().await;
        assert_eq!(reply["type"], "error", "{op} → {reply}");
        assert_eq!(reply["code"], "invalid_message", "{op} → {reply}");
        assert_eq!(reply["ref"], "m", "{reply}");
    }
    // Nothing was subscribed, and the connection stays healthy.
    app.create_product(&store, 1).await;
    ws.assert_nothing_pending().await;
    ws.send_json(json!({"op": "subscribe", "topic": topic, "mode": "latest"}))
        .await;
    let reply = ws.next_json().await;
    assert_eq!(reply["type"], "subscribed", "{reply}");
    assert_eq!(reply["mode"], "latest", "{reply}");
}

// ---------------------------------------------------------------- login throttling

/// `POST /auth/login` claiming to come through a proxy for `forwarded_for`.
async fn login_via(
    app: &crate::helpers::TestApp,
    email: &str,
    password: &str,
    forwarded_for: &str,
) -> u16 {
    send(
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", forwarded_for)
            .json(&json!({"email": email, "password": password})),
    )
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ip_spraying_many_emails_is_throttled_and_x_forwarded_for_does_not_help_without_a_trusted_proxy()
 {
    let app = spawn_app_with(|config| {
        config.auth.login_max_failures = 3;
        config.auth.login_max_failures_per_ip = 5;
    })
    .await;
    let victim = app.new_customer().await;
    let victim_email = victim["user"]["email"].as_str().expect("email").to_owned();
    let suffix = rand_suffix();
    // Five failures on five emails, each from a "different" forwarded address.
    for i in 0..5 {
        let status = login_via(
            &app,
            &format!("spray-{i}-{suffix}@example.com"),
            "wrong password",
            &format!("203.0.113.{i}"),
        )
        .await;
        assert_eq!(status, 401, "attempt {i}");
    }
    // The sixth is refused whatever the email and whatever the header claims, the right
    // password included: the peer, not the header, is the client.
    assert_eq!(
        login_via(
            &app,
            "another@example.com",
            "wrong password",
            "198.51.100.1"
        )
        .await,
        429
    );
    assert_eq!(
        login_via(&app, &victim_email, USER_PASSWORD, "198.51.100.2").await,
        429
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_a_stranger_cannot_lock_the_owner_out_from_elsewhere() {
    let app = spawn_app_with(|config| {
        config.auth.login_max_failures = 3;
        config.http.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
    })
    .await;
    let staff_session = app.new_user("staff", Some(&app.create_store().await)).await;
    let email = staff_session["user"]["email"]
        .as_str()
        .expect("email")
        .to_owned();
    // The client claims an address in front of the attacker's: the rightmost untrusted
    // address counts, not the leftmost.
    let attacker = "10.9.9.9, 203.0.113.66";
    for _ in 0..3 {
        assert_eq!(
            login_via(&app, &email, "wrong password", attacker).await,
            401
        );
    }
    assert_eq!(login_via(&app, &email, USER_PASSWORD, attacker).await, 429);
    assert_eq!(
        login_via(&app, &email, USER_PASSWORD, "203.0.113.66").await,
        429,
        "the attacker is locked out for this email"
    );
    // The owner, from another address, is not.
    let owner = send(
        app.client
            .post(app.url("/api/v1/auth/login"))
            .header("X-Forwarded-For", "198.51.100.7")
            .json(&json!({"email": email, "password": USER_PASSWORD})),
    )
    .await;
    assert_eq!(owner.0, 200, "{}", owner.1);
    assert!(!access_token(&owner.1).is_empty());
}
