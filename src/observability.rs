//! Metric names, the process-wide Prometheus recorder and the cached handles of the hot
//! paths. Low in the layers so that every layer can count (the committer, the hub, the
//! actors); `/metrics` and the per-request middleware are the HTTP edge's
//! (`http::telemetry`).
//!
//! The `metrics` facade records into one process-wide Prometheus recorder, installed by
//! [`install`] (called by [`crate::run`]). Counters and histograms are recorded where things
//! happen; gauges that the server can read off its state (actors, orders by status) are set
//! when `/metrics` is scraped.

use metrics::{Counter, Gauge, Histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::{
    sync::{LazyLock, OnceLock},
    time::Duration,
};

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
/// `emporium_log_durable_lsn`
pub const LOG_DURABLE: &str = "emporium_log_durable_lsn";
/// `emporium_log_checkpoint_lsn`
pub const LOG_CHECKPOINT: &str = "emporium_log_checkpoint_lsn";
/// `emporium_log_segments`
pub const LOG_SEGMENTS: &str = "emporium_log_segments";
/// `emporium_search_indexed_lsn`
pub const SEARCH_INDEXED_LSN: &str = "emporium_search_indexed_lsn";
/// `emporium_search_documents_indexed_total`
pub const SEARCH_DOCUMENTS_INDEXED: &str = "emporium_search_documents_indexed_total";
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
        SEARCH_INDEXED_LSN,
        "Log position the search index has committed (compare emporium_log_durable_lsn)."
    );
    describe_counter!(
        SEARCH_DOCUMENTS_INDEXED,
        "Product documents written to the search index by its log follower."
    );
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
        "Duration of one group commit's log write and fdatasync."
    );
    describe_gauge!(
        LOG_DURABLE,
        "Number of the last event-log record that is durable."
    );
    describe_gauge!(
        LOG_CHECKPOINT,
        "Log record up to which sled is flushed (start-up replays the log after it)."
    );
    describe_gauge!(
        LOG_SEGMENTS,
        "Event-log segment files kept (those below the checkpoint and every consumer's cursor go)."
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
    /// [`LOG_DURABLE`]
    pub log_durable: Gauge,
    /// [`LOG_CHECKPOINT`]
    pub log_checkpoint: Gauge,
    /// [`LOG_SEGMENTS`]
    pub log_segments: Gauge,
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
    log_durable: metrics::gauge!(LOG_DURABLE),
    log_checkpoint: metrics::gauge!(LOG_CHECKPOINT),
    log_segments: metrics::gauge!(LOG_SEGMENTS),
});

/// Counts one charge attempt: `captured`, `declined` or `transient`.
pub fn payment_attempt(outcome: &'static str) {
    metrics::counter!(PAYMENT_ATTEMPTS, "outcome" => outcome).increment(1);
}
