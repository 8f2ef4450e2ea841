//! Which access tokens are refused although their signature and expiry are fine: those of a
//! disabled user, and those issued before the user's sessions were last revoked.
//!
//! Access tokens carry the user's session generation (the refresh generation of
//! `persistence::users`). Revoking a user's sessions moves them to a new generation durably;
//! this registry keeps, in memory, the current generation of every user whose sessions were
//! ever revoked and whether they are disabled, so checking a token costs one map lookup and no
//! storage read. It is rebuilt from storage at start, so a token issued before a restart is
//! judged exactly as before it: a disabled user's, or one from an older generation, stays
//! refused. Live connections learn of a revocation from [`Revocations::subscribe`].

use crate::{domain::ids::UserId, persistence::Storage, persistence::StorageError};
use dashmap::DashMap;
use tokio::sync::broadcast;

/// Revocations a slow connection may miss before it re-checks its credentials anyway.
const SIGNAL_CAPACITY: usize = 256;

/// What the registry knows of one user (users absent from it are in generation 0 and enabled).
#[derive(Clone, Copy, Debug, Default)]
struct Standing {
    generation: u64,
    disabled: bool,
}

/// The in-memory view of revoked sessions and disabled users.
pub struct Revocations {
    users: DashMap<UserId, Standing>,
    signal: broadcast::Sender<UserId>,
}

impl Revocations {
    /// Loads the generations and disabled flags of every stored user. Blocking (start-up).
    pub fn load(storage: &Storage) -> Result<Self, StorageError> {
        let users = DashMap::new();
        for (id, generation) in storage.refresh_generations()? {
            users.insert(
                id,
                Standing {
                    generation,
                    disabled: false,
                },
            );
        }
        for user in storage.all_users()? {
            if user.disabled {
                users.entry(user.id).or_default().disabled = true;
            }
        }
        let (signal, _) = broadcast::channel(SIGNAL_CAPACITY);
        Ok(Self { users, signal })
    }

    /// Whether a token of `user` issued in `generation` is still good.
    pub fn admits(&self, user: &UserId, generation: u64) -> bool {
        self.users
            .get(user)
            .is_none_or(|s| !s.disabled && generation >= s.generation)
    }

    /// Records that `user` is now in `generation` (never moves backwards).
    pub fn advance(&self, user: &UserId, generation: u64) {
        let mut standing = self.users.entry(user.clone()).or_default();
        standing.generation = standing.generation.max(generation);
    }

    /// Records whether `user` is disabled.
    pub fn set_disabled(&self, user: &UserId, disabled: bool) {
        if disabled {
            self.users.entry(user.clone()).or_default().disabled = true;
        } else if let Some(mut standing) = self.users.get_mut(user) {
            standing.disabled = false;
        }
    }

    /// Tells live connections that `user`'s credentials changed: each connection of that user
    /// re-checks its token and closes if it is refused now.
    pub fn announce(&self, user: &UserId) {
        // No receivers (no live connection) is fine.
        let _ = self.signal.send(user.clone());
    }

    /// Announcements from now on. A receiver that lags (misses some) must re-check its
    /// credentials, since it cannot know whose were revoked.
    pub fn subscribe(&self) -> broadcast::Receiver<UserId> {
        self.signal.subscribe()
    }
}
