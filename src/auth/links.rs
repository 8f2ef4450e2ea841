//! The tokens in email links (verification, password reset): an id and an HMAC-SHA256 of it
//! keyed by the server secret, `{id}.{mac}`. Nothing secret is stored: the server recomputes
//! the MAC, so a link cannot be forged for another id, and the log consumer that writes the
//! email can derive the same token from the record it reads.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// What a link is for: part of the MAC input, so a verification token is no reset token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `{public_url}/verify?token=…` (id: the user).
    VerifyEmail,
    /// `{public_url}/reset-password?token=…` (id: the reset request).
    PasswordReset,
    /// A presigned image upload URL (id: product, expiry and the image id it will create).
    MediaUpload,
}

impl Purpose {
    fn tag(self) -> &'static [u8] {
        match self {
            Self::VerifyEmail => b"verify-email\0",
            Self::PasswordReset => b"password-reset\0",
            Self::MediaUpload => b"media-upload\0",
        }
    }
}

/// Makes and checks link tokens.
#[derive(Clone)]
pub struct LinkTokens {
    /// Keyed once; each token starts from a clone.
    keyed: Hmac<Sha256>,
}

impl LinkTokens {
    /// Keyed by `secret` (the JWT secret: it already is the server's one durable secret).
    /// Start-up only.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            keyed: Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length"),
        }
    }

    fn mac(&self, purpose: Purpose, id: &str) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        mac.update(purpose.tag());
        mac.update(id.as_bytes());
        mac
    }

    /// The token for `id`.
    pub fn token(&self, purpose: Purpose, id: &str) -> String {
        let tag = self.mac(purpose, id).finalize().into_bytes();
        format!("{id}.{}", URL_SAFE_NO_PAD.encode(tag))
    }

    /// The id a token carries when its MAC is right (compared in constant time).
    pub fn check<'a>(&self, purpose: Purpose, token: &'a str) -> Option<&'a str> {
        let (id, tag) = token.rsplit_once('.')?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(purpose, id).verify_slice(&tag).ok()?;
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_checks_only_for_its_purpose_and_key() {
        let links = LinkTokens::new(b"secret");
        let token = links.token(Purpose::VerifyEmail, "usr_1");
        assert_eq!(links.check(Purpose::VerifyEmail, &token), Some("usr_1"));
        assert_eq!(links.check(Purpose::PasswordReset, &token), None);
        assert_eq!(
            LinkTokens::new(b"other").check(Purpose::VerifyEmail, &token),
            None
        );
        let forged = token.replace("usr_1", "usr_2");
        assert_eq!(links.check(Purpose::VerifyEmail, &forged), None);
        assert_eq!(links.check(Purpose::VerifyEmail, "garbage"), None);
    }
}
