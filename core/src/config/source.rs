//! One data source's config: which plugin reads it, which record it becomes, and how columns map.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::record::{FieldType, RecordKind};

/// The built-in plugin name of a source fed by `POST /api/v1/ingest/{source}`.
pub const PUSH_PLUGIN: &str = "push";

/// A configured data source.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// The plugin that reads it (`csv`, `jsonl`, any loaded plugin's name), or `push` for records
    /// posted to the HTTP API.
    pub plugin: String,
    /// The canonical record each row becomes.
    pub record: RecordKind,
    /// The plugin's own parameters, handed to it as JSON.
    #[serde(default)]
    pub params: toml::Table,
    /// Canonical field → source column (a string), or a table of options.
    #[serde(default)]
    pub fields: BTreeMap<String, FieldMapping>,
    /// Canonical fields whose values identify a record; empty means the whole content.
    #[serde(default)]
    pub dedup_key: Vec<String>,
    /// strftime formats tried, in order, for timestamps that are neither ISO-8601 nor epoch.
    #[serde(default)]
    pub timestamp_formats: Vec<String>,
    /// Zone for zone-less timestamps of this source; defaults to `clean.timezone`.
    #[serde(default)]
    pub timezone: Option<String>,
    /// Separator for list fields given as text; defaults to `clean.list_separator`.
    #[serde(default)]
    pub list_separator: Option<String>,
    /// How this source spells ids, so variants across sources resolve to one entity.
    #[serde(default)]
    pub ids: IdRules,
    /// A disabled source is configured but not polled.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
}

fn default_enabled() -> bool {
    true
}

/// Normalisation applied to every id field of a source.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdRules {
    /// Lower-case ids.
    #[serde(default)]
    pub lowercase: bool,
    /// Prefixes removed (case-insensitively), first match only, e.g. `["SKU-", "item_"]`.
    #[serde(default)]
    pub strip_prefixes: Vec<String>,
    /// Remove leading zeros of an all-digit id (`"00042"` → `"42"`).
    #[serde(default)]
    pub trim_leading_zeros: bool,
}

/// What happens when a mapped field is missing or empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPolicy {
    /// Quarantine the record.
    Reject,
    /// Use the field's `default`.
    Default,
    /// Use the running median of the values this source has given for the field (numbers only).
    Impute,
    /// Leave it absent (optional fields only).
    Null,
}

/// How one canonical field is read.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum FieldMapping {
    /// Just the source column (dotted paths reach into nested JSON: `user.id`).
    Column(String),
    /// A column with options.
    Options(FieldOptions),
}

/// The options of a field mapping.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldOptions {
    /// Source column(s); several are tried in order, and an `attributes` field gathers them all.
    #[serde(deserialize_with = "one_or_many")]
    pub from: Vec<String>,
    /// Missing-value policy; required fields default to `reject`, optional ones to `null`.
    #[serde(default)]
    pub missing: Option<MissingPolicy>,
    /// The value used with `missing = "default"`, written as the source would write it.
    #[serde(default)]
    pub default: Option<toml::Value>,
    /// Longest text accepted for this field; defaults to `clean.max_text_len`.
    #[serde(default)]
    pub max_len: Option<usize>,
}

impl FieldMapping {
    /// The source columns, in the order they are tried.
    pub fn columns(&self) -> &[String] {
        match self {
            Self::Column(column) => std::slice::from_ref(column),
            Self::Options(options) => &options.from,
        }
    }

    /// The options, with defaults for the plain-column form.
    pub fn options(&self) -> FieldOptions {
        match self {
            Self::Column(column) => FieldOptions { from: vec![column.clone()], missing: None, default: None, max_len: None },
            Self::Options(options) => options.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for FieldMapping {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        match toml::Value::deserialize(deserializer)? {
            toml::Value::String(column) => Ok(Self::Column(column)),
            table @ toml::Value::Table(_) => FieldOptions::deserialize(table).map(Self::Options).map_err(D::Error::custom),
            other => Err(D::Error::custom(format!(
                "expected a column name or a table like {{ from = \"col\", missing = \"default\", default = \"x\" }}, found {}",
                other.type_str()
            ))),
        }
    }
}

fn one_or_many<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

impl SourceConfig {
    /// Appends this source's problems to `problems`, each prefixed by `key`.
    pub(crate) fn validate(&self, key: &str, problems: &mut Vec<String>) {
        let kind = self.record;
        let valid_fields = || kind.fields().iter().map(|spec| spec.name).collect::<Vec<_>>().join(", ");
        if self.plugin.trim().is_empty() {
            problems.push(format!("{key}.plugin: name the plugin that reads this source (csv, jsonl, push, ...)"));
        }
        for (field, mapping) in &self.fields {
            let Some(spec) = kind.field(field) else {
                problems.push(format!(
                    "{key}.fields.{field}: `{field}` is not a field of record `{}`; valid fields: {}",
                    kind.name(),
                    valid_fields()
                ));
                continue;
            };
            let options = mapping.options();
            if options.from.is_empty() {
                problems.push(format!("{key}.fields.{field}.from: name at least one source column"));
            }
            match options.missing {
                Some(MissingPolicy::Default) if options.default.is_none() => {
                    problems.push(format!("{key}.fields.{field}.default: missing = \"default\" needs a default value"));
                }
                Some(MissingPolicy::Impute) if !matches!(spec.ty, FieldType::Number | FieldType::Integer) => {
                    problems.push(format!(
                        "{key}.fields.{field}.missing: \"impute\" works on numeric fields only; use reject, default or null"
                    ));
                }
                Some(MissingPolicy::Null) if spec.required => {
                    problems.push(format!(
                        "{key}.fields.{field}.missing: `{field}` is required for `{}` records; use reject, default or impute",
                        kind.name()
                    ));
                }
                _ => {}
            }
        }
        for spec in kind.fields().iter().filter(|spec| spec.required) {
            if !self.fields.contains_key(spec.name) {
                problems.push(format!(
                    "{key}.fields.{}: required field of record `{}` is not mapped to any column",
                    spec.name,
                    kind.name()
                ));
            }
        }
        for field in &self.dedup_key {
            if kind.field(field).is_none() {
                problems.push(format!(
                    "{key}.dedup_key: `{field}` is not a field of record `{}`; valid fields: {}",
                    kind.name(),
                    valid_fields()
                ));
            }
        }
        if let Some(zone) = &self.timezone {
            if crate::clean::parse_timezone(zone).is_none() {
                problems.push(format!("{key}.timezone: unknown zone {zone:?}; use an IANA name like \"Europe/Paris\" or \"UTC\""));
            }
        }
        if self.plugin == PUSH_PLUGIN && !self.params.is_empty() {
            problems.push(format!("{key}.params: a push source takes no params"));
        }
    }
}
