//! The one error type of agora-agents.

use agora_core::CoreError;

/// What can go wrong between agents.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The core failed (store, plugin, config).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A message could not reach its agent (it stopped or its mailbox closed).
    #[error("agent {agent} is unreachable: {reason}")]
    Unreachable { agent: String, reason: String },
    /// A batch named a source that is not configured for this use.
    #[error("unknown source {source_name:?}; configured: {known}")]
    UnknownSource { source_name: String, known: String },
    /// Analysis failed on the data it was given.
    #[error(transparent)]
    Analytics(#[from] agora_analytics::AnalyticsError),
    /// Building, training or loading recommendations failed.
    #[error(transparent)]
    Recommend(#[from] agora_recommend::RecommendError),
    /// Building or forecasting sales series failed.
    #[error(transparent)]
    Sales(#[from] agora_sales::SalesError),
    /// Building the QA engine or answering with it failed.
    #[error(transparent)]
    Qa(#[from] agora_qa::QaError),
    /// Entity resolution failed (training the matcher, or resolving).
    #[error(transparent)]
    Resolve(#[from] agora_resolve::ResolveError),
    /// A config value only an agent can check is invalid; the message names the key.
    #[error("invalid config: {0}")]
    Config(String),
    /// The agent has not computed what was asked for yet.
    #[error("not ready: {0}")]
    NotReady(String),
    /// A quarantined record cannot be replayed (unknown entry, or the source never parsed it).
    #[error("cannot replay: {0}")]
    Replay(String),
    /// The agent panicked while handling a message.
    #[error("agent {agent} panicked: {message}")]
    Panicked { agent: String, message: String },
}

impl AgentError {
    /// Whether this is the store having nothing to learn from yet: expected at start, not a failure.
    pub fn is_waiting_for_data(&self) -> bool {
        matches!(self, Self::Recommend(agora_recommend::RecommendError::NoData(_)) | Self::Sales(agora_sales::SalesError::NoData(_)))
    }
}
