//! The admin-set exchange rates: one record in the `catalog` tree, written through the
//! committer. Rates are kept as their decimal strings, so what an admin typed is exactly what
//! is read back (no float, no re-rounding).

use super::{ProductWrite, Storage, StorageResult, Tree, codec};
use crate::domain::{currency::ExchangeRates, time::Millis};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::str::FromStr;

const KEY: &[u8] = b"exchange_rates\0";

/// The record: base, `(code, rate)` pairs, when they were set.
#[derive(Serialize, Deserialize)]
struct StoredRates {
    base: String,
    rates: Vec<(String, String)>,
    updated_at: Millis,
}

impl ProductWrite {
    /// Replaces the exchange rates.
    pub fn exchange_rates(&mut self, rates: &ExchangeRates) -> StorageResult<()> {
        let stored = StoredRates {
            base: rates.base.clone(),
            rates: rates
                .rates
                .iter()
                .map(|(code, rate)| (code.clone(), rate.to_string()))
                .collect(),
            updated_at: rates.updated_at,
        };
        self.put(Tree::Catalog, KEY.to_vec(), codec::encode(&stored)?);
        Ok(())
    }
}

impl Storage {
    /// The exchange rates, if an admin ever set them. A rate that no longer parses (it was
    /// checked when set) is dropped with a warning rather than failing start-up.
    pub fn exchange_rates(&self) -> StorageResult<Option<ExchangeRates>> {
        let Some(raw) = self.catalog.get(KEY)? else {
            return Ok(None);
        };
        let stored: StoredRates = codec::decode(&raw)?;
        let rates = stored
            .rates
            .into_iter()
            .filter_map(|(code, text)| match Decimal::from_str(&text) {
                Ok(rate) => Some((code, rate)),
                Err(error) => {
                    tracing::warn!(%code, %error, "dropping an unreadable exchange rate");
                    None
                }
            })
            .collect();
        Ok(Some(ExchangeRates {
            base: stored.base,
            rates,
            updated_at: stored.updated_at,
        }))
    }
}
