//! `GET /api/v1/forecasts?item=|category=|total&horizon=&interval=&granularity=&metric=`: a sales
//! forecast with its prediction interval and the history it was made from, served from the
//! Forecast agent's current set.

use actix_web::{web, HttpResponse};
use agora_analytics::calendar::date_label;
use agora_sales::{Granularity, Metric, Scope};
use serde::Deserialize;
use serde_json::json;

use super::ApiError;
use crate::app::Node;

/// Query of the forecasts route.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForecastQuery {
    pub item: Option<String>,
    pub category: Option<String>,
    /// Present (any value, even empty) for the whole shop.
    pub total: Option<String>,
    pub horizon: Option<usize>,
    pub interval: Option<u32>,
    pub granularity: Option<String>,
    pub metric: Option<String>,
}

impl ForecastQuery {
    fn scope(&self) -> Result<Scope, ApiError> {
        match (&self.item, &self.category, &self.total) {
            (Some(item), None, None) => Ok(Scope::Item(item.clone())),
            (None, Some(category), None) => Ok(Scope::Category(category.clone())),
            (None, None, Some(_)) => Ok(Scope::Total),
            _ => Err(ApiError::BadRequest("give exactly one of item=ID, category=NAME or total".into())),
        }
    }
}

/// The forecast of one item, category or the whole shop.
pub async fn forecast(node: web::Data<Node>, query: web::Query<ForecastQuery>) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(forecast_json(&node, query.into_inner())?))
}

/// The forecasts route's body.
///
/// # Errors
/// Forecasts are off or not computed yet, nothing matches the scope, or the query is invalid.
pub(crate) fn forecast_json(node: &Node, query: ForecastQuery) -> Result<serde_json::Value, ApiError> {
    let scope = query.scope()?;
    let granularity: Granularity = query.granularity.as_deref().unwrap_or("week").parse().map_err(ApiError::BadRequest)?;
    let metric: Metric = query.metric.as_deref().unwrap_or("units").parse().map_err(ApiError::BadRequest)?;
    let interval = query.interval.unwrap_or(95);
    if interval != 80 && interval != 95 {
        return Err(ApiError::BadRequest(format!("interval must be 80 or 95 (percent), got {interval}")));
    }
    let (_, handle) = node
        .forecast
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("forecasts are off (forecast.enabled = false) or not served by this process".into()))?;
    let set =
        handle.current().ok_or_else(|| ApiError::Unavailable("the first forecasts are still being computed; retry shortly".into()))?;
    let model = set.models.get(&granularity).ok_or_else(|| ApiError::Unavailable(format!("no complete {granularity:?} of sales yet")))?;
    let horizon = query.horizon.unwrap_or(model.horizon);
    if horizon == 0 || horizon > model.horizon {
        return Err(ApiError::BadRequest(format!(
            "horizon must be between 1 and {} (forecast.{}_horizon), got {horizon}",
            model.horizon,
            if granularity == Granularity::Day { "daily" } else { "weekly" }
        )));
    }
    let found =
        set.get(granularity, metric, &scope).ok_or_else(|| ApiError::NotFound(format!("no sales or catalogue entry for {scope}")))?;
    let step = granularity.days();
    let (lower, upper) = if interval == 80 {
        (&found.forecast.lower80, &found.forecast.upper80)
    } else {
        (&found.forecast.lower95, &found.forecast.upper95)
    };
    let history: Vec<_> = found
        .history
        .iter()
        .enumerate()
        .map(|(at, value)| json!({ "period_start": date_label(found.history_start_day + at as i64 * step), "value": value }))
        .collect();
    let points: Vec<_> = (0..horizon)
        .map(|at| {
            json!({
                "period_start": date_label(found.forecast_start_day + at as i64 * step),
                "mean": found.forecast.mean[at],
                "lower": lower[at],
                "upper": upper[at],
            })
        })
        .collect();
    Ok(json!({
        "scope": scope,
        "granularity": granularity,
        "metric": metric,
        "horizon": horizon,
        "interval": interval,
        "model": found.forecast.model,
        "fallback": found.fallback,
        "generated_at": set.generated_at,
        "data_version": set.data_version,
        "model_version": {
            "members": model.members,
            "plugin_versions": model.plugin_versions,
            "snapshots": model.snapshots,
            "fitted": model.description.as_deref().and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok()),
        },
        "history": history,
        "forecast": points,
    }))
}
