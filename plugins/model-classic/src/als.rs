//! `rec.als`: implicit-feedback matrix factorisation (Hu, Koren, Volinsky 2008) by alternating
//! least squares.
//!
//! Every (user, distinct item) pair has preference 1 and confidence 1 + `alpha`, every other pair
//! preference 0 and confidence 1. Each half-iteration moves every user's (then every item's)
//! factors towards the solution of its weighted ridge problem with a few conjugate-gradient
//! steps, warm-started from the previous factors (Takács, Pilászy, Tikk 2011). Serving folds the
//! history in exactly, solving (YᵀY + λI + alpha Σ_h y_h y_hᵀ) x = (1 + alpha) Σ_h y_h over the
//! distinct history items, and scores item j with y_j · x.
//!
//! Params: `factors` (default 64), `iterations` (15), `regularization` (λ, 0.05), `alpha` (10),
//! `seed` (0); a seed gives the same factors on every run and any thread count.

use std::thread;

use agora_plugin_api::model::Interactions;
use faer::MatRef;

use crate::cooccurrence::Lists;
use crate::params::{Params, Rule};
use crate::snapshot::{ensure, Reader, Writer};
use crate::sparse::best_of_dense;
use crate::{distinct, strongest, Recommender};

const TASK: &str = "rec.als";
/// Conjugate-gradient steps per factor update.
const CG_STEPS: usize = 3;

pub(crate) struct Als {
    factors: usize,
    alpha: f64,
    regularization: f64,
    /// Row-major n_items × factors.
    item_factors: Vec<f32>,
    /// YᵀY + λI, row-major factors × factors (derived at load).
    gram: Vec<f64>,
    /// Each item factor's length, for cosine similarity (derived at load).
    norms: Vec<f32>,
}

impl Als {
    pub(crate) fn fit(data: &Interactions, params: &Params, progress: &mut dyn FnMut(u64, u64)) -> Result<Als, String> {
        params.only(TASK, &["factors", "iterations", "regularization", "alpha", "seed"])?;
        let factors = params.count("factors", 64, 1)? as usize;
        let iterations = params.count("iterations", 15, 1)?;
        let regularization = params.number("regularization", 0.05, Rule::Positive)?;
        let alpha = params.number("alpha", 10.0, Rule::NonNegative)?;
        let seed = params.count("seed", 0, 0)?;
        let user_items = Lists::user_items(data);
        let item_users = user_items.transpose(data.n_items as usize);
        let mut random = SplitMix(seed);
        let mut initial = |rows: usize| (0..rows * factors).map(|_| (random.uniform() - 0.5) * 0.1).collect::<Vec<f64>>();
        let mut users = initial(user_items.len());
        let mut items = initial(item_users.len());
        let problem = Problem { factors, regularization, alpha };
        progress(0, iterations);
        for iteration in 1..=iterations {
            problem.update(&mut users, &items, &user_items);
            problem.update(&mut items, &users, &item_users);
            progress(iteration, iterations);
        }
        Ok(Als::new(factors, alpha, regularization, items.into_iter().map(|value| value as f32).collect()))
    }

    pub(crate) fn decode(reader: &mut Reader) -> Result<Als, String> {
        let factors = reader.u32()? as usize;
        let (alpha, regularization) = (reader.f64()?, reader.f64()?);
        let item_factors = reader.f32s()?;
        ensure(factors > 0 && item_factors.len() % factors == 0, "ALS item factors do not fill whole rows")?;
        ensure(alpha >= 0.0 && regularization > 0.0, "ALS alpha or regularization out of range")?;
        Ok(Als::new(factors, alpha, regularization, item_factors))
    }

    fn new(factors: usize, alpha: f64, regularization: f64, item_factors: Vec<f32>) -> Als {
        let n_items = item_factors.len() / factors;
        let wide: Vec<f64> = item_factors.iter().map(|&value| value as f64).collect();
        let gram = gram(&wide, n_items, factors, regularization);
        let norms = item_factors.chunks_exact(factors).map(|row| dot(row, row).sqrt()).collect();
        Als { factors, alpha, regularization, item_factors, gram, norms }
    }

    fn item(&self, item: u32) -> &[f32] {
        &self.item_factors[item as usize * self.factors..(item as usize + 1) * self.factors]
    }

    /// The user vector of a history: the exact least-squares solution against the item factors.
    fn fold_in(&self, history: &[u32]) -> Vec<f32> {
        let f = self.factors;
        let mut matrix = self.gram.clone();
        let mut rhs = vec![0f64; f];
        for item in distinct(history) {
            let y = self.item(item);
            for (row, &y_row) in y.iter().enumerate() {
                rhs[row] += (1.0 + self.alpha) * y_row as f64;
                let scaled = self.alpha * y_row as f64;
                matrix[row * f..(row + 1) * f].iter_mut().zip(y).for_each(|(entry, &y_col)| *entry += scaled * y_col as f64);
            }
        }
        solve_spd(&mut matrix, &mut rhs, f);
        rhs.into_iter().map(|value| value as f32).collect()
    }
}

/// The settings of one least-squares half-iteration.
struct Problem {
    factors: usize,
    regularization: f64,
    alpha: f64,
}

impl Problem {
    /// Improves every row of `targets` given the `fixed` factors; `observed[row]` lists the
    /// fixed rows it interacted with. Rows are split across threads; each row's update depends
    /// only on its own data, so the result does not depend on the split.
    fn update(&self, targets: &mut [f64], fixed: &[f64], observed: &Lists) {
        let f = self.factors;
        let gram = gram(fixed, fixed.len() / f, f, self.regularization);
        let threads = thread::available_parallelism().map_or(1, |count| count.get());
        let rows_per_thread = observed.len().div_ceil(threads).max(1);
        thread::scope(|scope| {
            for (chunk, rows) in targets.chunks_mut(rows_per_thread * f).enumerate() {
                let gram = &gram;
                scope.spawn(move || {
                    for (offset, x) in rows.chunks_exact_mut(f).enumerate() {
                        self.conjugate_gradient(x, gram, fixed, observed.get(chunk * rows_per_thread + offset));
                    }
                });
            }
        });
    }

    /// A few conjugate-gradient steps on A x = b, with A = gram + alpha Σ_i y_i y_iᵀ and
    /// b = (1 + alpha) Σ_i y_i over the observed rows i of `fixed`.
    fn conjugate_gradient(&self, x: &mut [f64], gram: &[f64], fixed: &[f64], observed: &[u32]) {
        let f = self.factors;
        let y = |i: u32| &fixed[i as usize * f..(i as usize + 1) * f];
        let apply = |v: &[f64], out: &mut [f64]| {
            for (row, out) in out.iter_mut().enumerate() {
                *out = gram[row * f..(row + 1) * f].iter().zip(v).map(|(g, v)| g * v).sum();
            }
            for &i in observed {
                let weight = self.alpha * y(i).iter().zip(v).map(|(a, b)| a * b).sum::<f64>();
                out.iter_mut().zip(y(i)).for_each(|(out, y)| *out += weight * y);
            }
        };
        let mut residual = vec![0.0; f];
        apply(x, &mut residual);
        residual.iter_mut().for_each(|r| *r = -*r);
        for &i in observed {
            residual.iter_mut().zip(y(i)).for_each(|(r, y)| *r += (1.0 + self.alpha) * y);
        }
        let mut direction = residual.clone();
        let mut applied = vec![0.0; f];
        let mut norm = residual.iter().map(|r| r * r).sum::<f64>();
        for _ in 0..CG_STEPS {
            if norm < 1e-20 {
                break;
            }
            apply(&direction, &mut applied);
            let step = norm / direction.iter().zip(&applied).map(|(d, a)| d * a).sum::<f64>();
            x.iter_mut().zip(&direction).for_each(|(x, d)| *x += step * d);
            residual.iter_mut().zip(&applied).for_each(|(r, a)| *r -= step * a);
            let next = residual.iter().map(|r| r * r).sum::<f64>();
            direction.iter_mut().zip(&residual).for_each(|(d, r)| *d = r + next / norm * *d);
            norm = next;
        }
    }
}

/// YᵀY + λI for row-major `rows` × `factors` factors, row-major.
fn gram(factors_matrix: &[f64], rows: usize, factors: usize, regularization: f64) -> Vec<f64> {
    let y = MatRef::from_row_major_slice(factors_matrix, rows, factors);
    let product = y.transpose() * y;
    let mut gram = vec![0.0; factors * factors];
    for row in 0..factors {
        for col in 0..factors {
            gram[row * factors + col] = product[(row, col)] + if row == col { regularization } else { 0.0 };
        }
    }
    gram
}

/// Solves A x = b in place (x written over `rhs`) for a symmetric positive definite row-major
/// n × n `matrix`, which is overwritten by its Cholesky factor.
fn solve_spd(matrix: &mut [f64], rhs: &mut [f64], n: usize) {
    for j in 0..n {
        for i in j..n {
            let (upper, lower) = matrix.split_at_mut(i * n);
            let row_j = if i == j { &lower[..j] } else { &upper[j * n..j * n + j] };
            let sum: f64 = lower[..j].iter().zip(row_j).map(|(a, b)| a * b).sum();
            if i == j {
                lower[j] = (lower[j] - sum).sqrt();
            } else {
                lower[j] = (lower[j] - sum) / upper[j * n + j];
            }
        }
    }
    for i in 0..n {
        let sum: f64 = matrix[i * n..i * n + i].iter().zip(&rhs[..i]).map(|(a, b)| a * b).sum();
        rhs[i] = (rhs[i] - sum) / matrix[i * n + i];
    }
    for i in (0..n).rev() {
        let sum: f64 = (i + 1..n).map(|k| matrix[k * n + i] * rhs[k]).sum();
        rhs[i] = (rhs[i] - sum) / matrix[i * n + i];
    }
}

/// A dot product the compiler can vectorise (eight independent partial sums).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut partial = [0f32; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            partial[lane] += x[lane] * y[lane];
        }
    }
    partial.iter().sum::<f32>() + tail
}

/// SplitMix64, the deterministic generator of the initial factors.
struct SplitMix(u64);

impl SplitMix {
    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

impl Recommender for Als {
    fn n_items(&self) -> usize {
        self.norms.len()
    }

    fn scores(&self, history: &[u32]) -> Vec<f32> {
        if history.is_empty() {
            return vec![0.0; self.n_items()];
        }
        let user = self.fold_in(history);
        self.item_factors.chunks_exact(self.factors).map(|y| dot(y, &user)).collect()
    }

    fn because(&self, history: &[u32], item: u32) -> Option<u32> {
        strongest(history, |_, seen| dot(self.item(seen), self.item(item)))
    }

    fn similar(&self, item: u32, k: usize) -> Result<Vec<(u32, f32)>, String> {
        let (y, norm) = (self.item(item), self.norms[item as usize]);
        let cosines: Vec<f32> = self
            .item_factors
            .chunks_exact(self.factors)
            .zip(&self.norms)
            .map(|(other, &other_norm)| if norm > 0.0 && other_norm > 0.0 { dot(y, other) / (norm * other_norm) } else { 0.0 })
            .collect();
        Ok(best_of_dense(&cosines, k, item))
    }

    fn encode(&self, out: &mut Writer) {
        out.u32(self.factors as u32);
        out.f64(self.alpha);
        out.f64(self.regularization);
        out.f32s(&self.item_factors);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{because, fit, fit_load, interactions, scores, similar};

    #[test]
    fn cholesky_solves_a_small_system() {
        let mut matrix = vec![4.0, 2.0, 0.4, 2.0, 5.0, 1.0, 0.4, 1.0, 3.0];
        let mut rhs = vec![1.0, 2.0, 3.0];
        let original = matrix.clone();
        solve_spd(&mut matrix, &mut rhs, 3);
        for row in 0..3 {
            let value: f64 = (0..3).map(|col| original[row * 3 + col] * rhs[col]).sum();
            assert!((value - [1.0, 2.0, 3.0][row]).abs() < 1e-12);
        }
    }

    #[test]
    fn factors_separate_two_clusters_and_a_seed_repeats() {
        let data = interactions(6, &[&[0, 1, 2], &[0, 1], &[1, 2], &[0, 2], &[3, 4, 5], &[3, 4], &[4, 5], &[3, 5]]);
        let params = r#"{"factors": 2, "iterations": 10, "regularization": 0.1, "alpha": 5, "seed": 3}"#;
        let model = fit_load("rec.als", &data, params);
        let given_0 = scores(&model, &[0]);
        assert!(given_0[1].min(given_0[2]) > given_0[3].max(given_0[4]).max(given_0[5]), "{given_0:?}");
        assert_eq!(similar(&model, 4, 2).iter().filter(|&&item| item == 3 || item == 5).count(), 2);
        assert_eq!(because(&model, &[4, 1], &[2]), [Some(1)]);
        assert_eq!(fit("rec.als", &data, params).unwrap(), fit("rec.als", &data, params).unwrap());
        assert!(scores(&model, &[]).iter().all(|&score| score == 0.0));
    }

    #[test]
    fn bad_params_are_named() {
        let data = interactions(2, &[&[0, 1]]);
        assert!(fit("rec.als", &data, r#"{"factors": 0}"#).unwrap_err().contains("`factors` must be a whole number >= 1"));
        assert!(fit("rec.als", &data, r#"{"rank": 8}"#).unwrap_err().contains("unknown param `rank`"));
    }
}
