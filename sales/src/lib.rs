//! agora-sales: the sales forecasting engine behind the Forecaster agent and `GET /api/v1/forecasts`.
//!
//! - [`series`]: daily and weekly units and revenue per item, per category and for the whole
//!   shop, built from canonical orders (and, if configured, purchase events), with explicit zeros;
//! - [`forecasts`]: forecasts every series through a model plugin's `forecast.*` task, gives new
//!   and short-lived items a share of their category's forecast, and keeps the result with the
//!   model and data versions it came from;
//! - [`ensemble`]: the mean of several plugins' forecasts, its members chosen on held-out values.

pub mod ensemble;
pub mod error;
pub mod forecasts;
pub mod series;

pub use error::SalesError;
pub use forecasts::{ForecastSet, SeriesForecast};
pub use series::{Granularity, Metric, SalesData, Scope};
