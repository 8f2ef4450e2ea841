//! Pure business rules: no async, no I/O. Everything here is unit- and property-tested
//! without actors, so the actors stay thin shells that decide with these types, persist, and
//! publish.

pub mod cart;
pub mod currency;
pub mod error;
pub mod fulfillment;
pub mod ids;
pub mod location;
pub mod money;
pub mod notification;
pub mod order;
pub mod product;
pub mod reservation;
pub mod returns;
pub mod review;
pub mod stock;
pub mod store;
pub mod time;
pub mod user;
pub mod waitlist;
pub mod webhook;

pub use error::DomainError;
