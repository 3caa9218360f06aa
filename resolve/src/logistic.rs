//! L2-regularised logistic regression on standardised features, fitted by Newton's method
//! (iteratively reweighted least squares): exact, deterministic and fast for the few dozen
//! features a matcher has.

use serde::{Deserialize, Serialize};

use crate::matcher::check;
use crate::{ResolveError, Result};

/// Training settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogisticOptions {
    /// L2 penalty on the weights (not the intercept), per training row.
    pub l2: f64,
    /// Newton steps at most.
    pub max_iterations: usize,
}

impl Default for LogisticOptions {
    fn default() -> Self {
        Self { l2: 1e-3, max_iterations: 50 }
    }
}

/// A fitted model: per-feature mean and scale, weights and intercept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Logistic {
    mean: Vec<f64>,
    scale: Vec<f64>,
    weights: Vec<f64>,
    intercept: f64,
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

impl Logistic {
    /// Fits the model.
    ///
    /// Index loops are the clearest way to write the matrix algebra here.
    /// # Errors
    /// Unusable training data, or a singular system.
    #[allow(clippy::needless_range_loop)]
    pub fn train(rows: &[Vec<f64>], labels: &[bool], options: &LogisticOptions) -> Result<Self> {
        check(rows, labels)?;
        let n = rows.len() as f64;
        let d = rows[0].len();
        let mut mean = vec![0.0; d];
        for row in rows {
            for (m, x) in mean.iter_mut().zip(row) {
                *m += x / n;
            }
        }
        let mut scale = vec![0.0; d];
        for row in rows {
            for ((s, x), m) in scale.iter_mut().zip(row).zip(&mean) {
                *s += (x - m) * (x - m) / n;
            }
        }
        for s in &mut scale {
            *s = if *s > 1e-12 { s.sqrt() } else { 1.0 };
        }
        // Design matrix with the intercept as column d.
        let design: Vec<Vec<f64>> = rows
            .iter()
            .map(|row| row.iter().zip(&mean).zip(&scale).map(|((x, m), s)| (x - m) / s).chain(std::iter::once(1.0)).collect())
            .collect();
        let mut beta = vec![0.0; d + 1];
        for _ in 0..options.max_iterations {
            let mut gradient = vec![0.0; d + 1];
            let mut hessian = vec![vec![0.0; d + 1]; d + 1];
            for (x, &label) in design.iter().zip(labels) {
                let p = sigmoid(x.iter().zip(&beta).map(|(a, b)| a * b).sum());
                let residual = p - f64::from(u8::from(label));
                let weight = (p * (1.0 - p)).max(1e-9);
                for i in 0..=d {
                    gradient[i] += residual * x[i];
                    for j in 0..=i {
                        hessian[i][j] += weight * x[i] * x[j];
                    }
                }
            }
            for i in 0..=d {
                for j in 0..i {
                    hessian[j][i] = hessian[i][j];
                }
                if i < d {
                    gradient[i] += options.l2 * n * beta[i];
                    hessian[i][i] += options.l2 * n;
                }
            }
            let step = solve(hessian, gradient).ok_or_else(|| ResolveError::Training("singular Hessian".into()))?;
            let mut largest = 0.0f64;
            for (b, s) in beta.iter_mut().zip(&step) {
                *b -= s;
                largest = largest.max(s.abs());
            }
            if largest < 1e-8 {
                break;
            }
        }
        let intercept = beta.pop().unwrap_or(0.0);
        Ok(Self { mean, scale, weights: beta, intercept })
    }

    /// The match probability of a feature vector.
    pub fn predict(&self, features: &[f64]) -> f64 {
        let z: f64 = features.iter().zip(&self.mean).zip(&self.scale).zip(&self.weights).map(|(((x, m), s), w)| (x - m) / s * w).sum();
        sigmoid(z + self.intercept)
    }

    /// The weights on the standardised features.
    pub fn weights(&self) -> &[f64] {
        &self.weights
    }
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting.
#[allow(clippy::needless_range_loop)]
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Option<Vec<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        if a[pivot][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let factor = a[row][col] / a[col][col];
            if factor != 0.0 {
                for k in col..n {
                    a[row][k] -= factor * a[col][k];
                }
                b[row] -= factor * b[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_rule() {
        let rows: Vec<Vec<f64>> = (0..200).map(|i| vec![f64::from(i % 20) / 20.0, 0.5]).collect();
        let labels: Vec<bool> = rows.iter().map(|row| row[0] > 0.5).collect();
        let model = Logistic::train(&rows, &labels, &LogisticOptions::default()).unwrap();
        assert!(model.predict(&[0.9, 0.5]) > 0.9 && model.predict(&[0.1, 0.5]) < 0.1);
    }
}
