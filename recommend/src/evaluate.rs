//! Leave-one-out evaluation of a fused model (or one of its components): full ranking over all
//! items, or the held-out item against sampled negatives; the user's history is always masked.

use agora_core::eval::ranking::{rank_among_all, rank_among_sampled, RankingMetrics};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::dataset::Dataset;
use crate::error::RecommendError;
use crate::fused::FusedModel;
use crate::split::Case;

/// How the held-out item is ranked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// Against every item.
    Full,
    /// Against `negatives` items drawn uniformly (seeded per user) from those the user never had.
    Sampled { negatives: usize, seed: u64 },
}

impl Protocol {
    pub fn name(&self) -> String {
        match self {
            Self::Full => "full".into(),
            Self::Sampled { negatives, .. } => format!("sampled{negatives}"),
        }
    }
}

/// The negatives of `user` under the sampled protocol: distinct items outside the whole history.
pub fn sample_negatives(dataset: &Dataset, user: u32, negatives: usize, seed: u64) -> Vec<u32> {
    let history = &dataset.histories[user as usize];
    let n_items = dataset.catalog.n_items() as u32;
    let available = (n_items as usize).saturating_sub(history.len());
    let wanted = negatives.min(available);
    let mut rng = StdRng::seed_from_u64(seed ^ u64::from(user).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut chosen = Vec::with_capacity(wanted);
    while chosen.len() < wanted {
        let item = rng.gen_range(0..n_items);
        if !history.contains(&item) && !chosen.contains(&item) {
            chosen.push(item);
        }
    }
    chosen
}

/// Ranks every case's target under `weights` (one per component of `model`), on `threads` threads.
///
/// # Errors
/// The first plugin failure.
pub fn evaluate(
    model: &FusedModel,
    dataset: &Dataset,
    cases: &[Case],
    weights: &[f32],
    protocol: Protocol,
    threads: usize,
) -> Result<RankingMetrics, RecommendError> {
    let chunk = cases.len().div_ceil(threads.max(1)).max(1);
    std::thread::scope(|scope| {
        let workers: Vec<_> = cases
            .chunks(chunk)
            .map(|chunk| {
                scope.spawn(move || -> Result<RankingMetrics, RecommendError> {
                    let mut metrics = RankingMetrics::default();
                    for case in chunk {
                        let history = &dataset.histories[case.user as usize][..case.seen];
                        let mut scores = model.score_with(history, weights)?.total;
                        history.iter().for_each(|&item| scores[item as usize] = f32::NEG_INFINITY);
                        let rank = match protocol {
                            Protocol::Full => rank_among_all(&scores, case.target as usize),
                            Protocol::Sampled { negatives, seed } => {
                                rank_among_sampled(&scores, case.target as usize, &sample_negatives(dataset, case.user, negatives, seed))
                            }
                        };
                        metrics.add(rank);
                    }
                    Ok(metrics)
                })
            })
            .collect();
        let mut total = RankingMetrics::default();
        for worker in workers {
            total.merge(&worker.join().expect("evaluation worker panicked")?);
        }
        Ok(total)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::tests::dataset;

    #[test]
    fn negatives_avoid_the_history_and_repeat_for_a_seed() {
        let data = dataset(&[("u1", &[1, 2, 3]), ("u2", &[4, 5, 6, 7, 8, 9])]);
        let negatives = sample_negatives(&data, 0, 4, 7);
        assert_eq!(negatives.len(), 4);
        assert!(negatives.iter().all(|item| !data.histories[0].contains(item)));
        assert_eq!(negatives, sample_negatives(&data, 0, 4, 7));
        // Only 6 items lie outside user 0's history of 3 out of 9.
        assert_eq!(sample_negatives(&data, 0, 99, 7).len(), 6);
    }
}
