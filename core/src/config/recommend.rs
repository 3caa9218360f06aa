//! `[recommend]`: which models the recommender blends, how it trains, and the business rules
//! applied when serving.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The recommendation pipeline (Encoder → Fuser → Recommender).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommendConfig {
    /// Train and serve recommendations under `agora serve`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The model plugin that fits the components.
    #[serde(default = "default_plugin")]
    pub plugin: String,
    /// Blend components: each is the plugin task `rec.<name>` (`plugin:name`: task `rec.<name>` of
    /// that model plugin). Their weights are chosen on the validation split (each user's
    /// second-last item), never by hand.
    #[serde(default = "default_components")]
    pub components: Vec<String>,
    /// Parameters per component, passed to the plugin's `fit` (`{ ease = { lambda = 50.0 } }`).
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Event kinds that count as interactions (orders and reviews always do).
    #[serde(default = "default_event_kinds")]
    pub event_kinds: Vec<String>,
    /// Retrain from the store this often under `agora serve`, seconds; 0 never retrains on a
    /// schedule. At start the stored model serves; with none stored, one is trained at once.
    #[serde(default = "default_retrain_every")]
    pub retrain_every_s: u64,
    /// At most this many users (a seeded sample) score blend weights on the validation split.
    #[serde(default = "default_validation_users")]
    pub validation_users: usize,
    /// Only the most recent this-many items of a history are used to score.
    #[serde(default = "default_max_history")]
    pub max_history: usize,
    /// Never recommend items whose catalogue entry says they are unavailable.
    #[serde(default = "default_true")]
    pub hide_unavailable: bool,
    /// Score multipliers by category (> 1 boosts, < 1 buries), applied when serving.
    #[serde(default)]
    pub category_boosts: BTreeMap<String, f64>,
    /// Results when a request does not say `k`, and the most it may ask for.
    #[serde(default = "default_k")]
    pub default_k: usize,
    #[serde(default = "default_max_k")]
    pub max_k: usize,
}

fn default_true() -> bool {
    true
}
fn default_plugin() -> String {
    "classic".into()
}
fn default_components() -> Vec<String> {
    ["ease", "transition", "itemknn", "attributes", "popularity"].map(String::from).to_vec()
}
fn default_event_kinds() -> Vec<String> {
    ["purchase", "cart", "review", "rating", "click", "view"].map(String::from).to_vec()
}
fn default_retrain_every() -> u64 {
    600
}
fn default_validation_users() -> usize {
    3000
}
fn default_max_history() -> usize {
    50
}
fn default_k() -> usize {
    10
}
fn default_max_k() -> usize {
    100
}

impl Default for RecommendConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            plugin: default_plugin(),
            components: default_components(),
            params: BTreeMap::new(),
            event_kinds: default_event_kinds(),
            retrain_every_s: default_retrain_every(),
            validation_users: default_validation_users(),
            max_history: default_max_history(),
            hide_unavailable: true,
            category_boosts: BTreeMap::new(),
            default_k: default_k(),
            max_k: default_max_k(),
        }
    }
}

impl RecommendConfig {
    /// Adds a message per invalid key to `problems`.
    pub fn validate(&self, problems: &mut Vec<String>) {
        if self.components.is_empty() {
            problems.push("recommend.components: list at least one component (e.g. \"ease\")".into());
        }
        for (name, params) in &self.params {
            if !self.components.contains(name) {
                problems.push(format!("recommend.params.{name}: not one of recommend.components {:?}", self.components));
            } else if !params.is_object() {
                problems.push(format!("recommend.params.{name}: must be a table of parameters"));
            }
        }
        for kind in &self.event_kinds {
            if crate::record::EventKind::parse(kind).is_none() {
                problems.push(format!("recommend.event_kinds: {kind:?} is not an event kind ({})", crate::record::EventKind::NAMES));
            }
        }
        for (category, factor) in &self.category_boosts {
            if !(factor.is_finite() && *factor > 0.0) {
                problems.push(format!("recommend.category_boosts.{category}: must be a positive multiplier, got {factor}"));
            }
        }
        if self.validation_users == 0 {
            problems.push("recommend.validation_users: must be at least 1".into());
        }
        if self.max_history == 0 {
            problems.push("recommend.max_history: must be at least 1".into());
        }
        if self.default_k == 0 || self.default_k > self.max_k {
            problems.push(format!("recommend.default_k: must be between 1 and max_k ({})", self.max_k));
        }
    }
}
