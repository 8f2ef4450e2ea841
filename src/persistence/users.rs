//! The `users` tree: accounts, their case-insensitive email index and refresh tokens.
//!
//! Keys are a one-byte tag and a `0` byte, then:
//! - `u` user id → [`User`]
//! - `e` normalised email → user id (the uniqueness index)
//! - `r` SHA-256 of a refresh token → [`RefreshRecord`]
//! - `g` user id → the user's refresh generation (big-endian `u64`)
//! - `p` password-reset id → [`PasswordReset`]
//! - `n` user id → the user's notification [`Preferences`]
//!
//! As everywhere in this module, every write goes through the committer (and the log).

use super::{
    ProductWrite, Storage, StorageError, StorageResult, Tree, codec, committer::Committer, legacy,
};
use crate::domain::{
    ids::{PasswordResetId, UserId},
    notification::{PasswordReset, Preferences},
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

impl ProductWrite {
    /// Writes a new user and its email index entry.
    pub fn new_user(&mut self, user: &User) -> StorageResult<()> {
        self.user(user)?;
        self.put(
            Tree::Users,
            key(b'e', user.email_lower.as_bytes()),
            user.id.as_str().as_bytes().to_vec(),
        );
        Ok(())
    }

    /// Writes a user record (new or changed; the email index is [`Self::new_user`]'s).
    pub fn user(&mut self, user: &User) -> StorageResult<()> {
        self.put(
            Tree::Users,
            key(b'u', user.id.as_str().as_bytes()),
            codec::encode_v2(user)?,
        );
        Ok(())
    }

    /// Writes a password-reset request.
    pub fn password_reset(&mut self, reset: &PasswordReset) -> StorageResult<()> {
        self.put(
            Tree::Users,
            key(b'p', reset.id.as_str().as_bytes()),
            codec::encode(reset)?,
        );
        Ok(())
    }

    /// Writes a refresh token record under its digest.
    pub fn refresh_token(&mut self, digest: &[u8], record: &RefreshRecord) -> StorageResult<()> {
        self.put(Tree::Users, key(b'r', digest), codec::encode(record)?);
        Ok(())
    }
}

impl Storage {
    /// Writes a new user and its email index entry, durably.
    pub async fn put_new_user(&self, committer: &Committer, user: &User) -> StorageResult<()> {
        let mut write = ProductWrite::default();
        write.new_user(user)?;
        committer.write_durable(write).await
    }

    /// Reads a user.
    pub fn user(&self, id: &UserId) -> StorageResult<Option<User>> {
        self.users
            .get(key(b'u', id.as_str().as_bytes()))?
            .map(|raw| Ok(codec::decode_upgrading::<User, legacy::UserV1>(&raw)?))
            .transpose()
    }

    /// Writes a changed user record, durably.
    pub async fn put_user(&self, committer: &Committer, user: &User) -> StorageResult<()> {
        let mut write = ProductWrite::default();
        write.user(user)?;
        committer.write_durable(write).await
    }

    /// Every user, in key order. A full scan: for the admin list and start-up, not per request.
    pub fn all_users(&self) -> StorageResult<Vec<User>> {
        self.users().collect()
    }

    /// Every user with a refresh generation above 0 (their sessions were revoked at least once).
    pub fn refresh_generations(&self) -> StorageResult<Vec<(UserId, u64)>> {
        let prefix = key(b'g', &[]);
        let mut out = Vec::new();
        for entry in self.users.scan_prefix(&prefix) {
            let (k, raw) = entry?;
            let id = std::str::from_utf8(&k[prefix.len()..])
                .ok()
                .and_then(UserId::parse)
                .ok_or(StorageError::Malformed("refresh generation key"))?;
            let generation = <[u8; 8]>::try_from(raw.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| StorageError::Malformed("refresh generation"))?;
            out.push((id, generation));
        }
        Ok(out)
    }

    /// Every user, in id order (staff of a store are found this way; the table is small
    /// next to orders).
    pub fn users(&self) -> impl Iterator<Item = StorageResult<User>> + '_ {
        self.users.scan_prefix(key(b'u', &[])).map(|entry| {
            let (_, raw) = entry?;
            Ok(codec::decode_upgrading::<User, legacy::UserV1>(&raw)?)
        })
    }

    /// A password-reset request.
    pub fn password_reset(&self, id: &PasswordResetId) -> StorageResult<Option<PasswordReset>> {
        self.users
            .get(key(b'p', id.as_str().as_bytes()))?
            .map(|raw| Ok(codec::decode(&raw)?))
            .transpose()
    }

    /// Spends a password-reset request and sets the user's new password hash in one durable
    /// write, only if the request is still unused, unexpired at `now`, and the user exists;
    /// one at a time (like refresh swaps), so a link works once however many requests race.
    /// Returns the updated user, or `None` when the link may not be used.
    pub async fn use_password_reset(
        &self,
        committer: &Committer,
        id: &PasswordResetId,
        password_hash: String,
        now: Millis,
    ) -> StorageResult<Option<User>> {
        let _one_at_a_time = self.users_lock.lock().await;
        let Some(reset) = self.password_reset(id)? else {
            return Ok(None);
        };
        if reset.used || reset.expires_at <= now {
            return Ok(None);
        }
        let Some(mut user) = self.user(&reset.user_id)? else {
            return Ok(None);
        };
        user.password_hash = password_hash;
        let mut write = ProductWrite::default();
        write.password_reset(&PasswordReset {
            used: true,
            ..reset
        })?;
        write.user(&user)?;
        committer.write_durable(write).await?;
        Ok(Some(user))
    }

    /// Marks the user's email verified, durably (under the same lock as other read-modify-
    /// writes of users). `None` when there is no such user.
    pub async fn verify_user_email(
        &self,
        committer: &Committer,
        id: &UserId,
    ) -> StorageResult<Option<User>> {
        let _one_at_a_time = self.users_lock.lock().await;
        let Some(mut user) = self.user(id)? else {
            return Ok(None);
        };
        if !user.email_verified {
            user.email_verified = true;
            let mut write = ProductWrite::default();
            write.user(&user)?;
            committer.write_durable(write).await?;
        }
        Ok(Some(user))
    }

    /// The user's notification preferences (all on until they change them).
    pub fn preferences(&self, id: &UserId) -> StorageResult<Preferences> {
        Ok(self
            .users
            .get(key(b'n', id.as_str().as_bytes()))?
            .map(|raw| codec::decode(&raw))
            .transpose()?
            .unwrap_or_default())
    }

    /// Replaces the user's notification preferences, durably.
    pub async fn put_preferences(
        &self,
        committer: &Committer,
        id: &UserId,
        preferences: &Preferences,
    ) -> StorageResult<()> {
        let mut write = ProductWrite::default();
        write.put(
            Tree::Users,
            key(b'n', id.as_str().as_bytes()),
            codec::encode(preferences)?,
        );
        committer.write_durable(write).await
    }

    /// The user registered under a normalised email.
    pub fn user_id_by_email(&self, email_lower: &str) -> StorageResult<Option<UserId>> {
        self.users
            .get(key(b'e', email_lower.as_bytes()))?
            .map(|raw| {
                std::str::from_utf8(&raw)
                    .ok()
                    .and_then(UserId::parse)
                    .ok_or(StorageError::Malformed("email index entry"))
            })
            .transpose()
    }

    /// Writes a refresh token record under its digest, durably.
    pub async fn put_refresh_token(
        &self,
        committer: &Committer,
        digest: &[u8],
        record: &RefreshRecord,
    ) -> StorageResult<()> {
        let mut write = ProductWrite::default();
        write.refresh_token(digest, record)?;
        committer.write_durable(write).await
    }

    /// Reads the refresh token record stored under `digest`.
    pub fn refresh_token(&self, digest: &[u8]) -> StorageResult<Option<RefreshRecord>> {
        self.users
            .get(key(b'r', digest))?
            .map(|raw| Ok(codec::decode(&raw)?))
            .transpose()
    }

    /// Replaces the record under `digest` only if it still is `current`, durably; false when
    /// another request changed it first (the single-use guarantee of refresh tokens rests on
    /// this). Swaps run one at a time, each until its write is applied, so the comparison
    /// always sees the previous swap.
    pub async fn swap_refresh_token(
        &self,
        committer: &Committer,
        digest: &[u8],
        current: &RefreshRecord,
        next: &RefreshRecord,
    ) -> StorageResult<bool> {
        let _one_at_a_time = self.users_lock.lock().await;
        let stored = self.users.get(key(b'r', digest))?;
        if stored.as_deref() != Some(codec::encode(current)?.as_slice()) {
            return Ok(false);
        }
        let mut write = ProductWrite::default();
        write.refresh_token(digest, next)?;
        committer.write_durable(write).await?;
        Ok(true)
    }

    /// The user's refresh generation (0 until the first revocation).
    pub fn refresh_generation(&self, user: &UserId) -> StorageResult<u64> {
        Ok(self
            .users
            .get(key(b'g', user.as_str().as_bytes()))?
            .and_then(|raw| <[u8; 8]>::try_from(raw.as_ref()).ok())
            .map_or(0, u64::from_be_bytes))
    }

    /// Moves the user to a new refresh generation, durably, revoking every refresh token
    /// issued before; one at a time (like swaps), so concurrent revocations never lose one.
    pub async fn bump_refresh_generation(
        &self,
        committer: &Committer,
        user: &UserId,
    ) -> StorageResult<u64> {
        let _one_at_a_time = self.users_lock.lock().await;
        let next = self.refresh_generation(user)?.wrapping_add(1);
        let mut write = ProductWrite::default();
        write.put(
            Tree::Users,
            key(b'g', user.as_str().as_bytes()),
            next.to_be_bytes().to_vec(),
        );
        committer.write_durable(write).await?;
        Ok(next)
    }

    /// The removal of refresh token records that would be refused anyway: expired before
    /// `now`, logged out, or unreadable. Used ones stay until they expire, for reuse
    /// detection. Returns the write and how many it removes.
    pub fn prune_refresh_tokens(&self, now: Millis) -> StorageResult<(ProductWrite, usize)> {
        let mut write = ProductWrite::default();
        let mut removed = 0;
        for entry in self.users.scan_prefix(key(b'r', &[])) {
            let (k, raw) = entry?;
            let expired = codec::decode::<RefreshRecord>(&raw)
                .map(|r| r.expires_at < now || r.state == RefreshState::Revoked)
                .unwrap_or(true);
            if expired {
                write.remove(Tree::Users, k);
                removed += 1;
            }
        }
        Ok((write, removed))
    }
}

impl super::consumer::LogEvent {
    /// The users this record registers (a user record written together with its email
    /// index entry: registration and `POST /users`, not later changes).
    pub fn registered_users(&self) -> impl Iterator<Item = User> + '_ {
        let ops = self.write.ops();
        let registers = ops
            .iter()
            .any(|op| op.tree == Tree::Users && op.key.starts_with(b"e\0"));
        ops.iter()
            .filter(move |op| registers && op.tree == Tree::Users && op.key.starts_with(b"u\0"))
            .filter_map(|op| {
                codec::decode_upgrading::<User, legacy::UserV1>(op.value.as_ref()?).ok()
            })
    }

    /// The password-reset requests this record writes that are not used yet (new ones).
    pub fn password_resets(&self) -> impl Iterator<Item = PasswordReset> + '_ {
        self.write
            .ops()
            .iter()
            .filter(|op| op.tree == Tree::Users && op.key.starts_with(b"p\0"))
            .filter_map(|op| codec::decode::<PasswordReset>(op.value.as_ref()?).ok())
            .filter(|reset| !reset.used)
    }
}
