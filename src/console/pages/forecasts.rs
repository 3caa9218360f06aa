//! Forecasts: history, forecast and prediction intervals as a chart for an item, a category or
//! the whole shop, from the set the API serves.

use std::fmt::Write;

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::Value;

use crate::app::Node;
use crate::console::chart::{Band, Chart, Line};
use crate::console::layout::{esc, num, shell, table};
use crate::console::Admin;
use crate::http::forecast::{forecast_json, ForecastQuery};

/// Query of the forecasts page.
#[derive(Deserialize)]
pub struct ChartQuery {
    flash: Option<String>,
    /// `total`, `item` or `category`.
    scope: Option<String>,
    /// The item id or category name.
    name: Option<String>,
    granularity: Option<String>,
    metric: Option<String>,
}

pub async fn page(Admin(session): Admin, node: web::Data<Node>, query: web::Query<ChartQuery>) -> HttpResponse {
    let query = query.into_inner();
    let scope = query.scope.unwrap_or_else(|| "total".to_string());
    let name = query.name.unwrap_or_default();
    let granularity = query.granularity.unwrap_or_else(|| "week".to_string());
    let metric = query.metric.unwrap_or_else(|| "units".to_string());
    let select = |id: &str, label: &str, current: &str, options: &[(&str, &str)]| -> String {
        let options: String = options
            .iter()
            .map(|(value, text)| format!(r#"<option value="{value}"{}>{text}</option>"#, if *value == current { " selected" } else { "" }))
            .collect();
        format!(r#"<label for="{id}">{label}</label><select id="{id}" name="{id}">{options}</select>"#)
    };
    let mut body = format!(
        r#"<form method="get" action="/console/forecasts" class="filters">{}<label for="name">Item id or category</label><input id="name" name="name" value="{}">{}{}<button type="submit">Show</button></form>"#,
        select("scope", "Scope", &scope, &[("total", "whole shop"), ("item", "item"), ("category", "category")]),
        esc(&name),
        select("granularity", "Granularity", &granularity, &[("week", "week"), ("day", "day")]),
        select("metric", "Metric", &metric, &[("units", "units"), ("revenue", "revenue")]),
    );
    let forecast_query = ForecastQuery {
        item: (scope == "item").then(|| name.clone()),
        category: (scope == "category").then(|| name.clone()),
        total: (scope == "total").then(String::new),
        horizon: None,
        interval: Some(95),
        granularity: Some(granularity.clone()),
        metric: Some(metric.clone()),
    };
    match forecast_json(&node, forecast_query) {
        Ok(found) => body.push_str(&render(&found, &metric)),
        Err(err) => body.push_str(&super::error_box(&err.to_string())),
    }
    shell("forecasts", "Forecasts", query.flash.as_deref(), &session.csrf, &body)
}

fn render(found: &Value, metric: &str) -> String {
    let history = found["history"].as_array().cloned().unwrap_or_default();
    let forecast = found["forecast"].as_array().cloned().unwrap_or_default();
    let shown_history = history.len().saturating_sub(52);
    let mut ticks = Vec::new();
    let mut history_points = Vec::new();
    for (at, point) in history.iter().enumerate().skip(shown_history) {
        let x = at as f64;
        ticks.push((x, point["period_start"].as_str().unwrap_or("").to_string()));
        history_points.push((x, point["value"].as_f64().unwrap_or(f64::NAN)));
    }
    let mut mean = history_points.last().copied().into_iter().collect::<Vec<_>>();
    let mut band = Vec::new();
    for (step, point) in forecast.iter().enumerate() {
        let x = (history.len() + step) as f64;
        ticks.push((x, point["period_start"].as_str().unwrap_or("").to_string()));
        mean.push((x, point["mean"].as_f64().unwrap_or(f64::NAN)));
        band.push((x, point["lower"].as_f64().unwrap_or(f64::NAN), point["upper"].as_f64().unwrap_or(f64::NAN)));
    }
    let title = format!("{} {metric} by {}", scope_name(&found["scope"]), found["granularity"].as_str().unwrap_or("period"));
    let chart = Chart {
        title: &title,
        x_label: "period start",
        y_label: metric,
        lines: vec![
            Line { name: "history", points: history_points, class: "series-a" },
            Line { name: "forecast (mean)", points: mean, class: "series-b" },
        ],
        bands: vec![Band { name: "95% prediction interval", points: band, class: "series-b" }],
        x_ticks: ticks,
    }
    .render();
    let rows: Vec<Vec<String>> = forecast
        .iter()
        .map(|point| {
            let value = |key: &str| num(point[key].as_f64().unwrap_or(f64::NAN), 2);
            vec![esc(point["period_start"].as_str().unwrap_or("")), value("mean"), value("lower"), value("upper")]
        })
        .collect();
    let mut out = String::new();
    let _ = write!(
        out,
        "{chart}<p>Model <code>{}</code>{}.</p>",
        esc(found["model"].as_str().unwrap_or("")),
        if found["fallback"] == true { " (a fallback: too little history for the configured model)" } else { "" }
    );
    out.push_str(&table("Forecast with 95% interval", &["Period start", "Mean", "Lower", "Upper"], &rows));
    out
}

fn scope_name(scope: &Value) -> String {
    match scope {
        Value::String(text) => text.clone(),
        Value::Object(fields) => {
            fields.iter().map(|(kind, name)| format!("{kind} {}", name.as_str().unwrap_or(""))).collect::<Vec<_>>().join(", ")
        }
        other => other.to_string(),
    }
}
