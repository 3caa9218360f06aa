//! `rec.attributes`: content similarity from item attributes, which also scores items nobody
//! has interacted with yet (cold start).
//!
//! Each item is its attributes weighted by smoothed IDF, ln((1 + n_items) / (1 + df)) + 1, and
//! L2-normalised; similarity is the cosine. A history scores item j with Σ over its distinct items
//! h of cos(h, j), computed as the profile Σ_h v_h dotted with every item through the attribute
//! inverted index. Items without attributes score 0.
//!
//! Params: `k_neighbours` (default 100): the neighbours precomputed per item for `similar`.

use agora_plugin_api::model::Interactions;

use crate::params::Params;
use crate::snapshot::{ensure, Reader, Writer};
use crate::sparse::{best, SparseRows};
use crate::{distinct, strongest, Recommender};

const TASK: &str = "rec.attributes";

pub(crate) struct Attributes {
    /// Row i: item i's normalised attribute vector.
    vectors: SparseRows,
    /// Row a: the items holding attribute a, with their weights (derived at load).
    postings: SparseRows,
    /// Row i: i's most similar items.
    neighbours: SparseRows,
}

impl Attributes {
    pub(crate) fn fit(data: &Interactions, params: &Params) -> Result<Attributes, String> {
        params.only(TASK, &["k_neighbours"])?;
        let k = params.count("k_neighbours", 100, 1)? as usize;
        let n_items = data.n_items as usize;
        let item_attributes: Vec<Vec<u32>> = (0..n_items).map(|item| distinct(data.item_attributes(item))).collect();
        let mut frequency = vec![0usize; data.n_attributes as usize];
        item_attributes.iter().flatten().for_each(|&attribute| frequency[attribute as usize] += 1);
        let idf: Vec<f32> = frequency.iter().map(|&df| (((1 + n_items) as f64 / (1 + df) as f64).ln() + 1.0) as f32).collect();
        let vectors = SparseRows::from_rows(
            data.n_attributes,
            item_attributes.iter().map(|attributes| {
                let norm = attributes.iter().map(|&a| idf[a as usize].powi(2)).sum::<f32>().sqrt();
                attributes.iter().map(|&a| (a, idf[a as usize] / norm)).collect()
            }),
        );
        let postings = vectors.transpose();
        let mut cosines = vec![0f32; n_items];
        let rows = (0..n_items).map(|item| {
            let (attributes, weights) = vectors.row(item);
            attributes.iter().zip(weights).for_each(|(&a, &weight)| postings.add_row(a as usize, weight, &mut cosines));
            let entries = cosines
                .iter()
                .enumerate()
                .filter(|&(other, &cosine)| cosine > 0.0 && other != item)
                .map(|(other, &cosine)| (other as u32, cosine))
                .collect();
            cosines.fill(0.0);
            best(entries, k, |cosine| cosine)
        });
        let neighbours = SparseRows::from_rows(data.n_items, rows);
        Ok(Attributes { vectors, postings, neighbours })
    }

    pub(crate) fn decode(reader: &mut Reader) -> Result<Attributes, String> {
        let vectors = SparseRows::decode(reader)?;
        let neighbours = SparseRows::decode(reader)?;
        ensure(
            neighbours.n_rows() == vectors.n_rows() && neighbours.n_cols() == vectors.n_rows(),
            "attribute neighbours do not match the items",
        )?;
        Ok(Attributes { postings: vectors.transpose(), vectors, neighbours })
    }

    fn cosine(&self, a: u32, b: u32) -> f32 {
        let ((cols_a, values_a), (cols_b, values_b)) = (self.vectors.row(a as usize), self.vectors.row(b as usize));
        cols_a.iter().zip(values_a).map(|(&col, &value)| cols_b.binary_search(&col).map_or(0.0, |at| value * values_b[at])).sum()
    }
}

impl Recommender for Attributes {
    fn n_items(&self) -> usize {
        self.vectors.n_rows()
    }

    fn scores(&self, history: &[u32]) -> Vec<f32> {
        let mut profile = vec![0f32; self.vectors.n_cols()];
        for item in distinct(history) {
            self.vectors.add_row(item as usize, 1.0, &mut profile);
        }
        let mut scores = vec![0.0; self.n_items()];
        for (attribute, &weight) in profile.iter().enumerate().filter(|(_, &weight)| weight != 0.0) {
            self.postings.add_row(attribute, weight, &mut scores);
        }
        scores
    }

    fn because(&self, history: &[u32], item: u32) -> Option<u32> {
        strongest(history, |_, seen| self.cosine(seen, item))
    }

    fn similar(&self, item: u32, k: usize) -> Result<Vec<(u32, f32)>, String> {
        Ok(self.neighbours.best_in_row(item as usize, k, item))
    }

    fn encode(&self, out: &mut Writer) {
        self.vectors.encode(out);
        self.neighbours.encode(out);
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::{because, fit, fit_load, interactions, scores, similar, with_attributes};

    #[test]
    fn a_cold_item_sharing_attributes_scores_above_one_without() {
        // Item 3 was never bought but shares both attributes with item 0; item 4 shares none.
        let data = with_attributes(interactions(5, &[&[0, 1], &[1, 2]]), 4, &[&[0, 1], &[2], &[2, 3], &[0, 1], &[3]]);
        let model = fit_load("rec.attributes", &data, "{}");
        let given_0 = scores(&model, &[0]);
        assert!((given_0[3] - 1.0).abs() < 1e-6 && given_0[0] > 0.99, "{given_0:?}");
        assert_eq!((given_0[1], given_0[2], given_0[4]), (0.0, 0.0, 0.0));
        let given_1 = scores(&model, &[1, 1]);
        assert!(given_1[2] > given_1[4] && given_1[4] == 0.0, "{given_1:?}");
        assert_eq!(similar(&model, 2, 5), [1, 4]);
        assert_eq!(because(&model, &[0, 1], &[3, 2, 4]), [Some(0), Some(1), None]);
    }

    #[test]
    fn bad_params_are_named() {
        let data = interactions(2, &[&[0, 1]]);
        assert!(fit("rec.attributes", &data, r#"{"k_neighbours": -1}"#)
            .unwrap_err()
            .contains("`k_neighbours` must be a whole number >= 1"));
        assert!(fit("rec.attributes", &data, r#"{"idf": false}"#).unwrap_err().contains("unknown param `idf`"));
    }
}
