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
//! Params: `factors` (default 64), `iterations` (15), `regularization` (λ, 10), `alpha` (40),
//! `seed` (0); a seed gives the same factors on every run and any thread count.

use std::ops::{Add, Mul};
use std::thread;

use agora_plugin_api::model::Interactions;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::{cholesky_in_place, cholesky_in_place_scratch, LltError};
use faer::linalg::cholesky::llt::solve::{solve_in_place, solve_in_place_scratch};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatMut, MatRef, Par};

use crate::cooccurrence::Lists;
use crate::params::{Params, Rule};
use crate::snapshot::{ensure, Reader, Writer};
use crate::sparse::best_of_dense;
use crate::{distinct, strongest, Recommender};

const TASK: &str = "rec.als";
/// Conjugate-gradient steps per factor update.
const CG_STEPS: usize = 3;

pub(crate) struct Als {
    alpha: f64,
    regularization: f64,
    /// Y, n_items × factors (column-major: scoring is one matrix-vector product).
    item_factors: Mat<f32>,
    /// YᵀY + λI, factors × factors (derived at load).
    gram: Mat<f64>,
    /// Each item factor's length, for cosine similarity (derived at load).
    norms: Vec<f32>,
}

impl Als {
    pub(crate) fn fit(data: &Interactions, params: &Params, progress: &mut dyn FnMut(u64, u64)) -> Result<Als, String> {
        params.only(TASK, &["factors", "iterations", "regularization", "alpha", "seed"])?;
        let factors = params.count("factors", 64, 1)? as usize;
        let iterations = params.count("iterations", 15, 1)?;
        let regularization = params.number("regularization", 10.0, Rule::Positive)?;
        let alpha = params.number("alpha", 40.0, Rule::NonNegative)?;
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
        let item_factors = Mat::from_fn(item_users.len(), factors, |item, factor| items[item * factors + factor] as f32);
        Ok(Als::new(alpha, regularization, item_factors))
    }

    pub(crate) fn decode(reader: &mut Reader) -> Result<Als, String> {
        let factors = reader.u32()? as usize;
        let (alpha, regularization) = (reader.f64()?, reader.f64()?);
        let values = reader.f32s()?;
        ensure(factors > 0 && values.len() % factors == 0, "ALS item factors do not fill whole rows")?;
        ensure(alpha >= 0.0 && regularization > 0.0, "ALS alpha or regularization out of range")?;
        ensure(values.iter().all(|value| value.is_finite()), "ALS item factors are not finite")?;
        let n_items = values.len() / factors;
        Ok(Als::new(alpha, regularization, Mat::from_fn(n_items, factors, |item, factor| values[factor * n_items + item])))
    }

    fn new(alpha: f64, regularization: f64, item_factors: Mat<f32>) -> Als {
        let wide = Mat::from_fn(item_factors.nrows(), item_factors.ncols(), |item, factor| item_factors[(item, factor)] as f64);
        let gram = gram(wide.as_ref(), regularization);
        let mut norms = vec![0f32; item_factors.nrows()];
        for factor in 0..item_factors.ncols() {
            norms.iter_mut().zip(item_factors.col_as_slice(factor)).for_each(|(norm, value)| *norm += value * value);
        }
        norms.iter_mut().for_each(|norm| *norm = norm.sqrt());
        Als { alpha, regularization, item_factors, gram, norms }
    }

    fn factors(&self) -> usize {
        self.item_factors.ncols()
    }

    fn item(&self, item: u32) -> Vec<f32> {
        self.item_factors.row(item as usize).iter().copied().collect()
    }

    /// Y v: one score per item.
    fn product(&self, vector: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; self.n_items()];
        matmul(
            MatMut::from_column_major_slice_mut(&mut out, self.n_items(), 1),
            Accum::Replace,
            self.item_factors.as_ref(),
            MatRef::from_column_major_slice(vector, self.factors(), 1),
            1.0,
            Par::Seq,
        );
        out
    }

    /// The user vector of a history: the exact least-squares solution against the item factors
    /// (zero should the system be numerically singular).
    fn fold_in(&self, history: &[u32]) -> Vec<f32> {
        let items = distinct(history);
        let observed = Mat::from_fn(items.len(), self.factors(), |row, factor| self.item_factors[(items[row] as usize, factor)] as f64);
        let mut system = self.gram.clone();
        matmul(system.as_mut(), Accum::Add, observed.transpose(), observed.as_ref(), self.alpha, Par::Seq);
        let mut user = Mat::from_fn(self.factors(), 1, |factor, _| (1.0 + self.alpha) * observed.col(factor).iter().sum::<f64>());
        if solve_spd(system, user.as_mut()).is_err() {
            return vec![0.0; self.factors()];
        }
        user.col_as_slice(0).iter().map(|&value| value as f32).collect()
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
        let gram = gram(MatRef::from_row_major_slice(fixed, fixed.len() / f, f), self.regularization);
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
    fn conjugate_gradient(&self, x: &mut [f64], gram: &Mat<f64>, fixed: &[f64], observed: &[u32]) {
        let f = self.factors;
        let y = |i: u32| &fixed[i as usize * f..(i as usize + 1) * f];
        let apply = |v: &[f64], out: &mut [f64]| {
            for (row, out) in out.iter_mut().enumerate() {
                *out = dot(gram.col_as_slice(row), v);
            }
            for &i in observed {
                let weight = self.alpha * dot(y(i), v);
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
        let mut norm = dot(&residual, &residual);
        for _ in 0..CG_STEPS {
            if norm < 1e-20 {
                break;
            }
            apply(&direction, &mut applied);
            let step = norm / dot(&direction, &applied);
            x.iter_mut().zip(&direction).for_each(|(x, d)| *x += step * d);
            residual.iter_mut().zip(&applied).for_each(|(r, a)| *r -= step * a);
            let next = dot(&residual, &residual);
            direction.iter_mut().zip(&residual).for_each(|(d, r)| *d = r + next / norm * *d);
            norm = next;
        }
    }
}

/// YᵀY + λI.
fn gram(factors: MatRef<f64>, regularization: f64) -> Mat<f64> {
    let mut gram = factors.transpose() * factors;
    (0..gram.nrows()).for_each(|at| gram[(at, at)] += regularization);
    gram
}

/// Solves A x = b in place (x written over `rhs`) for a symmetric positive definite `matrix`,
/// on the calling thread.
fn solve_spd(mut matrix: Mat<f64>, rhs: MatMut<f64>) -> Result<(), LltError> {
    let n = matrix.nrows();
    let scratch =
        cholesky_in_place_scratch::<f64>(n, Par::Seq, Default::default()).or(solve_in_place_scratch::<f64>(n, rhs.ncols(), Par::Seq));
    let mut scratch = MemBuffer::new(scratch);
    cholesky_in_place(matrix.as_mut(), Default::default(), Par::Seq, MemStack::new(&mut scratch), Default::default())?;
    solve_in_place(matrix.as_ref(), rhs, Par::Seq, MemStack::new(&mut scratch));
    Ok(())
}

/// A dot product the compiler can vectorise (eight independent partial sums).
fn dot<T: Copy + Default + Add<Output = T> + Mul<Output = T>>(a: &[T], b: &[T]) -> T {
    let mut partial = [T::default(); 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail = a_chunks.remainder().iter().zip(b_chunks.remainder()).fold(T::default(), |sum, (&x, &y)| sum + x * y);
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..8 {
            partial[lane] = partial[lane] + x[lane] * y[lane];
        }
    }
    partial.into_iter().fold(tail, |sum, value| sum + value)
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
        self.item_factors.nrows()
    }

    fn scores(&self, history: &[u32]) -> Vec<f32> {
        if history.is_empty() {
            return vec![0.0; self.n_items()];
        }
        self.product(&self.fold_in(history))
    }

    fn because(&self, history: &[u32], item: u32) -> Option<u32> {
        let target = self.item(item);
        strongest(history, |_, seen| dot(&self.item(seen), &target))
    }

    fn similar(&self, item: u32, k: usize) -> Result<Vec<(u32, f32)>, String> {
        let norm = self.norms[item as usize];
        let mut cosines = self.product(&self.item(item));
        for (cosine, &other_norm) in cosines.iter_mut().zip(&self.norms) {
            *cosine = if norm > 0.0 && other_norm > 0.0 { *cosine / (norm * other_norm) } else { 0.0 };
        }
        Ok(best_of_dense(&cosines, k, item))
    }

    fn encode(&self, out: &mut Writer) {
        out.u32(self.factors() as u32);
        out.f64(self.alpha);
        out.f64(self.regularization);
        let columns: Vec<f32> = (0..self.factors()).flat_map(|factor| self.item_factors.col_as_slice(factor).iter().copied()).collect();
        out.f32s(&columns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{because, fit, fit_load, interactions, scores, similar};

    #[test]
    fn cholesky_solves_a_small_system() {
        let matrix = Mat::from_fn(3, 3, |row, col| [[4.0, 2.0, 0.4], [2.0, 5.0, 1.0], [0.4, 1.0, 3.0]][row][col]);
        let mut rhs = Mat::from_fn(3, 1, |row, _| [1.0, 2.0, 3.0][row]);
        solve_spd(matrix.clone(), rhs.as_mut()).unwrap();
        let product = &matrix * &rhs;
        (0..3).for_each(|row| assert!((product[(row, 0)] - [1.0, 2.0, 3.0][row]).abs() < 1e-12));
        assert!(solve_spd(Mat::from_fn(1, 1, |_, _| -1.0), rhs.as_mut().subrows_mut(0, 1)).is_err());
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
