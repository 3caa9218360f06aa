//! The error type of the sales forecasting engine.

use agora_core::CoreError;

/// What can go wrong building series or forecasting them.
#[derive(Debug, thiserror::Error)]
pub enum SalesError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("no sales to forecast from: {0}")]
    NoData(String),
    #[error("the model plugin answered something unexpected: {0}")]
    BadResponse(String),
    #[error("{0}")]
    Config(String),
}
