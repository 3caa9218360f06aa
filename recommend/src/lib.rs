//! agora-recommend: the recommendation engine behind the Encoder, Fuser and Recommender agents
//! and `agora eval recommend`. No actors and no HTTP here: plain functions over the store and
//! the model plugins, so the code that is evaluated is the code that serves.
//!
//! - [`dataset`]: the store's items, events, orders and reviews as dense-id user histories.
//! - [`features`]: the items' numeric features (price, counts, recency) for the model plugins.
//! - [`split`]: leave-one-out validation and test splits.
//! - [`blend`]: score normalisation and blend weights chosen on validation data.
//! - [`fused`]: the served model: loaded component snapshots, their weights, business rules, reasons.
//! - [`plugins`]: the model plugins the components come from.
//! - [`train`]: fitting the components through the model plugins and choosing the weights.
//! - [`evaluate`]: HR@k, NDCG@k and MRR under the full-ranking and sampled-negatives protocols.

pub mod blend;
pub mod dataset;
pub mod error;
pub mod evaluate;
pub mod features;
pub mod fused;
pub mod plugins;
pub mod split;
pub mod train;

pub use dataset::{Catalog, Dataset};
pub use error::RecommendError;
pub use fused::{FusedModel, RecommendRequest, Recommendation};
pub use plugins::ModelPlugins;
