//! The M4 seasonality test, classical multiplicative decomposition and a seasonal-adjustment wrapper.
//!
//! M4's benchmarks (Naive2, SES, Theta, ...) deseasonalise a series when its autocorrelation at
//! lag m is significant at 90% ([`seasonality_test`]), forecast the adjusted series, and multiply
//! the forecasts back by the seasonal indices ([`SeasonalAdjust`]).

use crate::forecast::{check_input, Forecast, Forecaster};
use crate::stats::acf;
use crate::Result;

/// M4's seasonality test: at least 3 seasons of data and |r_m| > 1.645 · sqrt((1 + 2 Σ_{k<m} r_k²) / n).
pub fn seasonality_test(y: &[f64], m: usize) -> bool {
    if m < 2 || y.len() < 3 * m {
        return false;
    }
    let r = acf(y, m);
    let s: f64 = r[..m - 1].iter().map(|v| v * v).sum();
    let limit = 1.645 * ((1.0 + 2.0 * s) / y.len() as f64).sqrt();
    r[m - 1].abs() > limit
}

/// Classical multiplicative decomposition's seasonal indices (R's `decompose(type = "multiplicative")`):
/// the mean ratio of y to its centred moving average at each position t mod m, normalised to mean 1.
/// Index `i` applies to every t with t mod m = i. `None` when there are fewer than 2 seasons or a
/// moving average is not positive.
pub fn multiplicative_indices(y: &[f64], m: usize) -> Option<Vec<f64>> {
    let n = y.len();
    if m < 2 || n < 2 * m {
        return None;
    }
    let half = m / 2;
    let mut sums = vec![0.0; m];
    let mut counts = vec![0usize; m];
    for t in half..n.saturating_sub(half) {
        let trend = if m % 2 == 0 {
            if t + half >= n {
                continue;
            }
            (0.5 * y[t - half] + y[t - half + 1..t + half].iter().sum::<f64>() + 0.5 * y[t + half]) / m as f64
        } else {
            y[t - half..=t + half].iter().sum::<f64>() / m as f64
        };
        if trend <= 0.0 {
            return None;
        }
        sums[t % m] += y[t] / trend;
        counts[t % m] += 1;
    }
    if counts.contains(&0) {
        return None;
    }
    let fig: Vec<f64> = sums.iter().zip(&counts).map(|(s, &c)| s / c as f64).collect();
    let avg = fig.iter().sum::<f64>() / m as f64;
    Some(fig.iter().map(|f| f / avg).collect())
}

/// The seasonal indices M4 would use for `y`: `Some` when `y` is positive, passes
/// [`seasonality_test`] and decomposes.
pub fn m4_indices(y: &[f64], m: usize) -> Option<Vec<f64>> {
    if y.iter().all(|&v| v > 0.0) && seasonality_test(y, m) {
        multiplicative_indices(y, m)
    } else {
        None
    }
}

/// Wraps a model: deseasonalises like M4 (when the test detects seasonality at lag m), forecasts
/// with the inner model and re-seasonalises; otherwise forecasts the raw series.
#[derive(Clone, Debug)]
pub struct SeasonalAdjust<F> {
    /// The model of the adjusted series.
    pub inner: F,
    /// The season length m (1: never adjust).
    pub season_length: usize,
}

impl<F: Forecaster> SeasonalAdjust<F> {
    /// Wraps `inner` with season length `season_length`.
    pub fn new(inner: F, season_length: usize) -> Self {
        Self { inner, season_length }
    }
}

impl<F: Forecaster> Forecaster for SeasonalAdjust<F> {
    fn name(&self) -> String {
        format!("SA{}:{}", self.season_length, self.inner.name())
    }

    fn forecast(&self, y: &[f64], horizon: usize) -> Result<Forecast> {
        check_input(y, horizon)?;
        let m = self.season_length;
        let Some(idx) = m4_indices(y, m) else {
            return self.inner.forecast(y, horizon);
        };
        let n = y.len();
        let adjusted: Vec<f64> = y.iter().enumerate().map(|(t, v)| v / idx[t % m]).collect();
        let factors: Vec<f64> = (0..horizon).map(|h| idx[(n + h) % m]).collect();
        let mut f = self.inner.forecast(&adjusted, horizon)?.scale(&factors);
        f.model = format!("SA{m}:{}", f.model);
        Ok(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seasonal_series() -> Vec<f64> {
        (0..84).map(|t| 100.0 + 0.1 * t as f64 + [10.0, -5.0, 0.0, 3.0, -8.0, 20.0, -20.0][t % 7]).collect()
    }

    #[test]
    fn detects_a_weekly_season_and_not_noise() {
        assert!(seasonality_test(&seasonal_series(), 7));
        let trend: Vec<f64> = (0..84).map(|t| t as f64).collect();
        assert!(!seasonality_test(&trend[..20], 7), "fewer than 3 seasons is never seasonal");
    }

    #[test]
    fn indices_recover_the_pattern_and_average_one() {
        let idx = multiplicative_indices(&seasonal_series(), 7).unwrap();
        assert!((idx.iter().sum::<f64>() / 7.0 - 1.0).abs() < 1e-12);
        assert!(idx[5] > 1.1 && idx[6] < 0.9);
        // Even m uses the 2×m moving average.
        let y: Vec<f64> = (0..40).map(|t| if t % 2 == 0 { 12.0 } else { 8.0 }).collect();
        let idx = multiplicative_indices(&y, 2).unwrap();
        assert!((idx[0] - 1.2).abs() < 1e-12 && (idx[1] - 0.8).abs() < 1e-12);
    }
}
