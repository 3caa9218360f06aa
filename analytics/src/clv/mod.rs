//! Customer-lifetime-value models on per-customer summaries: BG/NBD, Pareto/NBD and Gamma-Gamma.
//!
//! Build [`CustomerSummary`]s from a transaction log with [`summarize`], fit a transaction model
//! ([`BgNbd::fit`], [`ParetoNbd::fit`]) and the spend model ([`GammaGamma::fit`]) by maximum
//! likelihood, then predict per customer: expected transactions in a future period, the
//! probability the customer is still alive, and [`customer_lifetime_value`]. Everything is plain
//! synchronous computation; a fit of the 2,357-customer CDNOW sample takes well under a second.

pub mod bgnbd;
pub mod gammagamma;
pub mod optimize;
pub mod paretonbd;
pub mod summary;

use serde::{Deserialize, Serialize};

pub use bgnbd::BgNbd;
pub use gammagamma::{customer_lifetime_value, ClvOptions, GammaGamma};
pub use optimize::{Minimum, NelderMead};
pub use paretonbd::ParetoNbd;
pub use summary::{holdout_counts, parse_cdnow, parse_summary_csv, summarize, CustomerSummary, SummaryOptions, Transaction};

use crate::{AnalyticsError, Result};

/// A model of repeat transactions that predicts from a customer's (x, t_x, T).
pub trait TransactionModel {
    /// The log-likelihood of one customer's (x, t_x, T).
    fn log_likelihood_one(&self, x: u32, t_x: f64, t_cal: f64) -> f64;
    /// E[Y(t) | x, t_x, T]: the expected transactions in the next `t` time units.
    fn conditional_expected_transactions(&self, t: f64, x: u32, t_x: f64, t_cal: f64) -> f64;
    /// P(alive | x, t_x, T): the probability the customer has not dropped out by T.
    fn probability_alive(&self, x: u32, t_x: f64, t_cal: f64) -> f64;
    /// E[X(t)]: the expected transactions of a new customer in its first `t` time units.
    fn expected_transactions(&self, t: f64) -> f64;
}

/// A fitted model and how the fit went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fit<M> {
    pub model: M,
    /// The total log-likelihood of the data at the fitted parameters.
    pub log_likelihood: f64,
    /// Customers the fit used.
    pub customers: usize,
    /// Likelihood evaluations, over all starts and restarts.
    pub evaluations: usize,
    /// Whether the optimiser met its tolerances (false: it ran out of evaluations).
    pub converged: bool,
}

/// Customers with identical (x, t_x, T) merged into one weighted row: the likelihood then costs
/// one evaluation per distinct row (CDNOW: 2,357 customers, far fewer distinct rows).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Row {
    pub x: u32,
    pub t_x: f64,
    pub t_cal: f64,
    pub weight: f64,
}

/// Validates the summaries and merges identical (x, t_x, T) into weighted [`Row`]s.
pub(crate) fn compress(data: &[CustomerSummary]) -> Result<Vec<Row>> {
    if data.is_empty() {
        return Err(AnalyticsError::InvalidInput("no customers to fit".to_string()));
    }
    let mut rows = std::collections::BTreeMap::new();
    for customer in data {
        customer.validate()?;
        *rows.entry((customer.x, customer.t_x.to_bits(), customer.t_cal.to_bits())).or_insert(0.0) += 1.0;
    }
    Ok(rows
        .into_iter()
        .map(|((x, t_x, t_cal), weight)| Row { x, t_x: f64::from_bits(t_x), t_cal: f64::from_bits(t_cal), weight })
        .collect())
}

/// Checks that every named parameter is finite and > 0.
pub(crate) fn check_positive(parameters: &[(&'static str, f64)]) -> Result<()> {
    for &(name, value) in parameters {
        if !(value.is_finite() && value > 0.0) {
            return Err(AnalyticsError::InvalidParameter { name, value, expected: "a finite number > 0" });
        }
    }
    Ok(())
}

/// Maximises a log-likelihood over positive parameters by Nelder-Mead on their logarithms,
/// from each start in turn, keeping the best. `log_likelihood` gets the parameters (not their
/// logs) and returns the total log-likelihood; it is minimised as −LL / `scale` so the
/// optimiser's tolerances do not depend on the data size.
pub(crate) fn fit_log_space<const N: usize>(
    log_likelihood: impl Fn(&[f64; N]) -> f64,
    starts: &[[f64; N]],
    scale: f64,
    optimizer: &NelderMead,
) -> Result<([f64; N], f64, usize, bool)> {
    let mut best: Option<([f64; N], f64, bool)> = None;
    let mut evaluations = 0;
    let mut last_error = None;
    for start in starts {
        let objective = |theta: &[f64]| {
            let mut parameters = [0.0; N];
            parameters.iter_mut().zip(theta).for_each(|(p, t)| *p = t.exp());
            if parameters.iter().any(|p| !(p.is_finite() && *p > 0.0)) {
                return f64::INFINITY;
            }
            -log_likelihood(&parameters) / scale
        };
        let log_start: Vec<f64> = start.iter().map(|p| p.ln()).collect();
        match optimizer.minimize(objective, &log_start) {
            Ok(minimum) => {
                evaluations += minimum.evaluations;
                if best.as_ref().map_or(true, |(_, value, _)| minimum.value < *value) {
                    let mut parameters = [0.0; N];
                    parameters.iter_mut().zip(&minimum.x).for_each(|(p, t)| *p = t.exp());
                    best = Some((parameters, minimum.value, minimum.converged));
                }
            }
            Err(error) => last_error = Some(error),
        }
    }
    match (best, last_error) {
        (Some((parameters, value, converged)), _) => Ok((parameters, -value * scale, evaluations, converged)),
        (None, Some(error)) => Err(error),
        (None, None) => Err(AnalyticsError::Fit("no starting point".to_string())),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Samplers and fixtures for the models' simulation tests (rand 0.8 has no gamma/beta).

    use rand::Rng;

    use super::CustomerSummary;

    /// A standard exponential draw.
    pub(crate) fn exponential(rng: &mut impl Rng) -> f64 {
        -(1.0 - rng.gen::<f64>()).ln()
    }

    /// A standard normal draw (Box-Muller).
    pub(crate) fn normal(rng: &mut impl Rng) -> f64 {
        let u = 1.0 - rng.gen::<f64>();
        let v = rng.gen::<f64>();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }

    /// A Gamma(shape, rate 1) draw (Marsaglia & Tsang, boosted for shape < 1).
    pub(crate) fn gamma(rng: &mut impl Rng, shape: f64) -> f64 {
        if shape < 1.0 {
            let u = 1.0 - rng.gen::<f64>();
            return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
        }
        let d = shape - 1.0 / 3.0;
        let c = 1.0 / (9.0 * d).sqrt();
        loop {
            let z = normal(rng);
            let v = (1.0 + c * z).powi(3);
            if v <= 0.0 {
                continue;
            }
            let u = 1.0 - rng.gen::<f64>();
            if u.ln() < 0.5 * z * z + d - d * v + d * v.ln() {
                return d * v;
            }
        }
    }

    /// A Beta(a, b) draw.
    pub(crate) fn beta(rng: &mut impl Rng, a: f64, b: f64) -> f64 {
        let g = gamma(rng, a);
        g / (g + gamma(rng, b))
    }

    /// A summary without spend.
    pub(crate) fn summary(x: u32, t_x: f64, t_cal: f64) -> CustomerSummary {
        CustomerSummary { id: String::new(), x, t_x, t_cal, monetary: 0.0 }
    }
}
