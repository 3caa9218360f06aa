//! Intermittent-demand forecasts: Croston's method with the Syntetos–Boylan (SBA) correction, and TSB.
//!
//! Croston (1972) smooths the non-zero demand sizes z and the intervals p between them separately
//! and forecasts z/p per period; SBA (Syntetos & Boylan 2005) multiplies by 1 − α/2 to remove its
//! bias. TSB (Teunter, Syntetos & Babai 2011) smooths the demand *probability* every period, so
//! the forecast decays when demand stops. Forecasts are flat; intervals use the RMS of the
//! in-sample one-step errors (clamped at 0 for non-negative data).

use serde::{Deserialize, Serialize};

use crate::forecast::{check_input, Forecast, Forecaster};
use crate::stats::rms;
use crate::Result;

/// Croston's method (SBA-corrected unless `sba` is false).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Croston {
    /// The smoothing parameter of sizes and intervals (classically 0.1).
    pub alpha: f64,
    /// Apply the Syntetos–Boylan bias correction 1 − α/2.
    pub sba: bool,
}

impl Default for Croston {
    fn default() -> Self {
        Self { alpha: 0.1, sba: true }
    }
}

/// The flat forecast and the one-step in-sample errors of a forecaster state machine.
fn flat(y: &[f64], horizon: usize, value: f64, errors: &[f64], alpha: f64, name: String) -> Forecast {
    let sigma = rms(errors);
    let sd: Vec<f64> = (0..horizon).map(|h| sigma * (1.0 + h as f64 * alpha * alpha).sqrt()).collect();
    Forecast::from_sd(vec![value; horizon], &sd, name).clamp_like(y)
}

impl Forecaster for Croston {
    fn name(&self) -> String {
        format!("{}(α={})", if self.sba { "CrostonSBA" } else { "Croston" }, self.alpha)
    }

    fn forecast(&self, y: &[f64], horizon: usize) -> Result<Forecast> {
        check_input(y, horizon)?;
        let a = self.alpha.clamp(1e-4, 1.0);
        let correction = if self.sba { 1.0 - a / 2.0 } else { 1.0 };
        let mut state: Option<(f64, f64)> = None; // (size z, interval p)
        let mut since = 0usize;
        let mut errors = Vec::with_capacity(y.len());
        for (t, &v) in y.iter().enumerate() {
            since += 1;
            if let Some((z, p)) = state {
                errors.push(v - correction * z / p);
            }
            if v != 0.0 {
                state = Some(match state {
                    None => (v, (t + 1) as f64),
                    Some((z, p)) => (z + a * (v - z), p + a * (since as f64 - p)),
                });
                since = 0;
            }
        }
        let value = state.map_or(0.0, |(z, p)| correction * z / p);
        Ok(flat(y, horizon, value, &errors, a, self.name()))
    }
}

/// TSB: demand probability d (updated every period) times demand size z (updated on demand).
/// With `alpha` `None`, both smoothing parameters are chosen from a small grid by in-sample MSE.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Tsb {
    /// Fixed (α for probability, β for size), or `None` to choose.
    pub alpha: Option<(f64, f64)>,
}

fn tsb_run(y: &[f64], ap: f64, az: f64) -> (f64, Vec<f64>) {
    let first = y.iter().position(|&v| v != 0.0);
    let Some(first) = first else { return (0.0, vec![0.0; y.len()]) };
    // Initial probability: the share of periods with demand; initial size: the first demand.
    let mut d = y.iter().filter(|&&v| v != 0.0).count() as f64 / y.len() as f64;
    let mut z = y[first];
    let mut errors = Vec::with_capacity(y.len());
    for &v in y {
        errors.push(v - d * z);
        if v != 0.0 {
            d += ap * (1.0 - d);
            z += az * (v - z);
        } else {
            d -= ap * d;
        }
    }
    (d * z, errors)
}

impl Forecaster for Tsb {
    fn name(&self) -> String {
        match self.alpha {
            Some((a, b)) => format!("TSB(α={a},β={b})"),
            None => "TSB".to_string(),
        }
    }

    fn forecast(&self, y: &[f64], horizon: usize) -> Result<Forecast> {
        check_input(y, horizon)?;
        const GRID: [f64; 5] = [0.02, 0.05, 0.1, 0.2, 0.3];
        let (ap, az) = self.alpha.unwrap_or_else(|| {
            let mut best = (f64::INFINITY, (0.1, 0.1));
            for &ap in &GRID {
                for &az in &GRID {
                    let mse = rms(&tsb_run(y, ap, az).1);
                    if mse < best.0 {
                        best = (mse, (ap, az));
                    }
                }
            }
            best.1
        });
        let (value, errors) = tsb_run(y, ap, az);
        Ok(flat(y, horizon, value, &errors, ap, format!("TSB(α={ap},β={az})")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::mase;
    use crate::models::naive::Naive;

    fn intermittent(n: usize) -> Vec<f64> {
        (0..n).map(|t| if (t * 7 + t / 5) % 10 < 3 { 4.0 + ((t * 13) % 5) as f64 } else { 0.0 }).collect()
    }

    #[test]
    fn croston_by_hand() {
        // Demands 2 at t=1 and 4 at t=3: z = 2 + .5(4−2) = 3, p = 2 + .5(2−2) = 2; SBA factor .75.
        let f = Croston { alpha: 0.5, sba: true }.forecast(&[0.0, 2.0, 0.0, 4.0], 2).unwrap();
        assert!((f.mean[0] - 0.75 * 1.5).abs() < 1e-12);
        let f = Croston { alpha: 0.5, sba: false }.forecast(&[0.0, 2.0, 0.0, 4.0], 1).unwrap();
        assert!((f.mean[0] - 1.5).abs() < 1e-12);
    }

    #[test]
    fn intermittent_models_beat_naive() {
        // Mean MASE over 40 forecast origins: naive is either 0 or a whole demand; Croston/TSB sit between.
        let y = intermittent(200);
        let (mut naive, mut croston, mut tsb) = (0.0, 0.0, 0.0);
        for origin in 140..180 {
            let (train, rest) = y.split_at(origin);
            let test = &rest[..10];
            let m = |f: Forecast| mase(train, test, &f.mean, 1).unwrap();
            naive += m(Naive.forecast(train, 10).unwrap());
            croston += m(Croston::default().forecast(train, 10).unwrap());
            tsb += m(Tsb::default().forecast(train, 10).unwrap());
        }
        assert!(croston < naive && tsb < naive, "croston {croston} tsb {tsb} naive {naive}");
        let f = Tsb::default().forecast(&y, 3).unwrap();
        assert!(f.lower95[0] >= 0.0 && f.lower95[0] <= f.lower80[0] && f.upper80[0] <= f.upper95[0]);
    }

    #[test]
    fn no_demand_forecasts_zero() {
        assert_eq!(Croston::default().forecast(&[0.0; 5], 2).unwrap().mean, vec![0.0; 2]);
        assert_eq!(Tsb::default().forecast(&[0.0; 5], 2).unwrap().mean, vec![0.0; 2]);
        assert!(Tsb::default().forecast(&[3.0], 2).unwrap().mean[0] > 0.0);
    }
}
