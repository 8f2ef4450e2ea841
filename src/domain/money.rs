//! Money in a currency's minor unit, and the currencies a store may use.

use serde::{Deserialize, Serialize};

/// `{"amount": 1999, "currency": "USD"}`: an integer count of minor units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Minor units (cents for USD, yen for JPY, fils for BHD).
    pub amount: i64,
    /// ISO 4217 code, upper case.
    pub currency: String,
}

/// Largest price we accept: keeps every `quantity × price` sum far from `i64` overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// ISO 4217 codes we accept with their minor-unit exponent. A short, explicit list beats
/// accepting any three letters: a typo like `"UDS"` must fail loudly.
pub const CURRENCIES: &[(&str, u8)] = &[
    ("USD", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("CHF", 2),
    ("CAD", 2),
    ("AUD", 2),
    ("NZD", 2),
    ("SEK", 2),
    ("NOK", 2),
    ("DKK", 2),
    ("PLN", 2),
    ("CZK", 2),
    ("MXN", 2),
    ("BRL", 2),
    ("INR", 2),
    ("CNY", 2),
    ("HKD", 2),
    ("SGD", 2),
    ("ZAR", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("ISK", 0),
    ("CLP", 0),
    ("BHD", 3),
    ("KWD", 3),
    ("JOD", 3),
    ("OMR", 3),
    ("TND", 3),
];

/// Whether `code` is a currency we know.
pub fn is_known_currency(code: &str) -> bool {
    CURRENCIES.iter().any(|(c, _)| *c == code)
}

/// The minor-unit exponent of `code` (2 for a currency we do not know).
pub fn exponent(code: &str) -> u8 {
    CURRENCIES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(2, |(_, e)| *e)
}

impl Money {
    /// The amount for people, in its currency's minor units: `19.99 USD`, `1500 JPY`,
    /// `-1.250 BHD` (emails show money this way).
    pub fn display(&self) -> String {
        let exponent = u32::from(exponent(&self.currency));
        let sign = if self.amount < 0 { "-" } else { "" };
        let amount = self.amount.unsigned_abs();
        if exponent == 0 {
            return format!("{sign}{amount} {}", self.currency);
        }
        let unit = 10u64.pow(exponent);
        format!(
            "{sign}{}.{:0width$} {}",
            amount / unit,
            amount % unit,
            self.currency,
            width = exponent as usize
        )
    }
}

#[cfg(test)]
mod display_tests {
    use super::Money;

    #[test]
    fn money_is_shown_in_its_currencys_minor_units() {
        let m = |amount, currency: &str| {
            Money {
                amount,
                currency: currency.into(),
            }
            .display()
        };
        assert_eq!(m(1999, "USD"), "19.99 USD");
        assert_eq!(m(5, "EUR"), "0.05 EUR");
        assert_eq!(m(1500, "JPY"), "1500 JPY");
        assert_eq!(m(-1250, "BHD"), "-1.250 BHD");
    }
}
