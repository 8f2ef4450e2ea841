//! Notifications as stored (docs/API.md §12): plain data, so that storage keeps them without
//! depending on `notifications` (which makes, renders and sends them).

use super::{
    ids::{NotificationId, PasswordResetId, StoreId, UserId},
    time::Millis,
};
use serde::{Deserialize, Serialize};

/// Which email. Stored by variant position, so new templates go at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Template {
    /// Registered: carries the verification link.
    Welcome,
    /// A reset was asked for: carries the single-use link.
    PasswordReset,
    /// Order confirmed: number, lines, totals, payment.
    OrderConfirmation,
    /// Order `payment_failed`, with the reason.
    PaymentFailed,
    /// Order `preparing`, `ready`, `in_transit`, `delivered`.
    OrderStatus,
    /// Order cancelled, with the refunded amount.
    OrderCancelled,
    /// A return was approved, rejected or refunded (made by the returns work).
    ReturnUpdate,
    /// Some time after delivery.
    ReviewRequest,
    /// `stock.low`, to the store's staff.
    LowStock,
    /// A webhook endpoint was disabled, to admins (made by the webhooks work).
    WebhookDisabled,
    /// A waitlisted product came back: units are held for the customer in a cart.
    WaitlistServed,
}

impl Template {
    /// Every template.
    pub const ALL: [Template; 11] = [
        Self::Welcome,
        Self::PasswordReset,
        Self::OrderConfirmation,
        Self::PaymentFailed,
        Self::OrderStatus,
        Self::OrderCancelled,
        Self::ReturnUpdate,
        Self::ReviewRequest,
        Self::LowStock,
        Self::WebhookDisabled,
        Self::WaitlistServed,
    ];

    /// The name the API and the template files use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::PasswordReset => "password_reset",
            Self::OrderConfirmation => "order_confirmation",
            Self::PaymentFailed => "payment_failed",
            Self::OrderStatus => "order_status",
            Self::OrderCancelled => "order_cancelled",
            Self::ReturnUpdate => "return_update",
            Self::ReviewRequest => "review_request",
            Self::LowStock => "low_stock",
            Self::WebhookDisabled => "webhook_disabled",
            Self::WaitlistServed => "waitlist_served",
        }
    }

    /// The template called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// Where a notification is in its life. Stored by variant position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Waiting for its (next) attempt.
    Queued,
    /// Accepted by the SMTP server.
    Sent,
    /// Refused for good, or retried for the whole retry window.
    Failed,
    /// The recipient opted out of this kind.
    Suppressed,
    /// No SMTP server is configured: kept with its bodies, never sent.
    Recorded,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 5] = [
        Self::Queued,
        Self::Sent,
        Self::Failed,
        Self::Suppressed,
        Self::Recorded,
    ];

    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Suppressed => "suppressed",
            Self::Recorded => "recorded",
        }
    }

    /// The status called `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// One email as stored: what it says and how sending it went.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// `ntf_…`
    pub id: NotificationId,
    /// Which email.
    pub template: Template,
    /// The recipient's address.
    pub to: String,
    /// The recipient's account, when they have one (customers see their own).
    pub user_id: Option<UserId>,
    /// The store it is about (its staff see it).
    pub store_id: Option<StoreId>,
    /// What it is about (an order id, a product id, a user id).
    pub reference: Option<String>,
    /// Subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
    /// Where it is.
    pub status: Status,
    /// SMTP attempts made.
    pub attempts: u32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was made.
    pub created_at: Millis,
    /// When its first attempt is due (later than `created_at` for review requests); retries
    /// stop `notifications.retry_for_seconds` after it.
    pub due_at: Millis,
    /// When the next attempt is due (while queued).
    pub next_attempt_at: Millis,
    /// When the SMTP server accepted it.
    pub sent_at: Option<Millis>,
}

/// Which optional emails a user wants (`GET|PUT /me/notification-preferences`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preferences {
    /// `payment_failed`, `order_status`, `return_update`.
    pub order_updates: bool,
    /// `review_request`.
    pub review_requests: bool,
    /// `low_stock` (staff).
    pub low_stock: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Self {
            order_updates: true,
            review_requests: true,
            low_stock: true,
        }
    }
}

impl Preferences {
    /// Whether a `template` email goes to a user with these preferences; the account and
    /// order emails that must arrive always do.
    pub fn wants(&self, template: Template) -> bool {
        match template {
            Template::PaymentFailed | Template::OrderStatus | Template::ReturnUpdate => {
                self.order_updates
            }
            Template::ReviewRequest => self.review_requests,
            Template::LowStock => self.low_stock,
            Template::Welcome
            | Template::PasswordReset
            | Template::OrderConfirmation
            | Template::OrderCancelled
            | Template::WebhookDisabled
            | Template::WaitlistServed => true,
        }
    }
}

/// A password-reset request as stored (its link carries the id and an HMAC of it, so no
/// token is ever stored).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasswordReset {
    /// `pwr_…`
    pub id: PasswordResetId,
    /// Whose password.
    pub user_id: UserId,
    /// When it was asked for.
    pub created_at: Millis,
    /// The link stops working then.
    pub expires_at: Millis,
    /// Set when the link was used (single use).
    pub used: bool,
}
