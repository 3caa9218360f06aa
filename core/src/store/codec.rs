//! The versioned value encoding of the store: one format byte, then postcard.
//!
//! Format history: 1 = first release; 2 = reviews gained `seq` (stored records only; every other
//! value is laid out as in format 1, and [`decode_record`] upgrades format-1 records).

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::CoreError;
use crate::record::{Event, FaqEntry, Item, Order, Provenance, Question, Record, Review, StoredRecord};

/// The value format written by this build. Readers accept this and every older version.
pub const FORMAT_VERSION: u8 = 2;

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
        Some((1..=FORMAT_VERSION, body)) => postcard_body(body),
        Some((version, _)) => {
            Err(CoreError::Decode(format!("stored value has format {version}, this build reads format {FORMAT_VERSION}: upgrade agora")))
        }
        None => Err(CoreError::Decode("empty stored value".to_string())),
    }
}

fn postcard_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, CoreError> {
    postcard::from_bytes(body).map_err(|err| CoreError::Decode(format!("corrupt stored value: {err}")))
}

/// Decodes a stored record of this or an older format (format 1 reviews had no `seq`).
///
/// # Errors
/// As [`decode`].
pub fn decode_record(bytes: &[u8]) -> Result<StoredRecord, CoreError> {
    match bytes.split_first() {
        Some((1, body)) => postcard_body::<v1::StoredRecord>(body).map(Into::into),
        _ => decode(bytes),
    }
}

/// Stored records as format 1 laid them out.
mod v1 {
    use super::*;

    #[derive(Deserialize)]
    pub struct StoredRecord {
        record: Record,
        provenance: Provenance,
        filled: Vec<String>,
        raw: Option<String>,
    }

    #[derive(Deserialize)]
    enum Record {
        Event(Event),
        Item(Item),
        Order(Order),
        Review { user_id: String, item_id: String, rating: Option<f64>, text: Option<String>, ts: Option<i64> },
        Question(Question),
        Faq(FaqEntry),
    }

    impl From<StoredRecord> for super::StoredRecord {
        fn from(old: StoredRecord) -> Self {
            let record = match old.record {
                Record::Event(event) => super::Record::Event(event),
                Record::Item(item) => super::Record::Item(item),
                Record::Order(order) => super::Record::Order(order),
                Record::Review { user_id, item_id, rating, text, ts } => {
                    super::Record::Review(Review { user_id, item_id, rating, text, ts, seq: None })
                }
                Record::Question(question) => super::Record::Question(question),
                Record::Faq(faq) => super::Record::Faq(faq),
            };
            Self { record, provenance: old.provenance, filled: old.filled, raw: old.raw }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_1_reviews_decode_without_seq() {
        #[derive(Serialize)]
        enum OldRecord {
            #[allow(dead_code)]
            Event,
            #[allow(dead_code)]
            Item,
            #[allow(dead_code)]
            Order,
            Review {
                user_id: String,
                item_id: String,
                rating: Option<f64>,
                text: Option<String>,
                ts: Option<i64>,
            },
        }
        let provenance = Provenance { source: "s".into(), offset: "f@0".into(), ingested_at: 5 };
        let old = (
            OldRecord::Review { user_id: "u".into(), item_id: "i".into(), rating: Some(4.0), text: None, ts: Some(9) },
            provenance.clone(),
            vec!["rating".to_string()],
            None::<String>,
        );
        let mut bytes = vec![1u8];
        postcard::to_io(&old, &mut bytes).unwrap();
        let stored = decode_record(&bytes).unwrap();
        let review = Review { user_id: "u".into(), item_id: "i".into(), rating: Some(4.0), text: None, ts: Some(9), seq: None };
        assert_eq!(stored, StoredRecord { record: Record::Review(review), provenance, filled: vec!["rating".into()], raw: None });
        // Current records round-trip through the same reader.
        assert_eq!(decode_record(&encode(&stored).unwrap()).unwrap(), stored);
    }

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
