//! Naive, seasonal naive and M4's Naive2 (the seasonally adjusted naive) forecasts.

use serde::{Deserialize, Serialize};

use crate::forecast::{check_input, Forecast, Forecaster};
use crate::seasonal::SeasonalAdjust;
use crate::stats::rms;
use crate::Result;

/// The last value, repeated; intervals σ √h with σ the RMS of the one-step differences.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Naive;

impl Forecaster for Naive {
    fn name(&self) -> String {
        "Naive".to_string()
    }

    fn forecast(&self, y: &[f64], horizon: usize) -> Result<Forecast> {
        check_input(y, horizon)?;
        let last = y[y.len() - 1];
        let diffs: Vec<f64> = y.windows(2).map(|w| w[1] - w[0]).collect();
        let sigma = rms(&diffs);
        let sd: Vec<f64> = (1..=horizon).map(|h| sigma * (h as f64).sqrt()).collect();
        Ok(Forecast::from_sd(vec![last; horizon], &sd, "Naive").clamp_like(y))
    }
}

/// The value one season earlier; intervals σ √(k+1) for step h in season k = ⌊(h−1)/m⌋, σ the
/// RMS of the lag-m differences. Falls back to [`Naive`] with less than one season plus one value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeasonalNaive {
    /// The season length m.
    pub season_length: usize,
}

impl SeasonalNaive {
    /// A seasonal naive forecaster with season length `season_length`.
    pub fn new(season_length: usize) -> Self {
        Self { season_length }
    }
}

impl Forecaster for SeasonalNaive {
    fn name(&self) -> String {
        format!("SNaive({})", self.season_length)
    }

    fn forecast(&self, y: &[f64], horizon: usize) -> Result<Forecast> {
        check_input(y, horizon)?;
        let (n, m) = (y.len(), self.season_length.max(1));
        if n <= m {
            let mut f = Naive.forecast(y, horizon)?;
            f.model = format!("{}→Naive", self.name());
            return Ok(f);
        }
        let mean: Vec<f64> = (0..horizon).map(|h| y[n - m + h % m]).collect();
        let diffs: Vec<f64> = y.iter().zip(&y[m..]).map(|(a, b)| b - a).collect();
        let sigma = rms(&diffs);
        let sd: Vec<f64> = (0..horizon).map(|h| sigma * ((h / m + 1) as f64).sqrt()).collect();
        Ok(Forecast::from_sd(mean, &sd, self.name()).clamp_like(y))
    }
}

/// M4's Naive2: [`Naive`] on the series deseasonalised by classical multiplicative decomposition
/// when the 90% autocorrelation test at lag m detects seasonality (see [`crate::seasonal`]).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Naive2 {
    /// The season length m (1: plain naive, as M4 uses for Weekly).
    pub season_length: usize,
}

impl Naive2 {
    /// Naive2 with season length `season_length`.
    pub fn new(season_length: usize) -> Self {
        Self { season_length }
    }
}

impl Forecaster for Naive2 {
    fn name(&self) -> String {
        format!("Naive2({})", self.season_length)
    }

    fn forecast(&self, y: &[f64], horizon: usize) -> Result<Forecast> {
        let mut f = SeasonalAdjust::new(Naive, self.season_length).forecast(y, horizon)?;
        f.model = format!("Naive2({}):{}", self.season_length, f.model);
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_repeats_the_last_value_with_widening_intervals() {
        let f = Naive.forecast(&[1.0, 2.0, 4.0], 3).unwrap();
        assert_eq!(f.mean, vec![4.0; 3]);
        // σ = sqrt((1 + 4)/2)
        let sigma = 2.5f64.sqrt();
        assert!((f.upper95[1] - 4.0 - 1.959963984540054 * sigma * 2f64.sqrt()).abs() < 1e-9);
        assert!(f.upper95[2] - f.lower95[2] > f.upper95[0] - f.lower95[0]);
    }

    #[test]
    fn seasonal_naive_repeats_the_last_season_and_beats_naive_on_a_season() {
        let pattern = [5.0, 3.0, 4.0, 9.0, 10.0, 2.0, 1.0];
        let y: Vec<f64> = (0..70).map(|t| pattern[t % 7] + 0.01 * ((t * 37) % 11) as f64).collect();
        let (train, test) = y.split_at(56);
        let s = SeasonalNaive::new(7).forecast(train, 14).unwrap();
        let n = Naive.forecast(train, 14).unwrap();
        let mase = |f: &Forecast| crate::metrics::mase(train, test, &f.mean, 1).unwrap();
        assert!(mase(&s) < 0.1 * mase(&n));
        assert_eq!(s.mean[0], train[49]);
    }

    #[test]
    fn short_and_constant_series_fall_back() {
        let f = SeasonalNaive::new(7).forecast(&[3.0, 4.0], 2).unwrap();
        assert!(f.model.contains("Naive") && f.mean == vec![4.0, 4.0]);
        let f = Naive2::new(7).forecast(&[5.0; 30], 3).unwrap();
        assert_eq!(f.mean, vec![5.0; 3]);
        assert_eq!(f.lower95, f.upper95);
        let f = Naive.forecast(&[1.0], 2).unwrap();
        assert_eq!(f.mean, vec![1.0, 1.0]);
    }
}
