//! `rec.transition`: first-order item-to-next-item transitions ("often bought after X").
//!
//! T[i, j] = count(i → j) / (count(i → ·) + smoothing), counted over consecutive pairs of every
//! sequence. A history h_1..h_n scores item j with Σ_t decay^(n − t) T[h_t, j]: the last item has
//! weight 1, each older one `decay` times less (decay 0 = the last item alone).
//!
//! Params: `decay` (default 0.5), `smoothing` (default 20).

use agora_plugin_api::model::Interactions;

use crate::params::{Params, Rule};
use crate::snapshot::{ensure, Reader, Writer};
use crate::sparse::SparseRows;
use crate::{strongest, Recommender};

const TASK: &str = "rec.transition";
/// History items whose weight has decayed below this are skipped.
const NEGLIGIBLE: f32 = 1e-6;

pub(crate) struct Transition {
    decay: f32,
    /// Row i: the rates T[i, ·].
    rates: SparseRows,
}

impl Transition {
    pub(crate) fn fit(data: &Interactions, params: &Params) -> Result<Transition, String> {
        params.only(TASK, &["decay", "smoothing"])?;
        let decay = params.number("decay", 0.5, Rule::Fraction)? as f32;
        let smoothing = params.number("smoothing", 20.0, Rule::NonNegative)?;
        let mut next: Vec<Vec<(u32, f32)>> = vec![Vec::new(); data.n_items as usize];
        for user in 0..data.n_users() {
            for pair in data.sequence(user).windows(2) {
                let row = &mut next[pair[0] as usize];
                match row.iter_mut().find(|(item, _)| *item == pair[1]) {
                    Some((_, count)) => *count += 1.0,
                    None => row.push((pair[1], 1.0)),
                }
            }
        }
        for row in &mut next {
            let total = row.iter().map(|&(_, count)| count as f64).sum::<f64>() + smoothing;
            row.iter_mut().for_each(|(_, count)| *count = (*count as f64 / total) as f32);
        }
        Ok(Transition { decay, rates: SparseRows::from_rows(data.n_items, next) })
    }

    pub(crate) fn decode(reader: &mut Reader) -> Result<Transition, String> {
        let decay = reader.f64()? as f32;
        let rates = SparseRows::decode(reader)?;
        ensure((0.0..=1.0).contains(&decay), "transition decay out of range")?;
        ensure(rates.n_rows() == rates.n_cols(), "transition matrix is not square")?;
        Ok(Transition { decay, rates })
    }

    /// The weight of the history item at `position` in a history of `len` items.
    fn weight(&self, position: usize, len: usize) -> f32 {
        self.decay.powi((len - 1 - position) as i32)
    }
}

impl Recommender for Transition {
    fn n_items(&self) -> usize {
        self.rates.n_rows()
    }

    fn scores(&self, history: &[u32]) -> Vec<f32> {
        let mut scores = vec![0.0; self.n_items()];
        for (position, &item) in history.iter().enumerate().rev() {
            let weight = self.weight(position, history.len());
            if weight < NEGLIGIBLE {
                break;
            }
            self.rates.add_row(item as usize, weight, &mut scores);
        }
        scores
    }

    fn because(&self, history: &[u32], item: u32) -> Option<u32> {
        strongest(history, |position, seen| self.weight(position, history.len()) * self.rates.get(seen as usize, item))
    }

    fn similar(&self, item: u32, k: usize) -> Result<Vec<(u32, f32)>, String> {
        Ok(self.rates.best_in_row(item as usize, k, item))
    }

    fn encode(&self, out: &mut Writer) {
        out.f64(self.decay as f64);
        self.rates.encode(out);
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{because, fit, fit_load, interactions, scores, similar};

    #[test]
    fn the_usual_next_item_scores_first() {
        // After 0 always comes 1; after 2 mostly 3.
        let data = interactions(5, &[&[0, 1, 2, 3], &[0, 1], &[2, 3], &[2, 4], &[4, 0, 1]]);
        let model = fit_load("rec.transition", &data, r#"{"decay": 0, "smoothing": 0}"#);
        let given_0 = scores(&model, &[0]);
        assert_eq!(given_0[1], 1.0);
        assert_eq!(given_0.iter().filter(|&&score| score > 0.0).count(), 1);
        // Only the last item counts with decay 0.
        assert_eq!(scores(&model, &[0, 2]), [0.0, 0.0, 0.0, 2.0 / 3.0, 1.0 / 3.0]);
        assert_eq!(similar(&model, 2, 5), [3, 4]);
        assert_eq!(because(&model, &[2, 0], &[1, 3, 0]), [Some(0), None, None]);
    }

    #[test]
    fn decay_weighs_older_items_and_smoothing_shrinks_rare_rows() {
        let data = interactions(4, &[&[0, 1], &[2, 3], &[2, 3]]);
        let model = fit_load("rec.transition", &data, r#"{"decay": 0.5, "smoothing": 1}"#);
        // T[0,1] = 1/2, T[2,3] = 2/3; item 0 is one step older than item 2.
        let given = scores(&model, &[0, 2]);
        assert!((given[1] - 0.25).abs() < 1e-6 && (given[3] - 2.0 / 3.0).abs() < 1e-6, "{given:?}");
        assert_eq!(because(&model, &[0, 2], &[1]), [Some(0)]);
    }

    #[test]
    fn bad_params_are_named() {
        let data = interactions(2, &[&[0, 1]]);
        assert!(fit("rec.transition", &data, r#"{"decay": 2}"#).unwrap_err().contains("`decay` must be a number from 0 to 1, got 2"));
        assert!(fit("rec.transition", &data, r#"{"window": 2}"#).unwrap_err().contains("unknown param `window`"));
    }
}
