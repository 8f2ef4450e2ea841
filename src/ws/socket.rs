//! One WebSocket connection: a reader task that runs the protocol and a writer task that
//! drains the connection's bounded queue into the socket.

use super::{
    connection::{CLOSE_GOING_AWAY, CLOSE_POLICY, Connection},
    hub::Replayed,
    protocol::{self, ClientOp, Since},
};
use crate::{
    app::App,
    domain::ids::{ProductId, StoreId},
    error::AppError,
    http::extract::{Caller, caller_from_token},
    views,
};
use axum::{
    extract::{
        Query, State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
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
use tokio::sync::mpsc;

/// Largest accepted frame or message.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Errors allowed per [`ERROR_WINDOW`] before the connection is closed.
const MAX_ERRORS: usize = 100;
const ERROR_WINDOW: Duration = Duration::from_secs(60);

#[derive(Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

/// `GET /api/v1/ws`: authenticates `?token=` (a bad token is a 401 before the upgrade).
pub async fn upgrade(
    State(app): State<Arc<App>>,
    Query(query): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, AppError> {
    let caller = match query.token.as_deref() {
        Some(token) => caller_from_token(&app, token)?,
        None => Caller::Anonymous,
    };
    Ok(ws
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| serve(app, socket, caller)))
}

async fn serve(app: Arc<App>, socket: WebSocket, caller: Caller) {
    let (sink, mut stream) = socket.split();
    let (conn, queue) = Connection::new(app.next_connection_id(), app.config.ws.outbound_queue);
    let conn = Arc::new(conn);
    let writer = tokio::spawn(write_frames(sink, queue, Arc::clone(&conn)));
    let mut session = Session {
        app: Arc::clone(&app),
        conn: Arc::clone(&conn),
        caller,
        topics: HashSet::new(),
        errors: VecDeque::new(),
    };
    let mut close = conn.close_signal();
    let mut shutdown = app.shutdown_signal();
    loop {
        tokio::select! {
            _ = close.changed() => break,
            _ = shutdown.changed() => {
                conn.close_with(CLOSE_GOING_AWAY);
                break;
            }
            frame = stream.next() => match frame {
                Some(Ok(Message::Text(text))) => session.handle(text.as_str()),
                Some(Ok(Message::Binary(_))) => {
                    session.error("invalid_message", "binary frames are not supported", None, None)
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => break,
                Some(Err(error)) => {
                    let oversized = error.to_string().to_lowercase().contains("too long")
                        || error.to_string().to_lowercase().contains("size");
                    if oversized {
                        conn.close_with(CLOSE_POLICY);
                    }
                    break;
                }
            }
        }
    }
    for topic in &session.topics {
        app.shared.hub.unsubscribe(topic, conn.id);
    }
    // Let the writer send its close frame (or finish after a client close).
    conn.close_with(1000);
    let _ = tokio::time::timeout(Duration::from_secs(5), writer).await;
}

/// Drains the queue into the socket; on a close request, sends the close frame and stops.
async fn write_frames(
    mut sink: SplitSink<WebSocket, Message>,
    mut queue: mpsc::Receiver<axum::extract::ws::Utf8Bytes>,
    conn: Arc<Connection>,
) {
    let mut close = conn.close_signal();
    loop {
        tokio::select! {
            biased;
            _ = close.changed() => {
                let code = *close.borrow();
                let reason = match code {
                    4008 => "lagged",
                    1008 => "policy violation",
                    1001 => "server shutting down",
                    _ => "",
                };
                let _ = sink
                    .send(Message::Close(Some(CloseFrame { code, reason: reason.into() })))
                    .await;
                break;
            }
            frame = queue.recv() => match frame {
                Some(frame) => {
                    if sink.send(Message::Text(frame)).await.is_err() {
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
    topics: HashSet<String>,
    errors: VecDeque<Instant>,
}

impl Session {
    fn handle(&mut self, text: &str) {
        let op = match protocol::parse(text) {
            Ok(op) => op,
            Err(detail) => return self.error("invalid_message", &detail, None, None),
        };
        match op {
            ClientOp::Ping { reference } => {
                self.conn.push(protocol::pong(reference.as_ref()));
            }
            ClientOp::Auth { token, reference } => match caller_from_token(&self.app, &token) {
                Ok(caller) => {
                    self.caller = caller;
                    self.conn.push(protocol::authenticated(
                        self.caller.role(),
                        reference.as_ref(),
                    ));
                }
                Err(_) => self.error("unauthorized", "invalid token", None, reference.as_ref()),
            },
            ClientOp::Unsubscribe { topic, reference } => {
                self.app.shared.hub.unsubscribe(&topic, self.conn.id);
                self.topics.remove(&topic);
                self.conn
                    .push(protocol::unsubscribed(&topic, reference.as_ref()));
            }
            ClientOp::Subscribe {
                topic,
                since,
                mode: _,
                reference,
            } => self.subscribe(topic, since, reference),
        }
    }

    fn subscribe(&mut self, topic: String, since: Option<Since>, reference: Option<Value>) {
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
        let hub = &self.app.shared.hub;
        let read_model = &self.app.shared.read_model;
        let subscribed = match topic.split_once(':') {
            Some(("product", raw)) => match ProductId::parse(raw) {
                Some(id) if read_model.products.contains_key(&id) => {
                    let storage = self.app.shared.storage.clone();
                    hub.subscribe_durable(
                        &topic,
                        &self.conn,
                        since.as_ref(),
                        reference.as_ref(),
                        || {
                            read_model
                                .product(&id)
                                .map(|p| (p.stock.version, views::inventory(&p)))
                        },
                        |from, to| replay_product(&storage, &topic, &id, from, to),
                    )
                }
                _ => false,
            },
            Some(("store", raw)) if !raw.contains(':') => match StoreId::parse(raw) {
                Some(id) if read_model.stores.contains_key(&id) => hub.subscribe_volatile(
                    &topic,
                    &self.conn,
                    since.as_ref(),
                    reference.as_ref(),
                    || read_model.stores.get(&id).map(|s| views::store(&s)),
                ),
                _ => false,
            },
            _ => false,
        };
        if subscribed {
            self.topics.insert(topic);
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

/// Stored events of a product as `event` frames, or `None` when some are gone.
fn replay_product(
    storage: &crate::persistence::Storage,
    topic: &str,
    id: &ProductId,
    from: u64,
    to: u64,
) -> Option<Vec<Replayed>> {
    let events = storage.events(id, from, to).ok()?;
    events
        .into_iter()
        .map(|e| {
            let data: Value = serde_json::from_str(&e.data).ok()?;
            Some((e.seq, protocol::event(topic, e.seq, &e.name, &data, e.at)))
        })
        .collect()
}
