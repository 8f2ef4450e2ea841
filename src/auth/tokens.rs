//! Access tokens (HS256 JWTs, stateless and short-lived) and refresh tokens (random, stored
//! only as SHA-256 digests, single use).

use super::AuthError;
use super::{
    Caller,
    users::{Role, User},
};
use crate::domain::ids::{StoreId, UserId};
/// The stored refresh-token records are domain types (storage keeps them without `auth`).
pub use crate::domain::user::{RefreshRecord, RefreshState};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Prefix of refresh tokens, so a leaked one is recognisable in logs and secret scanners.
const REFRESH_PREFIX: &str = "rt_";
/// Random characters after the prefix: 43 of 62 symbols ≈ 256 bits.
const REFRESH_RANDOM_LEN: usize = 43;

/// The claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id.
    pub sub: String,
    /// The user's role when the token was issued.
    pub role: Role,
    /// The staff member's store; `null` for other roles.
    #[serde(default)]
    pub store_id: Option<String>,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// The user's session generation when the token was issued: revoking the user's sessions
    /// moves them to a new one, and older tokens are refused from then on. Tokens from before
    /// this claim existed count as generation 0.
    #[serde(default)]
    pub generation: u64,
    /// The refresh token issued with this one, as its digest (base64url): lets the session
    /// that changes its own password keep its refresh token while every other is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// What a valid access token says: who, until when, and which session.
#[derive(Clone, Debug)]
pub struct Verified {
    /// The caller.
    pub caller: Caller,
    /// Expiry (Unix seconds).
    pub expires_at: u64,
    /// The session generation it was issued in (see [`AccessClaims::generation`]).
    pub generation: u64,
    /// The digest of the refresh token issued with it, if any.
    pub sid: Option<[u8; 32]>,
}

/// Signs and checks access tokens with the server's HMAC secret.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl_seconds: u64,
}

impl AccessTokens {
    /// Keys for `secret`; tokens live `ttl_seconds`.
    pub fn new(secret: &[u8], ttl_seconds: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // An expired token is refused at once: the client has a refresh token for that.
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_seconds,
        }
    }

    /// How long a fresh token lives (the `expires_in` of a session).
    pub fn ttl_seconds(&self) -> u64 {
        self.ttl_seconds
    }

    /// A signed access token for `user` in session generation `generation`, issued with the
    /// refresh token whose digest is `sid`.
    pub fn issue(
        &self,
        user: &User,
        generation: u64,
        sid: Option<&[u8; 32]>,
    ) -> Result<String, AuthError> {
        use base64::Engine;
        let iat = jsonwebtoken::get_current_timestamp();
        let claims = AccessClaims {
            sub: user.id.to_string(),
            role: user.role,
            store_id: user.store_id.as_ref().map(ToString::to_string),
            iat,
            exp: iat.saturating_add(self.ttl_seconds),
            generation,
            sid: sid.map(|d| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| AuthError::Internal(format!("signing an access token: {e}")))
    }

    /// The caller an access token stands for; a malformed, tampered, expired or otherwise
    /// odd token is a 401.
    pub fn caller(&self, token: &str) -> Result<Caller, AuthError> {
        self.verify(token).map(|verified| verified.caller)
    }

    /// [`AccessTokens::caller`] with the token's expiry (Unix seconds: a live connection
    /// authenticated with it ends then) and session. Checks only the signature and claims;
    /// whether the session was revoked is `Auth`'s business.
    pub fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        use base64::Engine;
        let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| AuthError::Unauthorized)?
            .claims;
        let user_id = UserId::parse(&claims.sub).ok_or(AuthError::Unauthorized)?;
        let store_id = claims.store_id.as_deref().map(StoreId::parse);
        let caller = match (claims.role, store_id) {
            (Role::Customer, None) => Ok(Caller::Customer { user_id }),
            (Role::Admin, None) => Ok(Caller::Admin {
                user_id: Some(user_id),
            }),
            (Role::Staff, Some(Some(store_id))) => Ok(Caller::Staff { user_id, store_id }),
            _ => Err(AuthError::Unauthorized),
        }?;
        let sid = match claims.sid.as_deref() {
            None => None,
            Some(raw) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(raw)
                    .ok()
                    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                    .ok_or(AuthError::Unauthorized)?,
            ),
        };
        Ok(Verified {
            caller,
            expires_at: claims.exp,
            generation: claims.generation,
            sid,
        })
    }
}

/// A fresh refresh token: `rt_` and ~256 random bits.
pub fn new_refresh_token() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    let random: String = (0..REFRESH_RANDOM_LEN)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("{REFRESH_PREFIX}{random}")
}

/// The storage key of a refresh token: its SHA-256, so a copy of the database holds no
/// usable token.
pub fn refresh_digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::time::now_ms;

    fn user(role: Role, store_id: Option<StoreId>) -> User {
        User {
            id: UserId::generate(),
            email: "a@b.co".into(),
            email_lower: "a@b.co".into(),
            name: "A".into(),
            role,
            store_id,
            password_hash: String::new(),
            created_at: now_ms(),
            email_verified: true,
            disabled: false,
        }
    }

    #[test]
    fn issued_tokens_name_their_caller_and_foreign_ones_do_not() {
        let tokens = AccessTokens::new(b"secret-one", 60);
        let store = StoreId::generate();
        let staff = user(Role::Staff, Some(store.clone()));
        let caller = tokens
            .caller(&tokens.issue(&staff, 0, None).expect("issue"))
            .expect("valid");
        assert_eq!(
            caller,
            Caller::Staff {
                user_id: staff.id.clone(),
                store_id: store
            }
        );
        let customer = user(Role::Customer, None);
        let token = tokens.issue(&customer, 0, None).expect("issue");
        assert_eq!(
            tokens.caller(&token).expect("valid"),
            Caller::Customer {
                user_id: customer.id
            }
        );
        let other = AccessTokens::new(b"secret-two", 60);
        assert!(other.caller(&token).is_err());
        assert!(tokens.caller("not.a.jwt").is_err());
        assert!(tokens.caller(&format!("{token}x")).is_err());
    }

    #[test]
    fn refresh_tokens_are_random_and_digests_stable() {
        let a = new_refresh_token();
        assert!(a.starts_with("rt_") && a.len() == 46, "{a}");
        assert_ne!(a, new_refresh_token());
        // The digest is SHA-256 of the token (the FIPS 180-2 "abc" vector), so a stored
        // digest can be found again from the token a client presents.
        assert_eq!(
            refresh_digest("abc"),
            [
                0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae,
                0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61,
                0xf2, 0x00, 0x15, 0xad
            ]
        );
        assert_ne!(refresh_digest(&a), refresh_digest(&new_refresh_token()));
    }
}
