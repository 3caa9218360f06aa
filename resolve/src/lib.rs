//! agora-resolve: entity resolution across sources, in pure Rust and without actors, sled or HTTP.
//! Everything here is synchronous and single-threaded; callers run it on worker threads.
//!
//! - [`record`]: the entity being matched (source, id, fields, timestamp);
//! - [`text`]: normalisation, tokens, model numbers, string similarities, TF-IDF;
//! - [`blocking`]: token blocking, sorted neighbourhood and embedding nearest neighbours;
//! - [`features`]: the pairwise feature vector of two entities;
//! - [`logistic`], [`gbt`], [`matcher`]: the learned matchers, threshold choice and metrics;
//! - [`pipeline`]: training a matcher, then block → score → cluster → golden records;
//! - [`feedback`]: operators' accepted and rejected matches (overrides, cannot-links, training data);
//! - [`cluster`]: transitive closure over accepted pairs with a conflict check;
//! - [`golden`]: golden records whose every field keeps its provenance, by survivorship rules;
//! - [`ditto`], [`generate`]: the Ditto pair format and generated products with planted matches.

pub mod blocking;
pub mod cluster;
pub mod ditto;
pub mod features;
pub mod feedback;
pub mod gbt;
pub mod generate;
pub mod golden;
pub mod logistic;
pub mod matcher;
pub mod pipeline;
pub mod record;
pub mod text;

pub use record::Entity;

/// Everything that can go wrong in entity resolution.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A config key with a bad value; `key` is its dotted path.
    #[error("{key}: {message}")]
    Config { key: String, message: String },
    /// A line of a Ditto pair file that does not parse.
    #[error("line {line}: {message}")]
    Parse { line: usize, message: String },
    /// Training data that cannot train a model (empty, one class, mismatched lengths).
    #[error("cannot train: {0}")]
    Training(String),
    /// Inputs that do not belong together (e.g. embeddings for a different number of records).
    #[error("mismatched input: {0}")]
    Mismatch(String),
    /// The matcher that scores candidate pairs failed.
    #[error("the matcher failed: {0}")]
    Scorer(String),
    /// Reading a file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A (de)serialisation failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
}

/// The crate's result.
pub type Result<T> = std::result::Result<T, ResolveError>;
