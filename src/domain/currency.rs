//! Exchange rates and the display conversion of money (docs/API.md §14).
//!
//! Prices, charges and stored amounts stay in the store's currency; a conversion only adds a
//! `display_*` figure for people. Rates are exact decimals (never floats, so `0.92` is
//! `0.92`) and a converted amount is rounded once, half to even, to the target's ISO 4217
//! exponent.

use super::{
    money::{CURRENCIES, Money, exponent, is_known_currency},
    time::Millis,
};
use rust_decimal::{Decimal, RoundingStrategy, prelude::ToPrimitive};
use std::{collections::BTreeMap, str::FromStr};

/// Largest rate accepted: far above any real one (1 USD ≈ 100 000 of the weakest currency),
/// and small enough that no converted price can overflow.
const MAX_RATE: i64 = 1_000_000_000;
/// Decimal places a rate may have (more is noise and invites precision games).
const MAX_RATE_SCALE: u32 = 12;
/// Decimal places of a combined rate (`to / from` when neither is the base) as shown.
const SHOWN_RATE_SCALE: u32 = 10;

/// The admin-set rates: how many units of each currency one unit of `base` buys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExchangeRates {
    /// The currency every rate is quoted against.
    pub base: String,
    /// Code → units per one `base` (the base itself is implied as 1).
    pub rates: BTreeMap<String, Decimal>,
    /// When they were set.
    pub updated_at: Millis,
}

/// Why rates were refused: `(field, message)` pairs, all of them at once.
pub type RateErrors = Vec<(String, String)>;

/// Why a conversion cannot be made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConversionError {
    /// The target is no ISO 4217 code we know.
    #[error("{0} is not a supported currency")]
    UnknownCurrency(String),
    /// One side has no rate.
    #[error("no exchange rate from {from} to {to}")]
    NoRate {
        /// The amount's currency.
        from: String,
        /// The requested one.
        to: String,
    },
}

/// A converted amount and the rate used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Converted {
    /// The amount in the target's minor units.
    pub money: Money,
    /// Target units per source unit.
    pub rate: Decimal,
    /// When the rate was set.
    pub rate_at: Millis,
}

impl ExchangeRates {
    /// Checks and builds rates from their decimal strings (`"0.92"`); every problem is
    /// reported with the field it concerns.
    pub fn parse(
        base: &str,
        rates: &BTreeMap<String, String>,
        updated_at: Millis,
    ) -> Result<Self, RateErrors> {
        let mut errors = RateErrors::new();
        if !is_known_currency(base) {
            errors.push((
                "base".into(),
                format!("{base:?} is not a supported currency"),
            ));
        }
        let mut parsed = BTreeMap::new();
        for (code, text) in rates {
            let field = format!("rates.{code}");
            if !is_known_currency(code) {
                errors.push((field, format!("{code:?} is not a supported currency")));
                continue;
            }
            match parse_rate(text) {
                Ok(rate) if code == base && rate != Decimal::ONE => {
                    errors.push((field, "the base's own rate is 1".into()));
                }
                Ok(_) if code == base => {}
                Ok(rate) => {
                    parsed.insert(code.clone(), rate);
                }
                Err(message) => errors.push((field, message)),
            }
        }
        if errors.is_empty() {
            Ok(Self {
                base: base.to_owned(),
                rates: parsed,
                updated_at,
            })
        } else {
            Err(errors)
        }
    }

    /// Units of `code` per one base unit, if known.
    fn rate_of(&self, code: &str) -> Option<Decimal> {
        if code == self.base {
            Some(Decimal::ONE)
        } else {
            self.rates.get(code).copied()
        }
    }

    /// Target units per one unit of `from`, through the base when neither side is it.
    pub fn rate(&self, from: &str, to: &str) -> Result<Decimal, ConversionError> {
        if !is_known_currency(to) {
            return Err(ConversionError::UnknownCurrency(to.to_owned()));
        }
        if from == to {
            return Ok(Decimal::ONE);
        }
        let no_rate = || ConversionError::NoRate {
            from: from.to_owned(),
            to: to.to_owned(),
        };
        let (Some(from_rate), Some(to_rate)) = (self.rate_of(from), self.rate_of(to)) else {
            return Err(no_rate());
        };
        to_rate.checked_div(from_rate).ok_or_else(no_rate)
    }

    /// `money` in `to`, rounded half to even to `to`'s exponent.
    pub fn convert(&self, money: &Money, to: &str) -> Result<Converted, ConversionError> {
        let rate = self.rate(&money.currency, to)?;
        let overflow = || ConversionError::NoRate {
            from: money.currency.clone(),
            to: to.to_owned(),
        };
        let major = Decimal::new(money.amount, u32::from(exponent(&money.currency)));
        let target_exponent = u32::from(exponent(to));
        let converted = major
            .checked_mul(rate)
            .ok_or_else(overflow)?
            .round_dp_with_strategy(target_exponent, RoundingStrategy::MidpointNearestEven);
        let minor = converted
            .checked_mul(Decimal::from(10i64.pow(target_exponent)))
            .and_then(|m| m.to_i64())
            .ok_or_else(overflow)?;
        Ok(Converted {
            money: Money {
                amount: minor,
                currency: to.to_owned(),
            },
            rate: shown_rate(rate),
            rate_at: self.updated_at,
        })
    }
}

/// A rate as people read it: at most [`SHOWN_RATE_SCALE`] places, no trailing zeros.
fn shown_rate(rate: Decimal) -> Decimal {
    rate.round_dp_with_strategy(SHOWN_RATE_SCALE, RoundingStrategy::MidpointNearestEven)
        .normalize()
}

/// A rate from its decimal string: positive, at most [`MAX_RATE_SCALE`] places, below
/// [`MAX_RATE`].
fn parse_rate(text: &str) -> Result<Decimal, String> {
    let well_formed = !text.is_empty()
        && text.len() <= 32
        && text.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && text.bytes().filter(|b| *b == b'.').count() <= 1
        && !text.starts_with('.')
        && !text.ends_with('.');
    let rate = well_formed
        .then(|| Decimal::from_str(text).ok())
        .flatten()
        .ok_or_else(|| "must be a decimal string such as \"0.92\"".to_owned())?;
    if rate.scale() > MAX_RATE_SCALE {
        return Err(format!("at most {MAX_RATE_SCALE} decimal places"));
    }
    if rate <= Decimal::ZERO || rate >= Decimal::from(MAX_RATE) {
        return Err(format!("must be above 0 and below {MAX_RATE}"));
    }
    Ok(rate)
}

/// Every supported code, for messages and documentation.
pub fn supported_codes() -> impl Iterator<Item = &'static str> {
    CURRENCIES.iter().map(|(code, _)| *code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rates(pairs: &[(&str, &str)]) -> ExchangeRates {
        let map = pairs
            .iter()
            .map(|(c, r)| ((*c).to_owned(), (*r).to_owned()))
            .collect();
        ExchangeRates::parse("USD", &map, 7).expect("valid rates")
    }

    fn usd(amount: i64) -> Money {
        Money {
            amount,
            currency: "USD".into(),
        }
    }

    #[test]
    fn yen_has_no_minor_unit_and_rounds_half_to_even() {
        let fx = rates(&[("JPY", "150.5")]);
        // 1.00 USD → 150.5 JPY → 150 (half to even); 3.00 → 451.5 → 452.
        assert_eq!(
            fx.convert(&usd(100), "JPY").expect("converts").money.amount,
            150
        );
        assert_eq!(
            fx.convert(&usd(300), "JPY").expect("converts").money.amount,
            452
        );
        assert_eq!(fx.convert(&usd(100), "JPY").expect("converts").rate_at, 7);
    }

    #[test]
    fn dinars_keep_three_places() {
        let fx = rates(&[("BHD", "0.376")]);
        // 19.99 USD × 0.376 = 7.51624 BHD → 7.516 → 7516 fils.
        let converted = fx.convert(&usd(1999), "BHD").expect("converts");
        assert_eq!(converted.money.amount, 7516);
        assert_eq!(converted.money.currency, "BHD");
        // 0.0125 BHD is exactly half way: 0.012 (even).
        let half = rates(&[("BHD", "0.125")]);
        assert_eq!(
            half.convert(&usd(10), "BHD")
                .expect("converts")
                .money
                .amount,
            12
        );
    }

    #[test]
    fn a_conversion_between_two_quoted_currencies_goes_through_the_base() {
        let fx = rates(&[("EUR", "0.92"), ("GBP", "0.79")]);
        let eur = Money {
            amount: 9200,
            currency: "EUR".into(),
        };
        // 92.00 EUR = 100 USD = 79.00 GBP.
        let converted = fx.convert(&eur, "GBP").expect("converts");
        assert_eq!(converted.money.amount, 7900);
        assert_eq!(converted.rate.to_string(), "0.8586956522");
        // Back to the base divides.
        assert_eq!(
            fx.convert(&eur, "USD").expect("converts").money.amount,
            10000
        );
    }

    #[test]
    fn unknown_codes_and_missing_rates_are_told_apart() {
        let fx = rates(&[("EUR", "0.92")]);
        assert_eq!(
            fx.convert(&usd(100), "XYZ"),
            Err(ConversionError::UnknownCurrency("XYZ".into()))
        );
        assert!(matches!(
            fx.convert(&usd(100), "JPY"),
            Err(ConversionError::NoRate { .. })
        ));
        assert_eq!(fx.convert(&usd(100), "USD").expect("same").money, usd(100));
    }

    #[test]
    fn bad_rates_are_refused_with_their_field() {
        let map: BTreeMap<String, String> = [
            ("EUR", "-1"),
            ("GBP", "1e3"),
            ("JPY", "0"),
            ("XYZ", "1"),
            ("USD", "2"),
            ("CAD", "0.1234567890123"),
        ]
        .iter()
        .map(|(c, r)| ((*c).to_owned(), (*r).to_owned()))
        .collect();
        let errors = ExchangeRates::parse("USD", &map, 0).expect_err("refused");
        let fields: Vec<&str> = errors.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "rates.CAD",
                "rates.EUR",
                "rates.GBP",
                "rates.JPY",
                "rates.USD",
                "rates.XYZ"
            ]
        );
        assert!(ExchangeRates::parse("ABC", &BTreeMap::new(), 0).is_err());
    }

    proptest! {
        /// Converting never overflows or panics for any stored price and any accepted rate,
        /// and the result is within half a minor unit of the exact product.
        #[test]
        fn any_price_converts_within_half_a_unit(
            amount in 0i64..=crate::domain::money::MAX_AMOUNT,
            units in 1i64..=999_999_999,
            scale in 0u32..=6,
        ) {
            let rate = Decimal::new(units, scale);
            let fx = ExchangeRates {
                base: "USD".into(),
                rates: [("EUR".to_owned(), rate)].into_iter().collect(),
                updated_at: 0,
            };
            if let Ok(converted) = fx.convert(&usd(amount), "EUR") {
                let exact = Decimal::new(amount, 2) * rate * Decimal::from(100);
                let diff = (Decimal::from(converted.money.amount) - exact).abs();
                prop_assert!(diff <= Decimal::new(5, 1), "{} vs {}", converted.money.amount, exact);
            }
        }
    }
}
