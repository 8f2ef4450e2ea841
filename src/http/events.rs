//! Server-Sent Events (docs/API.md §9): the read-only live channel, for clients behind
//! proxies that drop WebSockets. One stream follows one topic with the WebSocket's access
//! rules, snapshot, resume and lag rule: it subscribes a hub connection exactly as a
//! WebSocket subscription does ([`topics::subscribe`]) and writes the hub's frames as SSE
//! events (`id: <epoch>:<seq>`, `event: <type>`, `data: <the frame>`). It ends when its
//! credentials do (expiry, disabled user, revoked sessions), when it lags (its queue passes
//! `ws.outbound_queue`; the client resumes with `Last-Event-ID`) and at shutdown.

use super::extract::{ApiPath, ApiQuery, Credentials, bearer, credentials_from_token};
use super::topics::{self, deadline_of, far_future, revoked};
use crate::{
    app::App,
    domain::ids::UserId,
    error::AppError,
    realtime::{Frame, connection::Connection, protocol::Since},
};
use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue},
    response::{
        IntoResponse, Response,
        sse::{Event, KeepAlive, Sse},
    },
};
use serde::Deserialize;
use serde_json::Value;
use std::{convert::Infallible, pin::Pin, sync::Arc, time::Duration};
use tokio::sync::{broadcast, mpsc, watch};

/// How often an idle stream sends a `: keep-alive` comment (so proxies keep it open).
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Query of `GET /events`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// A §9 topic, e.g. `order:ord_…` or `product:prod_…`.
    topic: String,
    /// The admin token or an access token (instead of `Authorization`, which `EventSource`
    /// cannot send).
    token: Option<String>,
}

/// Query of `GET /orders/{id}/events`.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrderEventsQuery {
    /// The admin token or an access token (instead of `Authorization`).
    token: Option<String>,
}

/// `GET /events?topic=…` (who may subscribe to the topic on the WebSocket).
#[utoipa::path(get, path = "/api/v1/events", operation_id = "event_stream", tag = "WebSocket",
    security((), ("bearer" = [])),
    params(EventsQuery, ("Last-Event-ID" = Option<String>, Header, description = "`<epoch>:<seq>` of the last event seen: resumes after it (or `event: reset`).")),
    responses(
        (status = 200, description = "`text/event-stream` of the topic: `snapshot` (or `reset`) first, then every event.", content_type = "text/event-stream", body = super::schema::SseEvent),
        (status = 401, response = super::schema::Unauthorized),
        (status = 404, response = super::schema::NotFound),
        (status = 422, response = super::schema::Unprocessable),
        (status = 503, response = super::schema::Unavailable),
    ))]
pub async fn topic(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Response, AppError> {
    open(app, &headers, query.token.as_deref(), query.topic)
}

/// `GET /orders/{id}/events`: the stream of `order:{id}` (its customer, staff of its store,
/// admins).
#[utoipa::path(get, path = "/api/v1/orders/{id}/events", operation_id = "order_event_stream", tag = "Orders",
    security((), ("bearer" = [])),
    params(("id" = String, Path, description = "`ord_…`"), OrderEventsQuery, ("Last-Event-ID" = Option<String>, Header, description = "`<epoch>:<seq>` of the last event seen.")),
    responses(
        (status = 200, description = "`text/event-stream` of the order's topic.", content_type = "text/event-stream", body = super::schema::SseEvent),
        (status = 401, response = super::schema::Unauthorized),
        (status = 404, response = super::schema::NotFound),
        (status = 422, response = super::schema::Unprocessable),
        (status = 503, response = super::schema::Unavailable),
    ))]
pub async fn order(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<OrderEventsQuery>,
) -> Result<Response, AppError> {
    open(app, &headers, query.token.as_deref(), format!("order:{id}"))
}

/// `Last-Event-ID` as a resume point. One that is not `<epoch>:<seq>` cannot be resumed:
/// an empty epoch, which no topic has, so the stream starts with `reset`.
fn last_event_id(headers: &HeaderMap) -> Option<Since> {
    let raw = headers.get("last-event-id")?.to_str().unwrap_or_default();
    let parsed = raw.rsplit_once(':').and_then(|(epoch, seq)| {
        Some(Since {
            epoch: epoch.to_owned(),
            seq: seq.parse().ok()?,
        })
    });
    Some(parsed.unwrap_or(Since {
        epoch: String::new(),
        seq: 0,
    }))
}

/// Authenticates (`?token=`, else `Authorization`), subscribes, and answers the stream; an
/// unknown topic or one the caller may not see is a 404, like the WebSocket's `not_found`.
fn open(
    app: Arc<App>,
    headers: &HeaderMap,
    token: Option<&str>,
    topic: String,
) -> Result<Response, AppError> {
    let credentials = match token {
        Some(token) => credentials_from_token(&app, token)?,
        None => match bearer(headers)? {
            Some(token) => credentials_from_token(&app, token)?,
            None => Credentials::anonymous(),
        },
    };
    let since = last_event_id(headers);
    let (conn, queue) = Connection::new(app.next_connection_id(), app.config.ws.outbound_queue);
    let conn = Arc::new(conn);
    // Listening before subscribing: a revocation from here on is seen.
    let revocations = app.auth.revocation_signal();
    if !topics::subscribe(
        &app,
        &conn,
        &credentials.caller,
        &topic,
        since.as_ref(),
        false,
        None,
    ) {
        return Err(AppError::NotFound);
    }
    let expires = credentials.expires_at.map(deadline_of);
    let feed = Feed {
        close: conn.close_signal(),
        shutdown: app.shutdown_signal(),
        expiry: Box::pin(tokio::time::sleep_until(expires.unwrap_or_else(far_future))),
        expires: expires.is_some(),
        user: credentials.caller.user_id().cloned(),
        generation: credentials.generation,
        revocations,
        queue,
        conn,
        topic,
        epoch: String::new(),
        app,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok::<_, Infallible>(event), feed))
    });
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE).text("keep-alive"))
        .into_response();
    // Asks buffering proxies (nginx) to pass events on at once.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// One open stream: the hub connection's queue and everything that ends it. Dropping it
/// (the client went away, or the stream ended) unsubscribes.
struct Feed {
    app: Arc<App>,
    conn: Arc<Connection>,
    queue: mpsc::Receiver<Frame>,
    topic: String,
    /// The topic's epoch, from the `subscribed` frame (event frames do not repeat it).
    epoch: String,
    close: watch::Receiver<u16>,
    shutdown: watch::Receiver<bool>,
    expiry: Pin<Box<tokio::time::Sleep>>,
    /// Whether the credentials expire at all (`expiry` is a far-future stand-in otherwise).
    expires: bool,
    revocations: broadcast::Receiver<UserId>,
    user: Option<UserId>,
    generation: u64,
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.app.shared.hub.unsubscribe(&self.topic, self.conn.id);
    }
}

impl Feed {
    /// The next event, or `None` once the stream must end.
    async fn next(&mut self) -> Option<Event> {
        loop {
            let frame = tokio::select! {
                biased;
                _ = self.close.changed() => return None,
                _ = self.shutdown.changed() => return None,
                () = &mut self.expiry, if self.expires => return None,
                () = revoked(&self.app, &mut self.revocations, self.user.clone(), self.generation) => {
                    return None;
                }
                frame = self.queue.recv() => frame?,
            };
            if let Some(event) = self.event(&frame) {
                return Some(event);
            }
        }
    }

    /// The SSE event of a hub frame: `subscribed` becomes `snapshot` (or `reset` when a
    /// resume could not replay); a replay's `subscribed` is skipped (the missed events
    /// follow it); `event` frames keep their event name.
    fn event(&mut self, frame: &Frame) -> Option<Event> {
        let value: Value = serde_json::from_str(frame.as_str()).ok()?;
        let seq = value.get("seq").and_then(Value::as_u64)?;
        let name = match value.get("type").and_then(Value::as_str)? {
            "subscribed" => {
                self.epoch = value.get("epoch").and_then(Value::as_str)?.to_owned();
                if value.get("replayed").is_some() {
                    return None;
                }
                if value.get("reset") == Some(&Value::Bool(true)) {
                    "reset"
                } else {
                    "snapshot"
                }
            }
            "event" => value.get("event").and_then(Value::as_str)?,
            _ => return None,
        };
        // Event names and epochs are the server's own; never let one break the framing.
        if name.contains(['\n', '\r']) || self.epoch.contains(['\n', '\r', '\0']) {
            return None;
        }
        Some(
            Event::default()
                .id(format!("{}:{seq}", self.epoch))
                .event(name)
                .data(frame.as_str()),
        )
    }
}
