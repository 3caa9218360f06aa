//! `rec.popularity`: every item scored by how often it was interacted with, the same for everyone.
//!
//! Params: `half_life_days` (default none: plain counts). When set, each interaction weighs
//! `0.5^(age / half_life)` with its age taken from the latest timestamp. Data without times (all
//! timestamps zero) gets plain counts even then: the order of events is not turned into fake times.

use agora_plugin_api::model::Interactions;

use crate::params::{Params, Rule};
use crate::snapshot::{ensure, Reader, Writer};
use crate::Recommender;

const TASK: &str = "rec.popularity";
const SECONDS_PER_DAY: f64 = 86_400.0;

pub(crate) struct Popularity {
    scores: Vec<f32>,
}

impl Popularity {
    pub(crate) fn fit(data: &Interactions, params: &Params) -> Result<Popularity, String> {
        params.only(TASK, &["half_life_days"])?;
        let half_life_days = params.optional_number("half_life_days", Rule::Positive)?;
        let latest = data.timestamps.iter().copied().max().unwrap_or(0);
        let timed = data.timestamps.iter().any(|&time| time != 0);
        let mut counts = vec![0f64; data.n_items as usize];
        for (&item, &time) in data.items.iter().zip(&data.timestamps) {
            counts[item as usize] += match half_life_days {
                Some(days) if timed => 0.5f64.powf(latest.saturating_sub(time) as f64 / (days * SECONDS_PER_DAY)),
                _ => 1.0,
            };
        }
        Ok(Popularity { scores: counts.into_iter().map(|count| count as f32).collect() })
    }

    pub(crate) fn decode(reader: &mut Reader) -> Result<Popularity, String> {
        let scores = reader.f32s()?;
        ensure(scores.iter().all(|score| score.is_finite()), "popularity scores are not finite")?;
        Ok(Popularity { scores })
    }
}

impl Recommender for Popularity {
    fn n_items(&self) -> usize {
        self.scores.len()
    }

    fn scores(&self, _history: &[u32]) -> Vec<f32> {
        self.scores.clone()
    }

    fn because(&self, _history: &[u32], _item: u32) -> Option<u32> {
        None
    }

    fn similar(&self, _item: u32, _k: usize) -> Result<Vec<(u32, f32)>, String> {
        Err("popularity has no item similarity".to_string())
    }

    fn encode(&self, out: &mut Writer) {
        out.f32s(&self.scores);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{ask, because, fit, fit_load, interactions, scores};

    #[test]
    fn counts_order_the_items() {
        let data = interactions(3, &[&[1, 2], &[1], &[1, 2, 0, 2]]);
        let model = fit_load("rec.popularity", &data, "{}");
        assert_eq!(scores(&model, &[0]), [1.0, 3.0, 3.0]);
        assert_eq!(because(&model, &[1], &[2]), [None]);
        assert_eq!(ask(&model, json!({"op": "similar", "item": 0, "k": 2})).unwrap_err(), "popularity has no item similarity");
    }

    #[test]
    fn half_life_decays_old_interactions_only_when_there_are_times() {
        let mut data = interactions(2, &[&[0, 1, 1]]);
        let day = 86_400;
        data.timestamps = vec![0, 10 * day, 10 * day];
        let model = fit_load("rec.popularity", &data, r#"{"half_life_days": 5}"#);
        assert_eq!(scores(&model, &[]), [0.25, 2.0]);
        data.timestamps = vec![0; 3];
        let untimed = fit_load("rec.popularity", &data, r#"{"half_life_days": 5}"#);
        assert_eq!(scores(&untimed, &[]), [1.0, 2.0]);
    }

    #[test]
    fn bad_params_are_named() {
        let data = interactions(2, &[&[0]]);
        assert!(fit("rec.popularity", &data, r#"{"halflife": 3}"#).unwrap_err().contains("unknown param `halflife`"));
        assert!(fit("rec.popularity", &data, r#"{"half_life_days": 0}"#).unwrap_err().contains("`half_life_days` must be a number > 0"));
    }
}
