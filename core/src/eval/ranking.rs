//! Leave-one-out ranking metrics: the rank of one held-out item among candidates, with ties
//! counted half, and HR@k, NDCG@k and MRR averaged over users.

use serde::{Deserialize, Serialize};

/// The cut-offs every ranking report carries.
pub const CUTOFFS: [usize; 3] = [5, 10, 20];

/// Zero-based rank of `target` among all items scored in `scores`: the number of items scoring
/// strictly higher plus half the number of other items scoring the same. Masked items should
/// carry `f32::NEG_INFINITY`; a masked target therefore ranks behind every unmasked item.
///
/// # Panics
/// When `target` is out of range.
pub fn rank_among_all(scores: &[f32], target: usize) -> f64 {
    let target_score = scores[target];
    let (mut higher, mut tied) = (0usize, 0usize);
    for &score in scores {
        if score > target_score {
            higher += 1;
        } else if score == target_score {
            tied += 1;
        }
    }
    // `tied` counts the target itself.
    higher as f64 + (tied - 1) as f64 / 2.0
}

/// Zero-based rank of `target` among itself and `negatives` (the sampled-negatives protocol),
/// ties counted half.
pub fn rank_among_sampled(scores: &[f32], target: usize, negatives: &[u32]) -> f64 {
    let target_score = scores[target];
    let (mut higher, mut tied) = (0usize, 0usize);
    for &negative in negatives {
        let score = scores[negative as usize];
        if score > target_score {
            higher += 1;
        } else if score == target_score {
            tied += 1;
        }
    }
    higher as f64 + tied as f64 / 2.0
}

/// Running sums of HR@k, NDCG@k (k in [`CUTOFFS`]) and reciprocal rank.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RankingMetrics {
    pub users: usize,
    hits: [f64; 3],
    gains: [f64; 3],
    reciprocal_ranks: f64,
}

impl RankingMetrics {
    /// Adds one user whose held-out item landed at zero-based `rank`.
    pub fn add(&mut self, rank: f64) {
        self.users += 1;
        for (slot, &cutoff) in CUTOFFS.iter().enumerate() {
            if rank < cutoff as f64 {
                self.hits[slot] += 1.0;
                self.gains[slot] += 1.0 / (rank + 2.0).log2();
            }
        }
        self.reciprocal_ranks += 1.0 / (rank + 1.0);
    }

    /// Merges another partial sum (from another worker thread).
    pub fn merge(&mut self, other: &Self) {
        self.users += other.users;
        for slot in 0..CUTOFFS.len() {
            self.hits[slot] += other.hits[slot];
            self.gains[slot] += other.gains[slot];
        }
        self.reciprocal_ranks += other.reciprocal_ranks;
    }

    /// Hit rate at `cutoff` (one of [`CUTOFFS`]).
    pub fn hit_rate(&self, cutoff: usize) -> f64 {
        self.mean(self.hits[Self::slot(cutoff)])
    }

    /// NDCG at `cutoff` (one of [`CUTOFFS`]); with one relevant item the ideal DCG is 1.
    pub fn ndcg(&self, cutoff: usize) -> f64 {
        self.mean(self.gains[Self::slot(cutoff)])
    }

    /// Mean reciprocal rank over all candidates (no cut-off).
    pub fn mrr(&self) -> f64 {
        self.mean(self.reciprocal_ranks)
    }

    /// The averages as a flat summary.
    pub fn summary(&self) -> RankingSummary {
        RankingSummary {
            users: self.users,
            hr5: self.hit_rate(5),
            hr10: self.hit_rate(10),
            hr20: self.hit_rate(20),
            ndcg5: self.ndcg(5),
            ndcg10: self.ndcg(10),
            ndcg20: self.ndcg(20),
            mrr: self.mrr(),
        }
    }

    fn mean(&self, sum: f64) -> f64 {
        if self.users == 0 {
            0.0
        } else {
            sum / self.users as f64
        }
    }

    fn slot(cutoff: usize) -> usize {
        CUTOFFS.iter().position(|&known| known == cutoff).unwrap_or_else(|| panic!("cut-off {cutoff} is not one of {CUTOFFS:?}"))
    }
}

/// Averaged ranking metrics of one evaluation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RankingSummary {
    pub users: usize,
    pub hr5: f64,
    pub hr10: f64,
    pub hr20: f64,
    pub ndcg5: f64,
    pub ndcg10: f64,
    pub ndcg20: f64,
    pub mrr: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn ranks_count_strictly_higher_items_and_half_the_ties() {
        let scores = [0.9, 0.5, 0.7, 0.5, 0.5, f32::NEG_INFINITY];
        assert_eq!(rank_among_all(&scores, 0), 0.0);
        assert_eq!(rank_among_all(&scores, 2), 1.0);
        // Two items above, two other items tied: 2 + 2/2.
        assert_eq!(rank_among_all(&scores, 1), 3.0);
        // A masked target ranks behind every unmasked item.
        assert_eq!(rank_among_all(&scores, 5), 5.0);
        assert_eq!(rank_among_sampled(&scores, 1, &[0, 3, 5]), 1.5);
    }

    #[test]
    fn metrics_match_hand_computed_values() {
        let mut metrics = RankingMetrics::default();
        // Ranks 0, 4, 9, 30 (zero-based).
        for rank in [0.0, 4.0, 9.0, 30.0] {
            metrics.add(rank);
        }
        assert!(close(metrics.hit_rate(5), 2.0 / 4.0));
        assert!(close(metrics.hit_rate(10), 3.0 / 4.0));
        assert!(close(metrics.hit_rate(20), 3.0 / 4.0));
        // NDCG@5 = (1/log2(2) + 1/log2(6)) / 4.
        assert!(close(metrics.ndcg(5), (1.0 + 1.0 / 6f64.log2()) / 4.0));
        assert!(close(metrics.ndcg(10), (1.0 + 1.0 / 6f64.log2() + 1.0 / 11f64.log2()) / 4.0));
        assert!(close(metrics.mrr(), (1.0 + 1.0 / 5.0 + 1.0 / 10.0 + 1.0 / 31.0) / 4.0));

        let mut halves = (RankingMetrics::default(), RankingMetrics::default());
        halves.0.add(0.0);
        halves.0.add(4.0);
        halves.1.add(9.0);
        halves.1.add(30.0);
        halves.0.merge(&halves.1);
        assert_eq!(halves.0, metrics);
    }

    #[test]
    fn a_half_rank_at_the_cut_off_is_still_inside() {
        let mut metrics = RankingMetrics::default();
        metrics.add(4.5);
        assert_eq!(metrics.hit_rate(5), 1.0);
        assert!(close(metrics.ndcg(5), 1.0 / 6.5f64.log2()));
    }
}
