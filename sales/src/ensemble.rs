//! Ensembles across model plugins (for example the classic `forecast.auto` with the torch
//! plugin's `forecast.nbeats`): the mean combination of members chosen on held-out values.

use agora_core::plugin::{LoadedModel, ModelPlugin};
use agora_forecast::models::{combine, Combine};
use agora_forecast::Forecast;
use agora_plugin_api::series::SeriesSet;
use serde::{Deserialize, Serialize};

use crate::forecasts::forecast_with;
use crate::SalesError;

/// One member: a plugin and one of its `forecast.*` tasks, with the params for its `fit`.
pub struct Member<'a> {
    pub plugin: &'a ModelPlugin,
    pub task: String,
    pub params: String,
}

impl Member<'_> {
    /// `plugin:task`.
    pub fn name(&self) -> String {
        format!("{}:{}", self.plugin.info.name, self.task)
    }

    fn fit(&self, series: &[Vec<f64>], season_length: u32, horizon: usize) -> Result<(LoadedModel, Vec<u8>), SalesError> {
        let data = SeriesSet::new(season_length, horizon as u32, series).encode();
        let snapshot = self.plugin.fit(&self.task, &data, self.params.as_bytes(), |_, _| {})?;
        Ok((self.plugin.load(&self.task, &snapshot)?, snapshot))
    }
}

/// A combination and its validation score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scored {
    pub members: Vec<String>,
    /// ½ (sMAPE / sMAPE_naive + MAE-scaled error / naive's) over the held-out values.
    pub relative_error: f64,
}

/// What the validation chose, and every combination's score, best first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub chosen: Vec<usize>,
    pub table: Vec<Scored>,
}

/// Holds out the last `horizon` values of every series at least `horizon + 3` long, fits every
/// member on the rest, and scores every mean combination of members against the naive forecast
/// (M4's OWA with the naive method as the yardstick). Without such series, all members are kept.
///
/// # Errors
/// A member's fit or forecast fails.
pub fn choose(members: &[Member<'_>], series: &[Vec<f64>], season_length: u32, horizon: usize) -> Result<Choice, SalesError> {
    let held: Vec<(&[f64], &[f64])> =
        series.iter().filter(|values| values.len() >= horizon + 3).map(|values| values.split_at(values.len() - horizon)).collect();
    let all: Vec<usize> = (0..members.len()).collect();
    if held.is_empty() || members.len() == 1 {
        return Ok(Choice { chosen: all, table: Vec::new() });
    }
    let train: Vec<Vec<f64>> = held.iter().map(|(train, _)| train.to_vec()).collect();
    let mut forecasts = Vec::with_capacity(members.len());
    for member in members {
        forecasts.push(forecast_with(&member.fit(&train, season_length, horizon)?.0, &train, horizon)?);
    }
    let mut table: Vec<(Vec<usize>, f64)> = (1usize..1 << members.len())
        .map(|mask| all.iter().copied().filter(|i| mask & (1 << i) != 0).collect::<Vec<usize>>())
        .map(|subset| {
            let score = relative_error(&held, |case, step| {
                subset.iter().map(|&m| forecasts[m][case].mean[step]).sum::<f64>() / subset.len() as f64
            });
            (subset, score)
        })
        .collect();
    table.sort_by(|a, b| a.1.total_cmp(&b.1));
    Ok(Choice {
        chosen: table[0].0.clone(),
        table: table
            .into_iter()
            .map(|(subset, relative_error)| Scored { members: subset.iter().map(|&m| members[m].name()).collect(), relative_error })
            .collect(),
    })
}

/// The M4-style OWA of `point(case, step)` against the naive (last value) forecast.
fn relative_error(held: &[(&[f64], &[f64])], point: impl Fn(usize, usize) -> f64) -> f64 {
    let smape = |actual: f64, forecast: f64| {
        if actual == 0.0 && forecast == 0.0 {
            0.0
        } else {
            2.0 * (actual - forecast).abs() / (actual.abs() + forecast.abs())
        }
    };
    let (mut smape_sum, mut smape_naive, mut error_sum, mut error_naive) = (0.0, 0.0, 0.0, 0.0);
    for (case, (train, actual)) in held.iter().enumerate() {
        let last = train[train.len() - 1];
        let scale = train.windows(2).map(|pair| (pair[1] - pair[0]).abs()).sum::<f64>() / (train.len() - 1) as f64;
        for (step, &value) in actual.iter().enumerate() {
            let forecast = point(case, step);
            smape_sum += smape(value, forecast);
            smape_naive += smape(value, last);
            if scale > 0.0 {
                error_sum += (value - forecast).abs() / scale;
                error_naive += (value - last).abs() / scale;
            }
        }
    }
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 1.0 };
    0.5 * (ratio(smape_sum, smape_naive) + ratio(error_sum, error_naive))
}

/// A fitted member: the loaded model, its snapshot, and its forecasts.
pub type Fitted = (LoadedModel, Vec<u8>, Vec<Forecast>);

/// Fits the `chosen` members on all of `series` and forecasts each one `horizon` steps.
///
/// # Errors
/// A member's fit or forecast fails.
pub fn fit_chosen(
    members: &[Member<'_>],
    chosen: &[usize],
    series: &[Vec<f64>],
    season_length: u32,
    horizon: usize,
) -> Result<Vec<Fitted>, SalesError> {
    chosen
        .iter()
        .map(|&m| {
            let (model, snapshot) = members[m].fit(series, season_length, horizon)?;
            let forecasts = forecast_with(&model, series, horizon)?;
            Ok((model, snapshot, forecasts))
        })
        .collect()
}

/// The mean of the fitted members' forecasts for each of `n_series` series (intervals combined
/// bound by bound); a single member's forecasts as they are.
///
/// # Errors
/// Members disagree on the horizon (a plugin bug).
pub fn combined(fitted: &[Fitted], n_series: usize) -> Result<Vec<Forecast>, SalesError> {
    if let [(_, _, forecasts)] = fitted {
        return Ok(forecasts.clone());
    }
    (0..n_series)
        .map(|index| {
            let parts: Vec<Forecast> = fitted.iter().map(|(_, _, forecasts)| forecasts[index].clone()).collect();
            let name = format!("mean[{}]", parts.iter().map(|part| part.model.as_str()).collect::<Vec<_>>().join(" + "));
            combine(&parts, Combine::Mean, name).map_err(|error| SalesError::BadResponse(error.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_error_is_one_for_the_naive_forecast_and_zero_for_a_perfect_one() {
        let train = [1.0, 2.0, 3.0];
        let actual = [4.0, 5.0];
        let held = [(&train[..], &actual[..])];
        assert!((super::relative_error(&held, |_, _| 3.0) - 1.0).abs() < 1e-12);
        assert_eq!(super::relative_error(&held, |_, step| actual[step]), 0.0);
        // Forecasting 4 at both steps is closer than the naive 3, though not exact.
        let better = super::relative_error(&held, |_, _| 4.0);
        assert!(better < 1.0 && better > 0.0, "{better}");
    }
}
