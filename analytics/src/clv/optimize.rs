//! A derivative-free Nelder-Mead minimiser with restarts, used to fit the CLV models' likelihoods.

use serde::{Deserialize, Serialize};

use crate::{AnalyticsError, Result};

/// Nelder-Mead settings. The defaults converge the CLV fits (in log-parameter space) to 6+ digits.
///
/// Uses the dimension-adaptive coefficients of Gao & Han (2012). After a run converges, a fresh
/// simplex is built around the best point and the search runs again, up to `max_restarts` times,
/// until a restart improves the value by no more than `f_tolerance`; this escapes the premature
/// collapses a single Nelder-Mead run is known for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NelderMead {
    /// The length of the initial simplex's edges along each axis.
    pub initial_step: f64,
    /// A run has converged when the simplex's values differ by at most this (absolute) ...
    pub f_tolerance: f64,
    /// ... and every vertex is within this (max-norm) distance of the best one.
    pub x_tolerance: f64,
    /// The most objective evaluations, over all runs.
    pub max_evaluations: usize,
    /// The most restarts after the first run.
    pub max_restarts: usize,
}

impl Default for NelderMead {
    fn default() -> Self {
        Self { initial_step: 0.5, f_tolerance: 1e-11, x_tolerance: 1e-7, max_evaluations: 40_000, max_restarts: 8 }
    }
}

/// The best point a minimisation found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Minimum {
    /// The minimising point.
    pub x: Vec<f64>,
    /// The objective there.
    pub value: f64,
    /// Objective evaluations used.
    pub evaluations: usize,
    /// Restarts run after the first convergence.
    pub restarts: usize,
    /// Whether the last run met both tolerances (false: `max_evaluations` ran out first).
    pub converged: bool,
}

struct Counted<F> {
    f: F,
    evaluations: usize,
}

impl<F: FnMut(&[f64]) -> f64> Counted<F> {
    /// The objective, with NaN and −∞ mapped to +∞ so they always lose.
    fn eval(&mut self, x: &[f64]) -> f64 {
        self.evaluations += 1;
        let value = (self.f)(x);
        if value.is_nan() || value == f64::NEG_INFINITY {
            f64::INFINITY
        } else {
            value
        }
    }
}

impl NelderMead {
    /// Minimises `f` from `start`. Non-finite values of `f` count as +∞ (infeasible).
    ///
    /// # Errors
    /// [`AnalyticsError::InvalidInput`] for an empty or non-finite start or bad settings, and
    /// [`AnalyticsError::Fit`] when no point visited had a finite value.
    pub fn minimize<F: FnMut(&[f64]) -> f64>(&self, f: F, start: &[f64]) -> Result<Minimum> {
        if start.is_empty() || start.iter().any(|x| !x.is_finite()) {
            return Err(AnalyticsError::InvalidInput(format!("nelder-mead needs a finite, non-empty start, got {start:?}")));
        }
        if !(self.initial_step > 0.0 && self.f_tolerance >= 0.0 && self.x_tolerance >= 0.0) {
            return Err(AnalyticsError::InvalidInput("nelder-mead needs initial_step > 0 and non-negative tolerances".to_string()));
        }
        let mut objective = Counted { f, evaluations: 0 };
        let (mut best_x, mut best_value, mut converged) = self.run(&mut objective, start.to_vec());
        let mut restarts = 0;
        while converged && restarts < self.max_restarts && objective.evaluations < self.max_evaluations {
            restarts += 1;
            let (x, value, run_converged) = self.run(&mut objective, best_x.clone());
            let improvement = best_value - value;
            if value <= best_value {
                best_x = x;
                best_value = value;
            }
            converged = run_converged;
            if improvement.is_nan() || improvement <= self.f_tolerance {
                break;
            }
        }
        if !best_value.is_finite() {
            return Err(AnalyticsError::Fit(format!(
                "the objective was not finite at any of the {} points tried from {start:?}",
                objective.evaluations
            )));
        }
        Ok(Minimum { x: best_x, value: best_value, evaluations: objective.evaluations, restarts, converged })
    }

    /// One Nelder-Mead run from a fresh simplex around `start`: (best point, its value, converged).
    fn run<F: FnMut(&[f64]) -> f64>(&self, objective: &mut Counted<F>, start: Vec<f64>) -> (Vec<f64>, f64, bool) {
        let n = start.len();
        let dim = n as f64;
        let (reflect, expand, contract, shrink) = (1.0, 1.0 + 2.0 / dim, 0.75 - 1.0 / (2.0 * dim), 1.0 - 1.0 / dim);
        let shrink = if n == 1 { 0.5 } else { shrink };
        let mut simplex: Vec<(Vec<f64>, f64)> = Vec::with_capacity(n + 1);
        let value = objective.eval(&start);
        simplex.push((start.clone(), value));
        for axis in 0..n {
            let mut vertex = start.clone();
            vertex[axis] += self.initial_step;
            let value = objective.eval(&vertex);
            simplex.push((vertex, value));
        }
        let mut centroid = vec![0.0; n];
        loop {
            simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
            let best = simplex[0].1;
            let spread_f = simplex.iter().map(|(_, v)| (v - best).abs()).fold(0.0, f64::max);
            let spread_x =
                simplex[1..].iter().flat_map(|(x, _)| x.iter().zip(&simplex[0].0).map(|(a, b)| (a - b).abs())).fold(0.0, f64::max);
            if best.is_finite() && spread_f <= self.f_tolerance && spread_x <= self.x_tolerance {
                return (simplex[0].0.clone(), best, true);
            }
            if objective.evaluations >= self.max_evaluations {
                return (simplex[0].0.clone(), best, false);
            }
            centroid.iter_mut().for_each(|c| *c = 0.0);
            for (x, _) in &simplex[..n] {
                centroid.iter_mut().zip(x).for_each(|(c, xi)| *c += xi / dim);
            }
            let worst = simplex[n].1;
            let second_worst = simplex[n - 1].1;
            let along = |t: f64, from: &[f64]| -> Vec<f64> { centroid.iter().zip(from).map(|(c, x)| c + t * (c - x)).collect() };
            let reflected = along(reflect, &simplex[n].0);
            let f_reflected = objective.eval(&reflected);
            if f_reflected < best {
                let expanded = along(reflect * expand, &simplex[n].0);
                let f_expanded = objective.eval(&expanded);
                simplex[n] = if f_expanded < f_reflected { (expanded, f_expanded) } else { (reflected, f_reflected) };
                continue;
            }
            if f_reflected < second_worst {
                simplex[n] = (reflected, f_reflected);
                continue;
            }
            let (contracted, f_contracted, accept) = if f_reflected < worst {
                let point = along(reflect * contract, &simplex[n].0);
                let value = objective.eval(&point);
                (point, value, value <= f_reflected)
            } else {
                let point = along(-contract, &simplex[n].0);
                let value = objective.eval(&point);
                (point, value, value < worst)
            };
            if accept {
                simplex[n] = (contracted, f_contracted);
                continue;
            }
            let anchor = simplex[0].0.clone();
            for (x, value) in &mut simplex[1..] {
                x.iter_mut().zip(&anchor).for_each(|(xi, a)| *xi = a + shrink * (*xi - a));
                *value = objective.eval(x);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_rosenbrock_to_many_digits() {
        let rosenbrock = |x: &[f64]| (1.0 - x[0]).powi(2) + 100.0 * (x[1] - x[0] * x[0]).powi(2);
        let found = NelderMead { f_tolerance: 1e-20, x_tolerance: 1e-10, ..NelderMead::default() }
            .minimize(rosenbrock, &[-1.2, 1.0])
            .expect("rosenbrock has finite values");
        assert!(found.converged);
        assert!((found.x[0] - 1.0).abs() < 1e-7 && (found.x[1] - 1.0).abs() < 1e-7, "{found:?}");
    }

    #[test]
    fn minimises_a_four_dimensional_quadratic_with_infeasible_region() {
        let target = [0.3, -1.2, 2.5, 0.7];
        let f = |x: &[f64]| {
            if x[0] < -5.0 {
                return f64::NAN;
            }
            x.iter().zip(&target).enumerate().map(|(i, (a, b))| (i as f64 + 1.0) * (a - b).powi(2)).sum::<f64>() + 0.5 * x[0] * x[1]
        };
        let found = NelderMead::default().minimize(f, &[0.0; 4]).expect("finite");
        // The minimum of Σ wᵢ(xᵢ−tᵢ)² + ½x₀x₁: solve the 2×2 system for (x₀, x₁).
        // 2(x₀−0.3) + 0.5x₁ = 0, 4(x₁+1.2) + 0.5x₀ = 0.
        let x1 = (-4.8 - 0.5 * 0.3) / (4.0 - 0.125);
        let x0 = 0.3 - 0.25 * x1;
        for (got, want) in found.x.iter().zip([x0, x1, 2.5, 0.7]) {
            assert!((got - want).abs() < 1e-6, "{found:?}");
        }
    }

    #[test]
    fn reports_an_objective_that_is_never_finite() {
        assert!(matches!(NelderMead::default().minimize(|_| f64::NAN, &[1.0, 2.0]), Err(AnalyticsError::Fit(_))));
        assert!(matches!(NelderMead::default().minimize(|_| 0.0, &[]), Err(AnalyticsError::InvalidInput(_))));
    }
}
