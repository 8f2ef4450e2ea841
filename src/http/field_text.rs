//! One short sentence per rejected field, in words a client developer reads without knowing
//! Rust: serde's own texts (`invalid type: string "x", expected i64`) name Rust types and,
//! in query strings, repeat the field, so they are translated here and never passed on.

/// The message for `field` given serde's error text `raw` (without any path prefix).
pub fn message(field: &str, raw: &str) -> String {
    // Parameters whose range is part of the contract get the range in every message.
    if let Some(range) = known_range(field) {
        let looks_numeric = raw.contains("digit")
            || raw.contains("integer")
            || raw.contains("number")
            || raw.contains("expected i")
            || raw.contains("expected u");
        if looks_numeric {
            return format!("must be a whole number {range}");
        }
    }
    if raw.starts_with("missing field") {
        return "is required".to_owned();
    }
    if raw.starts_with("unknown field") {
        return "is not a known field".to_owned();
    }
    if raw.starts_with("duplicate field") {
        return "is given twice".to_owned();
    }
    if let Some(rest) = raw.strip_prefix("unknown variant ") {
        // serde lists the variants in backticks: "expected `a`", "`a` or `b`", "one of …".
        let choices: Vec<&str> = rest
            .split_once("expected ")
            .map(|(_, list)| list.split('`').skip(1).step_by(2).collect())
            .unwrap_or_default();
        return match choices.as_slice() {
            [] => "is not one of the allowed values".to_owned(),
            [only] => format!("must be {only}"),
            many => format!("must be one of {}", many.join(", ")),
        };
    }
    if raw.starts_with("invalid length") {
        return "has the wrong number of items".to_owned();
    }
    if let Some((_, expected)) = raw
        .strip_prefix("invalid type: ")
        .or_else(|| raw.strip_prefix("invalid value: "))
        .and_then(|rest| rest.rsplit_once(", expected "))
    {
        return expected_in_words(expected).to_owned();
    }
    // Parse errors of query-string scalars (serde_urlencoded hands over `FromStr` texts).
    match raw {
        "invalid digit found in string"
        | "cannot parse integer from empty string"
        | "number too large to fit in target type"
        | "number too small to fit in target type" => "must be a whole number".to_owned(),
        "invalid float literal" => "must be a number".to_owned(),
        "provided string was not `true` or `false`" => "must be true or false".to_owned(),
        _ if raw.contains("did not match any variant") => "has the wrong shape".to_owned(),
        // Our own messages (already words) and anything unforeseen without Rust in it.
        _ if !mentions_rust(raw) => raw.to_owned(),
        _ => "has an invalid value".to_owned(),
    }
}

/// The range of the parameters the contract bounds.
fn known_range(field: &str) -> Option<&'static str> {
    match field {
        "per_page" => Some("from 1 to 100"),
        "page" => Some("of at least 1"),
        _ => None,
    }
}

/// What serde's `expected …` part asks for, as a requirement.
fn expected_in_words(expected: &str) -> &'static str {
    match expected.trim() {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "must be a whole number",
        "u8" | "u16" | "u32" | "u64" | "u128" | "usize" => "must be a whole number of at least 0",
        "f32" | "f64" => "must be a number",
        "a boolean" => "must be true or false",
        "a string" | "a borrowed string" | "a character" => "must be a string",
        "a sequence" | "a tuple" => "must be an array",
        "a map" => "must be an object",
        other if other.starts_with("struct ") => "must be an object",
        other if other.starts_with("variant identifier") || other.starts_with("enum ") => {
            "is not one of the allowed values"
        }
        _ => "has the wrong type",
    }
}

/// Whether a text leaks Rust vocabulary.
fn mentions_rust(text: &str) -> bool {
    text.contains("expected")
        || text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| {
                matches!(
                    word,
                    "i8" | "i16"
                        | "i32"
                        | "i64"
                        | "i128"
                        | "isize"
                        | "u8"
                        | "u16"
                        | "u32"
                        | "u64"
                        | "u128"
                        | "usize"
                        | "f32"
                        | "f64"
                        | "struct"
                        | "enum"
                        | "Option"
                )
            })
}

#[cfg(test)]
mod tests {
    use super::message;

    #[test]
    fn serde_texts_become_one_sentence_without_rust_types() {
        assert_eq!(
            message("per_page", "invalid digit found in string"),
            "must be a whole number from 1 to 100"
        );
        assert_eq!(
            message("price", "invalid type: string \"x\", expected i64"),
            "must be a whole number"
        );
        assert_eq!(
            message(
                "status",
                "unknown variant `x`, expected one of `active`, `archived`"
            ),
            "must be one of active, archived"
        );
        assert_eq!(message("sku", "missing field `sku`"), "is required");
        assert_eq!(
            message("in_stock", "provided string was not `true` or `false`"),
            "must be true or false"
        );
        assert_eq!(
            message("name", "must be 1-200 characters"),
            "must be 1-200 characters"
        );
    }
}
