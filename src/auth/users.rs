//! User accounts as stored, their public view, and the checks a new account must pass.

use crate::domain::error::FieldError;
/// The account records are domain types (storage keeps them without knowing about `auth`).
pub use crate::domain::user::{Role, User};

/// Longest accepted email address (RFC 5321's path limit less the angle brackets).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Shortest accepted password.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password: enough for any passphrase, small enough that hashing stays cheap.
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// Longest display name.
pub const MAX_NAME_CHARS: usize = 200;

/// The key emails are compared by: the contract makes addresses case-insensitive.
pub fn normalize_email(email: &str) -> String {
    email.to_lowercase()
}

/// Field errors of a new account's email, password and name (empty when all are fine).
pub fn validate_credentials(email: &str, password: &str, name: &str) -> Vec<FieldError> {
    let mut errors = Vec::new();
    if !is_plausible_email(email) {
        errors.push(FieldError::new(
            "email",
            format!(
                "must be an email address like name@example.com (at most {MAX_EMAIL_CHARS} characters)"
            ),
        ));
    }
    let password_chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&password_chars) {
        errors.push(FieldError::new(
            "password",
            format!("must be {MIN_PASSWORD_CHARS}-{MAX_PASSWORD_CHARS} characters"),
        ));
    }
    if name.trim().is_empty() || name.chars().count() > MAX_NAME_CHARS {
        errors.push(FieldError::new(
            "name",
            format!("must be 1-{MAX_NAME_CHARS} characters"),
        ));
    }
    errors
}

/// A deliberately modest check (deliverability is the mail server's business): one `@`, a
/// non-empty local part, a domain with a dot that neither starts nor ends the domain, no
/// whitespace or control characters, at most [`MAX_EMAIL_CHARS`].
fn is_plausible_email(email: &str) -> bool {
    if email.chars().count() > MAX_EMAIL_CHARS
        || email.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return false;
    }
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses_and_refuses_malformed_ones() {
        for good in ["a@b.co", "First.Last+tag@Example.COM", "ü@bücher.de"] {
            assert!(is_plausible_email(good), "{good}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a@@b.co",
            "a@b@c.co",
            "a b@c.co",
            "a@.co",
            "a@b.",
            "a@b..co",
            long.as_str(),
        ] {
            assert!(!is_plausible_email(bad), "{bad}");
        }
    }

    #[test]
    fn names_every_bad_field() {
        let fields: Vec<String> = validate_credentials("nope", "short", "  ")
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(fields, ["email", "password", "name"]);
        assert!(validate_credentials("a@b.co", "12345678", "A").is_empty());
        assert_eq!(normalize_email("A@B.Co"), "a@b.co");
    }
}
