//! Live updates over WebSocket: the hub (topics, sequences, replay, fan-out), the per-connection
//! outbound queue, and the socket protocol.

pub mod connection;
pub mod hub;
pub mod protocol;
pub mod socket;

pub use hub::Hub;
