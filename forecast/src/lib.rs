//! agora-forecast: classic univariate sales forecasters with 80% and 95% prediction intervals.
//!
//! Pure synchronous Rust over `&[f64]` series, usable from any thread:
//! - [`models`]: naive, seasonal naive and M4's Naive2; automatic ETS (exponential smoothing
//!   state-space models chosen by AICc); standard, optimised and dynamic Theta; Croston (SBA) and
//!   TSB for intermittent demand; and combinations ([`models::Combination`],
//!   [`models::Validated`]) of any of them;
//! - [`metrics`]: sMAPE, MASE, MSIS and OWA exactly as the M4 competition computes them;
//! - [`seasonal`]: the M4 seasonality test and classical multiplicative decomposition;
//! - [`optimize`]: the small bounded Nelder-Mead the model fits use.
//!
//! Every model implements [`Forecaster`]: `forecast(y, horizon)` returns a [`Forecast`].

pub mod error;
pub mod forecast;
pub mod metrics;
pub mod models;
pub mod optimize;
pub mod seasonal;
pub mod stats;

pub use error::ForecastError;
pub use forecast::{Forecast, Forecaster};

/// The result type of this crate.
pub type Result<T, E = ForecastError> = std::result::Result<T, E>;
