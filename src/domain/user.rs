//! User accounts and refresh-token records as they are stored: plain data, so that storage
//! keeps them without depending on `auth` (which issues, checks and rotates them).

use super::{
    ids::{StoreId, UserId},
    time::Millis,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// What a user may do. Stored by variant position, so new roles go at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A shopper: carts and their own orders.
    Customer,
    /// Works for one store: its products, stock, reservations and orders.
    Staff,
    /// Everything.
    Admin,
}

impl Role {
    /// The role as the API spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Staff => "staff",
            Self::Admin => "admin",
        }
    }
}

/// A user account as stored in the `users` tree.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct User {
    /// `usr_…`
    pub id: UserId,
    /// The address as the user typed it (shown back to them).
    pub email: String,
    /// `auth::users::normalize_email` of `email`: the uniqueness and login key.
    pub email_lower: String,
    /// Display name.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// The store a staff member works for (`None` for every other role).
    pub store_id: Option<StoreId>,
    /// Argon2id PHC string; never leaves the server.
    pub password_hash: String,
    /// Creation time.
    pub created_at: Millis,
    /// Whether the user proved they own `email` (the link of the `welcome` email).
    pub email_verified: bool,
    /// A disabled user cannot log in or refresh, and their access tokens stop working.
    pub disabled: bool,
}

impl User {
    /// The user as the API shows it (docs/API.md §7): no hash, no internal fields.
    pub fn view(&self) -> Value {
        json!({
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role.as_str(),
            "store_id": self.store_id,
            "email_verified": self.email_verified,
            "disabled": self.disabled,
        })
    }
}

/// A refresh token as stored (under the digest of the token, never the token itself).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshRecord {
    /// Whose token it is.
    pub user_id: UserId,
    /// The user's refresh generation when it was issued; bumping the generation revokes every
    /// older token of the user at once.
    pub generation: u64,
    /// Where the token is in its single-use life.
    pub state: RefreshState,
    /// Issue time.
    pub created_at: Millis,
    /// After this the token is refused.
    pub expires_at: Millis,
}

/// The life of a refresh token. Stored by variant position, so new states go at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RefreshState {
    /// May be exchanged once.
    Active,
    /// Exchanged; presenting it again means it leaked.
    Used,
    /// Logged out.
    Revoked,
}
