//! Customer profiles: RFM segment plus BG/NBD and Gamma-Gamma predictions per customer, built
//! from a [`BehaviourIndex`]. The Analyst agent serves these and `agora eval behaviour` checks
//! the same code against CDNOW.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::behaviour::{BehaviourIndex, RfmRules, RfmScore};
use crate::clv::{customer_lifetime_value, BgNbd, ClvOptions, CustomerSummary, GammaGamma, NelderMead, SummaryOptions};
use crate::Result;

/// Fewest customers with a repeat purchase before the CLV models are fitted.
pub const MIN_REPEAT_CUSTOMERS: usize = 10;

/// Shortest purchase history, in weeks, the CLV models are fitted on: a few weeks of data say
/// nothing about a customer's next year, and a fit on them predicts nonsense.
pub const MIN_HISTORY_WEEKS: f64 = 8.0;

/// One customer's fused behaviour features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomerProfile {
    pub user_id: String,
    pub rfm: RfmScore,
    /// Expected purchase days in the next `horizon_weeks` (BG/NBD), when the model is fitted.
    pub expected_purchases: Option<f64>,
    /// Probability the customer is still active (BG/NBD).
    pub probability_alive: Option<f64>,
    /// Expected value over the horizon (BG/NBD × Gamma-Gamma).
    pub clv: Option<f64>,
}

/// The fitted models behind the profiles, and why a model is missing when it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FittedModels {
    pub bgnbd: Option<BgNbd>,
    pub bgnbd_log_likelihood: Option<f64>,
    pub gamma_gamma: Option<GammaGamma>,
    /// Why the models were not fitted (too little data, a failed fit).
    pub note: Option<String>,
}

/// Profiles of every purchasing customer, with the models and segment sizes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileReport {
    /// The reference time of recency and of the calibration end, UTC milliseconds.
    pub as_of: i64,
    pub horizon_weeks: f64,
    pub profiles: BTreeMap<String, CustomerProfile>,
    pub segments: BTreeMap<String, u64>,
    pub models: FittedModels,
}

/// Builds every customer's profile as of `as_of`, predicting `horizon_weeks` ahead.
///
/// # Errors
/// Only when the purchase data is inconsistent; a model that cannot be fitted leaves its
/// predictions empty and says why in [`FittedModels::note`].
pub fn build_profiles(index: &BehaviourIndex, as_of: i64, horizon_weeks: f64, rules: &RfmRules) -> Result<ProfileReport> {
    let scores = index.rfm(as_of, rules);
    let summaries = index.customer_summaries(&SummaryOptions::weekly(as_of))?;
    let models = fit_models(&summaries);
    let by_id: BTreeMap<&str, &CustomerSummary> = summaries.iter().map(|summary| (summary.id.as_str(), summary)).collect();
    let mut segments = BTreeMap::new();
    let mut profiles = BTreeMap::new();
    for score in scores {
        *segments.entry(score.segment.clone()).or_default() += 1;
        let summary = by_id.get(score.user_id.as_str());
        let (mut expected, mut alive, mut clv) = (None, None, None);
        if let (Some(model), Some(summary)) = (&models.bgnbd, summary) {
            expected = Some(model.conditional_expected_transactions(horizon_weeks, summary.x, summary.t_x, summary.t_cal));
            alive = Some(model.probability_alive(summary.x, summary.t_x, summary.t_cal));
            if let Some(spend) = &models.gamma_gamma {
                let options = ClvOptions { horizon: horizon_weeks, ..ClvOptions::default() };
                clv = customer_lifetime_value(model, spend, summary, &options).ok();
            }
        }
        let user_id = score.user_id.clone();
        profiles
            .insert(user_id.clone(), CustomerProfile { user_id, rfm: score, expected_purchases: expected, probability_alive: alive, clv });
    }
    Ok(ProfileReport { as_of, horizon_weeks, profiles, segments, models })
}

/// Fits BG/NBD and Gamma-Gamma when there is enough repeat behaviour to identify them.
pub fn fit_models(summaries: &[CustomerSummary]) -> FittedModels {
    let repeaters = summaries.iter().filter(|summary| summary.x > 0).count();
    if repeaters < MIN_REPEAT_CUSTOMERS {
        return FittedModels {
            note: Some(format!("{repeaters} customers with repeat purchases; the CLV models need at least {MIN_REPEAT_CUSTOMERS}")),
            ..FittedModels::default()
        };
    }
    let history = summaries.iter().map(|summary| summary.t_cal).fold(0.0, f64::max);
    if history < MIN_HISTORY_WEEKS {
        return FittedModels {
            note: Some(format!("{history:.1} weeks of purchase history; the CLV models need at least {MIN_HISTORY_WEEKS}")),
            ..FittedModels::default()
        };
    }
    let optimizer = NelderMead::default();
    let mut models = FittedModels::default();
    match BgNbd::fit(summaries, &optimizer) {
        Ok(fit) => {
            models.bgnbd = Some(fit.model);
            models.bgnbd_log_likelihood = Some(fit.log_likelihood);
        }
        Err(err) => models.note = Some(format!("bg/nbd fit failed: {err}")),
    }
    match GammaGamma::fit(summaries, &optimizer) {
        Ok(fit) => models.gamma_gamma = Some(fit.model),
        Err(err) => models.note = Some(format!("gamma-gamma fit failed: {err}")),
    }
    models
}
