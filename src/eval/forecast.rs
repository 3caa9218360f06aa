//! `agora eval forecast`: the model plugin's `forecast.*` tasks on M4 Weekly (read directly: the
//! series have no dates or orders) and on CDNOW's weekly spend (ingested as orders through the
//! normal pipeline and turned into series by the same code the Forecaster serves with). Prints
//! sMAPE, MASE, OWA, MSIS and interval coverage beside the published M4 table.

use std::path::Path;
use std::time::Instant;

use agora_core::config::{AgoraConfig, ForecastConfig};
use agora_core::plugin::{ModelPlugin, PluginHost};
use agora_forecast::metrics::{mase, score, smape, SeriesScores, Summary};
use agora_forecast::Forecast;
use agora_plugin_api::series::SeriesSet;
use agora_sales::ensemble::{self, Member};
use agora_sales::forecasts::forecast_with;
use agora_sales::series::SalesSeries;
use agora_sales::{Granularity, Metric, SalesData, Scope};
use anyhow::{bail, Context};
use serde::Serialize;
use serde_json::json;

use super::{cdnow_config, ingest, plugin_dirs, record_run};

/// The M4 Weekly horizon, and CDNOW's held-out weeks.
pub(crate) const HORIZON: usize = 13;

/// Series by index, oldest value first.
pub(crate) type SeriesList = Vec<Vec<f64>>;

/// Published M4 Weekly results (Evaluation and Ranks.xlsx, "Point Forecasts-Frequency"): method,
/// sMAPE, MASE, OWA.
pub(crate) const PUBLISHED_M4_WEEKLY: [(&str, f64, f64, f64); 10] = [
    ("Naive2 (M4 benchmark)", 9.161, 2.777, 1.000),
    ("SES", 9.012, 2.685, 0.975),
    ("Theta", 9.093, 2.637, 0.971),
    ("Damped", 8.866, 2.404, 0.917),
    ("Comb (SES/Holt/Damped)", 8.944, 2.432, 0.926),
    ("#1 Smyl (ES-RNN)", 7.817, 2.356, 0.851),
    ("#2 Montero-Manso (FFORMA)", 7.625, 2.108, 0.796),
    ("#3 Pawlikowski", 6.919, 2.158, 0.766),
    ("#4 Jaganathan", 6.814, 2.350, 0.795),
    ("#5 Fiorucci", 8.627, 2.368, 0.897),
];

/// The classic plugin's forecasting tasks, without the `forecast.` prefix.
const CLASSIC_TASKS: [&str; 8] = ["naive", "snaive", "naive2", "ets", "theta", "croston", "tsb", "auto"];

/// One model's scores.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ModelRow {
    pub model: String,
    pub smape: f64,
    pub mase: f64,
    pub owa: Option<f64>,
    pub msis: f64,
    pub coverage80: f64,
    pub coverage95: f64,
    pub fit_seconds: f64,
    pub forecast_seconds: f64,
    /// What the plugin says it fitted (e.g. the ensemble `forecast.auto` chose).
    pub fitted: Option<serde_json::Value>,
}

/// Forecasts of every series with one task, and how long fitting and forecasting took.
pub(crate) struct TaskRun {
    pub forecasts: Vec<Forecast>,
    pub fit_seconds: f64,
    pub forecast_seconds: f64,
    pub fitted: Option<serde_json::Value>,
}

/// Fits `task` with `params` (JSON) on `train` (season `season_length`) and forecasts every
/// series `horizon` steps.
///
/// # Errors
/// The plugin refuses the task, the params, the data or the request.
pub(crate) fn run_task(
    plugin: &ModelPlugin,
    task: &str,
    params: &str,
    season_length: u32,
    train: &[Vec<f64>],
    horizon: usize,
) -> anyhow::Result<TaskRun> {
    let data = SeriesSet::new(season_length, horizon as u32, train).encode();
    let started = Instant::now();
    let snapshot = plugin.fit(task, &data, params.as_bytes(), |_, _| {}).with_context(|| format!("fitting {task}"))?;
    let fit_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let model = plugin.load(task, &snapshot)?;
    let forecasts = forecast_with(&model, train, horizon).with_context(|| format!("forecasting with {task}"))?;
    let forecast_seconds = started.elapsed().as_secs_f64();
    let fitted = model.infer(br#"{"op":"describe"}"#).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
    Ok(TaskRun { forecasts, fit_seconds, forecast_seconds, fitted })
}

/// Scores forecasts against the held-out values (MASE and MSIS scaled with m = 1, as M4 does for
/// weekly data) and the share of held-out values inside each interval.
pub(crate) fn score_run(
    name: &str,
    train: &[Vec<f64>],
    test: &[Vec<f64>],
    run: &TaskRun,
    naive2: Option<&Summary>,
) -> anyhow::Result<(ModelRow, Summary)> {
    let scores: Vec<SeriesScores> = train
        .iter()
        .zip(test)
        .zip(&run.forecasts)
        .map(|((insample, actual), forecast)| score(insample, actual, forecast, 1))
        .collect::<Result<_, _>>()?;
    let summary = Summary::of(&scores);
    let coverage = |lower: fn(&Forecast) -> &Vec<f64>, upper: fn(&Forecast) -> &Vec<f64>| {
        let (mut inside, mut all) = (0usize, 0usize);
        for (actual, forecast) in test.iter().zip(&run.forecasts) {
            for (step, value) in actual.iter().enumerate() {
                inside += usize::from(lower(forecast)[step] <= *value && *value <= upper(forecast)[step]);
                all += 1;
            }
        }
        inside as f64 / all.max(1) as f64
    };
    let row = ModelRow {
        model: name.to_string(),
        smape: summary.smape,
        mase: summary.mase,
        owa: naive2.map(|baseline| summary.owa(baseline)),
        msis: summary.msis,
        coverage80: coverage(|f| &f.lower80, |f| &f.upper80),
        coverage95: coverage(|f| &f.lower95, |f| &f.upper95),
        fit_seconds: run.fit_seconds,
        forecast_seconds: run.forecast_seconds,
        fitted: run.fitted.clone(),
    };
    Ok((row, summary))
}

/// Reads an M4 CSV: a quoted header, then one row per series (id first, padded with empty fields).
pub(crate) fn read_m4(path: &Path) -> anyhow::Result<SeriesList> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(row, line)| {
            line.split(',')
                .skip(1)
                .map(|field| field.trim().trim_matches('"'))
                .filter(|field| !field.is_empty())
                .map(|field| field.parse::<f64>().with_context(|| format!("{} row {}: {field:?} is not a number", path.display(), row + 2)))
                .collect()
        })
        .collect()
}

/// M4 Weekly's train and test parts; with `holdout`, the last 13 training weeks stand in for the
/// test (to choose settings without looking at it); at most `limit` series.
pub(crate) fn m4_weekly(dir: &Path, holdout: bool, limit: Option<usize>) -> anyhow::Result<(SeriesList, SeriesList)> {
    let mut train = read_m4(&dir.join("Weekly-train.csv"))?;
    let mut test = read_m4(&dir.join("Weekly-test.csv"))?;
    if train.len() != test.len() || test.iter().any(|series| series.len() != HORIZON) {
        bail!("{}: expected matching Weekly-train.csv and Weekly-test.csv with {HORIZON} test weeks per series", dir.display());
    }
    if holdout {
        test = train.iter().map(|series| series[series.len() - HORIZON..].to_vec()).collect();
        train.iter_mut().for_each(|series| series.truncate(series.len() - HORIZON));
    }
    if let Some(limit) = limit {
        train.truncate(limit);
        test.truncate(limit);
    }
    Ok((train, test))
}

/// The tasks `--model` names: `all` (the classic plugin's tasks) or a comma-separated list.
fn tasks(model: &str, plugin: &ModelPlugin) -> anyhow::Result<Vec<String>> {
    let names: Vec<String> = if model == "all" {
        CLASSIC_TASKS.iter().map(|name| format!("forecast.{name}")).filter(|task| plugin.can(task)).collect()
    } else {
        model.split(',').map(|name| if name.starts_with("forecast.") { name.to_string() } else { format!("forecast.{name}") }).collect()
    };
    if let Some(missing) = names.iter().find(|task| !plugin.can(task)) {
        bail!("model plugin {:?} cannot do {missing}; it offers {}", plugin.info.name, plugin.info.capabilities.join(", "));
    }
    Ok(names)
}

/// Options of `agora eval forecast`.
pub struct ForecastEval<'a> {
    pub data: &'a Path,
    pub dataset: &'a str,
    pub plugin: &'a str,
    pub model: &'a str,
    pub params: &'a str,
    pub ensemble: Option<&'a str>,
    pub holdout: bool,
    pub series: Option<usize>,
    pub json: bool,
}

/// Runs the evaluation and records it in the configured store.
///
/// # Errors
/// Unknown data set or model, unreadable data, a failed ingestion, fit or forecast.
pub fn run(options: &ForecastEval<'_>, config: &AgoraConfig) -> anyhow::Result<()> {
    let host = PluginHost::new(plugin_dirs(config));
    let plugin = host.model(options.plugin)?;
    // The yardsticks (Naive2 for M4, naive for CDNOW) always come from the classic plugin.
    let classic = host.model("classic")?;
    let tasks = tasks(options.model, &plugin)?;
    let results = match options.dataset {
        "m4-weekly" => m4(options, &host, &classic, &plugin, &tasks)?,
        "cdnow" => cdnow(options, &classic, &plugin, &tasks, config)?,
        other => bail!("unknown dataset {other:?} for `eval forecast`; valid: m4-weekly, cdnow"),
    };
    record_run(config, "forecast", options.dataset, &json!({ "plugin": options.plugin, "tasks": tasks }).to_string(), &results);
    if options.json {
        println!("{results}");
    } else {
        print_table(&results);
    }
    Ok(())
}

fn m4(
    options: &ForecastEval<'_>,
    host: &PluginHost,
    classic: &ModelPlugin,
    plugin: &ModelPlugin,
    tasks: &[String],
) -> anyhow::Result<serde_json::Value> {
    let (train, test) = m4_weekly(options.data, options.holdout, options.series)?;
    // M4 treats weekly data as non-seasonal for its Naive2 benchmark.
    let baseline = run_task(classic, "forecast.naive2", "{}", 1, &train, HORIZON)?;
    let (mut naive2_row, naive2) = score_run("Naive2 (m = 1, the OWA baseline)", &train, &test, &baseline, None)?;
    naive2_row.owa = Some(1.0);
    let mut rows = vec![naive2_row];
    for task in tasks {
        eprintln!("  {task} ...");
        let run = run_task(plugin, task, options.params, 52, &train, HORIZON)?;
        rows.push(score_run(task, &train, &test, &run, Some(&naive2))?.0);
    }
    if let Some(list) = options.ensemble {
        eprintln!("  ensemble of {list} ...");
        rows.push(ensemble_row(host, list, &train, &test, &naive2)?);
    }
    let reproduced =
        !options.holdout && options.series.is_none() && (naive2.smape - 9.161).abs() < 5e-4 && (naive2.mase - 2.777).abs() < 5e-4;
    Ok(json!({
        "dataset": "m4-weekly",
        "protocol": if options.holdout { "pseudo-test: the last 13 training weeks" } else { "M4 test set" },
        "series": train.len(),
        "horizon": HORIZON,
        "season_length": 52,
        "plugin": plugin.info.name,
        "models": rows,
        "naive2_reproduces_published": reproduced,
        "published": PUBLISHED_M4_WEEKLY.iter().map(|(name, smape, mase, owa)| json!({"model": name, "smape": smape, "mase": mase, "owa": owa})).collect::<Vec<_>>(),
        "published_msis": {"ETS": 20.386, "ARIMA": 19.575},
    }))
}

/// The validated ensemble of `list` (`plugin:task,...`), chosen on the training series' last
/// weeks, fitted on them whole and scored on `test`.
fn ensemble_row(host: &PluginHost, list: &str, train: &[Vec<f64>], test: &[Vec<f64>], naive2: &Summary) -> anyhow::Result<ModelRow> {
    let pairs: Vec<(&str, &str)> = list
        .split(',')
        .map(|member| member.split_once(':').with_context(|| format!("--ensemble: {member:?} is not plugin:task")))
        .collect::<anyhow::Result<_>>()?;
    let plugins = pairs.iter().map(|(plugin, _)| host.model(plugin)).collect::<Result<Vec<_>, _>>()?;
    let members: Vec<Member<'_>> =
        plugins.iter().zip(&pairs).map(|(plugin, (_, task))| Member { plugin, task: task.to_string(), params: "{}".into() }).collect();
    let started = Instant::now();
    let choice = ensemble::choose(&members, train, 52, HORIZON)?;
    let fitted = ensemble::fit_chosen(&members, &choice.chosen, train, 52, HORIZON)?;
    let forecasts = ensemble::combined(&fitted, train.len())?;
    let run = TaskRun {
        forecasts,
        fit_seconds: started.elapsed().as_secs_f64(),
        forecast_seconds: 0.0,
        fitted: Some(serde_json::to_value(&choice.table)?),
    };
    let name = format!("ensemble of {list}: chose {}", choice.chosen.iter().map(|&m| members[m].name()).collect::<Vec<_>>().join(" + "));
    Ok(score_run(&name, train, test, &run, Some(naive2))?.0)
}

fn cdnow(
    options: &ForecastEval<'_>,
    classic: &ModelPlugin,
    plugin: &ModelPlugin,
    tasks: &[String],
    config: &AgoraConfig,
) -> anyhow::Result<serde_json::Value> {
    let file = options.data.join("CDNOW_master.txt");
    if !file.exists() {
        bail!("{} is missing: --data must be the CDNOW directory (with CDNOW_master.txt)", file.display());
    }
    let work = tempfile::Builder::new().prefix("agora-eval-forecast").tempdir()?;
    let started = Instant::now();
    let store = ingest(cdnow_config(&file, &work.path().join("store.sled"), config)?, "CDNOW")?;
    let ingest_seconds = started.elapsed().as_secs_f64();
    // CDNOW's large purchases are genuine: the cleaner's robust z-score flags several thousand of
    // them, and leaving them out would forecast a different series.
    let sales_config = ForecastConfig { exclude_outliers: false, ..config.forecast.clone() };
    let data = SalesData::from_store(store.as_ref(), &sales_config)?;
    let series = data.series(Granularity::Week);
    let SalesSeries { values, start_day, .. } = series
        .into_iter()
        .find(|one| one.scope == Scope::Total && one.metric == Metric::Revenue)
        .context("CDNOW gave no weekly spend series (were the orders ingested?)")?;
    let n = values.len();
    if n < 2 * HORIZON {
        bail!("CDNOW gave only {n} complete weeks; need at least {}", 2 * HORIZON);
    }
    let mut rows = Vec::new();
    if !(plugin.info.name == classic.info.name && tasks.iter().any(|task| task == "forecast.naive")) {
        rows.push(rolling_origin(classic, "forecast.naive", "{}", &values)?);
    }
    for task in tasks {
        eprintln!("  {task} ...");
        rows.push(rolling_origin(plugin, task, options.params, &values)?);
    }
    Ok(json!({
        "dataset": "cdnow",
        "series": "weekly total spend ($), full cohort (CDNOW_master.txt) ingested as orders",
        "weeks": n,
        "first_week": agora_analytics::calendar::date_label(start_day),
        "order_lines": data.stats.order_lines,
        "ingest_seconds": ingest_seconds,
        "protocol": format!("rolling origin over the last {HORIZON} weeks: from each of the {HORIZON} origins, forecast every remaining held-out week; scores averaged over origins (MASE scale: in-sample one-week naive)"),
        "models": rows,
    }))
}

/// Rolling-origin scores of one task on one series: origins at each of the last `HORIZON` weeks.
fn rolling_origin(plugin: &ModelPlugin, task: &str, params: &str, values: &[f64]) -> anyhow::Result<serde_json::Value> {
    let n = values.len();
    let (mut smapes, mut mases, mut first) = (Vec::new(), Vec::new(), None);
    let started = Instant::now();
    for origin in n - HORIZON..n {
        let (train, actual) = values.split_at(origin);
        let run = run_task(plugin, task, params, 52, &[train.to_vec()], actual.len())?;
        let forecast = &run.forecasts[0];
        smapes.push(smape(actual, &forecast.mean)?);
        mases.push(mase(train, actual, &forecast.mean, 1)?);
        if first.is_none() {
            first = Some((smapes[0], mases[0], forecast.model.clone()));
        }
    }
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let (first_smape, first_mase, model) = first.expect("at least one origin");
    Ok(json!({
        "model": task,
        "smape": mean(&smapes),
        "mase": mean(&mases),
        "smape_h13": first_smape,
        "mase_h13": first_mase,
        "seconds": started.elapsed().as_secs_f64(),
        "fitted_at_first_origin": model,
    }))
}

fn number(value: &serde_json::Value, key: &str) -> String {
    value[key].as_f64().map_or_else(|| "—".to_string(), |number| format!("{number:.3}"))
}

fn print_table(results: &serde_json::Value) {
    let empty = Vec::new();
    let models = results["models"].as_array().unwrap_or(&empty);
    if results["dataset"] == "cdnow" {
        println!(
            "CDNOW: {} ({} weeks from {}, {} order lines)\n{}\n",
            results["series"].as_str().unwrap_or(""),
            results["weeks"],
            results["first_week"].as_str().unwrap_or(""),
            results["order_lines"],
            results["protocol"].as_str().unwrap_or("")
        );
        println!("| model | sMAPE | MASE | sMAPE h=13 | MASE h=13 | s | first origin's model |");
        println!("|---|---:|---:|---:|---:|---:|---|");
        for row in models {
            println!(
                "| {} | {} | {} | {} | {} | {:.2} | {} |",
                row["model"].as_str().unwrap_or(""),
                number(row, "smape"),
                number(row, "mase"),
                number(row, "smape_h13"),
                number(row, "mase_h13"),
                row["seconds"].as_f64().unwrap_or(0.0),
                row["fitted_at_first_origin"].as_str().unwrap_or("")
            );
        }
        println!("\nNo published forecasts exist for this series; the naive forecast is the yardstick.");
        return;
    }
    println!(
        "M4 Weekly, {} series, h = {}, {}; MASE/MSIS scale m = 1 as in M4\n",
        results["series"],
        results["horizon"],
        results["protocol"].as_str().unwrap_or("")
    );
    println!("| model | sMAPE | MASE | OWA | MSIS | 80% cover | 95% cover | fit s | forecast s |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in models {
        println!(
            "| {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.2} | {:.2} |",
            row["model"].as_str().unwrap_or(""),
            number(row, "smape"),
            number(row, "mase"),
            number(row, "owa"),
            number(row, "msis"),
            row["coverage80"].as_f64().unwrap_or(0.0),
            row["coverage95"].as_f64().unwrap_or(0.0),
            row["fit_seconds"].as_f64().unwrap_or(0.0),
            row["forecast_seconds"].as_f64().unwrap_or(0.0),
        );
    }
    println!("\nPublished (M4 Weekly, test set):\n\n| method | sMAPE | MASE | OWA |\n|---|---:|---:|---:|");
    for (name, smape, mase, owa) in PUBLISHED_M4_WEEKLY {
        println!("| {name} | {smape:.3} | {mase:.3} | {owa:.3} |");
    }
    println!("\nPublished MSIS (95%): ETS 20.386, ARIMA 19.575.");
    if results["protocol"] == "M4 test set" && results["series"] == 359 {
        println!(
            "Naive2 reproduces the published 9.161 / 2.777: {}",
            if results["naive2_reproduces_published"] == true { "yes" } else { "NO" }
        );
    }
    for row in models {
        let Some(kinds) = row["fitted"]["validation"].as_array().filter(|kinds| !kinds.is_empty()) else { continue };
        println!(
            "\n{} chose on the last {} training weeks (OWA against Naive2 there; best first):",
            row["model"].as_str().unwrap_or(""),
            results["horizon"]
        );
        for kind in kinds {
            let candidates: Vec<String> = kind[1]
                .as_array()
                .unwrap_or(&empty)
                .iter()
                .map(|candidate| format!("{} {}", candidate["members"].as_str().unwrap_or(""), number(candidate, "owa")))
                .collect();
            println!("- {}: {}", kind[0].as_str().unwrap_or(""), candidates.join("; "));
        }
    }
}
