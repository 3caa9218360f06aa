//! The forecasting models, one module each, all implementing [`crate::Forecaster`].

pub mod croston;
pub mod ensemble;
pub mod ets;
pub mod naive;
pub mod theta;

pub use croston::{Croston, Tsb};
pub use ensemble::{agora, combine, Combination, Combine, Validated};
pub use ets::{ErrorType, Ets, EtsSpec, SeasonType, TrendType};
pub use naive::{Naive, Naive2, SeasonalNaive};
pub use theta::{Theta, ThetaVariant};
