//! agora-analytics: the math of user-behaviour analysis, as plain synchronous functions over slices of canonical records.
//!
//! Two halves, both pure Rust without actors, I/O or HTTP, usable from any thread:
//! - [`clv`]: customer-lifetime-value models on per-customer summaries (BG/NBD, Pareto/NBD,
//!   Gamma-Gamma), their maximum-likelihood fits and conditional predictions;
//! - [`behaviour`]: sessions, view → cart → purchase funnels, retention cohorts and RFM segments
//!   over [`agora_core::record::Event`]s and [`agora_core::record::Order`]s, plus an incremental
//!   [`behaviour::BehaviourIndex`] that accumulates batches and answers the same queries.

pub mod behaviour;
pub mod calendar;
pub mod clv;
pub mod error;
pub mod profile;
pub mod special;

pub use error::AnalyticsError;

/// The result type of this crate.
pub type Result<T, E = AnalyticsError> = std::result::Result<T, E>;
