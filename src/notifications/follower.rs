//! The log consumer that turns durable events into notifications: a user record appearing
//! (`welcome`), a password-reset request (`password_reset`), an order's status changes
//! (`order_confirmation`, `payment_failed`, `order_status`, `order_cancelled`, and a
//! delayed `review_request` after delivery), `stock.low` (`low_stock`, one per staff member).
//!
//! A webhook endpoint's record written disabled with a reason (auto-disabled after failing
//! too long) becomes one `webhook_disabled` email to every admin.
//!
//! A return record written `approved`, `rejected` or `refunded` becomes a `return_update`
//! email to the order's customer. An `in_transit` order's `order_status` email lists the
//! carrier and tracking of its fulfilments.

use super::Notifications;
use crate::{
    auth::links::Purpose,
    domain::{
        ids::{NotificationId, StoreId},
        notification::{Notification, Status, Template},
        order::{Order, OrderStatus, PaymentStatus},
        returns::{Return, ReturnStatus},
        time::{Millis, now_ms},
        user::{Role, User},
    },
    persistence::{
        StorageError,
        consumer::{Consumer, LogEvent},
    },
};
use serde_json::{Value, json};
use std::sync::Arc;

/// The consumer's name (its cursor in the `cursors` tree).
pub const CONSUMER: &str = "notifications";

/// Log records read per batch.
const BATCH: usize = 64;

/// A notification to make, before it is rendered.
pub struct Draft {
    /// Which email.
    pub template: Template,
    /// The recipient.
    pub to: User,
    /// The store it is about.
    pub store_id: Option<StoreId>,
    /// What it is about.
    pub reference: Option<String>,
    /// Subject line.
    pub subject: String,
    /// Template values (`name`, `store_name`, `public_url` are added).
    pub context: Value,
    /// When it may go (now, or later for a review request).
    pub due_at: Millis,
    /// What makes it one email rather than one per log record: `None` for most (the record
    /// is the occasion); `Some` when later records may repeat the occasion (a disabled
    /// endpoint's record is written again by an edit while it stays disabled).
    pub occasion: Option<String>,
}

impl Notifications {
    /// Follows the log until it cannot be read (the error is logged: emails stop, nothing
    /// else does). The cursor moves only after a record's notifications are durable.
    pub(super) async fn follow(self: Arc<Self>, mut consumer: Consumer, public_url: String) {
        let run = async {
            loop {
                let events = consumer.next(BATCH).await?;
                let Some(last) = events.last().map(|e| e.lsn) else {
                    continue;
                };
                for event in &events {
                    for (n, draft) in self.drafts(event, &public_url)?.into_iter().enumerate() {
                        let seed = draft.occasion.clone().unwrap_or_else(|| {
                            format!(
                                "{}/{}/{}/{n}",
                                event.lsn,
                                draft.template.as_str(),
                                draft.to.id
                            )
                        });
                        self.make(NotificationId::derived(seed.as_bytes()), draft, &public_url)
                            .await?;
                    }
                }
                consumer.save(last).await?;
            }
        };
        let result: Result<(), StorageError> = run.await;
        if let Err(error) = result {
            tracing::error!(%error, "the notification consumer stopped; no more emails are made");
        }
    }

    /// Renders and durably writes a draft as notification `id`, unless a replay finds it
    /// already made; queues it for the sender.
    async fn make(
        &self,
        id: NotificationId,
        draft: Draft,
        public_url: &str,
    ) -> Result<(), StorageError> {
        let storage = &self.shared.storage;
        if storage.notification(&id)?.is_some() {
            return Ok(());
        }
        let now = now_ms();
        let wanted = storage.preferences(&draft.to.id)?.wants(draft.template);
        let status = if !wanted {
            Status::Suppressed
        } else if self.smtp.is_some() || draft.due_at > now {
            Status::Queued
        } else {
            Status::Recorded
        };
        let mut context = draft.context;
        if let Some(object) = context.as_object_mut() {
            object.insert("name".into(), Value::String(draft.to.name.clone()));
            object.insert("public_url".into(), Value::String(public_url.to_owned()));
            let store_name = draft
                .store_id
                .as_ref()
                .and_then(|id| self.shared.read_model.stores.get(id))
                .map(|store| store.name.clone());
            object.insert("store_name".into(), json!(store_name));
        }
        let rendered = match self
            .renderer
            .render(draft.template, &draft.subject, context)
        {
            Ok(rendered) => rendered,
            Err(error) => {
                // A template bug must not stop every later email: this one is skipped.
                tracing::error!(%error, template = draft.template.as_str(), "rendering an email failed; it is skipped");
                return Ok(());
            }
        };
        let notification = Notification {
            id,
            template: draft.template,
            to: draft.to.email.clone(),
            user_id: Some(draft.to.id.clone()),
            store_id: draft.store_id,
            reference: draft.reference,
            subject: draft.subject,
            text: rendered.text,
            html: rendered.html,
            status,
            attempts: 0,
            last_error: None,
            created_at: now,
            due_at: draft.due_at,
            next_attempt_at: draft.due_at,
            sent_at: None,
        };
        storage
            .put_notification(&self.shared.committer, &notification)
            .await?;
        tracing::debug!(id = %notification.id, template = draft.template.as_str(), status = status.as_str(), "notification made");
        if status == Status::Queued {
            // The sender is gone only at shutdown; it finds queued ones again at start-up.
            let _ = self
                .queue
                .send((notification.next_attempt_at, notification.id));
        }
        Ok(())
    }

    /// The notifications one log record calls for.
    fn drafts(&self, event: &LogEvent, public_url: &str) -> Result<Vec<Draft>, StorageError> {
        let now = now_ms();
        let mut drafts = Vec::new();
        for user in event.registered_users() {
            let link = format!(
                "{public_url}/verify?token={}",
                self.links.token(Purpose::VerifyEmail, user.id.as_str())
            );
            drafts.push(Draft {
                template: Template::Welcome,
                store_id: None,
                reference: Some(user.id.to_string()),
                subject: "Welcome to Emporium: please verify your email".into(),
                context: json!({ "link": link }),
                due_at: now,
                to: user,
                occasion: None,
            });
        }
        for reset in event.password_resets() {
            let Some(user) = self.shared.storage.user(&reset.user_id)? else {
                continue;
            };
            let link = format!(
                "{public_url}/reset-password?token={}",
                self.links.token(Purpose::PasswordReset, reset.id.as_str())
            );
            let valid_minutes = (reset.expires_at - reset.created_at).max(0) / 60_000;
            drafts.push(Draft {
                template: Template::PasswordReset,
                store_id: None,
                reference: Some(user.id.to_string()),
                subject: "Reset your Emporium password".into(),
                context: json!({ "link": link, "valid_minutes": valid_minutes }),
                due_at: now,
                to: user,
                occasion: None,
            });
        }
        for (entity, stored) in event.events() {
            match stored.name.as_str() {
                "order.status_changed" => {
                    let Some(order) = event.orders().find(|o| o.id.as_str() == entity) else {
                        continue;
                    };
                    self.order_drafts(&order, public_url, &mut drafts)?;
                }
                "stock.low" => {
                    let data: Value = serde_json::from_str(&stored.data).unwrap_or(Value::Null);
                    self.low_stock_drafts(&entity, &data, &mut drafts)?;
                }
                _ => {}
            }
        }
        for record in event.returns() {
            self.return_drafts(&record, public_url, &mut drafts)?;
        }
        for entry in event.waitlist_served() {
            let (Some(user), Some(view)) = (
                self.shared.storage.user(&entry.customer_id)?,
                self.shared.read_model.product(&entry.product_id),
            ) else {
                continue;
            };
            let catalog = &view.catalog;
            let held_until = entry
                .cart_id
                .as_ref()
                .and_then(|id| self.shared.storage.cart(id).ok().flatten())
                .and_then(|cart| cart.hold)
                .map(|hold| crate::domain::time::rfc3339(hold.expires_at));
            drafts.push(Draft {
                template: Template::WaitlistServed,
                store_id: Some(catalog.store_id.clone()),
                reference: Some(entry.id.to_string()),
                subject: format!("{} is back: held for you", catalog.name),
                context: json!({
                    "product": {"id": catalog.id, "name": catalog.name, "sku": catalog.sku},
                    "quantity": entry.quantity,
                    "cart_id": entry.cart_id,
                    "held_until": held_until,
                }),
                due_at: now,
                to: user,
                occasion: None,
            });
        }
        for endpoint in event.webhook_endpoints() {
            if endpoint.enabled || endpoint.disabled_reason.is_none() {
                continue;
            }
            // One email per admin per time the endpoint was disabled: an edit while it stays
            // disabled writes the record again with the same failure streak.
            let streak = endpoint.failing_since.unwrap_or(endpoint.updated_at);
            let admins: Vec<User> = self
                .shared
                .storage
                .users()
                .filter_map(Result::ok)
                .filter(|u| u.role == Role::Admin && !u.disabled)
                .collect();
            for admin in admins {
                drafts.push(Draft {
                    template: Template::WebhookDisabled,
                    store_id: endpoint.store_id.clone(),
                    reference: Some(endpoint.id.to_string()),
                    subject: format!("Webhook endpoint disabled: {}", endpoint.url),
                    context: json!({"url": endpoint.url, "reason": endpoint.disabled_reason}),
                    due_at: now,
                    occasion: Some(format!(
                        "webhook_disabled/{}/{streak}/{}",
                        endpoint.id, admin.id
                    )),
                    to: admin,
                });
            }
        }
        Ok(drafts)
    }

    /// The email an order's new status calls for (and the review request after delivery).
    fn order_drafts(
        &self,
        order: &Order,
        public_url: &str,
        drafts: &mut Vec<Draft>,
    ) -> Result<(), StorageError> {
        let Some(customer) = order.customer_id.as_ref() else {
            return Ok(());
        };
        let Some(user) = self.shared.storage.user(customer)? else {
            return Ok(());
        };
        let number = order.number_text();
        let reason = order.history.last().and_then(|h| h.reason.clone());
        let refunded = if order.payment.status == PaymentStatus::Refunded {
            order.total()
        } else {
            crate::domain::money::Money {
                amount: 0,
                currency: order.total().currency,
            }
        };
        let now = now_ms();
        let (template, subject, extra) = match order.status {
            OrderStatus::Confirmed => (
                Template::OrderConfirmation,
                format!("Order {number} confirmed"),
                json!({}),
            ),
            OrderStatus::PaymentFailed => (
                Template::PaymentFailed,
                format!("Payment for order {number} failed"),
                json!({ "reason": order.payment.decline_code }),
            ),
            OrderStatus::Preparing
            | OrderStatus::Ready
            | OrderStatus::InTransit
            | OrderStatus::Delivered => {
                let status_text = order.status.as_str().replace('_', " ");
                let tracking = if order.status == OrderStatus::InTransit {
                    tracking(order)
                } else {
                    Vec::new()
                };
                (
                    Template::OrderStatus,
                    format!("Order {number} is {status_text}"),
                    json!({
                        "status": order.status.as_str(),
                        "status_text": status_text,
                        "tracking": tracking,
                    }),
                )
            }
            OrderStatus::Cancelled => (
                Template::OrderCancelled,
                format!("Order {number} cancelled"),
                json!({ "reason": reason, "refunded": refunded.display() }),
            ),
            OrderStatus::Pending => return Ok(()),
        };
        let mut context = json!({
            "order": order_context(order),
            "link": format!("{public_url}/#/orders/{}", order.id),
        });
        merge(&mut context, extra);
        if order.status == OrderStatus::Delivered {
            let delay_ms = self
                .shared
                .config
                .notifications
                .review_request_delay_seconds
                .saturating_mul(1000);
            drafts.push(Draft {
                template: Template::ReviewRequest,
                to: user.clone(),
                store_id: Some(order.store_id.clone()),
                reference: Some(order.id.to_string()),
                subject: format!("How was your order {number}?"),
                context: context.clone(),
                due_at: now.saturating_add(i64::try_from(delay_ms).unwrap_or(i64::MAX)),
                occasion: None,
            });
        }
        drafts.push(Draft {
            template,
            to: user,
            store_id: Some(order.store_id.clone()),
            reference: Some(order.id.to_string()),
            subject,
            context,
            due_at: now,
            occasion: None,
        });
        Ok(())
    }

    /// The `return_update` email a return's new status calls for (approved, rejected,
    /// refunded; `requested` is the customer's own doing and `receiving` an inner step).
    fn return_drafts(
        &self,
        record: &Return,
        public_url: &str,
        drafts: &mut Vec<Draft>,
    ) -> Result<(), StorageError> {
        if !matches!(
            record.status,
            ReturnStatus::Approved | ReturnStatus::Rejected | ReturnStatus::Refunded
        ) {
            return Ok(());
        }
        let Some(customer) = record.customer_id.as_ref() else {
            return Ok(());
        };
        let (Some(user), Some(order)) = (
            self.shared.storage.user(customer)?,
            self.shared
                .read_model
                .orders
                .get(&record.order_id)
                .map(|o| Arc::clone(o.value())),
        ) else {
            return Ok(());
        };
        let number = order.number_text();
        let status_text = record.status.as_str();
        let refunded = (record.status == ReturnStatus::Refunded)
            .then(|| record.refund_amount.as_ref().map(|m| m.display()))
            .flatten();
        drafts.push(Draft {
            template: Template::ReturnUpdate,
            to: user,
            store_id: Some(record.store_id.clone()),
            reference: Some(record.id.to_string()),
            subject: format!("Your return for order {number} is {status_text}"),
            context: json!({
                "order": order_context(&order),
                "return_id": record.id,
                "status": status_text,
                "status_text": status_text,
                "refunded": refunded,
                "link": format!("{public_url}/#/orders/{}", order.id),
            }),
            due_at: now_ms(),
            occasion: None,
        });
        Ok(())
    }

    /// One `low_stock` email per staff member of the product's store.
    fn low_stock_drafts(
        &self,
        product: &str,
        data: &Value,
        drafts: &mut Vec<Draft>,
    ) -> Result<(), StorageError> {
        let Some(view) = crate::domain::ids::ProductId::parse(product)
            .and_then(|id| self.shared.read_model.product(&id))
        else {
            return Ok(());
        };
        let catalog = &view.catalog;
        let staff: Vec<User> = self
            .shared
            .storage
            .users()
            .filter_map(Result::ok)
            .filter(|u| u.role == Role::Staff && u.store_id.as_ref() == Some(&catalog.store_id))
            .collect();
        for user in staff {
            drafts.push(Draft {
                template: Template::LowStock,
                to: user,
                store_id: Some(catalog.store_id.clone()),
                reference: Some(catalog.id.to_string()),
                subject: format!("Low stock: {}", catalog.name),
                context: json!({
                    "product": {"id": catalog.id, "name": catalog.name, "sku": catalog.sku},
                    "available": data.get("available"),
                    "threshold": data.get("threshold"),
                }),
                due_at: now_ms(),
                occasion: None,
            });
        }
        Ok(())
    }
}

/// An order as the templates see it: money already formatted in its currency.
fn order_context(order: &Order) -> Value {
    json!({
        "id": order.id,
        "number": order.number_text(),
        "status": order.status.as_str(),
        "lines": order.items.iter().map(|line| json!({
            "product_id": line.product_id,
            "sku": line.sku,
            "name": line.name,
            "quantity": line.quantity,
            "unit_price": line.unit_price.display(),
            "total": line.total().display(),
        })).collect::<Vec<_>>(),
        "total": order.total().display(),
        "payment": {
            "method": order.payment.method,
            "status": order.payment.status.as_str(),
            "transaction_id": order.payment.transaction_id,
        },
    })
}

/// The carrier and tracking of each of an order's fulfilments that has any.
fn tracking(order: &Order) -> Vec<Value> {
    order
        .fulfillments
        .iter()
        .filter(|f| f.carrier.is_some() || f.tracking_number.is_some() || f.tracking_url.is_some())
        .map(|f| {
            json!({
                "carrier": f.carrier,
                "tracking_number": f.tracking_number,
                "tracking_url": f.tracking_url,
            })
        })
        .collect()
}

/// Adds `extra`'s fields to `context`.
fn merge(context: &mut Value, extra: Value) {
    if let (Some(context), Value::Object(extra)) = (context.as_object_mut(), extra) {
        context.extend(extra);
    }
}
