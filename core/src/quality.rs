//! Data-quality bookkeeping: per-source counters committed with every batch, quarantine entries,
//! and the report `agora quality` prints.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Why a record was quarantined. The names are stable: reports and tests group by them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A field was not valid UTF-8 (reported by the source plugin).
    InvalidUtf8,
    /// A JSON line did not parse.
    MalformedJson,
    /// A CSV row did not parse.
    MalformedCsv,
    /// A row had a different number of fields than the header.
    WrongFieldCount,
    /// Anything else a plugin could read but not parse.
    Unparseable,
    /// A required field was missing and its policy is `reject` (or impute had nothing to go on).
    MissingField,
    /// A value could not be coerced to its field's type.
    InvalidType,
    /// A timestamp was in no accepted form or out of range.
    InvalidTimestamp,
    /// A value is of the right type but not allowed (an unknown event kind, a negative quantity).
    InvalidValue,
    /// A text field was longer than its limit.
    FieldTooLong,
}

impl Reason {
    /// The stable name of the reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidUtf8 => "invalid_utf8",
            Self::MalformedJson => "malformed_json",
            Self::MalformedCsv => "malformed_csv",
            Self::WrongFieldCount => "wrong_field_count",
            Self::Unparseable => "unparseable",
            Self::MissingField => "missing_field",
            Self::InvalidType => "invalid_type",
            Self::InvalidTimestamp => "invalid_timestamp",
            Self::InvalidValue => "invalid_value",
            Self::FieldTooLong => "field_too_long",
        }
    }

    /// Maps a plugin's error-line reason to ours; unknown names become [`Reason::Unparseable`].
    pub fn from_plugin(name: &str) -> Self {
        match name {
            "invalid_utf8" => Self::InvalidUtf8,
            "malformed_json" | "not_an_object" => Self::MalformedJson,
            "malformed_csv" => Self::MalformedCsv,
            "wrong_field_count" => Self::WrongFieldCount,
            _ => Self::Unparseable,
        }
    }
}

/// A record that was read but not accepted, kept with everything needed to fix and replay it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuarantineEntry {
    pub source: String,
    /// The source's locator of the record.
    pub offset: String,
    pub reason: Reason,
    /// What exactly was wrong, naming the field and value.
    pub detail: String,
    /// The record as read (JSON text of its fields, or the raw text the plugin could not parse).
    pub raw: String,
    /// When it was quarantined, UTC milliseconds.
    pub at: i64,
}

/// A quarantine entry with its place in the quarantine and what replaying it did, if it was.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quarantined {
    /// Its sequence number within its source's quarantine (with the source, its id).
    pub seq: u64,
    pub entry: QuarantineEntry,
    pub replay: Option<Replay>,
}

/// The outcome of replaying a quarantined record through its source's current cleaning rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Replay {
    /// When, UTC milliseconds.
    pub at: i64,
    /// Stored (or already stored: a duplicate) rather than quarantined again.
    pub accepted: bool,
    /// What happened, in words (the new reason when quarantined again).
    pub outcome: String,
}

/// Per-source counters, committed atomically with each batch so they survive crashes exactly.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SourceStats {
    /// Records read from the source (accepted + duplicates + quarantined).
    pub read: u64,
    pub accepted: u64,
    pub duplicates: u64,
    /// Quarantined records by reason.
    pub quarantined: BTreeMap<Reason, u64>,
    /// Records that reached field mapping (the denominator of missing rates).
    pub mapped: u64,
    /// Per canonical field: how often it was missing.
    pub missing: BTreeMap<String, u64>,
    /// Per canonical field: how often a default or imputed value was used.
    pub filled: BTreeMap<String, u64>,
    /// Per numeric field: a streaming median of the values read, for `impute`.
    pub medians: BTreeMap<String, StreamingMedian>,
}

impl SourceStats {
    /// Total quarantined records.
    pub fn quarantined_total(&self) -> u64 {
        self.quarantined.values().sum()
    }

    /// Counts one quarantined record.
    pub fn count_quarantined(&mut self, reason: Reason) {
        self.read += 1;
        *self.quarantined.entry(reason).or_default() += 1;
    }

    /// The running median of a numeric field, if any value was seen.
    pub fn median(&self, field: &str) -> Option<f64> {
        self.medians.get(field).and_then(StreamingMedian::estimate)
    }

    /// Feeds a value of a numeric field to its running median.
    pub fn observe(&mut self, field: &str, value: f64) {
        match self.medians.get_mut(field) {
            Some(median) => median.push(value),
            None => {
                let mut median = StreamingMedian::default();
                median.push(value);
                self.medians.insert(field.to_string(), median);
            }
        }
    }
}

/// A streaming median over a log-scale histogram (bins 1% wide): constant memory per distinct
/// magnitude, exact to within 1%, deterministic, and unmoved by a few huge outliers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamingMedian {
    count: u64,
    /// Bin key (ordered like the values) → number of values in it.
    bins: BTreeMap<i64, u64>,
}

impl StreamingMedian {
    /// Relative width of a bin.
    const GROWTH: f64 = 1.01;
    /// Offset that keeps negative, zero and positive keys apart and in value order.
    const OFFSET: i64 = 1_000_000;

    fn key(x: f64) -> i64 {
        if x == 0.0 {
            return 0;
        }
        let magnitude = (x.abs().ln() / Self::GROWTH.ln()).round() as i64;
        if x > 0.0 {
            Self::OFFSET + magnitude
        } else {
            -Self::OFFSET - magnitude
        }
    }

    fn value(key: i64) -> f64 {
        match key {
            0 => 0.0,
            k if k > 0 => Self::GROWTH.powf((k - Self::OFFSET) as f64),
            k => -Self::GROWTH.powf((-k - Self::OFFSET) as f64),
        }
    }

    /// Adds one finite value.
    pub fn push(&mut self, x: f64) {
        if x.is_finite() {
            self.count += 1;
            *self.bins.entry(Self::key(x)).or_default() += 1;
        }
    }

    /// The current median estimate, or `None` before any value.
    pub fn estimate(&self) -> Option<f64> {
        let half = self.count.div_ceil(2);
        let mut seen = 0;
        for (key, n) in &self.bins {
            seen += n;
            if seen >= half {
                return Some(Self::value(*key));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streaming_median_is_exact_for_few_values_and_close_for_many() {
        let mut median = StreamingMedian::default();
        assert_eq!(median.estimate(), None);
        for x in [5.0, 1.0, 3.0, 2.0] {
            median.push(x);
        }
        let low = median.estimate().unwrap();
        assert!((low - 2.0).abs() < 0.02, "{low}");
        let mut median = StreamingMedian::default();
        // A shuffled 1..=1001 with a few huge outliers: the median stays near 501.
        for i in 0..1001u64 {
            median.push(((i * 7919) % 1001 + 1) as f64);
            if i % 200 == 0 {
                median.push(1e9);
            }
        }
        let estimate = median.estimate().unwrap();
        assert!((estimate - 503.0).abs() < 10.0, "{estimate}");
        let mut signed = StreamingMedian::default();
        for x in [-5.0, -1.0, 0.0, 2.0, 9.0] {
            signed.push(x);
        }
        assert_eq!(signed.estimate(), Some(0.0));
    }
}

/// Outlier counts per field of one source.
pub type OutlierCounts = BTreeMap<String, u64>;

/// The quality of one source, as `agora quality` reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceQuality {
    pub read: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub quarantined: u64,
    pub quarantined_by_reason: BTreeMap<String, u64>,
    /// Share of mapped records missing each field, 0..1.
    pub missing_rate: BTreeMap<String, f64>,
    /// Records whose field was defaulted or imputed.
    pub filled: BTreeMap<String, u64>,
    /// Records flagged as outliers per field (kept, not dropped).
    pub outliers: OutlierCounts,
}

/// The quality report of every source.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    pub sources: BTreeMap<String, SourceQuality>,
}

impl QualityReport {
    /// Builds the report from stored counters and outlier counts.
    pub fn build(stats: &BTreeMap<String, SourceStats>, outliers: &BTreeMap<String, OutlierCounts>) -> Self {
        let sources = stats
            .iter()
            .map(|(name, stats)| {
                let missing_rate = stats
                    .missing
                    .iter()
                    .map(|(field, n)| (field.clone(), if stats.mapped == 0 { 0.0 } else { *n as f64 / stats.mapped as f64 }))
                    .collect();
                let quality = SourceQuality {
                    read: stats.read,
                    accepted: stats.accepted,
                    duplicates: stats.duplicates,
                    quarantined: stats.quarantined_total(),
                    quarantined_by_reason: stats.quarantined.iter().map(|(reason, n)| (reason.as_str().to_string(), *n)).collect(),
                    missing_rate,
                    filled: stats.filled.clone(),
                    outliers: outliers.get(name).cloned().unwrap_or_default(),
                };
                (name.clone(), quality)
            })
            .collect();
        Self { sources }
    }

    /// A human-readable table.
    pub fn to_text(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = writeln!(out, "{:<16} {:>10} {:>10} {:>10} {:>11}", "source", "read", "accepted", "duplicates", "quarantined");
        for (name, q) in &self.sources {
            let _ = writeln!(out, "{name:<16} {:>10} {:>10} {:>10} {:>11}", q.read, q.accepted, q.duplicates, q.quarantined);
        }
        for (name, q) in &self.sources {
            let _ = writeln!(out, "\n[{name}]");
            for (reason, n) in &q.quarantined_by_reason {
                let _ = writeln!(out, "  quarantined {reason:<20} {n:>8}");
            }
            for (field, rate) in q.missing_rate.iter().filter(|(_, rate)| **rate > 0.0) {
                let _ = writeln!(out, "  missing     {field:<20} {:>7.2}%", rate * 100.0);
            }
            for (field, n) in &q.filled {
                let _ = writeln!(out, "  filled      {field:<20} {n:>8}");
            }
            for (field, n) in &q.outliers {
                let _ = writeln!(out, "  outliers    {field:<20} {n:>8}");
            }
        }
        out
    }
}
