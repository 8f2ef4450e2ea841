//! Accounts (docs/API.md §7): registration, login with throttling, rotating refresh tokens,
//! and the access tokens that turn a bearer header into a [`Caller`].
//!
//! Access tokens are stateless HS256 JWTs checked on every request without touching storage;
//! they are short-lived because they cannot be revoked. Refresh tokens are stored (as digests)
//! and single use: each refresh marks the presented token used and issues a new one, and
//! presenting a used token again (a sign it leaked) revokes every refresh token of the user by
//! moving the user to a new refresh generation.

pub mod caller;
pub mod error;
pub mod links;
pub mod passwords;
pub mod rate_limit;
pub mod revocations;
pub mod tokens;
pub mod users;

use crate::{
    context::Shared,
    domain::{
        error::FieldError,
        ids::{StoreId, UserId},
        time::now_ms,
    },
    persistence::StorageError,
};
pub use caller::Caller;
use dashmap::{DashMap, mapref::entry::Entry};
pub use error::AuthError;
use passwords::Passwords;
use rate_limit::{LoginLimiter, LoginThrottle};
use revocations::Revocations;
use serde_json::{Value, json};
use std::{net::IpAddr, sync::Arc};
pub use tokens::Verified;
use tokens::{AccessTokens, RefreshRecord, RefreshState};
use users::{MAX_EMAIL_CHARS, MAX_PASSWORD_CHARS, Role, User};

/// Secrets shorter than this (in bytes) are accepted with a warning: HS256 wants ≥ 256 bits.
const MIN_SECRET_BYTES: usize = 32;

/// A logged-in user's tokens, as login, registration and refresh answer them.
pub struct Session {
    /// The user.
    pub user: User,
    /// A signed JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// A single-use token for `POST /auth/refresh`.
    pub refresh_token: String,
    /// Lifetime of `access_token` in seconds.
    pub expires_in: u64,
}

impl Session {
    /// The answer body of docs/API.md §7.
    pub fn view(&self) -> Value {
        json!({
            "user": self.user.view(),
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_in": self.expires_in,
        })
    }
}

/// An account to create.
pub struct NewUser {
    /// Email address (unique, case-insensitively).
    pub email: String,
    /// Plain password; hashed before anything is stored.
    pub password: String,
    /// Display name.
    pub name: String,
    /// Role of the account.
    pub role: Role,
    /// The store of a staff member, as the client sent it.
    pub store_id: Option<String>,
}

/// The account service.
pub struct Auth {
    shared: Arc<Shared>,
    access: AccessTokens,
    passwords: Passwords,
    limiter: LoginThrottle,
    /// Password-reset requests per normalised email (whether or not it has an account, so
    /// the limit tells nothing): a stranger cannot flood someone's inbox with reset mails.
    reset_requests: LoginLimiter,
    /// Normalised emails whose registration is in flight: with the durable index this makes
    /// uniqueness hold under concurrent registrations.
    registering: DashMap<String, ()>,
    /// Disabled users and revoked session generations, checked on every token.
    revocations: Revocations,
    /// Serialises admin edits of user records (read, change, write), so two concurrent
    /// PATCHes never lose one another's fields.
    editing: tokio::sync::Mutex<()>,
    /// Tokens of the verification and password-reset links.
    links: links::LinkTokens,
}

/// An admin's change to an account (`PATCH /users/{id}`); `None` leaves a field as it is.
#[derive(Default)]
pub struct UserPatch {
    /// New display name.
    pub name: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New store (`Some(None)`: none), as the client sent it.
    pub store_id: Option<Option<String>>,
    /// Disable or re-enable.
    pub disabled: Option<bool>,
}

/// A new password's length check (422 on `field`).
fn check_new_password(field: &'static str, password: &str) -> Result<(), AuthError> {
    let chars = password.chars().count();
    if (users::MIN_PASSWORD_CHARS..=users::MAX_PASSWORD_CHARS).contains(&chars) {
        return Ok(());
    }
    Err(AuthError::Validation(vec![FieldError::new(
        field,
        format!(
            "must be {}-{} characters",
            users::MIN_PASSWORD_CHARS,
            users::MAX_PASSWORD_CHARS
        ),
    )]))
}

/// Releases an in-flight email claim however the registration ends (error, success, or the
/// request being dropped).
struct EmailClaim<'a> {
    claims: &'a DashMap<String, ()>,
    email: String,
}

impl Drop for EmailClaim<'_> {
    fn drop(&mut self) {
        self.claims.remove(&self.email);
    }
}

impl Auth {
    /// Sets up the account service with the JWT key `secret` (from `auth.jwt_secret` or the
    /// data dir's secrets file, resolved by the caller). Also drops refresh tokens that can no
    /// longer be used. Blocking (runs inside `App::open`).
    pub fn open(shared: Arc<Shared>, secret: String) -> Result<Self, StorageError> {
        let config = &shared.config.auth;
        if secret.len() < MIN_SECRET_BYTES {
            tracing::warn!(
                "auth.jwt_secret is shorter than {MIN_SECRET_BYTES} bytes; access tokens are easier to forge"
            );
        }
        let (removal, pruned) = shared.storage.prune_refresh_tokens(now_ms())?;
        if pruned > 0 {
            shared.committer.write_durable_blocking(removal)?;
            tracing::debug!(pruned, "removed spent refresh tokens");
        }
        Ok(Self {
            access: AccessTokens::new(secret.as_bytes(), config.access_ttl_seconds),
            passwords: Passwords::default(),
            limiter: LoginThrottle::new(
                config.login_max_failures,
                config.login_max_failures_per_ip,
                config.login_window_seconds,
            ),
            reset_requests: LoginLimiter::new(
                config.login_max_failures,
                config.login_window_seconds,
            ),
            registering: DashMap::new(),
            revocations: Revocations::load(&shared.storage)?,
            editing: tokio::sync::Mutex::new(()),
            links: links::LinkTokens::new(secret.as_bytes()),
            shared,
        })
    }

    /// The caller an access token stands for (401 when it is not a valid, unexpired token).
    pub fn caller(&self, token: &str) -> Result<Caller, AuthError> {
        self.verify(token).map(|verified| verified.caller)
    }

    /// [`Auth::caller`] with the token's expiry and session. A token of a disabled user, or
    /// one issued before the user's sessions were revoked, is a 401 (an in-memory check).
    pub fn verify(&self, token: &str) -> Result<Verified, AuthError> {
        let verified = self.access.verify(token)?;
        if let Some(user) = verified.caller.user_id()
            && !self.revocations.admits(user, verified.generation)
        {
            return Err(AuthError::Unauthorized);
        }
        Ok(verified)
    }

    /// Whether credentials of `user` from session `generation` are still good (a live
    /// connection asks after [`Auth::revocation_signal`] names its user).
    pub fn admits(&self, user: &UserId, generation: u64) -> bool {
        self.revocations.admits(user, generation)
    }

    /// Wakes with the id of every user whose sessions end (see [`Revocations::subscribe`]).
    pub fn revocation_signal(&self) -> tokio::sync::broadcast::Receiver<UserId> {
        self.revocations.subscribe()
    }

    /// Ends every session of `user`: revokes all their refresh tokens (a new refresh
    /// generation, durably), refuses every access token issued before from now on, and tells
    /// their live connections (WebSocket, SSE) to close with 4001. Used by disabling, role and
    /// store changes, password changes and resets, and refresh-token reuse. Returns the new
    /// generation.
    pub async fn revoke_sessions(&self, user: &UserId) -> Result<u64, AuthError> {
        let generation = self
            .shared
            .storage
            .bump_refresh_generation(&self.shared.committer, user)
            .await?;
        self.revocations.advance(user, generation);
        self.revocations.announce(user);
        tracing::info!(%user, generation, "ended every session of the user");
        Ok(generation)
    }

    /// `GET /users`: every account, oldest first (filtering and paging are the caller's).
    pub fn users(&self) -> Result<Vec<User>, AuthError> {
        let mut users = self.shared.storage.all_users()?;
        users.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(users)
    }

    /// `PATCH /users/{id}`: applies an admin's change. Staff need an existing store and other
    /// roles none (a role change away from staff drops the store). Disabling, or changing the
    /// role or store (access tokens carry them), ends the user's sessions.
    pub async fn update_user(&self, id: &UserId, patch: UserPatch) -> Result<User, AuthError> {
        let _one_at_a_time = self.editing.lock().await;
        let mut user = self.shared.storage.user(id)?.ok_or(AuthError::NotFound)?;
        let mut errors = Vec::new();
        if let Some(name) = &patch.name
            && (name.trim().is_empty() || name.chars().count() > users::MAX_NAME_CHARS)
        {
            errors.push(FieldError::new(
                "name",
                format!("must be 1-{} characters", users::MAX_NAME_CHARS),
            ));
        }
        let role = patch.role.unwrap_or(user.role);
        let raw_store = match &patch.store_id {
            Some(raw) => raw.clone(),
            None if role == Role::Staff => user.store_id.as_ref().map(ToString::to_string),
            None => None,
        };
        let store_id = self.check_store(role, raw_store.as_deref(), &mut errors);
        if !errors.is_empty() {
            return Err(AuthError::Validation(errors));
        }
        let access_changed = role != user.role || store_id != user.store_id;
        let disabling = patch.disabled == Some(true) && !user.disabled;
        if let Some(name) = patch.name {
            user.name = name;
        }
        user.role = role;
        user.store_id = store_id;
        if let Some(disabled) = patch.disabled {
            user.disabled = disabled;
        }
        self.shared
            .storage
            .put_user(&self.shared.committer, &user)
            .await?;
        self.revocations.set_disabled(&user.id, user.disabled);
        if access_changed || disabling {
            self.revoke_sessions(&user.id).await?;
        }
        Ok(user)
    }

    /// `POST /me/password`: checks `current` (throttled like a login), stores the hash of
    /// `new`, and ends every session of the user but the caller's: the caller's refresh token
    /// (named by the access token's `sid`) moves to the new generation, so the caller goes on
    /// after one refresh while every other device must log in again.
    pub async fn change_password(
        &self,
        verified: &Verified,
        current: String,
        new: String,
        client_ip: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let user_id = verified.caller.user_id().ok_or(AuthError::NotFound)?;
        let user = self
            .shared
            .storage
            .user(user_id)?
            .ok_or(AuthError::Unauthorized)?;
        check_new_password("new_password", &new)?;
        let attempt = self
            .limiter
            .begin(&user.email_lower, client_ip, now_ms())
            .map_err(|retry_after_secs| AuthError::RateLimited { retry_after_secs })?;
        if current.chars().count() > users::MAX_PASSWORD_CHARS
            || !self
                .passwords
                .verify(current, Some(user.password_hash.clone()))
                .await?
        {
            return Err(AuthError::InvalidCredentials);
        }
        self.limiter.succeeded(&attempt);
        let generation = self.set_password(&user.id, "new_password", new).await?;
        if let Some(digest) = &verified.sid {
            self.carry_over(&user.id, digest, generation).await?;
        }
        Ok(())
    }

    /// Stores `new` as the password of `user` and ends every session of the user
    /// ([`Auth::revoke_sessions`]); returns the new session generation. A password outside
    /// 8–1024 characters is a 422 on `field`. The caller has established the right to do it
    /// (the current password, or a password-reset token).
    pub async fn set_password(
        &self,
        user: &UserId,
        field: &'static str,
        new: String,
    ) -> Result<u64, AuthError> {
        check_new_password(field, &new)?;
        let password_hash = self.passwords.hash(new).await?;
        {
            let _one_at_a_time = self.editing.lock().await;
            // Read under the lock: an admin edit in between must not be undone.
            let mut stored = self.shared.storage.user(user)?.ok_or(AuthError::NotFound)?;
            stored.password_hash = password_hash;
            self.shared
                .storage
                .put_user(&self.shared.committer, &stored)
                .await?;
        }
        tracing::info!(%user, "password changed");
        self.revoke_sessions(user).await
    }

    /// Moves the caller's own active refresh token into `generation`, so revoking the user's
    /// sessions spares the one that asked for it.
    async fn carry_over(
        &self,
        user: &UserId,
        digest: &[u8; 32],
        generation: u64,
    ) -> Result<(), AuthError> {
        let storage = &self.shared.storage;
        let Some(record) = storage.refresh_token(digest)? else {
            return Ok(());
        };
        if &record.user_id != user || record.state != RefreshState::Active {
            return Ok(());
        }
        let moved = RefreshRecord {
            generation,
            ..record.clone()
        };
        storage
            .swap_refresh_token(&self.shared.committer, digest, &record, &moved)
            .await?;
        Ok(())
    }

    /// The tokens of email links (the notification consumer writes them into emails).
    pub fn links(&self) -> &links::LinkTokens {
        &self.links
    }

    /// `POST /auth/verify-email`: the token of a `welcome` email's link marks its user's
    /// email verified (again is fine). 401 for a token that is not one.
    pub async fn verify_email(&self, token: &str) -> Result<User, AuthError> {
        let id = self
            .links
            .check(links::Purpose::VerifyEmail, token)
            .and_then(UserId::parse)
            .ok_or(AuthError::Unauthorized)?;
        self.shared
            .storage
            .verify_user_email(&self.shared.committer, &id)
            .await?
            .ok_or(AuthError::Unauthorized)
    }

    /// `POST /auth/password-reset`: when `email` has an enabled account, durably records a
    /// reset request (the notification consumer then sends its link). Answers the same way,
    /// and after the same work (a lookup), whether or not the account exists: the write runs
    /// in the background, so timing does not tell either.
    pub fn request_password_reset(&self, email: &str) -> Result<(), AuthError> {
        if email.chars().count() > MAX_EMAIL_CHARS {
            return Ok(());
        }
        let email_lower = users::normalize_email(email);
        if let Err(refused) = self.reset_requests.begin(&email_lower, now_ms()) {
            if refused.newly_locked {
                tracing::warn!(email = %email_lower, retry_after_secs = refused.retry_after_secs,
                    "password-reset requests for one email throttled");
            }
            return Err(AuthError::RateLimited {
                retry_after_secs: refused.retry_after_secs,
            });
        }
        let storage = &self.shared.storage;
        let user = match storage.user_id_by_email(&email_lower)? {
            Some(id) => storage.user(&id)?,
            None => None,
        };
        let Some(user) = user.filter(|u| !u.disabled) else {
            return Ok(());
        };
        let now = now_ms();
        let ttl_ms = self
            .shared
            .config
            .auth
            .password_reset_ttl_seconds
            .saturating_mul(1000);
        let reset = crate::domain::notification::PasswordReset {
            id: crate::domain::ids::PasswordResetId::generate(),
            user_id: user.id,
            created_at: now,
            expires_at: now.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX)),
            used: false,
        };
        let shared = Arc::clone(&self.shared);
        tokio::spawn(async move {
            let mut write = crate::persistence::ProductWrite::default();
            let written = match write.password_reset(&reset) {
                Ok(()) => shared.committer.write_durable(write).await,
                Err(error) => Err(error),
            };
            if let Err(error) = written {
                tracing::warn!(%error, user = %reset.user_id, "recording a password reset failed");
            }
        });
        Ok(())
    }

    /// `POST /auth/password-reset/confirm`: a reset link's token and a new password. The link
    /// works once, until it expires; then every session of the user is revoked. 401 for a
    /// used, expired or unknown token; 422 for a password the rules refuse (the link stays
    /// usable).
    pub async fn confirm_password_reset(
        &self,
        token: &str,
        password: String,
    ) -> Result<User, AuthError> {
        let id = self
            .links
            .check(links::Purpose::PasswordReset, token)
            .and_then(crate::domain::ids::PasswordResetId::parse)
            .ok_or(AuthError::Unauthorized)?;
        let chars = password.chars().count();
        if !(users::MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
            return Err(AuthError::Validation(vec![FieldError::new(
                "password",
                format!(
                    "must be {}-{MAX_PASSWORD_CHARS} characters",
                    users::MIN_PASSWORD_CHARS
                ),
            )]));
        }
        let storage = &self.shared.storage;
        // Refuse a dead link before spending a hash on it (checked again under the lock).
        match storage.password_reset(&id)? {
            Some(reset) if !reset.used && reset.expires_at > now_ms() => {}
            _ => return Err(AuthError::Unauthorized),
        }
        let hash = self.passwords.hash(password).await?;
        let user = storage
            .use_password_reset(&self.shared.committer, &id, hash, now_ms())
            .await?
            .ok_or(AuthError::Unauthorized)?;
        self.revoke_sessions(&user.id).await?;
        tracing::info!(user = %user.id, "password reset");
        Ok(user)
    }

    /// Reads a user.
    pub fn user(&self, id: &UserId) -> Result<Option<User>, AuthError> {
        Ok(self.shared.storage.user(id)?)
    }

    /// `POST /auth/register`: a new customer, logged in.
    pub async fn register(
        &self,
        email: String,
        password: String,
        name: String,
    ) -> Result<Session, AuthError> {
        let new = NewUser {
            email,
            password,
            name,
            role: Role::Customer,
            store_id: None,
        };
        let (user, claim) = self.insert_user(new).await?;
        let session = self.start_session(user).await;
        drop(claim);
        session
    }

    /// `POST /users`: an account of any role, created by an admin (no session).
    pub async fn create_user(&self, new: NewUser) -> Result<User, AuthError> {
        let (user, claim) = self.insert_user(new).await?;
        drop(claim);
        Ok(user)
    }

    /// `POST /auth/login` from `client_ip` (`None`: unknown): checks the throttle, then the
    /// password.
    pub async fn login(
        &self,
        email: &str,
        password: String,
        client_ip: Option<IpAddr>,
    ) -> Result<Session, AuthError> {
        if email.chars().count() > MAX_EMAIL_CHARS {
            // No account can have this address; not worth a throttle entry.
            return Err(AuthError::InvalidCredentials);
        }
        let key = users::normalize_email(email);
        let attempt = self
            .limiter
            .begin(&key, client_ip, now_ms())
            .map_err(|retry_after_secs| AuthError::RateLimited { retry_after_secs })?;
        if password.chars().count() > MAX_PASSWORD_CHARS {
            return Err(AuthError::InvalidCredentials);
        }
        let user = match self.shared.storage.user_id_by_email(&key)? {
            Some(id) => self.shared.storage.user(&id)?,
            None => None,
        };
        let Some(user) = user else {
            // Same work as a wrong password, so timing does not tell which emails exist.
            self.passwords.verify(password, None).await?;
            return Err(AuthError::InvalidCredentials);
        };
        if !self
            .passwords
            .verify(password, Some(user.password_hash.clone()))
            .await?
        {
            return Err(AuthError::InvalidCredentials);
        }
        if user.disabled {
            // Told apart from a wrong password only in the log: the answer must not say
            // whether the password was right.
            tracing::info!(user = %user.id, "a disabled user tried to log in");
            return Err(AuthError::InvalidCredentials);
        }
        self.limiter.succeeded(&attempt);
        self.start_session(user).await
    }

    /// `POST /auth/refresh`: exchanges a refresh token for a new pair. A used token revokes
    /// every refresh token of its user.
    pub async fn refresh(&self, token: &str) -> Result<Session, AuthError> {
        let storage = &self.shared.storage;
        let digest = tokens::refresh_digest(token);
        let Some(record) = storage.refresh_token(&digest)? else {
            return Err(AuthError::Unauthorized);
        };
        if record.expires_at <= now_ms()
            || record.generation != storage.refresh_generation(&record.user_id)?
        {
            return Err(AuthError::Unauthorized);
        }
        match record.state {
            RefreshState::Revoked => Err(AuthError::Unauthorized),
            RefreshState::Used => self.revoke_all(&record.user_id).await,
            RefreshState::Active => {
                let used = RefreshRecord {
                    state: RefreshState::Used,
                    ..record.clone()
                };
                if !storage
                    .swap_refresh_token(&self.shared.committer, &digest, &record, &used)
                    .await?
                {
                    // Another request exchanged it first: the same token was presented twice.
                    return self.revoke_all(&record.user_id).await;
                }
                let user = storage
                    .user(&record.user_id)?
                    .filter(|user| !user.disabled)
                    .ok_or(AuthError::Unauthorized)?;
                self.start_session(user).await
            }
        }
    }

    /// `POST /auth/logout`: retires a refresh token. Unknown or already retired tokens are
    /// fine (logging out twice is not an error).
    pub async fn logout(&self, token: &str) -> Result<(), AuthError> {
        let storage = &self.shared.storage;
        let digest = tokens::refresh_digest(token);
        let Some(record) = storage.refresh_token(&digest)? else {
            return Ok(());
        };
        if record.state != RefreshState::Active {
            return Ok(());
        }
        let revoked = RefreshRecord {
            state: RefreshState::Revoked,
            ..record.clone()
        };
        // Durable when it returns, like every write through the committer.
        storage
            .swap_refresh_token(&self.shared.committer, &digest, &record, &revoked)
            .await?;
        Ok(())
    }

    /// Validates, hashes and durably stores a new user. The returned claim keeps the email
    /// reserved until the caller drops it.
    async fn insert_user(&self, new: NewUser) -> Result<(User, EmailClaim<'_>), AuthError> {
        let mut errors = users::validate_credentials(&new.email, &new.password, &new.name);
        let store_id = self.check_store(new.role, new.store_id.as_deref(), &mut errors);
        if !errors.is_empty() {
            return Err(AuthError::Validation(errors));
        }
        let email_lower = users::normalize_email(&new.email);
        // Answer a plain duplicate before spending a hash on it.
        if self
            .shared
            .storage
            .user_id_by_email(&email_lower)?
            .is_some()
        {
            return Err(AuthError::EmailTaken);
        }
        let password_hash = self.passwords.hash(new.password).await?;
        let claim = self.claim_email(&email_lower)?;
        let user = User {
            id: UserId::generate(),
            email: new.email,
            email_lower,
            name: new.name,
            role: new.role,
            store_id,
            password_hash,
            created_at: now_ms(),
            email_verified: false,
            disabled: false,
        };
        self.shared
            .storage
            .put_new_user(&self.shared.committer, &user)
            .await?;
        tracing::info!(user = %user.id, role = user.role.as_str(), "account created");
        Ok((user, claim))
    }

    /// Staff need an existing store; other roles must not name one.
    fn check_store(
        &self,
        role: Role,
        raw: Option<&str>,
        errors: &mut Vec<FieldError>,
    ) -> Option<StoreId> {
        match (role, raw) {
            (Role::Staff, None) => {
                errors.push(FieldError::new("store_id", "is required for staff"));
                None
            }
            (Role::Staff, Some(raw)) => {
                let id =
                    StoreId::parse(raw).filter(|id| self.shared.read_model.stores.contains_key(id));
                if id.is_none() {
                    errors.push(FieldError::new("store_id", "must be an existing store"));
                }
                id
            }
            (Role::Customer | Role::Admin, Some(_)) => {
                errors.push(FieldError::new(
                    "store_id",
                    "only staff accounts belong to a store",
                ));
                None
            }
            (Role::Customer | Role::Admin, None) => None,
        }
    }

    /// Reserves a normalised email for one registration: refused when another registration
    /// holds it or an account already has it.
    fn claim_email(&self, email_lower: &str) -> Result<EmailClaim<'_>, AuthError> {
        match self.registering.entry(email_lower.to_owned()) {
            Entry::Occupied(_) => return Err(AuthError::EmailTaken),
            Entry::Vacant(entry) => {
                entry.insert(());
            }
        }
        let claim = EmailClaim {
            claims: &self.registering,
            email: email_lower.to_owned(),
        };
        // Checked after claiming: a registration that finished in between is seen here.
        if self.shared.storage.user_id_by_email(email_lower)?.is_some() {
            return Err(AuthError::EmailTaken);
        }
        Ok(claim)
    }

    /// Issues an access token and a stored refresh token, answering once the refresh token
    /// is durable.
    async fn start_session(&self, user: User) -> Result<Session, AuthError> {
        let storage = &self.shared.storage;
        let refresh_token = tokens::new_refresh_token();
        let now = now_ms();
        let ttl_ms = self
            .shared
            .config
            .auth
            .refresh_ttl_days
            .saturating_mul(86_400_000);
        let generation = storage.refresh_generation(&user.id)?;
        let record = RefreshRecord {
            user_id: user.id.clone(),
            generation,
            state: RefreshState::Active,
            created_at: now,
            expires_at: now.saturating_add(i64::try_from(ttl_ms).unwrap_or(i64::MAX)),
        };
        let digest = tokens::refresh_digest(&refresh_token);
        storage
            .put_refresh_token(&self.shared.committer, &digest, &record)
            .await?;
        let access_token = self.access.issue(&user, generation, Some(&digest))?;
        Ok(Session {
            user,
            access_token,
            refresh_token,
            expires_in: self.access.ttl_seconds(),
        })
    }

    /// Ends every session of `user` (a used refresh token came back: one of them leaked) and
    /// answers 401.
    async fn revoke_all(&self, user: &UserId) -> Result<Session, AuthError> {
        self.revoke_sessions(user).await?;
        tracing::warn!(%user, "a used refresh token was presented again; revoked all of the user's refresh tokens");
        Err(AuthError::Unauthorized)
    }
}
