//! The one place that knows the storage encoding: a format-version byte, then bincode 2 (serde
//! mode). Swapping the codec later means changing this file and bumping [`FORMAT`].

use serde::{Serialize, de::DeserializeOwned};

/// Version of the on-disk encoding.
pub const FORMAT: u8 = 1;

/// Version of records whose type grew a field since [`FORMAT`] (bincode is not
/// self-describing, so an old record cannot be read as the new type): orders (a cancellation
/// reason in the history), carts (a store bound at creation) and product snapshots (the
/// rating aggregate). They are written as
/// [`encode_v2`] and read with [`decode_upgrading`], which still reads the old records.
pub const FORMAT_V2: u8 = 2;

/// Version of records whose type grew again since [`FORMAT_V2`]: orders (allocations per
/// line, fulfilment type, table, ready time, fulfilments and refunds). Written as
/// [`encode_v3`] and read with [`decode_upgrading_v3`], which still reads both older formats.
pub const FORMAT_V3: u8 = 3;

/// A value could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// Encoding failed (a bug: our types always encode).
    #[error("encode: {0}")]
    Encode(#[from] bincode::error::EncodeError),
    /// Stored bytes are not a value of the expected type.
    #[error("decode: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    /// Stored bytes were written by another format version.
    #[error("unknown storage format {0:?}")]
    Format(Option<u8>),
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Encodes `value` with the format byte in front.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![FORMAT];
    out.extend(bincode::serde::encode_to_vec(value, config())?);
    Ok(out)
}

/// Encodes `value` with the [`FORMAT_V2`] byte in front.
pub fn encode_v2<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![FORMAT_V2];
    out.extend(bincode::serde::encode_to_vec(value, config())?);
    Ok(out)
}

/// Encodes `value` with the [`FORMAT_V3`] byte in front.
pub fn encode_v3<T: Serialize>(value: &T) -> Result<Vec<u8>, CodecError> {
    let mut out = vec![FORMAT_V3];
    out.extend(bincode::serde::encode_to_vec(value, config())?);
    Ok(out)
}

/// Decodes a record written by [`encode_v3`], or an older one written by [`encode_v2`] as
/// `V2` or by [`encode`] as `V1` (the type's shapes then), upgraded.
pub fn decode_upgrading_v3<T, V2, V1>(bytes: &[u8]) -> Result<T, CodecError>
where
    T: DeserializeOwned,
    V2: DeserializeOwned + Into<T>,
    V1: DeserializeOwned + Into<T>,
{
    match bytes.split_first() {
        Some((&FORMAT_V3, rest)) => Ok(decode_body(rest)?),
        Some((&FORMAT_V2, rest)) => Ok(decode_body::<V2>(rest)?.into()),
        Some((&FORMAT, rest)) => Ok(decode_body::<V1>(rest)?.into()),
        other => Err(CodecError::Format(other.map(|(v, _)| *v))),
    }
}

/// Decodes a record written by [`encode_v2`], or an older one written by [`encode`] as `Old`
/// (the type's shape in format 1), upgraded.
pub fn decode_upgrading<T, Old>(bytes: &[u8]) -> Result<T, CodecError>
where
    T: DeserializeOwned,
    Old: DeserializeOwned + Into<T>,
{
    match bytes.split_first() {
        Some((&FORMAT_V2, rest)) => Ok(decode_body(rest)?),
        Some((&FORMAT, rest)) => Ok(decode_body::<Old>(rest)?.into()),
        other => Err(CodecError::Format(other.map(|(v, _)| *v))),
    }
}

fn decode_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, bincode::error::DecodeError> {
    Ok(bincode::serde::decode_from_slice(
        bytes,
        bincode::config::standard().with_limit::<DECODE_LIMIT>(),
    )?
    .0)
}

/// Most bytes one decoded value may claim. A corrupted length prefix must not make the
/// decoder allocate gigabytes (found by `fuzz/` `storage_codec`); stored values are far smaller.
const DECODE_LIMIT: usize = 64 * 1024 * 1024;

/// Decodes bytes written by [`encode`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.split_first() {
        Some((&FORMAT, rest)) => Ok(decode_body(rest)?),
        other => Err(CodecError::Format(other.map(|(v, _)| *v))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_foreign_bytes() {
        let value = (7u64, String::from("x"), Some(-3i64));
        let bytes = encode(&value).expect("encodes");
        assert_eq!(
            decode::<(u64, String, Option<i64>)>(&bytes).expect("decodes"),
            value
        );
        assert!(matches!(
            decode::<u64>(&[9, 1]),
            Err(CodecError::Format(Some(9)))
        ));
        assert!(decode::<String>(&[FORMAT, 200]).is_err());
        // A corrupted length prefix (3 GB) on a string is refused by the cap before anything
        // is read or allocated (a short input alone would also be an error, hence the exact
        // variant). Sequences are read element by element, so they fail at the end instead.
        let limited = |result: Result<String, CodecError>| {
            matches!(
                result,
                Err(CodecError::Decode(
                    bincode::error::DecodeError::LimitExceeded
                ))
            )
        };
        let huge = [FORMAT, 0xfc, 0xbd, 0xbd, 0xbd, 0xbd];
        assert!(limited(decode::<String>(&huge)));
        assert!(decode::<Vec<u8>>(&huge).is_err());
        // Just over 64 MiB is refused; a claim under the cap fails only for the missing bytes.
        let mut over = vec![FORMAT, 0xfc];
        over.extend(((DECODE_LIMIT + 1) as u32).to_le_bytes());
        assert!(limited(decode::<String>(&over)));
        let mut under = vec![FORMAT, 0xfc];
        under.extend((1024u32 * 1024).to_le_bytes());
        assert!(matches!(
            decode::<String>(&under),
            Err(CodecError::Decode(
                bincode::error::DecodeError::UnexpectedEnd { .. }
            ))
        ));
    }
}
