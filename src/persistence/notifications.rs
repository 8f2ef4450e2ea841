//! Notification records in the `entities` tree: `n` + notification id + `0` →
//! [`Notification`]. Written through the committer like everything else, so a notification
//! exists exactly when the log says so.

use super::{ProductWrite, Storage, StorageResult, Tree, codec, committer::Committer};
use crate::domain::{ids::NotificationId, notification::Notification};

const PREFIX: &[u8] = b"n";

fn key(id: &NotificationId) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + id.as_str().len());
    key.extend_from_slice(PREFIX);
    key.extend_from_slice(id.as_str().as_bytes());
    key.push(0);
    key
}

impl ProductWrite {
    /// Writes a notification (new, or its sending state changed).
    pub fn notification(&mut self, notification: &Notification) -> StorageResult<()> {
        self.put(
            Tree::Entities,
            key(&notification.id),
            codec::encode(notification)?,
        );
        Ok(())
    }
}

impl Storage {
    /// Writes a notification, durably.
    pub async fn put_notification(
        &self,
        committer: &Committer,
        notification: &Notification,
    ) -> StorageResult<()> {
        let mut write = ProductWrite::default();
        write.notification(notification)?;
        committer.write_durable(write).await
    }

    /// Reads a notification.
    pub fn notification(&self, id: &NotificationId) -> StorageResult<Option<Notification>> {
        self.entities
            .get(key(id))?
            .map(|raw| Ok(codec::decode(&raw)?))
            .transpose()
    }

    /// Every notification, in id order. Records that do not decode are skipped with a
    /// warning (one damaged email must not hide the others).
    pub fn notifications(&self) -> impl Iterator<Item = Notification> + '_ {
        self.entities
            .scan_prefix(PREFIX)
            .filter_map(|entry| match entry {
                Ok((k, raw)) if k.starts_with(b"nntf_") => match codec::decode(&raw) {
                    Ok(n) => Some(n),
                    Err(error) => {
                        tracing::warn!(%error, "skipping an unreadable notification record");
                        None
                    }
                },
                Ok(_) => None,
                Err(error) => {
                    tracing::warn!(%error, "reading notifications failed");
                    None
                }
            })
    }
}
