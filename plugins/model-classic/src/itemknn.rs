//! `rec.itemknn`: item-item cosine similarity on the binary user × item matrix, with shrinkage.
//!
//! sim(i, j) = co(i, j) / (sqrt(n_i) sqrt(n_j) + shrink), where co counts the users holding both
//! items and n_i the users holding i; each item keeps its `k_neighbours` most similar items.
//! A history scores item j with Σ over its distinct items h of sim(h, j).
//!
//! Params: `k_neighbours` (default 100), `shrink` (default 50).

use agora_plugin_api::model::Interactions;

use crate::cooccurrence::{self, Lists};
use crate::params::{Params, Rule};
use crate::snapshot::{ensure, Reader, Writer};
use crate::sparse::{best, SparseRows};
use crate::{distinct, strongest, Recommender};

const TASK: &str = "rec.itemknn";

pub(crate) struct ItemKnn {
    /// Row h: h's neighbours j with sim(h, j).
    neighbours: SparseRows,
}

impl ItemKnn {
    pub(crate) fn fit(data: &Interactions, params: &Params) -> Result<ItemKnn, String> {
        params.only(TASK, &["k_neighbours", "shrink"])?;
        let k = params.count("k_neighbours", 100, 1)? as usize;
        let shrink = params.number("shrink", 50.0, Rule::NonNegative)?;
        let n_items = data.n_items as usize;
        let user_items = Lists::user_items(data);
        let item_users = user_items.transpose(n_items);
        let norms: Vec<f64> = (0..n_items).map(|item| (item_users.get(item).len() as f64).sqrt()).collect();
        let mut rows = vec![Vec::new(); n_items];
        cooccurrence::for_each_row(&user_items, n_items, |item, row| {
            let similarities = row
                .iter()
                .filter(|&&(other, _)| other as usize != item)
                .map(|&(other, both)| (other, (both as f64 / (norms[item] * norms[other as usize] + shrink)) as f32))
                .collect();
            rows[item] = best(similarities, k, |similarity| similarity);
        });
        Ok(ItemKnn { neighbours: SparseRows::from_rows(data.n_items, rows) })
    }

    pub(crate) fn decode(reader: &mut Reader) -> Result<ItemKnn, String> {
        let neighbours = SparseRows::decode(reader)?;
        ensure(neighbours.n_rows() == neighbours.n_cols(), "item-kNN neighbour matrix is not square")?;
        Ok(ItemKnn { neighbours })
    }
}

impl Recommender for ItemKnn {
    fn n_items(&self) -> usize {
        self.neighbours.n_rows()
    }

    fn scores(&self, history: &[u32]) -> Vec<f32> {
        let mut scores = vec![0.0; self.n_items()];
        for item in distinct(history) {
            self.neighbours.add_row(item as usize, 1.0, &mut scores);
        }
        scores
    }

    fn because(&self, history: &[u32], item: u32) -> Option<u32> {
        strongest(history, |_, seen| self.neighbours.get(seen as usize, item))
    }

    fn similar(&self, item: u32, k: usize) -> Result<Vec<(u32, f32)>, String> {
        Ok(self.neighbours.best_in_row(item as usize, k, item))
    }

    fn encode(&self, out: &mut Writer) {
        self.neighbours.encode(out);
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{because, fit, fit_load, interactions, scores, similar};

    #[test]
    fn items_bought_together_score_and_explain_each_other() {
        // 0 and 1 go together three times; 2 and 3 twice; 1 and 3 once.
        let data = interactions(4, &[&[0, 1], &[1, 0], &[0, 1, 3], &[2, 3], &[3, 2]]);
        let model = fit_load("rec.itemknn", &data, r#"{"shrink": 0}"#);
        let given_0 = scores(&model, &[0]);
        assert!(given_0[1] > given_0[3] && given_0[3] > 0.0 && given_0[2] == 0.0);
        // sim(0, 1) = 3 / (sqrt 3 sqrt 3).
        assert!((given_0[1] - 1.0).abs() < 1e-6);
        assert_eq!(similar(&model, 3, 5), [2, 0, 1]);
        assert_eq!(because(&model, &[0, 2], &[1, 3]), [Some(0), Some(2)]);
        let one_neighbour = fit_load("rec.itemknn", &data, r#"{"k_neighbours": 1, "shrink": 0}"#);
        assert_eq!(similar(&one_neighbour, 3, 5), [2]);
    }

    #[test]
    fn bad_params_are_named() {
        let data = interactions(2, &[&[0, 1]]);
        assert!(fit("rec.itemknn", &data, r#"{"k": 3}"#).unwrap_err().contains("unknown param `k` for rec.itemknn"));
        assert!(fit("rec.itemknn", &data, r#"{"k_neighbours": 0}"#).unwrap_err().contains("`k_neighbours` must be a whole number >= 1"));
    }
}
