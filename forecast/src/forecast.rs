//! The [`Forecast`] every model returns and the [`Forecaster`] trait they implement.

use serde::{Deserialize, Serialize};

use crate::stats::{Z80, Z95};
use crate::{ForecastError, Result};

/// Point forecasts for steps 1..=h ahead with 80% and 95% prediction intervals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Forecast {
    /// The point forecast for each step.
    pub mean: Vec<f64>,
    /// The lower end of the 80% interval.
    pub lower80: Vec<f64>,
    /// The upper end of the 80% interval.
    pub upper80: Vec<f64>,
    /// The lower end of the 95% interval.
    pub lower95: Vec<f64>,
    /// The upper end of the 95% interval.
    pub upper95: Vec<f64>,
    /// The model that made it, with its chosen configuration (e.g. `ETS(M,Ad,N)`).
    pub model: String,
}

impl Forecast {
    /// A forecast with Gaussian intervals `mean ± z · sd` for each step.
    pub fn from_sd(mean: Vec<f64>, sd: &[f64], model: impl Into<String>) -> Self {
        let band = |z: f64, sign: f64| mean.iter().zip(sd).map(|(m, s)| m + sign * z * s.max(0.0)).collect::<Vec<_>>();
        Self {
            lower80: band(Z80, -1.0),
            upper80: band(Z80, 1.0),
            lower95: band(Z95, -1.0),
            upper95: band(Z95, 1.0),
            mean,
            model: model.into(),
        }
    }

    /// A forecast of `value` at every step with zero-width intervals.
    pub fn constant(value: f64, horizon: usize, model: impl Into<String>) -> Self {
        Self::from_sd(vec![value; horizon], &vec![0.0; horizon], model)
    }

    /// The number of steps.
    pub fn horizon(&self) -> usize {
        self.mean.len()
    }

    /// Clamps every value at ≥ 0 (for non-negative data such as sales).
    pub fn clamp_nonnegative(mut self) -> Self {
        for v in [&mut self.mean, &mut self.lower80, &mut self.upper80, &mut self.lower95, &mut self.upper95] {
            v.iter_mut().for_each(|x| *x = x.max(0.0));
        }
        self
    }

    /// Clamps at ≥ 0 when the training data `y` is non-negative; returns the forecast unchanged otherwise.
    pub fn clamp_like(self, y: &[f64]) -> Self {
        if y.iter().all(|&v| v >= 0.0) {
            self.clamp_nonnegative()
        } else {
            self
        }
    }

    /// Multiplies every value at step `i` by `factors[i]` (re-seasonalising a forecast of adjusted data).
    pub fn scale(mut self, factors: &[f64]) -> Self {
        for v in [&mut self.mean, &mut self.lower80, &mut self.upper80, &mut self.lower95, &mut self.upper95] {
            v.iter_mut().zip(factors).for_each(|(x, f)| *x *= f);
        }
        self
    }
}

/// A model that forecasts a series `horizon` steps ahead.
pub trait Forecaster: Send + Sync {
    /// A short name of the model and its settings.
    fn name(&self) -> String;

    /// Fits the model to `y` (oldest first) and forecasts `horizon` steps.
    ///
    /// # Errors
    /// [`ForecastError::InvalidInput`] for an empty or non-finite series or a zero horizon.
    fn forecast(&self, y: &[f64], horizon: usize) -> Result<Forecast>;
}

impl<F: Forecaster + ?Sized> Forecaster for Box<F> {
    fn name(&self) -> String {
        (**self).name()
    }
    fn forecast(&self, y: &[f64], horizon: usize) -> Result<Forecast> {
        (**self).forecast(y, horizon)
    }
}

/// Checks a series and horizon: non-empty, all finite, horizon ≥ 1.
///
/// # Errors
/// [`ForecastError::InvalidInput`] otherwise.
pub fn check_input(y: &[f64], horizon: usize) -> Result<()> {
    if y.is_empty() {
        return Err(ForecastError::InvalidInput("empty series".to_string()));
    }
    if let Some(i) = y.iter().position(|v| !v.is_finite()) {
        return Err(ForecastError::InvalidInput(format!("value {i} is not finite: {}", y[i])));
    }
    if horizon == 0 {
        return Err(ForecastError::InvalidParameter { name: "horizon", value: 0.0, expected: "at least 1" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_are_nested_around_the_mean() {
        let f = Forecast::from_sd(vec![1.0, 2.0], &[1.0, 2.0], "x");
        for i in 0..2 {
            assert!(f.lower95[i] < f.lower80[i] && f.lower80[i] < f.mean[i]);
            assert!(f.mean[i] < f.upper80[i] && f.upper80[i] < f.upper95[i]);
        }
        assert!((f.upper95[0] - 1.0 - 1.959964).abs() < 1e-5);
    }

    #[test]
    fn input_is_checked() {
        assert!(check_input(&[], 1).is_err());
        assert!(check_input(&[1.0, f64::NAN], 1).is_err());
        assert!(check_input(&[1.0], 0).is_err());
        assert!(check_input(&[1.0], 1).is_ok());
    }
}
