//! Agora's configuration: serde structs with defaults, file < environment layering, and
//! validation that reports every problem at once with the key it concerns.

mod console;
mod forecast;
mod qa;
mod recommend;
mod resolve;
mod source;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CoreError;

pub use console::{parse_password_hash, ConsoleConfig, PasswordHash, PASSWORD_HASH_SCHEME};
pub use forecast::ForecastConfig;
pub use qa::{EncoderChoice, QaClient, QaConfig};
pub use recommend::RecommendConfig;
pub use resolve::ResolveConfig;
pub use source::{FieldMapping, FieldOptions, IdRules, MissingPolicy, SourceConfig, PUSH_PLUGIN};

/// The config format version this build reads.
pub const CONFIG_VERSION: u32 = 1;

/// Prefix of environment variables that override config keys: `AGORA__STORE__PATH=/x` sets
/// `store.path`; `__` separates the levels.
pub const ENV_PREFIX: &str = "AGORA__";

/// The whole configuration of one Agora node.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgoraConfig {
    /// Config format version; must be 1.
    #[serde(default = "default_version")]
    pub version: u32,
    #[serde(default)]
    pub store: StoreConfig,
    #[serde(default)]
    pub plugins: PluginsConfig,
    #[serde(default)]
    pub ingest: IngestConfig,
    #[serde(default)]
    pub clean: CleanConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub analytics: AnalyticsConfig,
    #[serde(default)]
    pub recommend: RecommendConfig,
    #[serde(default)]
    pub forecast: ForecastConfig,
    #[serde(default)]
    pub qa: QaConfig,
    #[serde(default)]
    pub console: ConsoleConfig,
    #[serde(default)]
    pub resolve: ResolveConfig,
    /// Data sources by name.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
}

fn default_version() -> u32 {
    CONFIG_VERSION
}

impl Default for AgoraConfig {
    fn default() -> Self {
        Self {
            version: CONFIG_VERSION,
            store: StoreConfig::default(),
            plugins: PluginsConfig::default(),
            ingest: IngestConfig::default(),
            clean: CleanConfig::default(),
            server: ServerConfig::default(),
            analytics: AnalyticsConfig::default(),
            recommend: RecommendConfig::default(),
            forecast: ForecastConfig::default(),
            qa: QaConfig::default(),
            console: ConsoleConfig::default(),
            resolve: ResolveConfig::default(),
            sources: BTreeMap::new(),
        }
    }
}

/// Where and how state is stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The sled directory.
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// sled's page cache size in MiB.
    #[serde(default = "default_cache_mb")]
    pub cache_mb: u64,
    /// Also keep each accepted record's raw fields (as read) in the raw tree.
    #[serde(default = "default_true")]
    pub keep_raw: bool,
}

fn default_store_path() -> PathBuf {
    PathBuf::from("data/agora.sled")
}
fn default_cache_mb() -> u64 {
    256
}
fn default_true() -> bool {
    true
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { path: default_store_path(), cache_mb: default_cache_mb(), keep_raw: true }
    }
}

/// Where plugins may be loaded from.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginsConfig {
    /// Directories searched for plugin libraries; nothing outside them is ever loaded.
    #[serde(default = "default_plugin_dirs")]
    pub dirs: Vec<PathBuf>,
}

/// The workspace's build outputs, and the libtorch plugin's own (it is a workspace of its own).
fn default_plugin_dirs() -> Vec<PathBuf> {
    ["target/release", "target/debug", "plugins/model-torch/target/release"].map(PathBuf::from).to_vec()
}

impl Default for PluginsConfig {
    fn default() -> Self {
        Self { dirs: default_plugin_dirs() }
    }
}

/// How sources are polled.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Most records asked of a source in one poll (one batch).
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// Batches a source may have sent but not yet committed; the bound that gives back-pressure.
    #[serde(default = "default_in_flight")]
    pub in_flight_batches: usize,
    /// Pause between polls of a source that is caught up, in milliseconds.
    #[serde(default = "default_poll_interval")]
    pub poll_interval_ms: u64,
    /// A poll running longer than this fails its agent (a hung plugin), in milliseconds.
    #[serde(default = "default_poll_timeout")]
    pub poll_timeout_ms: u64,
    /// First delay before restarting a failed agent; doubles up to `max_restart_backoff_ms`.
    #[serde(default = "default_backoff")]
    pub restart_backoff_ms: u64,
    #[serde(default = "default_max_backoff")]
    pub max_restart_backoff_ms: u64,
    /// With `--once`, a source that failed this many times is given up on.
    #[serde(default = "default_once_restarts")]
    pub once_max_restarts: u32,
}

fn default_batch_size() -> u32 {
    4096
}
fn default_in_flight() -> usize {
    2
}
fn default_poll_interval() -> u64 {
    500
}
fn default_poll_timeout() -> u64 {
    30_000
}
fn default_backoff() -> u64 {
    200
}
fn default_max_backoff() -> u64 {
    10_000
}
fn default_once_restarts() -> u32 {
    3
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            batch_size: default_batch_size(),
            in_flight_batches: default_in_flight(),
            poll_interval_ms: default_poll_interval(),
            poll_timeout_ms: default_poll_timeout(),
            restart_backoff_ms: default_backoff(),
            max_restart_backoff_ms: default_max_backoff(),
            once_max_restarts: default_once_restarts(),
        }
    }
}

/// How outliers on price and quantity are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutlierMethod {
    /// |x − median| / (1.4826 · MAD) above the threshold.
    RobustZ,
    /// Outside [Q1 − t·IQR, Q3 + t·IQR].
    Iqr,
}

/// Cleaning defaults shared by all sources.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CleanConfig {
    /// IANA zone (or `UTC`) for timestamps that carry no zone.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    #[serde(default = "default_outlier_method")]
    pub outlier_method: OutlierMethod,
    /// Robust z-score above which (or IQR multiple beyond which) a value is flagged.
    #[serde(default = "default_outlier_threshold")]
    pub outlier_threshold: f64,
    /// Longest text field accepted, in characters; longer records are quarantined.
    #[serde(default = "default_max_text_len")]
    pub max_text_len: usize,
    /// Separator that splits list fields given as text (categories).
    #[serde(default = "default_list_separator")]
    pub list_separator: String,
}

fn default_timezone() -> String {
    "UTC".to_string()
}
fn default_outlier_method() -> OutlierMethod {
    OutlierMethod::RobustZ
}
fn default_outlier_threshold() -> f64 {
    3.5
}
fn default_max_text_len() -> usize {
    10_000
}
fn default_list_separator() -> String {
    "|".to_string()
}

impl Default for CleanConfig {
    fn default() -> Self {
        Self {
            timezone: default_timezone(),
            outlier_method: default_outlier_method(),
            outlier_threshold: default_outlier_threshold(),
            max_text_len: default_max_text_len(),
            list_separator: default_list_separator(),
        }
    }
}

/// The HTTP server of `agora serve`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Address to listen on.
    #[serde(default = "default_bind")]
    pub bind: String,
    /// Largest request body accepted, in bytes.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Bearer token required by `POST /api/v1/ingest/{source}`; unset means push ingestion is off.
    #[serde(default)]
    pub ingest_token: Option<String>,
}

fn default_bind() -> String {
    "127.0.0.1:7700".to_string()
}
fn default_max_body() -> usize {
    8 * 1024 * 1024
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { bind: default_bind(), max_body_bytes: default_max_body(), ingest_token: None }
    }
}

/// User-behaviour analysis: sessions, funnels, cohorts, RFM segments and lifetime value.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsConfig {
    /// How often the Analyst recomputes everything from the store, in milliseconds.
    #[serde(default = "default_refresh_ms")]
    pub refresh_ms: u64,
    /// A user's events more than this apart start a new session, in minutes.
    #[serde(default = "default_session_gap")]
    pub session_gap_minutes: u64,
    /// Predictions (expected purchases, CLV) look this far ahead, in weeks.
    #[serde(default = "default_horizon")]
    pub horizon_weeks: f64,
    /// Category level funnels are grouped by (1: the top of "Beauty > Skin care").
    #[serde(default = "default_category_depth")]
    pub category_depth: usize,
    /// Order statuses that are not purchases.
    #[serde(default = "default_excluded_statuses")]
    pub excluded_statuses: Vec<String>,
    /// RFM segments, tried in order (`{ name = "champions", rule = "r >= 4 && f >= 4" }`);
    /// empty means the built-in ten segments.
    #[serde(default)]
    pub segments: Vec<SegmentRuleConfig>,
    /// The segment of customers no rule matches.
    #[serde(default = "default_fallback_segment")]
    pub fallback_segment: String,
}

/// One RFM segment rule: scores r, f, m are 1-5; `&&`, `||`, comparisons and parentheses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentRuleConfig {
    pub name: String,
    pub rule: String,
}

fn default_refresh_ms() -> u64 {
    10_000
}
fn default_session_gap() -> u64 {
    30
}
fn default_horizon() -> f64 {
    52.0
}
fn default_category_depth() -> usize {
    1
}
fn default_excluded_statuses() -> Vec<String> {
    ["cancelled", "canceled", "refunded", "returned"].map(String::from).to_vec()
}
fn default_fallback_segment() -> String {
    "other".to_string()
}

impl Default for AnalyticsConfig {
    fn default() -> Self {
        Self {
            refresh_ms: default_refresh_ms(),
            session_gap_minutes: default_session_gap(),
            horizon_weeks: default_horizon(),
            category_depth: default_category_depth(),
            excluded_statuses: default_excluded_statuses(),
            segments: Vec::new(),
            fallback_segment: default_fallback_segment(),
        }
    }
}

impl AgoraConfig {
    /// Reads `path` (or starts from defaults when `None`), applies `AGORA__*` overrides from
    /// `env`, and validates.
    ///
    /// # Errors
    /// [`CoreError::Config`] listing every problem with the key it concerns.
    pub fn load(path: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, CoreError> {
        let table = match path {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|err| CoreError::Config(format!("cannot read config file {}: {err}", path.display())))?;
                parse_table(&text).map_err(|err| CoreError::Config(format!("{}: {err}", path.display())))?
            }
            None => toml::Table::new(),
        };
        Self::from_table(table, env)
    }

    /// Parses config text without environment overrides, as tests and examples do.
    ///
    /// # Errors
    /// As [`AgoraConfig::load`].
    pub fn from_toml_str(text: &str) -> Result<Self, CoreError> {
        let table = parse_table(text).map_err(CoreError::Config)?;
        Self::from_table(table, std::iter::empty())
    }

    fn from_table(mut table: toml::Table, env: impl IntoIterator<Item = (String, String)>) -> Result<Self, CoreError> {
        apply_env_overrides(&mut table, env)?;
        let config: AgoraConfig = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|err| {
            let key = err.path().to_string();
            CoreError::Config(format!("{key}: {}", err.into_inner()))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what serde cannot: versions, references between keys, policies that fit the type.
    ///
    /// # Errors
    /// [`CoreError::Config`] with one line per problem.
    pub fn validate(&self) -> Result<(), CoreError> {
        let mut problems = Vec::new();
        if self.version != CONFIG_VERSION {
            problems.push(format!("version: {} is not supported; this build reads version {CONFIG_VERSION}", self.version));
        }
        if self.ingest.batch_size == 0 {
            problems.push("ingest.batch_size: must be at least 1".to_string());
        }
        if self.ingest.in_flight_batches == 0 {
            problems.push("ingest.in_flight_batches: must be at least 1".to_string());
        }
        if !self.clean.outlier_threshold.is_finite() || self.clean.outlier_threshold <= 0.0 {
            problems.push("clean.outlier_threshold: must be a positive number".to_string());
        }
        if crate::clean::parse_timezone(&self.clean.timezone).is_none() {
            problems
                .push(format!("clean.timezone: unknown zone {:?}; use an IANA name like \"Europe/Paris\" or \"UTC\"", self.clean.timezone));
        }
        if self.analytics.refresh_ms == 0 {
            problems.push("analytics.refresh_ms: must be at least 1".to_string());
        }
        if !(self.analytics.horizon_weeks.is_finite() && self.analytics.horizon_weeks > 0.0) {
            problems.push("analytics.horizon_weeks: must be a positive number of weeks".to_string());
        }
        if self.plugins.dirs.is_empty() {
            problems.push("plugins.dirs: list at least one directory plugins may be loaded from".to_string());
        }
        self.recommend.validate(&mut problems);
        self.forecast.validate(&mut problems);
        self.qa.validate(&mut problems);
        self.console.validate(&mut problems);
        self.resolve.validate(&mut problems);
        for (name, source) in &self.sources {
            source.validate(&format!("sources.{name}"), &mut problems);
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CoreError::Config(problems.join("\n")))
        }
    }
}

fn parse_table(text: &str) -> Result<toml::Table, String> {
    text.parse::<toml::Table>().map_err(|err| err.to_string())
}

/// Applies `AGORA__A__B=value` variables onto the parsed file. Values parse as TOML when they
/// can (numbers, booleans, arrays) and are strings otherwise.
fn apply_env_overrides(table: &mut toml::Table, env: impl IntoIterator<Item = (String, String)>) -> Result<(), CoreError> {
    for (name, raw) in env {
        let Some(path) = name.strip_prefix(ENV_PREFIX) else { continue };
        let keys: Vec<String> = path.split("__").map(str::to_ascii_lowercase).collect();
        if keys.iter().any(String::is_empty) {
            return Err(CoreError::Config(format!("{name}: empty key segment in environment override")));
        }
        let value = parse_env_value(&raw);
        let mut node = &mut *table;
        for key in &keys[..keys.len() - 1] {
            let entry = node.entry(key.clone()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            node = entry
                .as_table_mut()
                .ok_or_else(|| CoreError::Config(format!("{name}: `{key}` is not a table, cannot override below it")))?;
        }
        node.insert(keys[keys.len() - 1].clone(), value);
    }
    Ok(())
}

fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut table| table.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [sources.orders]
        plugin = "csv"
        record = "order"
        params = { path = "orders.csv" }
        dedup_key = ["order_id", "line"]
        fields = { order_id = "id", line = "line", user_id = "customer", item_id = "sku", quantity = "qty", ts = "date" }
    "#;

    #[test]
    fn minimal_config_gets_defaults() {
        let config = AgoraConfig::from_toml_str(MINIMAL).unwrap();
        assert_eq!(config.ingest.batch_size, 4096);
        assert_eq!(config.sources["orders"].dedup_key, vec!["order_id", "line"]);
    }

    #[test]
    fn unknown_key_is_named_with_its_path_and_the_valid_keys() {
        let err = AgoraConfig::from_toml_str("[ingest]\nbatch_sise = 3\n").unwrap_err().to_string();
        assert!(err.contains("ingest"), "{err}");
        assert!(err.contains("batch_sise"), "{err}");
        assert!(err.contains("batch_size"), "{err}");
    }

    #[test]
    fn bad_enum_value_lists_the_valid_ones() {
        let text = MINIMAL.replace("record = \"order\"", "record = \"ordr\"");
        let err = AgoraConfig::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("sources.orders.record"), "{err}");
        assert!(err.contains("order"), "{err}");
    }

    #[test]
    fn semantic_problems_are_all_reported_at_once() {
        let text = format!("version = 2\n[clean]\ntimezone = \"Mars/Base\"\n{MINIMAL}")
            .replace("quantity = \"qty\", ", "")
            .replace("line = \"line\"", "lien = \"line\"");
        let err = AgoraConfig::from_toml_str(&text).unwrap_err().to_string();
        assert!(err.contains("version: 2"), "{err}");
        assert!(err.contains("clean.timezone"), "{err}");
        assert!(err.contains("sources.orders.fields.lien"), "{err}");
        assert!(err.contains("sources.orders.fields.quantity"), "{err}");
    }

    #[test]
    fn environment_overrides_file_values() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.toml");
        std::fs::write(&file, MINIMAL).unwrap();
        let env = vec![
            ("AGORA__INGEST__BATCH_SIZE".to_string(), "17".to_string()),
            ("AGORA__STORE__PATH".to_string(), "/tmp/x.sled".to_string()),
            ("UNRELATED".to_string(), "1".to_string()),
        ];
        let config = AgoraConfig::load(Some(&file), env).unwrap();
        assert_eq!(config.ingest.batch_size, 17);
        assert_eq!(config.store.path, PathBuf::from("/tmp/x.sled"));
    }
}
