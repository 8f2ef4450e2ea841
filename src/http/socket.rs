//! One WebSocket connection: a reader task that runs the protocol and a writer task that
//! drains the connection's bounded queue into the socket.

use super::extract::{ApiQuery, Caller, Credentials, credentials_from_token};
use super::topics::{self, deadline_of, far_future, revoked};
use crate::realtime::{
    Frame,
    connection::{CLOSE_GOING_AWAY, CLOSE_LAGGED, CLOSE_POLICY, CLOSE_UNAUTHORIZED, Connection},
    protocol::{self, ClientOp, Mode, Since},
};
use crate::{app::App, error::AppError};
use axum::{
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, Utf8Bytes, WebSocket, rejection::WebSocketUpgradeRejection},
    },
    response::Response,
};
use futures_util::{SinkExt, StreamExt, stream::SplitSink};
use serde::Deserialize;
use serde_json::Value;
use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::{sync::mpsc, time::Instant as Deadline};

/// Largest accepted frame or message.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Errors allowed per [`ERROR_WINDOW`] before the connection is closed.
const MAX_ERRORS: usize = 100;
const ERROR_WINDOW: Duration = Duration::from_secs(60);
/// Most frames the writer sends before one flush.
const WRITE_BATCH: usize = 64;
/// How long a server-initiated close waits to write what is queued plus the close frame, and
/// then for the client's close reply.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(3);

/// Query of the WebSocket upgrade.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WsQuery {
    /// The admin token or an access token (or send `{"op":"auth"}` after connecting).
    token: Option<String>,
}

/// `GET /api/v1/ws`: authenticates `?token=` (a bad token is a 401 before the upgrade).
#[utoipa::path(get, path = "/api/v1/ws", operation_id = "websocket", tag = "WebSocket",
    security((), ("bearer" = [])),
    params(WsQuery),
    responses(
        (status = 101, description = "Switching to the WebSocket protocol of docs/API.md §9."),
        (status = 401, response = super::schema::Unauthorized),
        (status = 422, response = super::schema::Unprocessable),
        (status = 426, response = super::schema::UpgradeRequired),
        (status = 503, response = super::schema::Unavailable),
    ))]
pub async fn upgrade(
    State(app): State<Arc<App>>,
    ApiQuery(query): ApiQuery<WsQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, AppError> {
    let credentials = match query.token.as_deref() {
        Some(token) => credentials_from_token(&app, token)?,
        None => Credentials::anonymous(),
    };
    let ws = ws.map_err(|rejection| AppError::UpgradeRequired(rejection.body_text()))?;
    Ok(ws
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(app, socket, credentials)))
}

/// Runs one connection. It lives as long as its credentials: the select loop holds the access
/// token's expiry as a timer, reset whenever an `auth` op brings new credentials, and closes
/// with 4001 when it fires or when the user is disabled or their sessions are revoked
/// ([`revoked`]).
async fn serve(app: Arc<App>, socket: WebSocket, credentials: Credentials) {
    let hot = &crate::observability::HOT;
    hot.ws_connections.increment(1.0);
    let (sink, mut stream) = socket.split();
    let (conn, queue) = Connection::new(app.next_connection_id(), app.config.ws.outbound_queue);
    let conn = Arc::new(conn);
    let writer = tokio::spawn(write_frames(sink, queue, Arc::clone(&conn)));
    // Subscribed before the credentials are checked again below, so no revocation between the
    // upgrade and here goes unseen.
    let mut revocations = app.auth.revocation_signal();
    let mut session = Session {
        app: Arc::clone(&app),
        conn: Arc::clone(&conn),
        generation: credentials.generation,
        caller: credentials.caller,
        expires: credentials.expires_at.map(deadline_of),
        topics: HashSet::new(),
        errors: VecDeque::new(),
    };
    let mut close = conn.close_signal();
    let mut shutdown = app.shutdown_signal();
    let expiry = tokio::time::sleep_until(session.expires.unwrap_or_else(far_future));
    tokio::pin!(expiry);
    // Whether the server ended the connection (then it waits for the client's close reply).
    let mut server_closed = true;
    if !session.credentials_hold() {
        conn.close_with(CLOSE_UNAUTHORIZED);
    }
    loop {
        let user = session.caller.user_id().cloned();
        let generation = session.generation;
        // Biased: a close request wins over the next client frame, so a flood of frames
        // cannot keep a closing connection busy.
        tokio::select! {
            biased;
            _ = close.changed() => break,
            _ = shutdown.changed() => {
                conn.close_with(CLOSE_GOING_AWAY);
                break;
            }
            () = &mut expiry, if session.expires.is_some() => {
                conn.close_with(CLOSE_UNAUTHORIZED);
                break;
            }
            () = revoked(&app, &mut revocations, user, generation) => {
                conn.close_with(CLOSE_UNAUTHORIZED);
                break;
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => session.handle(text.as_str()),
                Some(Ok(Message::Binary(_))) => {
                    session.error("invalid_message", "binary frames are not supported", None, None)
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => {
                    server_closed = false;
                    break;
                }
                Some(Err(error)) => {
                    let oversized = error.to_string().to_lowercase().contains("too long")
                        || error.to_string().to_lowercase().contains("size");
                    if oversized {
                        conn.close_with(CLOSE_POLICY);
                    }
                    // The stream is unusable after a protocol error: nothing left to read.
                    server_closed = false;
                    break;
                }
            }
        }
        match session.expires {
            Some(at) if at != expiry.deadline() => expiry.as_mut().reset(at),
            _ => {}
        }
    }
    for topic in &session.topics {
        app.shared.hub.unsubscribe(topic, conn.id);
    }
    hot.ws_subscriptions.decrement(session.topics.len() as f64);
    hot.ws_connections.decrement(1.0);
    // Let the writer send its close frame (or finish after a client close).
    conn.close_with(1000);
    if server_closed {
        // The closing handshake: read (and drop) what the client still sends until its close
        // reply. Dropping a socket with unread bytes makes the kernel answer with a TCP reset,
        // which can destroy the frames and the close frame just written (the client sees
        // 1006 instead of the close code).
        let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
            while let Some(Ok(message)) = stream.next().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

/// The edge between the hub's frames and axum's messages: the shared bytes become the text
/// message without a copy (only a UTF-8 check, which a [`Frame`] always passes).
fn text(frame: Frame) -> Message {
    Message::Text(Utf8Bytes::try_from(frame.into_bytes()).unwrap_or_default())
}

/// Drains the queue into the socket; on a close request, sends the close frame and stops.
async fn write_frames(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<Frame>,
    conn: Arc<Connection>,
) {
    let mut close = conn.close_signal();
    loop {
        tokio::select! {
            biased;
            _ = close.changed() => {
                let code = *close.borrow();
                let reason = match code {
                    CLOSE_LAGGED => "lagged",
                    CLOSE_POLICY => "policy violation",
                    CLOSE_GOING_AWAY => "server shutting down",
                    CLOSE_UNAUTHORIZED => "unauthorized",
                    _ => "",
                };
                let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
                    // What was queued before the close goes out first: the replies that led
                    // to it (the 100 errors before a 1008) included. Not for a lagged client:
                    // it does not read, and its backlog is what got it closed.
                    if code != CLOSE_LAGGED {
                        while let Ok(frame) = queue.try_recv() {
                            if sink.feed(text(frame)).await.is_err() {
                                break;
                            }
                        }
                    }
                    sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() })))
                        .await
                })
                .await;
                break;
            }
            frame = queue.recv() => match frame {
                Some(frame) => {
                    // Write what is already queued (up to a bound) with one flush: a backlog
                    // costs one syscall per batch, not per frame.
                    let mut sent = sink.feed(text(frame)).await;
                    let mut batched = 1;
                    while sent.is_ok() && batched < WRITE_BATCH {
                        let Ok(next) = queue.try_recv() else { break };
                        sent = sink.feed(text(next)).await;
                        batched += 1;
                    }
                    if sent.is_err() || sink.flush().await.is_err() {
                        conn.close_with(1000);
                        break;
                    }
                }
                None => break,
            }
        }
    }
}

/// The protocol state of one connection.
struct Session {
    app: Arc<App>,
    conn: Arc<Connection>,
    caller: Caller,
    /// The session generation of the caller's token (see [`revoked`]).
    generation: u64,
    /// When the credentials the connection runs on expire (`None`: never).
    expires: Option<Deadline>,
    topics: HashSet<String>,
    errors: VecDeque<Instant>,
}

impl Session {
    fn handle(&mut self, text: &str) {
        let op = match protocol::parse(text) {
            Ok(op) => op,
            Err(detail) => {
                // Echo the client's `ref` even when the rest of the message is unusable.
                let reference = serde_json::from_str::<Value>(text)
                    .ok()
                    .and_then(|v| v.get("ref").cloned());
                return self.error("invalid_message", &detail, None, reference.as_ref());
            }
        };
        match op {
            ClientOp::Ping { reference } => {
                self.conn.push(protocol::pong(reference.as_ref()));
            }
            ClientOp::Auth { token, reference } => {
                match credentials_from_token(&self.app, &token) {
                    Ok(credentials) => self.authenticate(credentials, reference.as_ref()),
                    Err(_) => self.error("unauthorized", "invalid token", None, reference.as_ref()),
                }
            }
            ClientOp::Unsubscribe { topic, reference } => {
                self.app.shared.hub.unsubscribe(&topic, self.conn.id);
                if self.topics.remove(&topic) {
                    crate::observability::HOT.ws_subscriptions.decrement(1.0);
                }
                self.conn
                    .push(protocol::unsubscribed(&topic, reference.as_ref()));
            }
            ClientOp::Subscribe {
                topic,
                since,
                mode,
                reference,
            } => self.subscribe(topic, since, mode == Some(Mode::Latest), reference),
        }
    }

    /// Switches the connection to new credentials: their expiry becomes the connection's, and
    /// every topic the new caller may not see is dropped (`unsubscribed`, `forbidden`), so a
    /// shared browser tab cannot keep the previous user's feeds.
    fn authenticate(&mut self, credentials: Credentials, reference: Option<&Value>) {
        self.generation = credentials.generation;
        self.caller = credentials.caller;
        self.expires = credentials.expires_at.map(deadline_of);
        let mut forbidden: Vec<String> = self
            .topics
            .iter()
            .filter(|topic| !self.may_see(topic))
            .cloned()
            .collect();
        forbidden.sort();
        for topic in forbidden {
            self.app.shared.hub.unsubscribe(&topic, self.conn.id);
            self.topics.remove(&topic);
            crate::observability::HOT.ws_subscriptions.decrement(1.0);
            self.conn.push(protocol::unsubscribed_forbidden(&topic));
        }
        self.conn
            .push(protocol::authenticated(self.caller.role(), reference));
    }

    /// Whether the connection's credentials are still admitted (not revoked since checked).
    fn credentials_hold(&self) -> bool {
        self.caller
            .user_id()
            .is_none_or(|user| self.app.auth.admits(user, self.generation))
    }

    /// Whether the current caller may hold a subscription to `topic`.
    fn may_see(&self, topic: &str) -> bool {
        topics::may_see(&self.app, &self.caller, topic)
    }

    /// `latest` (`mode: "latest"`) conflates `stock.changed` on product and store topics; it
    /// is ignored on the others.
    fn subscribe(
        &mut self,
        topic: String,
        since: Option<Since>,
        latest: bool,
        reference: Option<Value>,
    ) {
        if !self.topics.contains(&topic)
            && self.topics.len() >= self.app.config.ws.max_topics_per_connection
        {
            return self.error(
                "too_many_topics",
                "ws.max_topics_per_connection reached; unsubscribe first",
                Some(&topic),
                reference.as_ref(),
            );
        }
        let subscribed = topics::subscribe(
            &self.app,
            &self.conn,
            &self.caller,
            &topic,
            since.as_ref(),
            latest,
            reference.as_ref(),
        );
        if subscribed {
            if self.topics.insert(topic) {
                crate::observability::HOT.ws_subscriptions.increment(1.0);
            }
        } else {
            self.error(
                "not_found",
                "no such topic",
                Some(&topic),
                reference.as_ref(),
            );
        }
    }

    /// Sends an `error` frame; too many in a minute close the connection (1008).
    fn error(&mut self, code: &str, detail: &str, topic: Option<&str>, reference: Option<&Value>) {
        let now = Instant::now();
        while self
            .errors
            .front()
            .is_some_and(|at| now.duration_since(*at) > ERROR_WINDOW)
        {
            self.errors.pop_front();
        }
        self.errors.push_back(now);
        if self.errors.len() > MAX_ERRORS {
            self.conn.close_with(CLOSE_POLICY);
            return;
        }
        self.conn
            .push(protocol::error(code, detail, topic, reference));
    }
}
