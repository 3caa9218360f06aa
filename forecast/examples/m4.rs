//! M4 Weekly evaluation: forecasts the 359 series (h = 13) with every model and prints sMAPE, MASE,
//! OWA (vs Naive2), MSIS and fit time beside the published M4 numbers.
//!
//! `cargo run --release -p agora-forecast --example m4 [-- SUBSTRING...]` (only models whose label
//! contains one of the substrings; Naive2 always runs). Data: /work/shared/data/m4-weekly, or $M4_DIR.

use std::time::Instant;

use agora_forecast::metrics::{score, SeriesScores, Summary};
use agora_forecast::models::{agora, Combination, Croston, Ets, Naive, Naive2, SeasonalNaive, Theta, ThetaVariant, Tsb, Validated};
use agora_forecast::Forecaster;

const H: usize = 13;

fn read(path: &str) -> Vec<Vec<f64>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split(',').skip(1).map(|f| f.trim().trim_matches('"')).filter(|f| !f.is_empty()).map(|f| f.parse().unwrap()).collect())
        .collect()
}

fn models() -> Vec<(&'static str, Box<dyn Forecaster>)> {
    let ets52 = |w: usize| Ets::auto(52).with_window(w);
    let dotm52 = || Theta::dynamic_optimized(52).with_window(208);
    vec![
        ("Naive", Box::new(Naive)),
        ("sNaive m52", Box::new(SeasonalNaive::new(52))),
        ("SES", Box::new(Ets::ses())),
        ("Theta (M4 benchmark: STM, m1)", Box::new(Theta::standard(1))),
        ("Damped (ETS Z,Ad,N)", Box::new(Ets::damped())),
        ("Damped w208", Box::new(Ets::damped().with_window(208))),
        ("AutoETS m1", Box::new(Ets::auto(1))),
        ("AutoETS m1 w208", Box::new(Ets::auto(1).with_window(208))),
        ("AutoETS m52 w156", Box::new(ets52(156))),
        ("AutoETS m52 w208", Box::new(ets52(208))),
        ("AutoETS m52 w260", Box::new(ets52(260))),
        ("STM m52", Box::new(Theta::standard(52))),
        ("OTM m52", Box::new(Theta::new(ThetaVariant::Optimized, 52))),
        ("DOTM m1", Box::new(Theta::dynamic_optimized(1))),
        ("DOTM m52", Box::new(Theta::dynamic_optimized(52))),
        ("AutoTheta m52", Box::new(Theta::auto(52))),
        ("DOTM m52 w208", Box::new(dotm52())),
        ("AutoTheta m52 w208", Box::new(Theta::auto(52).with_window(208))),
        ("CrostonSBA", Box::new(Croston::default())),
        ("TSB", Box::new(Tsb::default())),
        (
            "Mean(AutoETS m1, AutoTheta m52, Damped)",
            Box::new(Combination::mean(vec![Box::new(Ets::auto(1)), Box::new(Theta::auto(52)), Box::new(Ets::damped())])),
        ),
        ("Mean(ETS52 w208, DOTM52 w208)", Box::new(Combination::mean(vec![Box::new(ets52(208)), Box::new(dotm52())]))),
        (
            "Median(ETS52 w208, DOTM52 w208, Damped w208)",
            Box::new(Combination::median(vec![Box::new(ets52(208)), Box::new(dotm52()), Box::new(Ets::damped().with_window(208))])),
        ),
        ("Mean(ETS52 w208, ETS52 w260)", Box::new(Combination::mean(vec![Box::new(ets52(208)), Box::new(ets52(260))]))),
        (
            "Validated(ETS52 w208, DOTM52 w208, Damped w208)",
            Box::new(Validated::new(vec![Box::new(ets52(208)), Box::new(dotm52()), Box::new(Ets::damped().with_window(208))])),
        ),
        ("Agora ensemble = agora(52)", Box::new(agora(52))),
    ]
}

/// Forecasts every series on 2 threads; returns the per-series scores and the summed fit seconds.
fn evaluate(model: &dyn Forecaster, train: &[Vec<f64>], test: &[Vec<f64>]) -> (Vec<SeriesScores>, f64) {
    const THREADS: usize = 2;
    let results: Vec<Vec<(usize, SeriesScores, f64)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|k| {
                s.spawn(move || {
                    (k..train.len())
                        .step_by(THREADS)
                        .map(|i| {
                            let t0 = Instant::now();
                            let f = model.forecast(&train[i], H).unwrap_or_else(|e| panic!("series {i}: {e}"));
                            let secs = t0.elapsed().as_secs_f64();
                            (i, score(&train[i], &test[i], &f, 1).unwrap(), secs)
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<(usize, SeriesScores, f64)> = results.into_iter().flatten().collect();
    all.sort_by_key(|r| r.0);
    let secs = all.iter().map(|r| r.2).sum();
    (all.into_iter().map(|r| r.1).collect(), secs)
}

fn main() {
    let dir = std::env::var("M4_DIR").unwrap_or_else(|_| "/work/shared/data/m4-weekly".to_string());
    let train = read(&format!("{dir}/Weekly-train.csv"));
    let test = read(&format!("{dir}/Weekly-test.csv"));
    assert_eq!(train.len(), test.len());
    let filters: Vec<String> = std::env::args().skip(1).collect();
    let (train, test) = if std::env::var("M4_HOLDOUT").is_ok() {
        // Pseudo-test: the last 13 training values, to check choices without touching the test set.
        let tr: Vec<Vec<f64>> = train.iter().map(|y| y[..y.len() - H].to_vec()).collect();
        let te: Vec<Vec<f64>> = train.iter().map(|y| y[y.len() - H..].to_vec()).collect();
        (tr, te)
    } else {
        (train, test)
    };
    println!("M4 Weekly: {} series, h = {H}, MASE/MSIS scale m = 1, fit on 2 threads", train.len());
    let (n2, n2_secs) = evaluate(&Naive2::new(1), &train, &test);
    let naive2 = Summary::of(&n2);
    println!("\n| model | sMAPE | MASE | OWA | MSIS | fit CPU-s | wall s |");
    println!("|---|---|---|---|---|---|---|");
    let row = |name: &str, s: &Summary, secs: f64, wall: f64| {
        println!("| {name} | {:.3} | {:.3} | {:.3} | {:.3} | {secs:.2} | {wall:.2} |", s.smape, s.mase, s.owa(&naive2), s.msis)
    };
    row("Naive2", &naive2, n2_secs, n2_secs / 2.0);
    for (label, model) in models() {
        if !filters.is_empty() && !filters.iter().any(|f| label.contains(f.as_str())) {
            continue;
        }
        let t0 = Instant::now();
        let (scores, secs) = evaluate(model.as_ref(), &train, &test);
        row(label, &Summary::of(&scores), secs, t0.elapsed().as_secs_f64());
    }
    println!("\nPublished (M4, Weekly): Naive2 9.161 / 2.777 / 1.000; Theta 9.093 / 2.637 / 0.971; Damped 8.866 / 2.404 / 0.917;");
    println!("SES 9.012 / 2.685 / 0.975; Comb 8.944 / 2.432 / 0.926; Smyl OWA 0.851; best weekly (Pawlikowski) 0.766. MSIS ETS 20.386, ARIMA 19.575.");
    let ok = (naive2.smape - 9.161).abs() < 5e-4 && (naive2.mase - 2.777).abs() < 5e-4;
    println!("Naive2 reproduces 9.161 / 2.777: {}", if ok { "yes" } else { "NO" });
}
