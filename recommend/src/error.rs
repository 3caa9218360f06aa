//! The error type of the recommendation engine.

use agora_core::CoreError;

/// What can go wrong building, training, serving or evaluating recommendations.
#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("the model plugin answered something unexpected: {0}")]
    BadResponse(String),
    #[error("no interactions to learn from: {0}")]
    NoData(String),
    #[error("unknown {kind} {id:?}")]
    Unknown { kind: &'static str, id: String },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}
