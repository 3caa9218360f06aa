//! `rec.sasrec` on an S3-Rec Amazon data set through the `ModelPlugin` trait, under the S3-Rec
//! leave-one-out protocol: fit on every sequence less its last two items, then rank the whole
//! catalogue (the history's items masked) for the second-to-last item after the rest
//! (validation) and for the last item after all but it (test). Prints HR@10 and NDCG@10 of
//! both, the fit time and the loss per epoch. The items' attributes (S3-Rec's
//! `<name>_item2attributes.json` beside the data) go with the interactions, for `fusion` and
//! pretraining.
//!
//! `cargo run --release --example beauty -- [--data ../shared/data/s3rec-amazon/Beauty.txt]
//! [--params '{"epochs":20,"fusion":"gated","pretrain_epochs":10}'] [--threads 2]`

use std::path::PathBuf;
use std::time::Instant;

use agora_model_torch::{SasRec, TorchModels, TASK_SASREC};
use agora_plugin_api::model::{Interactions, ModelPlugin};

/// Every user's items (ids from 0), from lines `user item item ...` with item ids from 1.
fn read(path: &PathBuf) -> Vec<Vec<u32>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| line.split_whitespace().skip(1).map(|item| item.parse::<u32>().expect("an item id") - 1).collect())
        .collect()
}

/// Every item's attribute ids (from 0), from S3-Rec's `{"item": [attribute, ...]}` with ids from 1.
fn read_attributes(path: &PathBuf, n_items: u32) -> Vec<Vec<u32>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let map: std::collections::HashMap<String, Vec<u32>> = serde_json::from_str(&text).expect("item2attributes JSON");
    let mut attributes = vec![Vec::new(); n_items as usize];
    for (item, ids) in map {
        let item: usize = item.parse::<usize>().expect("an item id") - 1;
        if item < attributes.len() {
            attributes[item] = ids.iter().map(|id| id - 1).collect();
        }
    }
    attributes
}

fn interactions(sequences: &[&[u32]], attributes: &[Vec<u32>]) -> Interactions {
    let mut seq_offsets = vec![0u64];
    let mut items = Vec::new();
    for sequence in sequences {
        items.extend_from_slice(sequence);
        seq_offsets.push(items.len() as u64);
    }
    let mut attr_offsets = vec![0u64];
    for item in attributes {
        attr_offsets.push(attr_offsets.last().unwrap() + item.len() as u64);
    }
    Interactions {
        n_items: attributes.len() as u32,
        n_attributes: attributes.iter().flatten().max().map_or(0, |&a| a + 1),
        timestamps: vec![0; items.len()],
        seq_offsets,
        items,
        attr_offsets,
        attributes: attributes.concat(),
        ..Interactions::default()
    }
}

/// HR@10 and NDCG@10 of ranking each case's target among all items, its history masked.
fn evaluate(model: &SasRec, cases: &[(&[u32], u32)], n_items: usize) -> (f64, f64) {
    let (mut hits, mut gain) = (0.0, 0.0);
    for chunk in cases.chunks(512) {
        let histories: Vec<&[u32]> = chunk.iter().map(|(history, _)| *history).collect();
        let scores = model.scores_batch(&histories);
        for ((history, target), row) in chunk.iter().zip(scores.chunks(n_items)) {
            let mut row = row.to_vec();
            for &item in *history {
                row[item as usize] = f32::NEG_INFINITY;
            }
            let target_score = row[*target as usize];
            let rank = row.iter().filter(|&&score| score > target_score).count();
            if rank < 10 {
                hits += 1.0;
                gain += 1.0 / ((rank + 2) as f64).log2();
            }
        }
    }
    (hits / cases.len() as f64, gain / cases.len() as f64)
}

fn main() {
    let mut data = PathBuf::from("../../../shared/data/s3rec-amazon/Beauty.txt");
    let mut params = serde_json::Map::new();
    let mut threads = 2;
    let mut raw = std::env::args().skip(1);
    while let Some(flag) = raw.next() {
        let mut value = || raw.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => data = PathBuf::from(value()),
            "--threads" => threads = value().parse().expect("--threads N"),
            "--params" => match serde_json::from_str(&value()).expect("--params takes a JSON object") {
                serde_json::Value::Object(map) => params = map,
                other => panic!("--params takes a JSON object, not {other}"),
            },
            _ => panic!("unknown argument {flag}: see the example's doc"),
        }
    }
    params.entry("threads").or_insert(serde_json::json!(threads));
    let sequences = read(&data);
    let n_items = sequences.iter().flatten().max().map_or(0, |&item| item + 1);
    let train: Vec<&[u32]> = sequences.iter().map(|s| &s[..s.len().saturating_sub(2)]).collect();
    let valid: Vec<(&[u32], u32)> = sequences.iter().filter(|s| s.len() >= 3).map(|s| (&s[..s.len() - 2], s[s.len() - 2])).collect();
    let test: Vec<(&[u32], u32)> = sequences.iter().filter(|s| s.len() >= 2).map(|s| (&s[..s.len() - 1], s[s.len() - 1])).collect();
    let attributes_path = PathBuf::from(data.to_string_lossy().replace(".txt", "_item2attributes.json"));
    let attributes = if attributes_path.exists() { read_attributes(&attributes_path, n_items) } else { vec![Vec::new(); n_items as usize] };
    println!(
        "{}: {} users, {n_items} items, {} with attributes; params {}",
        data.display(),
        sequences.len(),
        attributes.iter().filter(|a| !a.is_empty()).count(),
        serde_json::Value::Object(params.clone())
    );

    let started = Instant::now();
    let mut last = Instant::now();
    let snapshot = TorchModels::fit(
        TASK_SASREC,
        &interactions(&train, &attributes).encode(),
        serde_json::Value::Object(params).to_string().as_bytes(),
        &mut |done, total| {
            if last.elapsed().as_secs() >= 30 || done == total {
                eprintln!("  step {done}/{total} ({:.0} s)", started.elapsed().as_secs_f64());
                last = Instant::now();
            }
        },
    )
    .unwrap_or_else(|e| panic!("fit: {e}"));
    let fit_seconds = started.elapsed().as_secs_f64();
    let TorchModels::SasRec(model) = TorchModels::load(TASK_SASREC, &snapshot).unwrap_or_else(|e| panic!("load: {e}")) else {
        unreachable!("rec.sasrec loads as SasRec")
    };
    let started = Instant::now();
    let (valid_hr, valid_ndcg) = evaluate(&model, &valid, n_items as usize);
    let (test_hr, test_ndcg) = evaluate(&model, &test, n_items as usize);
    let described: serde_json::Value = serde_json::from_slice(&model.infer(br#"{"op":"describe"}"#).unwrap()).unwrap();
    println!("fit {fit_seconds:.0} s; pretraining losses {}; losses {}", described["pretraining_loss"], described["training_loss"]);
    println!(
        "valid HR@10 {valid_hr:.4} NDCG@10 {valid_ndcg:.4}; test HR@10 {test_hr:.4} NDCG@10 {test_ndcg:.4} (scored in {:.0} s)",
        started.elapsed().as_secs_f64()
    );
}
