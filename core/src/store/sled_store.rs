//! The sled implementation of [`Store`]: one tree per concern, big-endian keys, and a multi-tree
//! transaction per batch so records, dedup, quarantine, counters and checkpoint commit together.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{decode, encode, CommitBatch, CommitReport, Store, StoreDigest};
use crate::clean::RecordKey;
use crate::error::CoreError;
use crate::quality::{OutlierCounts, QuarantineEntry, SourceStats};
use crate::record::{Provenance, RecordKind, StoredRecord};

/// Tree names, one per concern.
mod trees {
    pub const RECORDS: &str = "records";
    pub const RAW: &str = "raw";
    pub const QUARANTINE: &str = "quarantine";
    pub const CHECKPOINTS: &str = "checkpoints";
    pub const STATS: &str = "source_stats";
    pub const OUTLIER_FLAGS: &str = "outlier_flags";
    pub const OUTLIER_COUNTS: &str = "outlier_counts";
}

/// The embedded sled store.
#[derive(Clone)]
pub struct SledStore {
    db: sled::Db,
    records: sled::Tree,
    raw: sled::Tree,
    quarantine: sled::Tree,
    checkpoints: sled::Tree,
    stats: sled::Tree,
    outlier_flags: sled::Tree,
    outlier_counts: sled::Tree,
}

impl SledStore {
    /// Opens (or creates) the store at `path` with a page cache of `cache_mb` MiB.
    ///
    /// # Errors
    /// [`CoreError::Store`], e.g. when another process holds the store open.
    pub fn open(path: &Path, cache_mb: u64) -> Result<Self, CoreError> {
        let db = sled::Config::new().path(path).cache_capacity(cache_mb * 1024 * 1024).flush_every_ms(Some(200)).open()?;
        Ok(Self {
            records: db.open_tree(trees::RECORDS)?,
            raw: db.open_tree(trees::RAW)?,
            quarantine: db.open_tree(trees::QUARANTINE)?,
            checkpoints: db.open_tree(trees::CHECKPOINTS)?,
            stats: db.open_tree(trees::STATS)?,
            outlier_flags: db.open_tree(trees::OUTLIER_FLAGS)?,
            outlier_counts: db.open_tree(trees::OUTLIER_COUNTS)?,
            db,
        })
    }

    /// The underlying database, for engine-level tools (benchmarks, size reports).
    pub fn db(&self) -> &sled::Db {
        &self.db
    }
}

/// Key of a quarantine entry: source name, a zero byte, then a big-endian sequence number.
fn quarantine_key(source: &str, seq: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(source.len() + 9);
    key.extend_from_slice(source.as_bytes());
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Key of a raw record: source name, a zero byte, then the record key.
fn raw_key(source: &str, record: &RecordKey) -> Vec<u8> {
    let mut key = Vec::with_capacity(source.len() + 18);
    key.extend_from_slice(source.as_bytes());
    key.push(0);
    key.extend_from_slice(record);
    key
}

fn abort(err: CoreError) -> ConflictableTransactionError<CoreError> {
    ConflictableTransactionError::Abort(err)
}

impl Store for SledStore {
    fn commit(&self, batch: CommitBatch) -> Result<CommitReport, CoreError> {
        let CommitBatch { source, records, quarantine, checkpoint, stats, ingested_at } = batch;
        // Encode outside the transaction: its closure may run more than once on conflict.
        let mut encoded = Vec::with_capacity(records.len());
        for record in records {
            let stored = StoredRecord {
                record: record.record,
                provenance: Provenance { source: source.clone(), offset: record.offset, ingested_at },
                filled: record.filled,
            };
            encoded.push((record.key, encode(&stored)?, record.raw));
        }
        let quarantine_base = stats.quarantined_total() - quarantine.len() as u64;
        let mut encoded_quarantine = Vec::with_capacity(quarantine.len());
        for (i, entry) in quarantine.iter().enumerate() {
            encoded_quarantine.push((quarantine_key(&source, quarantine_base + i as u64), encode(entry)?));
        }

        let result = (&self.records, &self.raw, &self.quarantine, &self.checkpoints, &self.stats).transaction(
            |(records_tx, raw_tx, quarantine_tx, checkpoints_tx, stats_tx)| {
                let mut stats = stats.clone();
                let mut report = CommitReport { quarantined: encoded_quarantine.len() as u64, ..CommitReport::default() };
                let mut in_batch: HashSet<&RecordKey> = HashSet::with_capacity(encoded.len());
                for (key, value, raw) in &encoded {
                    if !in_batch.insert(key) || records_tx.get(key)?.is_some() {
                        report.duplicates += 1;
                        continue;
                    }
                    records_tx.insert(&key[..], value.as_slice())?;
                    if let Some(raw) = raw {
                        raw_tx.insert(raw_key(&source, key), raw.as_bytes())?;
                    }
                    report.accepted += 1;
                }
                for (key, value) in &encoded_quarantine {
                    quarantine_tx.insert(key.as_slice(), value.as_slice())?;
                }
                stats.read += report.accepted + report.duplicates;
                stats.accepted += report.accepted;
                stats.duplicates += report.duplicates;
                stats_tx.insert(source.as_bytes(), encode(&stats).map_err(abort)?)?;
                if let Some(checkpoint) = &checkpoint {
                    checkpoints_tx.insert(source.as_bytes(), checkpoint.as_slice())?;
                }
                Ok(report)
            },
        );
        match result {
            Ok(report) => Ok(report),
            Err(TransactionError::Abort(err)) => Err(err),
            Err(TransactionError::Storage(err)) => Err(CoreError::Store(err)),
        }
    }

    fn checkpoint(&self, source: &str) -> Result<Option<Vec<u8>>, CoreError> {
        Ok(self.checkpoints.get(source.as_bytes())?.map(|value| value.to_vec()))
    }

    fn source_stats(&self) -> Result<BTreeMap<String, SourceStats>, CoreError> {
        let mut all = BTreeMap::new();
        for entry in self.stats.iter() {
            let (key, value) = entry?;
            all.insert(String::from_utf8_lossy(&key).into_owned(), decode(&value)?);
        }
        Ok(all)
    }

    fn quarantine(&self, source: Option<&str>, limit: usize) -> Result<Vec<QuarantineEntry>, CoreError> {
        let iter = match source {
            Some(source) => {
                let mut prefix = source.as_bytes().to_vec();
                prefix.push(0);
                self.quarantine.scan_prefix(prefix)
            }
            None => self.quarantine.iter(),
        };
        iter.take(limit).map(|entry| decode(&entry?.1)).collect()
    }

    fn scan_records(&self, kind: RecordKind, visit: &mut dyn FnMut(&RecordKey, StoredRecord) -> bool) -> Result<(), CoreError> {
        for entry in self.records.scan_prefix([kind.tag()]) {
            let (key, value) = entry?;
            let key: RecordKey = key.as_ref().try_into().map_err(|_| CoreError::Decode(format!("record key of {} bytes", key.len())))?;
            if !visit(&key, decode(&value)?) {
                break;
            }
        }
        Ok(())
    }

    fn count_records(&self, kind: RecordKind) -> Result<u64, CoreError> {
        let mut count = 0;
        for entry in self.records.scan_prefix([kind.tag()]).keys() {
            entry?;
            count += 1;
        }
        Ok(count)
    }

    fn replace_outliers(&self, flags: &BTreeMap<RecordKey, Vec<String>>, counts: &BTreeMap<String, OutlierCounts>) -> Result<(), CoreError> {
        self.outlier_flags.clear()?;
        self.outlier_counts.clear()?;
        let mut batch = sled::Batch::default();
        for (key, fields) in flags {
            batch.insert(&key[..], encode(fields)?);
        }
        self.outlier_flags.apply_batch(batch)?;
        let mut batch = sled::Batch::default();
        for (source, fields) in counts {
            batch.insert(source.as_bytes(), encode(fields)?);
        }
        self.outlier_counts.apply_batch(batch)?;
        Ok(())
    }

    fn outlier_counts(&self) -> Result<BTreeMap<String, OutlierCounts>, CoreError> {
        let mut all = BTreeMap::new();
        for entry in self.outlier_counts.iter() {
            let (key, value) = entry?;
            all.insert(String::from_utf8_lossy(&key).into_owned(), decode(&value)?);
        }
        Ok(all)
    }

    fn outlier_flags(&self, key: &RecordKey) -> Result<Vec<String>, CoreError> {
        match self.outlier_flags.get(key)? {
            Some(value) => decode(&value),
            None => Ok(Vec::new()),
        }
    }

    fn digest(&self) -> Result<StoreDigest, CoreError> {
        use xxhash_rust::xxh3::Xxh3;
        let mut records_hash = Xxh3::new();
        let mut records = 0;
        for entry in self.records.iter() {
            let (key, value) = entry?;
            let mut stored: StoredRecord = decode(&value)?;
            stored.provenance.ingested_at = 0;
            records_hash.update(&key);
            records_hash.update(&encode(&stored)?);
            records += 1;
        }
        let mut quarantine_hash = Xxh3::new();
        let mut quarantined = 0;
        for entry in self.quarantine.iter() {
            let (key, value) = entry?;
            let mut stored: QuarantineEntry = decode(&value)?;
            stored.at = 0;
            quarantine_hash.update(&key);
            quarantine_hash.update(&encode(&stored)?);
            quarantined += 1;
        }
        let mut stats_hash = Xxh3::new();
        for (source, stats) in self.source_stats()? {
            stats_hash.update(source.as_bytes());
            stats_hash.update(&encode(&stats)?);
        }
        Ok(StoreDigest {
            records,
            quarantined,
            records_digest: format!("{:032x}", records_hash.digest128()),
            quarantine_digest: format!("{:032x}", quarantine_hash.digest128()),
            stats_digest: format!("{:032x}", stats_hash.digest128()),
        })
    }

    fn flush(&self) -> Result<(), CoreError> {
        self.db.flush()?;
        Ok(())
    }
}
