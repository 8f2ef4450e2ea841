//! The `users` tree: accounts, their case-insensitive email index and refresh tokens.
//!
//! Keys are a one-byte tag and a `0` byte, then:
//! - `u` user id → [`User`]
//! - `e` normalised email → user id (the uniqueness index)
//! - `r` SHA-256 of a refresh token → [`RefreshRecord`]
//! - `g` user id → the user's refresh generation (big-endian `u64`)
//!
//! As everywhere in this module, nothing is durable until the committer has flushed.

use super::{Storage, StorageError, StorageResult, codec};
use crate::domain::{
    ids::UserId,
    time::Millis,
    user::{RefreshRecord, RefreshState, User},
};

fn key(tag: u8, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(2 + rest.len());
    key.push(tag);
    key.push(0);
    key.extend_from_slice(rest);
    key
}

impl Storage {
    /// Writes a new user and its email index entry in one atomic batch.
    pub fn put_new_user(&self, user: &User) -> StorageResult<()> {
        let mut batch = sled::Batch::default();
        batch.insert(key(b'u', user.id.as_str().as_bytes()), codec::encode(user)?);
        batch.insert(
            key(b'e', user.email_lower.as_bytes()),
            user.id.as_str().as_bytes(),
        );
        self.users.apply_batch(batch)?;
        Ok(())
    }

    /// Reads a user.
    pub fn user(&self, id: &UserId) -> StorageResult<Option<User>> {
        self.users
            .get(key(b'u', id.as_str().as_bytes()))?
            .map(|raw| Ok(codec::decode(&raw)?))
            .transpose()
    }

    /// The user registered under a normalised email.
    pub fn user_id_by_email(&self, email_lower: &str) -> StorageResult<Option<UserId>> {
        self.users
            .get(key(b'e', email_lower.as_bytes()))?
            .map(|raw| {
                std::str::from_utf8(&raw)
                    .ok()
                    .and_then(UserId::parse)
                    .ok_or_else(|| StorageError("malformed email index entry".into()))
            })
            .transpose()
    }

    /// Writes a refresh token record under its digest.
    pub fn put_refresh_token(&self, digest: &[u8], record: &RefreshRecord) -> StorageResult<()> {
        self.users
            .insert(key(b'r', digest), codec::encode(record)?)?;
        Ok(())
    }

    /// Reads the refresh token record stored under `digest`.
    pub fn refresh_token(&self, digest: &[u8]) -> StorageResult<Option<RefreshRecord>> {
        self.users
            .get(key(b'r', digest))?
            .map(|raw| Ok(codec::decode(&raw)?))
            .transpose()
    }

    /// Replaces the record under `digest` only if it still is `current`; false when another
    /// request changed it first (the single-use guarantee of refresh tokens rests on this).
    pub fn swap_refresh_token(
        &self,
        digest: &[u8],
        current: &RefreshRecord,
        next: &RefreshRecord,
    ) -> StorageResult<bool> {
        Ok(self
            .users
            .compare_and_swap(
                key(b'r', digest),
                Some(codec::encode(current)?),
                Some(codec::encode(next)?),
            )?
            .is_ok())
    }

    /// The user's refresh generation (0 until the first revocation).
    pub fn refresh_generation(&self, user: &UserId) -> StorageResult<u64> {
        Ok(self
            .users
            .get(key(b'g', user.as_str().as_bytes()))?
            .and_then(|raw| <[u8; 8]>::try_from(raw.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Moves the user to a new refresh generation, revoking every refresh token issued
    /// before; atomic, so concurrent revocations never lose one.
    pub fn bump_refresh_generation(&self, user: &UserId) -> StorageResult<u64> {
        let next = self
            .users
            .update_and_fetch(key(b'g', user.as_str().as_bytes()), |old| {
                let current = old
                    .and_then(|raw| <[u8; 8]>::try_from(raw).ok())
                    .map_or(0, u64::from_be_bytes);
                Some(current.wrapping_add(1).to_be_bytes().to_vec())
            })?
            .and_then(|raw| <[u8; 8]>::try_from(raw.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        Ok(next)
    }

    /// Removes refresh token records that would be refused anyway: expired before `now`,
    /// logged out, or unreadable. Used ones stay until they expire, for reuse detection.
    /// Returns how many went.
    pub fn prune_refresh_tokens(&self, now: Millis) -> StorageResult<usize> {
        let mut removed = 0;
        for entry in self.users.scan_prefix(key(b'r', &[])) {
            let (k, raw) = entry?;
            let expired = codec::decode::<RefreshRecord>(&raw)
                .map(|r| r.expires_at < now || r.state == RefreshState::Revoked)
                .unwrap_or(true);
            if expired {
                self.users.remove(k)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}
