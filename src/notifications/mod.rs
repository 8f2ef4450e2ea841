//! Emails (docs/API.md §12): a log consumer turns durable events into notification records
//! ([`follower`]), a sender task delivers the queued ones over SMTP ([`sender`]), and the
//! API lists them. Without `notifications.smtp_url` nothing is sent: each email is stored
//! `recorded`, with both of its bodies.
//!
//! Delivery is at least once: a notification is written (through the committer) before the
//! consumer's cursor moves past the event that caused it, and its id derives from that event,
//! so a replay after a crash finds it and makes no second one; a queued email is sent before
//! it is marked `sent`, so a crash in between sends it again, with the same `Message-ID`.

pub mod follower;
pub mod render;
pub mod sender;

use crate::{
    auth::links::LinkTokens,
    context::Shared,
    domain::{
        ids::NotificationId,
        notification::{Notification, Preferences},
        time::Millis,
    },
    persistence::StorageError,
};
use serde_json::{Value, json};
use std::sync::Arc;
use tokio::sync::mpsc;

/// The notification service.
pub struct Notifications {
    shared: Arc<Shared>,
    links: LinkTokens,
    renderer: render::Renderer,
    smtp: Option<sender::Smtp>,
    /// Tells the sender about newly queued notifications (due time, id).
    queue: mpsc::UnboundedSender<(Millis, NotificationId)>,
    /// The sender's end, until [`Notifications::spawn`] starts it.
    queued: std::sync::Mutex<Option<mpsc::UnboundedReceiver<(Millis, NotificationId)>>>,
}

impl Notifications {
    /// Loads the templates and the SMTP settings; a bad `notifications.smtp_url` or `from`
    /// fails start-up with a sentence that names it.
    pub fn new(shared: Arc<Shared>, links: LinkTokens) -> Result<Self, StorageError> {
        let renderer = render::Renderer::new()
            .map_err(|e| StorageError::Other(format!("email templates: {e}")))?;
        let smtp =
            sender::Smtp::from_config(&shared.config.notifications).map_err(StorageError::Other)?;
        let (queue, queued) = mpsc::unbounded_channel();
        Ok(Self {
            shared,
            links,
            renderer,
            smtp,
            queue,
            queued: std::sync::Mutex::new(Some(queued)),
        })
    }

    /// Starts the log consumer and the sender; links in emails start with `public_url`.
    /// Their handles go to the server's background tasks (stopped before storage closes).
    pub fn spawn(
        self: &Arc<Self>,
        public_url: String,
    ) -> Result<Vec<tokio::task::JoinHandle<()>>, StorageError> {
        let consumer = self
            .shared
            .storage
            .consumer(follower::CONSUMER, crate::persistence::consumer::Start::Now)?;
        let follow = tokio::spawn(Arc::clone(self).follow(consumer, public_url));
        let queued = self
            .queued
            .lock()
            .ok()
            .and_then(|mut queued| queued.take())
            .ok_or(StorageError::Other("notifications started twice".into()))?;
        let send = tokio::spawn(Arc::clone(self).send_queued(queued));
        Ok(vec![follow, send])
    }

    /// A user's notification preferences.
    pub fn preferences(
        &self,
        user: &crate::domain::ids::UserId,
    ) -> Result<Preferences, StorageError> {
        self.shared.storage.preferences(user)
    }

    /// Replaces a user's notification preferences, durably.
    pub async fn set_preferences(
        &self,
        user: &crate::domain::ids::UserId,
        preferences: &Preferences,
    ) -> Result<(), StorageError> {
        self.shared
            .storage
            .put_preferences(&self.shared.committer, user, preferences)
            .await
    }
}

/// A notification as the list shows it (no bodies).
pub fn view(n: &Notification) -> Value {
    json!({
        "id": n.id,
        "channel": "email",
        "template": n.template.as_str(),
        "to": n.to,
        "subject": n.subject,
        "status": n.status.as_str(),
        "attempts": n.attempts,
        "last_error": n.last_error,
        "ref": n.reference,
        "created_at": crate::domain::time::rfc3339(n.created_at),
        "sent_at": n.sent_at.map(crate::domain::time::rfc3339),
    })
}

/// [`view`] with the plain-text and HTML bodies.
pub fn view_with_bodies(n: &Notification) -> Value {
    let mut value = view(n);
    if let Some(object) = value.as_object_mut() {
        object.insert("text".into(), Value::String(n.text.clone()));
        object.insert("html".into(), Value::String(n.html.clone()));
    }
    value
}

/// Preferences as the API shows them.
pub fn preferences_view(p: &Preferences) -> Value {
    json!({
        "order_updates": p.order_updates,
        "review_requests": p.review_requests,
        "low_stock": p.low_stock,
    })
}
