//! Leave-one-out splits by time: the last item of each history is the test target, the second
//! last the validation target; models for each split are fitted only on what precedes them.

use agora_plugin_api::model::Interactions;

use crate::dataset::Dataset;

/// Which held-out item a split predicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Holdout {
    /// Predict each history's second-last item from what precedes it; fit on `s[:-2]`.
    Validation,
    /// Predict each history's last item from what precedes it; fit on `s[:-1]`.
    Test,
}

impl Holdout {
    /// How many items at the end of a history this split hides from training.
    pub fn hidden(self) -> usize {
        match self {
            Self::Validation => 2,
            Self::Test => 1,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Validation => "validation",
            Self::Test => "test",
        }
    }
}

/// One user to predict: the history the model sees and the item it should rank high.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Case {
    pub user: u32,
    /// The model sees `histories[user][..seen]`.
    pub seen: usize,
    pub target: u32,
}

/// A split: the training interactions and the users to predict.
#[derive(Debug)]
pub struct Split {
    pub holdout: Holdout,
    pub train: Interactions,
    pub cases: Vec<Case>,
}

impl Split {
    /// Builds the split; users with too short a history to hold an item out (and keep one to
    /// predict from) train but are not cases.
    pub fn new(dataset: &Dataset, holdout: Holdout) -> Self {
        let hidden = holdout.hidden();
        let train = dataset.interactions_for(|len| len.saturating_sub(hidden));
        let cases = dataset
            .histories
            .iter()
            .enumerate()
            .filter(|(_, history)| history.len() > hidden)
            .map(|(user, history)| {
                let seen = history.len() - hidden;
                Case { user: user as u32, seen, target: history[seen] }
            })
            .collect();
        Self { holdout, train, cases }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::tests::dataset;

    #[test]
    fn validation_and_test_hold_out_the_last_two_items() {
        let data = dataset(&[("u1", &[1, 2, 3, 4]), ("u2", &[5, 6])]);
        let item = |name: &str| data.catalog.item(name).unwrap();
        let validation = Split::new(&data, Holdout::Validation);
        assert_eq!(validation.cases, [Case { user: 0, seen: 2, target: item("i03") }]);
        assert_eq!(validation.train.sequence(0), &[item("i01"), item("i02")]);
        assert!(validation.train.sequence(1).is_empty());
        let test = Split::new(&data, Holdout::Test);
        assert_eq!(test.cases, [Case { user: 0, seen: 3, target: item("i04") }, Case { user: 1, seen: 1, target: item("i06") }]);
        assert_eq!(test.train.sequence(1), &[item("i05")]);
    }
}
