//! Argon2id password hashing, off the async runtime and with bounded concurrency.
//!
//! Each hash takes tens of milliseconds and ~19 MiB (Argon2's default parameters, the OWASP
//! recommendation), so it runs on the blocking pool, and a semaphore caps how many run at
//! once: a burst of logins queues instead of exhausting memory.

use super::AuthError;
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier, password_hash::SaltString};
use rand::RngCore;
use tokio::sync::{OnceCell, Semaphore};

/// Hashes and verifies passwords.
pub struct Passwords {
    permits: Semaphore,
    /// A hash of a random password, verified against when the email is unknown so that a
    /// login for a missing account takes as long as one with a wrong password.
    decoy: OnceCell<String>,
}

impl Default for Passwords {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        Self {
            permits: Semaphore::new(cores.max(2)),
            decoy: OnceCell::new(),
        }
    }
}

impl Passwords {
    /// The Argon2id PHC string of `password` with a fresh random salt.
    pub async fn hash(&self, password: String) -> Result<String, AuthError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        tokio::task::spawn_blocking(move || {
            crate::fault::password_hash_panics();
            let mut salt = [0u8; 16];
            rand::rng().fill_bytes(&mut salt);
            let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
            Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .map(|hash| hash.to_string())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|source| AuthError::Task {
            task: "hashing",
            source,
        })?
        .map_err(|e| AuthError::Internal(format!("hashing failed: {e}")))
    }

    /// Whether `password` matches `hash`; with no hash (unknown account) it checks against a
    /// decoy and answers false, spending the same time.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, AuthError> {
        let known = hash.is_some();
        let hash = match hash {
            Some(hash) => hash,
            None => self.decoy().await?,
        };
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        let matches = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash).is_ok_and(|parsed| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &parsed)
                    .is_ok()
            })
        })
        .await
        .map_err(|source| AuthError::Task {
            task: "verification",
            source,
        })?;
        Ok(known && matches)
    }

    async fn decoy(&self) -> Result<String, AuthError> {
        self.decoy
            .get_or_try_init(|| async {
                let mut random = [0u8; 24];
                rand::rng().fill_bytes(&mut random);
                let password: String = random.iter().map(|b| format!("{b:02x}")).collect();
                self.hash(password).await
            })
            .await
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::default();
        let hash = passwords.hash("correct horse".into()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(
            passwords
                .verify("correct horse".into(), Some(hash.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify("wrong horse".into(), Some(hash))
                .await
                .expect("verify")
        );
        assert!(
            !passwords
                .verify("anything".into(), None)
                .await
                .expect("verify")
        );
    }
}
