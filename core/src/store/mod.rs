//! Storage behind a trait: the engine talks to [`Store`]; [`SledStore`] is the embedded default.
//!
//! Exactly-once rests on one rule: a batch's records, its dedup decisions, its quarantine
//! entries, its counters and its source checkpoint commit in one atomic step.

mod codec;
mod key_filter;
mod sled_store;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use codec::{decode, decode_record, encode, FORMAT_VERSION};
pub use sled_store::SledStore;

use crate::clean::{CleanRecord, RecordKey};
use crate::error::CoreError;
use crate::identity::{anonymous_session, IdentityLinks, Override};
use crate::quality::{OutlierCounts, QuarantineEntry, Quarantined, Replay, SourceStats};
use crate::record::{Record, RecordKind, StoredRecord};

/// Everything one batch commits, atomically.
#[derive(Debug)]
pub struct CommitBatch {
    pub source: String,
    /// Cleaned records; the store drops the ones whose key it already holds and counts them.
    pub records: Vec<CleanRecord>,
    pub quarantine: Vec<QuarantineEntry>,
    /// The source checkpoint right after this batch (`None` for push batches).
    pub checkpoint: Option<Vec<u8>>,
    /// The source's counters with this batch's reads, quarantines and missing fields counted;
    /// the store adds accepted and duplicates.
    pub stats: SourceStats,
    /// Commit time, UTC milliseconds.
    pub ingested_at: i64,
}

/// What a commit did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitReport {
    pub accepted: u64,
    pub duplicates: u64,
    pub quarantined: u64,
}

/// A content digest of the store, equal for two stores that hold the same data regardless of
/// when it was ingested.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreDigest {
    pub records: u64,
    pub quarantined: u64,
    /// xxh3-128 over records in key order, ingest times excluded.
    pub records_digest: String,
    /// xxh3-128 over quarantine entries in key order, quarantine times excluded.
    pub quarantine_digest: String,
    /// xxh3-128 over every source's counters.
    pub stats_digest: String,
}

/// One evaluation run (`agora eval ...`), kept with the config it ran with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRun {
    /// What was evaluated: `behaviour`, `recommend`, ...
    pub kind: String,
    pub dataset: String,
    /// When it ran, UTC milliseconds.
    pub at: i64,
    /// The config it ran with, as JSON.
    pub config: String,
    /// Its results, as JSON.
    pub results: String,
}

/// The storage engine's contract.
pub trait Store: Send + Sync {
    /// Commits a batch atomically and durably enough that a crash keeps all of it or none.
    ///
    /// # Errors
    /// [`CoreError::Store`] when the engine fails; nothing of the batch is then visible.
    fn commit(&self, batch: CommitBatch) -> Result<CommitReport, CoreError>;

    /// The last committed checkpoint of a source.
    ///
    /// # Errors
    /// [`CoreError::Store`] or [`CoreError::Decode`].
    fn checkpoint(&self, source: &str) -> Result<Option<Vec<u8>>, CoreError>;

    /// The counters of every source.
    ///
    /// # Errors
    /// [`CoreError::Store`] or [`CoreError::Decode`].
    fn source_stats(&self) -> Result<BTreeMap<String, SourceStats>, CoreError>;

    /// Quarantine entries, oldest first, of one source or all, skipping the first `skip`, with
    /// their replay outcomes.
    ///
    /// # Errors
    /// [`CoreError::Store`] or [`CoreError::Decode`].
    fn quarantine(&self, source: Option<&str>, skip: usize, limit: usize) -> Result<Vec<Quarantined>, CoreError>;

    /// One quarantine entry by source and sequence number.
    ///
    /// # Errors
    /// [`CoreError::Store`] or [`CoreError::Decode`].
    fn quarantined(&self, source: &str, seq: u64) -> Result<Option<Quarantined>, CoreError>;

    /// Records what replaying a quarantine entry did; the entry itself stays, as an audit trail.
    ///
    /// # Errors
    /// [`CoreError::Store`].
    fn record_replay(&self, source: &str, seq: u64, replay: &Replay) -> Result<(), CoreError>;

    /// Visits stored records of a kind in key order (see [`RecordKey`]) until `visit` returns
    /// false; `visit` gets each record's key.
    ///
    /// # Errors
    /// [`CoreError::Store`] or [`CoreError::Decode`].
    fn scan_records(&self, kind: RecordKind, visit: &mut dyn FnMut(&[u8], StoredRecord) -> bool) -> Result<(), CoreError>;

    /// Number of stored records of a kind.
    ///
    /// # Errors
    /// [`CoreError::Store`].
    fn count_records(&self, kind: RecordKind) -> Result<u64, CoreError>;

    /// Replaces the outlier flags: per record, the fields that are outliers; per source, counts.
    ///
    /// # Errors
    /// [`CoreError::Store`].
    fn replace_outliers(&self, flags: &BTreeMap<RecordKey, Vec<String>>, counts: &BTreeMap<String, OutlierCounts>)
        -> Result<(), CoreError>;

    /// Outlier counts per source and field.
    ///
    /// # Errors
    /// [`CoreError::Store`] or [`CoreError::Decode`].
    fn outlier_counts(&self) -> Result<BTreeMap<String, OutlierCounts>, CoreError>;

    /// The fields of a record flagged as outliers.
    ///
    /// # Errors
    /// [`CoreError::Store`] or [`CoreError::Decode`].
    fn outlier_flags(&self, key: &[u8]) -> Result<Vec<String>, CoreError>;

    /// A digest of the stored content (see [`StoreDigest`]).
    ///
    /// # Errors
    /// [`CoreError::Store`] or [`CoreError::Decode`].
    fn digest(&self) -> Result<StoreDigest, CoreError>;

    /// Records an evaluation run.
    ///
    /// # Errors
    /// [`CoreError::Store`].
    fn record_eval_run(&self, run: &EvalRun) -> Result<(), CoreError>;

    /// Every recorded evaluation run, oldest first.
    ///
    /// # Errors
    /// [`CoreError::Store`] or [`CoreError::Decode`].
    fn eval_runs(&self) -> Result<Vec<EvalRun>, CoreError>;

    /// Stores a model snapshot under `name`, replacing the previous one, and flushes it.
    ///
    /// # Errors
    /// [`CoreError::Store`].
    fn save_model(&self, name: &str, snapshot: &[u8]) -> Result<(), CoreError>;

    /// Removes the snapshot stored under `name` (none: nothing to do), and flushes.
    ///
    /// # Errors
    /// [`CoreError::Store`].
    fn remove_model(&self, name: &str) -> Result<(), CoreError>;

    /// The model snapshot stored under `name`, if any.
    ///
    /// # Errors
    /// [`CoreError::Store`].
    fn load_model(&self, name: &str) -> Result<Option<Vec<u8>>, CoreError>;

    /// Replaces the entity-resolution results: golden records and match decisions, each a map
    /// from key (`golden id`, `a|b` record keys) to its JSON encoding.
    ///
    /// # Errors
    /// [`CoreError::Store`].
    fn replace_resolution(&self, golden: &BTreeMap<String, Vec<u8>>, decisions: &BTreeMap<String, Vec<u8>>) -> Result<(), CoreError>;

    /// The stored golden records (key, JSON), in key order.
    ///
    /// # Errors
    /// [`CoreError::Store`].
    fn golden_records(&self) -> Result<Vec<(String, Vec<u8>)>, CoreError>;

    /// The stored match decisions (key, JSON), in key order.
    ///
    /// # Errors
    /// [`CoreError::Store`].
    fn match_decisions(&self) -> Result<Vec<(String, Vec<u8>)>, CoreError>;

    /// Records an operator's decision about which user a session belongs to (see
    /// [`crate::identity`]), replacing an earlier one for that session, and flushes it.
    ///
    /// # Errors
    /// [`CoreError::Store`].
    fn set_identity_override(&self, session: &str, decision: &Override) -> Result<(), CoreError>;

    /// Every operator decision about sessions, in session order.
    ///
    /// # Errors
    /// [`CoreError::Store`] or [`CoreError::Decode`].
    fn identity_overrides(&self) -> Result<Vec<(String, Override)>, CoreError>;

    /// The identity links of the stored events: each session's first login (in event time),
    /// then the operator's overrides.
    ///
    /// # Errors
    /// [`CoreError::Store`] or [`CoreError::Decode`].
    fn identity_links(&self) -> Result<IdentityLinks, CoreError> {
        let mut logins = Vec::new();
        self.scan_records(RecordKind::Event, &mut |_, stored| {
            if let Record::Event(event) = stored.record {
                if event.session.as_deref().is_some_and(|session| !session.is_empty()) && anonymous_session(&event.user_id).is_none() {
                    logins.push(event);
                }
            }
            true
        })?;
        logins.sort_by_key(|event| event.ts);
        Ok(IdentityLinks::build(&logins, &self.identity_overrides()?))
    }

    /// Forces everything committed so far to disk.
    ///
    /// # Errors
    /// [`CoreError::Store`].
    fn flush(&self) -> Result<(), CoreError>;
}
