//! M4 Weekly evaluation of `forecast.nbeats` through the `ModelPlugin` trait: fits one global
//! model on the 359 training series (h = 13), forecasts them and prints sMAPE, MASE (m = 1, as
//! M4), OWA against Naive2, MSIS of the 95% interval and the fit and forecast seconds, on the
//! pseudo-test (the last 13 training weeks held out, used to choose the defaults) and on the test.
//!
//! `cargo run --release --example m4 [-- [--holdout|--test] [PARAMS_JSON]...]`: each PARAMS_JSON
//! (default `{}`) is one row; `--holdout` scores only the pseudo-test, `--test` only the test.
//! Data: /work/shared/data/m4-weekly, or $M4_DIR.

use std::time::Instant;

use agora_forecast::metrics::{score, SeriesScores, Summary};
use agora_forecast::models::Naive2;
use agora_forecast::{Forecast, Forecaster};
use agora_model_torch::TorchModels;
use agora_plugin_api::model::ModelPlugin;
use agora_plugin_api::series::SeriesSet;

const H: usize = 13;

/// The series of an M4 CSV: the first column is the quoted id, empty cells end a series.
fn read(path: &str) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .skip(1)
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            line.split(',')
                .skip(1)
                .map(|field| field.trim().trim_matches('"'))
                .filter(|field| !field.is_empty())
                .map(|field| field.parse().unwrap_or_else(|e| panic!("{path}: {field:?}: {e}")))
                .collect()
        })
        .collect()
}

/// Fits on `train`, forecasts H steps; returns the forecasts and the fit and forecast seconds.
fn nbeats(train: &[Vec<f64>], params: &str) -> (Vec<Forecast>, f64, f64) {
    let data = SeriesSet::new(52, H as u32, train).encode();
    let t0 = Instant::now();
    let mut last_report = Instant::now();
    let mut progress = |done: u64, total: u64| {
        if last_report.elapsed().as_secs_f64() > 10.0 || done == total {
            eprintln!("  step {done}/{total} ({:.0} s)", t0.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
    };
    let snapshot = TorchModels::fit("forecast.nbeats", &data, params.as_bytes(), &mut progress).unwrap_or_else(|e| panic!("fit: {e}"));
    let fit_secs = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let model = TorchModels::load("forecast.nbeats", &snapshot).unwrap_or_else(|e| panic!("load: {e}"));
    let request = serde_json::json!({"op": "forecast", "horizon": H, "series": train});
    let response = model.infer(request.to_string().as_bytes()).unwrap_or_else(|e| panic!("infer: {e}"));
    let forecasts: Vec<Forecast> = serde_json::from_slice(&response).expect("a JSON forecast array");
    let forecast_secs = t1.elapsed().as_secs_f64();
    (forecasts, fit_secs, forecast_secs)
}

fn summary(train: &[Vec<f64>], test: &[Vec<f64>], forecasts: &[Forecast]) -> Summary {
    let scores: Vec<SeriesScores> =
        train.iter().zip(test).zip(forecasts).map(|((y, actual), f)| score(y, actual, f, 1).expect("scores")).collect();
    Summary::of(&scores)
}

fn coverage(test: &[Vec<f64>], forecasts: &[Forecast]) -> (f64, f64) {
    let (mut in80, mut in95, mut n) = (0usize, 0usize, 0usize);
    for (actual, f) in test.iter().zip(forecasts) {
        for (t, y) in actual.iter().enumerate() {
            in80 += usize::from(f.lower80[t] <= *y && *y <= f.upper80[t]);
            in95 += usize::from(f.lower95[t] <= *y && *y <= f.upper95[t]);
            n += 1;
        }
    }
    (100.0 * in80 as f64 / n as f64, 100.0 * in95 as f64 / n as f64)
}

fn main() {
    let dir = std::env::var("M4_DIR").unwrap_or_else(|_| "/work/shared/data/m4-weekly".to_string());
    let full_train = read(&format!("{dir}/Weekly-train.csv"));
    let full_test = read(&format!("{dir}/Weekly-test.csv"));
    assert_eq!(full_train.len(), full_test.len());
    let args: Vec<String> = std::env::args().skip(1).collect();
    let holdout_only = args.iter().any(|a| a == "--holdout");
    let test_only = args.iter().any(|a| a == "--test");
    let mut param_sets: Vec<&str> = args.iter().filter(|a| !a.starts_with("--")).map(String::as_str).collect();
    if param_sets.is_empty() {
        param_sets.push("{}");
    }
    let pseudo_train: Vec<Vec<f64>> = full_train.iter().map(|y| y[..y.len() - H].to_vec()).collect();
    let pseudo_test: Vec<Vec<f64>> = full_train.iter().map(|y| y[y.len() - H..].to_vec()).collect();
    let mut splits = Vec::new();
    if !test_only {
        splits.push(("pseudo-test (last 13 training weeks)", &pseudo_train, &pseudo_test));
    }
    if !holdout_only {
        splits.push(("test", &full_train, &full_test));
    }
    println!("M4 Weekly: {} series, h = {H}, MASE/MSIS scale m = 1, libtorch CPU", full_train.len());
    for (split, train, test) in splits {
        let naive2: Vec<Forecast> = train.iter().map(|y| Naive2::new(1).forecast(y, H).expect("Naive2")).collect();
        let n2 = summary(train, test, &naive2);
        println!("\n{split}\n");
        println!("| model | sMAPE | MASE | OWA | MSIS | cover 80/95 % | fit s | forecast s |");
        println!("|---|---|---|---|---|---|---|---|");
        let (c80, c95) = coverage(test, &naive2);
        println!("| Naive2 | {:.3} | {:.3} | 1.000 | {:.3} | {c80:.1} / {c95:.1} | | |", n2.smape, n2.mase, n2.msis);
        for params in &param_sets {
            let (forecasts, fit_secs, forecast_secs) = nbeats(train, params);
            let s = summary(train, test, &forecasts);
            let (c80, c95) = coverage(test, &forecasts);
            println!(
                "| nbeats {params} | {:.3} | {:.3} | {:.3} | {:.3} | {c80:.1} / {c95:.1} | {fit_secs:.1} | {forecast_secs:.2} |",
                s.smape,
                s.mase,
                s.owa(&n2),
                s.msis
            );
        }
        if split == "test" {
            let ok = (n2.smape - 9.161).abs() < 5e-4 && (n2.mase - 2.777).abs() < 5e-4;
            println!("\nNaive2 reproduces M4's 9.161 / 2.777: {}", if ok { "yes" } else { "NO" });
        }
    }
}
