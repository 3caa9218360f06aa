//! The cleaning rules of one source: field mapping, type coercion, timestamps, missing values,
//! text normalisation, id resolution and dedup keys. Pure functions over batch lines; the Clean
//! agent runs them and commits the result.

mod outlier;
mod text;
mod timestamp;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;
use serde_json::value::RawValue;

pub use outlier::{find_outliers, OUTLIER_FIELDS};
pub use text::{is_missing_text, normalise_id, normalise_text, parse_bool, parse_number};
pub use timestamp::{parse_timezone, TimestampRules};

use crate::config::{CleanConfig, IdRules, MissingPolicy, SourceConfig};
use crate::error::CoreError;
use crate::identity::anonymous_user;
use crate::quality::{QuarantineEntry, Reason, SourceStats};
use crate::record::{Event, EventKind, FaqEntry, FieldSpec, FieldType, Item, Order, Question, Record, RecordKind, Review};

/// A record's dedup identity: kind tag, a locality prefix, and a 128-bit hash of the dedup
/// fields (or of the whole content). Equal identities give equal keys. The prefix (the first
/// dedup field's value, or the timestamp for whole-content dedup) keeps keys of records that
/// arrive together close together, so the store's dedup index grows at its end instead of on
/// random pages.
pub type RecordKey = Vec<u8>;

/// A cleaned record ready to commit.
#[derive(Clone, Debug, PartialEq)]
pub struct CleanRecord {
    pub key: RecordKey,
    pub record: Record,
    pub offset: String,
    /// Fields whose value was defaulted or imputed.
    pub filled: Vec<String>,
    /// The record's fields as read, when the store keeps raw records.
    pub raw: Option<String>,
}

/// What cleaning a batch produced: records to dedup and commit, and quarantine entries.
#[derive(Debug, Default)]
pub struct CleanedBatch {
    pub records: Vec<CleanRecord>,
    pub quarantine: Vec<QuarantineEntry>,
}

/// A cleaned field value.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Absent,
    Text(String),
    Number(f64),
    Integer(i64),
    Bool(bool),
    Timestamp(i64),
    List(Vec<String>),
    Kind(EventKind),
    Attributes(BTreeMap<String, String>),
}

/// One field's compiled mapping.
#[derive(Clone, Debug)]
struct FieldRule {
    spec: &'static FieldSpec,
    columns: Vec<String>,
    policy: MissingPolicy,
    default: Option<Value>,
    max_len: usize,
}

/// A record rejected by a rule.
struct Rejection {
    reason: Reason,
    detail: String,
}

impl Rejection {
    fn new(reason: Reason, detail: impl Into<String>) -> Self {
        Self { reason, detail: detail.into() }
    }
}

/// One line of a plugin batch (`agora-batch/1`).
#[derive(Deserialize)]
struct BatchLine<'a> {
    #[serde(borrow)]
    offset: Cow<'a, str>,
    #[serde(borrow, default)]
    fields: Option<&'a RawValue>,
    #[serde(borrow, default)]
    error: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    raw: Option<Cow<'a, str>>,
}

/// The compiled cleaning rules of one source.
#[derive(Clone, Debug)]
pub struct SourceRules {
    source: String,
    kind: RecordKind,
    /// One rule per canonical field of the kind, in the kind's field order (`None` = unmapped).
    fields: Vec<Option<FieldRule>>,
    /// Indices of the dedup key fields; empty means the whole content.
    dedup: Vec<usize>,
    timestamps: TimestampRules,
    list_separator: String,
    ids: IdRules,
    keep_raw: bool,
}

impl SourceRules {
    /// Compiles a source's config.
    ///
    /// # Errors
    /// [`CoreError::Config`] when a configured default does not fit its field.
    pub fn compile(name: &str, source: &SourceConfig, clean: &CleanConfig, keep_raw: bool) -> Result<Self, CoreError> {
        let zone_name = source.timezone.as_deref().unwrap_or(&clean.timezone);
        let zone =
            parse_timezone(zone_name).ok_or_else(|| CoreError::Config(format!("sources.{name}.timezone: unknown zone {zone_name:?}")))?;
        let mut rules = Self {
            source: name.to_string(),
            kind: source.record,
            fields: Vec::new(),
            dedup: Vec::new(),
            timestamps: TimestampRules { zone, formats: source.timestamp_formats.clone() },
            list_separator: source.list_separator.clone().unwrap_or_else(|| clean.list_separator.clone()),
            ids: source.ids.clone(),
            keep_raw,
        };
        for spec in source.record.fields() {
            let Some(mapping) = source.fields.get(spec.name) else {
                rules.fields.push(None);
                continue;
            };
            let options = mapping.options();
            let policy = options.missing.unwrap_or(if spec.required { MissingPolicy::Reject } else { MissingPolicy::Null });
            let max_len = options.max_len.unwrap_or(clean.max_text_len);
            let mut rule = FieldRule { spec, columns: options.from.clone(), policy, default: None, max_len };
            if let Some(default) = &options.default {
                let text = match default {
                    toml::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                let value = rules
                    .coerce_text(&rule, &text)
                    .map_err(|rejection| CoreError::Config(format!("sources.{name}.fields.{}.default: {}", spec.name, rejection.detail)))?;
                rule.default = Some(value);
            }
            rules.fields.push(Some(rule));
        }
        for field in &source.dedup_key {
            let index = source.record.fields().iter().position(|spec| spec.name == field).ok_or_else(|| {
                CoreError::Config(format!("sources.{name}.dedup_key: `{field}` is not a field of `{}`", source.record.name()))
            })?;
            rules.dedup.push(index);
        }
        Ok(rules)
    }

    /// The source this applies to.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The record kind this source produces.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// Cleans a batch in the `agora-batch/1` encoding, counting into `stats` everything except
    /// accepted and duplicate records (which the store decides while committing).
    pub fn clean_batch(&self, batch: &[u8], stats: &mut SourceStats, now_ms: i64) -> CleanedBatch {
        let mut out = CleanedBatch::default();
        for line in batch.split(|b| *b == b'\n').filter(|line| !line.iter().all(u8::is_ascii_whitespace)) {
            match self.clean_line(line, stats) {
                Ok(record) => out.records.push(record),
                Err((offset, rejection, raw)) => {
                    stats.count_quarantined(rejection.reason);
                    out.quarantine.push(QuarantineEntry {
                        source: self.source.clone(),
                        offset,
                        reason: rejection.reason,
                        detail: rejection.detail,
                        raw,
                        at: now_ms,
                    });
                }
            }
        }
        out
    }

    /// Cleans one line; a rejection carries (offset, why, raw text).
    fn clean_line(&self, line: &[u8], stats: &mut SourceStats) -> Result<CleanRecord, (String, Rejection, String)> {
        let parsed: BatchLine<'_> = serde_json::from_slice(line).map_err(|err| {
            (
                String::from("?"),
                Rejection::new(Reason::Unparseable, format!("plugin sent a line that is not agora-batch/1: {err}")),
                String::from_utf8_lossy(line).into_owned(),
            )
        })?;
        let offset = parsed.offset.into_owned();
        if let Some(error) = parsed.error {
            let raw = parsed.raw.map(Cow::into_owned).unwrap_or_default();
            return Err((offset, Rejection::new(Reason::from_plugin(&error), format!("source plugin reported {error}")), raw));
        }
        let Some(fields_raw) = parsed.fields else {
            return Err((
                offset,
                Rejection::new(Reason::Unparseable, "line has neither fields nor error"),
                String::from_utf8_lossy(line).into_owned(),
            ));
        };
        let raw_text = fields_raw.get();
        let columns: HashMap<Cow<'_, str>, &RawValue> = match serde_json::from_str(raw_text) {
            Ok(columns) => columns,
            Err(err) => {
                return Err((
                    offset,
                    Rejection::new(Reason::MalformedJson, format!("fields are not a JSON object: {err}")),
                    raw_text.to_string(),
                ))
            }
        };
        stats.mapped += 1;
        match self.map_record(&columns, stats) {
            Ok((record, filled)) => Ok(CleanRecord {
                key: self.key_of(&record),
                raw: self.keep_raw.then(|| raw_text.to_string()),
                record: record.into_record(self.kind),
                offset,
                filled,
            }),
            Err(rejection) => Err((offset, rejection, raw_text.to_string())),
        }
    }

    /// Maps and coerces every field; returns the values and the names of filled fields.
    fn map_record(&self, columns: &HashMap<Cow<'_, str>, &RawValue>, stats: &mut SourceStats) -> Result<(Values, Vec<String>), Rejection> {
        let mut values = Vec::with_capacity(self.fields.len());
        let mut filled = Vec::new();
        let mut first_rejection = None;
        for rule in &self.fields {
            let Some(rule) = rule else {
                values.push(Value::Absent);
                continue;
            };
            let value = if rule.spec.ty == FieldType::Attributes {
                self.gather_attributes(rule, columns)
            } else {
                match rule.columns.iter().find_map(|column| lookup(columns, column)) {
                    Some(raw) => self.coerce_json(rule, raw),
                    None => Ok(Value::Absent),
                }
            };
            let value = match value {
                // An event with a session but no user is anonymous, not invalid (see `identity`).
                Ok(Value::Absent) if self.kind == RecordKind::Event && rule.spec.name == "user_id" => match self.session_of(columns) {
                    Some(session) => {
                        *stats.missing.entry(rule.spec.name.to_string()).or_default() += 1;
                        Ok(Value::Text(anonymous_user(&session)))
                    }
                    None => Ok(Value::Absent),
                },
                other => other,
            };
            let value = match value {
                Ok(Value::Absent) => {
                    *stats.missing.entry(rule.spec.name.to_string()).or_default() += 1;
                    match self.fill_missing(rule, stats) {
                        Ok(Some(value)) => {
                            *stats.filled.entry(rule.spec.name.to_string()).or_default() += 1;
                            filled.push(rule.spec.name.to_string());
                            value
                        }
                        Ok(None) => Value::Absent,
                        Err(rejection) => {
                            first_rejection.get_or_insert(rejection);
                            Value::Absent
                        }
                    }
                }
                Ok(value) => {
                    match value {
                        Value::Number(x) => stats.observe(rule.spec.name, x),
                        Value::Integer(x) => stats.observe(rule.spec.name, x as f64),
                        _ => {}
                    }
                    value
                }
                Err(rejection) => {
                    first_rejection.get_or_insert(rejection);
                    Value::Absent
                }
            };
            values.push(value);
        }
        if let Some(rejection) = first_rejection {
            return Err(rejection);
        }
        let values = Values(values);
        self.check_values(&values)?;
        Ok((values, filled))
    }

    /// The (non-empty) session an event row names, if its source maps one.
    fn session_of(&self, columns: &HashMap<Cow<'_, str>, &RawValue>) -> Option<String> {
        let index = self.kind.fields().iter().position(|spec| spec.name == "session")?;
        let rule = self.fields[index].as_ref()?;
        match self.coerce_json(rule, rule.columns.iter().find_map(|column| lookup(columns, column))?) {
            Ok(Value::Text(session)) if !session.is_empty() => Some(session),
            _ => None,
        }
    }

    /// Rules that look at a whole record: quantities must be positive, prices not negative.
    fn check_values(&self, values: &Values) -> Result<(), Rejection> {
        for (spec, value) in self.kind.fields().iter().zip(&values.0) {
            if let Value::Number(x) = value {
                let bad = match spec.name {
                    "quantity" => *x <= 0.0,
                    "price" | "unit_price" => *x < 0.0,
                    "rating" => !(0.0..=10.0).contains(x),
                    _ => false,
                };
                if bad {
                    return Err(Rejection::new(Reason::InvalidValue, format!("{} = {x} is not allowed", spec.name)));
                }
            }
        }
        Ok(())
    }

    fn fill_missing(&self, rule: &FieldRule, stats: &SourceStats) -> Result<Option<Value>, Rejection> {
        match rule.policy {
            MissingPolicy::Null => Ok(None),
            MissingPolicy::Reject => Err(Rejection::new(Reason::MissingField, format!("{} is missing", rule.spec.name))),
            MissingPolicy::Default => Ok(rule.default.clone()),
            MissingPolicy::Impute => match stats.median(rule.spec.name) {
                Some(median) if rule.spec.ty == FieldType::Integer => Ok(Some(Value::Integer(median.round() as i64))),
                Some(median) => Ok(Some(Value::Number((median * 100.0).round() / 100.0))),
                None => Err(Rejection::new(
                    Reason::MissingField,
                    format!("{} is missing and no values were seen yet to impute from", rule.spec.name),
                )),
            },
        }
    }

    fn gather_attributes(&self, rule: &FieldRule, columns: &HashMap<Cow<'_, str>, &RawValue>) -> Result<Value, Rejection> {
        let mut attributes = BTreeMap::new();
        for column in &rule.columns {
            if let Some(raw) = lookup(columns, column) {
                if let Value::Text(text) = self.coerce_json(&FieldRule { spec: &TEXT_SPEC, ..rule.clone() }, raw)? {
                    attributes.insert(column.clone(), text);
                }
            }
        }
        Ok(if attributes.is_empty() { Value::Absent } else { Value::Attributes(attributes) })
    }

    /// Coerces a JSON value from the source.
    fn coerce_json(&self, rule: &FieldRule, raw: &RawValue) -> Result<Value, Rejection> {
        let json = raw.get().trim_start();
        match json.as_bytes().first() {
            Some(b'"') => {
                let text: Cow<'_, str> =
                    serde_json::from_str(json).map_err(|err| Rejection::new(Reason::InvalidType, format!("{}: {err}", rule.spec.name)))?;
                self.coerce_text(rule, &text)
            }
            Some(b'n') => Ok(Value::Absent),
            Some(b'[') if rule.spec.ty == FieldType::List => {
                let items: Vec<serde_json::Value> =
                    serde_json::from_str(json).map_err(|err| Rejection::new(Reason::InvalidType, format!("{}: {err}", rule.spec.name)))?;
                let list: Vec<String> = items
                    .iter()
                    .map(|item| match item {
                        serde_json::Value::String(text) => normalise_text(text),
                        other => other.to_string(),
                    })
                    .filter(|item| !item.is_empty())
                    .collect();
                Ok(if list.is_empty() { Value::Absent } else { Value::List(list) })
            }
            Some(b't' | b'f') if rule.spec.ty == FieldType::Bool => Ok(Value::Bool(json.starts_with('t'))),
            Some(b'-' | b'0'..=b'9') => match rule.spec.ty {
                FieldType::Number => json
                    .parse::<f64>()
                    .map(Value::Number)
                    .map_err(|_| Rejection::new(Reason::InvalidType, format!("{} = {json} is not a number", rule.spec.name))),
                FieldType::Timestamp => json
                    .parse::<f64>()
                    .map_err(|_| format!("{json} is not a number"))
                    .and_then(|number| self.timestamps.from_epoch(number))
                    .map(Value::Timestamp)
                    .map_err(|err| Rejection::new(Reason::InvalidTimestamp, format!("{}: {err}", rule.spec.name))),
                _ => self.coerce_text(rule, json),
            },
            _ => {
                Err(Rejection::new(Reason::InvalidType, format!("{} = {} is not a {:?}", rule.spec.name, truncate(json, 80), rule.spec.ty)))
            }
        }
    }

    /// Coerces text from the source (or a configured default) to the field's type.
    fn coerce_text(&self, rule: &FieldRule, text: &str) -> Result<Value, Rejection> {
        let name = rule.spec.name;
        if is_missing_text(text) {
            return Ok(Value::Absent);
        }
        if text.chars().count() > rule.max_len {
            return Err(Rejection::new(
                Reason::FieldTooLong,
                format!("{name} has {} characters, more than the limit of {}", text.chars().count(), rule.max_len),
            ));
        }
        let invalid = |reason: Reason, err: String| Rejection::new(reason, format!("{name}: {err}"));
        Ok(match rule.spec.ty {
            FieldType::Id => {
                let id = normalise_id(text, &self.ids);
                if id.is_empty() {
                    Value::Absent
                } else {
                    Value::Text(id)
                }
            }
            FieldType::Text | FieldType::Attributes => Value::Text(normalise_text(text)),
            FieldType::Number => Value::Number(parse_number(text).map_err(|err| invalid(Reason::InvalidType, err))?),
            FieldType::Integer => {
                let number = parse_number(text).map_err(|err| invalid(Reason::InvalidType, err))?;
                if number.fract() != 0.0 {
                    return Err(invalid(Reason::InvalidType, format!("{text:?} is not a whole number")));
                }
                Value::Integer(number as i64)
            }
            FieldType::Bool => Value::Bool(parse_bool(text).map_err(|err| invalid(Reason::InvalidType, err))?),
            FieldType::Timestamp => Value::Timestamp(self.timestamps.parse(text).map_err(|err| invalid(Reason::InvalidTimestamp, err))?),
            FieldType::List => {
                let list: Vec<String> =
                    text.split(self.list_separator.as_str()).map(normalise_text).filter(|item| !item.is_empty()).collect();
                if list.is_empty() {
                    Value::Absent
                } else {
                    Value::List(list)
                }
            }
            FieldType::EventKind => Value::Kind(
                EventKind::parse(text)
                    .ok_or_else(|| invalid(Reason::InvalidValue, format!("{text:?} is not an event kind ({})", EventKind::NAMES)))?,
            ),
        })
    }

    /// The dedup key: kind tag + locality prefix + xxh3-128 of the dedup fields (or every field).
    fn key_of(&self, values: &Values) -> RecordKey {
        let indices: Vec<usize> = if self.dedup.is_empty() { (0..values.0.len()).collect() } else { self.dedup.clone() };
        let mut bytes = Vec::with_capacity(128);
        for &index in &indices {
            values.0[index].hash_into(&mut bytes);
        }
        let mut key = Vec::with_capacity(48);
        key.push(self.kind.tag());
        let locality = if self.dedup.is_empty() {
            values.0.iter().find(|value| matches!(value, Value::Timestamp(_)))
        } else {
            values.0.get(self.dedup[0])
        };
        match locality {
            Some(Value::Timestamp(ms)) => key.extend_from_slice(&(*ms as u64).to_be_bytes()),
            Some(Value::Integer(n)) => key.extend_from_slice(&(*n as u64 ^ (1 << 63)).to_be_bytes()),
            Some(Value::Text(text)) => match text.parse::<u64>() {
                // Numeric ids sort numerically: a zero byte then eight big-endian bytes.
                Ok(number) if !text.starts_with('0') || text.len() == 1 => {
                    key.push(0);
                    key.extend_from_slice(&number.to_be_bytes());
                }
                _ => {
                    key.push(1);
                    key.extend(text.bytes().take(24));
                    key.push(0);
                }
            },
            _ => {}
        }
        key.extend_from_slice(&xxhash_rust::xxh3::xxh3_128(&bytes).to_be_bytes());
        key
    }
}

/// A field spec used to clean attribute values as text.
static TEXT_SPEC: FieldSpec = FieldSpec { name: "attributes", ty: FieldType::Text, required: false };

/// Finds a column, reaching into nested objects with dotted paths (`user.id`).
fn lookup<'a>(columns: &HashMap<Cow<'_, str>, &'a RawValue>, column: &str) -> Option<&'a RawValue> {
    if let Some(value) = columns.get(column) {
        return Some(*value);
    }
    let (head, rest) = column.split_once('.')?;
    let nested: HashMap<Cow<'_, str>, &'a RawValue> = serde_json::from_str(columns.get(head)?.get()).ok()?;
    lookup(&nested, rest)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

impl Value {
    /// Appends an unambiguous byte form of the value for hashing.
    fn hash_into(&self, out: &mut Vec<u8>) {
        let mut text = |tag: u8, text: &str| {
            out.push(tag);
            out.extend_from_slice(&(text.len() as u32).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        };
        match self {
            Value::Absent => text(0, ""),
            Value::Text(value) => text(1, value),
            Value::Number(value) => text(2, &value.to_bits().to_string()),
            Value::Integer(value) => text(3, &value.to_string()),
            Value::Bool(value) => text(4, if *value { "1" } else { "0" }),
            Value::Timestamp(value) => text(5, &value.to_string()),
            Value::List(items) => {
                text(6, &items.len().to_string());
                items.iter().for_each(|item| text(1, item));
            }
            Value::Kind(kind) => text(7, &format!("{kind:?}")),
            Value::Attributes(map) => {
                text(8, &map.len().to_string());
                map.iter().for_each(|(k, v)| {
                    text(1, k);
                    text(1, v);
                });
            }
        }
    }
}

/// The cleaned values of one record, in the kind's field order.
struct Values(Vec<Value>);

impl Values {
    fn take(&mut self, index: usize) -> Value {
        std::mem::replace(&mut self.0[index], Value::Absent)
    }
    fn text(&mut self, index: usize) -> Option<String> {
        match self.take(index) {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }
    fn number(&mut self, index: usize) -> Option<f64> {
        match self.take(index) {
            Value::Number(x) => Some(x),
            Value::Integer(x) => Some(x as f64),
            _ => None,
        }
    }
    fn integer(&mut self, index: usize) -> Option<i64> {
        match self.take(index) {
            Value::Integer(x) => Some(x),
            _ => None,
        }
    }
    fn timestamp(&mut self, index: usize) -> Option<i64> {
        match self.take(index) {
            Value::Timestamp(x) => Some(x),
            _ => None,
        }
    }
    fn list(&mut self, index: usize) -> Vec<String> {
        match self.take(index) {
            Value::List(list) => list,
            _ => Vec::new(),
        }
    }

    /// Builds the canonical record. Required fields are present: `map_record` rejected otherwise.
    fn into_record(mut self, kind: RecordKind) -> Record {
        match kind {
            RecordKind::Event => Record::Event(Event {
                user_id: self.text(0).unwrap_or_default(),
                item_id: self.text(1).unwrap_or_default(),
                kind: match self.take(2) {
                    Value::Kind(kind) => kind,
                    _ => EventKind::View,
                },
                value: self.number(3),
                ts: self.timestamp(4).unwrap_or_default(),
                session: self.text(5),
            }),
            RecordKind::Item => Record::Item(Item {
                item_id: self.text(0).unwrap_or_default(),
                title: self.text(1),
                description: self.text(2),
                brand: self.text(3),
                categories: self.list(4),
                price: self.number(5),
                available: match self.take(6) {
                    Value::Bool(b) => Some(b),
                    _ => None,
                },
                attributes: match self.take(7) {
                    Value::Attributes(map) => map,
                    _ => BTreeMap::new(),
                },
            }),
            RecordKind::Order => Record::Order(Order {
                order_id: self.text(0).unwrap_or_default(),
                line: self.integer(1),
                user_id: self.text(2).unwrap_or_default(),
                item_id: self.text(3).unwrap_or_default(),
                quantity: self.number(4).unwrap_or_default(),
                unit_price: self.number(5),
                ts: self.timestamp(6).unwrap_or_default(),
                status: self.text(7),
            }),
            RecordKind::Review => Record::Review(Review {
                user_id: self.text(0).unwrap_or_default(),
                item_id: self.text(1).unwrap_or_default(),
                rating: self.number(2),
                text: self.text(3),
                ts: self.timestamp(4),
                seq: self.integer(5),
            }),
            RecordKind::Question => {
                Record::Question(Question { user_id: self.text(0), text: self.text(1).unwrap_or_default(), ts: self.timestamp(2) })
            }
            RecordKind::Faq => Record::Faq(FaqEntry {
                faq_id: self.text(0).unwrap_or_default(),
                questions: self.list(1),
                answer: self.text(2).unwrap_or_default(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
