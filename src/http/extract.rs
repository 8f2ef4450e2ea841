//! Extractors that turn every malformed request into the contract's problem+json answers:
//! JSON bodies (400/413/415/422 with field paths), query strings (422) and the caller's
//! identity (401).

use super::field_text;
/// The caller type lives with the access rules in `auth`; its extractor (below) is the HTTP
/// part.
pub use crate::auth::Caller;
use crate::{app::App, domain::error::FieldError, error::AppError};
use axum::{
    body::Bytes,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Query, Request},
    http::{HeaderMap, header, request::Parts},
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

/// A JSON body of type `T`, plus the parsed JSON (for idempotency fingerprints).
pub struct ApiJson<T>(pub T, pub Value);

impl<T: DeserializeOwned> FromRequest<Arc<App>> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &Arc<App>) -> Result<Self, AppError> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|mime| mime == "application/json" || mime.ends_with("+json"));
        if !is_json {
            return Err(AppError::UnsupportedMediaType);
        }
        let limit = state.config.http.max_body_bytes;
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge(limit)
            } else {
                AppError::InvalidJson(format!("could not read the body: {rejection}"))
            }
        })?;
        let (value, raw) = decode(&bytes)?;
        Ok(Self(value, raw))
    }
}

/// Parses a JSON object body into `T`: 400 when it is not a JSON object (or repeats a key in
/// any object), 422 with the field path when a field is missing, unknown, mistyped or out of
/// range.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, Value), AppError> {
    let not_json =
        |e: serde_json::Error| AppError::InvalidJson(format!("the body is not valid JSON: {e}"));
    super::unique_keys::check(bytes).map_err(not_json)?;
    let raw: Value = serde_json::from_slice(bytes).map_err(not_json)?;
    if !raw.is_object() {
        return Err(AppError::InvalidJson(
            "the body must be a JSON object".into(),
        ));
    }
    let value = serde_path_to_error::deserialize(raw.clone()).map_err(|e| {
        let path = e.path().to_string();
        let raw_message = e.inner().to_string();
        let field = field_of(&path, &raw_message);
        let message = field_text::message(leaf(&field), &raw_message);
        AppError::Validation(vec![FieldError::new(field, message)])
    })?;
    Ok((value, raw))
}

/// The last segment of a dotted field path (`items[0].quantity` → `quantity`).
fn leaf(field: &str) -> &str {
    field.rsplit('.').next().unwrap_or(field)
}

/// The most precise field name for a serde error: the path, extended with the field named in
/// a "missing field `x`" message.
fn field_of(path: &str, message: &str) -> String {
    // An unknown field is already the last segment of the path; a missing one is not.
    let named = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path, named) {
        (".", Some(name)) => name.to_owned(),
        (path, Some(name)) => format!("{path}.{name}"),
        (path, None) => path.to_owned(),
    }
}

/// Path parameters of type `T`. Every parameter is an id, so one that cannot even be decoded
/// (say, percent-encoded invalid UTF-8) names no resource: 404 like any other malformed id.
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|_| AppError::NotFound)
    }
}

/// A query string of type `T`; anything malformed is a 422.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| Self(value))
            .map_err(|rejection| {
                let text = rejection.body_text();
                let text = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                // serde_path_to_error reports "<param>: <problem>", or just the problem when
                // it concerns the whole query ("missing field `<param>`").
                let (field, raw) = match text.split_once(": ") {
                    Some((param, rest)) if !param.contains(' ') => (param.to_owned(), rest),
                    _ => {
                        let named = text
                            .strip_prefix("missing field `")
                            .or_else(|| text.strip_prefix("unknown field `"))
                            .and_then(|rest| rest.split('`').next())
                            .unwrap_or("query");
                        (named.to_owned(), text)
                    }
                };
                let message = field_text::message(&field, raw);
                AppError::Validation(vec![FieldError::new(field, message)])
            })
    }
}

/// Resolves a bearer token (the admin token or an access token from `/auth/login`) to a
/// caller; an unknown, tampered or expired token is a 401, never anonymous.
pub fn caller_from_token(app: &App, token: &str) -> Result<Caller, AppError> {
    credentials_from_token(app, token).map(|c| c.caller)
}

/// Who a token stands for and until when: what a long-lived connection needs to end itself
/// when its credentials do.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// The caller.
    pub caller: Caller,
    /// When the token stops being valid (Unix seconds); `None` for the admin token and for
    /// anonymous callers, which do not expire.
    pub expires_at: Option<u64>,
    /// The session generation of a user's token (see `auth::tokens::AccessClaims`).
    pub generation: u64,
}

impl Credentials {
    /// No token at all.
    pub fn anonymous() -> Self {
        Self {
            caller: Caller::Anonymous,
            expires_at: None,
            generation: 0,
        }
    }
}

/// [`caller_from_token`] with the token's expiry.
pub fn credentials_from_token(app: &App, token: &str) -> Result<Credentials, AppError> {
    if constant_time_eq(token.as_bytes(), app.admin_token.as_bytes()) {
        Ok(Credentials {
            caller: Caller::Admin { user_id: None },
            expires_at: None,
            generation: 0,
        })
    } else {
        let verified = app.auth.verify(token)?;
        Ok(Credentials {
            caller: verified.caller,
            expires_at: Some(verified.expires_at),
            generation: verified.generation,
        })
    }
}

/// The verified access token of a logged-in user, for endpoints about the caller's own
/// session: 401 without one, 404 for the admin token (it belongs to no account).
pub fn verified_user(app: &App, headers: &HeaderMap) -> Result<crate::auth::Verified, AppError> {
    let token = bearer(headers)?.ok_or(AppError::Unauthorized)?;
    if constant_time_eq(token.as_bytes(), app.admin_token.as_bytes()) {
        return Err(AppError::NotFound);
    }
    Ok(app.auth.verify(token)?)
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer …` header, if any; a malformed header is a 401.
pub fn bearer(headers: &HeaderMap) -> Result<Option<&str>, AppError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(Some)
        .ok_or(AppError::Unauthorized)
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, AppError> {
        match bearer(&parts.headers)? {
            None => Ok(Caller::Anonymous),
            Some(token) => caller_from_token(app, token),
        }
    }
}

/// `page` and `per_page` of a list request, checked against the contract's limits.
pub fn pagination(
    page: Option<usize>,
    per_page: Option<usize>,
) -> Result<(usize, usize), AppError> {
    let page = page.unwrap_or(1);
    let per_page = per_page.unwrap_or(20);
    let mut errors = Vec::new();
    if page < 1 {
        errors.push(FieldError::new(
            "page",
            "must be a whole number of at least 1",
        ));
    }
    if !(1..=100).contains(&per_page) {
        errors.push(FieldError::new(
            "per_page",
            "must be a whole number from 1 to 100",
        ));
    }
    if errors.is_empty() {
        Ok((page, per_page))
    } else {
        Err(AppError::Validation(errors))
    }
}

/// The client's IP address: the TCP peer, or, when the peer is one of `http.trusted_proxies`,
/// the rightmost `X-Forwarded-For` address that is not a trusted proxy (the leftmost entries
/// are whatever the client chose to write). `None` when the server runs without peer
/// addresses (a router driven in-process).
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<Arc<App>> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, std::convert::Infallible> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<super::raw_limits::PeerAddr>>()
            .map(|info| info.0.0.ip().to_canonical());
        Ok(Self(peer.map(|peer| {
            client_ip(peer, &parts.headers, &app.config.http.trusted_proxies)
        })))
    }
}

/// See [`ClientIp`]. An unparsable hop ends the walk: the address that handed it over (a
/// trusted proxy) is then the best that is known.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|t| t.to_canonical() == ip);
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|hop| !hop.is_empty())
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let parsed = hop
            .parse::<IpAddr>()
            .or_else(|_| hop.parse::<SocketAddr>().map(|a| a.ip()));
        let Ok(ip) = parsed else { break };
        client = ip.to_canonical();
        if !is_trusted(client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod client_ip_tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().expect("header"));
        }
        headers
    }

    #[test]
    fn the_header_counts_only_from_a_trusted_proxy_and_its_rightmost_untrusted_hop_wins() {
        let proxy: IpAddr = "10.0.0.1".parse().expect("ip");
        let inner: IpAddr = "10.0.0.2".parse().expect("ip");
        let peer: IpAddr = "192.0.2.9".parse().expect("ip");
        let headers = forwarded(&["1.1.1.1, 203.0.113.5", "10.0.0.2"]);
        assert_eq!(client_ip(peer, &headers, &[proxy]), peer, "untrusted peer");
        assert_eq!(
            client_ip(proxy, &headers, &[proxy, inner]),
            "203.0.113.5".parse::<IpAddr>().expect("ip")
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &[proxy]), proxy);
        assert_eq!(
            client_ip(proxy, &forwarded(&["junk, 10.0.0.2"]), &[proxy, inner]),
            inner,
            "stops at garbage"
        );
        assert_eq!(
            client_ip(proxy, &forwarded(&["[2001:db8::1]:443"]), &[proxy]),
            "2001:db8::1".parse::<IpAddr>().expect("ip")
        );
    }
}
