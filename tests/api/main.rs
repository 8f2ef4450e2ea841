//! One integration-test binary: every test drives a real server over real sockets.

mod auth;
mod carts;
mod durability;
mod errors;
mod helpers;
mod lifecycle;
mod orders;
mod products;
mod reservations;
mod stores;
mod websocket;
