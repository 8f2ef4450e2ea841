//! Opaque, prefixed identifiers with 120 random bits (`prod_…`, `str_…`, `res_…`).
//!
//! Clients must not parse them; the server only checks the prefix and alphabet so that a
//! malformed id is a clean 404 and never reaches storage as an odd key.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Crockford-style lowercase base32 without ambiguous letters.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// The value of each byte of [`ALPHABET`] (0 for any other byte; ids are validated first).
const DIGITS: [u8; 256] = {
    let mut digits = [0u8; 256];
    let mut i = 0;
    while i < ALPHABET.len() {
        digits[ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    digits
};
/// 24 characters × 5 bits = 120 random bits (the contract asks for at least 96).
const RANDOM_LEN: usize = 24;

fn random_suffix() -> String {
    let mut rng = rand::rng();
    (0..RANDOM_LEN)
        .map(|_| ALPHABET[rng.random_range(0..32)] as char)
        .collect()
}

fn is_valid(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix)
        .is_some_and(|rest| rest.len() == RANDOM_LEN && rest.bytes().all(|b| ALPHABET.contains(&b)))
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The type prefix every id of this kind starts with.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn generate() -> Self {
                Self(format!("{}{}", $prefix, random_suffix()))
            }

            /// Accepts only well-formed ids of this kind.
            pub fn parse(s: &str) -> Option<Self> {
                is_valid($prefix, s).then(|| Self(s.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An email or other notification (`ntf_…`); derived from the log position that caused
    /// it (see [`NotificationId::derived`]), so a replay finds the one it made before.
    NotificationId,
    "ntf_"
);
id_type!(
    /// A password-reset request (`pwr_…`); its link carries this id and an HMAC of it.
    PasswordResetId,
    "pwr_"
);

impl NotificationId {
    /// The id that `seed` (a log position, a template, a recipient) always gives: the first
    /// 120 bits of its SHA-256 in the id alphabet.
    pub fn derived(seed: &[u8]) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(seed);
        let mut bits: u128 = 0;
        for byte in &digest[..16] {
            bits = (bits << 8) | u128::from(*byte);
        }
        let suffix: String = (0..RANDOM_LEN)
            .map(|i| ALPHABET[((bits >> (i * 5)) & 31) as usize] as char)
            .collect();
        Self(format!("{}{suffix}", Self::PREFIX))
    }
}

id_type!(
    /// A store (`str_…`).
    StoreId,
    "str_"
);
id_type!(
    /// A product (`prod_…`).
    ProductId,
    "prod_"
);
impl ProductId {
    /// The id's 120 random bits, for indexes that keep ids as numbers (the search index holds
    /// them in two fast fields and turns a hit back into its id without a lookup).
    pub fn to_bits(&self) -> u128 {
        self.0[Self::PREFIX.len()..].bytes().fold(0u128, |bits, b| {
            (bits << 5) | u128::from(DIGITS[usize::from(b)])
        })
    }

    /// The id of [`ProductId::to_bits`]'s bits (the lowest 120 are used).
    pub fn from_bits(bits: u128) -> Self {
        let mut id = String::with_capacity(Self::PREFIX.len() + RANDOM_LEN);
        id.push_str(Self::PREFIX);
        for i in (0..RANDOM_LEN).rev() {
            id.push(ALPHABET[((bits >> (5 * i)) & 31) as usize] as char);
        }
        Self(id)
    }
}

id_type!(
    /// A stock reservation (`res_…`).
    ReservationId,
    "res_"
);
id_type!(
    /// A user account (`usr_…`).
    UserId,
    "usr_"
);
id_type!(
    /// A cart (`cart_…`).
    CartId,
    "cart_"
);
id_type!(
    /// An order (`ord_…`).
    OrderId,
    "ord_"
);
id_type!(
    /// An inventory movement (`mov_…`).
    MovementId,
    "mov_"
);
id_type!(
    /// A product review (`rev_…`).
    ReviewId,
    "rev_"
);
id_type!(
    /// A webhook endpoint (`whk_…`).
    WebhookId,
    "whk_"
);
id_type!(
    /// A stock location of a store: a warehouse, shop floor or kitchen (`loc_…`).
    LocationId,
    "loc_"
);
id_type!(
    /// A shipment of some of an order's items (`ful_…`).
    FulfillmentId,
    "ful_"
);
id_type!(
    /// A customer's return of delivered items (`ret_…`).
    ReturnId,
    "ret_"
);
id_type!(
    /// A refund of captured money (`rfn_…`).
    RefundId,
    "rfn_"
);
id_type!(
    /// A place in a sold-out product's waitlist (`wl_…`).
    WaitlistId,
    "wl_"
);
id_type!(
    /// An uploaded product image (`img_…`).
    ImageId,
    "img_"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_foreign_ids_do_not() {
        let id = ProductId::generate();
        assert_eq!(ProductId::parse(id.as_str()), Some(id.clone()));
        assert!(StoreId::parse(id.as_str()).is_none());
        assert!(ProductId::parse("prod_").is_none());
        assert!(ProductId::parse("prod_../../etc/passwd000000").is_none());
    }

    #[test]
    fn product_ids_round_trip_through_their_bits() {
        for _ in 0..100 {
            let id = ProductId::generate();
            assert_eq!(ProductId::from_bits(id.to_bits()), id);
        }
    }
}
