//! The Pareto/NBD model (Schmittlein, Morrison & Colombo 1987): likelihood, MLE fit and conditional predictions.
//!
//! While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); their lifetime is
//! exponential with rate μ ~ Gamma(s, β). The likelihood's integral over the unobserved dropout
//! time is evaluated with Gauss's hypergeometric ₂F₁ in log space (Fader & Hardie 2005, "A note on
//! deriving the Pareto/NBD model"), choosing the branch α ≥ β or α < β that keeps its argument in
//! [0, 1) and Euler-transforming it so every series term is positive.

use serde::{Deserialize, Serialize};

use super::{check_positive, compress, fit_log_space, CustomerSummary, Fit, NelderMead, Row, TransactionModel};
use crate::special::{hyp2f1, ln_gamma, log_add_exp, log_sub_exp};
use crate::Result;

/// Pareto/NBD parameters: purchase rates λ ~ Gamma(shape r, rate α), dropout rates μ ~ Gamma(shape s, rate β).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParetoNbd {
    pub r: f64,
    pub alpha: f64,
    pub s: f64,
    pub beta: f64,
}

impl ParetoNbd {
    /// A model with the given parameters.
    ///
    /// # Errors
    /// [`crate::AnalyticsError::InvalidParameter`] unless all four are finite and > 0.
    pub fn new(r: f64, alpha: f64, s: f64, beta: f64) -> Result<Self> {
        check_positive(&[("r", r), ("alpha", alpha), ("s", s), ("beta", beta)])?;
        Ok(Self { r, alpha, s, beta })
    }

    /// The starting points of [`ParetoNbd::fit`]: a neutral one and one near typical retail fits.
    const STARTS: [[f64; 4]; 2] = [[1.0, 1.0, 1.0, 1.0], [0.5, 10.0, 0.5, 10.0]];

    /// Fits r, α, s, β by maximum likelihood (Nelder-Mead on their logarithms).
    ///
    /// # Errors
    /// [`crate::AnalyticsError::InvalidInput`] for no customers or an inconsistent summary, and
    /// [`crate::AnalyticsError::Fit`] when the likelihood is nowhere finite.
    pub fn fit(data: &[CustomerSummary], optimizer: &NelderMead) -> Result<Fit<Self>> {
        let rows = compress(data)?;
        let (p, _, evaluations, converged) = fit_log_space(
            |p: &[f64; 4]| Self { r: p[0], alpha: p[1], s: p[2], beta: p[3] }.rows_log_likelihood(&rows),
            &Self::STARTS,
            data.len() as f64,
            optimizer,
        )?;
        let model = Self::new(p[0], p[1], p[2], p[3])?;
        Ok(Fit { model, log_likelihood: model.rows_log_likelihood(&rows), customers: data.len(), evaluations, converged })
    }

    /// The total log-likelihood of the customers.
    ///
    /// # Errors
    /// [`crate::AnalyticsError::InvalidInput`] for an inconsistent summary.
    pub fn log_likelihood(&self, data: &[CustomerSummary]) -> Result<f64> {
        Ok(self.rows_log_likelihood(&compress(data)?))
    }

    fn rows_log_likelihood(&self, rows: &[Row]) -> f64 {
        let constant = -ln_gamma(self.r) + self.r * self.alpha.ln() + self.s * self.beta.ln();
        let (mut cached_x, mut gamma_term) = (None, 0.0);
        let mut total = 0.0;
        for row in rows {
            if cached_x != Some(row.x) {
                cached_x = Some(row.x);
                gamma_term = ln_gamma(self.r + f64::from(row.x));
            }
            let (alive, dropped) = self.log_terms(row.x, row.t_x, row.t_cal);
            total += row.weight * (gamma_term + constant + log_add_exp(alive, dropped));
        }
        total
    }

    /// The log-likelihood of one customer:
    /// ln[ Γ(r+x)αʳβˢ/Γ(r) · ( (α+T)^−(r+x) (β+T)^−s + s ∫ₜₓᵀ (α+τ)^−(r+x) (β+τ)^−(s+1) dτ ) ].
    ///
    /// NaN only where ₂F₁'s series cannot converge: (min(α,β)+tₓ)/(max(α,β)+tₓ) below about 1e-5,
    /// i.e. α and β five orders of magnitude apart; the fit treats that as infeasible.
    pub fn log_likelihood_one(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        self.rows_log_likelihood(&[Row { x, t_x, t_cal, weight: 1.0 }])
    }

    /// The logs of the two terms inside the likelihood's parentheses: alive at T, and dropped out in (tₓ, T].
    fn log_terms(&self, x: u32, t_x: f64, t_cal: f64) -> (f64, f64) {
        let Self { r, alpha, s, beta } = *self;
        let x = f64::from(x);
        let alive = -(r + x) * (alpha + t_cal).ln() - s * (beta + t_cal).ln();
        let (from_last, from_end) = (self.log_tail_integral(x, t_x), self.log_tail_integral(x, t_cal));
        // The integral shrinks with y, so from_end < from_last unless t_x = T (or rounding says so
        // when they are that close): then nothing is left between them.
        let between = if from_last.is_nan() || from_end.is_nan() {
            f64::NAN
        } else if from_end >= from_last {
            f64::NEG_INFINITY
        } else {
            log_sub_exp(from_last, from_end)
        };
        (alive, s.ln() + between)
    }

    /// ln ∫ᵧ^∞ (α+τ)^−(r+x) (β+τ)^−(s+1) dτ.
    ///
    /// With m = max(α, β) and z = |α−β|/(m+y) ∈ [0, 1) the integral is
    /// (m+y)^−(r+s+x)/(r+s+x) · ₂F₁(r+s+x, k; r+s+x+1; z), with k = s+1 when α ≥ β and k = r+x
    /// when α < β. Euler's transformation ₂F₁(a,b;c;z) = (1−z)^(c−a−b) ₂F₁(c−a, c−b; c; z) turns the
    /// series into ₂F₁(1, c−k; c; z), whose terms are all positive and shrink at least like zⁿ.
    fn log_tail_integral(&self, x: f64, y: f64) -> f64 {
        let Self { r, alpha, s, beta } = *self;
        let c = r + s + x + 1.0;
        let (high, k, exponent) = if alpha >= beta { (alpha, s + 1.0, -s) } else { (beta, r + x, 1.0 - r - x) };
        let z = (alpha - beta).abs() / (high + y);
        // 1 − z = (min(α,β) + y) / (max(α,β) + y).
        let ln_one_minus_z = (alpha.min(beta) + y).ln() - (high + y).ln();
        -(c - 1.0) * (high + y).ln() - (c - 1.0).ln() + exponent * ln_one_minus_z + hyp2f1(1.0, c - k, c, z).ln()
    }

    /// P(alive | x, t_x, T): the alive term's share of the likelihood.
    pub fn probability_alive(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        let (alive, dropped) = self.log_terms(x, t_x, t_cal);
        (alive - log_add_exp(alive, dropped)).exp()
    }

    /// E[Y(t) | x, t_x, T] = P(alive) · (r+x)(β+T) / ((α+T)(s−1)) · [1 − ((β+T)/(β+T+t))^(s−1)]
    /// (the bracket over s−1 is evaluated with `expm1`, so s = 1 is its limit ln((β+T+t)/(β+T))).
    pub fn conditional_expected_transactions(&self, t: f64, x: u32, t_x: f64, t_cal: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let Self { r, alpha, s, beta } = *self;
        let rate = (r + f64::from(x)) / (alpha + t_cal);
        self.probability_alive(x, t_x, t_cal) * rate * expected_lifetime_within(s, beta + t_cal, t)
    }

    /// E[X(t)] = rβ / (α(s−1)) · [1 − (β/(β+t))^(s−1)].
    pub fn expected_transactions(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        self.r / self.alpha * expected_lifetime_within(self.s, self.beta, t)
    }
}

/// E[min(lifetime, t)] for an exponential lifetime with rate μ ~ Gamma(s, rate b):
/// ∫₀ᵗ (b/(b+u))ˢ du = b/(s−1) · [1 − (b/(b+t))^(s−1)].
fn expected_lifetime_within(s: f64, b: f64, t: f64) -> f64 {
    let ln_ratio = (b / (b + t)).ln();
    let shape = s - 1.0;
    if shape.abs() < 1e-12 {
        -b * ln_ratio
    } else {
        -b * (shape * ln_ratio).exp_m1() / shape
    }
}

impl TransactionModel for ParetoNbd {
    fn log_likelihood_one(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        ParetoNbd::log_likelihood_one(self, x, t_x, t_cal)
    }
    fn conditional_expected_transactions(&self, t: f64, x: u32, t_x: f64, t_cal: f64) -> f64 {
        ParetoNbd::conditional_expected_transactions(self, t, x, t_x, t_cal)
    }
    fn probability_alive(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        ParetoNbd::probability_alive(self, x, t_x, t_cal)
    }
    fn expected_transactions(&self, t: f64) -> f64 {
        ParetoNbd::expected_transactions(self, t)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::clv::testing::{exponential, gamma, summary};
    use crate::special::quadrature::integrate;

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!((actual - expected).abs() <= tolerance * expected.abs().max(1e-300), "{actual} vs {expected} (rel tol {tolerance})");
    }

    /// The likelihood by direct numerical integration over the dropout time.
    fn integrated_likelihood(m: &ParetoNbd, x: u32, t_x: f64, t_cal: f64) -> f64 {
        let ParetoNbd { r, alpha, s, beta } = *m;
        let x = f64::from(x);
        let integrand = |tau: f64| (alpha + tau).powf(-(r + x)) * (beta + tau).powf(-(s + 1.0));
        let dropped = s * integrate(&integrand, t_x, t_cal, 1e-13);
        let front = (ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln() + s * beta.ln()).exp();
        front * ((alpha + t_cal).powf(-(r + x)) * (beta + t_cal).powf(-s) + dropped)
    }

    #[test]
    fn likelihood_matches_the_closed_form_when_alpha_equals_beta() {
        // With α = β the integral is elementary: s/(r+s+x) · ((α+tₓ)^−(r+s+x) − (α+T)^−(r+s+x)).
        let (r, alpha, s) = (0.6_f64, 8.0_f64, 0.9_f64);
        let m = ParetoNbd::new(r, alpha, s, alpha).expect("valid");
        // x = 0, t_x = 0: Γ terms cancel.
        let t = 20.0_f64;
        let hand = alpha.powf(r + s) * ((alpha + t).powf(-(r + s)) + s / (r + s) * (alpha.powf(-(r + s)) - (alpha + t).powf(-(r + s))));
        close(m.log_likelihood_one(0, 0.0, t), hand.ln(), 1e-13);
        // x = 2: Γ(r+2)/Γ(r) = r(r+1).
        let (t_x, k) = (5.0_f64, r + s + 2.0);
        let hand = r * (r + 1.0) * alpha.powf(r + s) * ((alpha + t).powf(-k) + s / k * ((alpha + t_x).powf(-k) - (alpha + t).powf(-k)));
        close(m.log_likelihood_one(2, t_x, t), hand.ln(), 1e-13);
    }

    #[test]
    fn likelihood_matches_numerical_integration_on_both_branches() {
        for m in [ParetoNbd::new(0.55, 10.6, 0.6, 11.7), ParetoNbd::new(1.3, 7.0, 2.2, 2.5), ParetoNbd::new(0.4, 0.3, 0.7, 30.0)] {
            let m = m.expect("valid");
            for (x, t_x, t) in [(0, 0.0, 38.86), (2, 30.43, 38.86), (7, 3.0, 12.0), (1, 12.0, 12.0)] {
                close(m.log_likelihood_one(x, t_x, t), integrated_likelihood(&m, x, t_x, t).ln(), 1e-9);
            }
        }
    }

    #[test]
    fn likelihood_stays_finite_for_extreme_customers() {
        // The overflow case of lifetimes' test suite: huge x, tiny α.
        let m = ParetoNbd::new(10.465, 7.985_651_81e-3, 3.0516, 2.820).expect("valid");
        for (x, t_x, t) in [(400, 5.0, 6.0), (500, 1.0, 37.0), (500, 4.0, 37.0)] {
            let ll = m.log_likelihood_one(x, t_x, t);
            assert!(ll.is_finite(), "x={x}: {ll}");
            let p = m.probability_alive(x, t_x, t);
            assert!((0.0..=1.0).contains(&p), "x={x}: P(alive) = {p}");
        }
    }

    #[test]
    fn predictions_match_numerical_integration() {
        let m = ParetoNbd::new(0.55, 10.6, 0.6, 11.7).expect("valid");
        let (x, t_x, t_cal, t) = (2_u32, 30.43, 38.86, 39.0);
        // P(alive) is the alive term's share: (α+T)^−(r+x)(β+T)^−s · Γ(r+x)αʳβˢ/Γ(r) / L.
        let front = (ln_gamma(m.r + 2.0) - ln_gamma(m.r) + m.r * m.alpha.ln() + m.s * m.beta.ln()).exp();
        let alive = front * (m.alpha + t_cal).powf(-(m.r + 2.0)) * (m.beta + t_cal).powf(-m.s);
        let p_alive = alive / integrated_likelihood(&m, x, t_x, t_cal);
        close(m.probability_alive(x, t_x, t_cal), p_alive, 1e-9);
        // Given alive at T: λ ~ Gamma(r+x, α+T), μ ~ Gamma(s, β+T) independently, and
        // E[Y(t)] = E[λ] · ∫₀ᵗ ((β+T)/(β+T+u))ˢ du.
        let within = integrate(&|u: f64| ((m.beta + t_cal) / (m.beta + t_cal + u)).powf(m.s), 0.0, t, 1e-13);
        close(m.conditional_expected_transactions(t, x, t_x, t_cal), p_alive * (m.r + 2.0) / (m.alpha + t_cal) * within, 1e-9);
        let within = integrate(&|u: f64| (m.beta / (m.beta + u)).powf(m.s), 0.0, t, 1e-13);
        close(m.expected_transactions(t), m.r / m.alpha * within, 1e-9);
        // s = 1 exactly takes the logarithmic limit.
        let one = ParetoNbd::new(0.5, 10.0, 1.0, 10.0).expect("valid");
        close(one.expected_transactions(t), 0.5 / 10.0 * 10.0 * (49.0_f64 / 10.0).ln(), 1e-12);
        assert_eq!(m.conditional_expected_transactions(0.0, x, t_x, t_cal), 0.0);
    }

    fn simulate(m: &ParetoNbd, customers: usize, seed: u64) -> Vec<CustomerSummary> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..customers)
            .map(|i| {
                let t_cal = 26.0 + (i % 14) as f64;
                let rate = gamma(&mut rng, m.r) / m.alpha;
                let death = exponential(&mut rng) * m.beta / gamma(&mut rng, m.s);
                let end = death.min(t_cal);
                let (mut now, mut x, mut last) = (0.0, 0, 0.0);
                loop {
                    now += exponential(&mut rng) / rate;
                    if now > end {
                        break;
                    }
                    x += 1;
                    last = now;
                }
                summary(x, if x == 0 { 0.0 } else { ((last * 7.0).floor() / 7.0).min(t_cal) }, t_cal)
            })
            .collect()
    }

    #[test]
    fn fit_recovers_simulated_parameters() {
        let truth = ParetoNbd::new(0.7, 6.0, 0.8, 9.0).expect("valid");
        let data = simulate(&truth, 6000, 11);
        let fit = ParetoNbd::fit(&data, &NelderMead::default()).expect("fits");
        let got = fit.model;
        for (name, got, want, tolerance) in [
            ("r", got.r, truth.r, 0.15),
            ("alpha", got.alpha, truth.alpha, 0.2),
            ("s", got.s, truth.s, 0.4),
            ("beta", got.beta, truth.beta, 0.6),
        ] {
            assert!((got - want).abs() <= tolerance * want, "{name}: got {got}, want {want} ± {tolerance}: {fit:?}");
        }
        assert!(fit.log_likelihood >= truth.log_likelihood(&data).expect("valid"));
    }
}
