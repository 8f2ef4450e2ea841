//! Request-level operations that span more than one actor or record: the catalog (stores and
//! product creation) and reservations (the multi-product hold saga), and reviews (the purchase check).

pub mod catalog;
pub mod currency;
pub mod error;
pub mod exports;
pub mod imports;
pub mod metrics;
pub mod orders;
pub mod reservations;
pub mod reviews;
pub mod watchdog;

pub use error::ServiceError;
