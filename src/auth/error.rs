//! Why an account operation or an access check was refused or failed. `http` maps each
//! variant to its row of the error table (docs/API.md §2).

use crate::{domain::error::FieldError, persistence::StorageError};

/// An account or access refusal, or the failure beneath it.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Missing, malformed, tampered, expired or revoked credentials (401).
    #[error("authentication required")]
    Unauthorized,
    /// The caller is known but may not do this (403).
    #[error("not allowed")]
    Forbidden,
    /// The resource is not visible to the caller (404, so its existence does not leak).
    #[error("not found")]
    NotFound,
    /// Wrong email or password (never says which).
    #[error("wrong email or password")]
    InvalidCredentials,
    /// Too many failed logins; an attempt can succeed again after this many seconds.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until an attempt can succeed again.
        retry_after_secs: u64,
    },
    /// Another account has this email (compared case-insensitively).
    #[error("an account with this email already exists")]
    EmailTaken,
    /// The registration's fields are invalid.
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    /// Reading or durably writing an account or token failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A password hashing or verification task died (it panicked or the runtime is shutting
    /// down): 500.
    #[error("the {task} task failed")]
    Task {
        /// Which task: `hashing` or `verification`.
        task: &'static str,
        /// Why it ended.
        #[source]
        source: tokio::task::JoinError,
    },
    /// Hashing or signing failed: a bug (500).
    #[error("{0}")]
    Internal(String),
}
