//! The QA engine's error type.

use agora_core::CoreError;

/// Everything that can go wrong building the QA engine or answering with it.
#[derive(Debug, thiserror::Error)]
pub enum QaError {
    #[error(transparent)]
    Core(#[from] CoreError),
    #[error("the text encoder failed: {0}")]
    Encoder(String),
    #[error("intent examples {file}: {message}")]
    Examples { file: String, message: String },
    #[error("cannot train the intent classifier: {0}")]
    Training(String),
    #[error("invalid question: {0}")]
    InvalidQuestion(String),
}
