//! The WebSocket protocol (docs/API.md §9): client operations in, server frames out.
//! Pure functions, so the wire format is tested without sockets.

use super::Frame;
use crate::domain::time::{Millis, rfc3339};
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Where a resuming client left off.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Since {
    /// The topic epoch the client saw.
    pub epoch: String,
    /// The last `seq` it processed.
    pub seq: u64,
}

/// How a subscription delivers `stock.changed`.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Conflated: the newest state, superseded events may be skipped.
    Latest,
}

/// The operations a client may send; anything else is `unknown op`.
pub const OPS: [&str; 4] = ["subscribe", "unsubscribe", "auth", "ping"];

/// One client operation. Unknown keys are refused (`invalid_message`), as REST refuses unknown
/// fields with 422: a typo such as `"snce"` must not pass silently.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientOp {
    /// Start receiving a topic.
    Subscribe {
        /// `product:{id}` or `store:{id}`.
        topic: String,
        /// Resume point.
        since: Option<Since>,
        /// `latest` asks for conflation of `stock.changed` (product and store topics).
        mode: Option<Mode>,
        /// Echoed in the reply.
        #[serde(rename = "ref")]
        reference: Option<Value>,
    },
    /// Stop receiving a topic.
    Unsubscribe {
        /// The topic.
        topic: String,
        /// Echoed in the reply.
        #[serde(rename = "ref")]
        reference: Option<Value>,
    },
    /// Authenticate the connection.
    Auth {
        /// Bearer token.
        token: String,
        /// Echoed in the reply.
        #[serde(rename = "ref")]
        reference: Option<Value>,
    },
    /// Liveness check.
    Ping {
        /// Echoed in the reply.
        #[serde(rename = "ref")]
        reference: Option<Value>,
    },
}

/// Parses a text frame; the error text is safe to show the client.
pub fn parse(text: &str) -> Result<ClientOp, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("invalid message: {e}"))?;
    match value.get("op") {
        Some(Value::String(op)) if !OPS.contains(&op.as_str()) => {
            return Err("unknown op".to_owned());
        }
        _ => {}
    }
    ClientOp::deserialize(value).map_err(|e| format!("invalid message: {e}"))
}

fn with_ref(mut object: Map<String, Value>, reference: Option<&Value>) -> Frame {
    if let Some(r) = reference {
        object.insert("ref".into(), r.clone());
    }
    Value::Object(object).to_string().into()
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// `{"type":"subscribed", …, "snapshot": …}`; `reset` marks a resume that could not replay.
pub fn subscribed_snapshot(
    topic: &str,
    epoch: &str,
    seq: u64,
    snapshot: Value,
    reset: bool,
    latest: bool,
    reference: Option<&Value>,
) -> Frame {
    let mut o = object(json!({
        "type": "subscribed", "topic": topic, "epoch": epoch, "seq": seq, "snapshot": snapshot,
    }));
    if reset {
        o.insert("reset".into(), Value::Bool(true));
    }
    if latest {
        o.insert("mode".into(), Value::String("latest".into()));
    }
    with_ref(o, reference)
}

/// `{"type":"subscribed", …, "replayed": n}`; the n missed events follow.
pub fn subscribed_replay(
    topic: &str,
    epoch: &str,
    seq: u64,
    replayed: usize,
    latest: bool,
    reference: Option<&Value>,
) -> Frame {
    let mut o = object(json!({
        "type": "subscribed", "topic": topic, "epoch": epoch, "seq": seq, "replayed": replayed,
    }));
    if latest {
        o.insert("mode".into(), Value::String("latest".into()));
    }
    with_ref(o, reference)
}

/// `{"type":"event", …}`.
pub fn event(topic: &str, seq: u64, event: &str, data: &Value, at: Millis) -> Frame {
    json!({"type": "event", "topic": topic, "seq": seq, "event": event, "data": data, "at": rfc3339(at)})
        .to_string()
        .into()
}

/// `{"type":"unsubscribed","topic":…}`.
pub fn unsubscribed(topic: &str, reference: Option<&Value>) -> Frame {
    with_ref(
        object(json!({"type": "unsubscribed", "topic": topic})),
        reference,
    )
}

/// `{"type":"unsubscribed","topic":…,"reason":"forbidden"}`: the server ended a subscription
/// the caller may no longer see (it re-authenticated as someone else).
pub fn unsubscribed_forbidden(topic: &str) -> Frame {
    json!({"type": "unsubscribed", "topic": topic, "reason": "forbidden"})
        .to_string()
        .into()
}

/// `{"type":"pong"}`.
pub fn pong(reference: Option<&Value>) -> Frame {
    with_ref(object(json!({"type": "pong"})), reference)
}

/// `{"type":"authenticated","role":…}` (an Emporium extension: confirms an `auth` op).
pub fn authenticated(role: &str, reference: Option<&Value>) -> Frame {
    with_ref(
        object(json!({"type": "authenticated", "role": role})),
        reference,
    )
}

/// `{"type":"error","code":…,"detail":…}` with the topic when there is one.
pub fn error(code: &str, detail: &str, topic: Option<&str>, reference: Option<&Value>) -> Frame {
    let mut o = object(json!({"type": "error", "code": code, "detail": detail}));
    if let Some(topic) = topic {
        o.insert("topic".into(), Value::String(topic.to_owned()));
    }
    with_ref(o, reference)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_subscribe_with_since_and_rejects_unknown_ops() {
        let op = parse(
            r#"{"op":"subscribe","topic":"product:p","since":{"epoch":"d1","seq":4},"ref":"a"}"#,
        )
        .expect("valid");
        assert!(matches!(
            op,
            ClientOp::Subscribe {
                since: Some(Since { seq: 4, .. }),
                ..
            }
        ));
        assert_eq!(parse(r#"{"op":"dance"}"#).unwrap_err(), "unknown op");
        assert!(parse("not json").is_err());
    }

    #[test]
    fn refuses_unknown_keys_and_modes() {
        let bogus_mode = parse(r#"{"op":"subscribe","topic":"product:p","mode":"bogus"}"#);
        assert!(bogus_mode.unwrap_err().contains("bogus"));
        let typo = parse(r#"{"op":"subscribe","topic":"product:p","snce":{}}"#);
        assert!(typo.unwrap_err().contains("snce"));
        assert!(parse(r#"{"op":"ping","extra":1}"#).is_err());
        assert!(matches!(
            parse(r#"{"op":"subscribe","topic":"product:p","mode":"latest","ref":1}"#),
            Ok(ClientOp::Subscribe {
                mode: Some(Mode::Latest),
                ..
            })
        ));
        assert!(matches!(
            parse(r#"{"op":"ping","ref":"r"}"#),
            Ok(ClientOp::Ping { .. })
        ));
    }

    #[test]
    fn replies_echo_the_ref() {
        let frame = pong(Some(&json!("r1")));
        let value: Value = serde_json::from_str(frame.as_str()).expect("json");
        assert_eq!(value, json!({"type": "pong", "ref": "r1"}));
    }
}
