//! The one error type of agora-forecast.

/// Everything that can go wrong in a forecast or a metric.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// The input series cannot be used (empty, non-finite values, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A model or metric setting is out of its domain.
    #[error("invalid parameter {name} = {value}: {expected}")]
    InvalidParameter {
        /// The parameter's name (`horizon`, `season_length`, ...).
        name: &'static str,
        /// The rejected value.
        value: f64,
        /// What the parameter must be.
        expected: &'static str,
    },
    /// Two slices that must have the same length do not.
    #[error("length mismatch: {what} has {got} values, expected {expected}")]
    LengthMismatch {
        /// Which input.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length required.
        expected: usize,
    },
}
