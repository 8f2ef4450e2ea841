//! Setting the exchange rates (docs/API.md §14): checked, made durable through the
//! committer, then published to the read model that every `?currency=` read uses.

use super::ServiceError;
use crate::{
    context::Shared,
    domain::{currency::ExchangeRates, error::FieldError, time::now_ms},
    persistence::ProductWrite,
};
use std::collections::BTreeMap;

/// One rates change at a time, so the read model ends on the change the log has last.
static WRITER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Replaces the rates with `rates` quoted against `base`; every bad field is reported.
pub async fn set_rates(
    shared: &Shared,
    base: &str,
    rates: &BTreeMap<String, String>,
) -> Result<ExchangeRates, ServiceError> {
    let parsed = ExchangeRates::parse(base, rates, now_ms()).map_err(|errors| {
        ServiceError::Validation(
            errors
                .into_iter()
                .map(|(field, message)| FieldError::new(field, message))
                .collect(),
        )
    })?;
    let _one_at_a_time = WRITER.lock().await;
    let mut write = ProductWrite::default();
    write.exchange_rates(&parsed)?;
    shared.committer.write_durable(write).await?;
    shared.read_model.set_exchange_rates(parsed.clone());
    tracing::info!(base = %parsed.base, currencies = parsed.rates.len(), "exchange rates set");
    Ok(parsed)
}
