//! The versioned value encoding of the store: one format byte, then postcard.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::CoreError;

/// The value format written by this build. Readers accept this and every older version.
pub const FORMAT_VERSION: u8 = 1;

/// Encodes a value with its format byte.
///
/// # Errors
/// [`CoreError::Decode`] if serde refuses the value (a bug, not bad data).
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, CoreError> {
    let mut bytes = vec![FORMAT_VERSION];
    postcard::to_io(value, &mut bytes).map_err(|err| CoreError::Decode(format!("cannot encode value: {err}")))?;
    Ok(bytes)
}

/// Decodes a value written by [`encode`] of this or an older format.
///
/// # Errors
/// [`CoreError::Decode`] naming the format byte found when it is unknown or the bytes are bad.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CoreError> {
    match bytes.split_first() {
        Some((&FORMAT_VERSION, body)) => {
            postcard::from_bytes(body).map_err(|err| CoreError::Decode(format!("corrupt stored value: {err}")))
        }
        Some((version, _)) => {
            Err(CoreError::Decode(format!("stored value has format {version}, this build reads format {FORMAT_VERSION}: upgrade agora")))
        }
        None => Err(CoreError::Decode("empty stored value".to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_unknown_format() {
        let bytes = encode(&("a".to_string(), 7u64)).unwrap();
        assert_eq!(bytes[0], FORMAT_VERSION);
        let back: (String, u64) = decode(&bytes).unwrap();
        assert_eq!(back, ("a".to_string(), 7));
        let mut future = bytes.clone();
        future[0] = 99;
        assert!(decode::<(String, u64)>(&future).unwrap_err().to_string().contains("format 99"));
    }
}
