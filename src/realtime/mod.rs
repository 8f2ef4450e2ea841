//! Live updates: the hub (topics, sequences, replay, fan-out), the per-connection outbound
//! queue, and the socket protocol. The WebSocket handler that speaks it to clients is an edge
//! and lives in `http::socket`.

pub mod connection;
pub mod events;
pub mod frame;
pub mod hub;
pub mod protocol;

pub use events::EventType;
pub use frame::Frame;
pub use hub::Hub;
