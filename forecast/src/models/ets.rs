//! Exponential smoothing state-space models ETS(error, trend, season) (Hyndman et al. 2002, 2008),
//! fitted by maximum likelihood and chosen automatically by AICc.
//!
//! Error A/M, trend N/A/Ad (damped), season N/A/M. Smoothing parameters and the initial level and
//! slope are fitted by Nelder-Mead on the likelihood; initial seasonal states come from a classical
//! decomposition of the first seasons (counted as parameters in the AICc). As in R's `forecast`,
//! additive-error models with multiplicative seasons are not considered, multiplicative
//! components need positive data, and a season needs m > 1 and two full seasons of data.
//! Intervals use the analytical class-1 variance σ²(1 + Σ c_j²), scaled by the point forecast for
//! multiplicative errors.

use serde::{Deserialize, Serialize};

use crate::forecast::{check_input, Forecast, Forecaster};
use crate::optimize::NelderMead;
use crate::seasonal::multiplicative_indices;
use crate::stats::{is_constant, linear_fit, mean};
use crate::Result;

/// The error component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ErrorType {
    /// Additive errors.
    Additive,
    /// Multiplicative (relative) errors.
    Multiplicative,
}

/// The trend component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrendType {
    /// No trend.
    None,
    /// Additive (linear) trend.
    Additive,
    /// Damped additive trend.
    Damped,
}

/// The seasonal component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeasonType {
    /// No season.
    None,
    /// Additive season.
    Additive,
    /// Multiplicative season.
    Multiplicative,
}

/// One ETS model form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtsSpec {
    /// Error component.
    pub error: ErrorType,
    /// Trend component.
    pub trend: TrendType,
    /// Season component.
    pub season: SeasonType,
}

impl EtsSpec {
    /// The usual label, e.g. `ETS(M,Ad,N)`.
    pub fn label(&self) -> String {
        let e = match self.error {
            ErrorType::Additive => "A",
            ErrorType::Multiplicative => "M",
        };
        let t = match self.trend {
            TrendType::None => "N",
            TrendType::Additive => "A",
            TrendType::Damped => "Ad",
        };
        let s = match self.season {
            SeasonType::None => "N",
            SeasonType::Additive => "A",
            SeasonType::Multiplicative => "M",
        };
        format!("ETS({e},{t},{s})")
    }
}

/// An ETS forecaster; components left `None` are chosen by AICc.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ets {
    /// The season length m (1: no season).
    pub season_length: usize,
    /// Fit on at most the last `window` values (`None`: all).
    pub window: Option<usize>,
    /// A fixed error type, or `None` to choose.
    pub error: Option<ErrorType>,
    /// A fixed trend type, or `None` to choose.
    pub trend: Option<TrendType>,
    /// A fixed season type, or `None` to choose.
    pub season: Option<SeasonType>,
}

impl Ets {
    /// Fully automatic ETS with season length `season_length`.
    pub fn auto(season_length: usize) -> Self {
        Self { season_length, window: None, error: None, trend: None, season: None }
    }

    /// Automatic error type, damped trend, no season (M4's "Damped" with a chosen error).
    pub fn damped() -> Self {
        Self { season_length: 1, window: None, error: None, trend: Some(TrendType::Damped), season: Some(SeasonType::None) }
    }

    /// Simple exponential smoothing, ETS(A,N,N).
    pub fn ses() -> Self {
        Self {
            season_length: 1,
            window: None,
            error: Some(ErrorType::Additive),
            trend: Some(TrendType::None),
            season: Some(SeasonType::None),
        }
    }

    /// The same model fitted on at most the last `window` values.
    pub fn with_window(mut self, window: usize) -> Self {
        self.window = Some(window.max(1));
        self
    }

    fn candidates(&self, y: &[f64]) -> Vec<EtsSpec> {
        let positive = y.iter().all(|&v| v > 0.0);
        let m = self.season_length;
        let seasonal_ok = m > 1 && y.len() >= 2 * m;
        let errors: &[ErrorType] = match self.error {
            Some(ErrorType::Multiplicative) if positive => &[ErrorType::Multiplicative],
            Some(ErrorType::Multiplicative) | Some(ErrorType::Additive) => &[ErrorType::Additive],
            None if positive => &[ErrorType::Additive, ErrorType::Multiplicative],
            None => &[ErrorType::Additive],
        };
        let trends: &[TrendType] = match self.trend {
            Some(TrendType::None) => &[TrendType::None],
            Some(TrendType::Additive) => &[TrendType::Additive],
            Some(TrendType::Damped) => &[TrendType::Damped],
            None => &[TrendType::None, TrendType::Additive, TrendType::Damped],
        };
        let seasons: Vec<SeasonType> = match self.season {
            _ if !seasonal_ok => vec![SeasonType::None],
            Some(s) => vec![s],
            None => vec![SeasonType::None, SeasonType::Additive, SeasonType::Multiplicative],
        };
        let mut out = Vec::new();
        for &error in errors {
            for &trend in trends {
                for &season in &seasons {
                    let season = if season == SeasonType::Multiplicative && !positive { SeasonType::Additive } else { season };
                    if error == ErrorType::Additive && season == SeasonType::Multiplicative {
                        continue;
                    }
                    let spec = EtsSpec { error, trend, season };
                    if !out.contains(&spec) {
                        out.push(spec);
                    }
                }
            }
        }
        out
    }
}

/// A fitted ETS model.
#[derive(Clone, Debug, PartialEq)]
pub struct EtsFit {
    /// The model form.
    pub spec: EtsSpec,
    /// Smoothing parameters α, β, γ and damping φ (β, γ = 0 and φ = 1 where absent).
    pub alpha: f64,
    /// Slope smoothing.
    pub beta: f64,
    /// Season smoothing.
    pub gamma: f64,
    /// Damping.
    pub phi: f64,
    /// The AICc.
    pub aicc: f64,
    /// The residual standard deviation (relative for multiplicative errors).
    pub sigma: f64,
    level: f64,
    slope: f64,
    /// Seasonal states; `seasons[i]` applies at times t ≡ i (mod m) in fitted-data positions.
    seasons: Vec<f64>,
    n: usize,
    m: usize,
}

struct Params {
    alpha: f64,
    beta: f64,
    gamma: f64,
    phi: f64,
    l0: f64,
    b0: f64,
}

/// The result of running the filter: −2 log-likelihood (without constants) and final states.
struct Run {
    sse: f64,
    log_f: f64,
    level: f64,
    slope: f64,
    seasons: Vec<f64>,
}

fn run(y: &[f64], spec: EtsSpec, p: &Params, init_seasons: &[f64]) -> Option<Run> {
    let m = init_seasons.len().max(1);
    let mut seasons = init_seasons.to_vec();
    let (mut l, mut b) = (p.l0, p.b0);
    let (mut sse, mut log_f) = (0.0, 0.0);
    for (t, &yt) in y.iter().enumerate() {
        let phib = p.phi * b;
        let q = l + phib;
        let s = if spec.season == SeasonType::None { 0.0 } else { seasons[t % m] };
        let f = match spec.season {
            SeasonType::None => q,
            SeasonType::Additive => q + s,
            SeasonType::Multiplicative => q * s,
        };
        let e = match spec.error {
            ErrorType::Additive => yt - f,
            ErrorType::Multiplicative => {
                if f <= 0.0 {
                    return None;
                }
                log_f += f.ln();
                (yt - f) / f
            }
        };
        sse += e * e;
        let pt = match spec.season {
            SeasonType::None => yt,
            SeasonType::Additive => yt - s,
            SeasonType::Multiplicative => yt / s,
        };
        l = q + p.alpha * (pt - q);
        b = if spec.trend == TrendType::None { 0.0 } else { phib + p.beta * (pt - q) };
        match spec.season {
            SeasonType::None => {}
            SeasonType::Additive => seasons[t % m] = s + p.gamma * (yt - q - s),
            SeasonType::Multiplicative => {
                if q <= 0.0 {
                    return None;
                }
                seasons[t % m] = s + p.gamma * (yt / q - s)
            }
        }
        if !l.is_finite() {
            return None;
        }
    }
    Some(Run { sse, log_f, level: l, slope: b, seasons })
}

/// Initial seasonal states (length m, or empty without a season) and a start for level and slope.
fn initial_states(y: &[f64], spec: EtsSpec, m: usize) -> (Vec<f64>, f64, f64) {
    let seasons = match spec.season {
        SeasonType::None => Vec::new(),
        season => {
            let head = &y[..y.len().min(4 * m)];
            let mult = multiplicative_indices(head, m).unwrap_or_else(|| {
                let avg = mean(&head[..m]);
                head[..m].iter().map(|v| v / avg).collect()
            });
            if season == SeasonType::Multiplicative {
                mult
            } else {
                // Additive indices: the multiplicative ones times the first seasons' mean level.
                let avg = mean(head);
                mult.iter().map(|i| (i - 1.0) * avg).collect()
            }
        }
    };
    let k = y.len().min(10.max(m));
    let adjusted: Vec<f64> = y[..k]
        .iter()
        .enumerate()
        .map(|(t, &v)| match spec.season {
            SeasonType::None => v,
            SeasonType::Additive => v - seasons[t % m],
            SeasonType::Multiplicative => v / seasons[t % m],
        })
        .collect();
    if spec.trend == TrendType::None {
        (seasons, mean(&adjusted), 0.0)
    } else {
        let (a, b) = linear_fit(&adjusted);
        (seasons, a - b, b)
    }
}

const LOWER: f64 = 1e-4;

fn fit_spec(y: &[f64], spec: EtsSpec, m: usize) -> Option<EtsFit> {
    let n = y.len();
    let has_trend = spec.trend != TrendType::None;
    let has_season = spec.season != SeasonType::None;
    let damped = spec.trend == TrendType::Damped;
    let m_used = if has_season { m } else { 1 };
    let (init_seasons, l_start, b_start) = initial_states(y, spec, m_used);
    let scale = {
        let d: f64 = y.windows(2).map(|w| (w[1] - w[0]).abs()).sum::<f64>() / (n.max(2) - 1) as f64;
        if d > 0.0 {
            d
        } else {
            y.iter().map(|v| v.abs()).sum::<f64>() / n as f64 + 1.0
        }
    };
    // Layout: α, [β], [γ], [φ], l0 (scaled), [b0 (scaled)].
    let mut start = vec![0.3];
    let mut steps = vec![0.15];
    if has_trend {
        start.push(0.03);
        steps.push(0.05);
    }
    if has_season {
        start.push(0.05);
        steps.push(0.05);
    }
    if damped {
        start.push(0.95);
        steps.push(0.03);
    }
    start.push(0.0);
    steps.push(1.0);
    if has_trend {
        start.push(0.0);
        steps.push(0.2);
    }
    let k_free = start.len() + if has_season { m - 1 } else { 0 } + 1;
    if n < k_free + 2 {
        return None;
    }
    let decode = |x: &[f64]| -> Option<Params> {
        let mut i = 0;
        let mut next = || {
            i += 1;
            x[i - 1]
        };
        let alpha = next();
        let beta = if has_trend { next() } else { 0.0 };
        let gamma = if has_season { next() } else { 0.0 };
        let phi = if damped { next() } else { 1.0 };
        let l0 = l_start + next() * scale;
        let b0 = if has_trend { b_start + next() * scale } else { 0.0 };
        let ok = (LOWER..=1.0 - LOWER).contains(&alpha)
            && (!has_trend || (LOWER..=alpha).contains(&beta))
            && (!has_season || (LOWER..=1.0 - alpha).contains(&gamma))
            && (!damped || (0.8..=0.98).contains(&phi));
        ok.then_some(Params { alpha, beta, gamma, phi, l0, b0 })
    };
    let objective = |x: &[f64]| -> f64 {
        let Some(p) = decode(x) else { return f64::INFINITY };
        match run(y, spec, &p, &init_seasons) {
            Some(r) => n as f64 * r.sse.max(1e-300).ln() + 2.0 * r.log_f,
            None => f64::INFINITY,
        }
    };
    let nm = NelderMead { max_evaluations: 150 * start.len(), tolerance: 1e-9 };
    let (x, value) = nm.minimize(objective, &start, &steps);
    if !value.is_finite() {
        return None;
    }
    let p = decode(&x)?;
    let r = run(y, spec, &p, &init_seasons)?;
    let nf = n as f64;
    let sigma2 = r.sse.max(1e-300) / nf;
    let minus2ll = nf * (2.0 * std::f64::consts::PI * sigma2).ln() + nf + 2.0 * r.log_f;
    let k = k_free as f64;
    let aicc = minus2ll + 2.0 * k + 2.0 * k * (k + 1.0) / (nf - k - 1.0);
    let dof = if n > k_free { (n - k_free) as f64 } else { nf };
    Some(EtsFit {
        spec,
        alpha: p.alpha,
        beta: p.beta,
        gamma: p.gamma,
        phi: p.phi,
        aicc,
        sigma: (r.sse / dof).sqrt(),
        level: r.level,
        slope: r.slope,
        seasons: r.seasons,
        n,
        m: m_used,
    })
}

impl EtsFit {
    /// Point forecasts and interval standard deviations for `horizon` steps.
    pub fn predict(&self, horizon: usize) -> (Vec<f64>, Vec<f64>) {
        let (mut l, mut b) = (self.level, self.slope);
        let mut mean = Vec::with_capacity(horizon);
        let mut sd = Vec::with_capacity(horizon);
        let mut sum_c2 = 0.0f64;
        let mut phi_sum = 0.0f64;
        for h in 0..horizon {
            b *= self.phi;
            l += b;
            let trend_level = l;
            let s = if self.spec.season == SeasonType::None { 0.0 } else { self.seasons[(self.n + h) % self.m] };
            let f = match self.spec.season {
                SeasonType::None => trend_level,
                SeasonType::Additive => trend_level + s,
                SeasonType::Multiplicative => trend_level * s,
            };
            mean.push(f);
            let var_rel = 1.0 + sum_c2;
            sd.push(match self.spec.error {
                ErrorType::Additive => self.sigma * var_rel.sqrt(),
                ErrorType::Multiplicative => f.abs() * self.sigma * var_rel.sqrt(),
            });
            // c_j for the next step's variance, j = h + 1.
            let j = h + 1;
            phi_sum += self.phi.powi(j as i32);
            let mut c = self.alpha;
            match self.spec.trend {
                TrendType::None => {}
                TrendType::Additive => c += self.beta * j as f64,
                TrendType::Damped => c += self.beta * phi_sum,
            }
            if self.spec.season != SeasonType::None && j % self.m == 0 {
                c += self.gamma;
            }
            sum_c2 += c * c;
        }
        (mean, sd)
    }
}

/// Fits every candidate form and returns the one with the smallest AICc (`None` if none fits).
pub fn fit_auto(ets: &Ets, y: &[f64]) -> Option<EtsFit> {
    let y = match ets.window {
        Some(w) if y.len() > w => &y[y.len() - w..],
        _ => y,
    };
    ets.candidates(y)
        .into_iter()
        .filter_map(|spec| fit_spec(y, spec, ets.season_length.max(1)))
        .filter(|f| f.aicc.is_finite())
        .min_by(|a, b| a.aicc.total_cmp(&b.aicc))
}

impl Forecaster for Ets {
    fn name(&self) -> String {
        let part = |fixed: Option<String>| fixed.unwrap_or_else(|| "Z".to_string());
        let e = part(self.error.map(|e| format!("{e:?}")[..1].to_string()));
        let t = part(self.trend.map(|t| match t {
            TrendType::None => "N".to_string(),
            TrendType::Additive => "A".to_string(),
            TrendType::Damped => "Ad".to_string(),
        }));
        let s = part(self.season.map(|s| format!("{s:?}")[..1].to_string()));
        let w = self.window.map(|w| format!(",w{w}")).unwrap_or_default();
        format!("ETS({e},{t},{s};m{}{w})", self.season_length)
    }

    fn forecast(&self, y: &[f64], horizon: usize) -> Result<Forecast> {
        check_input(y, horizon)?;
        if is_constant(y) {
            return Ok(Forecast::constant(y[0], horizon, "ETS→constant"));
        }
        match fit_auto(self, y) {
            Some(fit) => {
                let (mean, sd) = fit.predict(horizon);
                Ok(Forecast::from_sd(mean, &sd, fit.spec.label()).clamp_like(y))
            }
            None => {
                let mut f = super::naive::Naive.forecast(y, horizon)?;
                f.model = "ETS→Naive".to_string();
                Ok(f)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::mase;
    use crate::models::naive::Naive;

    fn noise(t: usize) -> f64 {
        // A deterministic pseudo-random value in [-1, 1].
        let x = ((t as u64).wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) >> 33) as f64;
        2.0 * (x / (1u64 << 31) as f64) - 1.0
    }

    #[test]
    fn trend_model_beats_naive_on_a_linear_trend() {
        let y: Vec<f64> = (0..120).map(|t| 50.0 + 2.0 * t as f64 + 3.0 * noise(t)).collect();
        let (train, test) = y.split_at(100);
        let f = Ets::auto(1).forecast(train, 20).unwrap();
        assert!(f.model.contains(",A,") || f.model.contains(",Ad,"), "{}", f.model);
        let n = Naive.forecast(train, 20).unwrap();
        assert!(mase(train, test, &f.mean, 1).unwrap() < 0.5 * mase(train, test, &n.mean, 1).unwrap());
        for i in 0..20 {
            assert!(f.lower95[i] <= f.lower80[i] && f.lower80[i] <= f.mean[i] && f.mean[i] <= f.upper80[i] && f.upper80[i] <= f.upper95[i]);
        }
    }

    #[test]
    fn seasonal_model_beats_naive_on_a_weekly_season() {
        let pattern = [10.0, 12.0, 11.0, 13.0, 18.0, 25.0, 6.0];
        let y: Vec<f64> = (0..112).map(|t| pattern[t % 7] * (1.0 + 0.05 * noise(t))).collect();
        let (train, test) = y.split_at(98);
        let f = Ets::auto(7).forecast(train, 14).unwrap();
        assert!(!f.model.ends_with("N)"), "{}", f.model);
        let n = Naive.forecast(train, 14).unwrap();
        assert!(mase(train, test, &f.mean, 1).unwrap() < 0.3 * mase(train, test, &n.mean, 1).unwrap());
    }

    #[test]
    fn short_constant_and_negative_series_fall_back() {
        assert_eq!(Ets::auto(7).forecast(&[4.0; 20], 3).unwrap().mean, vec![4.0; 3]);
        let f = Ets::auto(7).forecast(&[1.0, 3.0], 3).unwrap();
        assert_eq!(f.mean.len(), 3);
        let f = Ets::auto(1).forecast(&[1.0, -2.0, 3.0, -1.0, 2.0, 0.5, -0.5, 1.0], 2).unwrap();
        assert!(f.model.starts_with("ETS(A") || f.model.contains("Naive"), "{}", f.model);
        assert!(f.mean.iter().all(|v| v.is_finite()));
    }
}
