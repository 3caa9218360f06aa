//! Blending component scores: each component's scores are scaled to a common range per user,
//! then summed with weights that are searched on the validation split.

use agora_core::eval::ranking::{rank_among_all, rank_among_sampled, RankingMetrics};

/// Scales `scores` so the best item outside `history` scores 1 (when any scores above 0);
/// components with different units (probabilities, regression weights, counts) become comparable.
pub fn normalise(scores: &mut [f32], history: &[u32]) {
    let saved: Vec<(u32, f32)> =
        history.iter().map(|&item| (item, std::mem::replace(&mut scores[item as usize], f32::NEG_INFINITY))).collect();
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for (item, score) in saved {
        scores[item as usize] = score;
    }
    if max > 0.0 && max.is_finite() {
        let scale = 1.0 / max;
        scores.iter_mut().for_each(|score| *score *= scale);
    }
}

/// `Σ weight · part`, into `out`.
pub fn combine(parts: &[Vec<f32>], weights: &[f32], out: &mut Vec<f32>) {
    out.clear();
    out.resize(parts.first().map_or(0, Vec::len), 0.0);
    for (part, &weight) in parts.iter().zip(weights) {
        if weight != 0.0 {
            out.iter_mut().zip(part).for_each(|(total, &score)| *total += weight * score);
        }
    }
}

/// One validation user's normalised component scores, the history to mask, the target and, under
/// the sampled protocol, the negatives it is ranked against (`None`: against every item).
pub struct CachedCase {
    pub parts: Vec<Vec<f32>>,
    pub history: Vec<u32>,
    pub target: u32,
    pub negatives: Option<Vec<u32>>,
}

/// The ranking metrics of `weights` over cached cases, history masked.
pub fn score_weights(cases: &[CachedCase], weights: &[f32]) -> RankingMetrics {
    let mut metrics = RankingMetrics::default();
    let mut blended = Vec::new();
    for case in cases {
        combine(&case.parts, weights, &mut blended);
        for &item in &case.history {
            blended[item as usize] = f32::NEG_INFINITY;
        }
        metrics.add(match &case.negatives {
            None => rank_among_all(&blended, case.target as usize),
            Some(negatives) => rank_among_sampled(&blended, case.target as usize, negatives),
        });
    }
    metrics
}

/// The candidate values coordinate ascent tries for each weight.
const GRID: [f32; 9] = [0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5];

/// Chooses weights by coordinate ascent on NDCG@10 over `cases`: start from the best single
/// component at weight 1, then sweep every other component's weight over a grid, twice.
/// Returns the weights and their metrics.
pub fn search_weights(cases: &[CachedCase], components: usize) -> (Vec<f32>, RankingMetrics) {
    let objective = |metrics: &RankingMetrics| (metrics.ndcg(10), metrics.hit_rate(10));
    let single = |index: usize| -> Vec<f32> { (0..components).map(|other| if other == index { 1.0 } else { 0.0 }).collect() };
    let (mut best_weights, mut best) = (single(0), score_weights(cases, &single(0)));
    for index in 1..components {
        let metrics = score_weights(cases, &single(index));
        if objective(&metrics) > objective(&best) {
            (best_weights, best) = (single(index), metrics);
        }
    }
    let anchor = best_weights.iter().position(|&weight| weight == 1.0).unwrap_or(0);
    for _pass in 0..2 {
        for index in (0..components).filter(|&index| index != anchor) {
            for value in GRID {
                if value == best_weights[index] {
                    continue;
                }
                let mut trial = best_weights.clone();
                trial[index] = value;
                let metrics = score_weights(cases, &trial);
                if objective(&metrics) > objective(&best) {
                    (best_weights, best) = (trial, metrics);
                }
            }
        }
    }
    (best_weights, best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalising_ignores_history_items_for_the_scale() {
        let mut scores = vec![4.0, 2.0, 8.0, -1.0];
        normalise(&mut scores, &[2]);
        assert_eq!(scores, [1.0, 0.5, 2.0, -0.25]);
        let mut zeros = vec![0.0, -1.0];
        normalise(&mut zeros, &[]);
        assert_eq!(zeros, [0.0, -1.0]);
    }

    #[test]
    fn the_search_finds_a_blend_that_beats_each_component() {
        // Component 0 puts the target second behind item 3; component 1 puts it second behind
        // item 2. Together they rank it first.
        let case = |target: u32| CachedCase {
            parts: vec![vec![0.0, 0.9, 0.0, 1.0], vec![0.0, 0.9, 1.0, 0.0]],
            history: vec![0],
            target,
            negatives: None,
        };
        let cases: Vec<CachedCase> = (0..4).map(|_| case(1)).collect();
        let (weights, metrics) = search_weights(&cases, 2);
        assert!(weights.iter().all(|&weight| weight > 0.0), "{weights:?}");
        assert_eq!(metrics.hit_rate(5), 1.0);
        assert_eq!(metrics.ndcg(5), 1.0);
    }

    #[test]
    fn sampled_cases_rank_the_target_among_their_negatives_only() {
        // Every item but 0 (history) outscores the target 1 under the full protocol; among the
        // negatives [3] only item 3 does.
        let parts = vec![vec![0.0, 0.1, 0.5, 0.2, 0.9]];
        let full = CachedCase { parts: parts.clone(), history: vec![0], target: 1, negatives: None };
        let sampled = CachedCase { parts, history: vec![0], target: 1, negatives: Some(vec![3]) };
        assert_eq!(score_weights(&[full], &[1.0]).mrr(), 1.0 / 4.0);
        assert_eq!(score_weights(&[sampled], &[1.0]).mrr(), 1.0 / 2.0);
    }
}
