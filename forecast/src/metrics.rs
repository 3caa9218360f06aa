//! M4 accuracy measures: sMAPE, MASE, MSIS per series, their averages and OWA relative to Naive2.
//!
//! As in the M4 competition (Makridakis et al., IJF 2020): sMAPE = 200/h Σ |y−f| / (|y|+|f|);
//! MASE and MSIS divide by the in-sample mean absolute seasonal-naive error with season m
//! (m = 1 for M4 Weekly); MSIS is the Gneiting–Raftery interval score of the 95% interval
//! (α = 0.05); OWA = ½ (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2) on the *averages* over series.

use serde::{Deserialize, Serialize};

use crate::forecast::Forecast;
use crate::{ForecastError, Result};

fn same_len(what: &'static str, got: usize, expected: usize) -> Result<()> {
    if got == expected {
        Ok(())
    } else {
        Err(ForecastError::LengthMismatch { what, got, expected })
    }
}

/// The symmetric MAPE in percent; a step with y = f = 0 counts as 0.
///
/// # Errors
/// [`ForecastError::LengthMismatch`] when the slices differ in length, [`ForecastError::InvalidInput`] when empty.
pub fn smape(actual: &[f64], forecast: &[f64]) -> Result<f64> {
    same_len("forecast", forecast.len(), actual.len())?;
    if actual.is_empty() {
        return Err(ForecastError::InvalidInput("no actual values".to_string()));
    }
    let s: f64 = actual
        .iter()
        .zip(forecast)
        .map(|(y, f)| {
            let d = y.abs() + f.abs();
            if d == 0.0 {
                0.0
            } else {
                2.0 * (y - f).abs() / d
            }
        })
        .sum();
    Ok(100.0 * s / actual.len() as f64)
}

/// The MASE/MSIS scale: the mean of |y_t − y_{t−m}| over the in-sample data.
///
/// # Errors
/// [`ForecastError::InvalidInput`] when the in-sample data has no more than m values.
pub fn seasonal_naive_scale(insample: &[f64], m: usize) -> Result<f64> {
    let m = m.max(1);
    if insample.len() <= m {
        return Err(ForecastError::InvalidInput(format!("{} in-sample values give no seasonal difference at lag {m}", insample.len())));
    }
    let s: f64 = insample.iter().zip(&insample[m..]).map(|(a, b)| (b - a).abs()).sum();
    Ok(s / (insample.len() - m) as f64)
}

/// The mean absolute scaled error (infinite when the in-sample data is constant and the forecast is not exact).
///
/// # Errors
/// As [`smape`] and [`seasonal_naive_scale`].
pub fn mase(insample: &[f64], actual: &[f64], forecast: &[f64], m: usize) -> Result<f64> {
    same_len("forecast", forecast.len(), actual.len())?;
    let scale = seasonal_naive_scale(insample, m)?;
    let mae = actual.iter().zip(forecast).map(|(y, f)| (y - f).abs()).sum::<f64>() / actual.len().max(1) as f64;
    Ok(if mae == 0.0 { 0.0 } else { mae / scale })
}

/// The mean scaled interval score of a (1 − α) interval [lower, upper]:
/// mean of (U − L) + 2/α (L − y) 1{y < L} + 2/α (y − U) 1{y > U}, divided by the MASE scale.
///
/// # Errors
/// As [`mase`].
pub fn msis(insample: &[f64], actual: &[f64], lower: &[f64], upper: &[f64], m: usize, alpha: f64) -> Result<f64> {
    same_len("lower", lower.len(), actual.len())?;
    same_len("upper", upper.len(), actual.len())?;
    let scale = seasonal_naive_scale(insample, m)?;
    let s: f64 = actual
        .iter()
        .zip(lower.iter().zip(upper))
        .map(|(&y, (&l, &u))| (u - l) + 2.0 / alpha * ((l - y).max(0.0) + (y - u).max(0.0)))
        .sum();
    let mean = s / actual.len().max(1) as f64;
    Ok(if mean == 0.0 { 0.0 } else { mean / scale })
}

/// The three M4 scores of one series' forecast.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesScores {
    /// sMAPE in percent.
    pub smape: f64,
    /// MASE.
    pub mase: f64,
    /// MSIS of the 95% interval.
    pub msis: f64,
}

/// Scores a forecast against the actual values, with MASE/MSIS season `m`.
///
/// # Errors
/// As [`mase`].
pub fn score(insample: &[f64], actual: &[f64], forecast: &Forecast, m: usize) -> Result<SeriesScores> {
    Ok(SeriesScores {
        smape: smape(actual, &forecast.mean)?,
        mase: mase(insample, actual, &forecast.mean, m)?,
        msis: msis(insample, actual, &forecast.lower95, &forecast.upper95, m, 0.05)?,
    })
}

/// The averages of [`SeriesScores`] over series.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Mean sMAPE.
    pub smape: f64,
    /// Mean MASE.
    pub mase: f64,
    /// Mean MSIS.
    pub msis: f64,
    /// The number of series.
    pub series: usize,
}

impl Summary {
    /// The means of the scores (NaN for none).
    pub fn of(scores: &[SeriesScores]) -> Self {
        let n = scores.len() as f64;
        Self {
            smape: scores.iter().map(|s| s.smape).sum::<f64>() / n,
            mase: scores.iter().map(|s| s.mase).sum::<f64>() / n,
            msis: scores.iter().map(|s| s.msis).sum::<f64>() / n,
            series: scores.len(),
        }
    }

    /// The OWA of these averages relative to Naive2's averages.
    pub fn owa(&self, naive2: &Summary) -> f64 {
        owa(self.smape, self.mase, naive2.smape, naive2.mase)
    }
}

/// M4's overall weighted average: ½ (sMAPE / sMAPE_Naive2 + MASE / MASE_Naive2).
pub fn owa(smape: f64, mase: f64, naive2_smape: f64, naive2_mase: f64) -> f64 {
    0.5 * (smape / naive2_smape + mase / naive2_mase)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EPS: f64 = 1e-12;

    #[test]
    fn smape_by_hand() {
        // 100/3 · (2·1/3 + 0 + 2·1/5) = 35.5556
        let s = smape(&[1.0, 2.0, 3.0], &[2.0, 2.0, 2.0]).unwrap();
        assert!((s - 100.0 / 3.0 * (2.0 / 3.0 + 0.4)).abs() < EPS);
        assert_eq!(smape(&[0.0], &[0.0]).unwrap(), 0.0);
        assert_eq!(smape(&[1.0], &[-1.0]).unwrap(), 200.0);
        assert!(smape(&[1.0], &[1.0, 2.0]).is_err());
    }

    #[test]
    fn mase_by_hand() {
        // scale m=1: |2-1|,|4-2|,|7-4| → 2; MAE (1+0+1)/3 → MASE 1/3
        let insample = [1.0, 2.0, 4.0, 7.0];
        assert!((mase(&insample, &[1.0, 2.0, 3.0], &[2.0, 2.0, 2.0], 1).unwrap() - 1.0 / 3.0).abs() < EPS);
        // m=2: |4-1|,|7-2| → 4; MASE (2/3)/4
        assert!((mase(&insample, &[1.0, 2.0, 3.0], &[2.0, 2.0, 2.0], 2).unwrap() - 1.0 / 6.0).abs() < EPS);
        assert!(mase(&[1.0], &[1.0], &[1.0], 1).is_err());
    }

    #[test]
    fn msis_by_hand() {
        // widths 1+1+1, penalties 40·0.5 (y=1 below 1.5) + 40·0.5 (y=3 above 2.5): 43/3, scale 2.
        let v = msis(&[1.0, 2.0, 4.0, 7.0], &[1.0, 2.0, 3.0], &[1.5; 3], &[2.5; 3], 1, 0.05).unwrap();
        assert!((v - 43.0 / 6.0).abs() < EPS);
    }

    #[test]
    fn owa_is_computed_on_averages() {
        let a = [SeriesScores { smape: 10.0, mase: 1.0, msis: 5.0 }, SeriesScores { smape: 20.0, mase: 3.0, msis: 7.0 }];
        let b = [SeriesScores { smape: 20.0, mase: 2.0, msis: 1.0 }, SeriesScores { smape: 20.0, mase: 2.0, msis: 1.0 }];
        let (sa, sb) = (Summary::of(&a), Summary::of(&b));
        assert_eq!((sa.smape, sa.mase, sa.msis), (15.0, 2.0, 6.0));
        // ½ (15/20 + 2/2) = 0.875 (the mean of per-series OWAs would be ½(½(0.5+0.5) + ½(1+1.5)) = 0.875 too
        // here, so also check an asymmetric case)
        assert!((sa.owa(&sb) - 0.875).abs() < EPS);
        assert!((owa(9.0, 3.0, 10.0, 2.0) - 0.5 * (0.9 + 1.5)).abs() < EPS);
    }
}
