//! Metrics (`GET /metrics`, Prometheus text format) and the per-request middleware: request
//! id (`x-request-id`), a `tracing` span per request, an access log line, and request counts
//! and latencies per route and status.
//!
//! The `metrics` facade records into one process-wide Prometheus recorder, installed by
//! [`install`] (called by [`crate::run`]). Counters and histograms are recorded where things
//! happen; gauges that the server can read off its state (actors, orders by status) are set
//! when `/metrics` is scraped.

use crate::app::App;
use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use metrics::{Counter, Gauge, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, OnceLock},
    time::{Duration, Instant},
};
use tracing::Instrument;

/// The request id header: echoed when the client sends a usable one, generated otherwise.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest client-chosen request id kept (longer ones are replaced).
const MAX_REQUEST_ID_LEN: usize = 128;

/// `emporium_http_requests_total{method,route,status}`
pub const HTTP_REQUESTS: &str = "emporium_http_requests_total";
/// `emporium_http_request_duration_seconds{method,route,status}`
pub const HTTP_DURATION: &str = "emporium_http_request_duration_seconds";
/// `emporium_ws_connections_active`
pub const WS_CONNECTIONS: &str = "emporium_ws_connections_active";
/// `emporium_ws_subscriptions_active`
pub const WS_SUBSCRIPTIONS: &str = "emporium_ws_subscriptions_active";
/// `emporium_ws_deliveries_total`
pub const WS_DELIVERIES: &str = "emporium_ws_deliveries_total";
/// `emporium_ws_lagged_closes_total`
pub const WS_LAGGED: &str = "emporium_ws_lagged_closes_total";
/// `emporium_actors_active{kind}`
pub const ACTORS: &str = "emporium_actors_active";
/// `emporium_holds_active`
pub const HOLDS_ACTIVE: &str = "emporium_holds_active";
/// `emporium_holds_expired_total`
pub const HOLDS_EXPIRED: &str = "emporium_holds_expired_total";
/// `emporium_journal_batch_size`
pub const JOURNAL_BATCH: &str = "emporium_journal_batch_size";
/// `emporium_journal_fsync_seconds`
pub const JOURNAL_FSYNC: &str = "emporium_journal_fsync_seconds";
/// `emporium_orders{status}`
pub const ORDERS: &str = "emporium_orders";
/// `emporium_payment_attempts_total{outcome}`
pub const PAYMENT_ATTEMPTS: &str = "emporium_payment_attempts_total";

const SECONDS_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const BATCH_BUCKETS: &[f64] = &[
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0, 16384.0,
];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once; later calls return the same handle).
/// Must run before anything records, so that the cached handles below bind to it.
pub fn install() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Full(JOURNAL_BATCH.into()), BATCH_BUCKETS)
            })
            .expect("bucket lists are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("another metrics recorder is installed; /metrics will be mostly empty");
        }
        describe();
        // Register the unlabelled series now, so a scrape shows them (at 0) before any use.
        let hot = &*HOT;
        hot.ws_deliveries.increment(0);
        hot.ws_lagged.increment(0);
        hot.ws_connections.increment(0.0);
        hot.ws_subscriptions.increment(0.0);
        hot.holds_active.increment(0.0);
        hot.holds_expired.increment(0);
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests answered, by method, matched route and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency, by method, matched route and status."
    );
    describe_gauge!(WS_CONNECTIONS, "Open WebSocket connections.");
    describe_gauge!(
        WS_SUBSCRIPTIONS,
        "Topic subscriptions held by open WebSocket connections."
    );
    describe_counter!(
        WS_DELIVERIES,
        "Frames queued to WebSocket connections (events, replies, snapshots)."
    );
    describe_counter!(
        WS_LAGGED,
        "WebSocket connections closed with 4008 because their queue was full."
    );
    describe_gauge!(ACTORS, "Running actors, by kind (product, order, cart).");
    describe_gauge!(
        HOLDS_ACTIVE,
        "Stock holds currently held by running product actors."
    );
    describe_counter!(HOLDS_EXPIRED, "Stock holds released because they expired.");
    describe_histogram!(
        JOURNAL_BATCH,
        Unit::Count,
        "Jobs served by one group commit."
    );
    describe_histogram!(
        JOURNAL_FSYNC,
        Unit::Seconds,
        "Duration of one group commit's flush."
    );
    describe_gauge!(ORDERS, "Orders by status (read model).");
    describe_counter!(
        PAYMENT_ATTEMPTS,
        "Charge attempts at the payment provider, by outcome."
    );
}

/// Drains histogram buckets now and then, so memory stays bounded between scrapes.
pub fn spawn_upkeep() -> tokio::task::JoinHandle<()> {
    let handle = install();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            handle.run_upkeep();
        }
    })
}

/// Cached handles for the hot paths (no registry lookup per use). Created on first use, which
/// comes after [`install`] in the server.
pub struct Hot {
    /// [`WS_DELIVERIES`]
    pub ws_deliveries: Counter,
    /// [`WS_LAGGED`]
    pub ws_lagged: Counter,
    /// [`WS_CONNECTIONS`]
    pub ws_connections: Gauge,
    /// [`WS_SUBSCRIPTIONS`]
    pub ws_subscriptions: Gauge,
    /// [`HOLDS_ACTIVE`]
    pub holds_active: Gauge,
    /// [`HOLDS_EXPIRED`]
    pub holds_expired: Counter,
    /// [`JOURNAL_BATCH`]
    pub journal_batch: Histogram,
    /// [`JOURNAL_FSYNC`]
    pub journal_fsync: Histogram,
}

/// The cached handles.
pub static HOT: LazyLock<Hot> = LazyLock::new(|| Hot {
    ws_deliveries: metrics::counter!(WS_DELIVERIES),
    ws_lagged: metrics::counter!(WS_LAGGED),
    ws_connections: metrics::gauge!(WS_CONNECTIONS),
    ws_subscriptions: metrics::gauge!(WS_SUBSCRIPTIONS),
    holds_active: metrics::gauge!(HOLDS_ACTIVE),
    holds_expired: metrics::counter!(HOLDS_EXPIRED),
    journal_batch: metrics::histogram!(JOURNAL_BATCH),
    journal_fsync: metrics::histogram!(JOURNAL_FSYNC),
});

/// Counts one charge attempt: `captured`, `declined` or `transient`.
pub fn payment_attempt(outcome: &'static str) {
    metrics::counter!(PAYMENT_ATTEMPTS, "outcome" => outcome).increment(1);
}

/// `GET /metrics`: Prometheus text exposition format 0.0.4.
#[utoipa::path(get, path = "/metrics", tag = "Health",
    responses((status = 200, description = "Prometheus text exposition format 0.0.4 (metric names: docs/API.md).",
        body = String, content_type = "text/plain")))]
pub async fn render(State(app): State<Arc<App>>) -> Response {
    let handle = install();
    for (kind, count) in [
        ("product", app.products.active()),
        ("order", app.commerce.orders.active()),
        ("cart", app.commerce.carts.active()),
    ] {
        metrics::gauge!(ACTORS, "kind" => kind).set(count as f64);
    }
    let mut by_status: HashMap<crate::domain::order::OrderStatus, u64> = HashMap::new();
    for order in app.shared.read_model.orders.iter() {
        *by_status.entry(order.status).or_default() += 1;
    }
    for status in crate::domain::order::OrderStatus::ALL {
        let count = by_status.get(&status).copied().unwrap_or(0);
        metrics::gauge!(ORDERS, "status" => status.as_str()).set(count as f64);
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        handle.render(),
    )
        .into_response()
}

/// A client's request id if it is usable (1–128 visible ASCII characters).
fn client_request_id(value: &HeaderValue) -> Option<&str> {
    let bytes = value.as_bytes();
    (!bytes.is_empty()
        && bytes.len() <= MAX_REQUEST_ID_LEN
        && bytes.iter().all(|b| b.is_ascii_graphic()))
    .then(|| value.to_str().ok())
    .flatten()
}

/// A random UUID v4 text.
pub fn new_request_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|byte| format!("{byte:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The outermost middleware: request id, span, access log, request metrics.
pub async fn track(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(client_request_id)
        .map_or_else(new_request_id, str::to_owned);
    let id_header = HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("invalid"));
    request
        .headers_mut()
        .insert(REQUEST_ID.clone(), id_header.clone());
    // Unmatched paths share one label, so a scan of random URLs cannot grow the series.
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
    );
    let path = request.uri().path().to_owned();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    response.headers_mut().insert(REQUEST_ID.clone(), id_header);
    span.in_scope(|| access(&method, route, &path, status, started.elapsed()));
    response
}

/// The access-log line and request metrics of one answer (inside its span).
fn access(method: &Method, route: String, path: &str, status: StatusCode, elapsed: Duration) {
    tracing::info!(
        target: "emporium::access",
        %path,
        status = status.as_u16(),
        micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    let labels = [
        ("method", method.as_str().to_owned()),
        ("route", route),
        ("status", status.as_str().to_owned()),
    ];
    metrics::counter!(HTTP_REQUESTS, &labels).increment(1);
    metrics::histogram!(HTTP_DURATION, &labels).record(elapsed.as_secs_f64());
}

/// Logs and counts an answer given before routing (hyper's limits, see
/// `http::raw_limits`) exactly like [`track`] does for routed ones, route `unmatched`.
pub fn record_unrouted(
    request_id: &str,
    method: &str,
    path: &str,
    status: StatusCode,
    elapsed: Duration,
) {
    let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
    let span = tracing::info_span!(
        "request",
        request_id = %request_id,
        method = %method,
        route = "unmatched",
    );
    span.in_scope(|| access(&method, "unmatched".to_owned(), path, status, elapsed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_request_ids_are_uuid_v4() {
        let id = new_request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert_ne!(id, new_request_id());
    }

    #[test]
    fn only_visible_ascii_request_ids_are_kept() {
        assert_eq!(
            client_request_id(&HeaderValue::from_static("abc-123")),
            Some("abc-123")
        );
        assert_eq!(client_request_id(&HeaderValue::from_static("a b")), None);
        assert_eq!(client_request_id(&HeaderValue::from_static("")), None);
        let long = "x".repeat(MAX_REQUEST_ID_LEN + 1);
        assert_eq!(
            client_request_id(&HeaderValue::from_str(&long).unwrap()),
            None
        );
    }
}
