//! The one error type of agora-analytics.

/// Everything that can go wrong in the analytics.
#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The input data cannot be used (empty, negative ages, recency after age, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A model parameter is out of its domain; the message names it and its valid range.
    #[error("invalid parameter {name} = {value}: {expected}")]
    InvalidParameter {
        /// The parameter's name (`r`, `alpha`, ...).
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// What the parameter must be.
        expected: &'static str,
    },
    /// An analytics configuration is invalid; the message names each bad entry.
    #[error("invalid config:\n{0}")]
    Config(String),
    /// A text input (a transaction log, a summary CSV) did not parse; `line` is 1-based.
    #[error("parse error on line {line}: {message}")]
    Parse {
        /// The 1-based line of the input.
        line: usize,
        /// What was wrong with it.
        message: String,
    },
    /// A fit found no point where the likelihood is finite.
    #[error("fit failed: {0}")]
    Fit(String),
}
