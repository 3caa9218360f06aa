//! Forecasting every sales series through a model plugin, the category fallback for new and
//! short-lived items, and the stored [`ForecastSet`] the API serves from.

use std::collections::BTreeMap;

use agora_core::config::ForecastConfig;
use agora_core::plugin::LoadedModel;
use agora_forecast::Forecast;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::ensemble::{self, Member};
use crate::series::{Granularity, Metric, SalesData, SalesSeries, Scope};
use crate::SalesError;

/// The most recent periods of history kept beside each forecast.
pub const KEPT_HISTORY: usize = 208;

/// One series' forecast with the history it was made from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesForecast {
    /// The day (days since 1970-01-01) the first kept history period starts.
    pub history_start_day: i64,
    /// The last (up to [`KEPT_HISTORY`]) periods of the series the model saw; empty for an item
    /// that never sold.
    pub history: Vec<f64>,
    /// The day the first forecast period starts.
    pub forecast_start_day: i64,
    pub forecast: Forecast,
    /// For a fallback forecast: where it came from (e.g. `1/12 of category "Kitchen"`).
    pub fallback: Option<String>,
}

/// How one granularity was forecast.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    /// `plugin:task` of each model whose forecasts were averaged: the configured one, or the
    /// members a cross-plugin ensemble chose on held-out values.
    pub members: Vec<String>,
    /// The plugins' versions, in the same order.
    pub plugin_versions: Vec<String>,
    /// xxh3 of each member's fitted snapshot, in the same order.
    pub snapshots: Vec<String>,
    pub horizon: usize,
    pub season_length: u32,
    /// Series forecast by the model (the rest are fallbacks).
    pub modelled_series: usize,
    pub fit_seconds: f64,
    /// JSON text: what the plugin says it fitted (its answer to `describe`) when one model is
    /// configured; with an ensemble, its validation table.
    pub description: Option<String>,
    /// `plugin:task` → the mean training loss of each epoch, for the members whose plugin reports
    /// one (`training_loss` in its `describe` answer: the deep models).
    pub training_loss: BTreeMap<String, Vec<f64>>,
}

/// Every forecast of one refresh.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ForecastSet {
    /// Unix milliseconds of the refresh.
    pub generated_at: i64,
    /// The sales data's version (see [`crate::series::SalesStats::data_version`]).
    pub data_version: String,
    pub models: BTreeMap<Granularity, ModelVersion>,
    pub forecasts: BTreeMap<(Granularity, Metric, Scope), SeriesForecast>,
}

impl ForecastSet {
    /// The forecast of one series, if there is one.
    pub fn get(&self, granularity: Granularity, metric: Metric, scope: &Scope) -> Option<&SeriesForecast> {
        self.forecasts.get(&(granularity, metric, scope.clone()))
    }
}

/// Progress of a refresh: `(stage, done, total)`.
pub type Progress<'a> = &'a mut dyn FnMut(&str, u64, u64);

/// Forecasts every series of `data` at both granularities. With one member, with its task;
/// with several (`forecast.ensemble`), with the mean combination of members chosen on held-out
/// values for each granularity (see [`crate::ensemble`]).
///
/// # Errors
/// No sales, a member's plugin lacks its task, a fit or forecast fails, or a plugin answers
/// something that is not one forecast per series with the asked horizon.
pub fn forecast_all(
    members: &[Member<'_>],
    config: &ForecastConfig,
    data: &SalesData,
    progress: Progress<'_>,
) -> Result<ForecastSet, SalesError> {
    if data.is_empty() {
        return Err(SalesError::NoData("the store holds no order lines (or counted purchase events) yet".into()));
    }
    if let Some(member) = members.iter().find(|member| !member.plugin.can(&member.task)) {
        return Err(SalesError::Config(format!(
            "forecast: model plugin {:?} cannot do {}; it offers {}",
            member.plugin.info.name,
            member.task,
            member.plugin.info.capabilities.join(", ")
        )));
    }
    let mut set =
        ForecastSet { generated_at: agora_core::now_ms(), data_version: data.stats.data_version.clone(), ..ForecastSet::default() };
    for granularity in Granularity::ALL {
        let horizon = match granularity {
            Granularity::Day => config.daily_horizon,
            Granularity::Week => config.weekly_horizon,
        };
        let series = data.series(granularity);
        if series.is_empty() {
            continue;
        }
        let modelled: Vec<&SalesSeries> =
            series.iter().filter(|one| !matches!(one.scope, Scope::Item(_)) || one.values.len() >= config.min_item_history).collect();
        let stage = format!("forecast {granularity:?}").to_lowercase();
        progress(&stage, 0, 1);
        let started = std::time::Instant::now();
        let values: Vec<Vec<f64>> = modelled.iter().map(|one| one.values.clone()).collect();
        let season_length = granularity.season_length();
        let choice = ensemble::choose(members, &values, season_length, horizon)?;
        let fitted = ensemble::fit_chosen(members, &choice.chosen, &values, season_length, horizon)?;
        let forecasts = ensemble::combined(&fitted, values.len())?;
        progress(&stage, 1, 1);
        let chosen: Vec<&Member<'_>> = choice.chosen.iter().map(|&m| &members[m]).collect();
        let description = match fitted.as_slice() {
            [(model, _, _)] if members.len() == 1 => {
                model.infer(br#"{"op":"describe"}"#).ok().and_then(|bytes| String::from_utf8(bytes).ok())
            }
            _ => Some(serde_json::to_string(&choice.table).expect("a table always serialises")),
        };
        set.models.insert(
            granularity,
            ModelVersion {
                members: chosen.iter().map(|member| member.name()).collect(),
                plugin_versions: chosen.iter().map(|member| member.plugin.info.version.clone()).collect(),
                snapshots: fitted.iter().map(|(_, snapshot, _)| format!("{:016x}", xxh3_64(snapshot))).collect(),
                horizon,
                season_length,
                modelled_series: modelled.len(),
                fit_seconds: started.elapsed().as_secs_f64(),
                description,
                training_loss: chosen
                    .iter()
                    .zip(&fitted)
                    .filter_map(|(member, (model, _, _))| Some((member.name(), training_loss(model)?)))
                    .collect(),
            },
        );
        let last = data.last_period(granularity).expect("series exist, so a last period does");
        let forecast_start_day = last + granularity.days();
        for (one, forecast) in modelled.iter().zip(forecasts) {
            set.forecasts.insert((granularity, one.metric, one.scope.clone()), kept(one, forecast, forecast_start_day, granularity, None));
        }
        add_fallbacks(&mut set, data, &series, granularity, forecast_start_day);
    }
    Ok(set)
}

/// Forecasts `series` `horizon` steps ahead with a loaded `forecast.*` model, checking the answer's shape.
///
/// # Errors
/// A failed request, or an answer of the wrong shape.
pub fn forecast_with(model: &LoadedModel, series: &[Vec<f64>], horizon: usize) -> Result<Vec<Forecast>, SalesError> {
    let request = serde_json::json!({"op": "forecast", "horizon": horizon, "series": series});
    let response = model.infer(request.to_string().as_bytes())?;
    let forecasts: Vec<Forecast> = serde_json::from_slice(&response).map_err(|error| SalesError::BadResponse(error.to_string()))?;
    if forecasts.len() != series.len() || forecasts.iter().any(|forecast| forecast.horizon() != horizon) {
        return Err(SalesError::BadResponse(format!("asked for {} forecasts of {horizon} steps, got {}", series.len(), forecasts.len())));
    }
    Ok(forecasts)
}

/// The mean training loss per epoch a model reports in its `describe` answer, if it reports one.
fn training_loss(model: &LoadedModel) -> Option<Vec<f64>> {
    let described: serde_json::Value = serde_json::from_slice(&model.infer(br#"{"op":"describe"}"#).ok()?).ok()?;
    let losses: Vec<f64> = described.get("training_loss")?.as_array()?.iter().filter_map(serde_json::Value::as_f64).collect();
    (!losses.is_empty()).then_some(losses)
}

fn kept(
    series: &SalesSeries,
    forecast: Forecast,
    forecast_start_day: i64,
    granularity: Granularity,
    fallback: Option<String>,
) -> SeriesForecast {
    let skip = series.values.len().saturating_sub(KEPT_HISTORY);
    SeriesForecast {
        history_start_day: series.start_day + skip as i64 * granularity.days(),
        history: series.values[skip..].to_vec(),
        forecast_start_day,
        forecast,
        fallback,
    }
}

/// Items without a forecast of their own (never sold, or selling for fewer than
/// `min_item_history` periods) get an even share of their most specific modelled category's
/// forecast, or of the shop total's when none of their categories has one.
fn add_fallbacks(set: &mut ForecastSet, data: &SalesData, series: &[SalesSeries], granularity: Granularity, forecast_start_day: i64) {
    let own: BTreeMap<(&Scope, Metric), &SalesSeries> = series.iter().map(|one| ((&one.scope, one.metric), one)).collect();
    let n_items = data.items().len().max(1);
    for item in data.items() {
        let scope = Scope::Item(item.clone());
        for metric in Metric::ALL {
            if set.forecasts.contains_key(&(granularity, metric, scope.clone())) {
                continue;
            }
            let categories = data.categories_of(item).unwrap_or_default();
            let parent = categories.iter().rev().find_map(|category| {
                let parent = Scope::Category(category.clone());
                set.get(granularity, metric, &parent)
                    .map(|found| (found.forecast.clone(), data.items_in(category), format!("category {category:?}")))
            });
            let Some((forecast, share_of, source)) = parent.or_else(|| {
                set.get(granularity, metric, &Scope::Total).map(|found| (found.forecast.clone(), n_items, "the shop total".into()))
            }) else {
                continue;
            };
            let share = 1.0 / share_of.max(1) as f64;
            let horizon = forecast.horizon();
            let mut forecast = forecast.scale(&vec![share; horizon]);
            forecast.model = format!("1/{share_of} of {source}: {}", forecast.model);
            let history = own.get(&(&scope, metric)).map_or_else(
                || SalesSeries { scope: scope.clone(), metric, start_day: forecast_start_day, values: Vec::new() },
                |found| (*found).clone(),
            );
            let fallback = Some(format!("1/{share_of} of {source}"));
            set.forecasts.insert((granularity, metric, scope.clone()), kept(&history, forecast, forecast_start_day, granularity, fallback));
        }
    }
}
