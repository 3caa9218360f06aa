//! Fits BG/NBD, Pareto/NBD and Gamma-Gamma to the CDNOW sample and prints parameters, log-likelihoods and timings.
//!
//! `cargo run -p agora-analytics --release --example cdnow_fit [DIR]` (DIR defaults to ../shared/data/cdnow).
//! Fits twice: on the published summary CSV (t_x, T, z̄ rounded to 2 decimals; the acceptance
//! data) and on the summaries this crate builds from the raw transaction log.

use std::time::Instant;

use agora_analytics::calendar::{day_start_ms, days_from_civil};
use agora_analytics::clv::{
    holdout_counts, parse_cdnow, parse_summary_csv, summarize, BgNbd, CustomerSummary, GammaGamma, NelderMead, ParetoNbd, SummaryOptions,
    Transaction, TransactionModel,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/data/cdnow").to_string());
    let csv = parse_summary_csv(&std::fs::read_to_string(format!("{dir}/cdnow_customers_summary_with_transactions.csv"))?)?;
    let log = std::fs::read_to_string(format!("{dir}/CDNOW_sample.txt"))?;

    let started = Instant::now();
    let transactions = parse_cdnow(&log)?;
    let end = day_start_ms(days_from_civil(1997, 9, 30));
    let from_log = summarize(&transactions, &SummaryOptions::weekly(end))?;
    println!("parse + summarize: {} transactions -> {} customers in {:?}", transactions.len(), from_log.len(), started.elapsed());

    for (label, data) in [("published summary csv", &csv), ("summarised from CDNOW_sample.txt", &from_log)] {
        println!("\n== {label}");
        report(data, &transactions, end)?;
    }
    Ok(())
}

fn report(data: &[CustomerSummary], transactions: &[Transaction], end: i64) -> Result<(), Box<dyn std::error::Error>> {
    let optimizer = NelderMead::default();
    let started = Instant::now();
    let bg = BgNbd::fit(data, &optimizer)?;
    let elapsed = started.elapsed();
    let m = bg.model;
    println!(
        "bg/nbd:      r={:.4} alpha={:.4} a={:.4} b={:.4}  ll={:.4}  ({} evaluations, {elapsed:?})",
        m.r, m.alpha, m.a, m.b, bg.log_likelihood, bg.evaluations
    );
    println!(
        "             ll at the published (0.243, 4.414, 0.793, 2.426): {:.4}",
        BgNbd::new(0.243, 4.414, 0.793, 2.426)?.log_likelihood(data)?
    );

    let started = Instant::now();
    let pareto = ParetoNbd::fit(data, &optimizer)?;
    let elapsed = started.elapsed();
    let p = pareto.model;
    println!(
        "pareto/nbd:  r={:.4} alpha={:.4} s={:.4} beta={:.4}  ll={:.6}  ({} evaluations, {elapsed:?})",
        p.r, p.alpha, p.s, p.beta, pareto.log_likelihood, pareto.evaluations
    );
    for (source, published) in [("pymc-marketing", [0.5534, 10.5802, 0.6061, 11.6562]), ("lifetimes", [0.553, 10.578, 0.606, 11.669])] {
        let ll = ParetoNbd::new(published[0], published[1], published[2], published[3])?.log_likelihood(data)?;
        println!("             ll at {source}'s {published:?}: {ll:.6}");
    }

    let started = Instant::now();
    let spend = GammaGamma::fit(data, &optimizer)?;
    let s = spend.model;
    println!(
        "gamma-gamma: p={:.4} q={:.4} v={:.4}  ll={:.4}  ({} customers, {:?})",
        s.p,
        s.q,
        s.v,
        spend.log_likelihood,
        spend.customers,
        started.elapsed()
    );

    // The 39-week holdout: predicted vs actual repeat purchase days.
    let holdout = holdout_counts(transactions, end, day_start_ms(days_from_civil(1998, 6, 30)));
    let actual: u32 = data.iter().map(|c| holdout.get(&c.id).copied().unwrap_or(0)).sum();
    let predicted = |model: &dyn TransactionModel| -> f64 {
        data.iter().map(|c| model.conditional_expected_transactions(39.0, c.x, c.t_x, c.t_cal)).sum()
    };
    println!("holdout (39 weeks): actual {actual}, bg/nbd {:.1}, pareto/nbd {:.1}", predicted(&m), predicted(&p));
    Ok(())
}
