//! Server-Sent Events (docs/API.md §9): a real HTTP client reads the stream. Snapshot first,
//! events in order, `Last-Event-ID` resume (exact replay, or `reset` for an unknown epoch),
//! the WebSocket's access rules, and the end of the stream with the credentials.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// One SSE event as the client parsed it.
#[derive(Debug)]
struct SseEvent {
    id: String,
    event: String,
    data: Value,
}

/// A reader of one `text/event-stream` answer.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    async fn open(request: reqwest::RequestBuilder) -> Self {
        let response = request.send().await.expect("request sent");
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().expect("ascii");
        assert!(
            content_type.starts_with("text/event-stream"),
            "{content_type}"
        );
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped); `None` when the server ended the stream. Panics
    /// after 5 s without one.
    async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim_start().to_owned();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim_start().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if data.is_empty() {
                    continue; // a comment (keep-alive)
                }
                let data = serde_json::from_str(&data).expect("data is JSON");
                return Some(SseEvent { id, event, data });
            }
            let chunk = tokio::time::timeout(Duration::from_secs(5), self.response.chunk())
                .await
                .expect("an event within 5 s")
                .expect("stream readable")?;
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }

    /// Asserts that nothing arrives for a short while.
    async fn assert_quiet(&mut self) {
        let got = tokio::time::timeout(Duration::from_millis(300), self.next()).await;
        assert!(got.is_err(), "unexpected {got:?}");
    }
}

async fn product_stream(app: &TestApp, product: &str, last_event_id: Option<&str>) -> Stream {
    let mut request = app
        .client
        .get(app.url(&format!("/api/v1/events?topic=product:{product}")));
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    Stream::open(request).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_product_stream_starts_with_a_snapshot_and_carries_every_event_in_order() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let mut stream = product_stream(&app, &product, None).await;

    let snapshot = stream.next().await.expect("snapshot");
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.data["type"], "subscribed");
    assert_eq!(snapshot.data["snapshot"]["on_hand"], 5);
    let seq = snapshot.data["seq"].as_u64().expect("seq");
    assert_eq!(snapshot.id, format!("d1:{seq}"));

    for delta in [3, -1, 2] {
        adjust_stock(&app.client, app.addr, &product, delta).await;
    }
    let mut on_hand = 5;
    for (n, delta) in [3, -1, 2].into_iter().enumerate() {
        let event = stream.next().await.expect("event");
        on_hand += delta;
        let expected = seq + 1 + n as u64;
        assert_eq!(event.event, "stock.changed");
        assert_eq!(event.id, format!("d1:{expected}"));
        assert_eq!(event.data["type"], "event");
        assert_eq!(event.data["seq"], expected);
        assert_eq!(event.data["data"]["on_hand"], on_hand);
    }
    stream.assert_quiet().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_last_event_id_gets_exactly_the_missed_events_and_an_unknown_epoch_a_reset()
 {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let mut stream = product_stream(&app, &product, None).await;
    let seen = stream.next().await.expect("snapshot").id;
    drop(stream);

    adjust_stock(&app.client, app.addr, &product, 1).await;
    adjust_stock(&app.client, app.addr, &product, 1).await;
    let mut resumed = product_stream(&app, &product, Some(&seen)).await;
    let seq: u64 = seen
        .split(':')
        .nth(1)
        .expect("seq")
        .parse()
        .expect("number");
    for missed in [seq + 1, seq + 2] {
        let event = resumed.next().await.expect("replayed");
        assert_eq!(
            (event.event.as_str(), event.id.clone()),
            ("stock.changed", format!("d1:{missed}"))
        );
    }
    adjust_stock(&app.client, app.addr, &product, 1).await;
    let live = resumed.next().await.expect("live");
    assert_eq!(live.id, format!("d1:{}", seq + 3), "no snapshot, no repeat");

    // Up to date: nothing to replay, the next event is the next one.
    let mut current = product_stream(&app, &product, Some(&live.id)).await;
    current.assert_quiet().await;

    for unknown in ["zz:3", "garbage"] {
        let mut reset = product_stream(&app, &product, Some(unknown)).await;
        let first = reset.next().await.expect("reset");
        assert_eq!(first.event, "reset", "{unknown}");
        assert_eq!(first.data["reset"], true);
        assert_eq!(first.data["snapshot"]["on_hand"], 8);
        assert_eq!(first.id, format!("d1:{}", seq + 3));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_stream_follows_the_websocket_access_rules_and_ends_when_its_user_is_disabled() {
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let customer = app.customer().await;
    let staff = app.staff(&store).await;
    let cart = app.cart_with(&customer.token, &product, 1).await;
    let (status, order) = app.checkout(&customer.token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    let order_id = id_of(&order);
    let path = format!("/api/v1/orders/{order_id}/events");

    // Others may not see it: 404 like the WebSocket's not_found; a bad token is a 401.
    let stranger = app.customer().await;
    for token in [None, Some(stranger.token.as_str())] {
        expect_problem(app.request_as(Method::GET, &path, token), 404, "not_found").await;
    }
    expect_problem(
        app.request_as(
            Method::GET,
            &format!("/api/v1/events?topic=order:{order_id}"),
            Some(&stranger.token),
        ),
        404,
        "not_found",
    )
    .await;
    for topic in [
        "product:prod_nope",
        "nonsense",
        &format!("store:{store}:orders"),
    ] {
        expect_problem(
            app.client
                .get(app.url("/api/v1/events"))
                .query(&[("topic", topic)]),
            404,
            "not_found",
        )
        .await;
    }
    expect_problem(
        app.client.get(app.url("/api/v1/events")),
        422,
        "validation_failed",
    )
    .await;
    expect_problem(
        app.client
            .get(app.url(&format!("{path}?token=not-a-token"))),
        401,
        "unauthorized",
    )
    .await;

    // The customer (header), staff (`?token=`) and the generic endpoint see the same stream.
    let mut mine = Stream::open(app.request_as(Method::GET, &path, Some(&customer.token))).await;
    let mut theirs = Stream::open(
        app.client
            .get(app.url(&format!("{path}?token={}", staff.token))),
    )
    .await;
    let mut generic = Stream::open(app.request_as(
        Method::GET,
        &format!("/api/v1/events?topic=order:{order_id}"),
        Some(&customer.token),
    ))
    .await;
    for stream in [&mut mine, &mut theirs, &mut generic] {
        let snapshot = stream.next().await.expect("snapshot");
        assert_eq!(snapshot.event, "snapshot");
        assert_eq!(snapshot.data["snapshot"]["id"], order_id.as_str());
    }
    let (status, body) = app
        .set_order_status(&order_id, "preparing", &staff.token)
        .await;
    assert_eq!(status, 200, "{body}");
    for stream in [&mut mine, &mut theirs, &mut generic] {
        let event = stream.next().await.expect("event");
        assert_eq!(event.event, "order.status_changed");
        assert_eq!(event.data["data"]["to"], "preparing");
    }

    // Disabling the customer ends their streams within a second; staff's goes on.
    let (status, _) = app
        .admin_patch(
            &format!("/api/v1/users/{}", customer.id),
            json!({"disabled": true}),
        )
        .await;
    assert_eq!(status, 200);
    for stream in [&mut mine, &mut generic] {
        let end = tokio::time::timeout(Duration::from_secs(1), stream.next()).await;
        assert!(matches!(end, Ok(None)), "still open: {end:?}");
    }
    let (status, _) = app.set_order_status(&order_id, "ready", &staff.token).await;
    assert_eq!(status, 200);
    assert_eq!(
        theirs.next().await.expect("event").data["data"]["to"],
        "ready"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_access_token_expires() {
    let app = spawn_app_with(|config| config.auth.access_ttl_seconds = 1).await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let customer = app.customer().await;
    let mut stream = Stream::open(app.request_as(
        Method::GET,
        &format!("/api/v1/events?topic=product:{product}"),
        Some(&customer.token),
    ))
    .await;
    assert_eq!(stream.next().await.expect("snapshot").event, "snapshot");
    let end = tokio::time::timeout(Duration::from_secs(3), stream.next()).await;
    assert!(matches!(end, Ok(None)), "still open: {end:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_storefront_order_page_follows_the_order_over_sse_when_websockets_fail_in_chromium() {
    use crate::browser::{Driver, eval, open, programs, screenshot, shop_sign_in, wait_until};
    use futures_util::FutureExt;
    let Some(programs) = programs() else {
        return;
    };
    let app = spawn_app().await;
    let store = app.create_store().await;
    let product = app.create_product(&store, 5).await;
    let session = app.new_customer().await;
    let token = access_token(&session);
    let staff = app.staff(&store).await;
    let cart = app.cart_with(&token, &product, 1).await;
    let (status, order) = app.checkout(&token, &cart, "tok_visa").await;
    assert_eq!(status, 201, "{order}");
    let order_id = id_of(&order);
    let mut driver = Driver::start(&programs).await;
    let browser = driver.session(1000, 900).await;
    let outcome = std::panic::AssertUnwindSafe(async {
        open(&browser, &app.url("/")).await;
        shop_sign_in(&browser, session["user"]["email"].as_str().expect("email")).await;
        eval(
            &browser,
            &format!("(location.hash = '#order/{order_id}', true)"),
        )
        .await;
        let status_is = |status: &str| {
            format!("document.querySelector('#order-status')?.dataset.status === '{status}'")
        };
        wait_until(&browser, "the order page", &status_is("confirmed")).await;
        // From now on every WebSocket fails at once (as behind a proxy that drops upgrades),
        // and the live one drops.
        eval(
            &browser,
            "(() => { window.WebSocket = class { \
               constructor() { this.readyState = 3; setTimeout(() => this.onclose?.(), 20); } \
               send() {} close() {} }; \
             window.dispatchEvent(new Event('offline')); return true; })()",
        )
        .await;
        wait_until(
            &browser,
            "the page to notice",
            "document.querySelector('#live-status').dataset.status === 'offline'",
        )
        .await;
        // The fallback opens after two seconds offline; then a status change still arrives.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        let (status, body) = app
            .set_order_status(&order_id, "preparing", &staff.token)
            .await;
        assert_eq!(status, 200, "{body}");
        wait_until(&browser, "the change over SSE", &status_is("preparing")).await;
        screenshot(&browser, "storefront-order-over-sse").await;
    })
    .catch_unwind()
    .await;
    let _ = browser.close().await;
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
