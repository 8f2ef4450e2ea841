//! `GET /api/v1/asyncapi.json`: the AsyncAPI 3 document of the live channel (docs/API.md §9):
//! the WebSocket at `/api/v1/ws` and the Server-Sent Events streams.
//!
//! Built from the types the channel uses: every event type comes from
//! [`EventType::ALL`] (the hub publishes nothing else), the data of each from the same schema
//! the REST answers use (the OpenAPI document's components, copied in whole, so one
//! `#/components/schemas/Order` means the same thing in both documents), and the client
//! operations from [`ClientOp`]'s own schema. The server frames are built by
//! `realtime::protocol`; their schemas sit next to each other below.

use super::openapi::ApiDoc;
use crate::realtime::{EventType, events::Payload, protocol::ClientOp};
use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};
use serde_json::{Map, Value, json};
use std::sync::LazyLock;
use utoipa::{OpenApi, ToSchema};

/// The document as JSON text, built once.
pub static DOCUMENT: LazyLock<String> = LazyLock::new(|| document_value().to_string());

/// `GET /api/v1/asyncapi.json`: this document.
#[utoipa::path(get, path = "/api/v1/asyncapi.json", operation_id = "asyncapi", tag = "WebSocket",
    responses((status = 200, description = "The AsyncAPI 3 document of the WebSocket and SSE channels.",
        body = Object, content_type = "application/json")))]
pub async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT.as_str(),
    )
        .into_response()
}

/// The message key of an event frame: its wire name (`stock.changed`).
fn event_key(event: EventType) -> &'static str {
    event.as_str()
}

/// The schema of `{"type":"event", …}` carrying `event`.
fn event_frame(event: EventType) -> Value {
    let Payload::Schema(data) = event.payload();
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["type", "topic", "seq", "event", "data", "at"],
        "properties": {
            "type": {"const": "event"},
            "topic": {
                "type": "string",
                "description": format!("One of: {}.", event.topics().join(", ")),
            },
            "seq": {
                "type": "integer", "minimum": 1,
                "description": "Rises by exactly one per event within the topic (it may jump in `latest` mode).",
            },
            "event": {"const": event.as_str()},
            "data": {"$ref": format!("#/components/schemas/{data}")},
            "at": {"type": "string", "format": "date-time"},
        },
    })
}

/// Schemas of the frames that are not events, by message key.
fn control_frames() -> Vec<(&'static str, &'static str, Value)> {
    let reference = json!({"description": "The `ref` of the operation, echoed."});
    vec![
        (
            "subscribed",
            "A subscription started: with the state as of `seq` (`snapshot`, `reset` when a \
             resume could not replay), or with `replayed` missed events that follow.",
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["type", "topic", "epoch", "seq"],
                "properties": {
                    "type": {"const": "subscribed"},
                    "topic": {"type": "string"},
                    "epoch": {"type": "string", "description": "Changes only when the topic's sequence cannot continue."},
                    "seq": {"type": "integer", "minimum": 0},
                    "snapshot": {"description": "The topic's state as of `seq` (inventory, store, order, cart or open orders)."},
                    "replayed": {"type": "integer", "minimum": 0},
                    "reset": {"const": true},
                    "mode": {"const": "latest"},
                    "ref": reference,
                },
            }),
        ),
        (
            "unsubscribed",
            "A subscription ended (`reason: forbidden` when a new `auth` may not see it).",
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["type", "topic"],
                "properties": {
                    "type": {"const": "unsubscribed"},
                    "topic": {"type": "string"},
                    "reason": {"const": "forbidden"},
                    "ref": reference,
                },
            }),
        ),
        (
            "pong",
            "The answer to `ping`.",
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["type"],
                "properties": {"type": {"const": "pong"}, "ref": reference},
            }),
        ),
        (
            "authenticated",
            "The answer to `auth`.",
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["type", "role"],
                "properties": {
                    "type": {"const": "authenticated"},
                    "role": {"enum": ["customer", "staff", "admin"]},
                    "ref": reference,
                },
            }),
        ),
        (
            "error",
            "A refused operation; the connection stays open (over 100 in a minute, or a frame \
             over 64 KiB, closes it with 1008).",
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["type", "code", "detail"],
                "properties": {
                    "type": {"const": "error"},
                    "code": {"enum": ["invalid_message", "not_found", "unauthorized", "too_many_topics"]},
                    "topic": {"type": "string"},
                    "detail": {"type": "string"},
                    "ref": reference,
                },
            }),
        ),
    ]
}

/// The component schemas: the REST types (from the OpenAPI document) and the client
/// operation with what it refers to.
fn schemas() -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(components) = ApiDoc::openapi().components
        && let Ok(Value::Object(schemas)) = serde_json::to_value(&components.schemas)
    {
        out.extend(schemas);
    }
    let mut nested = Vec::new();
    ClientOp::schemas(&mut nested);
    for (name, schema) in nested {
        out.insert(name, serde_json::to_value(schema).unwrap_or(Value::Null));
    }
    out.insert(
        ClientOp::name().into_owned(),
        serde_json::to_value(<ClientOp as utoipa::PartialSchema>::schema()).unwrap_or(Value::Null),
    );
    out
}

fn message(name: &str, summary: &str, payload: Value) -> Value {
    json!({"name": name, "summary": summary, "contentType": "application/json", "payload": payload})
}

fn message_refs(channel: &str, keys: impl IntoIterator<Item = String>) -> Vec<Value> {
    keys.into_iter()
        .map(|k| json!({"$ref": format!("#/channels/{channel}/messages/{k}")}))
        .collect()
}

fn channel_messages(keys: &[String]) -> Map<String, Value> {
    keys.iter()
        .map(|k| {
            (
                k.clone(),
                json!({"$ref": format!("#/components/messages/{k}")}),
            )
        })
        .collect()
}

/// The whole document.
pub fn document_value() -> Value {
    let mut messages = Map::new();
    messages.insert(
        "client_op".into(),
        message(
            "client_op",
            "An operation of the client: subscribe (with `since` to resume, `mode: latest` \
             for conflation), unsubscribe, auth or ping.",
            json!({"$ref": format!("#/components/schemas/{}", ClientOp::name())}),
        ),
    );
    let mut frames: Vec<String> = Vec::new();
    for (key, summary, payload) in control_frames() {
        messages.insert(key.into(), message(key, summary, payload));
        frames.push(key.into());
    }
    let mut events: Vec<String> = Vec::new();
    for event in EventType::ALL {
        let key = event_key(event);
        messages.insert(
            key.into(),
            message(event.as_str(), event.summary(), event_frame(event)),
        );
        events.push(key.into());
    }
    messages.insert(
        "sse.snapshot".into(),
        message(
            "snapshot",
            "The first SSE message (`event: snapshot`): the `subscribed` frame with the state.",
            json!({"$ref": "#/components/messages/subscribed/payload"}),
        ),
    );
    messages.insert(
        "sse.reset".into(),
        message(
            "reset",
            "`event: reset`: `Last-Event-ID` could not be replayed; a fresh `subscribed` \
             frame with the state follows the gap.",
            json!({"$ref": "#/components/messages/subscribed/payload"}),
        ),
    );

    let socket_keys: Vec<String> = std::iter::once("client_op".to_owned())
        .chain(frames.iter().cloned())
        .chain(events.iter().cloned())
        .collect();
    let sse_keys: Vec<String> = ["sse.snapshot".to_owned(), "sse.reset".to_owned()]
        .into_iter()
        .chain(events.iter().cloned())
        .collect();
    let server_keys: Vec<String> = frames.iter().chain(&events).cloned().collect();

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "Emporium live updates",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Live stock, orders and carts (docs/API.md §9). Within a topic `seq` \
    rises by one per event; events are published only after the change is durable, in the order \
    the entity made them. Resume with `since` (WebSocket) or `Last-Event-ID: <epoch>:<seq>` (SSE).",
        },
        "defaultContentType": "application/json",
        "servers": {
            "websocket": {
                "host": "{host}",
                "protocol": "ws",
                "description": "This server (wss behind a TLS proxy).",
                "variables": {"host": {"default": "127.0.0.1:8080"}},
            },
            "http": {
                "host": "{host}",
                "protocol": "http",
                "description": "This server, for Server-Sent Events.",
                "variables": {"host": {"default": "127.0.0.1:8080"}},
            },
        },
        "channels": {
            "socket": {
                "address": "/api/v1/ws",
                "title": "WebSocket",
                "description": "Authenticate with `?token=` or an `auth` operation first; \
    anonymous otherwise. Topics: product:{id}, store:{id}, store:{id}:orders, order:{id}, cart:{id}.",
                "servers": [{"$ref": "#/servers/websocket"}],
                "messages": channel_messages(&socket_keys),
            },
            "events": {
                "address": "/api/v1/events",
                "title": "Server-Sent Events",
                "description": "`GET /api/v1/events?topic=…` (`Authorization` or `?token=`), \
    `text/event-stream`: each message is `id: <epoch>:<seq>`, `event: <type>`, `data: <the frame>`; \
    a `: keep-alive` comment every 15 s.",
                "servers": [{"$ref": "#/servers/http"}],
                "messages": channel_messages(&sse_keys),
            },
            "orderEvents": {
                "address": "/api/v1/orders/{id}/events",
                "title": "Server-Sent Events of one order",
                "description": "The stream of `order:{id}`.",
                "parameters": {"id": {"description": "`ord_…`"}},
                "servers": [{"$ref": "#/servers/http"}],
                "messages": channel_messages(&sse_keys),
            },
        },
        "operations": {
            "sendOperation": {
                "action": "send",
                "channel": {"$ref": "#/channels/socket"},
                "summary": "Subscribe, unsubscribe, authenticate or ping.",
                "messages": message_refs("socket", ["client_op".to_owned()]),
            },
            "receiveFrames": {
                "action": "receive",
                "channel": {"$ref": "#/channels/socket"},
                "summary": "Replies and the events of subscribed topics.",
                "messages": message_refs("socket", server_keys),
            },
            "receiveEvents": {
                "action": "receive",
                "channel": {"$ref": "#/channels/events"},
                "summary": "The snapshot, then the events of one topic.",
                "messages": message_refs("events", sse_keys.clone()),
            },
            "receiveOrderEvents": {
                "action": "receive",
                "channel": {"$ref": "#/channels/orderEvents"},
                "summary": "The snapshot, then the status changes of one order.",
                "messages": message_refs("orderEvents", sse_keys),
            },
        },
        "components": {
            "schemas": schemas(),
            "messages": messages,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `$ref` of the document, with the JSON pointer it names.
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(target)) => out.push(target.clone()),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_of_the_document_resolves_inside_it() {
        let doc = document_value();
        let mut targets = Vec::new();
        refs(&doc, &mut targets);
        assert!(targets.len() > 50, "{}", targets.len());
        for target in targets {
            let pointer = target.strip_prefix('#').expect("a local reference");
            assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
        }
    }

    #[test]
    fn every_event_type_is_a_message_of_the_socket_and_of_both_streams() {
        let doc = document_value();
        for event in EventType::ALL {
            let key = event.as_str();
            assert!(doc["components"]["messages"][key].is_object(), "{key}");
            for channel in ["socket", "events", "orderEvents"] {
                assert!(
                    doc["channels"][channel]["messages"][key].is_object(),
                    "{key} on {channel}"
                );
            }
        }
    }
}
