//! What the learned matchers share: a trained [`Matcher`] (logistic regression or gradient-boosted
//! trees) scores a feature vector with a match probability; the decision threshold is chosen on
//! validation pairs for the best F1; precision, recall and F1 of the match class.

use serde::{Deserialize, Serialize};

use crate::gbt::{Gbt, GbtOptions};
use crate::logistic::{Logistic, LogisticOptions};
use crate::{ResolveError, Result};

/// Precision, recall and F1 (fractions in [0, 1]) of the match class, with the counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
}

impl Scores {
    /// Scores of `predicted` against `labels`.
    pub fn of(predicted: impl IntoIterator<Item = bool>, labels: &[bool]) -> Self {
        let (mut tp, mut fp, mut fn_) = (0, 0, 0);
        for (predicted, &label) in predicted.into_iter().zip(labels) {
            match (predicted, label) {
                (true, true) => tp += 1,
                (true, false) => fp += 1,
                (false, true) => fn_ += 1,
                (false, false) => {}
            }
        }
        Self::from_counts(tp, fp, fn_)
    }

    fn from_counts(tp: usize, fp: usize, fn_: usize) -> Self {
        let precision = if tp + fp > 0 { tp as f64 / (tp + fp) as f64 } else { 0.0 };
        let recall = if tp + fn_ > 0 { tp as f64 / (tp + fn_) as f64 } else { 0.0 };
        let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        Self { precision, recall, f1, true_positives: tp, false_positives: fp, false_negatives: fn_ }
    }
}

/// The threshold on `scores` that gives the best F1 on `labels` (ties: the higher threshold),
/// halfway between two neighbouring scores, and the F1 it reaches.
pub fn best_threshold(scores: &[f64], labels: &[bool]) -> (f64, Scores) {
    let mut order: Vec<usize> = (0..scores.len().min(labels.len())).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let positives = order.iter().filter(|&&i| labels[i]).count();
    let mut best = (0.5, Scores::from_counts(0, 0, positives));
    let (mut tp, mut fp) = (0, 0);
    for (rank, &index) in order.iter().enumerate() {
        if labels[index] {
            tp += 1;
        } else {
            fp += 1;
        }
        // Only cut between distinct scores.
        let next = order.get(rank + 1).map(|&next| scores[next]);
        if next.is_some_and(|next| next == scores[index]) {
            continue;
        }
        let scores_here = Scores::from_counts(tp, fp, positives - tp);
        if scores_here.f1 > best.1.f1 {
            let threshold = next.map_or(scores[index] - 1e-9, |next| (scores[index] + next) / 2.0);
            best = (threshold, scores_here);
        }
    }
    best
}

/// Which model to train.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MatcherOptions {
    Logistic(LogisticOptions),
    Gbt(GbtOptions),
}

/// A trained model with its decision threshold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Matcher {
    pub model: Model,
    /// Pairs scoring at or above this are matches.
    pub threshold: f64,
}

/// The model inside a [`Matcher`].
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Model {
    Logistic(Logistic),
    Gbt(Gbt),
}

impl Model {
    /// The match probability of one feature vector.
    pub fn score(&self, features: &[f64]) -> f64 {
        match self {
            Self::Logistic(model) => model.predict(features),
            Self::Gbt(model) => model.predict(features),
        }
    }
}

impl Matcher {
    /// Trains on `(features, labels)` and chooses the threshold on the validation pairs (or 0.5
    /// when there are none).
    ///
    /// # Errors
    /// Empty or one-class training data, or rows of different lengths.
    pub fn train(options: &MatcherOptions, train: (&[Vec<f64>], &[bool]), valid: (&[Vec<f64>], &[bool])) -> Result<Self> {
        check(train.0, train.1)?;
        let model = match options {
            MatcherOptions::Logistic(options) => Model::Logistic(Logistic::train(train.0, train.1, options)?),
            MatcherOptions::Gbt(options) => Model::Gbt(Gbt::train(train.0, train.1, options)?),
        };
        let threshold = if valid.0.is_empty() {
            0.5
        } else {
            let scores: Vec<f64> = valid.0.iter().map(|row| model.score(row)).collect();
            best_threshold(&scores, valid.1).0
        };
        Ok(Self { model, threshold })
    }

    /// The match probability of one feature vector.
    pub fn score(&self, features: &[f64]) -> f64 {
        self.model.score(features)
    }

    /// Whether a feature vector is a match.
    pub fn is_match(&self, features: &[f64]) -> bool {
        self.score(features) >= self.threshold
    }

    /// Precision, recall and F1 on labelled rows at the chosen threshold.
    pub fn evaluate(&self, rows: &[Vec<f64>], labels: &[bool]) -> Scores {
        Scores::of(rows.iter().map(|row| self.is_match(row)), labels)
    }
}

/// Rejects training data that cannot train a binary model.
pub(crate) fn check(rows: &[Vec<f64>], labels: &[bool]) -> Result<()> {
    if rows.is_empty() || rows.len() != labels.len() {
        return Err(ResolveError::Training(format!("{} rows and {} labels", rows.len(), labels.len())));
    }
    let width = rows[0].len();
    if rows.iter().any(|row| row.len() != width) {
        return Err(ResolveError::Training("rows of different lengths".into()));
    }
    if labels.iter().all(|&l| l) || labels.iter().all(|&l| !l) {
        return Err(ResolveError::Training("the labels hold one class only".into()));
    }
    Ok(())
}

/// A splitmix64 generator: deterministic, seedable, no dependency.
#[derive(Debug, Clone)]
pub struct SplitMix(pub u64);

impl SplitMix {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.unit().max(1e-12);
        let v = self.unit();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_maximises_f1() {
        let scores = [0.9, 0.8, 0.7, 0.4, 0.3, 0.1];
        let labels = [true, true, false, true, false, false];
        let (threshold, scores) = best_threshold(&scores, &labels);
        assert!((0.3..0.4).contains(&threshold), "{threshold}");
        assert_eq!((scores.true_positives, scores.false_positives, scores.false_negatives), (3, 1, 0));
    }
}
