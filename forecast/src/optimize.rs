//! A small Nelder-Mead minimiser for the models' few smoothing parameters.

/// Nelder-Mead settings (standard coefficients 1, 2, ½, ½).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NelderMead {
    /// The most objective evaluations.
    pub max_evaluations: usize,
    /// Stop when the simplex's values differ by at most this, relative to the best value.
    pub tolerance: f64,
}

impl Default for NelderMead {
    fn default() -> Self {
        Self { max_evaluations: 400, tolerance: 1e-8 }
    }
}

impl NelderMead {
    /// Minimises `f` from `start` with initial simplex edges `steps`; non-finite values count as +∞.
    /// Returns the best point and its value (start and +∞ when nothing finite was seen).
    pub fn minimize<F: FnMut(&[f64]) -> f64>(&self, mut f: F, start: &[f64], steps: &[f64]) -> (Vec<f64>, f64) {
        let n = start.len();
        let mut eval = |x: &[f64]| {
            let v = f(x);
            if v.is_finite() {
                v
            } else {
                f64::INFINITY
            }
        };
        if n == 0 {
            let v = eval(start);
            return (Vec::new(), v);
        }
        let mut simplex: Vec<Vec<f64>> = vec![start.to_vec()];
        for i in 0..n {
            let mut p = start.to_vec();
            p[i] += steps[i];
            simplex.push(p);
        }
        let mut values: Vec<f64> = simplex.iter().map(|p| eval(p)).collect();
        let mut evaluations = n + 1;
        let mut order: Vec<usize> = (0..=n).collect();
        while evaluations < self.max_evaluations {
            order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
            let (best, worst, second) = (order[0], order[n], order[n - 1]);
            let spread = values[worst] - values[best];
            if spread.is_finite() && spread <= self.tolerance * (values[best].abs() + 1e-10) {
                break;
            }
            let mut centroid = vec![0.0; n];
            for &i in &order[..n] {
                for (c, x) in centroid.iter_mut().zip(&simplex[i]) {
                    *c += x / n as f64;
                }
            }
            let along = |t: f64| -> Vec<f64> { centroid.iter().zip(&simplex[worst]).map(|(c, w)| c + t * (w - c)).collect() };
            let reflected = along(-1.0);
            let fr = eval(&reflected);
            evaluations += 1;
            if fr < values[best] {
                let expanded = along(-2.0);
                let fe = eval(&expanded);
                evaluations += 1;
                if fe < fr {
                    simplex[worst] = expanded;
                    values[worst] = fe;
                } else {
                    simplex[worst] = reflected;
                    values[worst] = fr;
                }
            } else if fr < values[second] {
                simplex[worst] = reflected;
                values[worst] = fr;
            } else {
                let contracted = if fr < values[worst] { along(-0.5) } else { along(0.5) };
                let fc = eval(&contracted);
                evaluations += 1;
                if fc < values[worst].min(fr) {
                    simplex[worst] = contracted;
                    values[worst] = fc;
                } else {
                    let b = simplex[best].clone();
                    for &i in &order[1..] {
                        for (x, bx) in simplex[i].iter_mut().zip(&b) {
                            *x = bx + 0.5 * (*x - bx);
                        }
                        values[i] = eval(&simplex[i]);
                        evaluations += 1;
                    }
                }
            }
        }
        let best = (0..=n).min_by(|&a, &b| values[a].total_cmp(&values[b])).unwrap_or(0);
        (simplex[best].clone(), values[best])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_a_quadratic_and_respects_infeasibility() {
        let nm = NelderMead { max_evaluations: 2000, tolerance: 1e-14 };
        let (x, v) = nm.minimize(|p| (p[0] - 1.0).powi(2) + 3.0 * (p[1] + 2.0).powi(2), &[0.0, 0.0], &[0.5, 0.5]);
        assert!((x[0] - 1.0).abs() < 1e-4 && (x[1] + 2.0).abs() < 1e-4 && v < 1e-8);
        let (x, _) = nm.minimize(|p| if p[0] < 0.5 { f64::NAN } else { p[0] * p[0] }, &[1.0], &[0.2]);
        assert!((x[0] - 0.5).abs() < 1e-3);
    }
}
