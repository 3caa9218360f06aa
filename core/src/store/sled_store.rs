//! The sled implementation of [`Store`].
//!
//! Everything a batch commits lives in one tree, `ingest`, under a one-byte prefix per concern
//! (records, quarantine, checkpoints, counters), because sled applies a batch to one tree
//! atomically and far faster than a multi-tree transaction. A record is keyed by its dedup key,
//! so the dedup check is one lookup (skipped when a Bloom filter of the stored keys, built at the
//! first commit, says the key is new) and storing it one insert; the key's locality prefix (time
//! or id, see [`RecordKey`]) keeps inserts near the tree's end. Keys are big-endian so scans
//! come out in order. Commits are serialised by a lock: dedup reads and the batch write must not
//! interleave with another commit.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use super::key_filter::KeyFilter;
use super::{decode, decode_record, encode, CommitBatch, CommitReport, EvalRun, Store, StoreDigest};
use crate::clean::RecordKey;
use crate::error::CoreError;
use crate::identity::Override;
use crate::quality::{OutlierCounts, QuarantineEntry, Quarantined, Replay, SourceStats};
use crate::record::{Provenance, RecordKind, StoredRecord};

/// Key prefixes inside the `ingest` tree, one per concern.
mod prefix {
    /// `r` + record key (kind tag, locality prefix, 128-bit hash) → stored record.
    pub const RECORD: u8 = b'r';
    /// `q` + source + 0 + big-endian sequence → quarantine entry.
    pub const QUARANTINE: u8 = b'q';
    /// `c` + source → the source's checkpoint.
    pub const CHECKPOINT: u8 = b'c';
    /// `s` + source → the source's counters.
    pub const STATS: u8 = b's';
}

/// The embedded sled store.
pub struct SledStore {
    db: sled::Db,
    ingest: sled::Tree,
    outlier_flags: sled::Tree,
    outlier_counts: sled::Tree,
    eval_runs: sled::Tree,
    /// Quarantine key → [`Replay`]: what replaying that entry did.
    replays: sled::Tree,
    /// Model name → snapshot bytes (the model's own versioned encoding).
    models: sled::Tree,
    /// Entity resolution, one tree so that a run replaces it in one atomic batch:
    /// `g` + golden record id → golden record (JSON); `d` + `a|b` record keys → match decision
    /// with its score (JSON).
    resolution: sled::Tree,
    /// Session → the operator's [`Override`] of its identity link.
    identity: sled::Tree,
    /// Held while committing; holds the filter of stored record keys once the first commit built it.
    commit_lock: Mutex<Option<KeyFilter>>,
}

impl SledStore {
    /// Opens (or creates) the store at `path` with a page cache of `cache_mb` MiB.
    ///
    /// # Errors
    /// [`CoreError::Store`], e.g. when another process holds the store open.
    pub fn open(path: &Path, cache_mb: u64) -> Result<Self, CoreError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(cache_mb * 1024 * 1024)
            .flush_every_ms(Some(200))
            .mode(sled::Mode::HighThroughput);
        // A store dropped in this process lets go of its file lock only when sled's flusher
        // thread has finished, a moment later: reopening waits for that (briefly) instead of
        // failing. Another process holding the store still fails, after the wait.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(err)) if err.to_string().contains("could not acquire lock") && std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                opened => break opened?,
            }
        };
        Ok(Self {
            ingest: db.open_tree("ingest")?,
            outlier_flags: db.open_tree("outlier_flags")?,
            outlier_counts: db.open_tree("outlier_counts")?,
            eval_runs: db.open_tree("eval_runs")?,
            replays: db.open_tree("replays")?,
            models: db.open_tree("models")?,
            resolution: open_resolution(&db)?,
            identity: db.open_tree("identity")?,
            db,
            commit_lock: Mutex::new(None),
        })
    }

    /// A stored quarantine entry with its sequence number (the key's last 8 bytes) and replay.
    fn with_replay(&self, (key, value): (sled::IVec, sled::IVec)) -> Result<Quarantined, CoreError> {
        let seq_bytes: [u8; 8] = key[key.len() - 8..].try_into().expect("quarantine keys end in a u64");
        let replay = self.replays.get(&key)?.map(|bytes| decode(&bytes)).transpose()?;
        Ok(Quarantined { seq: u64::from_be_bytes(seq_bytes), entry: decode(&value)?, replay })
    }

    /// A filter of every stored record key (without the tree prefix), sized for four times as
    /// many (so that a growing store rebuilds it rarely).
    fn record_filter(&self) -> Result<KeyFilter, CoreError> {
        let stored = self.ingest.scan_prefix([prefix::RECORD]).keys().count();
        let mut filter = KeyFilter::with_capacity(4 * stored);
        for key in self.ingest.scan_prefix([prefix::RECORD]).keys() {
            filter.insert(&key?[1..]);
        }
        Ok(filter)
    }

    /// The tree every batch commits into, for engine-level tools (the raw-sled benchmark).
    pub fn ingest_tree(&self) -> &sled::Tree {
        &self.ingest
    }
}

/// `prefix` + `name`.
fn key(prefix: u8, name: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 1);
    key.push(prefix);
    key.extend_from_slice(name);
    key
}

/// `q` + source + 0 (+ sequence when given).
fn quarantine_key(source: &str, seq: Option<u64>) -> Vec<u8> {
    let mut key = key(prefix::QUARANTINE, source.as_bytes());
    key.push(0);
    if let Some(seq) = seq {
        key.extend_from_slice(&seq.to_be_bytes());
    }
    key
}

impl Store for SledStore {
    fn commit(&self, batch: CommitBatch) -> Result<CommitReport, CoreError> {
        let CommitBatch { source, records, quarantine, checkpoint, mut stats, ingested_at } = batch;
        let mut serialised = self.commit_lock.lock().map_err(|_| CoreError::Decode("commit lock poisoned".to_string()))?;
        if serialised.as_ref().is_none_or(KeyFilter::is_full) {
            *serialised = Some(self.record_filter()?);
        }
        let filter = serialised.as_mut().expect("built above");
        let mut write = sled::Batch::default();
        let mut report = CommitReport { quarantined: quarantine.len() as u64, ..CommitReport::default() };
        let mut in_batch: HashSet<RecordKey> = HashSet::with_capacity(records.len());
        for record in records {
            let key = key(prefix::RECORD, &record.key);
            let already_stored = filter.may_contain(&record.key) && self.ingest.contains_key(&key)?;
            // `in_batch` ends up holding exactly the accepted keys.
            if already_stored || !in_batch.insert(record.key) {
                report.duplicates += 1;
                continue;
            }
            let stored = StoredRecord {
                record: record.record,
                provenance: Provenance { source: source.clone(), offset: record.offset, ingested_at },
                filled: record.filled,
                raw: record.raw,
            };
            write.insert(key, encode(&stored)?);
            report.accepted += 1;
        }
        let first_seq = stats.quarantined_total() - report.quarantined;
        for (i, entry) in quarantine.iter().enumerate() {
            write.insert(quarantine_key(&source, Some(first_seq + i as u64)), encode(entry)?);
        }
        stats.read += report.accepted + report.duplicates;
        stats.accepted += report.accepted;
        stats.duplicates += report.duplicates;
        write.insert(key(prefix::STATS, source.as_bytes()), encode(&stats)?);
        if let Some(checkpoint) = checkpoint {
            write.insert(key(prefix::CHECKPOINT, source.as_bytes()), checkpoint);
        }
        // One batch on one tree: sled applies it atomically, also across a crash.
        let _gate = write_gate();
        self.ingest.apply_batch(write)?;
        for key in &in_batch {
            filter.insert(key);
        }
        Ok(report)
    }

    fn checkpoint(&self, source: &str) -> Result<Option<Vec<u8>>, CoreError> {
        Ok(self.ingest.get(key(prefix::CHECKPOINT, source.as_bytes()))?.map(|value| value.to_vec()))
    }

    fn source_stats(&self) -> Result<BTreeMap<String, SourceStats>, CoreError> {
        let mut all = BTreeMap::new();
        for entry in self.ingest.scan_prefix([prefix::STATS]) {
            let (key, value) = entry?;
            all.insert(String::from_utf8_lossy(&key[1..]).into_owned(), decode(&value)?);
        }
        Ok(all)
    }

    fn quarantine(&self, source: Option<&str>, skip: usize, limit: usize) -> Result<Vec<Quarantined>, CoreError> {
        let iter = match source {
            Some(source) => self.ingest.scan_prefix(quarantine_key(source, None)),
            None => self.ingest.scan_prefix([prefix::QUARANTINE]),
        };
        iter.skip(skip).take(limit).map(|entry| self.with_replay(entry?)).collect()
    }

    fn quarantined(&self, source: &str, seq: u64) -> Result<Option<Quarantined>, CoreError> {
        let key = quarantine_key(source, Some(seq));
        self.ingest.get(&key)?.map(|value| self.with_replay((key.into(), value))).transpose()
    }

    fn record_replay(&self, source: &str, seq: u64, replay: &Replay) -> Result<(), CoreError> {
        self.replays.insert(quarantine_key(source, Some(seq)), encode(replay)?)?;
        let _gate = write_gate();
        self.replays.flush()?;
        Ok(())
    }

    fn scan_records(&self, kind: RecordKind, visit: &mut dyn FnMut(&[u8], StoredRecord) -> bool) -> Result<(), CoreError> {
        for entry in self.ingest.scan_prefix([prefix::RECORD, kind.tag()]) {
            let (key, value) = entry?;
            if !visit(&key[1..], decode_record(&value)?) {
                break;
            }
        }
        Ok(())
    }

    fn count_records(&self, kind: RecordKind) -> Result<u64, CoreError> {
        let mut count = 0;
        for entry in self.ingest.scan_prefix([prefix::RECORD, kind.tag()]).keys() {
            entry?;
            count += 1;
        }
        Ok(count)
    }

    fn replace_outliers(
        &self,
        flags: &BTreeMap<RecordKey, Vec<String>>,
        counts: &BTreeMap<String, OutlierCounts>,
    ) -> Result<(), CoreError> {
        self.outlier_flags.clear()?;
        self.outlier_counts.clear()?;
        let mut batch = sled::Batch::default();
        for (key, fields) in flags {
            batch.insert(key.as_slice(), encode(fields)?);
        }
        write_gate_apply(&self.outlier_flags, batch)?;
        let mut batch = sled::Batch::default();
        for (source, fields) in counts {
            batch.insert(source.as_bytes(), encode(fields)?);
        }
        write_gate_apply(&self.outlier_counts, batch)?;
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

    fn outlier_flags(&self, key: &[u8]) -> Result<Vec<String>, CoreError> {
        match self.outlier_flags.get(key)? {
            Some(value) => decode(&value),
            None => Ok(Vec::new()),
        }
    }

    fn digest(&self) -> Result<StoreDigest, CoreError> {
        use xxhash_rust::xxh3::Xxh3;
        let mut records_hash = Xxh3::new();
        let mut records = 0;
        for entry in self.ingest.scan_prefix([prefix::RECORD]) {
            let (key, value) = entry?;
            let mut stored = decode_record(&value)?;
            stored.provenance.ingested_at = 0;
            records_hash.update(&key);
            records_hash.update(&encode(&stored)?);
            records += 1;
        }
        let mut quarantine_hash = Xxh3::new();
        let mut quarantined = 0;
        for entry in self.ingest.scan_prefix([prefix::QUARANTINE]) {
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

    fn record_eval_run(&self, run: &EvalRun) -> Result<(), CoreError> {
        // Time first, so runs list in order; the id keeps two runs of one millisecond apart.
        let mut key = run.at.to_be_bytes().to_vec();
        key.extend_from_slice(&self.db.generate_id()?.to_be_bytes());
        self.eval_runs.insert(key, encode(run)?)?;
        let _gate = write_gate();
        self.eval_runs.flush()?;
        Ok(())
    }

    fn eval_runs(&self) -> Result<Vec<EvalRun>, CoreError> {
        self.eval_runs.iter().map(|entry| decode(&entry?.1)).collect()
    }

    fn save_model(&self, name: &str, snapshot: &[u8]) -> Result<(), CoreError> {
        self.models.insert(name.as_bytes(), snapshot)?;
        let _gate = write_gate();
        self.models.flush()?;
        Ok(())
    }

    fn remove_model(&self, name: &str) -> Result<(), CoreError> {
        self.models.remove(name.as_bytes())?;
        let _gate = write_gate();
        self.models.flush()?;
        Ok(())
    }

    fn load_model(&self, name: &str) -> Result<Option<Vec<u8>>, CoreError> {
        Ok(self.models.get(name.as_bytes())?.map(|value| value.to_vec()))
    }

    fn replace_resolution(&self, golden: &BTreeMap<String, Vec<u8>>, decisions: &BTreeMap<String, Vec<u8>>) -> Result<(), CoreError> {
        let mut fresh: BTreeMap<Vec<u8>, &[u8]> = BTreeMap::new();
        for (prefix, entries) in [(RESOLUTION_GOLDEN, golden), (RESOLUTION_DECISION, decisions)] {
            fresh.extend(entries.iter().map(|(key, value)| ([&[prefix], key.as_bytes()].concat(), value.as_slice())));
        }
        let mut write = sled::Batch::default();
        for key in self.resolution.iter().keys() {
            let key = key?;
            if !fresh.contains_key(key.as_ref()) {
                write.remove(key);
            }
        }
        for (key, value) in fresh {
            write.insert(key, value);
        }
        let _gate = write_gate();
        self.resolution.apply_batch(write)?;
        self.resolution.flush()?;
        Ok(())
    }

    fn golden_records(&self) -> Result<Vec<(String, Vec<u8>)>, CoreError> {
        read_prefixed(&self.resolution, RESOLUTION_GOLDEN)
    }

    fn match_decisions(&self) -> Result<Vec<(String, Vec<u8>)>, CoreError> {
        read_prefixed(&self.resolution, RESOLUTION_DECISION)
    }

    fn set_identity_override(&self, session: &str, decision: &Override) -> Result<(), CoreError> {
        self.identity.insert(session.as_bytes(), encode(decision)?)?;
        let _gate = write_gate();
        self.identity.flush()?;
        Ok(())
    }

    fn identity_overrides(&self) -> Result<Vec<(String, Override)>, CoreError> {
        self.identity
            .iter()
            .map(|entry| {
                let (key, value) = entry?;
                Ok((String::from_utf8_lossy(&key).into_owned(), decode(&value)?))
            })
            .collect()
    }

    fn flush(&self) -> Result<(), CoreError> {
        let _gate = write_gate();
        self.db.flush()?;
        Ok(())
    }
}

/// Serialises sled's batch writes and flushes across every store of the process. sled 0.34 guards
/// `apply_batch` with a process-wide write lock, and a flush holds that lock's read side while it
/// waits for the log flusher, which needs the read side too: a batch applied while another thread
/// (of any store) flushes can deadlock all three. Taking this gate around both avoids that.
fn write_gate() -> std::sync::MutexGuard<'static, ()> {
    static GATE: Mutex<()> = Mutex::new(());
    GATE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `tree.apply_batch(batch)` behind [`write_gate`].
fn write_gate_apply(tree: &sled::Tree, batch: sled::Batch) -> Result<(), CoreError> {
    let _gate = write_gate();
    Ok(tree.apply_batch(batch)?)
}

/// Every entry of `tree` under `prefix`, keys without the prefix, in key order.
fn read_prefixed(tree: &sled::Tree, prefix: u8) -> Result<Vec<(String, Vec<u8>)>, CoreError> {
    tree.scan_prefix([prefix])
        .map(|entry| entry.map(|(key, value)| (String::from_utf8_lossy(&key[1..]).into_owned(), value.to_vec())).map_err(Into::into))
        .collect()
}

/// Key prefixes of the `resolution` tree.
const RESOLUTION_GOLDEN: u8 = b'g';
const RESOLUTION_DECISION: u8 = b'd';

/// Opens the `resolution` tree, emptying the two trees earlier builds kept the same results in
/// (derived data: the next resolution run writes it again). Not `drop_tree`: that takes sled's
/// process-wide write lock, which deadlocks against another store flushing in the same process.
fn open_resolution(db: &sled::Db) -> Result<sled::Tree, CoreError> {
    let names = db.tree_names();
    for old in ["golden_records", "match_decisions"] {
        if names.iter().any(|name| name.as_ref() == old.as_bytes()) {
            db.open_tree(old)?.clear()?;
        }
    }
    Ok(db.open_tree("resolution")?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clean::CleanRecord;
    use crate::record::{Item, Record};

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
        entries.iter().map(|(key, value)| (key.to_string(), value.as_bytes().to_vec())).collect()
    }

    fn batch(ids: &[u32]) -> CommitBatch {
        let records = ids
            .iter()
            .map(|id| CleanRecord {
                key: [&[RecordKind::Item.tag()], &id.to_be_bytes()[..], &[7u8; 16]].concat(),
                record: Record::Item(Item { item_id: id.to_string(), ..Item::default() }),
                offset: id.to_string(),
                filled: Vec::new(),
                raw: None,
            })
            .collect();
        CommitBatch {
            source: "items".to_string(),
            records,
            quarantine: Vec::new(),
            checkpoint: None,
            stats: SourceStats::default(),
            ingested_at: 0,
        }
    }

    #[test]
    fn stored_keys_are_duplicates_in_later_batches_and_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 8).unwrap();
        assert_eq!(store.commit(batch(&[1, 2, 3, 3])).unwrap().duplicates, 1);
        let report = store.commit(batch(&[3, 4])).unwrap();
        assert_eq!((report.accepted, report.duplicates), (1, 1));
        drop(store);
        // A new store builds its key filter from what is stored.
        let store = SledStore::open(dir.path(), 8).unwrap();
        let report = store.commit(batch(&[1, 2, 3, 4, 5])).unwrap();
        assert_eq!((report.accepted, report.duplicates), (1, 4));
        assert_eq!(store.count_records(RecordKind::Item).unwrap(), 5);
    }

    #[test]
    fn a_resolution_run_replaces_the_previous_one_whole() {
        let dir = tempfile::tempdir().unwrap();
        let store = SledStore::open(dir.path(), 8).unwrap();
        store.replace_resolution(&map(&[("g1", "a"), ("g2", "b")]), &map(&[("x|y", "0.9")])).unwrap();
        store.replace_resolution(&map(&[("g2", "b2"), ("g3", "c")]), &map(&[])).unwrap();
        let golden = store.golden_records().unwrap();
        assert_eq!(golden, [("g2".to_string(), b"b2".to_vec()), ("g3".to_string(), b"c".to_vec())]);
        assert!(store.match_decisions().unwrap().is_empty(), "the stale decision is gone");
        drop(store);
        // Reopened, the results are still there (only the pre-`resolution` trees are dropped).
        let store = SledStore::open(dir.path(), 8).unwrap();
        assert_eq!(store.golden_records().unwrap().len(), 2);
    }
}
