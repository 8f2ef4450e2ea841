//! One integration-test binary: every test drives a real server over real sockets.

mod auth;
mod browser;
mod browser_search;
mod carts;
mod chaos;
mod durability;
mod edges;
mod errors;
mod event_log;
mod helpers;
mod lifecycle;
mod observability;
mod orders;
mod passivation;
mod products;
mod promises;
mod recommendations;
mod requests;
mod reservations;
mod reviews;
mod search;
mod secrets;
mod sessions;
mod stores;
mod websocket;
mod ws_fuzz;
