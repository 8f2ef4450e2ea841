//! The `webhooks` tree: endpoints and their deliveries.
//!
//! Keys are a one-byte tag and a `0` byte, then:
//! - `w` webhook id → [`Endpoint`]
//! - `d` webhook id, `0`, the event's LSN (big-endian `u64`) and index (big-endian `u16`) →
//!   [`Delivery`]; one endpoint's deliveries are one key range in event order.
//!
//! Like every acknowledged change, these go through the committer and the log.

use super::{ProductWrite, Storage, StorageResult, Tree, codec};
use crate::domain::{
    ids::WebhookId,
    webhook::{Delivery, Endpoint, EventPosition},
};

/// Tag of endpoint keys (also read by [`super::consumer::LogEvent::webhook_endpoints`]).
pub(super) const ENDPOINT_TAG: u8 = b'w';

fn endpoint_key(id: &WebhookId) -> Vec<u8> {
    let mut key = vec![ENDPOINT_TAG, 0];
    key.extend_from_slice(id.as_str().as_bytes());
    key
}

fn deliveries_prefix(id: &WebhookId) -> Vec<u8> {
    let mut key = vec![b'd', 0];
    key.extend_from_slice(id.as_str().as_bytes());
    key.push(0);
    key
}

fn delivery_key(id: &WebhookId, at: EventPosition) -> Vec<u8> {
    let mut key = deliveries_prefix(id);
    key.extend_from_slice(&at.lsn.to_be_bytes());
    key.extend_from_slice(&at.index.to_be_bytes());
    key
}

impl ProductWrite {
    /// Writes an endpoint record (new or changed).
    pub fn webhook(&mut self, endpoint: &Endpoint) -> StorageResult<()> {
        self.put(
            Tree::Webhooks,
            endpoint_key(&endpoint.id),
            codec::encode(endpoint)?,
        );
        Ok(())
    }

    /// Writes a delivery record of the event at `at`.
    pub fn delivery(&mut self, at: EventPosition, delivery: &Delivery) -> StorageResult<()> {
        self.put(
            Tree::Webhooks,
            delivery_key(&delivery.webhook_id, at),
            codec::encode(delivery)?,
        );
        Ok(())
    }
}

impl Storage {
    /// Every endpoint, in id order.
    pub fn webhooks(&self) -> StorageResult<Vec<Endpoint>> {
        self.webhooks
            .scan_prefix([ENDPOINT_TAG, 0])
            .map(|entry| Ok(codec::decode(&entry?.1)?))
            .collect()
    }

    /// One endpoint.
    pub fn webhook(&self, id: &WebhookId) -> StorageResult<Option<Endpoint>> {
        self.webhooks
            .get(endpoint_key(id))?
            .map(|raw| Ok(codec::decode(&raw)?))
            .transpose()
    }

    /// The delivery of the event at `at` to endpoint `id`.
    pub fn delivery(&self, id: &WebhookId, at: EventPosition) -> StorageResult<Option<Delivery>> {
        self.webhooks
            .get(delivery_key(id, at))?
            .map(|raw| Ok(codec::decode(&raw)?))
            .transpose()
    }

    /// The endpoint's deliveries, newest first.
    pub fn deliveries(&self, id: &WebhookId) -> impl Iterator<Item = StorageResult<Delivery>> {
        self.webhooks
            .scan_prefix(deliveries_prefix(id))
            .rev()
            .map(|entry| Ok(codec::decode(&entry?.1)?))
    }

    /// A write removing the endpoint and every delivery of it.
    pub fn delete_webhook(&self, id: &WebhookId) -> StorageResult<ProductWrite> {
        let mut write = ProductWrite::default();
        write.remove(Tree::Webhooks, endpoint_key(id));
        for entry in self.webhooks.scan_prefix(deliveries_prefix(id)) {
            write.remove(Tree::Webhooks, entry?.0);
        }
        Ok(write)
    }

    /// Forgets consumer `name`'s cursor, so the log is no longer kept for it (a deleted or
    /// disabled webhook's worker).
    pub fn drop_cursor(&self, name: &str) -> StorageResult<()> {
        self.cursors.remove(name.as_bytes())?;
        self.db.flush()?;
        Ok(())
    }
}

impl super::consumer::LogEvent {
    /// The endpoint records this record wrote. An endpoint that was just disabled
    /// automatically shows up here with `enabled: false` and a `disabled_reason` (how the
    /// notifications learn of it, to tell the admins).
    pub fn webhook_endpoints(&self) -> impl Iterator<Item = Endpoint> + '_ {
        self.write.ops().iter().filter_map(|op| {
            if op.tree != Tree::Webhooks || !op.key.starts_with(&[ENDPOINT_TAG, 0]) {
                return None;
            }
            codec::decode::<Endpoint>(op.value.as_ref()?).ok()
        })
    }
}
