//! Delivery of queued notifications over SMTP (lettre), one at a time, in due order.
//!
//! Each email has a plain-text and an HTML part (`multipart/alternative`), `From:
//! notifications.from` and a `Message-ID` derived from the notification id, so a resend after
//! a crash is recognisable. A failed attempt is retried after `notifications.retry_base_ms`,
//! doubling each time (capped at an hour), until `notifications.retry_for_seconds` after the
//! email was due (24 h); a permanent refusal (5xx, a bad address) fails it at once. Without an
//! SMTP server a due email is marked `recorded`.

use super::Notifications;
use crate::{
    config::NotificationsConfig,
    domain::{
        ids::NotificationId,
        notification::{Notification, Status},
        time::{Millis, now_ms},
    },
    persistence::StorageError,
};
use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, MultiPart},
};
use std::{collections::BTreeSet, sync::Arc, time::Duration};
use tokio::sync::mpsc;

/// Longest wait between two attempts.
const MAX_BACKOFF_MS: u64 = 3_600_000;
/// One SMTP exchange may take this long.
const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

/// The SMTP side: a transport and the sender address.
pub struct Smtp {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The domain of `Message-ID`s (the sender's).
    domain: String,
}

impl Smtp {
    /// `None` without `notifications.smtp_url`; `Err` names a bad URL or sender.
    pub fn from_config(config: &NotificationsConfig) -> Result<Option<Self>, String> {
        let Some(url) = config.smtp_url.as_deref().filter(|u| !u.is_empty()) else {
            return Ok(None);
        };
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("notifications.from is not an email address: {e}"))?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| format!("notifications.smtp_url is not a usable SMTP URL: {e}"))?
            .timeout(Some(SMTP_TIMEOUT))
            .build();
        let domain = from.email.domain().to_owned();
        Ok(Some(Self {
            transport,
            from,
            domain,
        }))
    }

    /// Sends one notification. `Err((permanent, reason))` when it did not go.
    async fn send(&self, n: &Notification) -> Result<(), (bool, String)> {
        let to: Mailbox =
            n.to.parse()
                .map_err(|e| (true, format!("bad recipient address: {e}")))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(n.subject.clone())
            .message_id(Some(format!("<{}@{}>", n.id, self.domain)))
            .multipart(MultiPart::alternative_plain_html(
                n.text.clone(),
                n.html.clone(),
            ))
            .map_err(|e| (true, format!("building the message: {e}")))?;
        self.transport
            .send(message)
            .await
            .map(|_| ())
            .map_err(|e| (e.is_permanent(), e.to_string()))
    }
}

impl Notifications {
    /// Sends queued notifications when they are due: those found at start-up, then those the
    /// consumer queues.
    pub(super) async fn send_queued(
        self: Arc<Self>,
        mut queued: mpsc::UnboundedReceiver<(Millis, NotificationId)>,
    ) {
        let mut due: BTreeSet<(Millis, NotificationId)> = self
            .shared
            .storage
            .notifications()
            .filter(|n| n.status == Status::Queued)
            .map(|n| (n.next_attempt_at, n.id))
            .collect();
        loop {
            let next = due.first().map(|(at, _)| *at);
            let wait =
                next.map(|at| Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0)));
            tokio::select! {
                item = queued.recv() => match item {
                    Some(item) => { due.insert(item); }
                    None => return,
                },
                () = tokio::time::sleep(wait.unwrap_or(Duration::from_secs(3600))), if wait.is_some() => {
                    let Some((_, id)) = due.pop_first() else { continue };
                    match self.attempt(&id).await {
                        Ok(Some(retry_at)) => { due.insert((retry_at, id)); }
                        Ok(None) => {}
                        Err(error) => {
                            // Storage trouble: try again in a while rather than lose it.
                            tracing::warn!(%error, notification = %id, "updating a notification failed");
                            due.insert((now_ms() + 5_000, id));
                        }
                    }
                }
            }
        }
    }

    /// One attempt at notification `id`, recorded durably. `Some(at)`: try again then.
    async fn attempt(&self, id: &NotificationId) -> Result<Option<Millis>, StorageError> {
        let storage = &self.shared.storage;
        let Some(mut n) = storage.notification(id)? else {
            return Ok(None);
        };
        if n.status != Status::Queued {
            return Ok(None);
        }
        let config = &self.shared.config.notifications;
        let mut retry_at = None;
        match &self.smtp {
            None => n.status = Status::Recorded,
            Some(smtp) => {
                n.attempts = n.attempts.saturating_add(1);
                match smtp.send(&n).await {
                    Ok(()) => {
                        n.status = Status::Sent;
                        n.sent_at = Some(now_ms());
                        n.last_error = None;
                        tracing::info!(notification = %n.id, template = n.template.as_str(), "email sent");
                    }
                    Err((permanent, reason)) => {
                        let now = now_ms();
                        let window_ms = config.retry_for_seconds.saturating_mul(1000);
                        let give_up = n
                            .due_at
                            .saturating_add(i64::try_from(window_ms).unwrap_or(i64::MAX));
                        let backoff = config
                            .retry_base_ms
                            .max(1)
                            .saturating_mul(1u64 << (n.attempts - 1).min(20))
                            .min(MAX_BACKOFF_MS);
                        let next = now.saturating_add(i64::try_from(backoff).unwrap_or(i64::MAX));
                        tracing::warn!(notification = %n.id, attempts = n.attempts, permanent, %reason, "sending an email failed");
                        n.last_error = Some(reason);
                        if permanent || next > give_up {
                            n.status = Status::Failed;
                        } else {
                            n.next_attempt_at = next;
                            retry_at = Some(next);
                        }
                    }
                }
            }
        }
        storage.put_notification(&self.shared.committer, &n).await?;
        Ok(retry_at)
    }
}
