//! The Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Colombo & Jiang 1999) and customer lifetime value.
//!
//! A customer's transaction values are Gamma(p, ν) with ν ~ Gamma(q, γ) across customers (`v` is
//! γ); what is observed is the mean z̄ of their x repeat transactions. Spend is assumed
//! independent of the transaction process, so CLV = expected transactions × expected spend.

use serde::{Deserialize, Serialize};

use super::{check_positive, fit_log_space, CustomerSummary, Fit, NelderMead, TransactionModel};
use crate::special::ln_gamma;
use crate::{AnalyticsError, Result};

/// Gamma-Gamma parameters: values ~ Gamma(shape p, rate ν), ν ~ Gamma(shape q, rate v).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct GammaGamma {
    pub p: f64,
    pub q: f64,
    pub v: f64,
}

impl GammaGamma {
    /// A model with the given parameters.
    ///
    /// # Errors
    /// [`AnalyticsError::InvalidParameter`] unless all three are finite and > 0.
    pub fn new(p: f64, q: f64, v: f64) -> Result<Self> {
        check_positive(&[("p", p), ("q", q), ("v", v)])?;
        Ok(Self { p, q, v })
    }

    /// The log-density of one customer's mean spend z̄ over x transactions:
    /// ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln v + (px−1) ln z̄ + px ln x − (px+q) ln(xz̄ + v).
    /// NaN unless x > 0 and z̄ > 0.
    pub fn log_likelihood_one(&self, x: u32, mean_spend: f64) -> f64 {
        if x == 0 || mean_spend.is_nan() || mean_spend <= 0.0 {
            return f64::NAN;
        }
        let Self { p, q, v } = *self;
        let x = f64::from(x);
        let px = p * x;
        ln_gamma(px + q) - ln_gamma(px) - ln_gamma(q) + q * v.ln() + (px - 1.0) * mean_spend.ln() + px * x.ln()
            - (px + q) * (x * mean_spend + v).ln()
    }

    /// The total log-likelihood of the customers the model applies to (x > 0 and spend > 0; others are skipped).
    pub fn log_likelihood(&self, data: &[CustomerSummary]) -> f64 {
        data.iter().filter(|c| usable(c)).map(|c| self.log_likelihood_one(c.x, c.monetary)).sum()
    }

    /// Fits p, q, v by maximum likelihood on the customers with x > 0 and positive mean spend.
    ///
    /// # Errors
    /// [`AnalyticsError::InvalidInput`] when no customer has repeat spend, and
    /// [`AnalyticsError::Fit`] when the likelihood is nowhere finite.
    pub fn fit(data: &[CustomerSummary], optimizer: &NelderMead) -> Result<Fit<Self>> {
        let usable: Vec<(u32, f64)> = data.iter().filter(|c| usable(c)).map(|c| (c.x, c.monetary)).collect();
        if usable.is_empty() {
            return Err(AnalyticsError::InvalidInput("no customer has repeat transactions with a positive mean spend".to_string()));
        }
        let log_likelihood =
            |p: &[f64; 3]| -> f64 { usable.iter().map(|&(x, m)| Self { p: p[0], q: p[1], v: p[2] }.log_likelihood_one(x, m)).sum() };
        let mean = usable.iter().map(|(_, m)| m).sum::<f64>() / usable.len() as f64;
        let starts = [[1.0, 1.0, 1.0], [2.0, 3.0, 2.0 * mean]];
        let (p, value, evaluations, converged) = fit_log_space(log_likelihood, &starts, usable.len() as f64, optimizer)?;
        Ok(Fit { model: Self::new(p[0], p[1], p[2])?, log_likelihood: value, customers: usable.len(), evaluations, converged })
    }

    /// E[Z | x, z̄] = (v + x z̄) p / (px + q − 1): a weighted average of the population mean vp/(q−1)
    /// and the customer's own z̄. With x = 0 it is the population mean; +∞ where that mean does not
    /// exist (px + q ≤ 1).
    pub fn expected_average_spend(&self, x: u32, mean_spend: f64) -> f64 {
        let Self { p, q, v } = *self;
        let x = f64::from(x);
        let denominator = p * x + q - 1.0;
        if denominator <= 0.0 {
            return f64::INFINITY;
        }
        let own = if x > 0.0 { x * mean_spend } else { 0.0 };
        (v + own) * p / denominator
    }
}

fn usable(customer: &CustomerSummary) -> bool {
    customer.x > 0 && customer.monetary.is_finite() && customer.monetary > 0.0
}

/// How far ahead, in what steps and at what discount a lifetime value is computed.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClvOptions {
    /// The horizon, in the summaries' time unit (weeks: 52 for a year).
    pub horizon: f64,
    /// The discounting period, same unit (weeks: 52/12 for months).
    pub period: f64,
    /// The discount rate per period (0: no discounting).
    pub discount_rate: f64,
}

impl Default for ClvOptions {
    /// One year in monthly steps, undiscounted.
    fn default() -> Self {
        Self { horizon: 52.0, period: 52.0 / 12.0, discount_rate: 0.0 }
    }
}

/// A customer's lifetime value over the horizon: Σₖ (E[Y(kΔ)] − E[Y((k−1)Δ)]) · E[Z] / (1+d)ᵏ.
///
/// The periods are Δ = `period` long (the last one may be shorter); without discounting this is
/// E[Y(horizon) | x, tₓ, T] × E[Z | x, z̄].
///
/// # Errors
/// [`AnalyticsError::InvalidInput`] for a non-positive horizon or period, a discount rate ≤ −1,
/// or an inconsistent summary.
pub fn customer_lifetime_value(
    model: &impl TransactionModel,
    spend: &GammaGamma,
    customer: &CustomerSummary,
    options: &ClvOptions,
) -> Result<f64> {
    let ClvOptions { horizon, period, discount_rate } = *options;
    if !(horizon > 0.0 && horizon.is_finite() && period > 0.0 && period.is_finite() && discount_rate > -1.0 && discount_rate.is_finite()) {
        return Err(AnalyticsError::InvalidInput(format!(
            "clv needs horizon > 0, period > 0 and discount_rate > -1, got {horizon}, {period}, {discount_rate}"
        )));
    }
    customer.validate()?;
    let value = spend.expected_average_spend(customer.x, customer.monetary);
    let expected = |t: f64| model.conditional_expected_transactions(t, customer.x, customer.t_x, customer.t_cal);
    let periods = (horizon / period).ceil() as u64;
    let mut total = 0.0;
    let mut previous = 0.0;
    for k in 1..=periods {
        let cumulative = expected((k as f64 * period).min(horizon));
        total += (cumulative - previous) / (1.0 + discount_rate).powf(k as f64);
        previous = cumulative;
    }
    Ok(total * value)
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::clv::testing::gamma;
    use crate::clv::BgNbd;
    use crate::special::quadrature::integrate;

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!((actual - expected).abs() <= tolerance * expected.abs().max(1e-300), "{actual} vs {expected}");
    }

    fn customer(x: u32, t_x: f64, t_cal: f64, monetary: f64) -> CustomerSummary {
        CustomerSummary { id: String::new(), x, t_x, t_cal, monetary }
    }

    #[test]
    fn likelihood_matches_hand_and_integrated_values() {
        // p = 1, q = 2, x = 1: z ~ Exp(ν), ν ~ Gamma(2, v) ⇒ f(z) = 2v² / (z+v)³.
        let m = GammaGamma::new(1.0, 2.0, 5.0).expect("valid");
        close(m.log_likelihood_one(1, 3.0), (2.0 * 25.0 / 512.0_f64).ln(), 1e-13);
        // General case: the mean of x Gamma(p, ν) values has density x·Gamma(px, ν)(x z̄);
        // integrate ν ~ Gamma(q, v) out numerically.
        let m = GammaGamma::new(2.5, 3.5, 12.0).expect("valid");
        let (x, z) = (3.0_f64, 20.0_f64);
        let px = m.p * x;
        let integrand = |nu: f64| {
            if nu <= 0.0 {
                return 0.0;
            }
            let of_mean = x.ln() + px * nu.ln() - ln_gamma(px) + (px - 1.0) * (x * z).ln() - nu * x * z;
            let of_nu = m.q * m.v.ln() - ln_gamma(m.q) + (m.q - 1.0) * nu.ln() - m.v * nu;
            (of_mean + of_nu).exp()
        };
        close(m.log_likelihood_one(3, z), integrate(&integrand, 0.0, 10.0, 1e-13).ln(), 1e-8);
        assert!(m.log_likelihood_one(0, 10.0).is_nan() && m.log_likelihood_one(2, 0.0).is_nan());
    }

    #[test]
    fn expected_spend_shrinks_towards_the_population_mean() {
        let m = GammaGamma::new(6.25, 3.74, 15.44).expect("valid");
        let population = 15.44 * 6.25 / 2.74;
        close(m.expected_average_spend(0, 0.0), population, 1e-14);
        let one = m.expected_average_spend(1, 100.0);
        let many = m.expected_average_spend(20, 100.0);
        assert!(population < one && one < many && many < 100.0);
        let weight = 6.25 * 20.0 / (6.25 * 20.0 + 2.74);
        close(many, (1.0 - weight) * population + weight * 100.0, 1e-12);
        assert_eq!(GammaGamma::new(0.1, 0.5, 1.0).expect("valid").expected_average_spend(0, 0.0), f64::INFINITY);
    }

    #[test]
    fn fit_recovers_simulated_parameters() {
        let truth = GammaGamma::new(4.0, 3.0, 20.0).expect("valid");
        let mut rng = StdRng::seed_from_u64(5);
        let data: Vec<CustomerSummary> = (0..4000)
            .map(|i| {
                let x = 1 + (i % 6) as u32;
                let nu = gamma(&mut rng, truth.q) / truth.v;
                let total: f64 = (0..x).map(|_| gamma(&mut rng, truth.p) / nu).sum();
                customer(x, 1.0, 2.0, total / f64::from(x))
            })
            .collect();
        let fit = GammaGamma::fit(&data, &NelderMead::default()).expect("fits");
        for (name, got, want) in [("p", fit.model.p, truth.p), ("q", fit.model.q, truth.q), ("v", fit.model.v, truth.v)] {
            assert!((got - want).abs() <= 0.2 * want, "{name}: got {got}, want {want}: {fit:?}");
        }
        assert!(fit.log_likelihood >= truth.log_likelihood(&data));
        assert!(GammaGamma::fit(&[customer(0, 0.0, 3.0, 0.0)], &NelderMead::default()).is_err());
    }

    #[test]
    fn lifetime_value_is_transactions_times_spend_and_discounts() {
        let model = BgNbd::new(0.243, 4.414, 0.793, 2.426).expect("valid");
        let spend = GammaGamma::new(6.25, 3.74, 15.44).expect("valid");
        let c = customer(2, 30.43, 38.86, 22.35);
        let plain =
            customer_lifetime_value(&model, &spend, &c, &ClvOptions { horizon: 39.0, period: 4.0, discount_rate: 0.0 }).expect("valid");
        close(plain, model.conditional_expected_transactions(39.0, 2, 30.43, 38.86) * spend.expected_average_spend(2, 22.35), 1e-12);
        // Discounting by period, by hand: periods of 13 weeks.
        let options = ClvOptions { horizon: 39.0, period: 13.0, discount_rate: 0.1 };
        let y = |t: f64| model.conditional_expected_transactions(t, 2, 30.43, 38.86);
        let hand = (y(13.0) / 1.1 + (y(26.0) - y(13.0)) / 1.21 + (y(39.0) - y(26.0)) / 1.331) * spend.expected_average_spend(2, 22.35);
        close(customer_lifetime_value(&model, &spend, &c, &options).expect("valid"), hand, 1e-12);
        assert!(customer_lifetime_value(&model, &spend, &c, &ClvOptions { horizon: 0.0, ..options }).is_err());
    }
}
