//! `agora bench er`: blocking at scale. Generated product records from two sources with planted
//! matches are blocked by each method alone and by their union; for each the table shows pair
//! completeness (share of planted matches among the candidates), candidate pairs per record and
//! time, at a quarter of the size and at full size so near-linear growth is visible.

use std::time::Instant;

use agora_resolve::blocking::{self, BlockingConfig, NeighbourBlocking, SortedNeighbourhood, TokenBlocking};
use agora_resolve::generate;
use agora_resolve::text::trigram_vector;
use serde_json::json;

/// Dimension of the hashed-trigram title vectors the nearest-neighbour method blocks on.
const EMBEDDING_DIM: usize = 64;

/// Runs the benchmark.
///
/// # Errors
/// A blocking run that fails.
pub fn er_bench(records: usize, json_out: bool) -> anyhow::Result<()> {
    let mut runs = Vec::new();
    for size in [records / 4, records] {
        runs.extend(run_size(size.max(100))?);
    }
    let results = json!({
        "records": records,
        "sources": ["shop", "feed"],
        "match_share": 0.8,
        "embedding": format!("hashed character trigrams of the title, {EMBEDDING_DIM} dimensions"),
        "runs": runs,
    });
    if json_out {
        println!("{results}");
    } else {
        println!("blocking {records} generated product records from two sources (80% in planted cross-source matches)");
        println!("| records | method | candidate pairs | pairs / record | pair completeness % | seconds | µs / record |");
        println!("|---|---|---|---|---|---|---|");
        for run in &runs {
            println!(
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.1} |",
                run["records"],
                run["method"].as_str().unwrap_or("?"),
                run["pairs"],
                run["pairs_per_record"].as_f64().unwrap_or(f64::NAN),
                run["pair_completeness"].as_f64().unwrap_or(f64::NAN),
                run["seconds"].as_f64().unwrap_or(f64::NAN),
                run["us_per_record"].as_f64().unwrap_or(f64::NAN),
            );
        }
        println!("pair completeness: planted matches among the candidates; every method pairs only records of different sources");
    }
    Ok(())
}

fn run_size(records: usize) -> anyhow::Result<Vec<serde_json::Value>> {
    let started = Instant::now();
    let generated = generate::products(records, 0.8, 42);
    let generate_seconds = started.elapsed().as_secs_f64();
    let started = Instant::now();
    let embeddings: Vec<Vec<f32>> = generated.entities.iter().map(|e| trigram_vector(e.title(), EMBEDDING_DIM)).collect();
    let embed_seconds = started.elapsed().as_secs_f64();
    let truth: std::collections::HashSet<(u32, u32)> = generated.matches.iter().copied().collect();
    let none = BlockingConfig { token: None, sorted: None, neighbours: None, cross_source_only: true };
    let methods = [
        ("token (top-10 per record)", BlockingConfig { token: Some(TokenBlocking::default()), ..none.clone() }),
        ("sorted neighbourhood (w = 5)", BlockingConfig { sorted: Some(SortedNeighbourhood::default()), ..none.clone() }),
        ("embedding kNN (LSH, k = 5)", BlockingConfig { neighbours: Some(NeighbourBlocking::default()), ..none.clone() }),
        ("union", BlockingConfig { cross_source_only: true, ..BlockingConfig::default() }),
    ];
    let mut out = Vec::new();
    for (name, config) in methods {
        let started = Instant::now();
        let candidates = blocking::candidates(&generated.entities, Some(&embeddings), &config)?;
        let mut seconds = started.elapsed().as_secs_f64();
        if config.neighbours.is_some() {
            seconds += embed_seconds;
        }
        let kept = candidates.pairs.iter().filter(|pair| truth.contains(pair)).count();
        eprintln!("{records} records, {name}: {} pairs in {seconds:.2} s", candidates.pairs.len());
        out.push(json!({
            "records": records,
            "method": name,
            "pairs": candidates.pairs.len(),
            "pairs_per_record": candidates.pairs.len() as f64 / records as f64,
            "pair_completeness": 100.0 * kept as f64 / truth.len().max(1) as f64,
            "planted_matches": truth.len(),
            "dropped_blocks": candidates.dropped_blocks,
            "seconds": seconds,
            "us_per_record": 1e6 * seconds / records as f64,
            "generate_seconds": generate_seconds,
            "embed_seconds": embed_seconds,
        }));
    }
    Ok(out)
}
