//! Who is calling, and the access rules every layer asks about it (admin only, staff of a
//! store, who sees a store's private resources). Turning a bearer header into a `Caller` is
//! the HTTP edge's job (`http::extract`); the rules live here so that services and the
//! WebSocket handler use the same ones without depending on HTTP.

use super::AuthError;
use crate::domain::ids::{StoreId, UserId};

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No token.
    Anonymous,
    /// The configured admin token (`user_id: None`) or a user with role `admin`.
    Admin {
        /// The admin user, when the caller logged in as one.
        user_id: Option<UserId>,
    },
    /// A shopper.
    Customer {
        /// The customer.
        user_id: UserId,
    },
    /// A store's staff member.
    Staff {
        /// The staff user.
        user_id: UserId,
        /// The one store they work for.
        store_id: StoreId,
    },
}

impl Caller {
    /// The caller's name in audit fields (`by`) and idempotency scopes: a user id, `admin`
    /// for the admin token, or `anonymous`.
    pub fn name(&self) -> String {
        match self {
            Self::Anonymous => "anonymous".to_owned(),
            Self::Admin { user_id: None } => "admin".to_owned(),
            Self::Admin {
                user_id: Some(user_id),
            }
            | Self::Customer { user_id }
            | Self::Staff { user_id, .. } => user_id.to_string(),
        }
    }

    /// The caller's role as the API spells it.
    pub fn role(&self) -> &'static str {
        match self {
            Self::Anonymous => "anonymous",
            Self::Admin { .. } => "admin",
            Self::Customer { .. } => "customer",
            Self::Staff { .. } => "staff",
        }
    }

    /// Refuses anyone but an admin: 401 for anonymous callers, 403 for other users.
    pub fn require_admin(&self) -> Result<(), AuthError> {
        match self {
            Self::Admin { .. } => Ok(()),
            Self::Anonymous => Err(AuthError::Unauthorized),
            Self::Customer { .. } | Self::Staff { .. } => Err(AuthError::Forbidden),
        }
    }

    /// Admits admins and the staff of `store`: 401 for anonymous callers, 403 for others
    /// (the store's resources are visible to everyone, so refusing is not a leak).
    pub fn require_store_staff(&self, store: &StoreId) -> Result<(), AuthError> {
        match self {
            Self::Admin { .. } => Ok(()),
            Self::Staff { store_id, .. } if store_id == store => Ok(()),
            Self::Anonymous => Err(AuthError::Unauthorized),
            Self::Customer { .. } | Self::Staff { .. } => Err(AuthError::Forbidden),
        }
    }

    /// Whether the caller may see the store's private resources (orders, reservations,
    /// movements); callers that may not get 404.
    pub fn sees_store(&self, store: &StoreId) -> bool {
        match self {
            Self::Admin { .. } => true,
            Self::Staff { store_id, .. } => store_id == store,
            Self::Anonymous | Self::Customer { .. } => false,
        }
    }

    /// [`Caller::sees_store`] as a check: 401 for anonymous callers (they should log in), 404
    /// for the others (they are not told whether such a resource exists).
    pub fn require_sees_store(&self, store: &StoreId) -> Result<(), AuthError> {
        match self {
            Self::Anonymous => Err(AuthError::Unauthorized),
            _ if self.sees_store(store) => Ok(()),
            _ => Err(AuthError::NotFound),
        }
    }

    /// The logged-in user, if any.
    pub fn user_id(&self) -> Option<&UserId> {
        match self {
            Self::Anonymous | Self::Admin { user_id: None } => None,
            Self::Admin {
                user_id: Some(user_id),
            }
            | Self::Customer { user_id }
            | Self::Staff { user_id, .. } => Some(user_id),
        }
    }
}
