//! `agora train`: fits the recommendation models on everything in the store and forecasts its
//! sales, with a progress bar per stage, stores what the Recommend and Forecast agents serve, and
//! prints the recommenders' validation table and the forecasts' summary.

use std::sync::Arc;

use agora_agents::forecaster::refresh;
use agora_agents::fuser::RECOMMENDER_MODEL;
use agora_analytics::calendar::date_label;
use agora_core::config::AgoraConfig;
use agora_core::plugin::PluginHost;
use agora_core::store::{encode, Store};
use agora_recommend::train::train;
use agora_recommend::{Dataset, FusedModel, ModelPlugins};
use agora_sales::{ForecastSet, Metric, Scope};
use indicatif::{ProgressBar, ProgressStyle};

use crate::app::open_store;

/// Trains, forecasts, stores and reports (each part only when enabled in the config).
///
/// # Errors
/// No interactions or sales in the store, a missing model plugin, a failed fit.
pub fn run(config: &AgoraConfig, json: bool) -> anyhow::Result<()> {
    let store: Arc<dyn Store> = Arc::new(open_store(config)?);
    let host = PluginHost::new(config.plugins.dirs.clone());
    let mut report = serde_json::Map::new();
    if config.recommend.enabled {
        report.insert("recommender".into(), train_recommender(config, &store, &host, json)?);
    }
    if config.forecast.enabled {
        let mut progress = progress_bars(json);
        let set = refresh(store.as_ref(), &host, &config.forecast, None, &mut progress)?.expect("a forced refresh always forecasts");
        drop(progress);
        if !json {
            print_forecasts(&set);
        }
        report.insert(
            "forecasts".into(),
            serde_json::json!({ "data_version": set.data_version, "models": set.models.values().collect::<Vec<_>>() }),
        );
    }
    if json {
        println!("{}", serde_json::Value::Object(report));
    }
    Ok(())
}

/// A progress callback that draws one bar per stage (nothing with `quiet`).
fn progress_bars(quiet: bool) -> impl FnMut(&str, u64, u64) {
    let style = ProgressStyle::with_template("{prefix:>22} [{bar:30}] {pos}/{len}").expect("valid template").progress_chars("=> ");
    let mut current: Option<(String, ProgressBar)> = None;
    move |stage: &str, done: u64, total: u64| {
        if quiet {
            return;
        }
        if current.as_ref().is_none_or(|(name, _)| name != stage) {
            if let Some((_, bar)) = current.take() {
                bar.finish();
            }
            current = Some((stage.to_string(), ProgressBar::new(total).with_style(style.clone()).with_prefix(stage.to_string())));
        }
        if let Some((_, bar)) = &current {
            bar.set_length(total);
            bar.set_position(done);
            if done >= total {
                bar.finish();
            }
        }
    }
}

fn train_recommender(config: &AgoraConfig, store: &Arc<dyn Store>, host: &PluginHost, json: bool) -> anyhow::Result<serde_json::Value> {
    let dataset = Dataset::from_store(store.as_ref(), &config.recommend)?;
    let plugins = ModelPlugins::open(host, &config.recommend)?.with_checkpoints(store.clone());
    let snapshot = train(&plugins, &config.recommend, &dataset, &mut progress_bars(json))?;
    store.save_model(RECOMMENDER_MODEL, &encode(&snapshot)?)?;
    let info = &snapshot.info;
    if json {
        return Ok(serde_json::to_value(info)?);
    }
    println!(
        "\ntrained on {} and stored as {RECOMMENDER_MODEL:?}; validation = each user's second-last item, full ranking\n",
        info.data_version
    );
    println!("| component | weight | HR@10 | NDCG@10 | fit s |");
    println!("|---|---:|---:|---:|---:|");
    for (name, weight) in &info.weights {
        let metrics = &info.validation[name];
        println!(
            "| {name} | {weight:.2} | {:.4} | {:.4} | {:.2} |",
            metrics.hr10,
            metrics.ndcg10,
            info.fit_seconds.get(name).copied().unwrap_or(0.0)
        );
    }
    let blend = &info.validation["blend"];
    println!("| blend | | {:.4} | {:.4} | |", blend.hr10, blend.ndcg10);
    let info = serde_json::to_value(info)?;
    for (name, description) in FusedModel::load(&plugins, snapshot, &config.recommend)?.descriptions() {
        for line in tabular_lines(&description) {
            println!("{name}: {line}");
        }
    }
    Ok(info)
}

/// One line per tabular autoencoder a component reports in its `describe` answer (`tabular`:
/// the items', `user_tabular`: the users').
pub fn tabular_lines(description: &serde_json::Value) -> Vec<String> {
    [("tabular", "items"), ("user_tabular", "users")]
        .into_iter()
        .filter_map(|(key, rows)| {
            let tabular = description.get(key).filter(|tabular| tabular.is_object())?;
            let mse = |key: &str| tabular[key].as_f64().map_or("-".to_string(), |value| format!("{value:.4}"));
            let names =
                |key: &str| tabular[key].as_array().into_iter().flatten().filter_map(|name| name.as_str()).collect::<Vec<_>>().join(", ");
            let features = tabular["features"].as_array().map_or(0, Vec::len);
            let restated = if tabular["codes"].as_u64().is_some_and(|codes| codes as usize >= features) {
                "; warning: no fewer codes than features, so the codes only restate them (lower tabular_codes/user_codes to compress)"
            } else {
                ""
            };
            Some(format!(
                "tabular autoencoder, {} codes of [{}] over {} {rows} (dropped: [{}]); held-out reconstruction MSE {} (PCA {}, column means {}){restated}",
                tabular["codes"],
                names("features"),
                tabular["rows"],
                names("dropped"),
                mse("held_out_mse"),
                mse("pca_mse"),
                mse("mean_mse")
            ))
        })
        .collect()
}

fn print_forecasts(set: &ForecastSet) {
    println!("\nforecast {} series from sales version {} and stored them as \"forecasts\"\n", set.forecasts.len(), set.data_version);
    println!("| granularity | members | modelled series | fit + forecast s | shop units, next period | model |");
    println!("|---|---|---:|---:|---:|---|");
    for (granularity, model) in &set.models {
        let total = set.get(*granularity, Metric::Units, &Scope::Total);
        let next = total.map(|found| {
            format!(
                "{:.1} ({:.1}–{:.1}) from {}",
                found.forecast.mean[0],
                found.forecast.lower95[0],
                found.forecast.upper95[0],
                date_label(found.forecast_start_day)
            )
        });
        let name = total.map_or("", |found| found.forecast.model.as_str());
        println!(
            "| {granularity:?} | {} | {} | {:.1} | {} | {name} |",
            model.members.join(" + "),
            model.modelled_series,
            model.fit_seconds,
            next.unwrap_or_default()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tabular_lines_report_each_autoencoder_and_warn_when_codes_only_restate_features() {
        let report = |codes: u64| {
            serde_json::json!({"codes": codes, "features": ["log_price", "log_users"], "dropped": ["log_days_active"], "rows": 300,
                "held_out_mse": 0.031, "pca_mse": 0.055, "mean_mse": 0.92})
        };
        let lines = tabular_lines(&serde_json::json!({"tabular": report(1), "user_tabular": report(2), "fit_seconds": 3.0}));
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(lines[0].contains("1 codes of [log_price, log_users] over 300 items (dropped: [log_days_active])"), "{lines:?}");
        assert!(lines[0].contains("MSE 0.0310 (PCA 0.0550, column means 0.9200)") && !lines[0].contains("warning"), "{lines:?}");
        assert!(lines[1].contains("over 300 users") && lines[1].contains("warning: no fewer codes than features"), "{lines:?}");
        assert!(tabular_lines(&serde_json::json!({"tabular": null})).is_empty());
    }
}
