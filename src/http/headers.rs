//! Response headers every answer carries whatever produced it (handler, extractor rejection,
//! fallback, CORS preflight): `X-Content-Type-Options: nosniff`, so no browser reads an API
//! answer or an asset as something else; and `Cache-Control: no-store` on the credential
//! endpoints, so no cache keeps tokens or a profile. Pages set their own CSP (web.rs,
//! openapi.rs).

use axum::{
    extract::Request,
    http::{HeaderValue, header},
    middleware::Next,
    response::Response,
};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// Adds the headers above.
pub async fn secure(request: Request, next: Next) -> Response {
    let sensitive = is_credential_path(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if sensitive {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// `/api/v1/auth/*` and `/api/v1/me`: answers that carry tokens or the caller's profile.
fn is_credential_path(path: &str) -> bool {
    path.strip_prefix("/api/v1")
        .is_some_and(|rest| rest.starts_with("/auth/") || rest == "/me")
}

/// CORS for the configured browser origins (`http.cors_origins`), preflight included; `None`
/// when the list is empty, so no CORS header is ever sent. Origins were checked at start-up
/// ([`crate::config::Config::load`]); one that still fails to parse is skipped.
pub fn cors(origins: &[String]) -> Option<CorsLayer> {
    use axum::http::{HeaderName, Method};
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| HeaderValue::from_str(origin).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    let request_id = HeaderName::from_static("x-request-id");
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                header::IF_NONE_MATCH,
                HeaderName::from_static("idempotency-key"),
                request_id.clone(),
            ])
            .expose_headers([
                header::RETRY_AFTER,
                header::LOCATION,
                header::ETAG,
                request_id,
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}
