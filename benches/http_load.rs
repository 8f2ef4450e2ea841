//! Durable holds per second over HTTP, next to a no-op axum handler in the same process.
//!
//! Starts the real server (`emporium::run`) on 127.0.0.1:0 with a temp data dir, creates a
//! store and a product with 10,000,000 units, and starts a no-op axum server on another port.
//! Then it alternates fixed-duration rounds (noop, emporium, noop, emporium, …): in each,
//! CONNECTIONS tasks — each with its own client, so one keep-alive connection apiece — send
//! `POST /api/v1/reservations` (one unit, ttl 600 s, admin token) or `POST /noop` with the
//! same headers and body, back to back. It prints throughput and latency percentiles per
//! round and in total, the emporium/noop ratio, and checks that the product's `reserved`
//! equals the number of acknowledged holds (no oversell, no lost hold).
//!
//! Client and servers share one tokio runtime (and this machine's cores), for both targets
//! alike; the ratio is the figure to compare across machines.
//!
//! Environment: `LOAD_SECS` (per round, default 5), `LOAD_ROUNDS` (pairs,
//! default 2), `LOAD_CONNECTIONS` (default 64), `LOAD_WARMUP_SECS`
//! (default 1, per target, not reported).
//!
//! Run: `cargo bench --bench http_load`.

use axum::{Router, http::StatusCode, routing::post};
use emporium::config::Config;
use serde_json::{Value, json};
use std::{
    str::FromStr,
    time::{Duration, Instant},
};
use tokio::{net::TcpListener, sync::oneshot};

const ADMIN_TOKEN: &str = "adm_loadtest";
const INITIAL_STOCK: i64 = 10_000_000;

fn env_or<T: FromStr>(key: &str, default: T) -> T {
    match std::env::var(key) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{key}={value:?} is not a valid number")),
        Err(_) => default,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Noop,
    Emporium,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Self::Noop => "noop",
            Self::Emporium => "emporium",
        }
    }
}

/// What one round (or several merged) measured.
#[derive(Default)]
struct Outcome {
    ok: u64,
    errors: u64,
    first_error: Option<String>,
    elapsed: Duration,
    /// Latency of every successful request, sorted once merged.
    latencies: Vec<Duration>,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.first_error = self.first_error.take().or(other.first_error);
        self.elapsed += other.elapsed;
        self.latencies.extend(other.latencies);
    }

    fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// Nearest-rank percentile of the (sorted) latencies.
    fn percentile(&self, p: f64) -> Duration {
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let rank = (p / 100.0 * self.latencies.len() as f64).ceil() as usize;
        self.latencies[rank.clamp(1, self.latencies.len()) - 1]
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn row(label: &str, round: &str, o: &Outcome) {
    println!(
        "{label:<9} {round:>5} {:>6.2} {:>9} {:>6} {:>10.0} {:>8} {:>8} {:>8} {:>8}",
        o.elapsed.as_secs_f64(),
        o.ok,
        o.errors,
        o.per_second(),
        ms(o.percentile(50.0)),
        ms(o.percentile(99.0)),
        ms(o.percentile(99.9)),
        ms(o.latencies.last().copied().unwrap_or_default()),
    );
}

/// `connections` clients hammer `url` with `body` for `duration`.
async fn load(url: &str, body: &str, connections: usize, duration: Duration) -> Outcome {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (url, body) = (url.to_owned(), body.to_owned());
            tokio::spawn(async move {
                let client = reqwest::Client::builder()
                    .pool_max_idle_per_host(1)
                    .build()
                    .expect("http client");
                let mut outcome = Outcome::default();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let response = client
                        .post(&url)
                        .bearer_auth(ADMIN_TOKEN)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await;
                    let result = match response {
                        Ok(response) => {
                            let status = response.status();
                            match response.bytes().await {
                                Ok(_) if status == StatusCode::CREATED => Ok(()),
                                Ok(text) => {
                                    Err(format!("{status}: {}", String::from_utf8_lossy(&text)))
                                }
                                Err(error) => Err(error.to_string()),
                            }
                        }
                        Err(error) => Err(error.to_string()),
                    };
                    match result {
                        Ok(()) => {
                            outcome.ok += 1;
                            outcome.latencies.push(sent.elapsed());
                        }
                        Err(error) => {
                            outcome.errors += 1;
                            outcome.first_error.get_or_insert(error);
                        }
                    }
                }
                outcome
            })
        })
        .collect();
    let mut total = Outcome::default();
    for task in tasks {
        total.merge(task.await.expect("load task"));
    }
    total.elapsed = started.elapsed();
    total.latencies.sort_unstable();
    total
}

async fn admin_post(client: &reqwest::Client, url: String, body: Value) -> Value {
    let response = client
        .post(&url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let body: Value = response.json().await.expect("json body");
    assert_eq!(status, StatusCode::CREATED, "POST {url}: {body}");
    body
}

async fn wait_ready(client: &reqwest::Client, base: &str) {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(response) = client.get(format!("{base}/readyz")).send().await
            && response.status() == StatusCode::OK
        {
            return;
        }
        assert!(Instant::now() < until, "server not ready after 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn bench() {
    let secs: f64 = env_or("LOAD_SECS", 5.0);
    let rounds: usize = env_or("LOAD_ROUNDS", 2);
    let connections: usize = env_or("LOAD_CONNECTIONS", 64);
    let warmup: f64 = env_or("LOAD_WARMUP_SECS", 1.0);

    // The real server.
    let dir = tempfile::tempdir().expect("temp dir");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let config = Config {
        addr,
        data_dir: dir.path().join("data"),
        admin_token: Some(ADMIN_TOKEN.into()),
        ..Config::default()
    };
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(emporium::run(config, listener, async move {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}");

    // The baseline: a handler that does nothing.
    let noop_listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let noop_addr = noop_listener.local_addr().expect("local addr");
    let noop = Router::new().route("/noop", post(|| async { StatusCode::CREATED }));
    let noop_server = tokio::spawn(async move { axum::serve(noop_listener, noop).await });

    let client = reqwest::Client::new();
    wait_ready(&client, &base).await;
    let store = admin_post(
        &client,
        format!("{base}/api/v1/stores"),
        json!({"name": "Load store", "kind": "retail", "currency": "USD"}),
    )
    .await;
    let product = admin_post(
        &client,
        format!("{base}/api/v1/products"),
        json!({
            "store_id": store["id"],
            "sku": "LOAD-1",
            "name": "Load product",
            "price": {"amount": 100, "currency": "USD"},
            "initial_stock": INITIAL_STOCK,
        }),
    )
    .await;
    let product_id = product["id"].as_str().expect("product id").to_owned();
    let body = json!({"items": [{"product_id": product_id, "quantity": 1}], "ttl_seconds": 600})
        .to_string();
    let url = |target: Target| match target {
        Target::Noop => format!("http://{noop_addr}/noop"),
        Target::Emporium => format!("{base}/api/v1/reservations"),
    };

    println!(
        "http_load: {connections} connections, {secs} s per round, {rounds} round pairs, \
         {} cores, body {} bytes",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        body.len()
    );
    let mut holds = 0;
    for target in [Target::Noop, Target::Emporium] {
        let outcome = load(
            &url(target),
            &body,
            connections,
            Duration::from_secs_f64(warmup),
        )
        .await;
        if target == Target::Emporium {
            holds += outcome.ok;
        }
    }

    println!(
        "{:<9} {:>5} {:>6} {:>9} {:>6} {:>10} {:>8} {:>8} {:>8} {:>8}",
        "target",
        "round",
        "secs",
        "ok",
        "errors",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms"
    );
    let mut totals = [Outcome::default(), Outcome::default()];
    let mut pair_ratios = Vec::new();
    for round in 1..=rounds {
        let mut rates = [0.0; 2];
        for (i, target) in [Target::Noop, Target::Emporium].into_iter().enumerate() {
            let outcome = load(
                &url(target),
                &body,
                connections,
                Duration::from_secs_f64(secs),
            )
            .await;
            row(target.name(), &round.to_string(), &outcome);
            if let Some(error) = &outcome.first_error {
                println!("          first error: {error}");
            }
            if target == Target::Emporium {
                holds += outcome.ok;
            }
            rates[i] = outcome.per_second();
            totals[i].merge(outcome);
        }
        pair_ratios.push(rates[1] / rates[0]);
    }
    for total in &mut totals {
        total.latencies.sort_unstable();
    }
    row("noop", "all", &totals[0]);
    row("emporium", "all", &totals[1]);
    let ratios: Vec<String> = pair_ratios.iter().map(|r| format!("{r:.3}")).collect();
    println!(
        "ratio emporium/noop throughput: {:.3} overall (per round: {}); p50 {:.1}x, p99 {:.1}x",
        totals[1].per_second() / totals[0].per_second(),
        ratios.join(", "),
        totals[1].percentile(50.0).as_secs_f64() / totals[0].percentile(50.0).as_secs_f64(),
        totals[1].percentile(99.0).as_secs_f64() / totals[0].percentile(99.0).as_secs_f64(),
    );

    // No oversell, no lost hold: every acknowledged hold is reserved, and nothing else is.
    let inventory: Value = client
        .get(format!("{base}/api/v1/products/{product_id}/inventory"))
        .send()
        .await
        .expect("inventory")
        .json()
        .await
        .expect("inventory json");
    let reserved = inventory["reserved"].as_i64().expect("reserved");
    let available = inventory["available"].as_i64().expect("available");
    let on_hand = inventory["on_hand"].as_i64().expect("on_hand");
    println!(
        "check: {holds} holds acknowledged (warm-up included); inventory on_hand {on_hand}, \
         reserved {reserved}, available {available}"
    );
    assert_eq!(
        reserved as u64, holds,
        "reserved differs from acknowledged holds"
    );
    assert_eq!(on_hand, INITIAL_STOCK, "on_hand changed");
    assert_eq!(
        available,
        on_hand - reserved,
        "available != on_hand - reserved"
    );
    assert!(available >= 0, "oversold");

    let _ = stop.send(());
    match tokio::time::timeout(Duration::from_secs(30), server).await {
        Ok(result) => result.expect("server task").expect("server"),
        Err(_) => panic!("server did not shut down within 30 s"),
    }
    noop_server.abort();
}

fn main() {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(bench());
}
