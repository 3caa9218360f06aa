//! `agora eval behaviour`: ingests CDNOW through the normal pipeline, fits the lifetime-value
//! models the Analyst serves with, and prints them beside the published parameters together
//! with the 39-week holdout comparison. Each run is recorded in the store.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use agora_agents::analyst::load_index;
use agora_analytics::calendar::{day_of, day_start_ms, days_from_civil};
use agora_analytics::clv::{holdout_counts, BgNbd, GammaGamma, NelderMead, ParetoNbd, SummaryOptions, Transaction, TransactionModel};
use agora_core::config::{AgoraConfig, AnalyticsConfig};
use agora_core::store::Store;
use anyhow::bail;
use serde_json::json;

use super::{cdnow_config, ingest, record_run};

/// Published CDNOW parameters (Fader, Hardie & Lee 2005; pymc-marketing's Pareto/NBD test).
const PUBLISHED_BGNBD: [f64; 4] = [0.243, 4.414, 0.793, 2.426];
const PUBLISHED_BGNBD_LL: f64 = -9582.4;
const PUBLISHED_PARETO: [f64; 4] = [0.5534, 10.5802, 0.6061, 11.6562];

/// Runs `agora eval behaviour` and records it in the configured store.
///
/// # Errors
/// Unknown data set, unreadable data, a failed ingestion or fit.
pub fn run(data: &Path, dataset: &str, json: bool, config: &AgoraConfig) -> anyhow::Result<()> {
    if dataset != "cdnow" {
        bail!("unknown dataset {dataset:?} for `eval behaviour`; valid: cdnow");
    }
    let file = data.join("CDNOW_sample.txt");
    if !file.exists() {
        bail!("{} is missing: --data must be the CDNOW directory (with CDNOW_sample.txt)", file.display());
    }
    let work = tempfile::Builder::new().prefix("agora-eval-cdnow").tempdir()?;
    let ingest_config = cdnow_config(&file, &work.path().join("store.sled"), config)?;
    let started = Instant::now();
    let store = ingest(ingest_config.clone(), "CDNOW")?;
    let ingest_seconds = started.elapsed().as_secs_f64();
    let results = evaluate(store.as_ref(), &config.analytics)?;
    let mut results = results;
    results["ingest_seconds"] = json!(ingest_seconds);
    results["records_ingested"] = json!(store.source_stats()?.get("cdnow").map(|stats| stats.accepted).unwrap_or(0));
    drop(store);

    record_run(config, "behaviour", dataset, &serde_json::to_string(&ingest_config.sources)?, &results);
    if json {
        println!("{results}");
    } else {
        print_table(&results);
    }
    Ok(())
}

/// Fits the models on the 39-week calibration period and compares the 39-week holdout.
fn evaluate(store: &dyn Store, analytics: &AnalyticsConfig) -> anyhow::Result<serde_json::Value> {
    let index = load_index(store, analytics)?;
    let start_day = days_from_civil(1997, 1, 1);
    let calibration_end = day_start_ms(days_from_civil(1997, 9, 30));
    let holdout_end = day_start_ms(days_from_civil(1998, 6, 30));
    let summaries = index.customer_summaries(&SummaryOptions::weekly(calibration_end))?;
    let optimizer = NelderMead::default();
    let timed = Instant::now();
    let bg = BgNbd::fit(&summaries, &optimizer)?;
    let bg_seconds = timed.elapsed().as_secs_f64();
    let timed = Instant::now();
    let pareto = ParetoNbd::fit(&summaries, &optimizer)?;
    let pareto_seconds = timed.elapsed().as_secs_f64();
    let timed = Instant::now();
    let spend = GammaGamma::fit(&summaries, &optimizer)?;
    let spend_seconds = timed.elapsed().as_secs_f64();

    // Holdout: predicted vs actual repeat purchase days per customer.
    let transactions: Vec<Transaction> = index.purchases().iter().map(Transaction::from).collect();
    let actual = holdout_counts(&transactions, calibration_end, holdout_end);
    let mut holdout = BTreeMap::new();
    for (name, model) in [("bgnbd", &bg.model as &dyn TransactionModel), ("paretonbd", &pareto.model)] {
        let (mut predicted_total, mut absolute_error) = (0.0, 0.0);
        for customer in &summaries {
            let predicted = model.conditional_expected_transactions(39.0, customer.x, customer.t_x, customer.t_cal);
            let observed = f64::from(actual.get(&customer.id).copied().unwrap_or(0));
            predicted_total += predicted;
            absolute_error += (predicted - observed).abs();
        }
        holdout.insert(name, json!({ "predicted": predicted_total, "mae_per_customer": absolute_error / summaries.len() as f64 }));
    }
    let actual_total: u32 = summaries.iter().map(|customer| actual.get(&customer.id).copied().unwrap_or(0)).sum();

    // The aggregate tracking curve: cumulative repeat purchase days, actual and expected, by week.
    let mut days_by_customer: BTreeMap<&str, Vec<i64>> = BTreeMap::new();
    for transaction in &transactions {
        days_by_customer.entry(transaction.customer.as_str()).or_default().push(day_of(transaction.ts));
    }
    let mut first_days = Vec::new();
    let mut repeat_days = Vec::new();
    for days in days_by_customer.values_mut() {
        days.sort_unstable();
        days.dedup();
        first_days.push(days[0]);
        repeat_days.extend_from_slice(&days[1..]);
    }
    let curve: Vec<serde_json::Value> = (1..=78i64)
        .map(|week| {
            let end_day = start_day + week * 7;
            let actual = repeat_days.iter().filter(|day| **day < end_day).count();
            let expected = |model: &dyn TransactionModel| -> f64 {
                first_days
                    .iter()
                    .filter(|first| **first < end_day)
                    .map(|first| model.expected_transactions((end_day - first) as f64 / 7.0))
                    .sum()
            };
            json!({ "week": week, "actual": actual, "bgnbd": expected(&bg.model), "paretonbd": expected(&pareto.model) })
        })
        .collect();

    let (b, p, g) = (bg.model, pareto.model, spend.model);
    Ok(json!({
        "dataset": "cdnow",
        "customers": summaries.len(),
        "calibration": "1997-01-01..1997-09-30 (39 weeks)",
        "bgnbd": { "r": b.r, "alpha": b.alpha, "a": b.a, "b": b.b, "log_likelihood": bg.log_likelihood, "fit_seconds": bg_seconds,
                   "published": { "r": PUBLISHED_BGNBD[0], "alpha": PUBLISHED_BGNBD[1], "a": PUBLISHED_BGNBD[2], "b": PUBLISHED_BGNBD[3], "log_likelihood": PUBLISHED_BGNBD_LL } },
        "paretonbd": { "r": p.r, "alpha": p.alpha, "s": p.s, "beta": p.beta, "log_likelihood": pareto.log_likelihood, "fit_seconds": pareto_seconds,
                       "published": { "r": PUBLISHED_PARETO[0], "alpha": PUBLISHED_PARETO[1], "s": PUBLISHED_PARETO[2], "beta": PUBLISHED_PARETO[3] } },
        "gamma_gamma": { "p": g.p, "q": g.q, "v": g.v, "fit_seconds": spend_seconds },
        "holdout": { "actual": actual_total, "bgnbd": holdout["bgnbd"], "paretonbd": holdout["paretonbd"] },
        "cumulative_repeat_purchases": curve,
    }))
}

fn print_table(results: &serde_json::Value) {
    let number = |value: &serde_json::Value| value.as_f64().unwrap_or(f64::NAN);
    println!("CDNOW sample, {} customers, calibration {}", results["customers"], results["calibration"].as_str().unwrap_or(""));
    println!(
        "ingested {} order lines through the csv plugin in {:.2} s\n",
        results["records_ingested"],
        number(&results["ingest_seconds"])
    );
    println!("| model | parameter | agora | published |");
    println!("|---|---|---:|---:|");
    for (model, names) in [("bgnbd", ["r", "alpha", "a", "b"]), ("paretonbd", ["r", "alpha", "s", "beta"])] {
        for name in names {
            println!("| {model} | {name} | {:.4} | {:.4} |", number(&results[model][name]), number(&results[model]["published"][name]));
        }
        let published_ll = results[model]["published"]["log_likelihood"].as_f64().map_or("-".to_string(), |ll| format!("{ll:.1}"));
        println!("| {model} | log-likelihood | {:.1} | {published_ll} |", number(&results[model]["log_likelihood"]));
        println!("| {model} | fit seconds | {:.3} | |", number(&results[model]["fit_seconds"]));
    }
    let g = &results["gamma_gamma"];
    println!("| gamma-gamma | p, q, v | {:.3}, {:.3}, {:.3} | |", number(&g["p"]), number(&g["q"]), number(&g["v"]));
    let holdout = &results["holdout"];
    println!("\n39-week holdout, repeat purchase days: actual {}", holdout["actual"]);
    for model in ["bgnbd", "paretonbd"] {
        println!(
            "  {model:<10} predicted {:.1}, mean absolute error per customer {:.3}",
            number(&holdout[model]["predicted"]),
            number(&holdout[model]["mae_per_customer"])
        );
    }
    println!("\ncumulative repeat purchase days, every 13th week (weeks since 1997-01-01; 39 ends calibration; --json has all 78)");
    println!("| week | actual | bg/nbd | pareto/nbd |");
    println!("|---:|---:|---:|---:|");
    for row in
        results["cumulative_repeat_purchases"].as_array().into_iter().flatten().filter(|row| row["week"].as_i64().unwrap_or(0) % 13 == 0)
    {
        println!("| {} | {} | {:.0} | {:.0} |", row["week"], row["actual"], number(&row["bgnbd"]), number(&row["paretonbd"]));
    }
}
