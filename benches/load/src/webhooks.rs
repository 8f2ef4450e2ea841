//! `webhooks`: E durable stock changes fan out to N webhook endpoints on loopback (a receiver
//! in this process). Reports deliveries/s from the first event sent to the last delivery
//! received, and the end-to-end lag from each event's commit (its `created_at`) to its
//! arrival at the receiver.

use crate::common::{self, Histogram, Http};
use axum::{Router, body::Bytes, extract::State, http::StatusCode, routing::post};
use hyper::Method;
use serde_json::{Value, json};
use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering::Relaxed},
    },
    time::{Duration, Instant},
};

/// What the receiver measures.
struct Received {
    count: AtomicU64,
    lag: Histogram,
}

async fn receive(State(received): State<Arc<Received>>, body: Bytes) -> StatusCode {
    let now = common::now_ms();
    if let Ok(event) = serde_json::from_slice::<Value>(&body) {
        if let Some(at) = event["created_at"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            received.lag.record_ms(now - at.timestamp_millis());
        }
    }
    received.count.fetch_add(1, Relaxed);
    StatusCode::OK
}

pub async fn run(events: usize, endpoints: usize, connections: usize) {
    let server = common::start_server(|c| {
        c.webhooks.allow_private_targets = true;
        c.webhooks.timeout_ms = 5000;
    })
    .await;
    let received = Arc::new(Received {
        count: AtomicU64::new(0),
        lag: Histogram::new(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind receiver");
    let receiver = listener.local_addr().expect("receiver addr");
    let router = Router::new()
        .route("/hook/{n}", post(receive))
        .with_state(Arc::clone(&received));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let mut http = Http::connect(server.addr).await;
    let store = common::create_store(&mut http).await;
    let connections = connections.max(1);
    let mut products = Vec::new();
    for i in 0..connections {
        products.push(common::create_product(&mut http, &store, &format!("WH-{i}"), 1).await);
    }
    for n in 0..endpoints {
        http.admin(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({
                "url": format!("http://{receiver}/hook/{n}"),
                "events": ["stock.changed"],
                "store_id": store,
            })),
        )
        .await;
    }

    let expected = (events * endpoints) as u64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, product) in products.into_iter().enumerate() {
        let share = events / connections + usize::from(i < events % connections);
        let addr = server.addr;
        tasks.push(tokio::spawn(async move {
            let mut http = Http::connect(addr).await;
            let path = format!("/api/v1/products/{product}/inventory/adjustments");
            for _ in 0..share {
                http.admin(
                    Method::POST,
                    &path,
                    Some(json!({"delta": 1, "reason": "restock"})),
                )
                .await;
            }
        }));
    }
    for task in tasks {
        task.await.expect("event task");
    }
    let produced = started.elapsed();
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let got = received.count.load(Relaxed);
        common::progress(&format!("{got}/{expected} deliveries"));
        if got >= expected || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    common::done_progress();
    let elapsed = started.elapsed();
    let got = received.count.load(Relaxed);
    let (_, p50, p99) = received.lag.take();
    common::table(
        &format!(
            "webhooks: {events} stock changes to {endpoints} endpoints on loopback ({connections} writers)"
        ),
        &[
            "deliveries",
            "events/s (commit)",
            "deliveries/s",
            "lag p50 ms",
            "lag p99 ms",
        ],
        &[vec![
            format!("{got}/{expected}"),
            format!("{:.0}", events as f64 / produced.as_secs_f64()),
            format!("{:.0}", got as f64 / elapsed.as_secs_f64()),
            p50.to_string(),
            p99.to_string(),
        ]],
    );
}
