//! The Theta method: standard Theta (Assimakopoulos & Nikolopoulos 2000, as in M4) and the
//! optimised / dynamic optimised Theta models of Fiorucci et al. (2016).
//!
//! State-space form (Fiorucci et al. 2016, eqs. 7–12): after t observations the level is
//! ℓ_t = α y_t + (1−α) ℓ_{t−1}, (A_t, B_t) is the least-squares line through the data (fixed at the
//! full-sample line for the static models, updated recursively for the dynamic ones) and the
//! one-step forecast is μ_{t+1} = ℓ_t + (1 − 1/θ) [(1−α)^t A_t + (1 − (1−α)^{t+1})/α · B_t].
//! Longer horizons feed the forecasts back as observations. θ = 2 is the standard Theta method
//! (SES plus half the linear trend); the optimised variants fit θ ≥ 1. α, ℓ_0 (and θ) minimise the
//! in-sample one-step MSE; [`Theta`] with `variant: None` picks the variant with the smallest MSE.
//! The series is deseasonalised first when M4's test detects seasonality at lag m.

use serde::{Deserialize, Serialize};

use crate::forecast::{check_input, Forecast, Forecaster};
use crate::optimize::NelderMead;
use crate::seasonal::SeasonalAdjust;
use crate::stats::{is_constant, linear_fit};
use crate::Result;

/// Which Theta model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ThetaVariant {
    /// Standard Theta (θ = 2, static trend line).
    Standard,
    /// Optimised Theta (θ fitted, static trend line).
    Optimized,
    /// Dynamic standard Theta (θ = 2, trend line updated as data arrives).
    DynamicStandard,
    /// Dynamic optimised Theta (θ fitted, trend line updated).
    DynamicOptimized,
}

impl ThetaVariant {
    const ALL: [ThetaVariant; 4] = [Self::Standard, Self::Optimized, Self::DynamicStandard, Self::DynamicOptimized];

    fn dynamic(self) -> bool {
        matches!(self, Self::DynamicStandard | Self::DynamicOptimized)
    }

    fn optimized(self) -> bool {
        matches!(self, Self::Optimized | Self::DynamicOptimized)
    }

    fn label(self) -> &'static str {
        match self {
            Self::Standard => "STM",
            Self::Optimized => "OTM",
            Self::DynamicStandard => "DSTM",
            Self::DynamicOptimized => "DOTM",
        }
    }
}

/// A Theta forecaster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Theta {
    /// The variant, or `None` to choose the one with the smallest in-sample MSE.
    pub variant: Option<ThetaVariant>,
    /// The season length m for the M4 seasonal adjustment (1: none).
    pub season_length: usize,
    /// Fit on at most the last `window` values (`None`: all).
    pub window: Option<usize>,
}

impl Theta {
    /// A Theta model of the given variant.
    pub fn new(variant: ThetaVariant, season_length: usize) -> Self {
        Self { variant: Some(variant), season_length, window: None }
    }

    /// The standard Theta method (M4's benchmark).
    pub fn standard(season_length: usize) -> Self {
        Self::new(ThetaVariant::Standard, season_length)
    }

    /// The dynamic optimised Theta model.
    pub fn dynamic_optimized(season_length: usize) -> Self {
        Self::new(ThetaVariant::DynamicOptimized, season_length)
    }

    /// Chooses among the four variants by in-sample MSE.
    pub fn auto(season_length: usize) -> Self {
        Self { variant: None, season_length, window: None }
    }

    /// The same model fitted on at most the last `window` values.
    pub fn with_window(mut self, window: usize) -> Self {
        self.window = Some(window.max(2));
        self
    }
}

/// The running state of the Theta filter.
#[derive(Clone, Copy, Debug)]
struct State {
    level: f64,
    mean: f64,
    a: f64,
    b: f64,
    /// Observations processed.
    t: usize,
}

#[derive(Clone, Copy, Debug)]
struct Params {
    alpha: f64,
    theta: f64,
    dynamic: bool,
}

impl State {
    fn mu(&self, p: &Params) -> f64 {
        let decay = (1.0 - p.alpha).powi(self.t as i32);
        self.level + (1.0 - 1.0 / p.theta) * (decay * self.a + (1.0 - decay * (1.0 - p.alpha)) / p.alpha * self.b)
    }

    fn update(&mut self, y: f64, p: &Params) {
        self.level = p.alpha * y + (1.0 - p.alpha) * self.level;
        if p.dynamic {
            let t = self.t as f64 + 1.0; // 1-based index of y
            if self.t == 0 {
                self.mean = y;
                self.a = y;
                self.b = 0.0;
            } else {
                self.b = ((t - 2.0) * self.b + 6.0 * (y - self.mean) / t) / (t + 1.0);
                self.mean = ((t - 1.0) * self.mean + y) / t;
                self.a = self.mean - self.b * (t + 1.0) / 2.0;
            }
        }
        self.t += 1;
    }
}

struct ThetaFit {
    params: Params,
    state: State,
    mse: f64,
    variant: ThetaVariant,
}

fn filter(y: &[f64], p: &Params, l0: f64, line: (f64, f64)) -> (f64, State) {
    let mut s = State { level: l0, mean: 0.0, a: line.0, b: line.1, t: 0 };
    let mut sse = 0.0;
    for &v in y {
        if s.t > 0 {
            let e = v - s.mu(p);
            sse += e * e;
        }
        s.update(v, p);
    }
    (sse / (y.len().max(2) - 1) as f64, s)
}

fn fit_variant(y: &[f64], variant: ThetaVariant) -> Option<ThetaFit> {
    let n = y.len();
    let (a0, slope) = linear_fit(y);
    // The static line with 1-based time: A is the value at t = 0.
    let line = if variant.dynamic() { (0.0, 0.0) } else { (a0 - slope, slope) };
    let scale = (y.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (n - 1) as f64).max(1e-8);
    let decode = |x: &[f64]| -> Option<(Params, f64)> {
        let alpha = x[0];
        let theta = if variant.optimized() { x[2] } else { 2.0 };
        let ok = (0.01..=0.99).contains(&alpha) && (1.0..=20.0).contains(&theta);
        ok.then_some((Params { alpha, theta, dynamic: variant.dynamic() }, y[0] + x[1] * scale))
    };
    let (start, steps) = if variant.optimized() { (vec![0.5, 0.0, 2.0], vec![0.2, 1.0, 0.5]) } else { (vec![0.5, 0.0], vec![0.2, 1.0]) };
    let nm = NelderMead { max_evaluations: 120 * start.len(), tolerance: 1e-9 };
    let (x, mse) = nm.minimize(
        |x| match decode(x) {
            Some((p, l0)) => filter(y, &p, l0, line).0,
            None => f64::INFINITY,
        },
        &start,
        &steps,
    );
    let (params, l0) = decode(&x)?;
    let (_, state) = filter(y, &params, l0, line);
    mse.is_finite().then_some(ThetaFit { params, state, mse, variant })
}

/// Forecasts a (deseasonalised) series with the chosen or best variant.
#[derive(Clone, Debug)]
struct Core {
    variant: Option<ThetaVariant>,
}

impl Forecaster for Core {
    fn name(&self) -> String {
        self.variant.map_or("AutoTheta", |v| v.label()).to_string()
    }

    fn forecast(&self, y: &[f64], horizon: usize) -> Result<Forecast> {
        let variants: Vec<ThetaVariant> = self.variant.map_or(ThetaVariant::ALL.to_vec(), |v| vec![v]);
        let best = variants.into_iter().filter_map(|v| fit_variant(y, v)).min_by(|a, b| a.mse.total_cmp(&b.mse));
        let Some(fit) = best else {
            let mut f = super::naive::Naive.forecast(y, horizon)?;
            f.model = "Theta→Naive".to_string();
            return Ok(f);
        };
        let mut state = fit.state;
        let sigma = fit.mse.sqrt();
        let mut mean = Vec::with_capacity(horizon);
        let mut sd = Vec::with_capacity(horizon);
        for h in 0..horizon {
            let mu = state.mu(&fit.params);
            mean.push(mu);
            sd.push(sigma * (1.0 + h as f64 * fit.params.alpha * fit.params.alpha).sqrt());
            state.update(mu, &fit.params);
        }
        Ok(Forecast::from_sd(mean, &sd, format!("{}(θ={:.2})", fit.variant.label(), fit.params.theta)))
    }
}

impl Forecaster for Theta {
    fn name(&self) -> String {
        let w = self.window.map(|w| format!(",w{w}")).unwrap_or_default();
        format!("Theta({};m{}{w})", self.variant.map_or("auto", |v| v.label()), self.season_length)
    }

    fn forecast(&self, y: &[f64], horizon: usize) -> Result<Forecast> {
        check_input(y, horizon)?;
        let y = match self.window {
            Some(w) if y.len() > w => &y[y.len() - w..],
            _ => y,
        };
        if is_constant(y) {
            return Ok(Forecast::constant(y[0], horizon, "Theta→constant"));
        }
        if y.len() < 3 {
            let mut f = super::naive::Naive.forecast(y, horizon)?;
            f.model = "Theta→Naive".to_string();
            return Ok(f);
        }
        let f = SeasonalAdjust::new(Core { variant: self.variant }, self.season_length).forecast(y, horizon)?;
        Ok(f.clamp_like(y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::mase;
    use crate::models::naive::Naive;

    fn noise(t: usize) -> f64 {
        ((t * 7919 % 101) as f64 / 50.0) - 1.0
    }

    #[test]
    fn standard_theta_is_ses_plus_half_the_trend() {
        // On an exact line SES lags by b(1−α)/α; Theta adds the half-slope drift. Forecast slope = b/2.
        let y: Vec<f64> = (0..60).map(|t| 10.0 + 1.0 * t as f64).collect();
        let f = Theta::standard(1).forecast(&y, 5).unwrap();
        let d: Vec<f64> = f.mean.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(d.iter().all(|s| (s - 0.5).abs() < 1e-6), "{d:?}");
    }

    #[test]
    fn theta_variants_beat_naive_on_a_trend() {
        let y: Vec<f64> = (0..130).map(|t| 100.0 + 1.5 * t as f64 + 4.0 * noise(t)).collect();
        let (train, test) = y.split_at(110);
        let naive = mase(train, test, &Naive.forecast(train, 20).unwrap().mean, 1).unwrap();
        for v in ThetaVariant::ALL {
            let f = Theta::new(v, 1).forecast(train, 20).unwrap();
            let m = mase(train, test, &f.mean, 1).unwrap();
            assert!(m < naive, "{v:?}: {m} vs naive {naive}");
            for i in 0..20 {
                assert!(f.lower95[i] <= f.lower80[i] && f.lower80[i] <= f.mean[i] && f.mean[i] <= f.upper80[i]);
                assert!(f.upper80[i] <= f.upper95[i]);
            }
        }
        let f = Theta::auto(1).forecast(train, 20).unwrap();
        assert!(mase(train, test, &f.mean, 1).unwrap() < 0.5 * naive);
    }

    #[test]
    fn seasonal_adjustment_is_applied() {
        let pattern = [1.0, 1.2, 0.9, 1.1, 1.5, 0.6, 0.7];
        let y: Vec<f64> = (0..140).map(|t| 100.0 * pattern[t % 7] * (1.0 + 0.02 * noise(t))).collect();
        let f = Theta::auto(7).forecast(&y, 7).unwrap();
        assert!(f.model.starts_with("SA7"), "{}", f.model);
        assert!(f.mean[4] > f.mean[5]);
    }

    #[test]
    fn short_and_constant_series_fall_back() {
        assert_eq!(Theta::auto(7).forecast(&[2.0; 10], 2).unwrap().mean, vec![2.0; 2]);
        assert_eq!(Theta::auto(7).forecast(&[2.0, 3.0], 2).unwrap().mean, vec![3.0; 2]);
        assert!(Theta::auto(1).forecast(&[1.0, 3.0, 2.0], 4).unwrap().mean.iter().all(|v| v.is_finite()));
    }
}
