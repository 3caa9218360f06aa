//! Operator feedback on matches: an accepted or rejected pair of records (by `source/id` key)
//! overrides the matcher, a rejection becomes a cannot-link for clustering, and every verdict is
//! a labelled pair for the next training run.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::ditto::LabelledPair;
use crate::record::Entity;

/// An operator's verdict on a pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Accept,
    Reject,
}

/// One verdict, on records `a < b` (keys), at a time (ms).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedbackEntry {
    pub a: String,
    pub b: String,
    pub verdict: Verdict,
    pub at: i64,
}

/// Every verdict so far; a later verdict on the same pair replaces the earlier one. Serialises
/// to a JSON object keyed by `a<TAB>b`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feedback {
    entries: BTreeMap<String, FeedbackEntry>,
}

/// The pair's keys in order.
fn ordered(a: &str, b: &str) -> (String, String) {
    if a <= b {
        (a.to_string(), b.to_string())
    } else {
        (b.to_string(), a.to_string())
    }
}

fn map_key((a, b): &(String, String)) -> String {
    format!("{a}\t{b}")
}

impl Feedback {
    /// Records a verdict on the records keyed `a` and `b` (`source/id`).
    pub fn record(&mut self, a: &str, b: &str, verdict: Verdict, at: i64) {
        let pair = ordered(a, b);
        self.entries.insert(map_key(&pair), FeedbackEntry { a: pair.0, b: pair.1, verdict, at });
    }

    /// The verdict on a pair, if any.
    pub fn verdict(&self, a: &str, b: &str) -> Option<Verdict> {
        self.entries.get(&map_key(&ordered(a, b))).map(|entry| entry.verdict)
    }

    /// Every verdict, by pair.
    pub fn entries(&self) -> impl Iterator<Item = &FeedbackEntry> {
        self.entries.values()
    }

    /// How many verdicts there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The verdicts as labelled training pairs, for the records still present.
    pub fn labelled_pairs(&self, entities: &[Entity]) -> Vec<LabelledPair> {
        let by_key: HashMap<String, &Entity> = entities.iter().map(|entity| (entity.key(), entity)).collect();
        self.entries
            .values()
            .filter_map(|entry| {
                let (a, b) = (by_key.get(&entry.a)?, by_key.get(&entry.b)?);
                Some(LabelledPair { left: (*a).clone(), right: (*b).clone(), label: entry.verdict == Verdict::Accept })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_latest_verdict_wins_and_becomes_training_data() {
        let entities = vec![Entity::new("a", "1", 0).with("title", "x"), Entity::new("b", "2", 0).with("title", "y")];
        let mut feedback = Feedback::default();
        feedback.record("b/2", "a/1", Verdict::Accept, 1);
        feedback.record("a/1", "b/2", Verdict::Reject, 2);
        assert_eq!(feedback.len(), 1);
        assert_eq!(feedback.verdict("b/2", "a/1"), Some(Verdict::Reject));
        let saved = serde_json::to_string(&feedback).unwrap();
        assert_eq!(serde_json::from_str::<Feedback>(&saved).unwrap(), feedback);
        let pairs = feedback.labelled_pairs(&entities);
        assert_eq!(pairs.len(), 1);
        assert!(!pairs[0].label);
        feedback.record("a/1", "gone/9", Verdict::Accept, 3);
        assert_eq!(feedback.labelled_pairs(&entities).len(), 1, "pairs of vanished records are skipped");
    }
}
