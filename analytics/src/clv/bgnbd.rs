//! The BG/NBD model (Fader, Hardie & Lee 2005): likelihood, MLE fit and conditional predictions.
//!
//! While alive a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each
//! purchase they drop out with probability p ~ Beta(a, b).

use serde::{Deserialize, Serialize};

use super::{check_positive, compress, fit_log_space, CustomerSummary, Fit, NelderMead, Row, TransactionModel};
use crate::special::{hyp2f1, ln_gamma, log_add_exp};
use crate::Result;

/// BG/NBD parameters: purchase rates λ ~ Gamma(shape r, rate α), dropout p ~ Beta(a, b).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BgNbd {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl BgNbd {
    /// A model with the given parameters.
    ///
    /// # Errors
    /// [`crate::AnalyticsError::InvalidParameter`] unless all four are finite and > 0.
    pub fn new(r: f64, alpha: f64, a: f64, b: f64) -> Result<Self> {
        check_positive(&[("r", r), ("alpha", alpha), ("a", a), ("b", b)])?;
        Ok(Self { r, alpha, a, b })
    }

    /// The starting points of [`BgNbd::fit`]: a neutral one and one near typical retail fits.
    const STARTS: [[f64; 4]; 2] = [[1.0, 1.0, 1.0, 1.0], [0.3, 5.0, 0.8, 2.5]];

    /// Fits r, α, a, b by maximum likelihood (Nelder-Mead on their logarithms).
    ///
    /// # Errors
    /// [`crate::AnalyticsError::InvalidInput`] for no customers or an inconsistent summary, and
    /// [`crate::AnalyticsError::Fit`] when the likelihood is nowhere finite.
    pub fn fit(data: &[CustomerSummary], optimizer: &NelderMead) -> Result<Fit<Self>> {
        let rows = compress(data)?;
        let (p, _, evaluations, converged) = fit_log_space(
            |p: &[f64; 4]| Self { r: p[0], alpha: p[1], a: p[2], b: p[3] }.rows_log_likelihood(&rows),
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
        let Self { r, alpha, a, b } = *self;
        let (ln_gamma_r, ln_gamma_b, ln_gamma_ab, ln_alpha, ln_a) = (ln_gamma(r), ln_gamma(b), ln_gamma(a + b), alpha.ln(), a.ln());
        // The gamma terms depend on x only, and rows come sorted by x: compute them once per x.
        let (mut cached_x, mut gamma_terms) = (None, 0.0);
        let mut total = 0.0;
        for row in rows {
            let x = f64::from(row.x);
            if cached_x != Some(row.x) {
                cached_x = Some(row.x);
                gamma_terms =
                    ln_gamma(r + x) - ln_gamma_r + r * ln_alpha + ln_gamma_ab + ln_gamma(b + x) - ln_gamma_b - ln_gamma(a + b + x);
            }
            let alive = -(r + x) * (alpha + row.t_cal).ln();
            let dropped = if row.x > 0 { ln_a - (b + x - 1.0).ln() - (r + x) * (alpha + row.t_x).ln() } else { f64::NEG_INFINITY };
            total += row.weight * (gamma_terms + log_add_exp(alive, dropped));
        }
        total
    }

    /// The log-likelihood of one customer:
    /// ln[ B(a,b+x)/B(a,b) · Γ(r+x)αʳ/(Γ(r)(α+T)^(r+x)) + [x>0] B(a+1,b+x−1)/B(a,b) · Γ(r+x)αʳ/(Γ(r)(α+tₓ)^(r+x)) ].
    pub fn log_likelihood_one(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        self.rows_log_likelihood(&[Row { x, t_x, t_cal, weight: 1.0 }])
    }

    /// P(alive | x, t_x, T) = 1 / (1 + [x>0] · a/(b+x−1) · ((α+T)/(α+tₓ))^(r+x)).
    pub fn probability_alive(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        if x == 0 {
            return 1.0;
        }
        let xf = f64::from(x);
        let ln_odds = self.a.ln() - (self.b + xf - 1.0).ln() + (self.r + xf) * ((self.alpha + t_cal) / (self.alpha + t_x)).ln();
        1.0 / (1.0 + ln_odds.exp())
    }

    /// E[Y(t) | x, t_x, T], equation (10) of Fader, Hardie & Lee (2005):
    /// (a+b+x−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) ₂F₁(r+x, b+x; a+b+x−1; t/(α+T+t))] / (1 + [x>0] a/(b+x−1) ((α+T)/(α+tₓ))^(r+x)).
    ///
    /// NaN where the closed form is undefined (a = 1 exactly, or a+b+x−1 a non-positive integer).
    pub fn conditional_expected_transactions(&self, t: f64, x: u32, t_x: f64, t_cal: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let Self { r, alpha, a, b } = *self;
        let xf = f64::from(x);
        let horizon = alpha + t_cal + t;
        let bracket = 1.0 - ((r + xf) * ((alpha + t_cal) / horizon).ln()).exp() * hyp2f1(r + xf, b + xf, a + b + xf - 1.0, t / horizon);
        (a + b + xf - 1.0) / (a - 1.0) * bracket * self.probability_alive(x, t_x, t_cal)
    }

    /// E[X(t)] = (a+b−1)/(a−1) · [1 − (α/(α+t))ʳ ₂F₁(r, b; a+b−1; t/(α+t))], equation (9) of the paper.
    pub fn expected_transactions(&self, t: f64) -> f64 {
        if t <= 0.0 {
            return 0.0;
        }
        let Self { r, alpha, a, b } = *self;
        (a + b - 1.0) / (a - 1.0) * (1.0 - (r * (alpha / (alpha + t)).ln()).exp() * hyp2f1(r, b, a + b - 1.0, t / (alpha + t)))
    }
}

impl TransactionModel for BgNbd {
    fn log_likelihood_one(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        BgNbd::log_likelihood_one(self, x, t_x, t_cal)
    }
    fn conditional_expected_transactions(&self, t: f64, x: u32, t_x: f64, t_cal: f64) -> f64 {
        BgNbd::conditional_expected_transactions(self, t, x, t_x, t_cal)
    }
    fn probability_alive(&self, x: u32, t_x: f64, t_cal: f64) -> f64 {
        BgNbd::probability_alive(self, x, t_x, t_cal)
    }
    fn expected_transactions(&self, t: f64) -> f64 {
        BgNbd::expected_transactions(self, t)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::clv::testing::{beta, exponential, gamma, summary};
    use crate::special::{ln_beta, quadrature::integrate};

    const PAPER: BgNbd = BgNbd { r: 0.243, alpha: 4.414, a: 0.793, b: 2.426 };

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!((actual - expected).abs() <= tolerance * expected.abs().max(1e-300), "{actual} vs {expected} (rel tol {tolerance})");
    }

    #[test]
    fn likelihood_matches_hand_computed_values() {
        let m = BgNbd::new(0.5, 3.0, 1.2, 2.0).expect("valid");
        // x = 0: L = (α/(α+T))ʳ.
        close(m.log_likelihood_one(0, 0.0, 10.0), 0.5 * (3.0_f64 / 13.0).ln(), 1e-13);
        // x = 2, with the gamma ratios expanded: Γ(r+2)/Γ(r) = r(r+1),
        // B(a,b+2)/B(a,b) = b(b+1)/((a+b)(a+b+1)), B(a+1,b+1)/B(a,b) = ab/((a+b)(a+b+1)).
        let (r, alpha, a, b, t_x, t) = (0.5_f64, 3.0_f64, 1.2_f64, 2.0_f64, 4.0_f64, 10.0_f64);
        let common = r * (r + 1.0) * alpha.powf(r) / ((a + b) * (a + b + 1.0));
        let expected = common * (b * (b + 1.0) / (alpha + t).powf(r + 2.0) + a * b / (alpha + t_x).powf(r + 2.0));
        close(m.log_likelihood_one(2, t_x, t), expected.ln(), 1e-13);
        let total = m.log_likelihood(&[summary(0, 0.0, 10.0), summary(2, 4.0, 10.0), summary(2, 4.0, 10.0)]).expect("valid");
        close(total, 0.5 * (3.0_f64 / 13.0).ln() + 2.0 * expected.ln(), 1e-13);
    }

    #[test]
    fn likelihood_matches_integration_over_the_dropout_probability() {
        // Integrate λ out in closed form and p ~ Beta(a, b) numerically:
        // L = ∫ [(1−p)ˣ Γ(r+x)αʳ/(Γ(r)(α+T)^(r+x)) + p(1−p)^(x−1) Γ(r+x)αʳ/(Γ(r)(α+tₓ)^(r+x))] f(p) dp.
        let m = BgNbd::new(0.8, 2.5, 1.7, 3.1).expect("valid");
        let (x, t_x, t) = (3.0_f64, 6.5_f64, 9.0_f64);
        let rate_part = |age: f64| (ln_gamma(m.r + x) - ln_gamma(m.r) + m.r * m.alpha.ln() - (m.r + x) * (m.alpha + age).ln()).exp();
        let density = |p: f64| ((m.a - 1.0) * p.ln() + (m.b - 1.0) * (1.0 - p).ln() - ln_beta(m.a, m.b)).exp();
        let integrand = |p: f64| {
            if p <= 0.0 || p >= 1.0 {
                return 0.0;
            }
            density(p) * ((1.0 - p).powf(x) * rate_part(t) + p * (1.0 - p).powf(x - 1.0) * rate_part(t_x))
        };
        close(m.log_likelihood_one(3, t_x, t), integrate(&integrand, 0.0, 1.0, 1e-13).ln(), 1e-8);
    }

    #[test]
    fn predictions_match_numerical_integration() {
        let m = BgNbd::new(0.8, 2.5, 1.7, 3.1).expect("valid");
        let density = |p: f64| ((m.a - 1.0) * p.ln() + (m.b - 1.0) * (1.0 - p).ln() - ln_beta(m.a, m.b)).exp();
        // E[X(t)] = ∫ (1/p)(1 − (α/(α+pt))ʳ) f(p) dp.
        let t = 20.0;
        let integrand = |p: f64| if p <= 0.0 { 0.0 } else { density(p) * (1.0 - (m.alpha / (m.alpha + p * t)).powf(m.r)) / p };
        close(m.expected_transactions(t), integrate(&integrand, 0.0, 1.0, 1e-13), 1e-8);
        // E[Y(t)|x,tₓ,T] = ∫ (1−p)ˣ/p · Γ(r+x)αʳ/Γ(r) · [(α+T)^−(r+x) − (α+T+pt)^−(r+x)] f(p) dp / L.
        let (x, t_x, t_cal) = (3_u32, 6.5, 9.0);
        let xf = f64::from(x);
        let gamma_part = (ln_gamma(m.r + xf) - ln_gamma(m.r) + m.r * m.alpha.ln()).exp();
        let integrand = |p: f64| {
            if p <= 0.0 || p >= 1.0 {
                return 0.0;
            }
            let purchases = (m.alpha + t_cal).powf(-(m.r + xf)) - (m.alpha + t_cal + p * t).powf(-(m.r + xf));
            density(p) * (1.0 - p).powf(xf) / p * gamma_part * purchases
        };
        let expected = integrate(&integrand, 0.0, 1.0, 1e-13) / m.log_likelihood_one(x, t_x, t_cal).exp();
        close(m.conditional_expected_transactions(t, x, t_x, t_cal), expected, 1e-7);
        // P(alive) = the alive term's share of L.
        let alive_term = (ln_beta(m.a, m.b + xf) - ln_beta(m.a, m.b) + ln_gamma(m.r + xf) - ln_gamma(m.r) + m.r * m.alpha.ln()
            - (m.r + xf) * (m.alpha + t_cal).ln())
        .exp();
        close(m.probability_alive(x, t_x, t_cal), alive_term / m.log_likelihood_one(x, t_x, t_cal).exp(), 1e-12);
        assert_eq!(m.probability_alive(0, 0.0, 5.0), 1.0);
    }

    #[test]
    fn predictions_match_reference_values_at_the_published_parameters() {
        // Hardie's spreadsheet value at the paper's parameters (also asserted by lifetimes' tests).
        close(PAPER.conditional_expected_transactions(39.0, 2, 30.43, 38.86), 1.226, 5e-4);
        // Reference values computed independently with mpmath at 30 digits, both from its hyp2f1 and
        // by quadrature of ∫ (1/p)(1 − (α/(α+pt))ʳ) f(p) dp.
        close(PAPER.conditional_expected_transactions(39.0, 2, 30.43, 38.86), 1.226_028_174_767_144_4, 1e-12);
        let reference = [
            (0.1429, 0.007_828_347_516_072_164),
            (1.0, 0.053_267_891_171_658_28),
            (3.0, 0.150_865_230_893_046_68),
            (31.8571, 1.041_996_060_852_210_7),
            (32.0, 1.045_243_328_374_443_8),
            (78.0, 1.860_519_057_942_768_6),
        ];
        for (t, expected) in reference {
            close(PAPER.expected_transactions(t), expected, 1e-12);
        }
        assert_eq!(PAPER.conditional_expected_transactions(0.0, 2, 30.43, 38.86), 0.0);
        assert_eq!(PAPER.expected_transactions(-1.0), 0.0);
    }

    /// Simulates BG/NBD customers observed for `t_cal` weeks, times rounded to days like real logs.
    fn simulate(m: &BgNbd, customers: usize, seed: u64) -> Vec<CustomerSummary> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..customers)
            .map(|i| {
                let t_cal = 26.0 + (i % 14) as f64; // staggered acquisition, like a cohort
                let rate = gamma(&mut rng, m.r) / m.alpha;
                let dropout = beta(&mut rng, m.a, m.b);
                let (mut now, mut x, mut last) = (0.0, 0, 0.0);
                loop {
                    now += exponential(&mut rng) / rate;
                    if now > t_cal {
                        break;
                    }
                    x += 1;
                    last = now;
                    if rand::Rng::gen::<f64>(&mut rng) < dropout {
                        break;
                    }
                }
                let last = ((last * 7.0).floor() / 7.0).min(t_cal);
                summary(x, if x == 0 { 0.0 } else { last }, t_cal)
            })
            .collect()
    }

    #[test]
    fn fit_recovers_simulated_parameters() {
        let truth = BgNbd::new(0.6, 5.0, 0.9, 3.0).expect("valid");
        let data = simulate(&truth, 6000, 7);
        let fit = BgNbd::fit(&data, &NelderMead::default()).expect("fits");
        let got = fit.model;
        for (name, got, want, tolerance) in
            [("r", got.r, truth.r, 0.15), ("alpha", got.alpha, truth.alpha, 0.2), ("a", got.a, truth.a, 0.35), ("b", got.b, truth.b, 0.45)]
        {
            assert!((got - want).abs() <= tolerance * want, "{name}: got {got}, want {want} ± {tolerance:.0e}: {fit:?}");
        }
        assert!(fit.converged);
        assert!(fit.log_likelihood >= truth.log_likelihood(&data).expect("valid"));
    }
}
