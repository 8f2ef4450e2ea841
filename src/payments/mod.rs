//! Payments: the provider interface and the built-in simulated provider (docs/API.md §8).
//!
//! Every call carries an idempotency key (`charge:{order_id}`, `refund:{order_id}`); the
//! provider answers a repeated key with the first result, so however often the saga retries
//! or the server restarts, an order is charged at most once.

use crate::{
    context::Shared,
    domain::{money::Money, time::now_ms},
    persistence::LedgerEntry,
};
use dashmap::DashMap;
use futures_util::future::BoxFuture;
use std::{sync::Arc, time::Duration};

/// What one charge attempt came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChargeOutcome {
    /// Money taken.
    Captured {
        /// The provider's transaction.
        transaction_id: String,
    },
    /// Refused for good; do not retry.
    Declined {
        /// Why (`card_declined`, `insufficient_funds`, `invalid_token`).
        code: String,
    },
    /// The provider could not answer; retrying may help.
    Transient,
}

/// A charge request.
#[derive(Clone, Debug)]
pub struct Charge {
    /// Same for every attempt of one order.
    pub idempotency_key: String,
    /// The order.
    pub order_id: String,
    /// How much.
    pub amount: Money,
    /// The card token.
    pub token: String,
}

/// A card processor.
pub trait PaymentProvider: Send + Sync {
    /// One charge attempt.
    fn charge(&self, charge: Charge) -> BoxFuture<'_, ChargeOutcome>;
    /// Gives a captured charge back; returns the refund's transaction id.
    fn refund(
        &self,
        idempotency_key: String,
        order_id: String,
        amount: Money,
    ) -> BoxFuture<'_, Result<String, String>>;
}

/// The built-in test-mode processor. Its ledger is durable, like a real processor's books:
/// a capture is on disk before the saga hears of it.
pub struct SimulatedProvider {
    shared: Arc<Shared>,
    /// Attempts seen per idempotency key (drives `tok_flaky`).
    attempts: DashMap<String, u32>,
}

impl SimulatedProvider {
    /// A provider writing its ledger through `shared`'s storage.
    pub fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            attempts: DashMap::new(),
        }
    }

    async fn record(&self, key: &str, entry: LedgerEntry) -> Result<String, String> {
        let id = entry.transaction_id.clone();
        let mut write = crate::persistence::ProductWrite::default();
        write.ledger_entry(key, &entry).map_err(|e| e.to_string())?;
        self.shared
            .committer
            .write_durable(write)
            .await
            .map_err(|e| e.to_string())?;
        Ok(id)
    }

    fn existing(&self, key: &str) -> Option<LedgerEntry> {
        self.shared.storage.ledger_entry(key).ok().flatten()
    }
}

fn transaction_id(prefix: &str) -> String {
    format!(
        "{prefix}_{}",
        &crate::domain::ids::MovementId::generate().as_str()[4..]
    )
}

impl PaymentProvider for SimulatedProvider {
    fn charge(&self, charge: Charge) -> BoxFuture<'_, ChargeOutcome> {
        Box::pin(async move {
            if let Some(entry) = self.existing(&charge.idempotency_key) {
                return ChargeOutcome::Captured {
                    transaction_id: entry.transaction_id,
                };
            }
            let attempt = {
                let mut seen = self
                    .attempts
                    .entry(charge.idempotency_key.clone())
                    .or_insert(0);
                *seen += 1;
                *seen
            };
            let declined = |code: &str| ChargeOutcome::Declined { code: code.into() };
            match charge.token.as_str() {
                "tok_visa" | "tok_mastercard" => {}
                "tok_slow" => {
                    tokio::time::sleep(Duration::from_millis(self.shared.config.payments.slow_ms))
                        .await;
                }
                "tok_flaky" if attempt <= 2 => return ChargeOutcome::Transient,
                "tok_flaky" => {}
                "tok_unavailable" => return ChargeOutcome::Transient,
                "tok_chargeDeclined" => return declined("card_declined"),
                "tok_insufficientFunds" => return declined("insufficient_funds"),
                _ => return declined("invalid_token"),
            }
            let entry = LedgerEntry {
                transaction_id: transaction_id("txn"),
                order_id: charge.order_id,
                kind: "charge".into(),
                amount: charge.amount,
                at: now_ms(),
            };
            match self.record(&charge.idempotency_key, entry).await {
                Ok(transaction_id) => {
                    crate::fault::crash_after_capture();
                    ChargeOutcome::Captured { transaction_id }
                }
                Err(error) => {
                    tracing::warn!(%error, "payment ledger write failed");
                    ChargeOutcome::Transient
                }
            }
        })
    }

    fn refund(
        &self,
        idempotency_key: String,
        order_id: String,
        amount: Money,
    ) -> BoxFuture<'_, Result<String, String>> {
        Box::pin(async move {
            if let Some(entry) = self.existing(&idempotency_key) {
                return Ok(entry.transaction_id);
            }
            let entry = LedgerEntry {
                transaction_id: transaction_id("rfd"),
                order_id,
                kind: "refund".into(),
                amount,
                at: now_ms(),
            };
            self.record(&idempotency_key, entry).await
        })
    }
}
