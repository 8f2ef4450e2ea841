//! `GET /metrics` and the per-request middleware: request id (`x-request-id`), a `tracing`
//! span per request, an access log line, and request counts and latencies per route and
//! status. The metric names and the recorder are `crate::observability`'s.

use crate::{
    app::App,
    observability::{ACTORS, HTTP_DURATION, HTTP_REQUESTS, ORDERS, install},
};
use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tracing::Instrument;

/// The request id header: echoed when the client sends a usable one, generated otherwise.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// Longest client-chosen request id kept (longer ones are replaced).
const MAX_REQUEST_ID_LEN: usize = 128;

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
