//! One rendered server frame, shared by every subscriber it goes to.

use bytes::Bytes;

/// A server frame: JSON text rendered once and shared by reference count, so a fan-out to N
/// subscribers clones a pointer N times instead of the text. UTF-8 by construction (made only
/// from `String`s), so the socket edge turns it into a text message without copying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame(Bytes);

impl Frame {
    /// The text of the frame.
    pub fn as_str(&self) -> &str {
        // Always valid: every Frame is made from a String.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The shared bytes (UTF-8), for the socket edge.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl From<String> for Frame {
    fn from(text: String) -> Self {
        Self(Bytes::from(text))
    }
}

impl From<&'static str> for Frame {
    fn from(text: &'static str) -> Self {
        Self(Bytes::from_static(text.as_bytes()))
    }
}
