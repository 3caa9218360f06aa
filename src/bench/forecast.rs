//! `agora bench forecast`: Agora's `forecast.auto` (through the model plugin, as served) beside
//! statsforecast's AutoETS(52), AutoTheta(52), AutoARIMA(1) and their mean on M4 Weekly, in one
//! invocation on the same series: accuracy (sMAPE, MASE, OWA, MSIS, coverage) and fit + forecast
//! time side by side. Time is counted in CPU seconds on both sides (Agora uses every core;
//! statsforecast runs in one process, see benches/forecast_statsforecast.py), with Agora's wall
//! time beside it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use agora_core::config::AgoraConfig;
use agora_core::plugin::PluginHost;
use agora_forecast::models::{combine, Combine};
use agora_forecast::Forecast;
use anyhow::{bail, Context};
use serde_json::json;

use crate::eval::forecast::{m4_weekly, run_task, score_run, ModelRow, TaskRun, HORIZON};

/// The OWA Agora must reach on the M4 Weekly test set.
const TARGET_OWA: f64 = 0.80;
/// How many times faster than the statsforecast ensemble Agora must be.
const TARGET_SPEEDUP: f64 = 5.0;

/// Options of `agora bench forecast`.
pub struct ForecastBench<'a> {
    pub data: &'a Path,
    pub holdout: bool,
    pub series: Option<usize>,
    pub json: bool,
}

/// Runs both sides and prints the table (or JSON).
///
/// # Errors
/// Unreadable data, a failed fit, or statsforecast missing or failing.
pub fn forecast_bench(options: &ForecastBench<'_>, config: &AgoraConfig) -> anyhow::Result<()> {
    let (train, test) = m4_weekly(options.data, options.holdout, options.series)?;
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let host = PluginHost::new(crate::eval::plugin_dirs(config));
    let plugin = host.model("classic")?;

    let naive2_run = run_task(&plugin, "forecast.naive2", "{}", 1, &train, HORIZON)?;
    let (_, naive2) = score_run("Naive2", &train, &test, &naive2_run, None)?;
    eprintln!("agora forecast.auto on {} series, {threads} threads ...", train.len());
    let (started, cpu_before) = (Instant::now(), process_cpu_seconds()?);
    let agora = run_task(&plugin, "forecast.auto", "{}", 52, &train, HORIZON)?;
    let (agora_wall, agora_seconds) = (started.elapsed().as_secs_f64(), process_cpu_seconds()? - cpu_before);
    let mut agora_row = score_run("agora forecast.auto", &train, &test, &agora, Some(&naive2))?.0;
    agora_row.fitted = None;
    agora_row.fit_seconds = agora_seconds;
    agora_row.forecast_seconds = 0.0;

    eprintln!("statsforecast on the same series, one process ...");
    let peer = run_statsforecast(&train)?;
    let mut rows = vec![agora_row.clone()];
    let mut members = Vec::new();
    let mut ensemble_seconds = 0.0;
    for (name, model) in peer["models"].as_object().context("statsforecast output has no models")? {
        let forecasts: Vec<Forecast> =
            serde_json::from_value(model["forecasts"].clone()).with_context(|| format!("statsforecast {name} output"))?;
        if forecasts.len() != train.len() {
            bail!("statsforecast {name} returned {} forecasts for {} series", forecasts.len(), train.len());
        }
        let seconds = model["seconds"].as_f64().unwrap_or(0.0);
        ensemble_seconds += seconds;
        let run = TaskRun { forecasts, fit_seconds: seconds, forecast_seconds: 0.0, fitted: None };
        rows.push(score_run(&format!("statsforecast {name}"), &train, &test, &run, Some(&naive2))?.0);
        members.push(run.forecasts);
    }
    let ensemble: Vec<Forecast> = (0..train.len())
        .map(|series| combine(&members.iter().map(|forecasts| forecasts[series].clone()).collect::<Vec<_>>(), Combine::Mean, "mean"))
        .collect::<Result<_, _>>()?;
    let ensemble_run = TaskRun { forecasts: ensemble, fit_seconds: ensemble_seconds, forecast_seconds: 0.0, fitted: None };
    let ensemble_row = score_run("statsforecast mean(AutoETS, AutoTheta, AutoARIMA)", &train, &test, &ensemble_run, Some(&naive2))?.0;
    rows.push(ensemble_row.clone());

    let agora_owa = agora_row.owa.unwrap_or(f64::INFINITY);
    let speedup = ensemble_seconds / agora_seconds;
    let results = json!({
        "dataset": "m4-weekly",
        "protocol": if options.holdout { "pseudo-test: the last 13 training weeks" } else { "M4 test set" },
        "series": train.len(),
        "threads": threads,
        "statsforecast": peer["statsforecast"],
        "rows": rows,
        "agora_cpu_seconds": agora_seconds,
        "agora_wall_seconds": agora_wall,
        "statsforecast_ensemble_cpu_seconds": ensemble_seconds,
        "speedup": speedup,
        "targets": {
            "owa_at_most_0.80": agora_owa <= TARGET_OWA,
            "more_accurate_than_ensemble": agora_owa < ensemble_row.owa.unwrap_or(f64::INFINITY),
            "at_least_5x_faster": speedup >= TARGET_SPEEDUP,
        },
    });
    if options.json {
        println!("{results}");
        return Ok(());
    }
    println!(
        "M4 Weekly, {} series, h = {HORIZON}, {}; statsforecast {} in one process; Agora on {threads} threads\n",
        train.len(),
        results["protocol"].as_str().unwrap_or(""),
        peer["statsforecast"].as_str().unwrap_or("?")
    );
    println!("| model | sMAPE | MASE | OWA | MSIS | 95% cover | fit + forecast CPU-s |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        print_row(row);
    }
    println!(
        "\nAgora took {agora_seconds:.1} CPU-s ({agora_wall:.1} s wall on {threads} threads), the statsforecast ensemble {ensemble_seconds:.1} CPU-s: {speedup:.1}x."
    );
    for (target, met) in results["targets"].as_object().expect("built above") {
        println!("target {target}: {}", if met == true { "met" } else { "NOT met" });
    }
    Ok(())
}

fn print_row(row: &ModelRow) {
    println!(
        "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1} |",
        row.model,
        row.smape,
        row.mase,
        row.owa.unwrap_or(f64::NAN),
        row.msis,
        row.coverage95,
        row.fit_seconds + row.forecast_seconds
    );
}

/// CPU seconds (user + system) this process has used, from /proc/self/stat.
fn process_cpu_seconds() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").context("CPU time is read from /proc/self/stat (Linux only)")?;
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them.
    let fields: Vec<&str> = stat.rsplit_once(')').context("unexpected /proc/self/stat")?.1.split_whitespace().collect();
    let ticks = |index: usize| fields.get(index).and_then(|field| field.parse::<f64>().ok()).context("unexpected /proc/self/stat");
    // The kernel reports them in USER_HZ, which is 100 on every Linux architecture.
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

/// Runs `benches/forecast_statsforecast.py` with the forecasting venv's Python.
fn run_statsforecast(train: &[Vec<f64>]) -> anyhow::Result<serde_json::Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let python = root.join(".venv-forecast/bin/python");
    if !python.exists() {
        bail!("{} is missing: run scripts/setup-python.sh to install statsforecast for the comparison", python.display());
    }
    let work = tempfile::Builder::new().prefix("agora-bench-forecast").tempdir()?;
    let (input, output) = (work.path().join("series.json"), work.path().join("forecasts.json"));
    std::fs::write(&input, serde_json::to_vec(&json!({ "horizon": HORIZON, "series": train }))?)?;
    let status = Command::new(&python)
        .arg(root.join("benches/forecast_statsforecast.py"))
        .arg(&input)
        .arg(&output)
        .status()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !status.success() {
        bail!("the statsforecast comparison failed ({status}); its messages are above");
    }
    Ok(serde_json::from_slice(&std::fs::read(&output)?)?)
}
