//! `Emporium-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt::Write;

/// The signature header's value for `body` sent at `unix_seconds` (one allocation: it is
/// made for every delivery).
pub fn signature(secret: &str, unix_seconds: i64, body: &str) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    let mut header = String::with_capacity(96);
    let _ = write!(header, "t={unix_seconds}");
    mac.update(&header.as_bytes()[2..]);
    mac.update(b".");
    mac.update(body.as_bytes());
    header.push_str(",v1=");
    hex_into(&mut header, &mac.finalize().into_bytes());
    header
}

/// Appends `bytes` as lowercase hex.
fn hex_into(out: &mut String, bytes: &[u8]) {
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
}

/// A fresh `whsec_…` secret: 192 random bits, hex.
pub fn new_secret() -> String {
    let bytes: [u8; 24] = rand::random();
    let mut secret = String::from("whsec_");
    hex_into(&mut secret, &bytes);
    secret
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_known_hmac_of_time_dot_body() {
        // HMAC-SHA256("key", "1.{}") computed independently (openssl dgst -sha256 -hmac key).
        let header = signature("key", 1, "{}");
        assert_eq!(
            header,
            "t=1,v1=1ba6b8171186efc613e8bcc0cbdab2748f24984d7c5a84faa2637afa0e40d224"
        );
        assert_ne!(signature("key", 2, "{}"), header);
        assert!(new_secret().starts_with("whsec_"));
    }
}
