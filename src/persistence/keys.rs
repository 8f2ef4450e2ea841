//! Key layout. Ids are followed by a `0` byte so that one id's prefix never matches another's,
//! and sequence numbers are big-endian so that byte order is numeric order.

use crate::domain::ids::{ProductId, StoreId};

pub const SNAPSHOT_PREFIX: &[u8] = b"s";
pub const STORE_PREFIX: &[u8] = b"store\0";
/// Stock locations (docs/API.md §13), in the catalog tree.
pub const LOCATION_PREFIX: &[u8] = b"location\0";
pub const SYNONYMS_PREFIX: &[u8] = b"synonyms\0";
/// Marks a store write as an opening or closing (not a creation), for log readers.
pub const STORE_STATUS_PREFIX: &[u8] = b"store_status\0";

fn entity_key(tag: u8, id: &str, seq: Option<u64>) -> Vec<u8> {
    let mut key = Vec::with_capacity(1 + id.len() + 9);
    key.push(tag);
    key.extend_from_slice(id.as_bytes());
    key.push(0);
    if let Some(seq) = seq {
        key.extend_from_slice(&seq.to_be_bytes());
    }
    key
}

/// The exclusive end of every key `tag + id + 0 + …`.
fn entity_end(tag: u8, id: &str) -> Vec<u8> {
    let mut key = entity_key(tag, id, None);
    if let Some(last) = key.last_mut() {
        *last = 1;
    }
    key
}

pub fn snapshot(id: &ProductId) -> Vec<u8> {
    entity_key(b's', id.as_str(), None)
}

pub fn product_of_snapshot(key: &[u8]) -> Option<ProductId> {
    let id = key.strip_prefix(SNAPSHOT_PREFIX)?.strip_suffix(&[0])?;
    ProductId::parse(std::str::from_utf8(id).ok()?)
}

pub fn journal(id: &ProductId, idx: u64) -> Vec<u8> {
    entity_key(b'j', id.as_str(), Some(idx))
}

pub fn journal_end(id: &ProductId) -> Vec<u8> {
    entity_end(b'j', id.as_str())
}

pub fn event(entity: &str, seq: u64) -> Vec<u8> {
    entity_key(b'e', entity, Some(seq))
}

pub const ORDER_PREFIX: &[u8] = b"o";
pub const CART_PREFIX: &[u8] = b"k";

pub fn order(id: &str) -> Vec<u8> {
    entity_key(b'o', id, None)
}

/// Prefix of every return record.
pub const RETURN_PREFIX: &[u8] = b"R";

/// A return record (`R` + return id + `0`).
pub fn return_record(id: &str) -> Vec<u8> {
    entity_key(b'R', id, None)
}

pub fn cart(id: &str) -> Vec<u8> {
    entity_key(b'k', id, None)
}

pub fn movement(id: &ProductId, n: u64) -> Vec<u8> {
    entity_key(b'm', id.as_str(), Some(n))
}

pub fn movement_end(id: &ProductId) -> Vec<u8> {
    entity_end(b'm', id.as_str())
}

pub fn store(id: &StoreId) -> Vec<u8> {
    let mut key = STORE_PREFIX.to_vec();
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

/// A product's waitlist entry `seq` (entities tree; key order is line order).
pub fn waitlist(product: &ProductId, seq: u64) -> Vec<u8> {
    entity_key(b'w', product.as_str(), Some(seq))
}

/// The exclusive end of a product's waitlist keys.
pub fn waitlist_end(product: &ProductId) -> Vec<u8> {
    entity_end(b'w', product.as_str())
}

/// Every waitlist key starts with this.
pub const WAITLIST_PREFIX: &[u8] = b"w";

pub fn location(id: &crate::domain::ids::LocationId) -> Vec<u8> {
    let mut key = LOCATION_PREFIX.to_vec();
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

pub fn store_status(id: &StoreId) -> Vec<u8> {
    let mut key = STORE_STATUS_PREFIX.to_vec();
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

pub fn synonyms(id: &StoreId) -> Vec<u8> {
    let mut key = SYNONYMS_PREFIX.to_vec();
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

pub fn store_of_synonyms(key: &[u8]) -> Option<StoreId> {
    StoreId::parse(std::str::from_utf8(key.strip_prefix(SYNONYMS_PREFIX)?).ok()?)
}

pub fn commit_marker(id: &ProductId, reservation: &str) -> Vec<u8> {
    let mut key = entity_key(b'c', id.as_str(), None);
    key.extend_from_slice(reservation.as_bytes());
    key
}

/// A review of a product (`r` + product + `0` + review id): one product's reviews are one
/// key range.
pub fn review(product: &ProductId, review: &str) -> Vec<u8> {
    let mut key = entity_key(b'r', product.as_str(), None);
    key.extend_from_slice(review.as_bytes());
    key
}

/// The prefix of every review key of `product`.
pub fn reviews_of(product: &ProductId) -> Vec<u8> {
    entity_key(b'r', product.as_str(), None)
}
